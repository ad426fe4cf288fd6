#include "tests/support/etcd_cluster.h"

#include <httplib.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "tests/support/loopback_port.h"
#include "tests/support/wait_for.h"

namespace middlepipe::testing {
namespace {

constexpr char kEtcd[] = "/usr/bin/etcd";
// util-linux's setpriv: sets the parent-death signal, then execs etcd in place (same PID).
constexpr char kSetpriv[] = "/usr/bin/setpriv";

std::string PeerUrl(int port) { return absl::StrCat("http://127.0.0.1:", port); }

}  // namespace

EtcdCluster::Directory::Directory() {
  const char* base = std::getenv("TEST_TMPDIR");
  std::string pattern = absl::StrCat(base != nullptr ? base : "/tmp", "/etcd-cluster.XXXXXX");
  if (mkdtemp(pattern.data()) != nullptr) path_ = pattern;
}

EtcdCluster::Directory::~Directory() {
  if (path_.empty()) return;
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

absl::StatusOr<std::unique_ptr<EtcdCluster>> EtcdCluster::Start(int members,
                                                                std::chrono::milliseconds timeout) {
  if (access(kEtcd, X_OK) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(kEtcd, " is missing: tools/install-deps installs etcd-server"));
  }
  std::unique_ptr<EtcdCluster> cluster(new EtcdCluster());
  if (cluster->dir_.path().empty()) {
    return absl::InternalError("etcd cluster: cannot create a temporary directory");
  }
  // A token of its own, so members of two tests' clusters can never join each other.
  cluster->token_ = absl::StrCat("mp-test-", getpid(), "-", FreeLoopbackPort());
  for (int i = 0; i < members; ++i) {
    Member member;
    member.name = absl::StrCat("m", i);
    member.client_port = FreeLoopbackPort();
    member.peer_port = FreeLoopbackPort();
    if (member.client_port <= 0 || member.peer_port <= 0) {
      return absl::UnavailableError("etcd cluster: no free loopback port");
    }
    cluster->members_.push_back(std::move(member));
  }
  for (int i = 0; i < members; ++i) {
    absl::Status launched = cluster->Launch(i, /*existing=*/false);
    if (!launched.ok()) return launched;
  }
  for (int i = 0; i < members; ++i) {
    absl::Status healthy = cluster->WaitHealthy(i, timeout);
    if (!healthy.ok()) return healthy;
  }
  return cluster;
}

EtcdCluster::~EtcdCluster() {
  // ChildProcess's destructor kills (by PID) and reaps; then dir_ goes.
  for (Member& member : members_) member.process.reset();
}

std::string EtcdCluster::ClientUrl(int index) const {
  return PeerUrl(members_[static_cast<size_t>(index)].client_port);
}

std::vector<std::string> EtcdCluster::EndpointList() const {
  std::vector<std::string> urls;
  for (int i = 0; i < size(); ++i) urls.push_back(ClientUrl(i));
  return urls;
}

std::string EtcdCluster::Endpoints() const { return absl::StrJoin(EndpointList(), ","); }

absl::Status EtcdCluster::Launch(int index, bool existing) {
  std::vector<std::string> initial;
  for (const Member& member : members_) {
    initial.push_back(absl::StrCat(member.name, "=", PeerUrl(member.peer_port)));
  }
  Member& member = members_[static_cast<size_t>(index)];
  const std::string client = PeerUrl(member.client_port);
  const std::string peer = PeerUrl(member.peer_port);
  std::vector<std::string> argv = {
      kSetpriv,
      "--pdeathsig=KILL",
      kEtcd,
      "--name=" + member.name,
      "--data-dir=" + (dir_ / member.name),
      "--listen-client-urls=" + client,
      "--advertise-client-urls=" + client,
      "--listen-peer-urls=" + peer,
      "--initial-advertise-peer-urls=" + peer,
      "--initial-cluster=" + absl::StrJoin(initial, ","),
      "--initial-cluster-token=" + token_,
      std::string("--initial-cluster-state=") + (existing ? "existing" : "new"),
      "--logger=zap",
      "--log-outputs=stderr",
      "--log-level=warn",
  };
  absl::StatusOr<ChildProcess> started = ChildProcess::Start(argv, dir_.path());
  if (!started.ok()) {
    return absl::Status(started.status().code(), absl::StrCat("etcd member ", member.name, ": ",
                                                              started.status().message()));
  }
  member.process.emplace(*std::move(started));
  return absl::OkStatus();
}

bool EtcdCluster::Healthy(int index) const {
  httplib::Client client("127.0.0.1", members_[static_cast<size_t>(index)].client_port);
  client.set_connection_timeout(std::chrono::milliseconds(500));
  client.set_read_timeout(std::chrono::seconds(2));
  httplib::Result result = client.Get("/health");
  return result && result->status == 200 &&
         result->body.find("\"health\":\"true\"") != std::string::npos;
}

absl::Status EtcdCluster::WaitHealthy(int index, std::chrono::milliseconds timeout) const {
  if (WaitFor([&] { return Healthy(index); }, timeout, std::chrono::milliseconds(50))) {
    return absl::OkStatus();
  }
  return absl::UnavailableError(absl::StrCat("etcd member ",
                                             members_[static_cast<size_t>(index)].name,
                                             " did not become healthy; its log:\n", Log(index)));
}

absl::Status EtcdCluster::Kill(int index) {
  Member& member = members_[static_cast<size_t>(index)];
  if (!member.process.has_value()) {
    return absl::FailedPreconditionError(
        absl::StrCat("etcd member ", member.name, " is not running"));
  }
  member.process->Signal(SIGKILL);
  member.process->WaitForExit(std::chrono::seconds(10));
  member.process.reset();
  return absl::OkStatus();
}

absl::Status EtcdCluster::Restart(int index, std::chrono::milliseconds timeout) {
  if (members_[static_cast<size_t>(index)].process.has_value()) {
    absl::Status killed = Kill(index);
    if (!killed.ok()) return killed;
  }
  absl::Status launched = Launch(index, /*existing=*/true);
  if (!launched.ok()) return launched;
  return WaitHealthy(index, timeout);
}

std::string EtcdCluster::Log(int index) const {
  const Member& member = members_[static_cast<size_t>(index)];
  return member.process.has_value() ? member.process->Stderr() : "(not running)";
}

}  // namespace middlepipe::testing

#include "filter-agent/netfilter_rules.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/process.h"

namespace middlepipe::agent {
namespace {

constexpr const char* kHooks[] = {"OUTPUT", "INPUT"};

absl::StatusOr<std::string> Iptables(std::vector<std::string> arguments) {
  arguments.insert(arguments.begin(), {"iptables", "-w"});
  return RunToCompletion(arguments);
}

}  // namespace

absl::StatusOr<bool> InHostNetworkNamespace() {
  struct stat own {}, host {};
  if (stat("/proc/self/ns/net", &own) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot read /proc/self/ns/net: ", std::strerror(errno)));
  }
  if (stat("/proc/1/ns/net", &host) == 0) {
    return own.st_ino == host.st_ino && own.st_dev == host.st_dev;
  }
  const std::string unreadable = std::strerror(errno);
  // PID 1 may be hidden (a sandbox, a protected init): a namespace made by `ip netns add`,
  // as the local platform's containers are, is certainly not the host's.
  if (DIR* named = opendir("/run/netns"); named != nullptr) {
    bool found = false;
    while (const dirent* entry = readdir(named)) {
      struct stat candidate {};
      const std::string path = absl::StrCat("/run/netns/", entry->d_name);
      if (entry->d_name[0] != '.' && stat(path.c_str(), &candidate) == 0 &&
          candidate.st_ino == own.st_ino && candidate.st_dev == own.st_dev) {
        found = true;
        break;
      }
    }
    closedir(named);
    if (found) return false;
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "cannot tell whether this is the host's network namespace (/proc/1/ns/net: ", unreadable,
      "; and it is not a named one in /run/netns)"));
}

NetfilterRules::NetfilterRules(uint16_t queue)
    : queue_(queue), chain_(absl::StrCat("MP-Q", queue)) {}

NetfilterRules::~NetfilterRules() {
  if (installed_) Clear().IgnoreError();
}

std::string NetfilterRules::RestoreInput(const std::vector<QueuedEndpoint>& endpoints) const {
  std::string input = absl::StrCat("*filter\n:", chain_, " - [0:0]\n-F ", chain_, "\n");
  for (const QueuedEndpoint& endpoint : endpoints) {
    const std::string target = absl::StrCat(" -j NFQUEUE --queue-num ", queue_,
                                            endpoint.fail_closed ? "" : " --queue-bypass", "\n");
    absl::StrAppend(&input, "-A ", chain_, " -d ", endpoint.address, "/32 -p tcp --dport ",
                    endpoint.port, target);
    absl::StrAppend(&input, "-A ", chain_, " -s ", endpoint.address, "/32 -p tcp --sport ",
                    endpoint.port, target);
  }
  absl::StrAppend(&input, "COMMIT\n");
  return input;
}

absl::Status NetfilterRules::Apply(const std::vector<QueuedEndpoint>& endpoints) {
  if (endpoints.empty()) return Clear();
  absl::StatusOr<bool> host = InHostNetworkNamespace();
  if (!host.ok()) return host.status();
  if (*host) {
    return absl::FailedPreconditionError(
        "refusing to change the host's network namespace (the agent must run in its container's)");
  }
  char path[] = "/tmp/mp-rules-XXXXXX";
  const int file = mkstemp(path);
  if (file < 0) return absl::UnavailableError(absl::StrCat("mkstemp: ", std::strerror(errno)));
  const std::string input = RestoreInput(endpoints);
  const bool written = write(file, input.data(), input.size()) == static_cast<ssize_t>(input.size());
  close(file);
  absl::StatusOr<std::string> restored =
      written ? RunToCompletion({"iptables-restore", "-w", "--noflush", path})
              : absl::UnavailableError(absl::StrCat("cannot write ", path));
  unlink(path);
  if (!restored.ok()) return restored.status();
  installed_ = true;
  return EnsureJumps();
}

absl::Status NetfilterRules::EnsureJumps() {
  for (const char* hook : kHooks) {
    if (Iptables({"-C", hook, "-j", chain_}).ok()) continue;
    absl::StatusOr<std::string> added = Iptables({"-I", hook, "1", "-j", chain_});
    if (!added.ok()) return added.status();
  }
  return absl::OkStatus();
}

absl::Status NetfilterRules::Clear() {
  absl::StatusOr<bool> host = InHostNetworkNamespace();
  if (!host.ok()) return host.status();
  if (*host) return absl::OkStatus();  // nothing of ours can be there, and it is not ours to touch
  // Also removes what an earlier run of the agent left (killed before it could clean up).
  absl::Status first = absl::OkStatus();
  for (const char* hook : kHooks) {
    while (Iptables({"-C", hook, "-j", chain_}).ok()) {
      absl::StatusOr<std::string> removed = Iptables({"-D", hook, "-j", chain_});
      if (!removed.ok()) {
        first.Update(removed.status());
        break;
      }
    }
  }
  if (Iptables({"-L", chain_, "-n"}).ok()) {
    first.Update(Iptables({"-F", chain_}).status());
    first.Update(Iptables({"-X", chain_}).status());
  }
  installed_ = false;
  return first;
}

}  // namespace middlepipe::agent

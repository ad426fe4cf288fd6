// A real etcd cluster for tests: Debian's /usr/bin/etcd, `members` processes on free
// loopback ports with their data in a fresh directory (under $TEST_TMPDIR, else /tmp).
// Members can be killed (SIGKILL, by PID) and restarted on their own data. Every member
// still running is killed and reaped, and the directory removed, when the EtcdCluster is
// destroyed, so no test leaves a process or a file behind on any exit path (a failed
// assertion included). Should the test process itself die (a crash), each member gets
// SIGKILL from the kernel (it runs under setpriv --pdeathsig) and Bazel removes the
// test's temporary directory.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "tests/support/child_process.h"

namespace middlepipe::testing {

class EtcdCluster {
 public:
  // Starts the members and waits until the cluster has a leader.
  static absl::StatusOr<std::unique_ptr<EtcdCluster>> Start(
      int members = 3, std::chrono::milliseconds timeout = std::chrono::seconds(30));

  ~EtcdCluster();
  EtcdCluster(const EtcdCluster&) = delete;
  EtcdCluster& operator=(const EtcdCluster&) = delete;

  int size() const { return static_cast<int>(members_.size()); }
  // "http://127.0.0.1:PORT" of member `index`.
  std::string ClientUrl(int index) const;
  // Every member's client URL, comma-separated (for --etcd-endpoints).
  std::string Endpoints() const;
  std::vector<std::string> EndpointList() const;

  // SIGKILLs member `index` and reaps it; its data stays for Restart.
  absl::Status Kill(int index);
  // Starts member `index` again on its data and waits until it reports healthy (the
  // cluster has a leader again as far as that member knows).
  absl::Status Restart(int index, std::chrono::milliseconds timeout = std::chrono::seconds(30));
  // Whether member `index` answers /health with a leader.
  bool Healthy(int index) const;
  // The log of member `index` (for failure messages).
  std::string Log(int index) const;

 private:
  struct Member {
    std::string name;
    int client_port = 0;
    int peer_port = 0;
    std::optional<ChildProcess> process;
  };

  EtcdCluster() = default;
  absl::Status Launch(int index, bool existing);
  absl::Status WaitHealthy(int index, std::chrono::milliseconds timeout) const;

  // The cluster's directory, removed with its contents at destruction.
  class Directory {
   public:
    Directory();
    ~Directory();
    Directory(const Directory&) = delete;
    Directory& operator=(const Directory&) = delete;
    const std::string& path() const { return path_; }
    std::string operator/(const std::string& name) const { return path_ + "/" + name; }

   private:
    std::string path_;
  };

  Directory dir_;  // declared first: removed after every member is gone
  std::string token_;
  std::vector<Member> members_;
};

}  // namespace middlepipe::testing

// Leader election among controllers through an etcd lease, as etcd's own
// clientv3/concurrency does it: each candidate holds a lease of `ttl_seconds` kept alive
// in the background; the leader is whoever created the leadership key (put with its
// lease, only if absent). When the leader dies or pauses past its lease, etcd deletes the
// key and another candidate creates it within about one TTL.
//
// Leading is only ever claimed through a fence (etcd_store.h): the key's create revision.
// `on_elected` hands it to the store, whose every later commit compares it, so a leader
// that lost its lease cannot write even if it has not noticed yet. Losing leadership does
// not clear the fence: the store keeps refusing until this candidate is elected again.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "controller/store/etcd_store.h"

namespace middlepipe::controller {

class EtcdClient;

struct EtcdElectionOptions {
  std::vector<std::string> endpoints;
  std::string key_prefix = "/middlepipe/";  // the leadership key is PREFIX + "leader"
  std::string node_name;                    // --node-name
  std::string advertise;                    // --advertise: where followers send clients
  int64_t ttl_seconds = 2;                  // how long a dead leader keeps leading
  std::chrono::milliseconds call_timeout = std::chrono::milliseconds(500);
};

// Who leads, as this candidate last saw it.
struct LeaderView {
  bool leading = false;     // this candidate
  std::string leader_node;  // empty: nobody (or not known yet)
  std::string leader_address;
  int64_t leader_since_unix_ms = 0;
  std::string error;  // the last failure to reach etcd, empty when fine
};

class EtcdElection {
 public:
  using OnElected = std::function<void(const EtcdFence&)>;

  // Starts campaigning in a background thread; `on_elected` runs on that thread each time
  // this candidate becomes leader.
  static absl::StatusOr<std::unique_ptr<EtcdElection>> Start(EtcdElectionOptions options,
                                                             OnElected on_elected);

  // Resigns (revokes the lease, so another leads at once) and stops.
  ~EtcdElection();
  EtcdElection(const EtcdElection&) = delete;
  EtcdElection& operator=(const EtcdElection&) = delete;

  LeaderView Current() const;
  // The lease this candidate holds now (0: none), for tests that make it expire.
  int64_t lease() const { return lease_.load(); }

 private:
  EtcdElection(std::unique_ptr<EtcdClient> client, EtcdElectionOptions options,
               OnElected on_elected);
  void Loop();
  // One round: renew or get a lease, then claim the key or learn who holds it.
  void Round();

  const std::unique_ptr<EtcdClient> client_;  // used by the loop thread only
  const EtcdElectionOptions options_;
  const std::string key_;
  const OnElected on_elected_;
  std::atomic<int64_t> lease_{0};
  int64_t create_revision_ = 0;  // of the key while leading; loop thread only
  std::chrono::steady_clock::time_point last_renewed_;

  mutable std::mutex mu_;  // guards the fields below
  LeaderView view_;
  bool stopping_ = false;
  std::condition_variable wake_;
  std::thread thread_;  // last: starts after everything above exists
};

}  // namespace middlepipe::controller

// The controller's connection to an etcd v3 cluster over etcd's own gRPC API: a channel
// to every member, calls to the member in use, moving on to the next member when one does
// not answer. Shared by the store (etcd_store.h) and the leader election
// (etcd_election.h), each with a client of its own so neither waits on the other.
//
// Every call has a short deadline per member (`call_timeout`), members are tried in turn
// for at most `unavailable_budget`, and, where it must reach a quorum, asks etcd to refuse
// at once when its member has no leader ("hasleader" metadata, as etcd's own client's
// WithRequireLeader), so callers fail fast instead of hanging. No member answering is
// UNAVAILABLE "store unavailable: etcd at <endpoints> did not answer: …"; any other etcd
// error is INTERNAL "store: etcd at <endpoints>: …" (NOT_FOUND for an expired lease).
//
// Not thread-safe: one caller at a time (the owner's mutex or thread).
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "etcd/etcdserver/etcdserverpb/rpc.grpc.pb.h"

namespace middlepipe::controller {

class EtcdClient {
 public:
  // `endpoints` are client URLs ("http://HOST:PORT" or "HOST:PORT"); https is refused
  // (no TLS to etcd yet). Does not contact the cluster.
  static absl::StatusOr<std::unique_ptr<EtcdClient>> Connect(
      const std::vector<std::string>& endpoints, std::chrono::milliseconds call_timeout,
      std::chrono::milliseconds unavailable_budget = std::chrono::milliseconds(3000));

  // The endpoints, comma-separated, as errors and logs name them.
  const std::string& endpoints() const { return endpoints_; }

  // `require_leader` for reads that must be linearizable.
  absl::Status Range(const etcdserverpb::RangeRequest& request,
                     etcdserverpb::RangeResponse* response, bool require_leader);
  absl::Status Txn(const etcdserverpb::TxnRequest& request, etcdserverpb::TxnResponse* response);

  // A lease of `ttl_seconds`; its id.
  absl::StatusOr<int64_t> GrantLease(int64_t ttl_seconds);
  // Renews the lease once; NOT_FOUND when it has already expired (or was revoked).
  absl::Status KeepAlive(int64_t lease);
  absl::Status RevokeLease(int64_t lease);

 private:
  struct Member {
    std::unique_ptr<etcdserverpb::KV::Stub> kv;
    std::unique_ptr<etcdserverpb::Lease::Stub> lease;
  };

  EtcdClient(std::vector<Member> members, std::string endpoints,
             std::chrono::milliseconds call_timeout, std::chrono::milliseconds unavailable_budget)
      : members_(std::move(members)),
        endpoints_(std::move(endpoints)),
        call_timeout_(call_timeout),
        unavailable_budget_(unavailable_budget) {}

  // Runs `rpc` on the member in use, then on the next ones while they do not answer.
  template <typename Rpc>
  absl::Status Call(const Rpc& rpc, bool require_leader);

  std::vector<Member> members_;
  const std::string endpoints_;
  const std::chrono::milliseconds call_timeout_;
  const std::chrono::milliseconds unavailable_budget_;
  size_t current_ = 0;  // the member in use
};

}  // namespace middlepipe::controller

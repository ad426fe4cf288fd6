#include "controller/store/etcd_client.h"

#include <thread>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"

namespace middlepipe::controller {
namespace {

namespace pb = ::etcdserverpb;

// The metadata etcd's own client sends with WithRequireLeader: a member that has lost its
// leader answers UNAVAILABLE "no leader" at once instead of holding the call.
constexpr char kRequireLeaderKey[] = "hasleader";

// Worth trying another member: this one is down, has no leader, or ran out of time.
bool IsUnavailable(const grpc::Status& status) {
  return status.error_code() == grpc::StatusCode::UNAVAILABLE ||
         status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED ||
         status.error_code() == grpc::StatusCode::CANCELLED;
}

}  // namespace

absl::StatusOr<std::unique_ptr<EtcdClient>> EtcdClient::Connect(
    const std::vector<std::string>& endpoints, std::chrono::milliseconds call_timeout,
    std::chrono::milliseconds unavailable_budget) {
  if (endpoints.empty()) {
    return absl::InvalidArgumentError("etcd: no endpoints (--etcd-endpoints URL[,URL...])");
  }
  grpc::ChannelArguments arguments;
  // A restarted member is found again within a second, not after gRPC's default
  // backoff of up to two minutes.
  arguments.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  arguments.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  arguments.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  std::vector<Member> members;
  for (const std::string& endpoint : endpoints) {
    absl::string_view target = endpoint;
    if (absl::StartsWith(target, "https://")) {
      return absl::InvalidArgumentError(absl::StrCat(
          "etcd endpoint ", endpoint, ": TLS to etcd is not supported yet; use http://"));
    }
    absl::ConsumePrefix(&target, "http://");
    while (absl::ConsumeSuffix(&target, "/")) {
    }
    if (target.empty() || target.find(':') == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("etcd endpoint ", endpoint, ": want http://HOST:PORT"));
    }
    std::shared_ptr<grpc::Channel> channel = grpc::CreateCustomChannel(
        std::string(target), grpc::InsecureChannelCredentials(), arguments);
    members.push_back(Member{pb::KV::NewStub(channel), pb::Lease::NewStub(channel)});
  }
  return std::unique_ptr<EtcdClient>(new EtcdClient(
      std::move(members), absl::StrJoin(endpoints, ","), call_timeout, unavailable_budget));
}

template <typename Rpc>
absl::Status EtcdClient::Call(const Rpc& rpc, bool require_leader) {
  // Members are tried in turn until one answers or the budget is spent: long enough to
  // ride out the election that follows a leader's death, short enough that a cluster
  // without quorum refuses writes within seconds instead of holding them.
  const auto give_up = std::chrono::steady_clock::now() + unavailable_budget_;
  grpc::Status last;
  for (size_t tried = 0;; ++tried) {
    if (tried > 0 && tried % members_.size() == 0) {
      if (std::chrono::steady_clock::now() >= give_up) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));  // each member once a round
    }
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + call_timeout_);
    if (require_leader) context.AddMetadata(kRequireLeaderKey, "true");
    last = rpc(members_[current_], &context);
    if (last.ok()) return absl::OkStatus();
    if (!IsUnavailable(last)) {
      const std::string message =
          absl::StrCat("store: etcd at ", endpoints_, ": ", last.error_message());
      return last.error_code() == grpc::StatusCode::NOT_FOUND ? absl::NotFoundError(message)
                                                              : absl::InternalError(message);
    }
    current_ = (current_ + 1) % members_.size();
  }
  return absl::UnavailableError(absl::StrCat("store unavailable: etcd at ", endpoints_,
                                             " did not answer: ", last.error_message()));
}

absl::Status EtcdClient::Range(const pb::RangeRequest& request, pb::RangeResponse* response,
                               bool require_leader) {
  return Call(
      [&](Member& member, grpc::ClientContext* context) {
        return member.kv->Range(context, request, response);
      },
      require_leader);
}

absl::Status EtcdClient::Txn(const pb::TxnRequest& request, pb::TxnResponse* response) {
  return Call(
      [&](Member& member, grpc::ClientContext* context) {
        return member.kv->Txn(context, request, response);
      },
      /*require_leader=*/true);
}

absl::StatusOr<int64_t> EtcdClient::GrantLease(int64_t ttl_seconds) {
  pb::LeaseGrantRequest request;
  request.set_ttl(ttl_seconds);
  pb::LeaseGrantResponse response;
  absl::Status granted = Call(
      [&](Member& member, grpc::ClientContext* context) {
        return member.lease->LeaseGrant(context, request, &response);
      },
      /*require_leader=*/true);
  if (!granted.ok()) return granted;
  if (!response.error().empty()) {
    return absl::InternalError(absl::StrCat("store: etcd lease: ", response.error()));
  }
  return response.id();
}

absl::Status EtcdClient::KeepAlive(int64_t lease) {
  // etcd renews leases only over its bidirectional stream: one request, one answer.
  return Call(
      [&](Member& member, grpc::ClientContext* context) {
        auto stream = member.lease->LeaseKeepAlive(context);
        pb::LeaseKeepAliveRequest request;
        request.set_id(lease);
        pb::LeaseKeepAliveResponse response;
        if (!stream->Write(request) || !stream->Read(&response)) {
          context->TryCancel();
          grpc::Status finished = stream->Finish();
          return finished.ok() ? grpc::Status(grpc::StatusCode::UNAVAILABLE, "stream closed")
                               : finished;
        }
        stream->WritesDone();
        context->TryCancel();
        stream->Finish();  // cancelled by us: its status says nothing
        if (response.ttl() <= 0) {
          return grpc::Status(grpc::StatusCode::NOT_FOUND, "requested lease not found");
        }
        return grpc::Status::OK;
      },
      /*require_leader=*/true);
}

absl::Status EtcdClient::RevokeLease(int64_t lease) {
  pb::LeaseRevokeRequest request;
  request.set_id(lease);
  pb::LeaseRevokeResponse response;
  return Call(
      [&](Member& member, grpc::ClientContext* context) {
        return member.lease->LeaseRevoke(context, request, &response);
      },
      /*require_leader=*/true);
}

}  // namespace middlepipe::controller

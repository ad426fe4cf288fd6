#include "controller/store/etcd_election.h"

#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "controller/store/etcd_client.h"

namespace middlepipe::controller {
namespace {

namespace pb = ::etcdserverpb;

int64_t NowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The key's value: "NODE ADDRESS SINCE_UNIX_MS" (names and addresses have no spaces).
std::string Describe(const EtcdElectionOptions& options, int64_t since_unix_ms) {
  return absl::StrCat(options.node_name, " ", options.advertise, " ", since_unix_ms);
}

void ReadDescription(const std::string& value, LeaderView* view) {
  std::vector<std::string> parts = absl::StrSplit(value, ' ');
  view->leader_node = parts.size() > 0 ? parts[0] : "";
  view->leader_address = parts.size() > 1 ? parts[1] : "";
  view->leader_since_unix_ms = 0;
  if (parts.size() > 2) absl::SimpleAtoi(parts[2], &view->leader_since_unix_ms);
}

}  // namespace

absl::StatusOr<std::unique_ptr<EtcdElection>> EtcdElection::Start(EtcdElectionOptions options,
                                                                  OnElected on_elected) {
  if (options.node_name.empty() || options.node_name.find(' ') != std::string::npos) {
    return absl::InvalidArgumentError("leader election: --node-name must be one word");
  }
  if (options.advertise.find(' ') != std::string::npos) {
    return absl::InvalidArgumentError("leader election: --advertise must have no spaces");
  }
  if (options.ttl_seconds < 1) options.ttl_seconds = 1;
  absl::StatusOr<std::unique_ptr<EtcdClient>> client =
      EtcdClient::Connect(options.endpoints, options.call_timeout,
                          /*unavailable_budget=*/options.call_timeout);
  if (!client.ok()) return client.status();
  return std::unique_ptr<EtcdElection>(
      new EtcdElection(*std::move(client), std::move(options), std::move(on_elected)));
}

EtcdElection::EtcdElection(std::unique_ptr<EtcdClient> client, EtcdElectionOptions options,
                           OnElected on_elected)
    : client_(std::move(client)),
      options_(std::move(options)),
      key_(options_.key_prefix + "leader"),
      on_elected_(std::move(on_elected)),
      thread_([this] { Loop(); }) {}

EtcdElection::~EtcdElection() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
  // Resign: with the lease gone, the key goes and another candidate leads at once
  // instead of after a TTL. Best effort: if etcd is unreachable the lease expires anyway.
  if (int64_t lease = lease_.load(); lease != 0) client_->RevokeLease(lease).IgnoreError();
}

LeaderView EtcdElection::Current() const {
  std::lock_guard<std::mutex> lock(mu_);
  return view_;
}

void EtcdElection::Loop() {
  // Renewing three times a TTL leaves two renewals' worth of slack.
  const auto period = std::chrono::milliseconds(options_.ttl_seconds * 1000 / 3);
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    lock.unlock();
    Round();
    lock.lock();
    wake_.wait_for(lock, period, [this] { return stopping_; });
  }
}

void EtcdElection::Round() {
  auto failed = [this](const absl::Status& status) {
    std::lock_guard<std::mutex> lock(mu_);
    view_.error = std::string(status.message());
    // Past a TTL without renewal the lease is gone as far as anyone else knows: this
    // candidate stops claiming to lead (its fence already makes etcd refuse its writes).
    if (view_.leading && std::chrono::steady_clock::now() - last_renewed_ >
                             std::chrono::seconds(options_.ttl_seconds)) {
      view_.leading = false;
    }
  };

  if (lease_.load() != 0) {
    absl::Status renewed = client_->KeepAlive(lease_.load());
    if (absl::IsNotFound(renewed)) {
      lease_.store(0);  // expired: a new lease, a new campaign
      std::lock_guard<std::mutex> lock(mu_);
      view_.leading = false;
    } else if (!renewed.ok()) {
      return failed(renewed);
    } else {
      last_renewed_ = std::chrono::steady_clock::now();
    }
  }
  if (lease_.load() == 0) {
    absl::StatusOr<int64_t> granted = client_->GrantLease(options_.ttl_seconds);
    if (!granted.ok()) return failed(granted.status());
    lease_.store(*granted);
    last_renewed_ = std::chrono::steady_clock::now();
  }

  // Create the key with this lease if nobody holds it; otherwise read who does.
  const int64_t since = NowUnixMs();
  pb::TxnRequest txn;
  pb::Compare* absent = txn.add_compare();
  absent->set_result(pb::Compare::EQUAL);
  absent->set_target(pb::Compare::CREATE);
  absent->set_key(key_);
  absent->set_create_revision(0);
  pb::PutRequest* put = txn.add_success()->mutable_request_put();
  put->set_key(key_);
  put->set_value(Describe(options_, since));
  put->set_lease(lease_.load());
  txn.add_failure()->mutable_request_range()->set_key(key_);
  pb::TxnResponse response;
  absl::Status sent = client_->Txn(txn, &response);
  if (!sent.ok()) return failed(sent);

  LeaderView seen;
  bool elected = false;
  if (response.succeeded()) {
    elected = true;
    create_revision_ = response.header().revision();
    seen.leading = true;
    ReadDescription(Describe(options_, since), &seen);
  } else if (response.responses_size() == 1 &&
             response.responses(0).response_range().kvs_size() == 1) {
    const auto& kv = response.responses(0).response_range().kvs(0);
    ReadDescription(kv.value(), &seen);
    seen.leading = kv.lease() == lease_.load() && kv.create_revision() == create_revision_;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    view_ = seen;
  }
  if (elected && on_elected_) on_elected_(EtcdFence{key_, create_revision_});
}

}  // namespace middlepipe::controller

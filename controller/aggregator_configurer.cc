#include "controller/aggregator_configurer.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "proto/aggregator.grpc.pb.h"

namespace middlepipe::controller {

absl::StatusOr<v1::ConfigureRequest> AggregatorSnapshot(StoreTransaction& tx, const std::string& user) {
  absl::StatusOr<std::vector<v1::Middlepipe>> middlepipes = tx.ListMiddlepipes(user);
  if (!middlepipes.ok()) return middlepipes.status();
  absl::StatusOr<std::vector<v1::Binding>> bindings = tx.ListBindings(user);
  if (!bindings.ok()) return bindings.status();
  v1::ConfigureRequest snapshot;
  snapshot.set_user(user);
  for (const v1::Middlepipe& middlepipe : *middlepipes) {
    v1::AggregatedMiddlepipe* aggregated = snapshot.add_middlepipes();
    *aggregated->mutable_middlepipe() = middlepipe;
    for (const v1::Binding& binding : *bindings) {
      if (binding.middlepipe() == middlepipe.name()) *aggregated->add_bindings() = binding;
    }
  }
  return snapshot;
}

AggregatorConfigurer::AggregatorConfigurer(Store* store, AggregatorConfigurerOptions options,
                                           Logger* logger)
    : store_(store), options_(std::move(options)), logger_(logger) {}

AggregatorConfigurer::~AggregatorConfigurer() { Stop(); }

void AggregatorConfigurer::MarkDirty(const std::string& user) {
  std::lock_guard<std::mutex> lock(mu_);
  Pending& pending = pending_[user];
  pending.due = std::chrono::steady_clock::now();
  pending.retry = std::chrono::milliseconds(0);
  changed_.notify_all();
}

void AggregatorConfigurer::Start() { thread_ = std::thread([this] { Run(); }); }

void AggregatorConfigurer::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  changed_.notify_all();
  if (thread_.joinable()) thread_.join();
}

uint64_t AggregatorConfigurer::configured() const {
  std::lock_guard<std::mutex> lock(mu_);
  return configured_;
}

void AggregatorConfigurer::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    auto next = std::min_element(pending_.begin(), pending_.end(), [](const auto& a, const auto& b) {
      return a.second.due < b.second.due;
    });
    if (next == pending_.end()) {
      changed_.wait(lock);
      continue;
    }
    if (next->second.due > std::chrono::steady_clock::now()) {
      changed_.wait_until(lock, next->second.due);
      continue;
    }
    const std::string user = next->first;
    const std::chrono::milliseconds retry = next->second.retry;
    pending_.erase(next);
    lock.unlock();
    absl::Status configured = ConfigureOne(user);
    lock.lock();
    if (configured.ok()) {
      ++configured_;
      continue;
    }
    if (pending_.count(user) != 0) continue;  // marked again meanwhile: goes out anyway
    const std::chrono::milliseconds backoff =
        std::min(options_.max_retry, std::max(options_.initial_retry, retry * 2));
    if (retry >= options_.max_retry / 2 && backoff == options_.max_retry) {
      logger_->Warning("aggregator of user ", user, " not configured: ", configured.message(),
                       "; retrying every ", backoff.count(), " ms");
    }
    pending_[user] = Pending{std::chrono::steady_clock::now() + backoff, backoff};
  }
}

absl::Status AggregatorConfigurer::ConfigureOne(const std::string& user) {
  const std::string address = options_.aggregator_address(user);
  if (address.empty()) return absl::OkStatus();  // no aggregator: nothing to configure
  v1::ConfigureRequest snapshot;
  absl::Status read = store_->DryRun([&](StoreTransaction& tx) -> absl::Status {
    absl::StatusOr<v1::ConfigureRequest> built = AggregatorSnapshot(tx, user);
    if (!built.ok()) return built.status();
    snapshot = *std::move(built);
    return absl::OkStatus();
  });
  if (!read.ok()) return read;
  {
    std::lock_guard<std::mutex> lock(mu_);
    last_epoch_ = std::max<uint64_t>(last_epoch_ + 1, static_cast<uint64_t>(NowUnixMillis()));
    snapshot.set_epoch(last_epoch_);
  }
  // A just-started aggregator listens within milliseconds; gRPC's default reconnect
  // back-off (1 s) would keep agents' first reports waiting for the configuration.
  grpc::ChannelArguments arguments;
  arguments.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 20);
  arguments.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 20);
  arguments.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 200);
  auto stub = v1::Aggregator::NewStub(
      grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), arguments));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + options_.call_timeout);
  context.set_wait_for_ready(true);  // a just-started aggregator may not listen yet
  v1::ConfigureResponse response;
  grpc::Status status = stub->Configure(&context, snapshot, &response);
  if (!status.ok()) {
    return absl::UnavailableError(absl::StrCat("Configure at ", address, ": ", status.error_message()));
  }
  return absl::OkStatus();
}

}  // namespace middlepipe::controller

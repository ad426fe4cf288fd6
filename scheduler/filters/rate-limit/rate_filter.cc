#include "scheduler/filters/rate-limit/rate_filter.h"

#include <algorithm>
#include <cmath>

#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "clients/cpp/fastpath/gcra.h"

namespace middlepipe::scheduler::rate_limit {
namespace {

// A decision without a lease of its own holds this long.
constexpr int64_t kDefaultLeaseMs = 3000;

}  // namespace

absl::StatusOr<RateConfig> ParseRateConfig(const std::string& config_json) {
  nlohmann::json json = nlohmann::json::parse(config_json, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object()) return absl::InvalidArgumentError("config is not a JSON object");
  RateConfig config;
  try {
    config.requests_per_second = json.at("requests_per_second").get<double>();
    config.burst = json.value("burst", 0.0);
    config.cluster_scope = json.value("scope", std::string("cluster")) == "cluster";
    config.key_header = json.value("key_header", std::string());
    config.max_keys = json.value("max_keys", size_t{10000});
  } catch (const nlohmann::json::exception& error) {
    return absl::InvalidArgumentError(absl::StrCat("config: ", error.what()));
  }
  if (!(config.requests_per_second > 0) || config.burst < 0 || config.max_keys == 0) {
    return absl::InvalidArgumentError("config: requests_per_second must be > 0, burst >= 0, max_keys >= 1");
  }
  return config;
}

TokenBucket::TokenBucket(double rate_per_second, double capacity, int64_t now_ms)
    : own_(std::make_unique<std::atomic<int64_t>>(0)), cell_(own_.get()) {
  Shape(rate_per_second, capacity);
}

void TokenBucket::Shape(double rate_per_second, double capacity) {
  interval_us_ = std::clamp<int64_t>(std::llround(1e6 / rate_per_second), fastpath::kMinIntervalUs,
                                     fastpath::kMaxIntervalUs);
  tolerance_us_ = std::min<int64_t>(
      std::llround((std::max(capacity, 1.0) - 1.0) * static_cast<double>(interval_us_)),
      fastpath::kMaxToleranceUs);
}

int64_t TokenBucket::Take(int64_t now_ms) {
  return fastpath::TakeToken(*cell_, interval_us_, tolerance_us_, now_ms * 1000);
}

void TokenBucket::Reconfigure(double rate_per_second, double capacity, int64_t now_ms) {
  const int64_t now_us = now_ms * 1000;
  // Tokens now: the room the bucket has left, in intervals.
  const int64_t debt = std::max<int64_t>(cell_->load(std::memory_order_relaxed), now_us) - now_us;
  const double tokens =
      std::max(0.0, static_cast<double>(tolerance_us_ + interval_us_ - debt) / static_cast<double>(interval_us_));
  Shape(rate_per_second, capacity);
  const double kept = std::min(tokens, static_cast<double>(tolerance_us_ + interval_us_) / static_cast<double>(interval_us_));
  const auto new_debt = static_cast<int64_t>(
      std::llround(static_cast<double>(tolerance_us_ + interval_us_) - kept * static_cast<double>(interval_us_)));
  cell_->store(now_us + std::max<int64_t>(new_debt, 0), std::memory_order_relaxed);
}

void TokenBucket::Share(std::atomic<int64_t>* cell) {
  if (cell == cell_) return;
  cell->store(cell_->load(std::memory_order_relaxed), std::memory_order_relaxed);
  cell_ = cell;
}

// Everything that changes, behind one mutex; shared by the filters of consecutive epochs.
class RateState {
 public:
  struct Keyed {
    TokenBucket bucket;
    uint64_t version;
    std::list<std::string>::iterator recency;
  };

  std::mutex mu;
  // The aggregator's share and how long it holds.
  double share_rate = 0;
  double share_burst = 0;
  uint32_t instances = 0;  // last known; 0: unknown
  uint64_t decision_sequence = 0;
  int64_t lease_until_ms = 0;
  // Grows when the effective rate changes (a new share, the lease lapsing or coming
  // back), so buckets reconfigure when next used.
  uint64_t version = 1;
  bool was_live = false;
  std::unordered_map<std::string, Keyed> buckets;
  std::list<std::string> recency;  // most recent first
  v1::RequestStats pending;

  bool Live(int64_t now_ms) const { return now_ms < lease_until_ms; }

  // The key's bucket, made (evicting the least recently used key past max_keys) or
  // retuned to `rate` and `burst` as needed, and now the most recently used.
  Keyed& Bucket(const std::string& key, double rate, double burst, size_t max_keys, int64_t now_ms) {
    auto found = buckets.find(key);
    if (found == buckets.end()) {
      if (buckets.size() >= max_keys) {
        buckets.erase(recency.back());
        recency.pop_back();
        ++(*pending.mutable_counters())["keys_evicted"];
      }
      recency.push_front(key);
      found = buckets.emplace(key, Keyed{TokenBucket(rate, burst, now_ms), version, recency.begin()}).first;
    } else {
      recency.splice(recency.begin(), recency, found->second.recency);
    }
    Keyed& keyed = found->second;
    if (keyed.version != version) {
      keyed.bucket.Reconfigure(rate, burst, now_ms);
      keyed.version = version;
    }
    return keyed;
  }
};

absl::StatusOr<std::unique_ptr<RequestFilter>> RateFilter::Create(const FilterSpecContext& context) {
  absl::StatusOr<RateConfig> config = ParseRateConfig(context.spec.config_json());
  if (!config.ok()) return config.status();
  return std::make_unique<RateFilter>(context.spec.middlepipe(), *config, context.clock);
}

RateFilter::~RateFilter() = default;

namespace {

// The rate and burst buckets fill at now: the aggregator's share while its lease holds,
// limit / instances without it, the whole limit with scope instance.
std::pair<double, double> EffectiveRate(const RateConfig& config, const RateState& state, int64_t now) {
  if (!config.cluster_scope) return {config.requests_per_second, config.burst};
  if (state.Live(now)) return {state.share_rate, state.share_burst};
  const double instances = std::max<uint32_t>(state.instances, 1);
  return {config.requests_per_second / instances, config.burst / instances};
}

std::string LimitedDetail(double rate, const std::string& key) {
  return absl::StrCat("over ", rate, " requests/s", key.empty() ? "" : " for ", key);
}

std::string KeyOf(const RequestCall& call, const std::string& header) {
  if (header.empty()) return "";
  return call.RequestHeader(header).value_or("");
}

}  // namespace

RateFilter::RateFilter(std::string name, RateConfig config, Clock clock)
    : name_(std::move(name)),
      config_(std::move(config)),
      clock_(std::move(clock)),
      state_(std::make_shared<RateState>()) {
  if (!config_.key_header.empty()) return;
  // The one bucket exists from the start, as the fast path's does (its first compile
  // makes it): aggregator decisions before the first call then retune it the same way on
  // both paths, and a shrinking share keeps no more tokens than it allows.
  const int64_t now = clock_();
  std::lock_guard<std::mutex> lock(state_->mu);
  const auto [rate, burst] = EffectiveRate(config_, *state_, now);
  state_->Bucket("", rate, burst, config_.max_keys, now);
}

FilterStatus RateFilter::OnRequest(RequestCall& call, uint32_t& note) {
  const int64_t now = clock_();
  const std::string key = KeyOf(call, config_.key_header);
  std::lock_guard<std::mutex> lock(state_->mu);
  RateState& state = *state_;
  state.pending.set_requests(state.pending.requests() + 1);
  if (state.Live(now) != state.was_live) {
    state.was_live = !state.was_live;
    ++state.version;
  }
  const auto [rate, burst] = EffectiveRate(config_, state, now);
  const int64_t wait_us = state.Bucket(key, rate, burst, config_.max_keys, now).bucket.Take(now);
  if (wait_us == 0) return FilterStatus::kContinue;

  state.pending.set_short_circuited(state.pending.short_circuited() + 1);
  ++(*state.pending.mutable_counters())["limited"];
  const std::string detail = LimitedDetail(rate, key);
  call.markers.push_back(CallbackMarker("rate-limit", name_, "limited", detail));
  call.AddMarker("Middlepipe-Short-Circuit", name_);
  call.response.Clear();
  call.response.set_status(429);
  call.response.set_raise(true);  // the client hook raises RateLimitedError
  call.response.set_body(LimitedBody(detail));
  v1::Header* retry = call.response.add_headers();
  retry->set_name("Retry-After");
  retry->set_value(absl::StrCat(fastpath::RetryAfterSeconds(wait_us)));
  for (const v1::Header& marker : call.markers) *call.response.add_headers() = marker;
  return FilterStatus::kRespond;
}

std::string RateFilter::LimitedBody(const std::string& detail) const {
  return absl::StrCat("rate limit ", name_, ": ", detail, "\n");
}

FastPathPlan RateFilter::CompileFastPath(FastPathContext& context) {
  if (!config_.key_header.empty()) return FastPathPlan::Ask();  // the key is in the request
  std::optional<SharedCell> shared = context.cell(name_);
  if (!shared.has_value()) return FastPathPlan::Ask();
  const int64_t now = context.now_ms;
  std::lock_guard<std::mutex> lock(state_->mu);
  RateState& state = *state_;
  const auto [rate, burst] = EffectiveRate(config_, state, now);
  if (state.Live(now) != state.was_live) {
    return FastPathPlan::Ask();  // the share just lapsed or came back: OnRequest retunes
  }
  // The one bucket (no key header), as OnRequest would find or make it.
  TokenBucket& bucket = state.Bucket("", rate, burst, config_.max_keys, now).bucket;
  bucket.Share(shared->cell);

  fastpath::Step step;
  step.kind = fastpath::Step::Kind::kTakeToken;
  step.cell = shared->index;
  step.interval_us = bucket.interval_us();
  step.tolerance_us = bucket.tolerance_us();
  const std::string detail = LimitedDetail(rate, "");
  const v1::Header limited = CallbackMarker("rate-limit", name_, "limited", detail);
  step.markers = {{limited.name(), limited.value()}, {"Middlepipe-Short-Circuit", name_}};
  step.response.status = 429;
  step.response.raise = true;
  step.response.body = LimitedBody(detail);
  // No headers of its own: the client core puts Retry-After in front of the markers.
  // A cluster share holds while its lease does; then OnRequest falls back to limit/instances.
  const bool live = config_.cluster_scope && state.Live(now);
  return {true, live ? state.lease_until_ms : std::numeric_limits<int64_t>::max(), std::move(step)};
}

uint32_t RateFilter::OnFastPathRequest(bool answered, uint8_t /*choice*/) {
  std::lock_guard<std::mutex> lock(state_->mu);
  RateState& state = *state_;
  state.pending.set_requests(state.pending.requests() + 1);
  if (answered) {
    state.pending.set_short_circuited(state.pending.short_circuited() + 1);
    ++(*state.pending.mutable_counters())["limited"];
  }
  return 0;
}

void RateFilter::OnDecision(const v1::Decision& decision) {
  if (!decision.has_rate_budget() || !config_.cluster_scope) return;
  const int64_t now = clock_();
  std::lock_guard<std::mutex> lock(state_->mu);
  RateState& state = *state_;
  state.lease_until_ms = now + (decision.lease_ms() != 0 ? decision.lease_ms() : kDefaultLeaseMs);
  if (decision.sequence() != 0 && decision.sequence() <= state.decision_sequence) {
    return;  // a lease refresh (OnRequest notices if it brought the share back)
  }
  state.decision_sequence = decision.sequence();
  state.share_rate = decision.rate_budget().requests_per_second();
  state.share_burst = decision.rate_budget().burst();
  if (decision.rate_budget().instances() > 0) state.instances = decision.rate_budget().instances();
  // The new share counts from now: time before it filled at the old rate.
  ++state.version;
  state.was_live = true;
  const auto [rate, burst] = EffectiveRate(config_, state, now);
  for (auto& [key, keyed] : state.buckets) {
    keyed.bucket.Reconfigure(rate, burst, now);
    keyed.version = state.version;
  }
}

void RateFilter::AdoptState(RequestFilter& previous) {
  auto& before = static_cast<RateFilter&>(previous);
  // Same limits: keep the buckets (a new epoch must not hand out a fresh burst).
  if (before.config_.requests_per_second == config_.requests_per_second &&
      before.config_.burst == config_.burst && before.config_.key_header == config_.key_header &&
      before.config_.cluster_scope == config_.cluster_scope) {
    state_ = before.state_;
  }
}

void RateFilter::TakeReport(v1::Report& report) {
  const int64_t now = clock_();
  std::lock_guard<std::mutex> lock(state_->mu);
  report.set_local_fallback(config_.cluster_scope && !state_->Live(now));
  report.mutable_request_stats()->Swap(&state_->pending);
  state_->pending.Clear();
}

double RateFilter::CurrentRate() const {
  const int64_t now = clock_();
  std::lock_guard<std::mutex> lock(state_->mu);
  return EffectiveRate(config_, *state_, now).first;
}

}  // namespace middlepipe::scheduler::rate_limit

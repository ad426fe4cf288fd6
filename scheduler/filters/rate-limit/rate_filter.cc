#include "scheduler/filters/rate-limit/rate_filter.h"

#include <algorithm>
#include <cmath>

#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

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
    : rate_per_ms_(rate_per_second / 1000.0),
      capacity_(std::max(capacity, 1.0)),
      tokens_(capacity_),
      last_ms_(now_ms) {}

void TokenBucket::Refill(int64_t now_ms) {
  if (now_ms > last_ms_) {
    tokens_ = std::min(capacity_, tokens_ + static_cast<double>(now_ms - last_ms_) * rate_per_ms_);
    last_ms_ = now_ms;
  }
}

bool TokenBucket::TryTake(int64_t now_ms) {
  Refill(now_ms);
  if (tokens_ < 1.0) return false;
  tokens_ -= 1.0;
  return true;
}

void TokenBucket::Reconfigure(double rate_per_second, double capacity, int64_t now_ms) {
  Refill(now_ms);
  rate_per_ms_ = rate_per_second / 1000.0;
  capacity_ = std::max(capacity, 1.0);
  tokens_ = std::min(tokens_, capacity_);
}

int64_t TokenBucket::MillisUntilToken(int64_t now_ms) {
  Refill(now_ms);
  if (tokens_ >= 1.0) return 0;
  if (rate_per_ms_ <= 0) return 60'000;
  return static_cast<int64_t>(std::ceil((1.0 - tokens_) / rate_per_ms_));
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
};

absl::StatusOr<std::unique_ptr<RequestFilter>> RateFilter::Create(const FilterSpecContext& context) {
  absl::StatusOr<RateConfig> config = ParseRateConfig(context.spec.config_json());
  if (!config.ok()) return config.status();
  return std::make_unique<RateFilter>(context.spec.middlepipe(), *config, context.clock);
}

RateFilter::RateFilter(std::string name, RateConfig config, Clock clock)
    : name_(std::move(name)),
      config_(std::move(config)),
      clock_(std::move(clock)),
      state_(std::make_shared<RateState>()) {}

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

std::string KeyOf(const RequestCall& call, const std::string& header) {
  if (header.empty()) return "";
  return call.RequestHeader(header).value_or("");
}

}  // namespace

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

  auto found = state.buckets.find(key);
  if (found == state.buckets.end()) {
    if (state.buckets.size() >= config_.max_keys) {  // evict the least recently used key
      state.buckets.erase(state.recency.back());
      state.recency.pop_back();
      ++(*state.pending.mutable_counters())["keys_evicted"];
    }
    state.recency.push_front(key);
    found = state.buckets.emplace(key, RateState::Keyed{TokenBucket(rate, burst, now), state.version,
                                                         state.recency.begin()})
                .first;
  } else {
    state.recency.splice(state.recency.begin(), state.recency, found->second.recency);
  }
  RateState::Keyed& keyed = found->second;
  if (keyed.version != state.version) {
    keyed.bucket.Reconfigure(rate, burst, now);
    keyed.version = state.version;
  }
  if (keyed.bucket.TryTake(now)) return FilterStatus::kContinue;

  state.pending.set_short_circuited(state.pending.short_circuited() + 1);
  ++(*state.pending.mutable_counters())["limited"];
  const int64_t retry_seconds = std::max<int64_t>(1, (keyed.bucket.MillisUntilToken(now) + 999) / 1000);
  const std::string detail = absl::StrCat("over ", rate, " requests/s", key.empty() ? "" : " for ", key);
  call.markers.push_back(CallbackMarker("rate-limit", name_, "limited", detail));
  call.AddMarker("Middlepipe-Short-Circuit", name_);
  call.response.Clear();
  call.response.set_status(429);
  call.response.set_raise(true);  // the client hook raises RateLimitedError
  call.response.set_body(absl::StrCat("rate limit ", name_, ": ", detail, "\n"));
  v1::Header* retry = call.response.add_headers();
  retry->set_name("Retry-After");
  retry->set_value(absl::StrCat(retry_seconds));
  for (const v1::Header& marker : call.markers) *call.response.add_headers() = marker;
  return FilterStatus::kRespond;
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

#include "scheduler/filters/rate-limit/rate_filter.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/markers.h"
#include "fastpath/gcra.h"
#include "fastpath/key_table.h"

namespace middlepipe::scheduler::rate_limit {
namespace {

// A decision without a lease of its own holds this long.
constexpr int64_t kDefaultLeaseMs = 3000;

}  // namespace

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
    int slot = -1;  // in the fast path's key table, if it has one
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
  // With key_header, once the fast path gave it cells: the keys' buckets in the segment,
  // so client cores take from them too (fastpath/key_table.h), and which key is where.
  std::optional<fastpath::KeyTable> table;
  uint32_t table_index = 0;
  std::vector<std::string> slot_keys;

  bool Live(int64_t now_ms) const { return now_ms < lease_until_ms; }

  // Puts the buckets into `cells` (2 * slots of them, the first at `index`), unless they
  // are there already. Keys whose probe window is full keep their bucket here (calls
  // with them go to the agent).
  void AttachTable(std::atomic<int64_t>* cells, uint32_t index, uint32_t slots) {
    if (table.has_value() && table_index == index && table->slots() == slots) return;
    table.emplace(cells, slots);
    table_index = index;
    table->Clear();
    slot_keys.assign(slots, "");
    for (auto& [key, keyed] : buckets) {
      keyed.slot = -1;
      Place(key, keyed);
    }
  }

  // A call the client core decided took from the bucket in `slot`: its key is the most
  // recently used, as OnRequest would have made it.
  void Touch(uint32_t slot) {
    if (slot >= slot_keys.size()) return;
    auto found = buckets.find(slot_keys[slot]);
    if (found == buckets.end() || found->second.slot != static_cast<int>(slot)) return;
    recency.splice(recency.begin(), recency, found->second.recency);
  }

  // The key's bucket, made (evicting the least recently used key past max_keys) or
  // retuned to `rate` and `burst` as needed, and now the most recently used.
  Keyed& Bucket(const std::string& key, double rate, double burst, size_t max_keys, int64_t now_ms) {
    auto found = buckets.find(key);
    if (found == buckets.end()) {
      if (buckets.size() >= max_keys) {
        auto evicted = buckets.find(recency.back());
        if (evicted->second.slot >= 0) table->Remove(static_cast<uint32_t>(evicted->second.slot));
        buckets.erase(evicted);
        recency.pop_back();
        ++(*pending.mutable_counters())["keys_evicted"];
      }
      recency.push_front(key);
      found = buckets.emplace(key, Keyed{TokenBucket(rate, burst, now_ms), version, recency.begin()}).first;
      if (table.has_value()) Place(key, found->second);
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

 private:
  // Moves the key's bucket into a free slot of the table, word first, then the tag.
  void Place(const std::string& key, Keyed& keyed) {
    const uint64_t tag = fastpath::KeyTag(key);
    const int slot = table->Free(tag);
    if (slot < 0) return;
    keyed.bucket.Share(&table->bucket(static_cast<uint32_t>(slot)));
    table->Publish(static_cast<uint32_t>(slot), tag);
    keyed.slot = slot;
    slot_keys[static_cast<size_t>(slot)] = key;
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

// What a refusal says of the key ("" for the one bucket, or requests without the header).
constexpr char kKeyPrefix[] = " for ";
std::string KeyNamed(const std::string& key) { return key.empty() ? "" : absl::StrCat(kKeyPrefix, key); }

std::string LimitedDetail(double rate, const std::string& key_named) {
  return absl::StrCat("over ", rate, " requests/s", key_named);
}

// From now on the buckets fill at the effective rate: every bucket is retuned at once,
// so a client core taking from the segment never uses a bucket of the old shape.
void RetuneAll(const RateConfig& config, RateState& state, int64_t now) {
  ++state.version;
  const auto [rate, burst] = EffectiveRate(config, state, now);
  for (auto& [key, keyed] : state.buckets) {
    keyed.bucket.Reconfigure(rate, burst, now);
    keyed.version = state.version;
  }
}

// Slots of a keyed limit's table in the segment: room for max_keys at half load, within
// 16..4096 (64 KiB of cells); keys past what fits go to the agent.
uint32_t KeyTableSlots(size_t max_keys) {
  uint32_t slots = 16;
  while (slots < 4096 && slots < 2 * max_keys) slots *= 2;
  return slots;
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
    RetuneAll(config_, state, now);
  }
  const auto [rate, burst] = EffectiveRate(config_, state, now);
  const int64_t wait_us = state.Bucket(key, rate, burst, config_.max_keys, now).bucket.Take(now);
  if (wait_us == 0) return FilterStatus::kContinue;

  state.pending.set_short_circuited(state.pending.short_circuited() + 1);
  ++(*state.pending.mutable_counters())["limited"];
  const std::string detail = LimitedDetail(rate, KeyNamed(key));
  call.markers.push_back(CallbackMarker("rate-limit", name_, "limited", detail));
  call.AddMarker(markers::kShortCircuitHeader, name_);
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
  const bool keyed = !config_.key_header.empty();
  const uint32_t slots = keyed ? KeyTableSlots(config_.max_keys) : 0;
  std::optional<SharedCells> shared = context.cells(name_, keyed ? 2 * slots : 1);
  if (!shared.has_value()) return FastPathPlan::Ask();
  const int64_t now = context.now_ms;
  std::lock_guard<std::mutex> lock(state_->mu);
  RateState& state = *state_;
  const auto [rate, burst] = EffectiveRate(config_, state, now);
  if (state.Live(now) != state.was_live) {
    return FastPathPlan::Ask();  // the share just lapsed or came back: OnRequest retunes
  }
  fastpath::Step step;
  step.cell = shared->index;
  std::string key_named;
  if (keyed) {
    state.AttachTable(shared->first, shared->index, slots);
    step.kind = fastpath::Step::Kind::kTakeKeyedToken;
    step.key_header = config_.key_header;
    step.key_slots = slots;
    step.key_prefix = kKeyPrefix;
    key_named = fastpath::kKeyPlaceholder;  // the client core names the key
    const TokenBucket shape(rate, burst, now);  // every key's, since all are retuned at once
    step.interval_us = shape.interval_us();
    step.tolerance_us = shape.tolerance_us();
  } else {
    // The one bucket, as OnRequest would find it.
    TokenBucket& bucket = state.Bucket("", rate, burst, config_.max_keys, now).bucket;
    bucket.Share(shared->first);
    step.kind = fastpath::Step::Kind::kTakeToken;
    step.interval_us = bucket.interval_us();
    step.tolerance_us = bucket.tolerance_us();
  }
  const std::string detail = LimitedDetail(rate, key_named);
  const v1::Header limited = CallbackMarker("rate-limit", name_, "limited", detail);
  step.markers = {{limited.name(), limited.value()}, {markers::kShortCircuitHeader, name_}};
  step.response.status = 429;
  step.response.raise = true;
  step.response.body = LimitedBody(detail);
  // No headers of its own: the client core puts Retry-After in front of the markers.
  // A cluster share holds while its lease does; then OnRequest falls back to limit/instances.
  const bool live = config_.cluster_scope && state.Live(now);
  return {true, live ? state.lease_until_ms : std::numeric_limits<int64_t>::max(), std::move(step)};
}

uint32_t RateFilter::OnFastPathRequest(const FastPathCall& call) {
  std::lock_guard<std::mutex> lock(state_->mu);
  RateState& state = *state_;
  state.pending.set_requests(state.pending.requests() + 1);
  if (call.answered) {
    state.pending.set_short_circuited(state.pending.short_circuited() + 1);
    ++(*state.pending.mutable_counters())["limited"];
  }
  if (call.key_slot != 0) state.Touch(call.key_slot - 1u);
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
  state.was_live = true;
  RetuneAll(config_, state, now);
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

#include "aggregator/circuit-breaker/breaker_aggregate.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "common/request_stats.h"
#include "scheduler/filters/circuit-breaker/breaker_rule.h"

namespace middlepipe::aggregator::circuit_breaker {
namespace {

// The filter half's report counters and open rule (scheduler/filters/circuit-breaker).
namespace report = scheduler::circuit_breaker::report;
using scheduler::circuit_breaker::OpenReason;
using scheduler::circuit_breaker::ShouldOpen;

uint64_t Counter(const v1::RequestStats& stats, const std::string& name) {
  auto it = stats.counters().find(name);
  return it == stats.counters().end() ? 0 : it->second;
}

const char* StateWord(v1::BreakerState state) {
  switch (state) {
    case v1::BREAKER_STATE_OPEN:
      return "open";
    case v1::BREAKER_STATE_HALF_OPEN:
      return "half-open";
    default:
      return "closed";
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<KindAggregate>> BreakerAggregate::Create(
    const std::string& config_json) {
  absl::StatusOr<scheduler::circuit_breaker::BreakerConfig> config =
      scheduler::circuit_breaker::ParseBreakerConfig(config_json);
  if (!config.ok()) return config.status();
  return std::make_unique<BreakerAggregate>(*std::move(config));
}

BreakerAggregate::BreakerAggregate(scheduler::circuit_breaker::BreakerConfig config)
    : config_(std::move(config)), window_(config_.window_ms) {}

void BreakerAggregate::OnReport(uint32_t instance, const v1::Report& report,
                                const ClusterView& cluster) {
  if (!config_.cluster_scope) return;
  const v1::RequestStats& stats = report.request_stats();
  const int64_t now = cluster.now_ms;
  window_now_ms_ = now;
  if (!decided_) {
    decided_ = true;
    DecisionsChanged();
    if (Counter(stats, report::kIntervalsOpen) > 0 || Counter(stats, report::kIntervalsHalfOpen) > 0) {
      Open(now, absl::StrCat("adopted: instance ", instance,
                             " was open when the aggregator took over"));
      return;
    }
  }
  switch (state_) {
    case v1::BREAKER_STATE_CLOSED: {
      window_.Add(now, stats);
      const v1::RequestStats sum = window_.Sum(now);
      const uint64_t calls = CompletedCalls(sum);
      if (ShouldOpen(config_, calls, sum.failures())) {
        Open(now, OpenReason(config_, calls, sum.failures(), " across the cluster"));
      }
      break;
    }
    case v1::BREAKER_STATE_HALF_OPEN:
      trials_used_[instance] += static_cast<uint32_t>(Counter(stats, report::kTrial));
      trial_successes_ += static_cast<uint32_t>(Counter(stats, report::kTrialSuccess));
      if (Counter(stats, report::kTrialFailure) > 0) {
        Open(now, "a half-open trial call failed");
      } else if (trial_successes_ >= config_.half_open_requests) {
        Close();
      }
      break;
    default:
      break;  // open: calls are short-circuited; late reports change nothing
  }
}

void BreakerAggregate::OnTick(const ClusterView& cluster) {
  if (!config_.cluster_scope || !decided_) return;
  window_now_ms_ = cluster.now_ms;
  if (state_ == v1::BREAKER_STATE_OPEN && cluster.now_ms >= open_until_ms_) HalfOpen(cluster);
  if (state_ != v1::BREAKER_STATE_HALF_OPEN) return;
  // Permits of instances that left and did not use them go back to the pool.
  for (auto it = permits_.begin(); it != permits_.end();) {
    if (std::binary_search(cluster.instances.begin(), cluster.instances.end(), it->first)) {
      ++it;
      continue;
    }
    const uint32_t used = trials_used_[it->first];
    unallocated_permits_ += it->second > used ? it->second - used : 0;
    it = permits_.erase(it);
    DecisionsChanged();
  }
  AllocatePermits(cluster);
}

void BreakerAggregate::Open(int64_t now_ms, std::string reason) {
  DecisionsChanged();
  state_ = v1::BREAKER_STATE_OPEN;
  open_until_ms_ = now_ms + config_.open_ms;
  reason_ = std::move(reason);
  permits_.clear();
  trials_used_.clear();
  unallocated_permits_ = 0;
}

void BreakerAggregate::HalfOpen(const ClusterView& cluster) {
  DecisionsChanged();
  state_ = v1::BREAKER_STATE_HALF_OPEN;
  trial_successes_ = 0;
  permits_.clear();
  trials_used_.clear();
  unallocated_permits_ = config_.half_open_requests;
  AllocatePermits(cluster);
}

void BreakerAggregate::Close() {
  DecisionsChanged();
  state_ = v1::BREAKER_STATE_CLOSED;
  reason_.clear();
  window_.Reset();
  permits_.clear();
  trials_used_.clear();
  unallocated_permits_ = 0;
}

void BreakerAggregate::AllocatePermits(const ClusterView& cluster) {
  if (unallocated_permits_ == 0 || cluster.instances.empty()) return;
  DecisionsChanged();
  std::vector<std::pair<double, uint32_t>> busiest;
  for (uint32_t instance : cluster.instances) busiest.push_back({-cluster.demand(instance), instance});
  std::sort(busiest.begin(), busiest.end());
  for (size_t i = 0; unallocated_permits_ > 0; i = (i + 1) % busiest.size()) {
    ++permits_[busiest[i].second];
    --unallocated_permits_;
  }
}

std::optional<v1::Decision> BreakerAggregate::DecisionFor(uint32_t instance) const {
  if (!config_.cluster_scope || !decided_) return std::nullopt;
  v1::Decision decision;
  v1::BreakerDecision* breaker = decision.mutable_breaker();
  breaker->set_state(state_);
  breaker->set_reason(reason_);
  if (state_ == v1::BREAKER_STATE_OPEN) breaker->set_open_until_unix_ms(open_until_ms_);
  if (state_ == v1::BREAKER_STATE_HALF_OPEN) {
    auto it = permits_.find(instance);
    breaker->set_trial_permits(it == permits_.end() ? 0 : it->second);
  }
  return decision;
}

void BreakerAggregate::Describe(v1::MiddlepipeState& state) const {
  if (!config_.cluster_scope) {
    state.set_state("per-instance");
    state.set_reason("scope is instance: each instance decides alone");
    return;
  }
  state.set_state(decided_ ? StateWord(state_) : "closed");
  state.set_reason(decided_ ? reason_ : "no reports yet");
  auto& figures = *state.mutable_figures();
  const v1::RequestStats sum = window_.Sum(window_now_ms_);
  if (const uint64_t calls = CompletedCalls(sum); calls > 0) {
    figures["breaker_error_percent"] = static_cast<double>(sum.failures()) * 100.0 / calls;
  }
  if (state_ == v1::BREAKER_STATE_OPEN) {
    figures["open_remaining_ms"] =
        static_cast<double>(std::max<int64_t>(0, open_until_ms_ - window_now_ms_));
  }
  if (state_ == v1::BREAKER_STATE_HALF_OPEN) {
    figures["trial_successes"] = trial_successes_;
    for (const auto& [instance, permits] : permits_) {
      figures[absl::StrCat("trial_permits:", instance)] = permits;
    }
  }
}

std::optional<std::string> BreakerAggregate::ExportState(int64_t now_ms) const {
  if (!config_.cluster_scope || !decided_) return std::nullopt;
  nlohmann::json json = {{"state", StateWord(state_)}, {"reason", reason_}};
  if (state_ == v1::BREAKER_STATE_OPEN) {
    json["open_remaining_ms"] = std::max<int64_t>(0, open_until_ms_ - now_ms);
  }
  return json.dump();
}

}  // namespace middlepipe::aggregator::circuit_breaker

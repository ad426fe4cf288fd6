#include "aggregator/rate-limit/rate_aggregate.h"

#include <algorithm>
#include <cmath>
#include <numeric>


#include "absl/strings/str_cat.h"
#include "scheduler/filters/rate-limit/config.h"

namespace middlepipe::aggregator::rate_limit {
namespace {

constexpr double kFloorOfEqualShare = 0.05;
constexpr double kRepublishFraction = 0.02;

}  // namespace

std::vector<double> SplitRate(double limit, const std::vector<double>& demands) {
  const size_t n = demands.size();
  std::vector<double> shares(n, 0.0);
  if (n == 0 || limit <= 0) return shares;
  const double floor = limit / static_cast<double>(n) * kFloorOfEqualShare;
  double available = limit - floor * static_cast<double>(n);
  std::vector<double> wants(n);
  for (size_t i = 0; i < n; ++i) wants[i] = std::max(0.0, demands[i] - floor);
  const double wanted = std::accumulate(wants.begin(), wants.end(), 0.0);
  if (wanted <= available) {
    const double spare = (available - wanted) / static_cast<double>(n);
    for (size_t i = 0; i < n; ++i) shares[i] = floor + wants[i] + spare;
  } else {
    // Water-filling: the least demanding get what they want, the rest an equal level.
    std::vector<size_t> order(n);
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return wants[a] < wants[b]; });
    for (size_t k = 0; k < n; ++k) {
      const double level = available / static_cast<double>(n - k);
      const double given = std::min(wants[order[k]], level);
      shares[order[k]] = floor + given;
      available -= given;
    }
  }
  // Rounding must never let the shares exceed the limit.
  const double total = std::accumulate(shares.begin(), shares.end(), 0.0);
  if (total > limit) {
    for (double& share : shares) share *= limit / total * (1 - 1e-12);
  }
  return shares;
}

absl::StatusOr<std::unique_ptr<KindAggregate>> RateAggregate::Create(const std::string& config_json) {
  // The filter's parser, so both halves refuse the same configs (a rate <= 0 included).
  absl::StatusOr<scheduler::rate_limit::RateConfig> config =
      scheduler::rate_limit::ParseRateConfig(config_json);
  if (!config.ok()) return config.status();
  return std::make_unique<RateAggregate>(config->requests_per_second, config->burst,
                                         config->cluster_scope);
}

RateAggregate::RateAggregate(double requests_per_second, double burst, bool cluster_scope)
    : limit_(requests_per_second), burst_(burst), cluster_scope_(cluster_scope) {}

void RateAggregate::OnTick(const ClusterView& cluster) {
  if (!cluster_scope_) return;
  std::vector<double> demands;
  for (uint32_t instance : cluster.instances) demands.push_back(cluster.demand(instance));
  const std::vector<double> shares = SplitRate(limit_, demands);
  bool republish = shares.size() != shares_.size();
  for (size_t i = 0; i < shares.size() && !republish; ++i) {
    auto it = shares_.find(cluster.instances[i]);
    republish = it == shares_.end() || std::abs(it->second - shares[i]) > kRepublishFraction * limit_;
  }
  if (!republish) return;
  DecisionsChanged();
  shares_.clear();
  for (size_t i = 0; i < shares.size(); ++i) shares_[cluster.instances[i]] = shares[i];
}

std::optional<v1::Decision> RateAggregate::DecisionFor(uint32_t instance) const {
  auto it = shares_.find(instance);
  if (!cluster_scope_ || it == shares_.end()) return std::nullopt;
  v1::Decision decision;
  decision.mutable_rate_budget()->set_requests_per_second(it->second);
  decision.mutable_rate_budget()->set_burst(burst_ * it->second / limit_);
  decision.mutable_rate_budget()->set_instances(static_cast<uint32_t>(shares_.size()));
  return decision;
}

void RateAggregate::Describe(v1::MiddlepipeState& state) const {
  state.set_state(cluster_scope_ ? "ok" : "per-instance");
  auto& figures = *state.mutable_figures();
  figures["limit_rps"] = limit_;
  for (const auto& [instance, share] : shares_) figures[absl::StrCat("share:", instance)] = share;
}

}  // namespace middlepipe::aggregator::rate_limit

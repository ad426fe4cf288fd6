// The rate limit's aggregator half: splits the cluster's requests_per_second among the
// connected instances by their recent demand, so an idle instance's share goes to a busy
// one, and the shares never add up to more than the limit.
//
// Split: every instance keeps a floor (5% of an equal share) so one that starts getting
// traffic is not at zero while its demand reaches the aggregator; the rest is given by
// demand: if the cluster wants less than the limit, each gets what it wants plus an
// equal part of the spare; if more, max-min fair (water-filling). The burst is split in
// the same proportions. Shares are re-published when an instance comes or goes or one
// moves by more than 2% of the limit, so decisions do not churn on noise.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "aggregator/kind_aggregate.h"

namespace middlepipe::aggregator::rate_limit {

// The split described above; shares in the order of `demands`, summing to at most `limit`.
std::vector<double> SplitRate(double limit, const std::vector<double>& demands);

class RateAggregate final : public KindAggregate {
 public:
  static absl::StatusOr<std::unique_ptr<KindAggregate>> Create(const std::string& config_json);

  RateAggregate(double requests_per_second, double burst, bool cluster_scope);

  void OnTick(const ClusterView& cluster) override;
  std::optional<v1::Decision> DecisionFor(uint32_t instance) const override;
  void Describe(v1::MiddlepipeState& state) const override;

 private:
  const double limit_;
  const double burst_;
  const bool cluster_scope_;
  std::map<uint32_t, double> shares_;  // published
};

}  // namespace middlepipe::aggregator::rate_limit

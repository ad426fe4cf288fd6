// The traffic-split filter (request level): sends each request to one of the configured
// routes with probability weight / (sum of weights): A/B tests, canaries, blue/green.
// The verdict names the chosen service and its endpoints, and the app's hook sends the
// request there; a request routed to the chain's own service goes unchanged.
//
// With `sticky_header`, requests carrying the same value of that header go to the same
// route on every instance of the app (weighted rendezvous hashing over a fixed hash, so
// no instance needs to share state with another), and when the weights change only the
// keys that must move do: raising a canary from 10% to 20% moves keys onto the canary,
// never off it. Requests without the header are split at random.
//
// A route whose service has no reachable endpoint is skipped while it has none (its
// weight goes to the others) and counted; if no route is reachable the request goes to
// the chain's own service. Per route the filter reports the calls sent and how many
// failed (5xx or no response): the live A/B comparison `mp middlepipe` shows.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "fastpath/route_choice.h"
#include "scheduler/filters/traffic-split/config.h"
#include "scheduler/pending_stats.h"
#include "scheduler/request_filter.h"

namespace middlepipe::scheduler::traffic_split {

class SplitFilter final : public RequestFilter {
 public:
  static absl::StatusOr<std::unique_ptr<RequestFilter>> Create(const FilterSpecContext& context);

  // `own_service` is the service of the chain the filter sits in; `seed` makes the random
  // choices repeatable (tests).
  SplitFilter(std::string own_service, SplitConfig config, uint64_t seed);

  FilterStatus OnRequest(RequestCall& call, uint32_t& note) override;
  void OnResponse(RequestCall& call, uint32_t note) override;
  bool MayMarkResponse(uint32_t note) const override { return false; }
  // Always decidable in-process: the client core picks by the same rules
  // (fastpath/route_choice.h) from the same weights.
  FastPathPlan CompileFastPath(FastPathContext& context) override;
  uint32_t OnFastPathRequest(const FastPathCall& call) override;
  void AdoptState(RequestFilter& previous) override;
  void TakeReport(v1::Report& report) override;

 private:
  void Count(std::optional<size_t> chosen);

  const std::string own_service_;
  const SplitConfig config_;
  // Per route: its weight, and whether it has a positive weight and somewhere to send to.
  std::vector<fastpath::RouteWeight> weights_;

  std::mutex mu_;
  std::mt19937_64 random_;  // mu_
  std::shared_ptr<PendingStats> pending_ = std::make_shared<PendingStats>();
};

}  // namespace middlepipe::scheduler::traffic_split

#include "scheduler/filters/traffic-split/split_filter.h"

#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"

namespace middlepipe::scheduler::traffic_split {
namespace {

constexpr uint32_t kNotRouted = 0;

bool Failed(const RequestCall& call) { return call.status == 0 || call.status >= 500; }

}  // namespace

absl::StatusOr<std::unique_ptr<RequestFilter>> SplitFilter::Create(const FilterSpecContext& context) {
  absl::StatusOr<SplitConfig> config =
      ParseSplitConfig(context.spec.config_json(), context.spec.referenced_services());
  if (!config.ok()) return config.status();
  return std::make_unique<SplitFilter>(context.service, *std::move(config), std::random_device()());
}

SplitFilter::SplitFilter(std::string own_service, SplitConfig config, uint64_t seed)
    : own_service_(std::move(own_service)), config_(std::move(config)), random_(seed) {
  for (const Route& route : config_.routes) {
    const bool reachable =
        route.weight > 0 && (route.service == own_service_ || !route.endpoints.empty());
    weights_.push_back({route.service, route.weight, reachable});
  }
}

void SplitFilter::Count(std::optional<size_t> chosen) {
  const std::string counter =
      chosen.has_value() ? absl::StrCat("route:", config_.routes[*chosen].service)
                         : "unroutable";  // it goes to the chain's own service
  pending_->Update([&](v1::RequestStats& stats) {
    stats.set_requests(stats.requests() + 1);
    ++(*stats.mutable_counters())[counter];
  });
}

FilterStatus SplitFilter::OnRequest(RequestCall& call, uint32_t& note) {
  std::optional<std::string> key;
  if (!config_.sticky_header.empty()) key = call.RequestHeader(config_.sticky_header);
  std::optional<size_t> chosen;
  if (key.has_value()) {
    chosen = fastpath::StickyRoute(weights_, *key);
  } else {
    std::lock_guard<std::mutex> lock(mu_);
    chosen = fastpath::WeightedRoute(weights_, std::uniform_real_distribution<double>(0.0, 1.0)(random_));
  }
  Count(chosen);
  if (!chosen.has_value()) {
    note = kNotRouted;
    return FilterStatus::kContinue;
  }
  const Route& route = config_.routes[*chosen];
  note = static_cast<uint32_t>(*chosen) + 1;
  if (route.service != own_service_) {
    call.destination_service = route.service;
    call.destination_endpoints = route.endpoints;
  } else {
    call.destination_service.clear();  // an earlier split's choice does not stand
    call.destination_endpoints.clear();
  }
  return FilterStatus::kContinue;
}

FastPathPlan SplitFilter::CompileFastPath(FastPathContext& /*context*/) {
  fastpath::Step step;
  step.kind = fastpath::Step::Kind::kRoute;
  step.sticky_header = config_.sticky_header;
  step.routes = weights_;
  for (const Route& route : config_.routes) {
    fastpath::RouteTarget& target = step.targets.emplace_back();
    target.own = route.service == own_service_;
    for (const v1::Endpoint& endpoint : route.endpoints) {
      target.endpoints.emplace_back(endpoint.host(), endpoint.port());
    }
  }
  return {true, std::numeric_limits<int64_t>::max(), std::move(step)};
}

uint32_t SplitFilter::OnFastPathRequest(const FastPathCall& call) {
  // choice: the route + 1, 0 for none reachable; the same as OnRequest's note.
  std::optional<size_t> chosen;
  if (call.choice != kNotRouted && call.choice <= config_.routes.size()) chosen = call.choice - 1;
  Count(chosen);
  return chosen.has_value() ? call.choice : kNotRouted;
}

void SplitFilter::OnResponse(RequestCall& call, uint32_t note) {
  if (note == kNotRouted || note > config_.routes.size() || !Failed(call)) return;
  const std::string counter = absl::StrCat("route_failed:", config_.routes[note - 1].service);
  pending_->Update([&](v1::RequestStats& stats) { ++(*stats.mutable_counters())[counter]; });
}

void SplitFilter::AdoptState(RequestFilter& previous) {
  pending_ = static_cast<SplitFilter&>(previous).pending_;
}

void SplitFilter::TakeReport(v1::Report& report) { pending_->TakeInto(report); }

}  // namespace middlepipe::scheduler::traffic_split

#include "scheduler/filters/traffic-split/split_filter.h"

#include <cmath>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"

namespace middlepipe::scheduler::traffic_split {
namespace {

// A hash that is the same in every process and on every machine, so all instances of an
// app send a sticky key to the same route (std::hash and absl::Hash are seeded per
// process). FNV-1a over the route's service and the key, then the splitmix64 finalizer
// to spread FNV's weak low bits over the whole word.
uint64_t StableHash(absl::string_view service, absl::string_view key) {
  uint64_t hash = 0xcbf29ce484222325ull;
  auto mix_in = [&hash](absl::string_view bytes) {
    for (unsigned char byte : bytes) {
      hash ^= byte;
      hash *= 0x100000001b3ull;
    }
  };
  mix_in(service);
  mix_in(absl::string_view("\xff", 1));  // no service name contains it: "ab"+"c" != "a"+"bc"
  mix_in(key);
  hash ^= hash >> 30;
  hash *= 0xbf58476d1ce4e5b9ull;
  hash ^= hash >> 27;
  hash *= 0x94d049bb133111ebull;
  hash ^= hash >> 31;
  return hash;
}

constexpr uint32_t kNotRouted = 0;

bool Failed(const RequestCall& call) { return call.status == 0 || call.status >= 500; }

}  // namespace

absl::StatusOr<SplitConfig> ParseSplitConfig(
    const std::string& config_json,
    const google::protobuf::RepeatedPtrField<v1::ServiceEndpoints>& referenced) {
  nlohmann::json json = nlohmann::json::parse(config_json, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object()) return absl::InvalidArgumentError("config is not a JSON object");
  SplitConfig config;
  try {
    config.sticky_header = json.value("sticky_header", std::string());
    for (const nlohmann::json& route : json.at("routes")) {
      Route& parsed = config.routes.emplace_back();
      parsed.service = route.at("service").get<std::string>();
      parsed.weight = route.at("weight").get<double>();
      for (const v1::ServiceEndpoints& where : referenced) {
        if (where.service() != parsed.service) continue;
        for (const v1::Endpoint& endpoint : where.endpoints()) {
          // An app's instances are known by address before the platform says on which
          // port the app listens (port 0): nothing to send to there yet.
          if (endpoint.port() != 0) parsed.endpoints.push_back(endpoint);
        }
      }
    }
  } catch (const nlohmann::json::exception& error) {
    return absl::InvalidArgumentError(absl::StrCat("config: ", error.what()));
  }
  double total = 0;
  for (const Route& route : config.routes) {
    if (!(route.weight >= 0) || !std::isfinite(route.weight)) {
      return absl::InvalidArgumentError(
          absl::StrCat("config: route ", route.service, " has weight ", route.weight));
    }
    total += route.weight;
  }
  if (config.routes.empty() || total <= 0) {
    return absl::InvalidArgumentError("config: the routes' weights must add up to more than 0");
  }
  return config;
}

std::optional<size_t> StickyRoute(const std::vector<Route>& routes,
                                  const std::vector<bool>& reachable, absl::string_view key) {
  // Weighted rendezvous hashing: each route draws u in (0, 1) from the key; the highest
  // -weight / ln(u) wins, which happens with probability weight / sum of weights. Raising
  // one route's weight raises only its own scores, so keys move onto it and none off it.
  std::optional<size_t> best;
  double best_score = 0;
  for (size_t i = 0; i < routes.size(); ++i) {
    if (!reachable[i]) continue;
    const double u =
        (static_cast<double>(StableHash(routes[i].service, key) >> 11) + 0.5) * 0x1.0p-53;
    const double score = -routes[i].weight / std::log(u);
    if (!best || score > best_score) {
      best = i;
      best_score = score;
    }
  }
  return best;
}

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
    reachable_.push_back(reachable);
    if (reachable) reachable_weight_ += route.weight;
  }
}

std::optional<size_t> SplitFilter::RandomRoute() {
  if (reachable_weight_ <= 0) return std::nullopt;
  double roll = std::uniform_real_distribution<double>(0.0, reachable_weight_)(random_);
  std::optional<size_t> last;
  for (size_t i = 0; i < config_.routes.size(); ++i) {
    if (!reachable_[i]) continue;
    last = i;
    if (roll < config_.routes[i].weight) return i;
    roll -= config_.routes[i].weight;
  }
  return last;  // rounding left a sliver past the last route
}

FilterStatus SplitFilter::OnRequest(RequestCall& call, uint32_t& note) {
  std::optional<std::string> key;
  if (!config_.sticky_header.empty()) key = call.RequestHeader(config_.sticky_header);
  std::optional<size_t> chosen;
  if (key.has_value()) {
    chosen = StickyRoute(config_.routes, reachable_, *key);
  } else {
    std::lock_guard<std::mutex> lock(mu_);
    chosen = RandomRoute();
  }
  const std::string counter =
      chosen.has_value() ? absl::StrCat("route:", config_.routes[*chosen].service)
                         : "unroutable";  // it goes to the chain's own service
  pending_->Update([&](v1::RequestStats& stats) {
    stats.set_requests(stats.requests() + 1);
    ++(*stats.mutable_counters())[counter];
  });
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

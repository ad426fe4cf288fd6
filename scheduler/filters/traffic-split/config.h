// The traffic split's config (DESIGN.md §7), in one place for both readers: the
// controller's validation (kind.cc takes its schema and cross-field check from here) and
// the filter (split_filter). The parser applies the schema's checks and the check, so the
// two agree on what a config means and on which configs they refuse. The kind has no
// aggregator half.
#pragma once

#include <google/protobuf/repeated_field.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/middlepipe.pb.h"

namespace middlepipe::scheduler::traffic_split {

struct Route {
  std::string service;
  double weight = 0;
  // Where the service can be reached (from the chain's spec).
  std::vector<v1::Endpoint> endpoints;
};

struct SplitConfig {
  std::vector<Route> routes;  // required: 1-16
  std::string sticky_header;  // empty: no stickiness
};

// The JSON Schema (draft 7) of the config object.
std::string SplitConfigSchema();

// What the schema cannot say: no service twice, and the weights add up to more than 0.
// On a config that passed the schema; the error names the field: "field routes[1].service:
// \"b\" is listed twice".
absl::Status CheckSplitConfig(const nlohmann::json& config);

// Reads a config object, with each route's endpoints taken from `referenced` (the spec's
// referenced_services). Refuses what the schema and CheckSplitConfig refuse, naming the
// field.
absl::StatusOr<SplitConfig> ParseSplitConfig(
    const std::string& config_json,
    const google::protobuf::RepeatedPtrField<v1::ServiceEndpoints>& referenced);

}  // namespace middlepipe::scheduler::traffic_split

// What the system knows about one kind of middlepipe (DESIGN.md §6-§7): its name, level,
// config schema and the checks a schema cannot express. Each kind defines one in its own
// folder (scheduler/filters/<kind>/kind.cc); filters/builtin_kinds.cc lists them all.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "proto/middlepipe.pb.h"

namespace middlepipe::scheduler {

struct KindDescriptor {
  // The marketplace name, e.g. "circuit-breaker".
  std::string name;
  // Request or packet level.
  v1::Level level = v1::LEVEL_UNSPECIFIED;
  // One line for listings.
  std::string description;
  // JSON Schema (draft 7) of the config object. Every property has a "default"
  // unless it is required or optional-without-default; the catalog fills defaults in.
  std::string config_schema_json;
  // Whether an aggregator half decides or collects cluster-wide.
  bool aggregates = false;
  // Checks across fields that a schema cannot express, on a config that already passed
  // the schema (defaults filled in). Errors name the field: "buckets_ms: must ascend".
  // Empty when the schema says everything.
  std::function<absl::Status(const nlohmann::json& config)> check;
  // The services a validated config names (e.g. a traffic split's routes): the controller
  // refuses configs naming services that do not exist, and hands the filter where each
  // can be reached. Empty when the kind names none.
  std::function<std::vector<std::string>(const nlohmann::json& config)> referenced_services;
};

}  // namespace middlepipe::scheduler

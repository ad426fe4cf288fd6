// The rate limit's config (DESIGN.md §7), in one place for all three readers: the
// controller's validation (kind.cc takes its schema from here), the filter (rate_filter)
// and the aggregate (aggregator/rate-limit). The struct holds the defaults, the schema is
// built from them, and the parser applies the schema's checks, so the three agree on what
// a config means and on which configs they refuse.
#pragma once

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"

namespace middlepipe::scheduler::rate_limit {

struct RateConfig {
  double requests_per_second = 1;  // required in a config; this value is never a default
  double burst = 0;
  bool cluster_scope = true;
  std::string key_header;  // empty: one bucket
  size_t max_keys = 10000;
};

// The JSON Schema (draft 7) of the config object, its defaults those of RateConfig{}.
std::string RateConfigSchema();

// Reads a config object. Absent optional fields take RateConfig's defaults, so a config as
// the controller stores it (defaults filled in) and one without them read the same.
// Refuses what the schema refuses, naming the field: INVALID_ARGUMENT
// "config: requests_per_second: must be a number > 0 and <= 10000000".
absl::StatusOr<RateConfig> ParseRateConfig(const std::string& config_json);

}  // namespace middlepipe::scheduler::rate_limit

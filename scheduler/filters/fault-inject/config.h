// The fault injector's config (DESIGN.md §7), in one place for both readers: the
// controller's validation (kind.cc takes its schema from here) and the filter
// (fault_filter). The struct holds the defaults, the schema is built from them, and the
// parser applies the schema's checks, so the two agree on what a config means and on which
// configs they refuse. The kind has no aggregator half.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace middlepipe::scheduler::fault_inject {

struct FaultConfig {
  uint32_t delay_ms = 0;
  double delay_percent = 0;
  uint32_t abort_status = 503;
  double abort_percent = 0;
};

// The JSON Schema (draft 7) of the config object, its defaults those of FaultConfig{}.
std::string FaultConfigSchema();

// Reads a config object. Absent fields take FaultConfig's defaults, so a config as the
// controller stores it (defaults filled in) and one without them read the same. Refuses
// what the schema refuses, naming the field: INVALID_ARGUMENT
// "config: abort_status: must be an integer 100-599".
absl::StatusOr<FaultConfig> ParseFaultConfig(const std::string& config_json);

}  // namespace middlepipe::scheduler::fault_inject

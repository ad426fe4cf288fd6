// The circuit breaker's config (DESIGN.md §7), in one place for all three readers: the
// controller's validation (kind.cc takes its schema from here), the filter
// (breaker_filter) and the aggregate (aggregator/circuit-breaker). The struct holds the
// defaults, the schema is built from them, and the parser applies the same checks as the
// schema, so a config the controller accepted reads the same everywhere and one it would
// refuse is refused by every half.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "proto/hook.pb.h"

namespace middlepipe::scheduler::circuit_breaker {

struct BreakerConfig {
  int64_t latency_threshold_ms = 1000;
  double error_threshold_percent = 50;
  uint32_t min_requests = 20;
  int64_t window_ms = 10000;
  int64_t open_ms = 5000;
  uint32_t half_open_requests = 3;
  bool cluster_scope = true;
  // The response while open; absent: a 503 the client hook turns into an exception.
  std::optional<v1::SynthesizedResponse> fallback;
};

// The JSON Schema (draft 7) of the config object, its defaults those of BreakerConfig{}.
std::string BreakerConfigSchema();

// Reads a config object. Absent fields take BreakerConfig's defaults, so a config as the
// controller stores it (defaults filled in) and one without them read the same. Refuses
// what the schema refuses, naming the field: INVALID_ARGUMENT
// "config: window_ms: must be an integer 100-3600000".
absl::StatusOr<BreakerConfig> ParseBreakerConfig(const std::string& config_json);

}  // namespace middlepipe::scheduler::circuit_breaker

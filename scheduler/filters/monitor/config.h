// The monitor's config (DESIGN.md §7), in one place for both readers: the controller's
// validation (kind.cc takes its schema and cross-field check from here) and the filter
// (monitor_filter). The struct holds the defaults, the schema is built from them, and the
// parser applies the schema's checks and the check, so the two agree. The aggregator
// counts monitor reports with every other kind's statistics and reads no config of it.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace middlepipe::scheduler::monitor {

struct MonitorConfig {
  // Upper bounds of the latency histogram's buckets, ascending.
  std::vector<double> buckets_ms = {5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000};
};

// The JSON Schema (draft 7) of the config object, its defaults those of MonitorConfig{}.
std::string MonitorConfigSchema();

// What the schema cannot say: the buckets ascend. On a config that passed the schema;
// the error names the field: "field buckets_ms[2]: must be greater than the bucket before
// it".
absl::Status CheckMonitorConfig(const nlohmann::json& config);

// Reads a config object. Absent fields take MonitorConfig's defaults; refuses what the
// schema and CheckMonitorConfig refuse, naming the field.
absl::StatusOr<MonitorConfig> ParseMonitorConfig(const std::string& config_json);

}  // namespace middlepipe::scheduler::monitor

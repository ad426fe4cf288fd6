#include "scheduler/filters/monitor/config.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/substitute.h"
#include "scheduler/config_fields.h"

namespace middlepipe::scheduler::monitor {
namespace {

// The bound the schema states; the parser checks the same one.
constexpr size_t kMaxBuckets = 64;

}  // namespace

std::string MonitorConfigSchema() {
  const MonitorConfig defaults;
  return absl::Substitute(R"json({
    "type": "object",
    "additionalProperties": false,
    "properties": {
      "buckets_ms": {
        "type": "array", "minItems": 1, "maxItems": $1,
        "items": {"type": "number", "exclusiveMinimum": 0},
        "default": [$0],
        "description": "Upper bounds of the latency histogram buckets, ascending."
      }
    }
  })json",
                          absl::StrJoin(defaults.buckets_ms, ", "), kMaxBuckets);
}

absl::Status CheckMonitorConfig(const nlohmann::json& config) {
  const auto& buckets = config["buckets_ms"];
  for (size_t i = 1; i < buckets.size(); ++i) {
    if (buckets[i].get<double>() <= buckets[i - 1].get<double>()) {
      return absl::InvalidArgumentError(
          absl::StrCat("field buckets_ms[", i, "]: must be greater than the bucket before it"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<MonitorConfig> ParseMonitorConfig(const std::string& config_json) {
  nlohmann::json json = nlohmann::json::parse(config_json, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object()) return absl::InvalidArgumentError("config is not a JSON object");
  absl::Status status = RefuseUnknownFields(json, {"buckets_ms"}, "monitor");
  if (!status.ok()) return status;
  MonitorConfig config;
  if (!json.contains("buckets_ms")) return config;
  const nlohmann::json& buckets = json["buckets_ms"];
  if (!buckets.is_array() || buckets.empty() || buckets.size() > kMaxBuckets) {
    return ConfigFieldError("buckets_ms",
                            absl::StrCat("must be an array of 1-", kMaxBuckets, " numbers"));
  }
  config.buckets_ms.clear();
  for (size_t i = 0; i < buckets.size(); ++i) {
    if (!buckets[i].is_number() || !(buckets[i].get<double>() > 0)) {
      return ConfigFieldError(absl::StrCat("buckets_ms[", i, "]"), "must be a number > 0");
    }
    config.buckets_ms.push_back(buckets[i].get<double>());
  }
  status = CheckMonitorConfig(json);
  if (!status.ok()) return absl::InvalidArgumentError(absl::StrCat("config: ", status.message()));
  return config;
}

}  // namespace middlepipe::scheduler::monitor

#include "scheduler/filters/fault-inject/config.h"

#include <nlohmann/json.hpp>

#include "absl/strings/substitute.h"
#include "scheduler/config_fields.h"

namespace middlepipe::scheduler::fault_inject {
namespace {

// The bounds the schema states; the parser checks the same ones.
constexpr int64_t kMaxDelayMs = 600000;

// A percentage 0-100, or `out` unchanged when absent.
absl::Status ReadPercent(const nlohmann::json& json, const char* field, double& out) {
  if (!json.contains(field)) return absl::OkStatus();
  const nlohmann::json& value = json[field];
  if (!value.is_number() || value.get<double>() < 0 || value.get<double>() > 100) {
    return ConfigFieldError(field, "must be a number 0-100");
  }
  out = value.get<double>();
  return absl::OkStatus();
}

}  // namespace

std::string FaultConfigSchema() {
  const FaultConfig defaults;
  return absl::Substitute(R"json({
    "type": "object",
    "additionalProperties": false,
    "properties": {
      "delay_ms": {"type": "integer", "minimum": 0, "maximum": $4, "default": $0,
        "description": "Delay added to delayed requests."},
      "delay_percent": {"type": "number", "minimum": 0, "maximum": 100, "default": $1,
        "description": "Share of requests delayed."},
      "abort_status": {"type": "integer", "minimum": 100, "maximum": 599, "default": $2,
        "description": "Status of the response made for aborted requests."},
      "abort_percent": {"type": "number", "minimum": 0, "maximum": 100, "default": $3,
        "description": "Share of requests aborted (not sent)."}
    }
  })json",
                          defaults.delay_ms, defaults.delay_percent, defaults.abort_status,
                          defaults.abort_percent, kMaxDelayMs);
}

absl::StatusOr<FaultConfig> ParseFaultConfig(const std::string& config_json) {
  nlohmann::json json = nlohmann::json::parse(config_json, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object()) return absl::InvalidArgumentError("config is not a JSON object");
  FaultConfig config;
  absl::Status status = RefuseUnknownFields(
      json, {"delay_ms", "delay_percent", "abort_status", "abort_percent"}, "fault-inject");
  if (!status.ok()) return status;
  int64_t delay_ms = config.delay_ms;
  status = ReadIntegerField(json, "delay_ms", 0, kMaxDelayMs, delay_ms);
  if (!status.ok()) return status;
  config.delay_ms = static_cast<uint32_t>(delay_ms);
  status = ReadPercent(json, "delay_percent", config.delay_percent);
  if (!status.ok()) return status;
  int64_t abort_status = config.abort_status;
  status = ReadIntegerField(json, "abort_status", 100, 599, abort_status);
  if (!status.ok()) return status;
  config.abort_status = static_cast<uint32_t>(abort_status);
  status = ReadPercent(json, "abort_percent", config.abort_percent);
  if (!status.ok()) return status;
  return config;
}

}  // namespace middlepipe::scheduler::fault_inject

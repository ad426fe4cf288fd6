#include "scheduler/filters/rate-limit/config.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/substitute.h"
#include "scheduler/config_fields.h"

namespace middlepipe::scheduler::rate_limit {
namespace {

// The bounds the schema states; the parser checks the same ones.
constexpr int64_t kMaxRate = 10000000;
constexpr int64_t kMaxBurst = 10000000;
constexpr int64_t kMaxKeys = 1000000;

}  // namespace

std::string RateConfigSchema() {
  const RateConfig defaults;
  return absl::Substitute(R"json({
    "type": "object",
    "additionalProperties": false,
    "required": ["requests_per_second"],
    "properties": {
      "requests_per_second": {"type": "number", "exclusiveMinimum": 0,
        "maximum": $2, "description": "Cluster-wide sustained rate."},
      "burst": {"type": "integer", "minimum": 0, "maximum": $3, "default": $0,
        "description": "Extra requests allowed at once above the rate (token bucket size)."},
      "scope": {"type": "string", "enum": ["cluster", "instance"], "default": "cluster",
        "description": "cluster: one budget shared by all instances; instance: each its own."},
      "key_header": {"type": "string", "pattern": "^[A-Za-z0-9-]+$$", "maxLength": $5,
        "description": "Limit per value of this request header (per user, per tenant)."},
      "max_keys": {"type": "integer", "minimum": 1, "maximum": $4, "default": $1,
        "description": "Bound on distinct key_header values tracked; least recent evicted."}
    }
  })json",
                          defaults.burst, defaults.max_keys, kMaxRate, kMaxBurst, kMaxKeys,
                          kMaxHeaderNameLength);
}

absl::StatusOr<RateConfig> ParseRateConfig(const std::string& config_json) {
  nlohmann::json json = nlohmann::json::parse(config_json, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object()) return absl::InvalidArgumentError("config is not a JSON object");
  absl::Status status = RefuseUnknownFields(
      json, {"requests_per_second", "burst", "scope", "key_header", "max_keys"}, "rate-limit");
  if (!status.ok()) return status;
  RateConfig config;
  if (!json.contains("requests_per_second")) {
    return ConfigFieldError("requests_per_second", "is required");
  }
  const nlohmann::json& rate = json["requests_per_second"];
  if (!rate.is_number() || !(rate.get<double>() > 0) ||
      rate.get<double>() > static_cast<double>(kMaxRate)) {
    return ConfigFieldError("requests_per_second",
                            absl::StrCat("must be a number > 0 and <= ", kMaxRate));
  }
  config.requests_per_second = rate.get<double>();
  int64_t burst = static_cast<int64_t>(config.burst);
  status = ReadIntegerField(json, "burst", 0, kMaxBurst, burst);
  if (!status.ok()) return status;
  config.burst = static_cast<double>(burst);
  status = ReadScopeField(json, config.cluster_scope);
  if (!status.ok()) return status;
  status = ReadHeaderNameField(json, "key_header", config.key_header);
  if (!status.ok()) return status;
  int64_t max_keys = static_cast<int64_t>(config.max_keys);
  status = ReadIntegerField(json, "max_keys", 1, kMaxKeys, max_keys);
  if (!status.ok()) return status;
  config.max_keys = static_cast<size_t>(max_keys);
  return config;
}

}  // namespace middlepipe::scheduler::rate_limit

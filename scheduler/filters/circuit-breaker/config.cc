#include "scheduler/filters/circuit-breaker/config.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/substitute.h"
#include "scheduler/config_fields.h"

namespace middlepipe::scheduler::circuit_breaker {
namespace {

// The bounds the schema states; the parser checks the same ones.
constexpr int64_t kMaxWindowMs = 3600000;
constexpr int64_t kMinWindowMs = 100;
constexpr int64_t kMaxOpenMs = 3600000;
constexpr int64_t kMaxHalfOpenRequests = 1000;
constexpr size_t kMaxFallbackBody = 1048576;

absl::StatusOr<v1::SynthesizedResponse> ReadFallback(const nlohmann::json& fallback) {
  if (!fallback.is_object()) return ConfigFieldError("fallback", "must be an object");
  v1::SynthesizedResponse response;
  for (auto it = fallback.begin(); it != fallback.end(); ++it) {
    if (it.key() != "status" && it.key() != "headers" && it.key() != "body") {
      return ConfigFieldError(absl::StrCat("fallback.", it.key()), "is not a fallback field");
    }
  }
  int64_t status = 0;
  if (!fallback.contains("status")) return ConfigFieldError("fallback.status", "is required");
  absl::Status read = ReadIntegerField(fallback, "status", 100, 599, status);
  if (!read.ok()) return ConfigFieldError("fallback.status", "must be an integer 100-599");
  response.set_status(static_cast<uint32_t>(status));
  if (fallback.contains("headers")) {
    const nlohmann::json& headers = fallback["headers"];
    if (!headers.is_object()) {
      return ConfigFieldError("fallback.headers", "must be an object of strings");
    }
    for (auto it = headers.begin(); it != headers.end(); ++it) {
      if (!it.value().is_string()) {
        return ConfigFieldError("fallback.headers", "must be an object of strings");
      }
      v1::Header* header = response.add_headers();
      header->set_name(it.key());
      header->set_value(it.value().get<std::string>());
    }
  }
  if (fallback.contains("body")) {
    const nlohmann::json& body = fallback["body"];
    if (!body.is_string() || body.get<std::string>().size() > kMaxFallbackBody) {
      return ConfigFieldError("fallback.body", absl::StrCat("must be a string of at most ",
                                                            kMaxFallbackBody, " characters"));
    }
    response.set_body(body.get<std::string>());
  }
  return response;
}

}  // namespace

std::string BreakerConfigSchema() {
  const BreakerConfig defaults;
  return absl::Substitute(R"json({
    "type": "object",
    "additionalProperties": false,
    "properties": {
      "latency_threshold_ms": {"type": "integer", "minimum": 1, "default": $0,
        "description": "A call slower than this counts as a failure."},
      "error_threshold_percent": {"type": "number", "minimum": 1, "maximum": 100, "default": $1,
        "description": "Open when this share of calls in the window failed."},
      "min_requests": {"type": "integer", "minimum": 1, "default": $2,
        "description": "Calls needed in the window before the breaker may open."},
      "window_ms": {"type": "integer", "minimum": $6, "maximum": $7, "default": $3,
        "description": "Rolling window the error rate is computed over."},
      "open_ms": {"type": "integer", "minimum": 1, "maximum": $8, "default": $4,
        "description": "How long to stay open before trying half-open."},
      "half_open_requests": {"type": "integer", "minimum": 1, "maximum": $9, "default": $5,
        "description": "Trial calls let through in half-open, across the whole cluster."},
      "scope": {"type": "string", "enum": ["cluster", "instance"], "default": "cluster",
        "description": "cluster: the aggregator decides for all instances; instance: each alone."},
      "fallback": {
        "type": "object",
        "additionalProperties": false,
        "description": "Response to return while open; absent = callback/exception in the app.",
        "required": ["status"],
        "properties": {
          "status": {"type": "integer", "minimum": 100, "maximum": 599},
          "headers": {"type": "object", "additionalProperties": {"type": "string"}},
          "body": {"type": "string", "maxLength": 1048576}
        }
      }
    }
  })json",
                          defaults.latency_threshold_ms, defaults.error_threshold_percent,
                          defaults.min_requests, defaults.window_ms, defaults.open_ms,
                          defaults.half_open_requests, kMinWindowMs, kMaxWindowMs, kMaxOpenMs,
                          kMaxHalfOpenRequests);
}

absl::StatusOr<BreakerConfig> ParseBreakerConfig(const std::string& config_json) {
  nlohmann::json json = nlohmann::json::parse(config_json, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object()) return absl::InvalidArgumentError("config is not a JSON object");
  BreakerConfig config;
  absl::Status status =
      RefuseUnknownFields(json,
                          {"latency_threshold_ms", "error_threshold_percent", "min_requests",
                           "window_ms", "open_ms", "half_open_requests", "scope", "fallback"},
                          "circuit-breaker");
  if (!status.ok()) return status;
  status =
      ReadIntegerField(json, "latency_threshold_ms", 1, INT64_MAX, config.latency_threshold_ms);
  if (!status.ok()) return status;
  if (json.contains("error_threshold_percent")) {
    const nlohmann::json& value = json["error_threshold_percent"];
    if (!value.is_number() || value.get<double>() < 1 || value.get<double>() > 100) {
      return ConfigFieldError("error_threshold_percent", "must be a number 1-100");
    }
    config.error_threshold_percent = value.get<double>();
  }
  int64_t min_requests = config.min_requests;
  status = ReadIntegerField(json, "min_requests", 1, UINT32_MAX, min_requests);
  if (!status.ok()) return status;
  config.min_requests = static_cast<uint32_t>(min_requests);
  status = ReadIntegerField(json, "window_ms", kMinWindowMs, kMaxWindowMs, config.window_ms);
  if (!status.ok()) return status;
  status = ReadIntegerField(json, "open_ms", 1, kMaxOpenMs, config.open_ms);
  if (!status.ok()) return status;
  int64_t half_open_requests = config.half_open_requests;
  status =
      ReadIntegerField(json, "half_open_requests", 1, kMaxHalfOpenRequests, half_open_requests);
  if (!status.ok()) return status;
  config.half_open_requests = static_cast<uint32_t>(half_open_requests);
  status = ReadScopeField(json, config.cluster_scope);
  if (!status.ok()) return status;
  if (json.contains("fallback")) {
    absl::StatusOr<v1::SynthesizedResponse> fallback = ReadFallback(json["fallback"]);
    if (!fallback.ok()) return fallback.status();
    config.fallback = *std::move(fallback);
  }
  return config;
}

}  // namespace middlepipe::scheduler::circuit_breaker

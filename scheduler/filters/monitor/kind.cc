#include "scheduler/filters/monitor/kind.h"

#include "absl/strings/str_cat.h"

namespace middlepipe::scheduler::monitor {

KindDescriptor Kind() {
  KindDescriptor kind;
  kind.name = "monitor";
  kind.level = v1::LEVEL_REQUEST;
  kind.aggregates = true;
  kind.description = "Counts calls by status class and latency, per app and service; Prometheus";
  kind.config_schema_json = R"json({
    "type": "object",
    "additionalProperties": false,
    "properties": {
      "buckets_ms": {
        "type": "array", "minItems": 1, "maxItems": 64,
        "items": {"type": "number", "exclusiveMinimum": 0},
        "default": [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000],
        "description": "Upper bounds of the latency histogram buckets, ascending."
      }
    }
  })json";
  kind.check = [](const nlohmann::json& config) -> absl::Status {
    const auto& buckets = config["buckets_ms"];
    for (size_t i = 1; i < buckets.size(); ++i) {
      if (buckets[i].get<double>() <= buckets[i - 1].get<double>()) {
        return absl::InvalidArgumentError(
            absl::StrCat("field buckets_ms[", i, "]: must be greater than the bucket before it"));
      }
    }
    return absl::OkStatus();
  };
  return kind;
}

}  // namespace middlepipe::scheduler::monitor

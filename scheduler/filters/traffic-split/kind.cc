#include "scheduler/filters/traffic-split/kind.h"

#include <set>

#include "absl/strings/str_cat.h"

namespace middlepipe::scheduler::traffic_split {

KindDescriptor Kind() {
  KindDescriptor kind;
  kind.name = "traffic-split";
  kind.level = v1::LEVEL_REQUEST;
  kind.aggregates = false;
  kind.description = "Splits requests among services by weight (A/B, canary), sticky by header";
  kind.config_schema_json = R"json({
    "type": "object",
    "additionalProperties": false,
    "required": ["routes"],
    "properties": {
      "routes": {
        "type": "array", "minItems": 1, "maxItems": 16,
        "description": "Where requests go, with relative weights.",
        "items": {
          "type": "object",
          "additionalProperties": false,
          "required": ["service", "weight"],
          "properties": {
            "service": {"type": "string", "pattern": "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"},
            "weight": {"type": "number", "minimum": 0}
          }
        }
      },
      "sticky_header": {"type": "string", "pattern": "^[A-Za-z0-9-]+$", "maxLength": 128,
        "description": "Requests with the same value of this header go to the same service."}
    }
  })json";
  kind.check = [](const nlohmann::json& config) -> absl::Status {
    double total = 0;
    std::set<std::string> seen;
    const auto& routes = config["routes"];
    for (size_t i = 0; i < routes.size(); ++i) {
      total += routes[i]["weight"].get<double>();
      if (!seen.insert(routes[i]["service"].get<std::string>()).second) {
        return absl::InvalidArgumentError(absl::StrCat(
            "field routes[", i, "].service: ", routes[i]["service"].dump(), " is listed twice"));
      }
    }
    if (total <= 0) {
      return absl::InvalidArgumentError("field routes: the weights must add up to more than 0");
    }
    return absl::OkStatus();
  };
  kind.referenced_services = [](const nlohmann::json& config) {
    std::vector<std::string> services;
    const nlohmann::json routes = config.value("routes", nlohmann::json::array());
    for (const nlohmann::json& route : routes) {
      if (route.is_object() && route.contains("service") && route["service"].is_string()) {
        services.push_back(route["service"].get<std::string>());
      }
    }
    return services;
  };
  return kind;
}

}  // namespace middlepipe::scheduler::traffic_split

#include "scheduler/filters/traffic-split/kind.h"

#include "scheduler/filters/traffic-split/config.h"

namespace middlepipe::scheduler::traffic_split {

KindDescriptor Kind() {
  KindDescriptor kind;
  kind.name = "traffic-split";
  kind.level = v1::LEVEL_REQUEST;
  kind.aggregates = false;
  kind.description = "Splits requests among services by weight (A/B, canary), sticky by header";
  kind.config_schema_json = SplitConfigSchema();
  kind.check = CheckSplitConfig;
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

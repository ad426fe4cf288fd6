#include "scheduler/filters/traffic-split/config.h"

#include <cmath>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/substitute.h"
#include "common/names.h"
#include "scheduler/config_fields.h"

namespace middlepipe::scheduler::traffic_split {
namespace {

// The bound the schema states; the parser checks the same one.
constexpr size_t kMaxRoutes = 16;

}  // namespace

std::string SplitConfigSchema() {
  return absl::Substitute(R"json({
    "type": "object",
    "additionalProperties": false,
    "required": ["routes"],
    "properties": {
      "routes": {
        "type": "array", "minItems": 1, "maxItems": $0,
        "description": "Where requests go, with relative weights.",
        "items": {
          "type": "object",
          "additionalProperties": false,
          "required": ["service", "weight"],
          "properties": {
            "service": {"type": "string", "pattern": "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$$"},
            "weight": {"type": "number", "minimum": 0}
          }
        }
      },
      "sticky_header": {"type": "string", "pattern": "^[A-Za-z0-9-]+$$", "maxLength": $1,
        "description": "Requests with the same value of this header go to the same service."}
    }
  })json",
                          kMaxRoutes, kMaxHeaderNameLength);
}

absl::Status CheckSplitConfig(const nlohmann::json& config) {
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
}

absl::StatusOr<SplitConfig> ParseSplitConfig(
    const std::string& config_json,
    const google::protobuf::RepeatedPtrField<v1::ServiceEndpoints>& referenced) {
  nlohmann::json json = nlohmann::json::parse(config_json, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object()) return absl::InvalidArgumentError("config is not a JSON object");
  absl::Status status = RefuseUnknownFields(json, {"routes", "sticky_header"}, "traffic-split");
  if (!status.ok()) return status;
  SplitConfig config;
  status = ReadHeaderNameField(json, "sticky_header", config.sticky_header);
  if (!status.ok()) return status;
  if (!json.contains("routes")) return ConfigFieldError("routes", "is required");
  const nlohmann::json& routes = json["routes"];
  if (!routes.is_array() || routes.empty() || routes.size() > kMaxRoutes) {
    return ConfigFieldError("routes", absl::StrCat("must be a list of 1-", kMaxRoutes, " routes"));
  }
  for (size_t i = 0; i < routes.size(); ++i) {
    const nlohmann::json& route = routes[i];
    const std::string field = absl::StrCat("routes[", i, "]");
    if (!route.is_object()) return ConfigFieldError(field, "must be {service, weight}");
    status = RefuseUnknownFields(route, {"service", "weight"}, "route");
    if (!status.ok()) return status;
    if (!route.contains("service") || !route["service"].is_string() ||
        !ValidateName("service", route["service"].get<std::string>()).ok()) {
      return ConfigFieldError(absl::StrCat(field, ".service"), "must be a service name");
    }
    if (!route.contains("weight") || !route["weight"].is_number() ||
        !(route["weight"].get<double>() >= 0) || !std::isfinite(route["weight"].get<double>())) {
      return ConfigFieldError(absl::StrCat(field, ".weight"), "must be a number >= 0");
    }
    Route& parsed = config.routes.emplace_back();
    parsed.service = route["service"].get<std::string>();
    parsed.weight = route["weight"].get<double>();
    for (const v1::ServiceEndpoints& where : referenced) {
      if (where.service() != parsed.service) continue;
      for (const v1::Endpoint& endpoint : where.endpoints()) {
        // An app's instances are known by address before the platform says on which
        // port the app listens (port 0): nothing to send to there yet.
        if (endpoint.port() != 0) parsed.endpoints.push_back(endpoint);
      }
    }
  }
  status = CheckSplitConfig(json);
  if (!status.ok()) return absl::InvalidArgumentError(absl::StrCat("config: ", status.message()));
  return config;
}

}  // namespace middlepipe::scheduler::traffic_split

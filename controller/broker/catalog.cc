#include "controller/broker/catalog.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace middlepipe::controller::broker {
namespace {

constexpr char kServicePrefix[] = "middlepipe-";
// The kinds' schemas use draft 7 keywords (numeric exclusiveMinimum); the spec asks for
// the version to be declared.
constexpr char kSchemaVersion[] = "http://json-schema.org/draft-07/schema#";

nlohmann::json WithSchemaVersion(nlohmann::json schema) {
  schema["$schema"] = kSchemaVersion;
  return schema;
}

}  // namespace

std::string ServiceId(const std::string& kind) { return absl::StrCat(kServicePrefix, kind); }

std::string PlanId(const std::string& kind) { return absl::StrCat(ServiceId(kind), "-", kPlanName); }

nlohmann::json BindingParametersSchema() {
  return nlohmann::json::parse(R"json({
    "type": "object",
    "required": ["service"],
    "properties": {
      "service": {"type": "string", "pattern": "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$",
        "description": "The service the app's calls go to: a registered service or an app."},
      "position": {"type": "integer",
        "description": "Place in the chain of (app, service); default: after the others."}
    }
  })json");
}

nlohmann::json Catalog(const scheduler::KindCatalog& kinds) {
  nlohmann::json services = nlohmann::json::array();
  for (const scheduler::KindDescriptor* kind : kinds.List()) {
    const nlohmann::json config_schema =
        WithSchemaVersion(nlohmann::json::parse(kind->config_schema_json));
    nlohmann::json plan = {
        {"id", PlanId(kind->name)},
        {"name", kPlanName},
        {"description", absl::StrCat("A ", kind->name, " middlepipe in every instance of the bound app")},
        {"free", true},
        {"bindable", true},
        {"schemas",
         {{"service_instance",
           {{"create", {{"parameters", config_schema}}}, {"update", {{"parameters", config_schema}}}}},
          {"service_binding",
           {{"create", {{"parameters", WithSchemaVersion(BindingParametersSchema())}}}}}}},
    };
    services.push_back({
        {"id", ServiceId(kind->name)},
        {"name", kind->name},
        {"description", kind->description},
        {"bindable", true},
        {"instances_retrievable", true},
        {"bindings_retrievable", true},
        {"plan_updateable", false},
        {"tags", {"middlepipe", kind->level == v1::LEVEL_PACKET ? "packet-level" : "request-level"}},
        {"metadata", {{"displayName", kind->name}}},
        {"plans", nlohmann::json::array({plan})},
    });
  }
  return {{"services", services}};
}

const scheduler::KindDescriptor* KindOfService(const scheduler::KindCatalog& kinds,
                                               const std::string& service_id) {
  if (!absl::StartsWith(service_id, kServicePrefix)) return nullptr;
  return kinds.Find(service_id.substr(sizeof(kServicePrefix) - 1));
}

}  // namespace middlepipe::controller::broker

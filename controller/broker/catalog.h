// The service broker's catalog (Open Service Broker API, GET /v2/catalog): one service
// offering per kind in the marketplace, each with one plan, "default", whose schemas are
// the kind's config schema (to provision and update) and the binding parameters
// ({"service": NAME, "position": N}), so platforms validate parameters before calling.
//
// Ids are derived from kind names ("middlepipe-circuit-breaker",
// "middlepipe-circuit-breaker-default"): the same on every controller and across
// restarts, as the spec requires, and readable in a platform's logs.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "scheduler/kind_catalog.h"

namespace middlepipe::controller::broker {

inline constexpr char kPlanName[] = "default";

std::string ServiceId(const std::string& kind);
std::string PlanId(const std::string& kind);

// The /v2/catalog response body.
nlohmann::json Catalog(const scheduler::KindCatalog& kinds);

// The kind a catalog service id stands for, or nullptr.
const scheduler::KindDescriptor* KindOfService(const scheduler::KindCatalog& kinds,
                                               const std::string& service_id);

// The JSON Schema of a binding's parameters.
nlohmann::json BindingParametersSchema();

}  // namespace middlepipe::controller::broker

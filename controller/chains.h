// The chains of a user's apps, computed from what the store holds (DESIGN.md §3): one
// chain per (app, service) with at least one binding; its filters are all request-level
// ones by position, then all packet-level ones by position, whatever the positions say
// (ties broken by middlepipe name, so the order never depends on storage order).
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "controller/store/store.h"
#include "proto/middlepipe.pb.h"
#include "scheduler/kind_catalog.h"

namespace middlepipe::controller {

// Chains by app name; an app's chains are sorted by service name. Chain.epoch is 0:
// the caller stamps the epoch it distributes them at.
using AppChains = std::map<std::string, std::vector<v1::Chain>>;

// Where a bound service can be reached: an external service's registered endpoints, or
// an app's live instances (given by the caller, who knows the instances).
using AppEndpoints = std::function<std::vector<v1::Endpoint>(const std::string& app)>;

// The chains of every app of `user` that has bindings.
absl::StatusOr<AppChains> ComputeChains(StoreTransaction& tx, const scheduler::KindCatalog& kinds,
                                        const std::string& user, const AppEndpoints& app_endpoints);

// Whether two chain lists differ in anything but their epoch.
bool SameChains(const std::vector<v1::Chain>& a, const std::vector<v1::Chain>& b);

}  // namespace middlepipe::controller

#include "controller/chains.h"

#include <algorithm>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/message_differencer.h"

namespace middlepipe::controller {

absl::StatusOr<AppChains> ComputeChains(StoreTransaction& tx, const scheduler::KindCatalog& kinds,
                                        const std::string& user,
                                        const AppEndpoints& app_endpoints) {
  absl::StatusOr<std::vector<v1::Binding>> bindings = tx.ListBindings(user);
  if (!bindings.ok()) return bindings.status();
  absl::StatusOr<std::vector<v1::Middlepipe>> middlepipes = tx.ListMiddlepipes(user);
  if (!middlepipes.ok()) return middlepipes.status();
  std::map<std::string, const v1::Middlepipe*> middlepipe_by_name;
  for (const v1::Middlepipe& middlepipe : *middlepipes) {
    middlepipe_by_name[middlepipe.name()] = &middlepipe;
  }

  // Where a service can be reached: registered endpoints, else the app's instances.
  auto endpoints_of = [&](const std::string& service) -> absl::StatusOr<std::vector<v1::Endpoint>> {
    absl::StatusOr<std::optional<v1::Service>> registered = tx.GetService(user, service);
    if (!registered.ok()) return registered.status();
    if (registered->has_value()) {
      return std::vector<v1::Endpoint>((*registered)->endpoints().begin(),
                                       (*registered)->endpoints().end());
    }
    return app_endpoints(service);
  };

  // (app, service) -> its filters, unordered yet.
  std::map<std::pair<std::string, std::string>, std::vector<v1::FilterSpec>> filters;
  for (const v1::Binding& binding : *bindings) {
    auto middlepipe = middlepipe_by_name.find(binding.middlepipe());
    if (middlepipe == middlepipe_by_name.end()) {
      return absl::DataLossError(absl::StrCat("store: binding of missing middlepipe ",
                                              binding.middlepipe()));
    }
    const scheduler::KindDescriptor* kind = kinds.Find(middlepipe->second->kind());
    if (kind == nullptr) {
      return absl::FailedPreconditionError(absl::StrCat(
          "middlepipe ", binding.middlepipe(), " has kind ", middlepipe->second->kind(),
          ", which this controller does not offer"));
    }
    v1::FilterSpec& spec = filters[{binding.app(), binding.service()}].emplace_back();
    spec.set_middlepipe(binding.middlepipe());
    spec.set_kind(kind->name);
    spec.set_level(kind->level);
    spec.set_config_json(middlepipe->second->config_json());
    spec.set_generation(middlepipe->second->generation());
    spec.set_position(binding.position());
    for (const std::string& referenced :
         kinds.ReferencedServices(kind->name, middlepipe->second->config_json())) {
      absl::StatusOr<std::vector<v1::Endpoint>> endpoints = endpoints_of(referenced);
      if (!endpoints.ok()) return endpoints.status();
      v1::ServiceEndpoints* where = spec.add_referenced_services();
      where->set_service(referenced);
      for (v1::Endpoint& endpoint : *endpoints) *where->add_endpoints() = std::move(endpoint);
    }
  }

  AppChains chains;
  for (auto& [key, specs] : filters) {
    const auto& [app, service] = key;
    std::sort(specs.begin(), specs.end(), [](const v1::FilterSpec& a, const v1::FilterSpec& b) {
      return std::make_tuple(a.level(), a.position(), a.middlepipe()) <
             std::make_tuple(b.level(), b.position(), b.middlepipe());
    });
    v1::Chain& chain = chains[app].emplace_back();
    chain.set_app(app);
    chain.set_service(service);
    for (v1::FilterSpec& spec : specs) *chain.add_filters() = std::move(spec);

    absl::StatusOr<std::vector<v1::Endpoint>> endpoints = endpoints_of(service);
    if (!endpoints.ok()) return endpoints.status();
    for (v1::Endpoint& endpoint : *endpoints) *chain.add_service_endpoints() = std::move(endpoint);
  }
  return chains;
}

bool SameChains(const std::vector<v1::Chain>& a, const std::vector<v1::Chain>& b) {
  if (a.size() != b.size()) return false;
  google::protobuf::util::MessageDifferencer differencer;
  differencer.IgnoreField(v1::Chain::descriptor()->FindFieldByName("epoch"));
  for (size_t i = 0; i < a.size(); ++i) {
    if (!differencer.Compare(a[i], b[i])) return false;
  }
  return true;
}

}  // namespace middlepipe::controller

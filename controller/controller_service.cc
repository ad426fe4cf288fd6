#include "controller/controller_service.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/logger.h"
#include "common/names.h"
#include "common/version.h"
#include "controller/aggregator_query.h"
#include "common/grpc_status.h"
#include "controller/auth.h"

namespace middlepipe::controller {
namespace {

// `mutation`, then `also` in the same transaction (when there is one): both are stored
// or neither.
ChangeCoordinator::Mutation AlsoIn(ChangeCoordinator::Mutation mutation,
                                   const ChangeCoordinator::Mutation& also) {
  if (!also) return mutation;
  return [mutation = std::move(mutation), &also](StoreTransaction& tx) -> absl::Status {
    if (absl::Status done = mutation(tx); !done.ok()) return done;
    return also(tx);
  };
}


absl::Status NotFound(absl::string_view what, absl::string_view name) {
  return absl::NotFoundError(absl::StrCat(what, " \"", name, "\" not found"));
}

// The user's middlepipe `name`, or NOT_FOUND naming it.
absl::StatusOr<v1::Middlepipe> ExistingMiddlepipe(StoreTransaction& tx, const std::string& user,
                                                  const std::string& name) {
  absl::StatusOr<std::optional<v1::Middlepipe>> found = tx.GetMiddlepipe(user, name);
  if (!found.ok()) return found.status();
  if (!found->has_value()) return NotFound("middlepipe", name);
  return **found;
}

std::string Arrow(const v1::Binding& binding) {
  return absl::StrCat(binding.app(), " -> ", binding.service());
}

std::string CodeName(grpc::StatusCode code) {
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

}  // namespace

grpc::Status ControllerService::AsUser(
    grpc::ServerContext* context, const char* method,
    const std::function<absl::Status(const std::string& user)>& body) {
  std::string user;
  grpc::Status status = Authenticate(*context, *tokens_, &user);
  if (status.ok()) status = ToGrpcStatus(body(user));
  metrics_->RecordRequest(method, CodeName(status.error_code()));
  return status;
}

absl::StatusOr<std::vector<std::string>> ControllerService::KnownApps(
    StoreTransaction& tx, const std::string& user) const {
  absl::StatusOr<std::vector<std::string>> stored = tx.ListApps(user);
  if (!stored.ok()) return stored.status();
  std::set<std::string> apps(stored->begin(), stored->end());
  for (const std::string& app : registry_->Apps(user)) apps.insert(app);
  return std::vector<std::string>(apps.begin(), apps.end());
}

absl::Status ControllerService::RequireService(StoreTransaction& tx, const std::string& user,
                                               const std::string& service) const {
  absl::StatusOr<std::optional<v1::Service>> registered = tx.GetService(user, service);
  if (!registered.ok()) return registered.status();
  if (registered->has_value()) return absl::OkStatus();
  absl::StatusOr<std::vector<std::string>> apps = KnownApps(tx, user);
  if (!apps.ok()) return apps.status();
  if (std::find(apps->begin(), apps->end(), service) != apps->end()) return absl::OkStatus();
  return absl::NotFoundError(absl::StrCat(
      "service \"", service,
      "\" not found: register it with mp register-service, or run an app of that name"));
}

absl::Status ControllerService::RequireReferencedServices(StoreTransaction& tx,
                                                          const std::string& user,
                                                          const std::string& kind,
                                                          const std::string& config_json) const {
  for (const std::string& service : kinds_->ReferencedServices(kind, config_json)) {
    if (absl::Status exists = RequireService(tx, user, service); !exists.ok()) {
      return absl::Status(exists.code(), absl::StrCat("config: ", exists.message()));
    }
  }
  return absl::OkStatus();
}

grpc::Status ControllerService::GetVersion(grpc::ServerContext* context,
                                           const v1::GetVersionRequest* request,
                                           v1::GetVersionResponse* response) {
  return AsUser(context, "GetVersion", [&](const std::string& user) {
    response->set_version(kVersion);
    response->set_api(kApiVersion);
    response->set_user(user);
    return absl::OkStatus();
  });
}

grpc::Status ControllerService::ListKinds(grpc::ServerContext* context,
                                          const v1::ListKindsRequest* request,
                                          v1::ListKindsResponse* response) {
  return AsUser(context, "ListKinds", [&](const std::string&) {
    for (const scheduler::KindDescriptor* kind : kinds_->List()) {
      v1::KindInfo* info = response->add_kinds();
      info->set_name(kind->name);
      info->set_level(kind->level);
      info->set_description(kind->description);
      info->set_config_schema_json(kind->config_schema_json);
      info->set_aggregates(kind->aggregates);
    }
    return absl::OkStatus();
  });
}

grpc::Status ControllerService::CreateMiddlepipe(grpc::ServerContext* context,
                                         const v1::CreateMiddlepipeRequest* request,
                                         v1::CreateMiddlepipeResponse* response) {
  return AsUser(context, "CreateMiddlepipe", [&](const std::string& user) {
    return CreateMiddlepipeAs(user, request, response);
  });
}

absl::Status ControllerService::CreateMiddlepipeAs(const std::string& user, const v1::CreateMiddlepipeRequest* request,
                                           v1::CreateMiddlepipeResponse* response,
                                           const ChangeCoordinator::Mutation& also) {
  if (absl::Status name = ValidateName("middlepipe name", request->name()); !name.ok()) {
    return name;
  }
  absl::StatusOr<std::string> config = kinds_->ValidateConfig(request->kind(), request->config_json());
  if (!config.ok()) return config.status();
  v1::Middlepipe middlepipe;
  middlepipe.set_name(request->name());
  middlepipe.set_kind(request->kind());
  middlepipe.set_config_json(*config);
  middlepipe.set_generation(1);
  middlepipe.set_created_unix_ms(NowUnixMillis());
  middlepipe.set_updated_unix_ms(middlepipe.created_unix_ms());
  absl::StatusOr<v1::Rollout> rollout =
      coordinator_->Apply(user, AlsoIn([&](StoreTransaction& tx) -> absl::Status {
        absl::StatusOr<std::optional<v1::Middlepipe>> existing =
            tx.GetMiddlepipe(user, middlepipe.name());
        if (!existing.ok()) return existing.status();
        if (existing->has_value()) {
          return absl::AlreadyExistsError(
              absl::StrCat("middlepipe \"", middlepipe.name(), "\" already exists (kind ",
                           (*existing)->kind(), ")"));
        }
        if (absl::Status referenced =
                RequireReferencedServices(tx, user, middlepipe.kind(), middlepipe.config_json());
            !referenced.ok()) {
          return referenced;
        }
        return tx.PutMiddlepipe(user, middlepipe);
      }, also));
  if (!rollout.ok()) return rollout.status();
  aggregators_->EnsureRunning(user);  // the user's first middlepipe starts it
  *response->mutable_middlepipe() = middlepipe;
  return absl::OkStatus();
}

grpc::Status ControllerService::UpdateMiddlepipe(grpc::ServerContext* context,
                                         const v1::UpdateMiddlepipeRequest* request,
                                         v1::UpdateMiddlepipeResponse* response) {
  return AsUser(context, "UpdateMiddlepipe", [&](const std::string& user) {
    return UpdateMiddlepipeAs(user, request, response);
  });
}

absl::Status ControllerService::UpdateMiddlepipeAs(const std::string& user, const v1::UpdateMiddlepipeRequest* request,
                                           v1::UpdateMiddlepipeResponse* response,
                                           const ChangeCoordinator::Mutation& also) {
  const int64_t now = NowUnixMillis();
  v1::Middlepipe updated;
  absl::StatusOr<v1::Rollout> rollout =
      coordinator_->Apply(user, AlsoIn([&](StoreTransaction& tx) -> absl::Status {
        absl::StatusOr<v1::Middlepipe> existing = ExistingMiddlepipe(tx, user, request->name());
        if (!existing.ok()) return existing.status();
        absl::StatusOr<std::string> config =
            kinds_->ValidateConfig(existing->kind(), request->config_json());
        if (!config.ok()) return config.status();
        updated = *existing;
        if (*config == updated.config_json()) return absl::OkStatus();  // nothing to do
        if (absl::Status referenced = RequireReferencedServices(tx, user, updated.kind(), *config);
            !referenced.ok()) {
          return referenced;
        }
        updated.set_config_json(*config);
        updated.set_generation(updated.generation() + 1);
        updated.set_updated_unix_ms(now);
        return tx.PutMiddlepipe(user, updated);
      }, also));
  if (!rollout.ok()) return rollout.status();
  *response->mutable_middlepipe() = updated;
  *response->mutable_rollout() = *rollout;
  return absl::OkStatus();
}

grpc::Status ControllerService::DeleteMiddlepipe(grpc::ServerContext* context,
                                         const v1::DeleteMiddlepipeRequest* request,
                                         v1::DeleteMiddlepipeResponse* response) {
  return AsUser(context, "DeleteMiddlepipe", [&](const std::string& user) {
    return DeleteMiddlepipeAs(user, request, response);
  });
}

absl::Status ControllerService::DeleteMiddlepipeAs(const std::string& user, const v1::DeleteMiddlepipeRequest* request,
                                           v1::DeleteMiddlepipeResponse* response,
                                           const ChangeCoordinator::Mutation& also) {
  absl::StatusOr<v1::Rollout> rollout =
      coordinator_->Apply(user, AlsoIn([&](StoreTransaction& tx) -> absl::Status {
        absl::StatusOr<v1::Middlepipe> existing = ExistingMiddlepipe(tx, user, request->name());
        if (!existing.ok()) return existing.status();
        absl::StatusOr<std::vector<v1::Binding>> bindings = tx.ListBindings(user);
        if (!bindings.ok()) return bindings.status();
        std::vector<v1::Binding> own;
        for (const v1::Binding& binding : *bindings) {
          if (binding.middlepipe() == request->name()) own.push_back(binding);
        }
        if (!own.empty() && !request->force()) {
          std::vector<std::string> where;
          for (const v1::Binding& binding : own) where.push_back(Arrow(binding));
          return absl::FailedPreconditionError(absl::StrCat(
              "middlepipe \"", request->name(), "\" is bound (", absl::StrJoin(where, ", "),
              "); unbind it first, or delete with --force to unbind it everywhere"));
        }
        for (const v1::Binding& binding : own) {
          if (absl::Status deleted = tx.DeleteBinding(user, binding); !deleted.ok()) {
            return deleted;
          }
        }
        return tx.DeleteMiddlepipe(user, request->name());
      }, also));
  if (!rollout.ok()) return rollout.status();
  *response->mutable_rollout() = *rollout;
  return absl::OkStatus();
}

grpc::Status ControllerService::ListMiddlepipes(grpc::ServerContext* context,
                                                const v1::ListMiddlepipesRequest* request,
                                                v1::ListMiddlepipesResponse* response) {
  return AsUser(context, "ListMiddlepipes",
                [&](const std::string& user) { return ListMiddlepipesAs(user, response); });
}

absl::Status ControllerService::ListMiddlepipesAs(const std::string& user,
                                                  v1::ListMiddlepipesResponse* response) {
  return coordinator_->Read(user, [&](StoreTransaction& tx) -> absl::Status {
    absl::StatusOr<std::vector<v1::Middlepipe>> middlepipes = tx.ListMiddlepipes(user);
    if (!middlepipes.ok()) return middlepipes.status();
    absl::StatusOr<std::vector<v1::Binding>> bindings = tx.ListBindings(user);
    if (!bindings.ok()) return bindings.status();
    for (const v1::Middlepipe& middlepipe : *middlepipes) {
      v1::MiddlepipeSummary* summary = response->add_middlepipes();
      *summary->mutable_middlepipe() = middlepipe;
      for (const v1::Binding& binding : *bindings) {
        if (binding.middlepipe() == middlepipe.name()) *summary->add_bindings() = binding;
      }
    }
    return absl::OkStatus();
  });
}

grpc::Status ControllerService::GetMiddlepipe(grpc::ServerContext* context,
                                              const v1::GetMiddlepipeRequest* request,
                                              v1::GetMiddlepipeResponse* response) {
  return AsUser(context, "GetMiddlepipe", [&](const std::string& user) -> absl::Status {
    absl::Status read = coordinator_->Read(user, [&](StoreTransaction& tx) -> absl::Status {
      absl::StatusOr<v1::Middlepipe> middlepipe = ExistingMiddlepipe(tx, user, request->name());
      if (!middlepipe.ok()) return middlepipe.status();
      *response->mutable_summary()->mutable_middlepipe() = *middlepipe;
      absl::StatusOr<std::vector<v1::Binding>> bindings = tx.ListBindings(user);
      if (!bindings.ok()) return bindings.status();
      for (const v1::Binding& binding : *bindings) {
        if (binding.middlepipe() == request->name()) {
          *response->mutable_summary()->add_bindings() = binding;
        }
      }
      return absl::OkStatus();
    });
    if (!read.ok()) return read;
    // Live state comes from the user's aggregator; without it the answer still has the
    // stored part and says why the live part is missing.
    v1::QueryRequest query;
    query.set_middlepipe(request->name());
    absl::StatusOr<v1::QueryResponse> live = LiveStateAs(user, query);
    if (!live.ok()) {
      response->set_live_error(std::string(live.status().message()));
      return absl::OkStatus();
    }
    for (v1::MiddlepipeState& state : *live->mutable_states()) {
      *response->add_live() = std::move(state);
    }
    if (response->live().empty() && !response->summary().bindings().empty()) {
      response->set_live_error("the aggregator has no state for it yet (configuration pending)");
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<v1::QueryResponse> ControllerService::LiveStateAs(const std::string& user,
                                                                const v1::QueryRequest& query) {
  const std::string aggregator = aggregators_->Address(user);
  if (aggregator.empty()) {
    return absl::UnavailableError("no aggregator is running for user " + user);
  }
  return QueryAggregator(aggregator, query, std::chrono::milliseconds(1000));
}

grpc::Status ControllerService::BindMiddlepipe(grpc::ServerContext* context,
                                         const v1::BindMiddlepipeRequest* request,
                                         v1::BindMiddlepipeResponse* response) {
  return AsUser(context, "BindMiddlepipe", [&](const std::string& user) {
    return BindMiddlepipeAs(user, request, response);
  });
}

absl::Status ControllerService::BindMiddlepipeAs(const std::string& user, const v1::BindMiddlepipeRequest* request,
                                           v1::BindMiddlepipeResponse* response,
                                           const ChangeCoordinator::Mutation& also) {
  for (const auto& [what, name] : {std::pair{"app name", &request->app()},
                                   std::pair{"service name", &request->service()}}) {
    if (absl::Status valid = ValidateName(what, *name); !valid.ok()) return valid;
  }
  if (request->app() == request->service()) {
    return absl::InvalidArgumentError(
        absl::StrCat("app \"", request->app(), "\" cannot be bound to itself"));
  }
  v1::Binding binding;
  absl::StatusOr<v1::Rollout> rollout =
      coordinator_->Apply(user, AlsoIn([&](StoreTransaction& tx) -> absl::Status {
        absl::StatusOr<v1::Middlepipe> middlepipe = ExistingMiddlepipe(tx, user, request->name());
        if (!middlepipe.ok()) return middlepipe.status();
        if (absl::Status exists = RequireService(tx, user, request->service()); !exists.ok()) {
          return exists;
        }
        absl::StatusOr<std::vector<v1::Binding>> bindings = tx.ListBindings(user);
        if (!bindings.ok()) return bindings.status();
        int32_t next_position = 0;
        for (const v1::Binding& existing : *bindings) {
          if (existing.app() != request->app() || existing.service() != request->service()) {
            continue;
          }
          if (existing.middlepipe() == request->name() && !request->has_position()) {
            return absl::AlreadyExistsError(absl::StrCat(
                "middlepipe \"", request->name(), "\" is already bound to ", Arrow(existing),
                " at position ", existing.position()));
          }
          next_position = std::max(next_position, existing.position() + 1);
        }
        binding.set_middlepipe(request->name());
        binding.set_app(request->app());
        binding.set_service(request->service());
        binding.set_position(request->has_position() ? request->position() : next_position);
        return tx.PutBinding(user, binding);
      }, also));
  if (!rollout.ok()) return rollout.status();
  *response->mutable_binding() = binding;
  *response->mutable_rollout() = *rollout;
  return absl::OkStatus();
}

grpc::Status ControllerService::UnbindMiddlepipe(grpc::ServerContext* context,
                                         const v1::UnbindMiddlepipeRequest* request,
                                         v1::UnbindMiddlepipeResponse* response) {
  return AsUser(context, "UnbindMiddlepipe", [&](const std::string& user) {
    return UnbindMiddlepipeAs(user, request, response);
  });
}

absl::Status ControllerService::UnbindMiddlepipeAs(const std::string& user, const v1::UnbindMiddlepipeRequest* request,
                                           v1::UnbindMiddlepipeResponse* response,
                                           const ChangeCoordinator::Mutation& also) {
  absl::StatusOr<v1::Rollout> rollout =
      coordinator_->Apply(user, AlsoIn([&](StoreTransaction& tx) -> absl::Status {
        absl::StatusOr<std::vector<v1::Binding>> bindings = tx.ListBindings(user);
        if (!bindings.ok()) return bindings.status();
        for (const v1::Binding& binding : *bindings) {
          if (binding.middlepipe() == request->name() && binding.app() == request->app() &&
              binding.service() == request->service()) {
            return tx.DeleteBinding(user, binding);
          }
        }
        return absl::NotFoundError(absl::StrCat("middlepipe \"", request->name(),
                                                "\" is not bound to ", request->app(), " -> ",
                                                request->service()));
      }, also));
  if (!rollout.ok()) return rollout.status();
  *response->mutable_rollout() = *rollout;
  return absl::OkStatus();
}

grpc::Status ControllerService::GetChain(grpc::ServerContext* context,
                                         const v1::GetChainRequest* request,
                                         v1::GetChainResponse* response) {
  return AsUser(context, "GetChain", [&](const std::string& user) -> absl::Status {
    uint64_t epoch = 0;
    absl::StatusOr<std::vector<v1::Chain>> chains =
        coordinator_->CommittedChains(user, request->app(), &epoch);
    if (!chains.ok()) return chains.status();
    v1::Chain* chain = response->mutable_chain();
    chain->set_app(request->app());
    chain->set_service(request->service());
    chain->set_epoch(epoch);
    for (const v1::Chain& candidate : *chains) {
      if (candidate.service() == request->service()) *chain = candidate;
    }
    *response->mutable_rollout() = coordinator_->RolloutStatus(user, request->app(), epoch);
    return absl::OkStatus();
  });
}

grpc::Status ControllerService::RegisterService(grpc::ServerContext* context,
                                                const v1::RegisterServiceRequest* request,
                                                v1::RegisterServiceResponse* response) {
  return AsUser(context, "RegisterService", [&](const std::string& user) -> absl::Status {
    if (absl::Status name = ValidateName("service name", request->name()); !name.ok()) return name;
    if (request->endpoints().empty()) {
      return absl::InvalidArgumentError("a service needs at least one HOST:PORT endpoint");
    }
    for (const v1::Endpoint& endpoint : request->endpoints()) {
      if (endpoint.host().empty() || endpoint.port() == 0 || endpoint.port() > 65535) {
        return absl::InvalidArgumentError(absl::StrCat("endpoint \"", endpoint.host(), ":",
                                                       endpoint.port(),
                                                       "\": expected HOST:PORT, port 1-65535"));
      }
    }
    v1::Service service;
    service.set_name(request->name());
    service.set_type(v1::SERVICE_TYPE_EXTERNAL);
    *service.mutable_endpoints() = request->endpoints();
    absl::StatusOr<v1::Rollout> rollout =
        coordinator_->Apply(user, [&](StoreTransaction& tx) -> absl::Status {
          absl::StatusOr<std::vector<std::string>> apps = KnownApps(tx, user);
          if (!apps.ok()) return apps.status();
          if (std::find(apps->begin(), apps->end(), service.name()) != apps->end()) {
            return absl::AlreadyExistsError(absl::StrCat(
                "\"", service.name(), "\" is an app; a service needs a name of its own"));
          }
          return tx.PutService(user, service);
        });
    if (!rollout.ok()) return rollout.status();
    *response->mutable_service() = service;
    *response->mutable_rollout() = *rollout;
    return absl::OkStatus();
  });
}

grpc::Status ControllerService::ListServices(grpc::ServerContext* context,
                                             const v1::ListServicesRequest* request,
                                             v1::ListServicesResponse* response) {
  return AsUser(context, "ListServices", [&](const std::string& user) {
    return coordinator_->Read(user, [&](StoreTransaction& tx) -> absl::Status {
      absl::StatusOr<std::vector<v1::Service>> registered = tx.ListServices(user);
      if (!registered.ok()) return registered.status();
      std::vector<v1::Service> services = *std::move(registered);
      absl::StatusOr<std::vector<std::string>> apps = KnownApps(tx, user);
      if (!apps.ok()) return apps.status();
      for (const std::string& app : *apps) {
        v1::Service& service = services.emplace_back();
        service.set_name(app);
        service.set_type(v1::SERVICE_TYPE_APP);
        for (v1::Endpoint& endpoint : registry_->Endpoints(user, app)) {
          *service.add_endpoints() = std::move(endpoint);
        }
      }
      std::sort(services.begin(), services.end(),
                [](const v1::Service& a, const v1::Service& b) { return a.name() < b.name(); });
      for (v1::Service& service : services) *response->add_services() = std::move(service);
      return absl::OkStatus();
    });
  });
}

grpc::Status ControllerService::ListApps(grpc::ServerContext* context,
                                         const v1::ListAppsRequest* request,
                                         v1::ListAppsResponse* response) {
  return AsUser(context, "ListApps",
                [&](const std::string& user) { return ListAppsAs(user, response); });
}

absl::Status ControllerService::ListAppsAs(const std::string& user, v1::ListAppsResponse* response) {
  return coordinator_->Read(user, [&](StoreTransaction& tx) -> absl::Status {
    absl::StatusOr<std::vector<std::string>> apps = KnownApps(tx, user);
    if (!apps.ok()) return apps.status();
    for (const std::string& name : *apps) {
      v1::App* app = response->add_apps();
      app->set_name(name);
      absl::StatusOr<uint64_t> epoch = tx.GetEpoch(user, name);
      if (!epoch.ok()) return epoch.status();
      app->set_epoch(*epoch);
      for (const auto& session : registry_->Sessions(user, name)) {
        *app->add_instances() = session->Snapshot();
      }
    }
    return absl::OkStatus();
  });
}

}  // namespace middlepipe::controller

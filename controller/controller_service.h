// The northbound gRPC service (proto/controller.proto) the CLI talks to.
//
// Every call is authenticated first and acts only on the caller's own objects. Changes go
// through the ChangeCoordinator (validated, stored and rolled out as one numbered step);
// reads run under the same per-user lock so they never see half a change. Served with
// the synchronous API: a change blocks its handler for the length of a rollout.
#pragma once

#include "controller/agents/agent_registry.h"
#include "controller/aggregator_supervisor.h"
#include "controller/change_coordinator.h"
#include "controller/controller_metrics.h"
#include "controller/tokens.h"
#include "proto/controller.grpc.pb.h"
#include "scheduler/kind_catalog.h"

namespace middlepipe::controller {

class ControllerService final : public v1::Controller::Service {
 public:
  // None of the pointers is owned; all must outlive the service.
  ControllerService(const TokenTable* tokens, const scheduler::KindCatalog* kinds,
                    ChangeCoordinator* coordinator, const AgentRegistry* registry,
                    ControllerMetrics* metrics, AggregatorSupervisor* aggregators)
      : tokens_(tokens),
        kinds_(kinds),
        coordinator_(coordinator),
        registry_(registry),
        metrics_(metrics),
        aggregators_(aggregators) {}

  grpc::Status GetVersion(grpc::ServerContext* context, const v1::GetVersionRequest* request,
                          v1::GetVersionResponse* response) override;
  grpc::Status ListKinds(grpc::ServerContext* context, const v1::ListKindsRequest* request,
                         v1::ListKindsResponse* response) override;
  grpc::Status CreateMiddlepipe(grpc::ServerContext* context,
                                const v1::CreateMiddlepipeRequest* request,
                                v1::CreateMiddlepipeResponse* response) override;
  grpc::Status UpdateMiddlepipe(grpc::ServerContext* context,
                                const v1::UpdateMiddlepipeRequest* request,
                                v1::UpdateMiddlepipeResponse* response) override;
  grpc::Status DeleteMiddlepipe(grpc::ServerContext* context,
                                const v1::DeleteMiddlepipeRequest* request,
                                v1::DeleteMiddlepipeResponse* response) override;
  grpc::Status ListMiddlepipes(grpc::ServerContext* context,
                               const v1::ListMiddlepipesRequest* request,
                               v1::ListMiddlepipesResponse* response) override;
  grpc::Status GetMiddlepipe(grpc::ServerContext* context, const v1::GetMiddlepipeRequest* request,
                             v1::GetMiddlepipeResponse* response) override;
  grpc::Status BindMiddlepipe(grpc::ServerContext* context,
                              const v1::BindMiddlepipeRequest* request,
                              v1::BindMiddlepipeResponse* response) override;
  grpc::Status UnbindMiddlepipe(grpc::ServerContext* context,
                                const v1::UnbindMiddlepipeRequest* request,
                                v1::UnbindMiddlepipeResponse* response) override;
  grpc::Status GetChain(grpc::ServerContext* context, const v1::GetChainRequest* request,
                        v1::GetChainResponse* response) override;
  grpc::Status RegisterService(grpc::ServerContext* context,
                               const v1::RegisterServiceRequest* request,
                               v1::RegisterServiceResponse* response) override;
  grpc::Status ListServices(grpc::ServerContext* context, const v1::ListServicesRequest* request,
                            v1::ListServicesResponse* response) override;
  grpc::Status ListApps(grpc::ServerContext* context, const v1::ListAppsRequest* request,
                        v1::ListAppsResponse* response) override;

  // Read-only views for the controller's other faces (the dashboard), as `user`.
  absl::Status ListMiddlepipesAs(const std::string& user, v1::ListMiddlepipesResponse* response);
  absl::Status ListAppsAs(const std::string& user, v1::ListAppsResponse* response);
  // The user's aggregator's live state; UNAVAILABLE saying why when there is none.
  absl::StatusOr<v1::QueryResponse> LiveStateAs(const std::string& user,
                                                const v1::QueryRequest& query);

  // The changes behind the RPCs above, for a caller already authenticated as `user` (the
  // service broker makes them too). `also` runs in the same transaction after the
  // change's own writes, both times the coordinator runs it (e.g. the broker's record of
  // what it made), so both are stored or neither.
  absl::Status CreateMiddlepipeAs(const std::string& user, const v1::CreateMiddlepipeRequest* request,
               v1::CreateMiddlepipeResponse* response, const ChangeCoordinator::Mutation& also = nullptr);
  absl::Status UpdateMiddlepipeAs(const std::string& user, const v1::UpdateMiddlepipeRequest* request,
               v1::UpdateMiddlepipeResponse* response, const ChangeCoordinator::Mutation& also = nullptr);
  absl::Status DeleteMiddlepipeAs(const std::string& user, const v1::DeleteMiddlepipeRequest* request,
               v1::DeleteMiddlepipeResponse* response, const ChangeCoordinator::Mutation& also = nullptr);
  absl::Status BindMiddlepipeAs(const std::string& user, const v1::BindMiddlepipeRequest* request,
               v1::BindMiddlepipeResponse* response, const ChangeCoordinator::Mutation& also = nullptr);
  absl::Status UnbindMiddlepipeAs(const std::string& user, const v1::UnbindMiddlepipeRequest* request,
               v1::UnbindMiddlepipeResponse* response, const ChangeCoordinator::Mutation& also = nullptr);

 private:
  // Authenticates the caller, runs `body` as that user, counts the call.
  grpc::Status AsUser(grpc::ServerContext* context, const char* method,
                      const std::function<absl::Status(const std::string& user)>& body);

  // Apps of the user: those with stored chains and those with connected instances.
  absl::StatusOr<std::vector<std::string>> KnownApps(StoreTransaction& tx,
                                                     const std::string& user) const;
  // NOT_FOUND unless `service` is a registered service or an app of `user`.
  absl::Status RequireService(StoreTransaction& tx, const std::string& user,
                              const std::string& service) const;
  // NOT_FOUND unless every service the config of a `kind` middlepipe names exists.
  absl::Status RequireReferencedServices(StoreTransaction& tx, const std::string& user,
                                         const std::string& kind,
                                         const std::string& config_json) const;

  const TokenTable* const tokens_;
  const scheduler::KindCatalog* const kinds_;
  ChangeCoordinator* const coordinator_;
  const AgentRegistry* const registry_;
  ControllerMetrics* const metrics_;
  AggregatorSupervisor* const aggregators_;
};

}  // namespace middlepipe::controller

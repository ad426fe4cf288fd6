// The Open Service Broker API (v2.13 through v2.17) on the controller's HTTP side, so any
// Cloud Foundry-style marketplace offers middlepipes (DESIGN.md §8):
//
//   provision   PUT    /v2/service_instances/:id           = create-middlepipe
//   update      PATCH  /v2/service_instances/:id           = update-middlepipe
//   deprovision DELETE /v2/service_instances/:id           = delete-middlepipe
//   bind        PUT    /v2/service_instances/:id/service_bindings/:bid
//                      = bind-middlepipe NAME APP SERVICE, APP = bind_resource.app_guid,
//                        SERVICE = parameters.service
//   unbind      DELETE …/service_bindings/:bid              = unbind-middlepipe
//   and GET of each, /v2/catalog, and last_operation for instances and bindings.
//
// Each platform organization is a user (tenant) named by its organization_guid, with
// its own aggregator; what the broker makes is what `mp` shows that user. A middlepipe is
// named after the platform's instance name (context.instance_name) when it is a valid
// name, else "si-" and the start of the instance id. The ids the platform gave live in
// the store next to the middlepipes, written in the same transaction as the change.
//
// Every request: X-Broker-API-Version first (412 unless 2.13 or later), then HTTP basic
// auth (401), then the body. Changes that roll out to running instances (update, bind,
// unbind) run asynchronously when the platform sends accepts_incomplete=true, and are
// polled through last_operation; without it they complete before the answer.
#pragma once

#include <condition_variable>
#include <functional>
#include <map>
#include <optional>
#include <mutex>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "common/http_server.h"
#include "common/logger.h"
#include "controller/controller_service.h"
#include "controller/store/store.h"
#include "scheduler/kind_catalog.h"

namespace middlepipe::controller::broker {

struct BrokerCredentials {
  std::string user;
  std::string password;
};

class ServiceBroker {
 public:
  // None of the pointers is owned; all must outlive the broker.
  ServiceBroker(BrokerCredentials credentials, ControllerService* service, Store* store,
                const scheduler::KindCatalog* kinds, Logger* logger);
  // Waits for asynchronous operations still running.
  ~ServiceBroker();

  ServiceBroker(const ServiceBroker&) = delete;
  ServiceBroker& operator=(const ServiceBroker&) = delete;

  // Registers the /v2/ routes.
  void Mount(HttpServer& server);

  // The most a request body may hold: configs (an ids rule set) come in `parameters`.
  static constexpr size_t kMaxBodyBytes = 4 << 20;

  // An HTTP answer: status and JSON body.
  struct Reply {
    int status = 200;
    nlohmann::json body = nlohmann::json::object();
  };

 private:
  // One request as the handlers see it, after version, auth and body checks.
  struct Call {
    const HttpRequest& http;
    nlohmann::json body;              // {} for requests without one
    std::string originating_identity;  // "" if the platform sent none
    bool accepts_incomplete = false;
  };
  using Handler = Reply (ServiceBroker::*)(const Call& call);

  // On the headers alone: X-Broker-API-Version, then basic auth. A value refuses.
  std::optional<HttpResponse> Admit(const HttpRequest& request) const;
  // Parses and checks the body and the query, then runs `handler`.
  HttpResponse Serve(const HttpRequest& request, Handler handler, bool has_body);
  // `reply` as HTTP, echoing the platform's request identity.
  static HttpResponse Answer(const HttpRequest& request, const Reply& reply);

  Reply GetCatalog(const Call& call);
  Reply Provision(const Call& call);
  Reply Update(const Call& call);
  Reply Deprovision(const Call& call);
  Reply FetchInstance(const Call& call);
  Reply InstanceLastOperation(const Call& call);
  Reply Bind(const Call& call);
  Reply Unbind(const Call& call);
  Reply FetchBinding(const Call& call);
  Reply BindingLastOperation(const Call& call);

  // An operation the platform may poll, keyed by the resource it changes.
  struct Operation {
    std::string id;
    std::string type;         // "provision", "update", "deprovision", "bind", "unbind"
    std::string fingerprint;  // what was asked, to recognise a re-sent request
    std::string state = "in progress";
    std::string description;
  };
  // Runs `change` now (answering `done` or the error), or, when `async`, on a thread of its
  // own (answering 202 with the operation). A different operation still running on the
  // same resource gets 422 ConcurrencyError; the same one re-sent gets its 202 again.
  Reply RunOperation(const std::string& resource, const std::string& type,
                     const std::string& fingerprint, bool async,
                     std::function<absl::Status()> change, Reply done);
  // The last_operation answer for the operation on `resource` the poll asks about
  // (`operation`, or the last one), or nullopt when there is none in memory.
  std::optional<Reply> PolledState(const Call& call, const std::string& resource) const;
  // The operation running on `resource`, if any.
  std::optional<Operation> Running(const std::string& resource) const;
  std::optional<Operation> Last(const std::string& resource) const;

  // The stored record, or nullopt; errors as a 500 reply in `failed`.
  std::optional<v1::BrokerInstance> FindInstance(const std::string& id, Reply* failed);
  std::optional<v1::BrokerBinding> FindBinding(const std::string& id, Reply* failed);

  const BrokerCredentials credentials_;
  ControllerService* const service_;
  Store* const store_;
  const scheduler::KindCatalog* const kinds_;
  Logger* const logger_;

  mutable std::mutex mu_;
  std::map<std::string, Operation> operations_;  // by resource, the last one
  uint64_t next_operation_ = 1;
  int workers_ = 0;  // asynchronous operations still running
  std::condition_variable idle_;
};

// Answers /v2/ requests of a controller started without broker credentials with a 404
// that says how to turn the broker on.
void MountDisabledBroker(HttpServer& server);

// Parses an X-Broker-API-Version value; true for 2.13 and later 2.x versions.
bool SupportedApiVersion(const std::string& header);

// Whether an Authorization header carries exactly these basic credentials; compares in
// time independent of where the strings differ.
bool BasicAuthMatches(const std::string& header, const BrokerCredentials& credentials);

}  // namespace middlepipe::controller::broker

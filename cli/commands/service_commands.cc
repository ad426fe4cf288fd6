#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "cli/commands/commands.h"
#include "cli/table.h"
#include "common/address.h"

namespace middlepipe::cli {
namespace {

using Stub = v1::Controller::Stub;

std::string Endpoints(const v1::Service& service) {
  std::vector<std::string> endpoints;
  for (const v1::Endpoint& endpoint : service.endpoints()) {
    endpoints.push_back(endpoint.port() == 0 ? endpoint.host()
                                             : absl::StrCat(endpoint.host(), ":", endpoint.port()));
  }
  return endpoints.empty() ? "-" : absl::StrJoin(endpoints, ",");
}

}  // namespace

void AddServiceCommands(CLI::App& app, CommandContext& context) {
  auto name = std::make_shared<std::string>();
  auto endpoints = std::make_shared<std::string>();
  CLI::App* register_command = context.AddCommand(
      app, "register-service", "Register an external service by its addresses",
      "mp register-service orders 198.18.0.7:8080,198.18.0.8:8080",
      [&context, name, endpoints](ControllerClient& client) -> absl::Status {
        v1::RegisterServiceRequest request;
        request.set_name(*name);
        for (absl::string_view text : absl::StrSplit(*endpoints, ',', absl::SkipEmpty())) {
          absl::StatusOr<Address> address = ParseAddress(text);
          if (!address.ok() || address->family != Address::Family::kTcp || address->port == 0) {
            return absl::InvalidArgumentError(
                absl::StrCat("endpoint \"", text, "\": expected HOST:PORT with a port 1-65535"));
          }
          v1::Endpoint* endpoint = request.add_endpoints();
          endpoint->set_host(address->host);
          endpoint->set_port(address->port);
        }
        auto registered = client.Call(&Stub::RegisterService, request);
        if (!registered.ok()) return registered.status();
        context.Print(*registered, [&] {
          context.out() << "registered service " << registered->service().name() << " at "
                        << Endpoints(registered->service());
          if (registered->rollout().epoch() != 0) {
            context.out() << ": " << DescribeRollout(registered->rollout());
          }
          context.out() << "\n";
        });
        return absl::OkStatus();
      });
  register_command->add_option("NAME", *name, "The service's name")->required();
  register_command->add_option("ENDPOINTS", *endpoints, "HOST:PORT[,HOST:PORT...]")->required();

  context.AddCommand(app, "services", "List services: registered ones and your apps",
                     "mp services", [&context](ControllerClient& client) -> absl::Status {
                       auto listed = client.Call(&Stub::ListServices, v1::ListServicesRequest());
                       if (!listed.ok()) return listed.status();
                       context.Print(*listed, [&] {
                         Table table({"NAME", "TYPE", "ENDPOINTS"});
                         for (const v1::Service& service : listed->services()) {
                           table.AddRow({service.name(),
                                         service.type() == v1::SERVICE_TYPE_APP ? "app" : "external",
                                         Endpoints(service)});
                         }
                         table.Print(context.out());
                       });
                       return absl::OkStatus();
                     });

  context.AddCommand(app, "apps", "List your apps, their instances and applied epochs", "mp apps",
                     [&context](ControllerClient& client) -> absl::Status {
                       auto listed = client.Call(&Stub::ListApps, v1::ListAppsRequest());
                       if (!listed.ok()) return listed.status();
                       context.Print(*listed, [&] {
                         Table table({"APP", "EPOCH", "INSTANCE", "ADDRESS", "STATE", "APPLIED"});
                         for (const v1::App& app : listed->apps()) {
                           if (app.instances().empty()) {
                             table.AddRow({app.name(), std::to_string(app.epoch()), "-", "-",
                                           "no instances", "-"});
                           }
                           for (const v1::Instance& instance : app.instances()) {
                             table.AddRow({app.name(), std::to_string(app.epoch()),
                                           std::to_string(instance.index()),
                                           instance.port() == 0
                                               ? instance.address()
                                               : absl::StrCat(instance.address(), ":",
                                                              instance.port()),
                                           InstanceStateName(instance.state()),
                                           std::to_string(instance.applied_epoch())});
                           }
                         }
                         table.Print(context.out());
                       });
                       return absl::OkStatus();
                     });
}

}  // namespace middlepipe::cli

#include <memory>
#include <optional>

#include "absl/strings/str_cat.h"
#include "cli/commands/commands.h"
#include "cli/table.h"

namespace middlepipe::cli {

using Stub = v1::Controller::Stub;

void AddBindingCommands(CLI::App& app, CommandContext& context) {
  auto bind = std::make_shared<v1::BindMiddlepipeRequest>();
  auto position = std::make_shared<std::optional<int32_t>>();
  CLI::App* bind_command = context.AddCommand(
      app, "bind-middlepipe", "Put a middlepipe on the path from an app to a service",
      "mp bind-middlepipe orders-breaker web orders",
      [&context, bind, position](ControllerClient& client) -> absl::Status {
        if (position->has_value()) bind->set_position(**position);
        auto bound = client.Call(&Stub::BindMiddlepipe, *bind);
        if (!bound.ok()) return bound.status();
        context.Print(*bound, [&] {
          context.out() << "bound " << bound->binding().middlepipe() << " to "
                        << bound->binding().app() << " -> " << bound->binding().service()
                        << " at position " << bound->binding().position() << ": "
                        << DescribeRollout(bound->rollout()) << "\n";
        });
        return absl::OkStatus();
      });
  bind_command->add_option("NAME", *bind->mutable_name(), "The middlepipe")->required();
  bind_command->add_option("APP", *bind->mutable_app(), "The app whose requests pass through it")
      ->required();
  bind_command->add_option("SERVICE", *bind->mutable_service(), "The service they go to")
      ->required();
  bind_command->add_option("--position", *position,
                           "Order among the chain's filters of the same level (default: last)");

  auto unbind = std::make_shared<v1::UnbindMiddlepipeRequest>();
  CLI::App* unbind_command = context.AddCommand(
      app, "unbind-middlepipe", "Take a middlepipe off the path from an app to a service",
      "mp unbind-middlepipe orders-breaker web orders",
      [&context, unbind](ControllerClient& client) -> absl::Status {
        auto unbound = client.Call(&Stub::UnbindMiddlepipe, *unbind);
        if (!unbound.ok()) return unbound.status();
        context.Print(*unbound, [&] {
          context.out() << "unbound " << unbind->name() << " from " << unbind->app() << " -> "
                        << unbind->service() << ": " << DescribeRollout(unbound->rollout()) << "\n";
        });
        return absl::OkStatus();
      });
  unbind_command->add_option("NAME", *unbind->mutable_name(), "The middlepipe")->required();
  unbind_command->add_option("APP", *unbind->mutable_app(), "The app")->required();
  unbind_command->add_option("SERVICE", *unbind->mutable_service(), "The service")->required();

  auto chain = std::make_shared<v1::GetChainRequest>();
  CLI::App* chain_command = context.AddCommand(
      app, "chain", "Show the filters between an app and a service, in the order they run",
      "mp chain web orders", [&context, chain](ControllerClient& client) -> absl::Status {
        auto shown = client.Call(&Stub::GetChain, *chain);
        if (!shown.ok()) return shown.status();
        context.Print(*shown, [&] {
          std::ostream& out = context.out();
          out << "chain " << chain->app() << " -> " << chain->service() << " at epoch "
              << shown->chain().epoch() << "\n";
          Table table({"#", "MIDDLEPIPE", "KIND", "LEVEL", "POSITION"});
          int step = 1;
          for (const v1::FilterSpec& filter : shown->chain().filters()) {
            table.AddRow({std::to_string(step++), filter.middlepipe(), filter.kind(),
                          filter.level() == v1::LEVEL_PACKET ? "packet" : "request",
                          std::to_string(filter.position())});
          }
          if (table.empty()) {
            out << "no filters\n";
          } else {
            table.Print(out);
          }
          if (shown->rollout().instances_total() == 0) {
            out << "no instances of " << chain->app() << " are running\n";
          } else {
            out << DescribeRollout(shown->rollout()) << "\n";
          }
        });
        return absl::OkStatus();
      });
  chain_command->add_option("APP", *chain->mutable_app(), "The app")->required();
  chain_command->add_option("SERVICE", *chain->mutable_service(), "The service")->required();
}

}  // namespace middlepipe::cli

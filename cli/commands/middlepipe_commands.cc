#include <algorithm>
#include <memory>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "cli/commands/commands.h"
#include "cli/table.h"

namespace middlepipe::cli {
namespace {

// One binding's live state, e.g.
//   live web->orders: open (63% of 212 calls failed across the cluster (threshold 50%))
//        3 instances reporting; last 10 s: 212 requests, 40 short-circuited, 63.2% failed, p99 12.5 ms
//        last 10 s by kind: route:orders 190, route:orders-v2 22, route_failed:orders-v2 3
// The kind's own counters are what a rate limit limited, a split routed, a fault injected.
void PrintLiveState(const v1::MiddlepipeState& live, std::ostream& out) {
  out << "live " << live.app() << "->" << live.service() << ": " << live.state();
  if (!live.reason().empty()) out << " (" << live.reason() << ")";
  out << "\n     " << live.instances_reporting() << " instances reporting; last "
      << live.window_ms() / 1000.0 << " s: " << live.window().requests() << " requests, "
      << live.window().short_circuited() << " short-circuited";
  auto figure = [&](const std::string& name) -> std::optional<double> {
    auto it = live.figures().find(name);
    return it == live.figures().end() ? std::nullopt : std::optional<double>(it->second);
  };
  if (auto errors = figure("error_percent")) out << ", " << absl::StrFormat("%.1f", *errors) << "% failed";
  if (auto p99 = figure("p99_ms")) out << ", p99 " << absl::StrFormat("%.1f", *p99) << " ms";
  out << "; total " << live.total().requests() << " requests\n";
  if (!live.window().counters().empty()) {
    std::vector<std::string> counters;
    for (const auto& [name, value] : live.window().counters()) {
      counters.push_back(absl::StrCat(name, " ", value));
    }
    std::sort(counters.begin(), counters.end());  // a proto map has no order
    out << "     last " << live.window_ms() / 1000.0
        << " s by kind: " << absl::StrJoin(counters, ", ") << "\n";
  }
  if (live.has_packets()) {
    const v1::PacketStats& packets = live.packets();
    out << "     packets: out " << packets.packets_out() << " (" << packets.bytes_out()
        << " bytes), in " << packets.packets_in() << " (" << packets.bytes_in() << " bytes), "
        << packets.retransmissions() << " retransmissions (" << packets.inconsistent_retransmissions()
        << " inconsistent), " << packets.connections_started() << " connections, "
        << packets.dropped() << " dropped\n";
  }
  // The latest few; --json has them all.
  for (int i = 0; i < std::min(live.recent_alerts_size(), 5); ++i) {
    const v1::Alert& alert = live.recent_alerts(i);
    out << "     alert sid " << alert.sid() << " \"" << alert.message() << "\" " << alert.source()
        << " -> " << alert.destination() << " (" << alert.action() << ")\n";
  }
  for (int i = 0; i < std::min(live.recent_connections_size(), 5); ++i) {
    const v1::ConnectionStats& connection = live.recent_connections(i);
    out << "     connection " << connection.client() << " -> " << connection.server() << ": out "
        << connection.bytes_out() << ", in " << connection.bytes_in() << " bytes, "
        << connection.retransmitted_bytes() << " retransmitted, ended " << connection.end() << "\n";
  }
}

using Stub = v1::Controller::Stub;

std::string LevelName(v1::Level level) {
  return level == v1::LEVEL_PACKET ? "packet" : level == v1::LEVEL_REQUEST ? "request" : "?";
}

std::string Bindings(const v1::MiddlepipeSummary& summary) {
  std::vector<std::string> bindings;
  for (const v1::Binding& binding : summary.bindings()) {
    bindings.push_back(absl::StrCat(binding.app(), "->", binding.service()));
  }
  return bindings.empty() ? "-" : absl::StrJoin(bindings, ",");
}

}  // namespace

void AddMiddlepipeCommands(CLI::App& app, CommandContext& context) {
  context.AddCommand(app, "marketplace", "List the kinds of middlepipe you can create",
                     "mp marketplace", [&context](ControllerClient& client) -> absl::Status {
                       auto kinds = client.Call(&Stub::ListKinds, v1::ListKindsRequest());
                       if (!kinds.ok()) return kinds.status();
                       context.Print(*kinds, [&] {
                         Table table({"KIND", "LEVEL", "AGGREGATES", "DESCRIPTION"});
                         for (const v1::KindInfo& kind : kinds->kinds()) {
                           table.AddRow({kind.name(), LevelName(kind.level()),
                                         kind.aggregates() ? "yes" : "no", kind.description()});
                         }
                         table.Print(context.out());
                       });
                       return absl::OkStatus();
                     });

  auto create = std::make_shared<v1::CreateMiddlepipeRequest>();
  auto create_config = std::make_shared<std::string>();
  CLI::App* create_command = context.AddCommand(
      app, "create-middlepipe", "Create a middlepipe of a kind, with its config",
      R"(mp create-middlepipe circuit-breaker orders-breaker -c '{"latency_threshold_ms":200}')",
      [&context, create, create_config](ControllerClient& client) -> absl::Status {
        absl::StatusOr<std::string> config = ReadConfigArgument(*create_config);
        if (!config.ok()) return config.status();
        create->set_config_json(*config);
        auto created = client.Call(&Stub::CreateMiddlepipe, *create);
        if (!created.ok()) return created.status();
        context.Print(*created, [&] {
          context.out() << "created " << created->middlepipe().kind() << " middlepipe "
                        << created->middlepipe().name() << "\n";
        });
        return absl::OkStatus();
      });
  create_command->add_option("KIND", *create->mutable_kind(), "A kind from `mp marketplace`")
      ->required();
  create_command->add_option("NAME", *create->mutable_name(), "The new middlepipe's name")
      ->required();
  create_command->add_option("-c,--config", *create_config, "Config as JSON, or @FILE");

  auto update = std::make_shared<v1::UpdateMiddlepipeRequest>();
  auto update_config = std::make_shared<std::string>();
  CLI::App* update_command = context.AddCommand(
      app, "update-middlepipe", "Replace a middlepipe's config and roll it out",
      R"(mp update-middlepipe orders-breaker -c '{"latency_threshold_ms":300}')",
      [&context, update, update_config](ControllerClient& client) -> absl::Status {
        absl::StatusOr<std::string> config = ReadConfigArgument(*update_config);
        if (!config.ok()) return config.status();
        update->set_config_json(*config);
        auto updated = client.Call(&Stub::UpdateMiddlepipe, *update);
        if (!updated.ok()) return updated.status();
        context.Print(*updated, [&] {
          context.out() << "updated " << updated->middlepipe().name() << " to generation "
                        << updated->middlepipe().generation() << ": "
                        << DescribeRollout(updated->rollout()) << "\n";
        });
        return absl::OkStatus();
      });
  update_command->add_option("NAME", *update->mutable_name(), "The middlepipe")->required();
  update_command->add_option("-c,--config", *update_config, "The whole new config as JSON, or @FILE")
      ->required();

  auto remove = std::make_shared<v1::DeleteMiddlepipeRequest>();
  auto force = std::make_shared<bool>(false);
  CLI::App* delete_command = context.AddCommand(
      app, "delete-middlepipe", "Delete a middlepipe (refused while bound, unless --force)",
      "mp delete-middlepipe orders-breaker --force",
      [&context, remove, force](ControllerClient& client) -> absl::Status {
        remove->set_force(*force);
        auto deleted = client.Call(&Stub::DeleteMiddlepipe, *remove);
        if (!deleted.ok()) return deleted.status();
        context.Print(*deleted, [&] {
          context.out() << "deleted " << remove->name();
          if (deleted->rollout().epoch() != 0) {
            context.out() << ": " << DescribeRollout(deleted->rollout());
          }
          context.out() << "\n";
        });
        return absl::OkStatus();
      });
  delete_command->add_option("NAME", *remove->mutable_name(), "The middlepipe")->required();
  delete_command->add_flag("--force", *force, "Unbind it everywhere first");

  context.AddCommand(
      app, "middlepipes", "List your middlepipes and where they are bound", "mp middlepipes",
      [&context](ControllerClient& client) -> absl::Status {
        auto listed = client.Call(&Stub::ListMiddlepipes, v1::ListMiddlepipesRequest());
        if (!listed.ok()) return listed.status();
        context.Print(*listed, [&] {
          Table table({"NAME", "KIND", "GENERATION", "BOUND"});
          for (const v1::MiddlepipeSummary& summary : listed->middlepipes()) {
            table.AddRow({summary.middlepipe().name(), summary.middlepipe().kind(),
                          std::to_string(summary.middlepipe().generation()), Bindings(summary)});
          }
          if (table.empty()) {
            context.out() << "no middlepipes (create one with mp create-middlepipe)\n";
          } else {
            table.Print(context.out());
          }
        });
        return absl::OkStatus();
      });

  auto get = std::make_shared<v1::GetMiddlepipeRequest>();
  CLI::App* get_command = context.AddCommand(
      app, "middlepipe", "Show one middlepipe: config, bindings and live state",
      "mp middlepipe orders-breaker", [&context, get](ControllerClient& client) -> absl::Status {
        auto shown = client.Call(&Stub::GetMiddlepipe, *get);
        if (!shown.ok()) return shown.status();
        context.Print(*shown, [&] {
          const v1::Middlepipe& middlepipe = shown->summary().middlepipe();
          std::ostream& out = context.out();
          out << "name:        " << middlepipe.name() << "\n"
              << "kind:        " << middlepipe.kind() << "\n"
              << "generation:  " << middlepipe.generation() << "\n"
              << "config:      " << middlepipe.config_json() << "\n"
              << "bound:       " << Bindings(shown->summary()) << "\n";
          for (const v1::MiddlepipeState& live : shown->live()) PrintLiveState(live, out);
          if (!shown->live_error().empty()) out << "live state:  " << shown->live_error() << "\n";
        });
        return absl::OkStatus();
      });
  get_command->add_option("NAME", *get->mutable_name(), "The middlepipe")->required();
}

}  // namespace middlepipe::cli

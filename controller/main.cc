// mp-controller: the northbound API, the store, chain distribution to agents and the
// HTTP side (health, metrics, Open Service Broker, dashboard). This file only wires the
// pieces; each lives in its own library.
#include <iostream>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/address.h"
#include "common/command_line.h"
#include "common/files.h"
#include "common/grpc_server.h"
#include "common/logger.h"
#include "common/protobuf_log.h"
#include "common/sibling_binary.h"
#include "common/termination.h"
#include "common/version.h"
#include <unistd.h>

#include "controller/agents/agent_registry.h"
#include "controller/aggregator_configurer.h"
#include "controller/aggregator_supervisor.h"
#include "controller/broker/service_broker.h"
#include "controller/dashboard/dashboard.h"
#include "controller/agents/agent_service.h"
#include "controller/change_coordinator.h"
#include "controller/controller_metrics.h"
#include "controller/controller_service.h"
#include "controller/http_api.h"
#include "controller/store/etcd_store.h"
#include "controller/store/sqlite_store.h"
#include "controller/tokens.h"
#include "scheduler/filters/builtin_kinds.h"
#include "scheduler/kind_catalog.h"

namespace middlepipe::controller {
namespace {

constexpr char kProgram[] = "mp-controller";

struct Options {
  std::string data_dir;
  std::string grpc_listen = "127.0.0.1:7400";
  std::string http_listen = "127.0.0.1:7480";
  std::optional<std::string> tokens_file;
  std::string store = "sqlite";
  std::string etcd_endpoints;  // --store etcd: URL[,URL...]
  uint32_t heartbeat_interval_ms = 1000;
  uint32_t rollout_timeout_ms = 3000;
  std::string aggregator_binary;  // empty: next to this binary
  std::string broker_user;           // empty: the service broker is off
  std::string broker_password_file;
};

// The broker's credentials: the user from the flag, the password from the file's first
// line (a file, so it is not in the process list).
absl::StatusOr<broker::BrokerCredentials> LoadBrokerCredentials(const Options& options) {
  if (options.broker_user.empty() != options.broker_password_file.empty()) {
    return absl::InvalidArgumentError(
        "--broker-user and --broker-password-file go together (both, or neither to turn the "
        "service broker off)");
  }
  absl::StatusOr<std::string> contents = ReadFile(options.broker_password_file);
  if (!contents.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--broker-password-file: ", contents.status().message()));
  }
  std::string password = contents->substr(0, contents->find('\n'));
  if (!password.empty() && password.back() == '\r') password.pop_back();
  if (password.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("--broker-password-file ", options.broker_password_file,
                                                   ": the first line (the password) is empty"));
  }
  return broker::BrokerCredentials{options.broker_user, password};
}

struct OpenedStore {
  std::unique_ptr<Store> store;
  std::string description;  // for the start-up log line
};

// The backend --store names: the SQLite file in the data dir, or the etcd cluster.
absl::StatusOr<OpenedStore> OpenStore(const Options& options) {
  if (options.store == "etcd") {
    if (options.etcd_endpoints.empty()) {
      return absl::InvalidArgumentError("--store etcd needs --etcd-endpoints URL[,URL...]");
    }
    absl::StatusOr<std::vector<std::string>> endpoints =
        EtcdStore::ParseEndpoints(options.etcd_endpoints);
    if (!endpoints.ok()) return endpoints.status();
    EtcdStoreOptions etcd;
    etcd.endpoints = *std::move(endpoints);
    absl::StatusOr<std::unique_ptr<EtcdStore>> store = EtcdStore::Open(std::move(etcd));
    if (!store.ok()) return store.status();
    std::string description = absl::StrCat("etcd at ", (*store)->endpoints());
    return OpenedStore{*std::move(store), std::move(description)};
  }
  if (!options.etcd_endpoints.empty()) {
    return absl::InvalidArgumentError("--etcd-endpoints goes with --store etcd");
  }
  const std::string path = options.data_dir + "/controller.db";
  absl::StatusOr<std::unique_ptr<SqliteStore>> store = SqliteStore::Open(path);
  if (!store.ok()) return store.status();
  return OpenedStore{*std::move(store), absl::StrCat(path, " (sqlite, schema version ",
                                                     SqliteStore::kSchemaVersion, ")")};
}

int Run(const Options& options) {
  TerminationSignals termination;  // before any thread starts
  Logger logger(kProgram, &std::cerr);
  RouteProtobufLogs(&logger);

  absl::StatusOr<Address> grpc_address = ParseAddress(options.grpc_listen);
  if (!grpc_address.ok()) return Fail(kProgram, grpc_address.status(), std::cerr);
  absl::StatusOr<Address> http_address = ParseAddress(options.http_listen);
  if (!http_address.ok()) return Fail(kProgram, http_address.status(), std::cerr);
  if (absl::Status made = MakeDirectories(options.data_dir, 0700); !made.ok()) {
    return Fail(kProgram, made, std::cerr);
  }
  absl::StatusOr<TokenTable> tokens = LoadTokens(options.tokens_file, options.data_dir);
  if (!tokens.ok()) return Fail(kProgram, tokens.status(), std::cerr);
  std::optional<broker::BrokerCredentials> broker_credentials;
  if (!options.broker_user.empty() || !options.broker_password_file.empty()) {
    absl::StatusOr<broker::BrokerCredentials> loaded = LoadBrokerCredentials(options);
    if (!loaded.ok()) return Fail(kProgram, loaded.status(), std::cerr);
    broker_credentials = *std::move(loaded);
  }

  absl::StatusOr<OpenedStore> opened = OpenStore(options);
  if (!opened.ok()) return Fail(kProgram, opened.status(), std::cerr);
  std::unique_ptr<Store> store = std::move(opened->store);
  absl::StatusOr<scheduler::KindCatalog> kinds =
      scheduler::KindCatalog::Create(scheduler::BuiltinKinds());
  if (!kinds.ok()) return Fail(kProgram, kinds.status(), std::cerr);

  CoordinatorOptions coordination;
  coordination.heartbeat_interval = std::chrono::milliseconds(options.heartbeat_interval_ms);
  coordination.prepare_timeout = std::chrono::milliseconds(options.rollout_timeout_ms);
  coordination.commit_timeout = std::chrono::milliseconds(options.rollout_timeout_ms);
  AggregatorSupervisorOptions aggregation;
  aggregation.binary = options.aggregator_binary == "none"  ? ""
                       : options.aggregator_binary.empty() ? FindSiblingBinary("aggregator", "mp-aggregator")
                                                           : options.aggregator_binary;
  aggregation.socket_dir = options.data_dir + "/aggregators";
  // The configurer reads the supervisor's addresses and is told of its starts; built
  // around each other through this pointer, set before any aggregator starts.
  AggregatorConfigurer* configurer_of_started = nullptr;
  aggregation.on_started = [&configurer_of_started](const std::string& user) {
    if (configurer_of_started != nullptr) configurer_of_started->MarkDirty(user);
  };
  AggregatorSupervisor aggregators(aggregation, &logger);
  coordination.aggregator_address = [&aggregators](const std::string& user) {
    return aggregators.Address(user);
  };
  AggregatorConfigurerOptions configuring;
  configuring.aggregator_address = coordination.aggregator_address;
  AggregatorConfigurer configurer(store.get(), configuring, &logger);
  configurer_of_started = &configurer;
  configurer.Start();
  coordination.on_stored = [&configurer](const std::string& user) { configurer.MarkDirty(user); };
  AgentRegistry registry;
  ControllerMetrics metrics([&registry] { return registry.size(); });
  ChangeCoordinator coordinator(store.get(), &*kinds, &registry, &metrics, &logger, coordination);
  AgentService agent_service(&*tokens, &coordinator, &logger,
                             AgentServiceOptions{options.heartbeat_interval_ms,
                                                 coordination.aggregator_address});
  ControllerService controller_service(&*tokens, &*kinds, &coordinator, &registry, &metrics,
                                       &aggregators);
  // Users with middlepipes get their aggregators back after a controller restart.
  absl::Status provisioned = store->DryRun([&aggregators](StoreTransaction& tx) {
    absl::StatusOr<std::vector<std::string>> users = tx.ListUsersWithMiddlepipes();
    if (!users.ok()) return users.status();
    for (const std::string& user : *users) aggregators.EnsureRunning(user);
    return absl::OkStatus();
  });
  if (!provisioned.ok()) return Fail(kProgram, provisioned, std::cerr);
  absl::StatusOr<RunningGrpcServer> grpc =
      StartGrpcServer(*grpc_address, {&controller_service, &agent_service});
  if (!grpc.ok()) return Fail(kProgram, grpc.status(), std::cerr);
  HttpApi http(&logger, [&metrics] { return metrics.Render(); },
               [store = store.get()] { return store->Health(); });
  std::optional<broker::ServiceBroker> service_broker;
  if (broker_credentials.has_value()) {
    service_broker.emplace(*broker_credentials, &controller_service, store.get(), &*kinds, &logger);
    service_broker->Mount(http.routes());
  } else {
    broker::MountDisabledBroker(http.routes());
  }
  Dashboard dashboard(&controller_service, &*tokens);
  dashboard.Mount(http.routes());
  absl::StatusOr<Address> http_bound = http.Start(*http_address);
  if (!http_bound.ok()) {
    grpc->Stop();
    return Fail(kProgram, http_bound.status(), std::cerr);
  }

  logger.Info("store ", opened->description);
  logger.Info("version ", kVersion, " data dir ", options.data_dir, " users ",
              tokens->Users().size(),
              options.tokens_file ? " from " + *options.tokens_file : " (admin-token)");
  logger.Info("grpc listening on ", grpc->bound.ToString());
  logger.Info("http listening on ", http_bound->ToString());
  logger.Info(broker_credentials
                  ? "service broker on /v2 for broker user " + broker_credentials->user
                  : std::string("service broker off (no --broker-user)"));

  int signal_number = termination.Wait();
  logger.Info("signal ", signal_number, ": shutting down");
  dashboard.Stop();  // its event streams end
  http.Stop();
  grpc->Stop();
  aggregators.Stop();
  configurer.Stop();
  logger.Info("stopped");
  return 0;
}

}  // namespace
}  // namespace middlepipe::controller

int main(int argc, char** argv) {
  using middlepipe::controller::Options;
  Options options;
  CLI::App app("middlepipe controller: northbound API, store and chain distribution",
               "mp-controller");
  app.add_option("--data-dir", options.data_dir,
                 "Directory for the store and the admin token (created if missing)");
  app.add_option("--grpc-listen", options.grpc_listen,
                 "gRPC address: HOST:PORT or unix:///PATH")
      ->capture_default_str();
  app.add_option("--http-listen", options.http_listen,
                 "HTTP address (health, metrics, service broker, dashboard): HOST:PORT")
      ->capture_default_str();
  app.add_option("--tokens", options.tokens_file,
                 "File of 'USER TOKEN' lines; without it, user admin with DATA_DIR/admin-token");
  app.add_option("--heartbeat-interval-ms", options.heartbeat_interval_ms,
                 "How often agents heartbeat; an agent silent for 3 intervals is dropped")
      ->check(CLI::Range(50u, 60000u))
      ->capture_default_str();
  app.add_option("--rollout-timeout-ms", options.rollout_timeout_ms,
                 "How long each rollout phase waits for agents before reporting them as lagging")
      ->check(CLI::Range(10u, 600000u))
      ->capture_default_str();
  app.add_option("--aggregator-binary", options.aggregator_binary,
                 "mp-aggregator to run per user (default: next to this binary; none: disable)");
  app.add_option("--broker-user", options.broker_user,
                 "User name platforms authenticate to the Open Service Broker API (/v2) with");
  app.add_option("--broker-password-file", options.broker_password_file,
                 "File whose first line is the service broker's password");
  app.add_option("--store", options.store,
                 "Store backend: sqlite (a file in the data dir) or etcd (a cluster)")
      ->check(CLI::IsMember({"sqlite", "etcd"}))
      ->capture_default_str();
  app.add_option("--etcd-endpoints", options.etcd_endpoints,
                 "With --store etcd: the members' client URLs, URL[,URL...]");
  middlepipe::AddVersionCommand(app, std::cout);
  if (auto exit_code = middlepipe::ParseCommandLine(app, argc, argv, std::cout, std::cerr)) {
    return *exit_code;
  }
  if (auto exit_code = middlepipe::RequireOptions(app, {"--data-dir"}, std::cerr)) {
    return *exit_code;
  }
  return middlepipe::controller::Run(options);
}

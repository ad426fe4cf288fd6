// mp-aggregator: one per user; ingests filter reports, makes cluster-wide decisions and
// pushes them back, serves live state over gRPC (Query) and HTTP (/metrics), and can
// export to Graphite. This file only wires the pieces.

#include <chrono>
#include <condition_variable>
#include <iostream>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "aggregator/aggregation.h"
#include "aggregator/aggregator_service.h"
#include "aggregator/builtin_aggregates.h"
#include "aggregator/graphite_exporter.h"
#include "aggregator/prometheus_text.h"
#include "common/address.h"
#include "common/command_line.h"
#include "common/files.h"
#include "common/grpc_server.h"
#include "common/http_server.h"
#include "common/logger.h"
#include "common/protobuf_log.h"
#include "common/names.h"
#include "common/termination.h"
#include "common/version.h"
#include "scheduler/filters/builtin_kinds.h"
#include "scheduler/kind_catalog.h"

namespace middlepipe::aggregator {
namespace {

constexpr char kProgram[] = "mp-aggregator";
constexpr std::chrono::milliseconds kTickInterval{100};

struct Options {
  std::string listen = "127.0.0.1:7410";
  std::string user;
  std::string http_listen;  // empty: no HTTP side
  std::string http_address_file;  // empty: none
  std::string graphite;     // empty: no export
  uint32_t graphite_interval_ms = 10000;
  uint32_t lease_ms = 3000;
};

// Calls Aggregation::Tick every kTickInterval until stopped.
class Ticker {
 public:
  explicit Ticker(Aggregation* aggregation)
      : thread_([this, aggregation] {
          std::unique_lock<std::mutex> lock(mu_);
          while (!stop_changed_.wait_for(lock, kTickInterval, [this] { return stopping_; })) {
            lock.unlock();
            aggregation->Tick();
            lock.lock();
          }
        }) {}
  ~Ticker() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    stop_changed_.notify_all();
    thread_.join();
  }

 private:
  std::mutex mu_;
  std::condition_variable stop_changed_;
  bool stopping_ = false;
  std::thread thread_;
};

int Run(const Options& options) {
  TerminationSignals termination;  // before any thread starts
  Logger logger(kProgram, &std::cerr);
  RouteProtobufLogs(&logger);

  if (absl::Status name = ValidateName("user", options.user); !name.ok()) {
    return Fail(kProgram, name, std::cerr);
  }
  absl::StatusOr<Address> address = ParseAddress(options.listen);
  if (!address.ok()) return Fail(kProgram, address.status(), std::cerr);
  std::optional<Address> http_address;
  if (!options.http_listen.empty()) {
    absl::StatusOr<Address> parsed = ParseAddress(options.http_listen);
    if (!parsed.ok()) return Fail(kProgram, parsed.status(), std::cerr);
    http_address = *parsed;
  }
  std::optional<Address> graphite_address;
  if (!options.graphite.empty()) {
    absl::StatusOr<Address> parsed = ParseAddress(options.graphite);
    if (!parsed.ok() || parsed->family != Address::Family::kTcp) {
      return Fail(kProgram, absl::InvalidArgumentError("--graphite must be HOST:PORT"), std::cerr);
    }
    graphite_address = *parsed;
  }
  absl::StatusOr<scheduler::KindCatalog> catalog =
      scheduler::KindCatalog::Create(scheduler::BuiltinKinds());
  if (!catalog.ok()) return Fail(kProgram, catalog.status(), std::cerr);
  const KindAggregateRegistry kinds = BuiltinAggregates();

  AggregationOptions aggregation_options;
  aggregation_options.user = options.user;
  aggregation_options.lease_ms = options.lease_ms;
  aggregation_options.logger = &logger;
  Aggregation aggregation(aggregation_options, &*catalog, &kinds);
  AggregatorService service(&aggregation, &logger);
  absl::StatusOr<RunningGrpcServer> grpc = StartGrpcServer(*address, {&service});
  if (!grpc.ok()) return Fail(kProgram, grpc.status(), std::cerr);
  logger.Info("version ", kVersion, " user ", options.user);
  logger.Info("grpc listening on ", grpc->bound.ToString());

  auto metrics = [&] {
    return RenderPrometheus(options.user, aggregation.Query(v1::QueryRequest()), aggregation.counters());
  };
  HttpServer http(&logger);
  if (http_address.has_value()) {
    http.Get("/healthz", [](const HttpRequest&) { return HttpResponse::Text(200, "ok\n"); });
    http.Get("/metrics", [&](const HttpRequest&) {
      HttpResponse response = HttpResponse::Text(200, metrics());
      response.content_type = "text/plain; version=0.0.4";
      return response;
    });
    absl::StatusOr<Address> bound = http.Start(*http_address);
    if (!bound.ok()) {
      grpc->Stop();
      return Fail(kProgram, bound.status(), std::cerr);
    }
    logger.Info("http listening on ", bound->ToString());
    if (!options.http_address_file.empty()) {
      absl::Status written =
          WriteFileAtomically(options.http_address_file, bound->ToString() + "\n", 0644);
      if (!written.ok()) {
        http.Stop();
        grpc->Stop();
        return Fail(kProgram, written, std::cerr);
      }
    }
  }
  std::optional<GraphiteExporter> graphite;
  if (graphite_address.has_value()) {
    graphite.emplace(*graphite_address, options.user,
                     std::chrono::milliseconds(options.graphite_interval_ms),
                     [&aggregation] { return aggregation.Query(v1::QueryRequest()); }, &logger);
    graphite->Start();
    logger.Info("exporting to graphite at ", graphite_address->ToString(), " every ",
                options.graphite_interval_ms, " ms");
  }
  {
    Ticker ticker(&aggregation);
    int signal_number = termination.Wait();
    logger.Info("signal ", signal_number, ": shutting down");
  }
  if (graphite.has_value()) graphite->Stop();
  http.Stop();
  grpc->Stop();
  logger.Info("stopped");
  return 0;
}

}  // namespace
}  // namespace middlepipe::aggregator

int main(int argc, char** argv) {
  middlepipe::aggregator::Options options;
  CLI::App app("middlepipe aggregator: cluster-wide decisions and live state for one user",
               "mp-aggregator");
  app.add_option("--listen", options.listen, "gRPC address: HOST:PORT or unix:///PATH")
      ->capture_default_str();
  app.add_option("--user", options.user, "The user (tenant) this aggregator serves");
  app.add_option("--http-listen", options.http_listen,
                 "HTTP address for /metrics and /healthz, HOST:PORT (default: none)");
  app.add_option("--http-address-file", options.http_address_file,
                 "Write the bound HTTP address (HOST:PORT) to this file once listening");
  app.add_option("--graphite", options.graphite,
                 "Export figures to Graphite's plaintext port, HOST:PORT (default: none)");
  app.add_option("--graphite-interval-ms", options.graphite_interval_ms, "Graphite export interval")
      ->check(CLI::Range(100u, 3600000u))
      ->capture_default_str();
  app.add_option("--lease-ms", options.lease_ms,
                 "How long a decision holds at an agent without a refresh")
      ->check(CLI::Range(300u, 600000u))
      ->capture_default_str();
  middlepipe::AddVersionCommand(app, std::cout);
  if (auto exit_code = middlepipe::ParseCommandLine(app, argc, argv, std::cout, std::cerr)) {
    return *exit_code;
  }
  if (auto exit_code = middlepipe::RequireOptions(app, {"--user"}, std::cerr)) {
    return *exit_code;
  }
  return middlepipe::aggregator::Run(options);
}

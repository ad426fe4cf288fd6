// mp-aggregator: one per user; ingests filter reports, makes cluster-wide decisions and
// pushes them back, serves live state. This file only wires the pieces.
#include <iostream>
#include <string>

#include "aggregator/aggregator_service.h"
#include "common/address.h"
#include "common/command_line.h"
#include "common/grpc_server.h"
#include "common/logger.h"
#include "common/names.h"
#include "common/termination.h"
#include "common/version.h"

namespace middlepipe::aggregator {
namespace {

constexpr char kProgram[] = "mp-aggregator";

struct Options {
  std::string listen = "127.0.0.1:7410";
  std::string user;
};

int Run(const Options& options) {
  TerminationSignals termination;  // before any thread starts
  Logger logger(kProgram, &std::cerr);

  if (absl::Status name = ValidateName("user", options.user); !name.ok()) {
    return Fail(kProgram, name, std::cerr);
  }
  absl::StatusOr<Address> address = ParseAddress(options.listen);
  if (!address.ok()) return Fail(kProgram, address.status(), std::cerr);

  AggregatorService service(options.user);
  absl::StatusOr<RunningGrpcServer> grpc = StartGrpcServer(*address, {&service});
  if (!grpc.ok()) return Fail(kProgram, grpc.status(), std::cerr);
  logger.Info("version ", kVersion, " user ", options.user);
  logger.Info("grpc listening on ", grpc->bound.ToString());

  int signal_number = termination.Wait();
  logger.Info("signal ", signal_number, ": shutting down");
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
  middlepipe::AddVersionCommand(app, std::cout);
  if (auto exit_code = middlepipe::ParseCommandLine(app, argc, argv, std::cout, std::cerr)) {
    return *exit_code;
  }
  if (auto exit_code = middlepipe::RequireOptions(app, {"--user"}, std::cerr)) {
    return *exit_code;
  }
  return middlepipe::aggregator::Run(options);
}

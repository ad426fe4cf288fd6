// mp-agent: one per app container. Registers with the controller, receives chains by
// two-phase commit into the scheduler's chain table, serves them to the app's client
// hooks on the hook socket, and reports to the user's aggregator (applying its
// decisions), publishes the fast-path segment, and runs the packet-level filters on an
// NFQUEUE of its container's network namespace.
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <sys/random.h>

#include <atomic>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/address.h"
#include "common/command_line.h"
#include "common/files.h"
#include "common/logger.h"
#include "common/markers.h"
#include "common/protobuf_log.h"
#include "common/names.h"
#include "common/termination.h"
#include "common/version.h"
#include "fastpath/segment.h"
#include "filter-agent/control_client.h"
#include "filter-agent/fast_path_publisher.h"
#include "filter-agent/hook_server.h"
#include "filter-agent/packet_path.h"
#include "filter-agent/reporter.h"
#include "scheduler/chain_table.h"
#include "scheduler/filters/builtin_filters.h"
#include "scheduler/filters/builtin_kinds.h"

namespace middlepipe::agent {
namespace {

constexpr char kProgram[] = "mp-agent";

struct Options {
  std::string controller;
  std::string app;
  uint32_t instance = 0;
  std::string token_file;
  std::string socket;
  std::string shm;
  int64_t app_uid = -1;
  std::string address;
  uint32_t port = 0;
  uint32_t report_interval_ms = 250;
  uint32_t packet_queue = 4242;
};

// 16 random bytes, hex: this process's incarnation (agent.proto Register.incarnation).
absl::StatusOr<std::string> NewIncarnation() {
  unsigned char bytes[16];
  if (getrandom(bytes, sizeof(bytes), 0) != static_cast<ssize_t>(sizeof(bytes))) {
    return absl::UnavailableError("cannot read random bytes for the agent's incarnation");
  }
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(bytes), sizeof(bytes)));
}

// The hook socket: --socket, else $MP_AGENT_SOCKET, else the documented default.
std::string HookSocketPath(const Options& options) {
  return markers::AgentSocketPath(options.socket);
}

// The fast-path segment: --shm, else $MP_AGENT_SHM, else next to the hook socket.
std::string SharedMemoryPath(const Options& options, const std::string& socket) {
  return markers::AgentSegmentPath(options.shm, socket);
}

// The container's address: the first IPv4 address of an interface that is up and not
// loopback (a network-namespace container has exactly one); 127.0.0.1 if none.
std::string DetectAddress() {
  ifaddrs* interfaces = nullptr;
  if (getifaddrs(&interfaces) != 0) return "127.0.0.1";
  std::string found = "127.0.0.1";
  for (ifaddrs* entry = interfaces; entry != nullptr; entry = entry->ifa_next) {
    if (entry->ifa_addr == nullptr || entry->ifa_addr->sa_family != AF_INET) continue;
    if ((entry->ifa_flags & IFF_UP) == 0 || (entry->ifa_flags & IFF_LOOPBACK) != 0) continue;
    char text[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(entry->ifa_addr)->sin_addr, text,
              sizeof(text));
    found = text;
    break;
  }
  freeifaddrs(interfaces);
  return found;
}

int Run(const Options& options) {
  TerminationSignals termination;  // before any thread starts
  Logger logger(kProgram, &std::cerr);
  RouteProtobufLogs(&logger);

  absl::StatusOr<Address> controller = ParseAddress(options.controller);
  if (!controller.ok()) return Fail(kProgram, controller.status(), std::cerr);
  if (absl::Status name = ValidateName("app name", options.app); !name.ok()) {
    return Fail(kProgram, name, std::cerr);
  }
  absl::StatusOr<std::string> token = ReadFile(options.token_file);
  if (!token.ok()) return Fail(kProgram, token.status(), std::cerr);
  const std::string bearer(absl::StripAsciiWhitespace(*token));
  if (bearer.empty()) {
    return Fail(kProgram,
                absl::InvalidArgumentError(absl::StrCat("token file ", options.token_file,
                                                        " is empty")),
                std::cerr);
  }
  absl::StatusOr<scheduler::KindCatalog> kinds =
      scheduler::KindCatalog::Create(scheduler::BuiltinKinds());
  if (!kinds.ok()) return Fail(kProgram, kinds.status(), std::cerr);
  scheduler::FilterRegistry registry(&*kinds);
  scheduler::RegisterBuiltinFilters(registry);

  const std::string socket = HookSocketPath(options);
  // The fast-path segment before the chains: their token buckets move into its cells.
  std::string shm_error;
  const std::string shm = SharedMemoryPath(options, socket);
  std::unique_ptr<fastpath::Segment> segment;
  const size_t slash = shm.rfind('/');
  if (absl::Status made = slash != std::string::npos && slash > 0 ? MakeDirectories(shm.substr(0, slash), 0755)
                                                                  : absl::OkStatus();
      !made.ok()) {
    shm_error = std::string(made.message());
  } else {
    segment = fastpath::Segment::Create(shm, fastpath::Segment::Sizes(), static_cast<uid_t>(options.app_uid),
                                        &shm_error);
  }
  // The packet path needs NFQUEUE in a namespace of the container's own; without it the
  // agent still runs every request-level middlepipe and refuses packet-level ones, saying why.
  PacketPathOptions packet_options;
  packet_options.queue = static_cast<uint16_t>(options.packet_queue);
  absl::StatusOr<std::unique_ptr<PacketPath>> opened = PacketPath::Open(packet_options, &logger);
  std::unique_ptr<PacketPath> packets = opened.ok() ? *std::move(opened) : nullptr;
  scheduler::ChainTable chains(&registry, scheduler::SteadyClockMillis(),
                               opened.ok() ? absl::OkStatus() : opened.status());

  const std::string address = options.address.empty() ? DetectAddress() : options.address;
  logger.Info("version ", kVersion, " app ", options.app, " instance ", options.instance,
              " address ", address, " controller ", controller->ToString());
  logger.Info("hook socket ", socket, " shm ", shm);
  if (segment == nullptr) {
    // Apps still get every middlepipe, over the socket: slower, not wrong.
    logger.Warning("fast path off: ", shm_error, "; every call asks over the hook socket");
  }
  if (packets != nullptr) {
    logger.Info("packet path: NFQUEUE ", options.packet_queue);
    packets->Start();
  } else {
    logger.Info("packet path off: ", opened.status().message(),
                "; packet-level middlepipes are refused");
  }
  HookServer hooks(&chains, &logger, kVersion);
  if (absl::Status served = hooks.Start(socket, options.app_uid); !served.ok()) {
    return Fail(kProgram, served, std::cerr);
  }
  std::optional<FastPathPublisher> fast_path;
  if (segment != nullptr) {
    fast_path.emplace(segment.get(), &chains, &logger, scheduler::SteadyClockMillis());
    fast_path->Start();
  }

  // The client heartbeats whether the reporter's stream is up, and the reporter asks the
  // client where the aggregator is: the reporter is made second and told through this.
  std::atomic<const Reporter*> reporter_made{nullptr};
  ControlClientOptions control;
  control.target = controller->ToGrpcTarget();
  control.token = bearer;
  control.registration.set_app(options.app);
  control.registration.set_instance_index(options.instance);
  control.registration.set_address(address);
  control.registration.set_port(options.port);
  control.registration.set_agent_version(kVersion);
  control.registration.set_packet_capable(packets != nullptr);
  // Tells this process's reconnects from a second agent claiming the same instance.
  absl::StatusOr<std::string> incarnation = NewIncarnation();
  if (!incarnation.ok()) return Fail(kProgram, incarnation.status(), std::cerr);
  control.registration.set_incarnation(*incarnation);
  control.aggregator_connected = [&reporter_made] {
    const Reporter* reporter = reporter_made.load();
    return reporter != nullptr && reporter->connected();
  };
  control.requests_handled = [&hooks, &fast_path] {
    return hooks.requests_handled() + (fast_path ? fast_path->observations() : 0);
  };
  control.committed = [&fast_path, &packets, &chains, &logger](uint64_t epoch) {
    if (fast_path) fast_path->RunRound();
    if (packets == nullptr) return;
    if (std::shared_ptr<const scheduler::ChainSet> current = chains.Current()) {
      if (absl::Status applied = packets->Apply(*current); !applied.ok()) {
        logger.Warning("packet path at epoch ", epoch, ": ", applied.message());
      }
    }
  };
  ControlClient client(control, &chains, &logger);
  client.Start();
  ReporterOptions reporting;
  reporting.app = options.app;
  reporting.instance = options.instance;
  reporting.interval = std::chrono::milliseconds(options.report_interval_ms);
  reporting.aggregator_address = [&client] { return client.aggregator_address(); };
  Reporter reporter(reporting, &chains, &logger);
  reporter_made.store(&reporter);
  reporter.Start();

  int signal_number = termination.Wait();
  logger.Info("signal ", signal_number, ": shutting down");
  // The hooks first, so what the app sent last is counted; then the reporter's last
  // batch carries it to the aggregator (a scale-down's state merge).
  hooks.Stop();
  if (fast_path) fast_path->Stop();
  if (packets != nullptr) packets->Stop();  // its flows end: their connections get reported
  reporter.Stop();
  client.Stop();  // before the reporter goes: its heartbeats ask the reporter
  logger.Info("stopped after ", hooks.requests_handled(), " hooked requests and ",
              fast_path ? fast_path->Summary() : "no fast path", "; packet path: ",
              packets != nullptr ? packets->Summary() : "off");
  return 0;
}

}  // namespace
}  // namespace middlepipe::agent

int main(int argc, char** argv) {
  middlepipe::agent::Options options;
  CLI::App app("middlepipe filter agent: runs an app container's middlepipe filters",
               "mp-agent");
  app.add_option("--controller", options.controller,
                 "Controller gRPC address: HOST:PORT or unix:///PATH");
  app.add_option("--app", options.app, "Name of the app this container runs");
  app.add_option("--instance", options.instance, "Index of this instance (0-based)")
      ->capture_default_str();
  app.add_option("--token-file", options.token_file, "File holding the user's bearer token");
  app.add_option("--socket", options.socket,
                 "Hook socket path (default: $MP_AGENT_SOCKET or /run/middlepipe/agent.sock)");
  app.add_option("--shm", options.shm,
                 "Fast-path shared memory path (default: $MP_AGENT_SHM or SOCKET.shm)");
  app.add_option("--app-uid", options.app_uid,
                 "User id that owns the fast-path segment (mode 0600): the container's app user "
                 "(default: the agent's own)")
      ->check(CLI::Range(int64_t{-1}, int64_t{4294967294}));
  app.add_option("--address", options.address,
                 "This instance's IP address (default: the first non-loopback IPv4 address)");
  app.add_option("--port", options.port,
                 "The port this instance's app serves on, if it serves (so chains to the app "
                 "can send to it)")
      ->check(CLI::Range(0u, 65535u));
  app.add_option("--report-interval-ms", options.report_interval_ms,
                 "How often filters' observations go to the aggregator")
      ->check(CLI::Range(10u, 600000u))
      ->capture_default_str();
  app.add_option("--packet-queue", options.packet_queue,
                 "NFQUEUE number for packet-level middlepipes (in the container's network "
                 "namespace)")
      ->check(CLI::Range(0u, 65535u))
      ->capture_default_str();
  middlepipe::AddVersionCommand(app, std::cout);
  if (auto exit_code = middlepipe::ParseCommandLine(app, argc, argv, std::cout, std::cerr)) {
    return *exit_code;
  }
  if (auto exit_code =
          middlepipe::RequireOptions(app, {"--controller", "--app", "--token-file"}, std::cerr)) {
    return *exit_code;
  }
  return middlepipe::agent::Run(options);
}

// Request-path benchmark: what a middlepipe adds to one HTTP call, side by side with a
// sidecar proxy hop, in one run on one machine.
//
// Rows (same service, same client library, same load):
//   direct          the app's client straight to the service (keep-alive)
//   middlepipe      the same call through the C++ hook, with a real mp-agent running a
//                   circuit-breaker + rate-limit + monitor chain under the user's
//                   aggregator (scope cluster, the default; a limit the load never
//                   reaches): the hook decides from the agent's shared-memory segment,
//                   no system call (the fast path, DESIGN.md §5)
//   middlepipe-socket
//                   the same chain with the hook's fast path off: one socket round trip
//                   per call, the outcome sent one way
//   middlepipe-instance-scope
//                   a breaker deciding alone (scope instance) + monitor: its responses
//                   may trip it, so the fast path asks the socket and the hook waits for
//                   OnResponse's reply (two round trips per call)
//   nginx-sidecar   the same call through nginx as a keep-alive reverse proxy on loopback
//   haproxy-sidecar the same through HAProxy (HTTP mode, connections to the service reused)
// Load (bench/request_path/load.h): for latency, a constant rate from several connections
// with latency counted from when each request was due (wrk2's correction for coordinated
// omission); for requests_per_second, the same connections back to back.
// The rows alternate within each round, so drift on a noisy machine hits all of them.
// Per row also the CPU the interposer spent (the agent, nginx or HAProxy) and the CPU
// the app's thread spent (the client, and for middlepipe rows the hook), per 1,000
// requests, and the interposer's resident memory after the load.
// Then, per round, the interleaved rows (load.h's Interleaved): direct, middlepipe and the
// two sidecars called one after another from one thread, one call each in random order, so the
// rows' differences are not swamped by this machine's drift; "interleaved_added_p50/p99",
// their ratio to the best sidecar's, and each row's calls per second on one connection
// over direct's ("interleaved_throughput_vs_direct").
// In-process costs without HTTP: decision_and_report_cost (the client core's verdict and
// report) and hook_call_cost (the whole C++ hook around a call that costs nothing).
// Also reports the agent's memory idle and after the load: all resident pages, and its
// own (anonymous) ones.
//
// Prints one JSON object per line and figure (see bench/report.py).
#include <signal.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>
#include <time.h>
#include <iostream>
#include <thread>

#include <CLI/CLI.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "bench/figures.h"
#include "bench/request_path/load.h"
#include "controller/client/controller_client.h"
#include "clients/cpp/hook.h"
#include "common/files.h"
#include "tests/support/child_process.h"
#include "tests/support/loopback_port.h"

namespace middlepipe::bench {
namespace {

using Clock = std::chrono::steady_clock;
using Stub = v1::Controller::Stub;

const Figures kFigures("request-path");

// A /proc/PID/status memory figure in MB: "VmRSS" (all resident pages) or "RssAnon" (the
// process's own; the rest of VmRSS is file-backed, mostly shared-library text that every
// agent on the host shares); or from smaps_rollup, "Pss" (shared pages divided among the
// processes that map them).
double MemoryMegabytes(pid_t pid, const std::string& field, const std::string& file = "status") {
  std::ifstream status(absl::StrCat("/proc/", pid, "/", file));
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::stod(line.substr(field.size() + 1)) / 1024.0;
  }
  return -1;
}

// CPU time (user + system) a process has used so far, in seconds.
double ProcessCpuSeconds(pid_t pid) {
  std::ifstream stat(absl::StrCat("/proc/", pid, "/stat"));
  std::string contents((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  // Fields after the command name (which may hold spaces) start after the last ')'.
  std::istringstream fields(contents.substr(contents.rfind(')') + 2));
  std::string field;
  long ticks = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14 || i == 15) ticks += std::stol(field);  // utime, stime
  }
  return static_cast<double>(ticks) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

struct Row {
  std::string name;
  CallerFactory make_caller;  // a caller with its own connection, per load thread
  pid_t interposer = 0;       // the process between app and service; 0 for none
};

// A caller doing GET /orders on its own cpp-httplib connection to port, through `hook`
// for `service` when given.
CallerFactory Getter(int port, Hook* hook = nullptr, std::string service = "") {
  return [port, hook, service] {
    auto client = std::make_shared<httplib::Client>("127.0.0.1", port);
    client->set_tcp_nodelay(true);
    // cpp-httplib closes the connection after each request unless told otherwise: a new
    // TCP connection per call would be most of what every row measures.
    client->set_keep_alive(true);
    return Caller([client, hook, service] {
      if (hook != nullptr) return hook->Get(*client, service, "/orders").status;
      auto response = client->Get("/orders");
      return response ? response->status : 0;
    });
  };
}

// The interleaved rows of one round: direct, middlepipe and the sidecars, taken from
// `rows` by name. False when a call failed.
bool EmitInterleaved(const std::vector<Row>& rows, int requests) {
  const std::vector<std::string> names = {"direct", "middlepipe", "nginx-sidecar", "haproxy-sidecar"};
  std::vector<CallerFactory> callers;
  for (const std::string& name : names) {
    for (const Row& row : rows) {
      if (row.name == name) callers.push_back(row.make_caller);
    }
  }
  const std::vector<LoadResult> results = Interleaved(callers, requests);
  for (size_t i = 0; i < names.size(); ++i) {
    if (results[i].failures > 0) {
      std::cerr << "request_latency: interleaved " << names[i] << ": " << results[i].failures
                << " calls failed\n";
      return false;
    }
  }
  std::map<std::string, std::vector<double>> added;  // p50, p99 over direct
  for (size_t i = 1; i < names.size(); ++i) {
    for (double percent : {50.0, 99.0}) {
      const double difference =
          Percentile(results[i].latencies_us, percent) - Percentile(results[0].latencies_us, percent);
      added[names[i]].push_back(difference);
      kFigures.Emit(names[i], absl::StrCat("interleaved_added_p", percent), "us", difference);
    }
    // Requests per second one connection gets, back to back, over direct's.
    kFigures.Emit(names[i], "interleaved_throughput_vs_direct", "ratio", results[0].seconds / results[i].seconds);
  }
  for (size_t i : {size_t{0}, size_t{1}}) {
    const double best_sidecar = std::min(added["nginx-sidecar"][i], added["haproxy-sidecar"][i]);
    kFigures.Emit("middlepipe", absl::StrCat("interleaved_added_p", i == 0 ? 50 : 99, "_vs_best_sidecar"),
                  "ratio", added["middlepipe"][i] / best_sidecar);
  }
  return true;
}

int Run(const std::string& controller_binary, const std::string& aggregator_binary,
        const std::string& agent_binary,
        const std::string& nginx_binary, const std::string& haproxy_binary, int requests,
        int rounds, double rate, int connections) {
  testing::ScratchDir scratch;

  // The service: a small keep-alive HTTP server.
  httplib::Server service;
  // cpp-httplib leaves Nagle on and writes headers and body separately: against a proxy
  // that delays its ACKs that is a 40 ms stall per request. Off for every row alike.
  service.set_tcp_nodelay(true);
  // Idle keep-alive connections (the load's, nginx's and HAProxy's pools) each hold a
  // worker: enough workers that none waits for one.
  service.new_task_queue = [] { return new httplib::ThreadPool(64); };
  // cpp-httplib closes a connection after 5 requests by default: keep them all.
  service.set_keep_alive_max_count(std::numeric_limits<size_t>::max());
  service.Get("/orders", [](const httplib::Request&, httplib::Response& response) {
    response.set_content("{\"orders\":[]}", "application/json");
  });
  const int service_port = service.bind_to_any_port("127.0.0.1");
  std::thread service_thread([&] { service.listen_after_bind(); });
  // Stops the service on every way out, an exception included (a joinable thread left
  // behind would end the process before the children below are stopped).
  struct StopService {
    httplib::Server& server;
    std::thread& thread;
    ~StopService() {
      server.stop();
      thread.join();
    }
  } stop_service{service, service_thread};

  // nginx as the sidecar: keep-alive to the service, no access log.
  const int nginx_port = testing::FreeLoopbackPort();
  std::ofstream(scratch / "nginx.conf")
      // One process (no master): a benchmark that ends early cannot orphan a worker.
      << "master_process off; daemon off; pid " << (scratch / "nginx.pid") << ";\n"
      << "error_log " << (scratch / "nginx.err") << " warn;\n"
      << "events { worker_connections 1024; }\n"
      << "http { access_log off;\n"
      << "  upstream service { server 127.0.0.1:" << service_port << "; keepalive 16; }\n"
      << "  server { listen 127.0.0.1:" << nginx_port << ";\n"
      << "    location / { proxy_pass http://service; proxy_http_version 1.1;\n"
      << "                 proxy_set_header Connection \"\"; } } }\n";
  auto nginx = testing::ChildProcess::Start(
      {nginx_binary, "-c", scratch / "nginx.conf", "-p", scratch.path(), "-e", scratch / "nginx.err"},
      scratch.path());
  if (!nginx.ok()) {
    std::cerr << "request_latency: cannot start nginx: " << nginx.status() << "\n";
    return 1;
  }

  // HAProxy as the sidecar: HTTP mode, keep-alive both sides, idle server connections
  // reused across requests, no logging; foreground (-db), one process.
  const int haproxy_port = testing::FreeLoopbackPort();
  std::ofstream(scratch / "haproxy.cfg")
      << "global\n  maxconn 1024\n  nbthread 1\n"
      << "defaults\n  mode http\n  option http-keep-alive\n  http-reuse always\n"
      << "  timeout connect 5s\n  timeout client 60s\n  timeout server 60s\n"
      << "frontend app\n  bind 127.0.0.1:" << haproxy_port << "\n  default_backend service\n"
      << "backend service\n  server orders 127.0.0.1:" << service_port << "\n";
  auto haproxy = testing::ChildProcess::Start(
      {haproxy_binary, "-db", "-f", scratch / "haproxy.cfg"}, scratch.path());
  if (!haproxy.ok()) {
    std::cerr << "request_latency: cannot start haproxy: " << haproxy.status() << "\n";
    return 1;
  }

  // The control plane and the agent, with breaker + monitor bound web -> orders.
  auto controller = testing::ChildProcess::Start(
      {controller_binary, "--data-dir", scratch / "data", "--grpc-listen",
       "unix://" + (scratch / "c.sock"), "--http-listen", "127.0.0.1:0", "--aggregator-binary",
       aggregator_binary},
      scratch.path());
  if (!controller.ok() || !controller->WaitForStderrLine("http listening", std::chrono::seconds(30))) {
    std::cerr << "request_latency: mp-controller did not start\n";
    return 1;
  }
  std::string token = *ReadFile(scratch / "data/admin-token");
  token.pop_back();
  WriteFileAtomically(scratch / "token", token, 0600).IgnoreError();
  // The segment on tmpfs, as under /run in a container (this machine's /tmp is on disk,
  // where the kernel would also write the segment back to the disk now and then).
  const std::string segment_path = absl::StrCat("/dev/shm/mp-bench-", getpid(), ".shm");
  auto agent = testing::ChildProcess::Start(
      {agent_binary, "--controller", "unix://" + (scratch / "c.sock"), "--app", "web",
       "--token-file", scratch / "token", "--socket", scratch / "agent.sock", "--shm", segment_path},
      scratch.path());
  if (!agent.ok() || !agent->WaitForStderrLine("running epoch 0", std::chrono::seconds(30))) {
    std::cerr << "request_latency: mp-agent did not start\n";
    return 1;
  }
  auto client = *controller::ControllerClient::Create({"unix://" + (scratch / "c.sock"), token});
  // orders: breaker + rate limit (cluster scope) + monitor; orders-alone: breaker
  // (instance scope) + monitor. Both are the same service.
  struct Binding {
    std::string kind;
    std::string suffix;
    std::string config;
  };
  const std::map<std::string, std::vector<Binding>> chains = {
      {"orders",
       {{"circuit-breaker", "breaker", R"({"scope":"cluster"})"},
        {"rate-limit", "limit", R"({"requests_per_second":1000000,"burst":100000})"},
        {"monitor", "monitor", "{}"}}},
      {"orders-alone", {{"circuit-breaker", "breaker", R"({"scope":"instance"})"}, {"monitor", "monitor", "{}"}}},
  };
  for (const auto& [service_name, bindings] : chains) {
    v1::RegisterServiceRequest registration;
    registration.set_name(service_name);
    registration.add_endpoints()->set_host("127.0.0.1");
    registration.mutable_endpoints(0)->set_port(static_cast<uint32_t>(service_port));
    if (auto registered = client.Call(&Stub::RegisterService, registration); !registered.ok()) {
      std::cerr << "request_latency: cannot register the service: " << registered.status() << "\n";
      return 1;
    }
    for (const auto& [kind, suffix, config] : bindings) {
      const std::string name = absl::StrCat(service_name, "-", suffix);
      v1::CreateMiddlepipeRequest create;
      create.set_kind(kind);
      create.set_name(name);
      create.set_config_json(config);
      v1::BindMiddlepipeRequest bind;
      bind.set_name(name);
      bind.set_app("web");
      bind.set_service(service_name);
      auto created = client.Call(&Stub::CreateMiddlepipe, create);
      auto bound = client.Call(&Stub::BindMiddlepipe, bind);
      if (!created.ok() || !bound.ok() || bound->rollout().instances_applied() != 1) {
        std::cerr << "request_latency: could not bind " << name << "\n";
        return 1;
      }
    }
  }
  kFigures.Emit("middlepipe", "agent_rss_idle", "MB", MemoryMegabytes(agent->pid(), "VmRSS"));
  kFigures.Emit("middlepipe", "agent_private_idle", "MB", MemoryMegabytes(agent->pid(), "RssAnon"));
  kFigures.Emit("middlepipe", "agent_pss_idle", "MB", MemoryMegabytes(agent->pid(), "Pss", "smaps_rollup"));

  HookOptions hook_options;
  hook_options.socket_path = scratch / "agent.sock";
  hook_options.shm_path = segment_path;
  Hook hook(hook_options);
  Hook alone_hook(hook_options);  // its own, so `hook`'s counts are the orders chain's
  hook_options.fast_path = false;
  Hook socket_hook(hook_options);
  {
    // Until the aggregator's first decision (after the agent's first report) the breaker
    // decides alone; give it that time before measuring.
    httplib::Client direct("127.0.0.1", service_port);
    const auto settle = Clock::now() + std::chrono::seconds(2);
    while (Clock::now() < settle) hook.Get(direct, "orders", "/orders");
  }
  const uint64_t decided_before = hook.fast_path()->decided();
  const uint64_t asked_before = hook.fast_path()->asked();
  {
    // The fast path's own cost, without HTTP: a verdict and its outcome, back to back.
    fastpath::ClientOptions core_options;
    core_options.path = segment_path;
    fastpath::Client core(core_options);
    // Fewer calls than the limit's burst, and a pause for it to refill after each loop,
    // so every call is the ordinary one (passed), never the limited answer.
    constexpr int kDecisions = 50000;
    int passed = 0;
    const auto started = Clock::now();
    for (int i = 0; i < kDecisions; ++i) {
      fastpath::Verdict verdict = core.OnRequest("orders");
      passed += verdict.action == fastpath::Action::kContinue;
      core.OnResponse(verdict, 200, 100);
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
    kFigures.Emit("middlepipe", "decision_and_report_cost", "us", seconds * 1e6 / kDecisions);
    kFigures.Emit("middlepipe", "decision_and_report_in_process", "ratio",
                  static_cast<double>(passed) / kDecisions);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));

    // The whole C++ hook around a call that costs nothing (a canned response): what the
    // hook adds in the app's thread, HTTP aside, over calling the same sender directly.
    HttpResponse canned;
    canned.status = 200;
    canned.body = "ok";
    const Hook::Sender sender = [&canned](const Destination&, const HttpRequest&) { return canned; };
    HttpRequest request;
    request.path = "/orders";
    auto per_call_us = [&](const std::function<void()>& call) {
      const auto began = Clock::now();
      for (int i = 0; i < kDecisions; ++i) call();
      return std::chrono::duration<double, std::micro>(Clock::now() - began).count() / kDecisions;
    };
    const double bare = per_call_us([&] { sender(Destination{"orders", {}}, request); });
    const double hooked = per_call_us([&] { hook.Call("orders", request, sender); });
    kFigures.Emit("middlepipe", "hook_call_cost", "us", hooked - bare);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  const std::vector<Row> rows = {
      {"direct", Getter(service_port), 0},
      {"middlepipe", Getter(service_port, &hook, "orders"), agent->pid()},
      {"middlepipe-socket", Getter(service_port, &socket_hook, "orders"), agent->pid()},
      {"middlepipe-instance-scope", Getter(service_port, &alone_hook, "orders-alone"), agent->pid()},
      {"nginx-sidecar", Getter(nginx_port), nginx->pid()},
      {"haproxy-sidecar", Getter(haproxy_port), haproxy->pid()},
  };
  constexpr double kPercents[] = {50, 90, 99};
  for (int round = 0; round < rounds; ++round) {
    std::map<std::string, std::vector<double>> percentiles;
    std::map<std::string, double> requests_per_second;
    for (const Row& row : rows) {
      ClosedLoop(row.make_caller, std::max(requests / 10, connections), connections);  // warm up
      const LoadResult capacity = ClosedLoop(row.make_caller, requests, connections);
      const double interposer_cpu_before = row.interposer ? ProcessCpuSeconds(row.interposer) : 0;
      const LoadResult load = ConstantRate(row.make_caller, rate, requests, connections);
      if (capacity.failures + load.failures > 0) {
        std::cerr << "request_latency: " << row.name << ": " << capacity.failures + load.failures
                  << " calls failed\n";
        return 1;
      }
      // CPU milliseconds per 1,000 requests (= CPU microseconds per request).
      const double per_thousand = 1e6 / requests;
      kFigures.Emit(row.name, "app_cpu_per_1000", "ms", load.client_cpu_seconds * per_thousand);
      if (row.interposer != 0) {
        kFigures.Emit(row.name, "interposer_cpu_per_1000", "ms",
                      (ProcessCpuSeconds(row.interposer) - interposer_cpu_before) * per_thousand);
      }
      for (double percent : kPercents) {
        percentiles[row.name].push_back(Percentile(load.latencies_us, percent));
        kFigures.Emit(row.name, absl::StrCat("latency_p", percent), "us", percentiles[row.name].back());
      }
      requests_per_second[row.name] = requests / capacity.seconds;
      kFigures.Emit(row.name, "requests_per_second", "1/s", requests_per_second[row.name]);
    }
    for (const Row& row : rows) {
      if (row.name == "direct") continue;
      for (size_t i = 0; i < std::size(kPercents); ++i) {
        kFigures.Emit(row.name, absl::StrCat("added_latency_p", kPercents[i]), "us",
                      percentiles[row.name][i] - percentiles["direct"][i]);
      }
      kFigures.Emit(row.name, "throughput_vs_direct", "ratio",
                    requests_per_second[row.name] / requests_per_second["direct"]);
    }
    // What the middlepipe adds over what the best sidecar adds (p50, p99).
    for (size_t i : {size_t{0}, size_t{2}}) {
      auto added = [&](const std::string& row) { return percentiles[row][i] - percentiles["direct"][i]; };
      const double best_sidecar = std::min(added("nginx-sidecar"), added("haproxy-sidecar"));
      for (const std::string row : {"middlepipe", "middlepipe-socket"}) {
        kFigures.Emit(row, absl::StrCat("added_p", kPercents[i], "_vs_best_sidecar"), "ratio",
                      added(row) / best_sidecar);
      }
    }
    if (!EmitInterleaved(rows, requests)) return 1;
  }
  // Calls of the middlepipe row decided in-process, not over the socket.
  const double decided = static_cast<double>(hook.fast_path()->decided() - decided_before);
  kFigures.Emit("middlepipe", "decided_in_process", "ratio",
                decided / (decided + static_cast<double>(hook.fast_path()->asked() - asked_before)));
  kFigures.Emit("middlepipe", "agent_rss_loaded", "MB", MemoryMegabytes(agent->pid(), "VmRSS"));
  kFigures.Emit("middlepipe", "interposer_rss", "MB", MemoryMegabytes(agent->pid(), "VmRSS"));
  kFigures.Emit("nginx-sidecar", "interposer_rss", "MB", MemoryMegabytes(nginx->pid(), "VmRSS"));
  kFigures.Emit("haproxy-sidecar", "interposer_rss", "MB", MemoryMegabytes(haproxy->pid(), "VmRSS"));
  kFigures.Emit("middlepipe", "agent_private_loaded", "MB", MemoryMegabytes(agent->pid(), "RssAnon"));

  agent->Signal(SIGTERM);
  agent->WaitForExit(std::chrono::seconds(20));
  controller->Signal(SIGTERM);
  controller->WaitForExit(std::chrono::seconds(20));
  nginx->Signal(SIGTERM);
  nginx->WaitForExit(std::chrono::seconds(20));
  haproxy->Signal(SIGTERM);
  haproxy->WaitForExit(std::chrono::seconds(20));
  return 0;
}

}  // namespace
}  // namespace middlepipe::bench

int main(int argc, char** argv) {
  std::string controller = "controller/mp-controller";
  std::string agent = "filter-agent/mp-agent";
  std::string aggregator = "aggregator/mp-aggregator";
  std::string nginx = "/usr/sbin/nginx";
  std::string haproxy = "/usr/sbin/haproxy";
  int requests = 5000;
  int rounds = 3;
  double rate = 2000;
  int connections = 4;
  CLI::App app("added latency per request: direct vs middlepipe vs nginx and haproxy sidecars",
               "request_latency");
  app.add_option("--controller", controller, "Path of mp-controller");
  app.add_option("--agent", agent, "Path of mp-agent");
  app.add_option("--aggregator", aggregator, "Path of mp-aggregator");
  app.add_option("--nginx", nginx, "Path of nginx");
  app.add_option("--haproxy", haproxy, "Path of haproxy");
  app.add_option("--requests", requests, "Requests per row and round")->check(CLI::Range(10, 10000000));
  app.add_option("--rounds", rounds, "Rounds (rows alternate within each)")->check(CLI::Range(1, 100));
  app.add_option("--rate", rate, "Requests per second of the constant-rate load (all connections)")
      ->check(CLI::Range(1.0, 1e6))
      ->capture_default_str();
  app.add_option("--connections", connections, "Connections (load threads) per row")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  try {
    return middlepipe::bench::Run(controller, aggregator, agent, nginx, haproxy, requests, rounds, rate,
                                  connections);
  } catch (const std::exception& error) {
    // Caught, so the stack unwinds and the children (nginx, HAProxy, the control plane,
    // the agent) are stopped with it instead of outliving the benchmark.
    std::cerr << "request_latency: " << error.what() << "\n";
    return 1;
  }
}

// HTTP-side benchmark: does the controller's HTTP side keep answering while clients hold
// it (issue: 64 idle connections stalled /healthz for 39 s)? Side by side in one run:
//   - `mp-controller`: the real controller (libmicrohttpd event loop, DESIGN.md §8);
//   - `cpp-httplib-8-workers`: the server the controller used before, configured as it was
//     (cpp-httplib's thread pool, 8 workers on this 2-core machine, its default timeouts),
//     serving the same /healthz, with event streams that hold a worker as the old
//     dashboard's did.
// Each is measured quiet and then with 64 idle TCP connections and 50 event streams
// open; /healthz latency is taken over keep-alive requests, each given 2 s before it
// counts as failed. Also: the controller's resident-memory growth after an
// unauthenticated 200 MB broker PUT.
//
// Prints one JSON object per line and figure (bench/figures.h).
#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <iostream>
#include <memory>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "bench/figures.h"
#include "common/files.h"
#include "tests/support/child_process.h"
#include "tests/support/loopback_port.h"

namespace middlepipe::bench {
namespace {

using Clock = std::chrono::steady_clock;
const Figures kFigures("http-side");

// A TCP connection that sends `request` (maybe nothing) and then just stays open.
class HeldConnection {
 public:
  HeldConnection(int port, const std::string& request) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
        !request.empty()) {
      (void)!send(fd_, request.data(), request.size(), MSG_NOSIGNAL);
    }
  }
  ~HeldConnection() { close(fd_); }

 private:
  int fd_ = -1;
};

struct Latencies {
  std::vector<double> ms;
  int failed = 0;
};

Latencies MeasureHealth(int port, int requests) {
  Latencies result;
  httplib::Client client("127.0.0.1", port);
  client.set_keep_alive(true);
  client.set_connection_timeout(2, 0);
  client.set_read_timeout(2, 0);
  for (int i = 0; i < requests; ++i) {
    const auto start = Clock::now();
    auto answer = client.Get("/healthz");
    const double elapsed = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    if (answer && answer->status == 200) {
      result.ms.push_back(elapsed);
    } else {
      ++result.failed;
    }
  }
  return result;
}

// Percentiles only of requests that were answered; a row where none was has only its
// failure count.
void Report(const std::string& row, const Latencies& latencies) {
  if (!latencies.ms.empty()) {
    kFigures.Emit(row, "healthz_p50", "ms", Percentile(latencies.ms, 50));
    kFigures.Emit(row, "healthz_p99", "ms", Percentile(latencies.ms, 99));
  }
  kFigures.Emit(row, "healthz_failed", "requests", latencies.failed);
}

// Quiet, then held by 64 idle connections and 50 event streams.
void MeasureServer(const std::string& name, int port, const std::string& stream_request,
                   int requests) {
  MeasureHealth(port, 20);  // warm up
  Report(name + "/quiet", MeasureHealth(port, requests));
  std::vector<std::unique_ptr<HeldConnection>> held;
  for (int i = 0; i < 64; ++i) held.push_back(std::make_unique<HeldConnection>(port, ""));
  for (int i = 0; i < 50; ++i) {
    held.push_back(std::make_unique<HeldConnection>(port, stream_request));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  Report(name + "/64-idle-50-streams", MeasureHealth(port, requests));
}


int Run(const std::string& controller_binary, int requests) {
  signal(SIGPIPE, SIG_IGN);
  testing::ScratchDir scratch;
  const int http_port = testing::FreeLoopbackPort();
  (void)!WriteFileAtomically(scratch / "broker-password", "bench-password-1\n", 0600).ok();
  auto controller = testing::ChildProcess::Start(
      {controller_binary, "--data-dir", scratch / "data", "--grpc-listen",
       "unix://" + (scratch / "c.sock"), "--http-listen", absl::StrCat("127.0.0.1:", http_port),
       "--broker-user", "platform", "--broker-password-file", scratch / "broker-password"},
      scratch.path());
  if (!controller.ok() ||
      !controller->WaitForStderrLine("http listening", std::chrono::seconds(30))) {
    std::cerr << "health_under_load: mp-controller did not start\n";
    return 1;
  }
  std::string token = *ReadFile(scratch / "data/admin-token");
  token.pop_back();  // newline
  MeasureServer("mp-controller", http_port,
                absl::StrCat("GET /dashboard/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ",
                             token, "\r\n\r\n"),
                requests);

  // The memory an unauthenticated 200 MB body costs the controller.
  const long before = controller->ResidentKb();
  {
    httplib::Client anonymous("127.0.0.1", http_port);
    anonymous.set_read_timeout(10, 0);
    anonymous.Put("/v2/service_instances/x", {{"X-Broker-API-Version", "2.17"}},
                  std::string(200 << 20, 'x'), "application/json");
  }
  kFigures.Emit("mp-controller", "unauthenticated_200mb_body_rss_growth", "MB",
                static_cast<double>(controller->ResidentKb() - before) / 1024.0);

  // The server the controller used before, as it was set up.
  httplib::Server before_server;
  std::atomic<bool> stopping{false};
  before_server.Get("/healthz", [](const httplib::Request&, httplib::Response& response) {
    response.set_content("ok\n", "text/plain");
  });
  before_server.Get("/events", [&stopping](const httplib::Request&, httplib::Response& response) {
    response.set_chunked_content_provider("text/event-stream", [&stopping](size_t,
                                                                           httplib::DataSink& sink) {
      const std::string event = "data: {}\n\n";
      if (stopping.load() || !sink.write(event.data(), event.size())) return false;
      for (int i = 0; i < 10 && !stopping.load(); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      return !stopping.load();
    });
  });
  before_server.new_task_queue = [] { return new httplib::ThreadPool(8); };
  before_server.set_tcp_nodelay(true);  // as the controller's HttpServer set it
  const int before_port = before_server.bind_to_any_port("127.0.0.1");
  std::thread serving([&] { before_server.listen_after_bind(); });
  while (!before_server.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  // Fewer requests: each one that stalls costs the 2 s timeout.
  MeasureServer("cpp-httplib-8-workers", before_port, "GET /events HTTP/1.1\r\nHost: x\r\n\r\n",
                std::max(requests / 10, 5));
  stopping = true;
  before_server.stop();
  serving.join();
  return 0;
}

}  // namespace
}  // namespace middlepipe::bench

int main(int argc, char** argv) {
  std::string controller = "controller/mp-controller";
  int requests = 500;
  CLI::App app("HTTP side: /healthz while idle connections and event streams hold the server");
  app.add_option("--controller", controller, "mp-controller binary");
  app.add_option("--requests", requests, "/healthz requests per row");
  CLI11_PARSE(app, argc, argv);
  return middlepipe::bench::Run(controller, requests);
}

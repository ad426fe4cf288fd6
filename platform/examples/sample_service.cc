// sample-service: the service of the demos and end-to-end tests. Serves GET /orders, and
// can be told to fail or slow down, so a breaker has something to react to:
//   POST /control/fail?on=1|0      answer 500 (or 200 again)
//   POST /control/delay?ms=N       wait N ms before answering
//   GET  /control/stats            {"calls": N} — /orders calls received so far
// From a shell: curl -X POST -d '' 'http://HOST:PORT/control/fail?on=1' (the empty body
// gives the POST a Content-Length, which the HTTP server requires).
#include <atomic>
#include <chrono>
#include <iostream>
#include <thread>

#include <CLI/CLI.hpp>
#include <httplib.h>

#include "absl/strings/numbers.h"
#include "common/address.h"
#include "common/command_line.h"
#include "common/logger.h"
#include "common/termination.h"

int main(int argc, char** argv) {
  std::string listen = "127.0.0.1:8080";
  CLI::App app("sample service for middlepipe demos: GET /orders, fails or slows on request",
               "sample-service");
  app.footer(
      "Control:\n  curl -X POST -d '' 'http://HOST:PORT/control/fail?on=1'   (on=0 to recover)\n"
      "  curl -X POST -d '' 'http://HOST:PORT/control/delay?ms=300'\n"
      "  curl http://HOST:PORT/control/stats");
  app.add_option("--listen", listen, "HOST:PORT (port 0: any)")->capture_default_str();
  middlepipe::AddVersionCommand(app, std::cout);
  if (auto exit_code = middlepipe::ParseCommandLine(app, argc, argv, std::cout, std::cerr)) {
    return *exit_code;
  }
  middlepipe::TerminationSignals termination;
  middlepipe::Logger logger("sample-service", &std::cerr);
  auto address = middlepipe::ParseAddress(listen);
  if (!address.ok() || address->family != middlepipe::Address::Family::kTcp) {
    return middlepipe::Fail("sample-service", absl::InvalidArgumentError("--listen: HOST:PORT"),
                            std::cerr);
  }

  std::atomic<bool> failing{false};
  std::atomic<int> delay_ms{0};
  std::atomic<long> calls{0};
  httplib::Server server;
  server.set_tcp_nodelay(true);
  server.Get("/orders", [&](const httplib::Request&, httplib::Response& response) {
    ++calls;
    if (int delay = delay_ms.load(); delay > 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(delay));
    }
    response.status = failing.load() ? 500 : 200;
    response.set_content(failing.load() ? "{\"error\":\"failing on purpose\"}" : "{\"orders\":[]}",
                         "application/json");
  });
  server.Post("/control/fail", [&](const httplib::Request& request, httplib::Response& response) {
    failing.store(request.get_param_value("on") == "1");
    logger.Info("failing ", failing.load() ? "on" : "off");
    response.set_content("ok\n", "text/plain");
  });
  server.Post("/control/delay", [&](const httplib::Request& request, httplib::Response& response) {
    int ms = 0;
    if (!absl::SimpleAtoi(request.get_param_value("ms"), &ms) || ms < 0) {
      response.status = 400;
      response.set_content("ms must be a number >= 0\n", "text/plain");
      return;
    }
    delay_ms.store(ms);
    logger.Info("delay ", ms, " ms");
    response.set_content("ok\n", "text/plain");
  });
  server.Get("/control/stats", [&](const httplib::Request&, httplib::Response& response) {
    response.set_content("{\"calls\":" + std::to_string(calls.load()) + "}\n", "application/json");
  });

  int port = address->port == 0 ? server.bind_to_any_port(address->host)
                                : (server.bind_to_port(address->host, address->port) ? address->port : -1);
  if (port < 0) {
    return middlepipe::Fail("sample-service",
                            absl::UnavailableError("cannot listen on " + listen), std::cerr);
  }
  std::thread serving([&] { server.listen_after_bind(); });
  // cpp-httplib ignores stop() until its listen loop runs (see controller/http_api.cc).
  while (!server.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  logger.Info("listening on ", address->host, ":", port);
  termination.Wait();
  server.stop();
  serving.join();
  logger.Info("stopped after ", calls.load(), " calls");
  return 0;
}

// sample-app: the app of the demos. Calls a service through the C++ client hook, one line
// per call, so a user watching it sees the middlepipes act:
//   200 in 0.4 ms
//   callback circuit-breaker orders-breaker open: 50% of 20 calls failed (threshold 50%)
//   CircuitOpenError: circuit-breaker orders-breaker: open (...)
#include <chrono>
#include <iostream>
#include <thread>

#include <CLI/CLI.hpp>
#include <httplib.h>

#include "clients/cpp/hook.h"
#include "common/command_line.h"

int main(int argc, char** argv) {
  std::string service = "orders";
  std::string host = "127.0.0.1";
  int port = 8080;
  std::string path = "/orders";
  int calls = 0;
  int interval_ms = 200;
  CLI::App app("sample app for middlepipe demos: calls a service through the client hook",
               "sample-app");
  app.add_option("--service", service, "Service name, as bound")->capture_default_str();
  app.add_option("--host", host, "Where the service listens")->capture_default_str();
  app.add_option("--port", port, "Its port")->capture_default_str();
  app.add_option("--path", path, "Path to GET")->capture_default_str();
  app.add_option("--calls", calls, "How many calls (0: until stopped)")->capture_default_str();
  app.add_option("--interval-ms", interval_ms, "Pause between calls")->capture_default_str();
  middlepipe::AddVersionCommand(app, std::cout);
  if (auto exit_code = middlepipe::ParseCommandLine(app, argc, argv, std::cout, std::cerr)) {
    return *exit_code;
  }

  middlepipe::Hook hook;  // $MP_AGENT_SOCKET
  hook.On("*", [](const middlepipe::CallbackEvent& event) {
    std::cout << "callback " << event.kind << " " << event.middlepipe << " " << event.event
              << (event.detail.empty() ? "" : ": " + event.detail) << std::endl;
  });
  httplib::Client client(host, port);
  client.set_tcp_nodelay(true);
  for (int i = 0; calls == 0 || i < calls; ++i) {
    const auto start = std::chrono::steady_clock::now();
    try {
      middlepipe::HttpResponse response = hook.Get(client, service, path);
      const double ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
      std::cout << (response.status == 0 ? "transport error: " + response.transport_error
                                         : std::to_string(response.status))
                << " in " << ms << " ms" << std::endl;
    } catch (const middlepipe::CircuitOpenError& error) {
      std::cout << "CircuitOpenError: " << error.what() << std::endl;
    } catch (const middlepipe::MiddlepipeError& error) {
      std::cout << "MiddlepipeError: " << error.what() << std::endl;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(interval_ms));
  }
  return 0;
}

// sample-app: the app of the demos. Calls a service through the C++ client hook, one line
// per call, each with the time, so a user watching it sees the middlepipes act:
//   14:02:11.250 200 in 0.4 ms
//   14:02:11.350 callback circuit-breaker orders-breaker open: 50% of 20 calls failed ...
//   14:02:11.350 CircuitOpenError: circuit-breaker orders-breaker: open (...)
#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <ctime>
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

  // Each line starts with the wall-clock time, so the demo can show several instances
  // reacting to one decision at the same moment.
  auto stamp = [] {
    const auto now = std::chrono::system_clock::now();
    const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
    const auto millis =
        std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
    std::tm local{};
    localtime_r(&seconds, &local);
    char text[32];
    std::snprintf(text, sizeof(text), "%02d:%02d:%02d.%03d ", local.tm_hour, local.tm_min,
                  local.tm_sec, static_cast<int>(millis));
    return std::string(text);
  };
  middlepipe::Hook hook;  // $MP_AGENT_SOCKET
  hook.On("*", [&stamp](const middlepipe::CallbackEvent& event) {
    std::cout << stamp() << "callback " << event.kind << " " << event.middlepipe << " " << event.event
              << (event.detail.empty() ? "" : ": " + event.detail) << std::endl;
  });
  httplib::Client client(host, port);
  client.set_tcp_nodelay(true);
  // SIGTERM ends the loop after the call in flight, so each call is whole: made, answered
  // and reported (a platform scaling down stops the app before its agent).
  static volatile std::sig_atomic_t terminated = 0;
  std::signal(SIGTERM, [](int) { terminated = 1; });
  std::signal(SIGINT, [](int) { terminated = 1; });
  for (int i = 0; (calls == 0 || i < calls) && !terminated; ++i) {
    const auto start = std::chrono::steady_clock::now();
    try {
      middlepipe::HttpResponse response = hook.Get(client, service, path);
      const double ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
      std::cout << stamp() << (response.status == 0 ? "transport error: " + response.transport_error
                                         : std::to_string(response.status))
                << " in " << ms << " ms" << std::endl;
    } catch (const middlepipe::CircuitOpenError& error) {
      std::cout << stamp() << "CircuitOpenError: " << error.what() << std::endl;
    } catch (const middlepipe::MiddlepipeError& error) {
      std::cout << stamp() << "MiddlepipeError: " << error.what() << std::endl;
    }
    for (int slept = 0; slept < interval_ms && !terminated; slept += 10) {
      std::this_thread::sleep_for(std::chrono::milliseconds(std::min(10, interval_ms - slept)));
    }
  }
  return 0;
}

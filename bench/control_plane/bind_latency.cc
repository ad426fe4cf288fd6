// Control-plane benchmark: how long from `mp bind-middlepipe` to the change committed on
// every instance, with N agents connected. Starts a real mp-controller, connects an
// AgentSwarm, then binds and unbinds a middlepipe repeatedly; each call returns only
// once every live instance acknowledged the commit (or the rollout timed out, which the
// benchmark reports as a failure rather than a fast sample).
//
// Prints one JSON object per line and figure:
//   {"suite":"control-plane","row":"agents-100","metric":"bind_to_committed_p99","unit":"ms","value":..}
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <iostream>
#include <thread>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "bench/control_plane/agent_swarm.h"
#include "bench/figures.h"
#include "controller/client/controller_client.h"
#include "common/files.h"
#include "tests/support/child_process.h"

namespace middlepipe::bench {
namespace {

using Clock = std::chrono::steady_clock;
using Stub = v1::Controller::Stub;

double Milliseconds(Clock::duration duration) {
  return std::chrono::duration<double, std::milli>(duration).count();
}

const Figures kFigures("control-plane");

int Run(const std::string& controller_binary, int agents, int iterations) {
  testing::ScratchDir scratch;
  auto controller = testing::ChildProcess::Start(
      {controller_binary, "--data-dir", scratch / "data", "--grpc-listen",
       "unix://" + (scratch / "c.sock"), "--http-listen", "127.0.0.1:0",
       "--heartbeat-interval-ms", "60000", "--rollout-timeout-ms", "10000"},
      scratch.path());
  if (!controller.ok() || !controller->WaitForStderrLine("http listening", std::chrono::seconds(30))) {
    std::cerr << "bind_latency: mp-controller did not start\n";
    return 1;
  }
  const std::string target = "unix://" + (scratch / "c.sock");
  std::string token = *ReadFile(scratch / "data/admin-token");
  token.pop_back();  // newline
  auto client =
      *controller::ControllerClient::Create({target, token, std::chrono::milliseconds(30000)});

  v1::CreateMiddlepipeRequest create;
  create.set_kind("monitor");
  create.set_name("watch");
  v1::RegisterServiceRequest service;
  service.set_name("orders");
  service.add_endpoints()->set_host("198.18.100.1");
  service.mutable_endpoints(0)->set_port(8080);
  if (!client.Call(&Stub::CreateMiddlepipe, create).ok() ||
      !client.Call(&Stub::RegisterService, service).ok()) {
    std::cerr << "bind_latency: setup calls failed\n";
    return 1;
  }

  const auto connect_start = Clock::now();
  AgentSwarm swarm(target, token, "web", agents, std::min(agents, 8));
  while (swarm.AtEpoch(0) < agents) {
    if (Clock::now() - connect_start > std::chrono::seconds(120) || swarm.Ended() > 0) {
      std::cerr << "bind_latency: only " << swarm.AtEpoch(0) << "/" << agents << " agents ready\n";
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const std::string row = absl::StrCat("agents-", agents);
  kFigures.Emit(row, "all_agents_ready", "ms", Milliseconds(Clock::now() - connect_start));

  std::vector<double> samples;
  v1::BindMiddlepipeRequest bind;
  bind.set_name("watch");
  bind.set_app("web");
  bind.set_service("orders");
  v1::UnbindMiddlepipeRequest unbind;
  unbind.set_name("watch");
  unbind.set_app("web");
  unbind.set_service("orders");
  for (int i = 0; i < iterations; ++i) {
    for (bool binding : {true, false}) {
      const auto start = Clock::now();
      absl::StatusOr<v1::Rollout> rollout;
      if (binding) {
        auto bound = client.Call(&Stub::BindMiddlepipe, bind);
        rollout = bound.ok() ? absl::StatusOr<v1::Rollout>(bound->rollout()) : bound.status();
      } else {
        auto unbound = client.Call(&Stub::UnbindMiddlepipe, unbind);
        rollout = unbound.ok() ? absl::StatusOr<v1::Rollout>(unbound->rollout()) : unbound.status();
      }
      const double elapsed = Milliseconds(Clock::now() - start);
      if (!rollout.ok() || rollout->instances_applied() != static_cast<uint32_t>(agents)) {
        std::cerr << "bind_latency: rollout did not reach every agent: "
                  << (rollout.ok() ? absl::StrCat(rollout->instances_applied(), "/", agents)
                                   : std::string(rollout.status().message()))
                  << "\n";
        return 1;
      }
      samples.push_back(elapsed);
    }
  }
  kFigures.Emit(row, "bind_to_committed_p50", "ms", Percentile(samples, 50));
  kFigures.Emit(row, "bind_to_committed_p99", "ms", Percentile(samples, 99));

  controller->Signal(SIGTERM);
  controller->WaitForExit(std::chrono::seconds(20));
  return 0;
}

}  // namespace
}  // namespace middlepipe::bench

int main(int argc, char** argv) {
  std::string controller = "controller/mp-controller";
  int agents = 100;
  int iterations = 20;
  CLI::App app("bind -> committed latency with N agents", "bind_latency");
  app.add_option("--controller", controller, "Path of the mp-controller binary");
  app.add_option("--agents", agents, "Connected agents")->check(CLI::Range(1, 5000));
  app.add_option("--iterations", iterations, "Bind+unbind pairs to time")->check(CLI::Range(1, 10000));
  CLI11_PARSE(app, argc, argv);
  return middlepipe::bench::Run(controller, agents, iterations);
}

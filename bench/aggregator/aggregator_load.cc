// Aggregator benchmark: a real mp-aggregator (pinned to CPU 0) and simulated agents in
// this process (pinned to CPU 1, tests/support/report_swarm.h).
//
// ingest: `--agents` agents send batches as fast as the aggregator acknowledges them (at
//   most 8 unacknowledged each), every batch one report per bound service of a breaker
//   and a monitor, each report covering `--requests-per-report` calls with a latency
//   histogram (what an agent reports for an instance doing 400 calls/s every 250 ms).
//   Figures: reports/s, request observations/s, and observations per second of the
//   aggregator's own CPU time (its one-core capacity, whatever the load generator did).
// fanout: 1,000 connected agents; all but one report one failed call, then the last one
//   reports the call that crosses the breaker's threshold (min_requests = agents). The
//   figure is the time from that Send to the open decision arriving at each agent: p50,
//   p99 and max over the agents.
#include <sched.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include <CLI/CLI.hpp>

#include "absl/strings/str_cat.h"
#include "bench/figures.h"
#include "tests/support/aggregator_process.h"
#include "tests/support/report_swarm.h"
#include "tests/support/wait_for.h"

namespace middlepipe::bench {
namespace {

using Clock = std::chrono::steady_clock;
using testing::ReportSwarm;
using testing::WaitFor;

const Figures kFigures("aggregator");

void PinTo(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  sched_setaffinity(0, sizeof(set), &set);
}

// utime + stime of a process, in seconds.
double CpuSeconds(pid_t pid) {
  std::ifstream stat(absl::StrCat("/proc/", pid, "/stat"));
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  std::istringstream fields(text.substr(text.rfind(')') + 2));
  std::string field;
  double ticks = 0;
  for (int index = 3; fields >> field; ++index) {
    if (index == 14 || index == 15) ticks += std::stod(field);
    if (index == 15) break;
  }
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

v1::Report WithHistogram(v1::Report report) {
  v1::Histogram* latency = report.mutable_request_stats()->mutable_latency();
  for (double bound : {1.0, 5.0, 10.0, 50.0, 100.0, 500.0}) latency->add_bounds_ms(bound);
  const uint64_t calls = report.request_stats().requests();
  for (uint64_t count : {calls / 2, calls / 4, calls / 8, calls / 16, calls / 16, uint64_t{0}, uint64_t{0}}) {
    latency->add_counts(count);
  }
  latency->set_sum_ms(static_cast<double>(calls) * 3.2);
  return report;
}

int Ingest(testing::AggregatorProcess& aggregator, int agents, int services,
           uint64_t requests_per_report, double seconds) {
  std::vector<v1::AggregatedMiddlepipe> middlepipes;
  for (int s = 0; s < services; ++s) {
    const std::string service = absl::StrCat("svc-", s);
    middlepipes.push_back(testing::BoundMiddlepipe(absl::StrCat("breaker-", s), "circuit-breaker",
                                                   R"({"min_requests": 1000000})", "web", service));
    middlepipes.push_back(testing::BoundMiddlepipe(absl::StrCat("watch-", s), "monitor",
                                                   R"({"buckets_ms": [1, 5, 10, 50, 100, 500]})",
                                                   "web", service));
  }
  if (absl::Status configured = aggregator.Configure(middlepipes); !configured.ok()) {
    std::cerr << "aggregator_load: " << configured << "\n";
    return 1;
  }
  std::vector<v1::Report> batch;
  for (int s = 0; s < services; ++s) {
    const std::string service = absl::StrCat("svc-", s);
    const uint64_t failed = requests_per_report / 100;
    batch.push_back(WithHistogram(testing::CallsReport(absl::StrCat("breaker-", s), "circuit-breaker",
                                                       "web", service, requests_per_report - failed, failed)));
    batch.push_back(WithHistogram(testing::CallsReport(absl::StrCat("watch-", s), "monitor", "web",
                                                       service, requests_per_report - failed, failed)));
  }
  ReportSwarm swarm(aggregator.target(), "web", agents, std::min(agents, 8));
  std::vector<uint64_t> sent(static_cast<size_t>(agents), 0);
  const double cpu_before = CpuSeconds(aggregator.process().pid());
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration<double>(seconds);
  while (Clock::now() < end) {
    bool any = false;
    for (int agent = 0; agent < agents; ++agent) {
      if (sent[static_cast<size_t>(agent)] - swarm.Acknowledged(agent) >= 8) continue;
      swarm.Send(agent, batch);
      ++sent[static_cast<size_t>(agent)];
      any = true;
    }
    if (!any) std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
  uint64_t acknowledged = 0;
  for (int agent = 0; agent < agents; ++agent) acknowledged += swarm.Acknowledged(agent);
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  const double cpu = CpuSeconds(aggregator.process().pid()) - cpu_before;
  const double reports = static_cast<double>(acknowledged) * static_cast<double>(batch.size());
  const double observations = reports * static_cast<double>(requests_per_report);
  const std::string row = absl::StrCat("agents-", agents);
  kFigures.Emit(row, "ingest_reports_per_second", "1/s", reports / elapsed);
  kFigures.Emit(row, "ingest_observations_per_second", "1/s", observations / elapsed);
  kFigures.Emit(row, "ingest_observations_per_cpu_second", "1/s", cpu > 0 ? observations / cpu : 0);
  kFigures.Emit(row, "aggregator_cpu_utilisation", "%", 100.0 * cpu / elapsed);
  return 0;
}

int Fanout(testing::AggregatorProcess& aggregator, int agents, int iterations) {
  ReportSwarm swarm(aggregator.target(), "web", agents, 8);
  std::vector<double> p50s, p99s, maxima;
  std::vector<v1::AggregatedMiddlepipe> middlepipes;
  for (int iteration = 0; iteration < iterations; ++iteration) {
    const std::string name = absl::StrCat("breaker-", iteration);
    middlepipes = {testing::BoundMiddlepipe(
        name, "circuit-breaker",
        absl::StrCat(R"({"min_requests": )", agents, R"(, "open_ms": 3600000, "window_ms": 3600000})"),
        "web", "orders")};
    if (absl::Status configured = aggregator.Configure(middlepipes); !configured.ok()) {
      std::cerr << "aggregator_load: " << configured << "\n";
      return 1;
    }
    for (int agent = 0; agent < agents - 1; ++agent) {
      swarm.Send(agent, {testing::CallsReport(name, "circuit-breaker", "web", "orders", 0, 1)});
    }
    // Every report is applied and every agent holds the (closed) decision before the
    // crossing report goes.
    if (!WaitFor([&] {
          for (int agent = 0; agent < agents; ++agent) {
            if (!swarm.Latest(agent, name).has_value()) return false;
            if (agent < agents - 1 && swarm.Acknowledged(agent) < static_cast<uint64_t>(iteration) + 1) {
              return false;
            }
          }
          return true;
        }, std::chrono::seconds(60))) {
      std::cerr << "aggregator_load: agents did not get the closed decision\n";
      return 1;
    }
    const auto crossing = Clock::now();
    swarm.Send(agents - 1, {testing::CallsReport(name, "circuit-breaker", "web", "orders", 0, 1)});
    auto open = [&](int agent) {
      std::optional<v1::Decision> latest = swarm.Latest(agent, name);
      return latest.has_value() && latest->breaker().state() == v1::BREAKER_STATE_OPEN;
    };
    if (!WaitFor([&] {
          for (int agent = 0; agent < agents; ++agent) {
            if (!open(agent)) return false;
          }
          return true;
        }, std::chrono::seconds(60))) {
      std::cerr << "aggregator_load: the open decision did not reach every agent\n";
      return 1;
    }
    std::vector<double> arrivals;
    for (int agent = 0; agent < agents; ++agent) {
      for (const ReportSwarm::Received& received : swarm.History(agent)) {
        if (received.decision.middlepipe() == name &&
            received.decision.breaker().state() == v1::BREAKER_STATE_OPEN) {
          arrivals.push_back(std::chrono::duration<double, std::milli>(received.at - crossing).count());
          break;
        }
      }
    }
    p50s.push_back(Percentile(arrivals, 50));
    p99s.push_back(Percentile(arrivals, 99));
    maxima.push_back(Percentile(arrivals, 100));
  }
  const std::string row = absl::StrCat("agents-", agents);
  kFigures.Emit(row, "decision_fanout_p50", "ms", Percentile(p50s, 50));
  kFigures.Emit(row, "decision_fanout_p99", "ms", Percentile(p99s, 50));
  kFigures.Emit(row, "decision_fanout_max", "ms", Percentile(maxima, 50));
  return 0;
}

}  // namespace
}  // namespace middlepipe::bench

int main(int argc, char** argv) {
  std::string binary = "aggregator/mp-aggregator";
  std::string mode = "ingest";
  int agents = 50;
  int services = 5;
  uint64_t requests_per_report = 100;
  double seconds = 3;
  int iterations = 5;
  CLI::App app("aggregator ingest rate and decision fan-out", "aggregator_load");
  app.add_option("--aggregator", binary, "Path of the mp-aggregator binary");
  app.add_option("--mode", mode, "ingest or fanout")->check(CLI::IsMember({"ingest", "fanout"}));
  app.add_option("--agents", agents, "Simulated agents")->check(CLI::Range(1, 5000));
  app.add_option("--services", services, "Bound services per agent (ingest)")->check(CLI::Range(1, 100));
  app.add_option("--requests-per-report", requests_per_report, "Calls each report covers (ingest)");
  app.add_option("--seconds", seconds, "How long to load (ingest)");
  app.add_option("--iterations", iterations, "Threshold crossings to time (fanout)");
  CLI11_PARSE(app, argc, argv);

  middlepipe::testing::ScratchDir scratch;
  middlepipe::testing::AggregatorProcess aggregator(scratch, "bench", binary);
  // The aggregator on one core, the simulated agents on another (when there are two).
  const bool pin = std::thread::hardware_concurrency() >= 2;
  if (pin) aggregator.set_launcher({"/usr/bin/taskset", "-c", "0"});
  if (absl::Status started = aggregator.Start(); !started.ok()) {
    std::cerr << "aggregator_load: " << started << "\n";
    return 1;
  }
  if (pin) middlepipe::bench::PinTo(1);
  return mode == "ingest"
             ? middlepipe::bench::Ingest(aggregator, agents, services, requests_per_report, seconds)
             : middlepipe::bench::Fanout(aggregator, agents, iterations);
}

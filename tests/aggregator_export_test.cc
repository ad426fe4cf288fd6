// The aggregator's statistics leave it the ways users read them: a real Prometheus
// server (Debian's) scrapes /metrics and answers a query for a middlepipe's counter, and
// the Graphite exporter sends plaintext lines to a carbon listener.
#include <httplib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <thread>

#include "tests/support/aggregator_process.h"
#include "tests/support/loopback_port.h"
#include "tests/support/report_swarm.h"

namespace middlepipe::testing {
namespace {

using std::chrono::milliseconds;

// Reports 42 requests (2 failed) with a latency histogram from one instance of web.
void ReportSomeCalls(const AggregatorProcess& aggregator) {
  ReportSwarm swarm(aggregator.target(), "web", 1);
  v1::Report report = CallsReport("latency", "monitor", "web", "orders", 40, 2);
  v1::Histogram* latency = report.mutable_request_stats()->mutable_latency();
  for (double bound : {5.0, 50.0}) latency->add_bounds_ms(bound);
  for (uint64_t count : {30, 10, 2}) latency->add_counts(count);
  latency->set_sum_ms(420);
  swarm.Send(0, {report});
  for (int i = 0; i < 1000 && swarm.Acknowledged(0) < 1; ++i) std::this_thread::sleep_for(milliseconds(10));
  ASSERT_EQ(swarm.Acknowledged(0), 1u);
}

TEST(AggregatorExportTest, ARealPrometheusScrapesAndAnswersForAMiddlepipe) {
  ScratchDir scratch;
  AggregatorProcess aggregator(scratch, "alice");
  ASSERT_TRUE(aggregator.Start().ok());
  ASSERT_TRUE(aggregator.Configure({BoundMiddlepipe("latency", "monitor", R"({"buckets_ms": [5, 50]})",
                                                    "web", "orders")})
                  .ok());
  ReportSomeCalls(aggregator);

  const int prometheus_port = FreeLoopbackPort();
  {
    std::ofstream config(scratch / "prometheus.yml");
    config << "global:\n  scrape_interval: 1s\n"
           << "scrape_configs:\n  - job_name: middlepipe\n    static_configs:\n"
           << "      - targets: ['127.0.0.1:" << aggregator.http_port() << "']\n";
  }
  auto prometheus = ChildProcess::Start(
      {"/usr/bin/prometheus", "--config.file=" + (scratch / "prometheus.yml"),
       "--storage.tsdb.path=" + (scratch / "tsdb"),
       "--web.listen-address=127.0.0.1:" + std::to_string(prometheus_port)},
      scratch.path());
  ASSERT_TRUE(prometheus.ok()) << prometheus.status();
  ASSERT_TRUE(prometheus->WaitForStderrLine("Server is ready to receive web requests",
                                            std::chrono::seconds(60)))
      << prometheus->Stderr();

  httplib::Client client("127.0.0.1", prometheus_port);
  const std::string query =
      "/api/v1/query?query=middlepipe_requests_total%7Bmiddlepipe%3D%22latency%22%2Capp%3D%22web%22%7D";
  std::string value;
  nlohmann::json answer;
  for (int attempt = 0; attempt < 300 && value.empty(); ++attempt) {
    std::this_thread::sleep_for(milliseconds(100));
    httplib::Result result = client.Get(query);
    if (!result || result->status != 200) continue;
    answer = nlohmann::json::parse(result->body, nullptr, false);
    if (answer.is_object() && answer["data"]["result"].size() == 1) {
      value = answer["data"]["result"][0]["value"][1].get<std::string>();
    }
  }
  EXPECT_EQ(value, "42") << answer.dump();
  if (!value.empty()) {
    const nlohmann::json& labels = answer["data"]["result"][0]["metric"];
    EXPECT_EQ(labels["user"], "alice");
    EXPECT_EQ(labels["service"], "orders");
    EXPECT_EQ(labels["kind"], "monitor");
  }
  // The histogram is a real Prometheus histogram: its quantile is computable.
  httplib::Result quantile = client.Get(
      "/api/v1/query?query=histogram_quantile(0.5%2Cmiddlepipe_request_latency_ms_bucket)");
  ASSERT_TRUE(quantile);
  nlohmann::json parsed = nlohmann::json::parse(quantile->body, nullptr, false);
  ASSERT_EQ(parsed["data"]["result"].size(), 1u) << quantile->body;
  EXPECT_NEAR(std::stod(parsed["data"]["result"][0]["value"][1].get<std::string>()), 3.5, 0.01)
      << "21st of 42 calls, 30 of them under 5 ms";
}

TEST(AggregatorExportTest, SendsGraphitePlaintextLines) {
  ScratchDir scratch;
  int carbon_port = 0;
  const int carbon = ListenOnLoopback(&carbon_port);
  ASSERT_GE(carbon, 0);
  timeval patience{20, 0};  // accept() gives up instead of hanging the test
  setsockopt(carbon, SOL_SOCKET, SO_RCVTIMEO, &patience, sizeof(patience));
  AggregatorProcess aggregator(scratch, "alice", "aggregator/mp-aggregator",
                               {"--graphite", "127.0.0.1:" + std::to_string(carbon_port),
                                "--graphite-interval-ms", "200"});
  ASSERT_TRUE(aggregator.Start().ok());
  ASSERT_TRUE(aggregator.Configure({BoundMiddlepipe("latency", "monitor", "{}", "web", "orders")}).ok());
  ReportSomeCalls(aggregator);

  // Read connections until one carries the 42 (an earlier one may predate the report).
  std::string received;
  for (int connection = 0; connection < 50; ++connection) {
    const int peer = accept(carbon, nullptr, nullptr);
    ASSERT_GE(peer, 0);
    std::string lines;
    char buffer[4096];
    ssize_t got;
    while ((got = read(peer, buffer, sizeof(buffer))) > 0) lines.append(buffer, static_cast<size_t>(got));
    close(peer);
    if (lines.find(".requests 42 ") != std::string::npos) {
      received = lines;
      break;
    }
  }
  close(carbon);
  EXPECT_NE(received.find("middlepipe.alice.latency.web.orders.requests 42 "), std::string::npos) << received;
  EXPECT_NE(received.find("middlepipe.alice.latency.web.orders.failures 2 "), std::string::npos) << received;
}

}  // namespace
}  // namespace middlepipe::testing

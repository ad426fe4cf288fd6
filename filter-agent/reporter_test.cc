// The reporter against a fake aggregator (a real gRPC server implementing Exchange):
// batches carry the filters' deltas, and a decision pushed back reaches the filter.
#include "filter-agent/reporter.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <sstream>
#include <thread>

#include "aggregator/aggregation.h"
#include "aggregator/aggregator_service.h"
#include "aggregator/builtin_aggregates.h"
#include "common/grpc_server.h"
#include "gtest/gtest.h"
#include "scheduler/filters/builtin_filters.h"
#include "scheduler/filters/builtin_kinds.h"
#include "scheduler/filters/circuit-breaker/breaker_filter.h"
#include "tests/support/child_process.h"
#include "tests/support/wait_for.h"

namespace middlepipe::agent {
namespace {

using std::chrono::milliseconds;
using testing::WaitFor;

// Keeps every batch; after the first with reports, pushes one decision opening the
// breaker. Acknowledges batches when told to.
class FakeAggregator final : public v1::Aggregator::Service {
 public:
  explicit FakeAggregator(bool acknowledge = false) : acknowledge_(acknowledge) {}

  grpc::Status Exchange(grpc::ServerContext*,
                        grpc::ServerReaderWriter<v1::DecisionBatch, v1::ReportBatch>* stream) override {
    v1::ReportBatch batch;
    while (stream->Read(&batch)) {
      bool decide = false;
      {
        std::lock_guard<std::mutex> lock(mu_);
        decide = !decided_ && batch.reports_size() > 0;
        decided_ = decided_ || decide;
        batches_.push_back(batch);
      }
      v1::DecisionBatch decisions;
      if (acknowledge_) decisions.set_acknowledged_sequence(batch.sequence());
      if (decide) {
        v1::Decision* decision = decisions.add_decisions();
        decision->set_middlepipe("orders-breaker");
        decision->set_app("web");
        decision->set_service("orders");
        decision->mutable_breaker()->set_state(v1::BREAKER_STATE_OPEN);
        decision->mutable_breaker()->set_reason("cluster-wide error rate");
      }
      if (acknowledge_ || decide) stream->Write(decisions);
    }
    return grpc::Status::OK;
  }

  std::vector<v1::ReportBatch> batches() {
    std::lock_guard<std::mutex> lock(mu_);
    return batches_;
  }
  // The batches that carried reports.
  std::vector<v1::ReportBatch> reporting() {
    std::vector<v1::ReportBatch> with_reports;
    for (const v1::ReportBatch& batch : batches()) {
      if (batch.reports_size() > 0) with_reports.push_back(batch);
    }
    return with_reports;
  }

 private:
  const bool acknowledge_;
  std::mutex mu_;
  bool decided_ = false;
  std::vector<v1::ReportBatch> batches_;
};

// A chain set with one breaker on web -> orders, committed at epoch 3.
std::unique_ptr<scheduler::ChainTable> BreakerChains(scheduler::FilterRegistry& registry) {
  auto chains = std::make_unique<scheduler::ChainTable>(&registry, scheduler::SteadyClockMillis());
  v1::Prepare prepare;
  prepare.set_epoch(3);
  v1::Chain* chain = prepare.add_chains();
  chain->set_app("web");
  chain->set_service("orders");
  v1::FilterSpec* breaker = chain->add_filters();
  breaker->set_middlepipe("orders-breaker");
  breaker->set_kind("circuit-breaker");
  breaker->set_level(v1::LEVEL_REQUEST);
  breaker->set_config_json(
      R"({"latency_threshold_ms": 1000, "error_threshold_percent": 50, "min_requests": 20,
          "window_ms": 10000, "open_ms": 5000, "half_open_requests": 3, "scope": "cluster"})");
  EXPECT_TRUE(chains->Prepare(prepare).ok());
  EXPECT_TRUE(chains->Commit(3).ok());
  return chains;
}

void Calls(const scheduler::ChainTable& chains, int count) {
  const scheduler::RequestChain* orders = chains.Current()->Find("orders");
  for (int i = 0; i < count; ++i) {
    scheduler::RequestCall call;
    orders->OnRequest(call);
    call.status = 200;
    orders->OnResponse(call);
  }
}

// An agent's side for the reporter: a breaker chain, a log, and where the aggregator is.
class ReporterFixture : public ::testing::Test {
 protected:
  ReporterFixture()
      : kinds_(*scheduler::KindCatalog::Create(scheduler::BuiltinKinds())), registry_(&kinds_) {
    scheduler::RegisterBuiltinFilters(registry_);
    chains_ = BreakerChains(registry_);
    address_.family = Address::Family::kUnix;
    address_.path = scratch_ / "aggregator.sock";
  }

  ReporterOptions Options(std::chrono::milliseconds interval) {
    ReporterOptions options;
    options.app = "web";
    options.interval = interval;
    options.aggregator_address = [this] { return address_.ToGrpcTarget(); };
    return options;
  }

  testing::ScratchDir scratch_;
  Address address_;
  scheduler::KindCatalog kinds_;
  scheduler::FilterRegistry registry_;
  std::unique_ptr<scheduler::ChainTable> chains_;
  std::ostringstream log_;
  Logger logger_{"test", &log_};
};

TEST(ReporterTest, SendsDeltasInBatchesAndAppliesDecisions) {
  testing::ScratchDir scratch;
  FakeAggregator aggregator;
  Address address;
  address.family = Address::Family::kUnix;
  address.path = scratch / "aggregator.sock";
  auto server = StartGrpcServer(address, {&aggregator});
  ASSERT_TRUE(server.ok()) << server.status();

  scheduler::KindCatalog kinds = *scheduler::KindCatalog::Create(scheduler::BuiltinKinds());
  scheduler::FilterRegistry registry(&kinds);
  scheduler::RegisterBuiltinFilters(registry);
  std::unique_ptr<scheduler::ChainTable> table = BreakerChains(registry);
  scheduler::ChainTable& chains = *table;
  const scheduler::RequestChain* orders = chains.Current()->Find("orders");
  Calls(chains, 3);

  std::ostringstream log;
  Logger logger("test", &log);
  ReporterOptions options;
  options.app = "web";
  options.instance = 2;
  options.interval = milliseconds(50);
  options.aggregator_address = [&] { return address.ToGrpcTarget(); };
  Reporter reporter(options, &chains, &logger);
  reporter.Start();

  auto* filter = static_cast<scheduler::circuit_breaker::BreakerFilter*>(orders->Find("orders-breaker"));
  for (int i = 0; i < 200 && filter->StateName() != "open"; ++i) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  EXPECT_EQ(filter->StateName(), "open") << "the aggregator's decision did not reach the filter";
  EXPECT_EQ(reporter.decisions_applied(), 1u);
  reporter.Stop();
  server->Stop();

  std::vector<v1::ReportBatch> batches = aggregator.batches();
  ASSERT_FALSE(batches.empty());
  EXPECT_EQ(batches.front().sequence(), 0u) << "an empty hello introduces the agent";
  batches = aggregator.reporting();
  ASSERT_FALSE(batches.empty());
  const v1::ReportBatch& first = batches.front();
  EXPECT_EQ(first.agent().app(), "web");
  EXPECT_EQ(first.agent().instance(), 2u);
  EXPECT_EQ(first.sequence(), 1u);
  EXPECT_NE(first.agent().incarnation(), 0u);
  ASSERT_EQ(first.reports_size(), 1);
  EXPECT_EQ(first.reports(0).middlepipe(), "orders-breaker");
  EXPECT_EQ(first.reports(0).epoch(), 3u);
  EXPECT_EQ(first.reports(0).request_stats().requests(), 3u);
  EXPECT_EQ(first.reports(0).request_stats().status_classes(2), 3u);
}

TEST(ReporterTest, WithoutAnAggregatorFiltersKeepTheirDeltas) {
  scheduler::KindCatalog kinds = *scheduler::KindCatalog::Create(scheduler::BuiltinKinds());
  scheduler::FilterRegistry registry(&kinds);
  scheduler::RegisterBuiltinFilters(registry);
  scheduler::ChainTable chains(&registry, scheduler::SteadyClockMillis());
  v1::Prepare prepare;
  prepare.set_epoch(1);
  v1::Chain* chain = prepare.add_chains();
  chain->set_service("orders");
  v1::FilterSpec* monitor = chain->add_filters();
  monitor->set_middlepipe("watch");
  monitor->set_kind("monitor");
  monitor->set_level(v1::LEVEL_REQUEST);
  ASSERT_TRUE(chains.Prepare(prepare).ok());
  ASSERT_TRUE(chains.Commit(1).ok());
  scheduler::RequestCall call;
  chains.Current()->Find("orders")->OnRequest(call);

  std::ostringstream log;
  Logger logger("test", &log);
  ReporterOptions options;
  options.app = "web";
  options.interval = milliseconds(10);
  options.aggregator_address = [] { return std::string(); };
  {
    Reporter reporter(options, &chains, &logger);
    reporter.Start();
    std::this_thread::sleep_for(milliseconds(100));
  }
  v1::Report report;
  chains.Current()->Find("orders")->Find("watch")->TakeReport(report);
  EXPECT_EQ(report.request_stats().requests(), 1u) << "deltas were taken with nowhere to send";
}

TEST_F(ReporterFixture, ResendsUnacknowledgedBatchesWithTheirSequencesAfterAReconnect) {
  scheduler::ChainTable* chains = chains_.get();
  Reporter reporter(Options(milliseconds(20)), chains, &logger_);

  FakeAggregator silent;  // takes batches, never acknowledges
  auto first_server = StartGrpcServer(address_, {&silent});
  ASSERT_TRUE(first_server.ok()) << first_server.status();
  reporter.Start();
  Calls(*chains, 1);
  ASSERT_TRUE(WaitFor([&] { return silent.reporting().size() >= 1; }));
  Calls(*chains, 1);
  ASSERT_TRUE(WaitFor([&] { return silent.reporting().size() >= 2; }));
  first_server->Stop();  // the aggregator goes away before acknowledging anything
  EXPECT_GE(reporter.unacknowledged(), 2u);

  FakeAggregator acknowledging(/*acknowledge=*/true);
  auto second_server = StartGrpcServer(address_, {&acknowledging});
  ASSERT_TRUE(second_server.ok()) << second_server.status();
  ASSERT_TRUE(WaitFor([&] { return reporter.unacknowledged() == 0 && !acknowledging.reporting().empty(); }));
  const std::vector<v1::ReportBatch> resent = acknowledging.reporting();
  EXPECT_EQ(resent[0].sequence(), silent.reporting()[0].sequence()) << "same numbers: applied once";
  EXPECT_EQ(resent[1].sequence(), silent.reporting()[1].sequence());
  EXPECT_EQ(resent[0].reports(0).request_stats().requests(), 1u);
  reporter.Stop();
  second_server->Stop();
}

TEST_F(ReporterFixture, StopSendsWhatTheFiltersSawSinceTheLastBatch) {
  FakeAggregator aggregator(/*acknowledge=*/true);
  auto server = StartGrpcServer(address_, {&aggregator});
  ASSERT_TRUE(server.ok()) << server.status();
  scheduler::ChainTable* chains = chains_.get();
  // Only the first (hello) and the last batch: the interval never passes.
  Reporter reporter(Options(std::chrono::seconds(30)), chains, &logger_);
  reporter.Start();
  ASSERT_TRUE(WaitFor([&] { return reporter.connected(); }));
  Calls(*chains, 4);
  reporter.Stop();  // long before the next interval: the last batch must still go
  uint64_t requests = 0;
  for (const v1::ReportBatch& batch : aggregator.reporting()) {
    for (const v1::Report& report : batch.reports()) requests += report.request_stats().requests();
  }
  EXPECT_EQ(requests, 4u);
  server->Stop();
}

}  // namespace
}  // namespace middlepipe::agent

namespace middlepipe::agent {
namespace {

TEST_F(ReporterFixture, TheRealAggregatorCountsWhatTheFiltersSaw) {
  const aggregator::KindAggregateRegistry aggregates = aggregator::BuiltinAggregates();
  aggregator::AggregationOptions aggregation_options;
  aggregation_options.user = "alice";
  aggregator::Aggregation aggregation(aggregation_options, &kinds_, &aggregates);
  aggregator::AggregatorService service(&aggregation, &logger_);
  auto server = StartGrpcServer(address_, {&service});
  ASSERT_TRUE(server.ok()) << server.status();
  scheduler::ChainTable* chains = chains_.get();
  v1::ConfigureRequest configure;
  configure.set_user("alice");
  configure.set_epoch(1);
  v1::AggregatedMiddlepipe* middlepipe = configure.add_middlepipes();
  *middlepipe->mutable_middlepipe()->mutable_name() = "orders-breaker";
  middlepipe->mutable_middlepipe()->set_kind("circuit-breaker");
  v1::Binding* binding = middlepipe->add_bindings();
  binding->set_middlepipe("orders-breaker");
  binding->set_app("web");
  binding->set_service("orders");
  ASSERT_TRUE(aggregation.Configure(configure).ok());

  Reporter reporter(Options(milliseconds(20)), chains, &logger_);
  reporter.Start();
  Calls(*chains, 7);
  v1::QueryRequest query;
  ASSERT_TRUE(WaitFor([&] {
    v1::QueryResponse live = aggregation.Query(query);
    return live.states_size() == 1 && live.states(0).total().requests() == 7;
  })) << aggregation.Query(query).DebugString() << log_.str();
  reporter.Stop();
  EXPECT_EQ(aggregation.counters().agents_connected, 0u) << "the stream ended with the reporter";
  server->Stop();
}

TEST_F(ReporterFixture, RetryingAnAggregatorThatIsGoneNeverAbortsTheAgent) {
  // A socket that no one listens on (as a killed aggregator leaves it): every stream
  // fails at once, hundreds of times over. The reporter once called Finish while its
  // reader still waited for the server's initial metadata, which gRPC punishes with an
  // abort (it took a killed aggregator and a few seconds of retries in an e2e test).
  const int dead = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un unix_address{};
  unix_address.sun_family = AF_UNIX;
  std::strncpy(unix_address.sun_path, address_.path.c_str(), sizeof(unix_address.sun_path) - 1);
  ASSERT_EQ(bind(dead, reinterpret_cast<sockaddr*>(&unix_address), sizeof(unix_address)), 0);
  scheduler::ChainTable* chains = chains_.get();
  Reporter reporter(Options(milliseconds(5)), chains, &logger_);
  reporter.Start();
  Calls(*chains, 1);
  std::this_thread::sleep_for(milliseconds(2000));
  reporter.Stop();
  close(dead);
  EXPECT_FALSE(reporter.connected());
  EXPECT_NE(log_.str().find("not taking reports"), std::string::npos) << log_.str();
  v1::Report kept;
  chains->Current()->Find("orders")->Find("orders-breaker")->TakeReport(kept);
  EXPECT_EQ(kept.request_stats().requests(), 1u) << "the filter keeps its deltas meanwhile";
}

}  // namespace
}  // namespace middlepipe::agent

// The reporter against a fake aggregator (a real gRPC server implementing Exchange):
// batches carry the filters' deltas, and a decision pushed back reaches the filter.
#include "filter-agent/reporter.h"

#include <sstream>
#include <thread>

#include "common/grpc_server.h"
#include "gtest/gtest.h"
#include "scheduler/filters/builtin_filters.h"
#include "scheduler/filters/builtin_kinds.h"
#include "scheduler/filters/circuit-breaker/breaker_filter.h"
#include "tests/support/child_process.h"

namespace middlepipe::agent {
namespace {

using std::chrono::milliseconds;

// Keeps every batch; after the first, pushes one decision opening the breaker.
class FakeAggregator final : public v1::Aggregator::Service {
 public:
  grpc::Status Exchange(grpc::ServerContext*,
                        grpc::ServerReaderWriter<v1::DecisionBatch, v1::ReportBatch>* stream) override {
    v1::ReportBatch batch;
    while (stream->Read(&batch)) {
      bool first = false;
      {
        std::lock_guard<std::mutex> lock(mu_);
        first = batches_.empty();
        batches_.push_back(batch);
      }
      if (first) {
        v1::DecisionBatch decisions;
        v1::Decision* decision = decisions.add_decisions();
        decision->set_middlepipe("orders-breaker");
        decision->set_app("web");
        decision->set_service("orders");
        decision->mutable_breaker()->set_state(v1::BREAKER_STATE_OPEN);
        decision->mutable_breaker()->set_reason("cluster-wide error rate");
        stream->Write(decisions);
      }
    }
    return grpc::Status::OK;
  }

  std::vector<v1::ReportBatch> batches() {
    std::lock_guard<std::mutex> lock(mu_);
    return batches_;
  }

 private:
  std::mutex mu_;
  std::vector<v1::ReportBatch> batches_;
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
  scheduler::ChainTable chains(&registry, scheduler::SteadyClockMillis());
  v1::Prepare prepare;
  prepare.set_epoch(3);
  v1::Chain* chain = prepare.add_chains();
  chain->set_app("web");
  chain->set_service("orders");
  v1::FilterSpec* breaker = chain->add_filters();
  breaker->set_middlepipe("orders-breaker");
  breaker->set_kind("circuit-breaker");
  breaker->set_level(v1::LEVEL_REQUEST);
  ASSERT_TRUE(chains.Prepare(prepare).ok());
  ASSERT_TRUE(chains.Commit(3).ok());
  const scheduler::RequestChain* orders = chains.Current()->Find("orders");
  for (int i = 0; i < 3; ++i) {
    scheduler::RequestCall call;
    orders->OnRequest(call);
    call.status = 200;
    orders->OnResponse(call);
  }

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
  const v1::ReportBatch& first = batches.front();
  EXPECT_EQ(first.agent().app(), "web");
  EXPECT_EQ(first.agent().instance(), 2u);
  EXPECT_EQ(first.sequence(), 1u);
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

}  // namespace
}  // namespace middlepipe::agent

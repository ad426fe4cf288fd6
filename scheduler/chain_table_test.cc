#include "scheduler/chain_table.h"

#include <atomic>
#include <thread>

#include "gtest/gtest.h"
#include "scheduler/filters/builtin_filters.h"
#include "scheduler/filters/builtin_kinds.h"
#include "scheduler/filters/circuit-breaker/breaker_filter.h"

namespace middlepipe::scheduler {
namespace {

v1::FilterSpec Spec(const std::string& middlepipe, const std::string& kind, v1::Level level,
                    const std::string& config = "{}") {
  v1::FilterSpec spec;
  spec.set_middlepipe(middlepipe);
  spec.set_kind(kind);
  spec.set_level(level);
  spec.set_config_json(config);
  return spec;
}

v1::Prepare PrepareOf(uint64_t epoch, std::vector<v1::FilterSpec> filters,
                      const std::string& service = "orders") {
  v1::Prepare prepare;
  prepare.set_epoch(epoch);
  v1::Chain* chain = prepare.add_chains();
  chain->set_app("web");
  chain->set_service(service);
  chain->set_epoch(epoch);
  for (auto& filter : filters) *chain->add_filters() = filter;
  return prepare;
}

class ChainTableTest : public ::testing::Test {
 protected:
  ChainTableTest() { RegisterBuiltinFilters(registry_); }

  const v1::FilterSpec breaker_ = Spec("orders-breaker", "circuit-breaker", v1::LEVEL_REQUEST,
                                       R"({"min_requests":2,"error_threshold_percent":50})");
  const v1::FilterSpec monitor_ = Spec("watch", "monitor", v1::LEVEL_REQUEST);
  KindCatalog kinds_ = *KindCatalog::Create(BuiltinKinds());
  FilterRegistry registry_{&kinds_};
  int64_t now_ = 0;
  ChainTable table_{&registry_, [this] { return now_; }};
};

TEST_F(ChainTableTest, NothingRunsBeforeCommitAndCommitSwapsInOneStep) {
  ASSERT_TRUE(table_.Prepare(PrepareOf(1, {breaker_, monitor_})).ok());
  EXPECT_EQ(table_.Current(), nullptr) << "prepared chains must not run";
  ASSERT_TRUE(table_.Commit(1).ok());
  std::shared_ptr<const ChainSet> current = table_.Current();
  ASSERT_NE(current, nullptr);
  EXPECT_EQ(current->epoch(), 1u);
  const RequestChain* chain = current->Find("orders");
  ASSERT_NE(chain, nullptr);
  ASSERT_EQ(chain->entries().size(), 2u);
  EXPECT_EQ(chain->entries()[0].spec.middlepipe(), "orders-breaker");
  EXPECT_EQ(current->Find("billing"), nullptr);
}

TEST_F(ChainTableTest, PrepareFailsFastNamingTheMiddlepipe) {
  auto bad_config = table_.Prepare(PrepareOf(1, {Spec("b", "circuit-breaker", v1::LEVEL_REQUEST,
                                                      R"({"window_ms":1})")}));
  EXPECT_EQ(bad_config.message(), "b: config: field window_ms: must be >= 100");
  FilterRegistry monitor_only{&kinds_};  // an agent older than its controller's catalog
  monitor_only.Register("monitor", [](const FilterSpecContext&) {
    return absl::StatusOr<std::unique_ptr<RequestFilter>>(absl::UnimplementedError("unused"));
  });
  ChainTable older{&monitor_only, [] { return 0; }};
  auto no_filter = older.Prepare(PrepareOf(1, {Spec("split", "traffic-split", v1::LEVEL_REQUEST,
                                                    R"({"routes":[{"service":"orders","weight":1}]})")}));
  EXPECT_EQ(no_filter.message(), "split: this agent has no filter for kind traffic-split yet");
  ChainTable no_queue{&registry_, [] { return 0; },
                      absl::FailedPreconditionError("no CAP_NET_ADMIN for NFQUEUE")};
  auto packet = no_queue.Prepare(PrepareOf(1, {Spec("acct", "accounting", v1::LEVEL_PACKET)}));
  EXPECT_EQ(packet.message(),
            "acct: packet-level filters (accounting) cannot run here: no CAP_NET_ADMIN for NFQUEUE");
  EXPECT_FALSE(table_.Commit(1).ok()) << "a failed prepare left something to commit";
}

TEST_F(ChainTableTest, PacketFiltersFormTheirOwnChainAndKeepTheirCountsAcrossEpochs) {
  const v1::FilterSpec acct = Spec("acct", "accounting", v1::LEVEL_PACKET);
  const v1::FilterSpec ids = Spec("ids", "ids", v1::LEVEL_PACKET,
                                  R"j({"rules":["alert tcp any any -> any any (content:\"x\"; sid:1;)"]})j");
  v1::Prepare first = PrepareOf(1, {monitor_, acct, ids});
  v1::Endpoint* endpoint = first.mutable_chains(0)->add_service_endpoints();
  endpoint->set_host("10.0.0.1");
  endpoint->set_port(80);
  ASSERT_TRUE(table_.Prepare(first).ok());
  ASSERT_TRUE(table_.Commit(1).ok());
  std::shared_ptr<const ChainSet> current = table_.Current();
  ASSERT_EQ(current->Find("orders")->entries().size(), 1u);
  const auto& packet_chain = *current->packet_chains().at("orders");
  ASSERT_EQ(packet_chain.entries().size(), 2u);
  EXPECT_EQ(packet_chain.entries()[1].spec.middlepipe(), "ids");
  EXPECT_TRUE(packet_chain.needs_payload());
  ASSERT_EQ(packet_chain.endpoints().size(), 1u);
  EXPECT_EQ(packet_chain.endpoints()[0].port(), 80u);
  const std::string counted = [] {
    v1::PacketStats stats;
    stats.set_bytes_out(1234);
    return stats.SerializeAsString();
  }();
  ASSERT_TRUE(packet_chain.Find("acct")->ImportState(counted).ok());

  ASSERT_TRUE(table_.Prepare(PrepareOf(2, {acct})).ok());
  ASSERT_TRUE(table_.Commit(2).ok());
  v1::PacketStats totals;
  ASSERT_TRUE(totals.ParseFromString(
      table_.Current()->packet_chains().at("orders")->Find("acct")->ExportState()));
  EXPECT_EQ(totals.bytes_out(), 1234u);
}

TEST_F(ChainTableTest, AbortDropsAndCommitOfUnpreparedEpochIsRefused) {
  ASSERT_TRUE(table_.Prepare(PrepareOf(1, {monitor_})).ok());
  table_.Abort(1);
  EXPECT_EQ(table_.Commit(1).message(), "commit of epoch 1, which was not prepared");
  EXPECT_EQ(table_.Current(), nullptr);
}

TEST_F(ChainTableTest, RequestsRunInOrderUntilOneResponds) {
  ASSERT_TRUE(table_.Prepare(PrepareOf(1, {breaker_, monitor_})).ok());
  ASSERT_TRUE(table_.Commit(1).ok());
  auto chain = table_.Current()->Find("orders");
  for (int i = 0; i < 2; ++i) {
    RequestCall call;
    ASSERT_EQ(chain->OnRequest(call), FilterStatus::kContinue);
    call.status = 500;
    chain->OnResponse(call);
  }
  RequestCall blocked;
  EXPECT_EQ(chain->OnRequest(blocked), FilterStatus::kRespond);
  v1::Report report;
  chain->Find("watch")->TakeReport(report);
  EXPECT_EQ(report.request_stats().requests(), 2u) << "the monitor after the open breaker ran";
}

TEST_F(ChainTableTest, ANewEpochKeepsTheStateOfTheSameMiddlepipe) {
  ASSERT_TRUE(table_.Prepare(PrepareOf(1, {breaker_})).ok());
  ASSERT_TRUE(table_.Commit(1).ok());
  auto chain = table_.Current()->Find("orders");
  for (int i = 0; i < 2; ++i) {
    RequestCall call;
    chain->OnRequest(call);
    call.status = 503;
    chain->OnResponse(call);
  }
  // An unrelated change (a monitor added) must not close the open breaker.
  ASSERT_TRUE(table_.Prepare(PrepareOf(2, {monitor_, breaker_})).ok());
  ASSERT_TRUE(table_.Commit(2).ok());
  auto* breaker = static_cast<circuit_breaker::BreakerFilter*>(
      table_.Current()->Find("orders")->Find("orders-breaker"));
  EXPECT_EQ(breaker->StateName(), "open");
}

// Requests racing a stream of epochs: each runs whole on the chain set it took, which
// stays alive while held. Run under --config=tsan as well.
TEST_F(ChainTableTest, HotSwapUnderConcurrentRequests) {
  ASSERT_TRUE(table_.Prepare(PrepareOf(1, {monitor_})).ok());
  ASSERT_TRUE(table_.Commit(1).ok());
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> torn{0};
  std::vector<std::thread> apps;
  for (int t = 0; t < 4; ++t) {
    apps.emplace_back([&] {
      while (!stop.load()) {
        std::shared_ptr<const ChainSet> chains = table_.Current();
        const uint64_t epoch = chains->epoch();
        RequestCall call;
        const RequestChain* chain = chains->Find("orders");
        if (chain->OnRequest(call) == FilterStatus::kContinue) {
          call.status = 200;
          chain->OnResponse(call);
        }
        if (chains->epoch() != epoch || chain != chains->Find("orders")) ++torn;
        ++requests;
      }
    });
  }
  for (uint64_t epoch = 2; epoch <= 60; ++epoch) {
    std::vector<v1::FilterSpec> filters = {monitor_};
    if (epoch % 2 == 0) filters.push_back(breaker_);
    ASSERT_TRUE(table_.Prepare(PrepareOf(epoch, filters)).ok());
    ASSERT_TRUE(table_.Commit(epoch).ok());
  }
  stop = true;
  for (auto& app : apps) app.join();
  EXPECT_EQ(table_.Current()->epoch(), 60u);
  EXPECT_GT(requests.load(), 0u);
  EXPECT_EQ(torn.load(), 0u);
}

}  // namespace
}  // namespace middlepipe::scheduler

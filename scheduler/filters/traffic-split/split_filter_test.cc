#include "scheduler/filters/traffic-split/split_filter.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace middlepipe::scheduler::traffic_split {
namespace {

v1::ServiceEndpoints Reachable(const std::string& service, const std::string& host) {
  v1::ServiceEndpoints where;
  where.set_service(service);
  v1::Endpoint* endpoint = where.add_endpoints();
  endpoint->set_host(host);
  endpoint->set_port(8080);
  return where;
}

SplitConfig Config(const std::string& json) {
  google::protobuf::RepeatedPtrField<v1::ServiceEndpoints> referenced;
  *referenced.Add() = Reachable("orders", "198.18.0.2");
  *referenced.Add() = Reachable("orders-v2", "198.18.0.3");
  *referenced.Add() = Reachable("orders-v3", "198.18.0.4");
  absl::StatusOr<SplitConfig> config = ParseSplitConfig(json, referenced);
  EXPECT_TRUE(config.ok()) << config.status();
  return config.ok() ? *config : SplitConfig();
}

// Where `requests` go, by destination ("" = the chain's own service, unchanged).
std::map<std::string, int> Destinations(SplitFilter& filter, int requests,
                                        const std::string& sticky_header = "") {
  std::map<std::string, int> counts;
  for (int i = 0; i < requests; ++i) {
    RequestCall call;
    call.request.set_service("orders");
    if (!sticky_header.empty()) {
      v1::Header* header = call.request.add_headers();
      header->set_name(sticky_header);
      header->set_value(absl::StrCat("user-", i));
    }
    uint32_t note = 0;
    EXPECT_EQ(filter.OnRequest(call, note), FilterStatus::kContinue);
    ++counts[call.destination_service];
  }
  return counts;
}

std::string StickyDestination(SplitFilter& filter, const std::string& user) {
  RequestCall call;
  call.request.set_service("orders");
  v1::Header* header = call.request.add_headers();
  header->set_name("x-user");  // the config says X-User: names match in any case
  header->set_value(user);
  uint32_t note = 0;
  filter.OnRequest(call, note);
  return call.destination_service.empty() ? "orders" : call.destination_service;
}

constexpr char kCanary[] =
    R"({"routes":[{"service":"orders","weight":90},{"service":"orders-v2","weight":10}]})";
constexpr char kStickyCanary[] =
    R"({"routes":[{"service":"orders","weight":90},{"service":"orders-v2","weight":10}],)"
    R"("sticky_header":"X-User"})";

// Over n = 10,000 requests a route of share p gets n·p ± 4·sqrt(n·p·(1-p)) calls, short
// of a 1-in-15,000 chance; the seeds make each run repeatable.
void ExpectShare(int got, int n, double p) {
  const double sigma = std::sqrt(n * p * (1 - p));
  EXPECT_NEAR(got, n * p, 4 * sigma) << "a share of " << p;
}

TEST(SplitFilterTest, SplitsByWeightWithinStatisticalBounds) {
  for (uint64_t seed : {1u, 2u, 3u}) {
    SplitFilter filter("orders", Config(kCanary), seed);
    std::map<std::string, int> counts = Destinations(filter, 10000);
    ExpectShare(counts[""], 10000, 0.9);
    ExpectShare(counts["orders-v2"], 10000, 0.1);
    EXPECT_EQ(counts[""] + counts["orders-v2"], 10000);
  }
  SplitFilter three("orders",
                    Config(R"({"routes":[{"service":"orders","weight":5},)"
                           R"({"service":"orders-v2","weight":3},{"service":"orders-v3","weight":2}]})"),
                    7);
  std::map<std::string, int> counts = Destinations(three, 10000);
  ExpectShare(counts[""], 10000, 0.5);
  ExpectShare(counts["orders-v2"], 10000, 0.3);
  ExpectShare(counts["orders-v3"], 10000, 0.2);
}

TEST(SplitFilterTest, TheHookIsToldTheDestinationAndItsEndpoints) {
  SplitFilter filter(
      "orders", Config(R"({"routes":[{"service":"orders","weight":0},{"service":"orders-v2","weight":1}]})"),
      1);
  RequestCall call;
  uint32_t note = 0;
  filter.OnRequest(call, note);
  EXPECT_EQ(call.destination_service, "orders-v2");
  ASSERT_EQ(call.destination_endpoints.size(), 1u);
  EXPECT_EQ(call.destination_endpoints[0].host(), "198.18.0.3");
  EXPECT_FALSE(filter.MayMarkResponse(note)) << "routing adds no markers after the call";
}

TEST(SplitFilterTest, ASplitToAServiceWithoutEndpointsSendsItsShareElsewhere) {
  google::protobuf::RepeatedPtrField<v1::ServiceEndpoints> referenced;
  *referenced.Add() = Reachable("orders", "198.18.0.2");
  v1::ServiceEndpoints* app_without_port = referenced.Add();  // an app: addresses, no port yet
  app_without_port->set_service("orders-v2");
  app_without_port->add_endpoints()->set_host("198.18.0.7");
  SplitFilter filter("orders", *ParseSplitConfig(kCanary, referenced), 1);
  EXPECT_EQ(Destinations(filter, 1000)[""], 1000);

  v1::Report report;
  filter.TakeReport(report);
  EXPECT_EQ(report.request_stats().counters().at("route:orders"), 1000u);
  EXPECT_EQ(report.request_stats().counters().count("route:orders-v2"), 0u);
}

TEST(SplitFilterTest, NothingReachableLeavesTheRequestAloneAndSaysSo) {
  google::protobuf::RepeatedPtrField<v1::ServiceEndpoints> none;
  SplitFilter filter("orders",
                     *ParseSplitConfig(R"({"routes":[{"service":"orders-v2","weight":1}]})", none), 1);
  EXPECT_EQ(Destinations(filter, 3)[""], 3);
  v1::Report report;
  filter.TakeReport(report);
  EXPECT_EQ(report.request_stats().counters().at("unroutable"), 3u);
}

TEST(SplitFilterTest, StickyKeysGoToTheSameRouteOnEveryInstance) {
  // Two instances of the app, each with its own random state: a key's route is the same.
  SplitFilter one("orders", Config(kStickyCanary), 1);
  SplitFilter other("orders", Config(kStickyCanary), 99);
  for (int user = 0; user < 1000; ++user) {
    const std::string key = absl::StrCat("user-", user);
    const std::string first = StickyDestination(one, key);
    EXPECT_EQ(StickyDestination(one, key), first) << key;
    EXPECT_EQ(StickyDestination(other, key), first) << key;
  }
}

TEST(SplitFilterTest, StickyKeysSpreadByWeight) {
  SplitFilter filter("orders", Config(kStickyCanary), 1);
  std::map<std::string, int> counts = Destinations(filter, 10000, "X-User");
  ExpectShare(counts["orders-v2"], 10000, 0.1);
}

TEST(SplitFilterTest, RaisingACanaryMovesKeysOntoItAndNoneOff) {
  SplitFilter ten("orders", Config(kStickyCanary), 1);
  SplitFilter twenty(
      "orders",
      Config(R"({"routes":[{"service":"orders","weight":80},{"service":"orders-v2","weight":20}],)"
             R"("sticky_header":"X-User"})"),
      1);
  int moved_on = 0;
  for (int user = 0; user < 10000; ++user) {
    const std::string key = absl::StrCat("user-", user);
    const std::string before = StickyDestination(ten, key);
    const std::string after = StickyDestination(twenty, key);
    if (before == "orders-v2") {
      EXPECT_EQ(after, "orders-v2") << key << " left the canary";
    }
    if (before == "orders" && after == "orders-v2") ++moved_on;
  }
  ExpectShare(moved_on, 10000, 0.1);  // only the extra 10% moved
}

TEST(SplitFilterTest, ReportsCallsAndFailuresPerRoute) {
  SplitFilter filter(
      "orders", Config(R"({"routes":[{"service":"orders","weight":0},{"service":"orders-v2","weight":1}]})"),
      1);
  for (uint32_t status : {200u, 503u, 0u}) {
    RequestCall call;
    uint32_t note = 0;
    filter.OnRequest(call, note);
    call.status = status;
    filter.OnResponse(call, note);
  }
  v1::Report report;
  filter.TakeReport(report);
  EXPECT_EQ(report.request_stats().requests(), 3u);
  EXPECT_EQ(report.request_stats().counters().at("route:orders-v2"), 3u);
  EXPECT_EQ(report.request_stats().counters().at("route_failed:orders-v2"), 2u);
  v1::Report next;
  filter.TakeReport(next);
  EXPECT_EQ(next.request_stats().requests(), 0u) << "reports are deltas";
}

TEST(SplitFilterTest, ANewEpochLosesNoCount) {
  const std::string to_canary =
      R"({"routes":[{"service":"orders","weight":0},{"service":"orders-v2","weight":1}]})";
  SplitFilter before("orders", Config(to_canary), 1);
  RequestCall in_flight;
  uint32_t note = 0;
  before.OnRequest(in_flight, note);
  SplitFilter after("orders", Config(to_canary), 2);
  after.AdoptState(before);  // the chain of the next epoch, built before the swap
  in_flight.status = 502;
  before.OnResponse(in_flight, note);  // the call finishes on the chain it started on
  Destinations(after, 2);
  v1::Report report;
  after.TakeReport(report);
  EXPECT_EQ(report.request_stats().requests(), 3u);
  EXPECT_EQ(report.request_stats().counters().at("route:orders-v2"), 3u);
  EXPECT_EQ(report.request_stats().counters().at("route_failed:orders-v2"), 1u);
}

TEST(SplitFilterTest, RefusesConfigsItCannotRead) {
  google::protobuf::RepeatedPtrField<v1::ServiceEndpoints> none;
  EXPECT_FALSE(ParseSplitConfig("[]", none).ok());
  EXPECT_FALSE(ParseSplitConfig(R"({"routes":[]})", none).ok());
  EXPECT_FALSE(ParseSplitConfig(R"({"routes":[{"service":"a","weight":-1}]})", none).ok());
  EXPECT_FALSE(ParseSplitConfig(R"({"routes":[{"service":"a"}]})", none).ok());
}

}  // namespace
}  // namespace middlepipe::scheduler::traffic_split

// Every built-in kind: its schema parses, its defaults validate, and the refusals users
// will meet most often name the field.
#include "scheduler/filters/builtin_kinds.h"

#include "gtest/gtest.h"
#include "scheduler/kind_catalog.h"

namespace middlepipe::scheduler {
namespace {

class BuiltinKindsTest : public ::testing::Test {
 protected:
  std::string ErrorFor(const std::string& kind, const std::string& config) {
    auto result = catalog_.ValidateConfig(kind, config);
    EXPECT_FALSE(result.ok()) << kind << " " << config << " was accepted";
    return result.ok() ? "" : std::string(result.status().message());
  }
  nlohmann::json Valid(const std::string& kind, const std::string& config) {
    auto result = catalog_.ValidateConfig(kind, config);
    EXPECT_TRUE(result.ok()) << kind << " " << config << ": " << result.status();
    return result.ok() ? nlohmann::json::parse(*result) : nlohmann::json();
  }

  KindCatalog catalog_ = *KindCatalog::Create(BuiltinKinds());
};

TEST_F(BuiltinKindsTest, TheMarketplaceOfDesignSection7) {
  std::vector<std::string> names;
  for (const KindDescriptor* kind : catalog_.List()) names.push_back(kind->name);
  EXPECT_EQ(names, (std::vector<std::string>{"accounting", "circuit-breaker", "fault-inject",
                                             "firewall", "ids", "monitor", "rate-limit",
                                             "traffic-split"}));
  EXPECT_EQ(catalog_.Find("circuit-breaker")->level, v1::LEVEL_REQUEST);
  EXPECT_EQ(catalog_.Find("ids")->level, v1::LEVEL_PACKET);
  EXPECT_EQ(catalog_.Find("nope"), nullptr);
}

TEST_F(BuiltinKindsTest, KindsWithoutRequiredFieldsAcceptAnEmptyConfig) {
  for (const char* kind : {"accounting", "circuit-breaker", "fault-inject", "firewall", "monitor"}) {
    Valid(kind, "");
    Valid(kind, "{}");
  }
}

TEST_F(BuiltinKindsTest, CircuitBreakerDefaultsAndSortedCanonicalForm) {
  auto config = Valid("circuit-breaker", R"({"scope":"instance","latency_threshold_ms":200})");
  EXPECT_EQ(config["latency_threshold_ms"], 200);
  EXPECT_EQ(config["error_threshold_percent"], 50);
  EXPECT_EQ(config["half_open_requests"], 3);
  EXPECT_EQ(config["scope"], "instance");
  EXPECT_FALSE(config.contains("fallback"));
  EXPECT_EQ(*catalog_.ValidateConfig("circuit-breaker", R"({"open_ms":9,"min_requests":2})"),
            *catalog_.ValidateConfig("circuit-breaker", R"({"min_requests":2,"open_ms":9})"));
}

TEST_F(BuiltinKindsTest, CircuitBreakerRefusals) {
  EXPECT_EQ(ErrorFor("circuit-breaker", R"({"latency_threshold_ms":"200"})"),
            "config: field latency_threshold_ms: must be an integer");
  EXPECT_EQ(ErrorFor("circuit-breaker", R"({"window_ms":10})"),
            "config: field window_ms: must be >= 100");
  EXPECT_EQ(ErrorFor("circuit-breaker", R"({"scope":"global"})"),
            "config: field scope: must be one of \"cluster\", \"instance\"");
  EXPECT_EQ(ErrorFor("circuit-breaker", R"({"fallback":{"body":"x"}})"),
            "config: field fallback: missing required field \"status\"");
  EXPECT_EQ(ErrorFor("circuit-breaker", R"({"fallback":{"status":503,"headers":{"a":1}}})"),
            "config: field fallback.headers.a: must be a string");
  EXPECT_EQ(ErrorFor("circuit-breaker", "{"), "config: not valid JSON");
}

TEST_F(BuiltinKindsTest, UnknownKindListsTheKnownOnes) {
  EXPECT_EQ(ErrorFor("circuit-braker", "{}"),
            "unknown kind \"circuit-braker\" (known: accounting, circuit-breaker, fault-inject, "
            "firewall, ids, monitor, rate-limit, traffic-split)");
}

TEST_F(BuiltinKindsTest, MonitorBucketsMustAscend) {
  EXPECT_EQ(Valid("monitor", "{}")["buckets_ms"].size(), 10u);
  EXPECT_EQ(ErrorFor("monitor", R"({"buckets_ms":[10,5]})"),
            "config: field buckets_ms[1]: must be greater than the bucket before it");
  EXPECT_EQ(ErrorFor("monitor", R"({"buckets_ms":[0]})"),
            "config: field buckets_ms[0]: must be > 0");
}

TEST_F(BuiltinKindsTest, RateLimitNeedsAPositiveRate) {
  EXPECT_EQ(ErrorFor("rate-limit", "{}"),
            "config: missing required field \"requests_per_second\"");
  EXPECT_EQ(ErrorFor("rate-limit", R"({"requests_per_second":0})"),
            "config: field requests_per_second: must be > 0");
  EXPECT_EQ(ErrorFor("rate-limit", R"({"requests_per_second":5,"key_header":"X User"})"),
            "config: field key_header: must match \"^[A-Za-z0-9-]+$\"");
  EXPECT_EQ(Valid("rate-limit", R"({"requests_per_second":5})")["max_keys"], 10000);
}

TEST_F(BuiltinKindsTest, TrafficSplitWeights) {
  Valid("traffic-split", R"({"routes":[{"service":"orders","weight":90},{"service":"orders-v2","weight":10}]})");
  EXPECT_EQ(ErrorFor("traffic-split", R"({"routes":[{"service":"a","weight":0}]})"),
            "config: field routes: the weights must add up to more than 0");
  EXPECT_EQ(ErrorFor("traffic-split", R"({"routes":[{"service":"a","weight":-1}]})"),
            "config: field routes[0].weight: must be >= 0");
  EXPECT_EQ(ErrorFor("traffic-split",
                     R"({"routes":[{"service":"a","weight":1},{"service":"a","weight":1}]})"),
            "config: field routes[1].service: \"a\" is listed twice");
}

TEST_F(BuiltinKindsTest, TrafficSplitNamesItsRoutesAsReferencedServices) {
  const std::string config =
      Valid("traffic-split",
            R"({"routes":[{"service":"orders","weight":90},{"service":"orders-v2","weight":10}]})")
          .dump();
  EXPECT_EQ(catalog_.ReferencedServices("traffic-split", config),
            (std::vector<std::string>{"orders", "orders-v2"}));
  EXPECT_TRUE(catalog_.ReferencedServices("circuit-breaker", "{}").empty());
  EXPECT_TRUE(catalog_.ReferencedServices("traffic-split", "not json").empty());
}

TEST_F(BuiltinKindsTest, FaultInjectPercentages) {
  EXPECT_EQ(ErrorFor("fault-inject", R"({"abort_percent":101})"),
            "config: field abort_percent: must be <= 100");
  EXPECT_EQ(Valid("fault-inject", "{}")["abort_status"], 503);
}

TEST_F(BuiltinKindsTest, PacketKinds) {
  EXPECT_EQ(ErrorFor("ids", "{}"), "config: missing required field \"rules\"");
  EXPECT_EQ(Valid("ids", R"j({"rules":["alert tcp any any -> any 80 (msg:\"x\"; content:\"y\"; sid:1;)"]})j")["mode"],
            "detect");
  EXPECT_EQ(ErrorFor("ids", R"j({"rules":["alert tcp any any -> any 80 (msg:\"x\"; sid:1;)"]})j"),
            "config: field rules[0]: needs at least one content");
  EXPECT_EQ(ErrorFor("accounting", R"({"fail_closed":"yes"})"),
            "config: field fail_closed: must be a boolean");
  Valid("firewall", R"({"allow":["10.0.0.0/8","198.18.0.7:5432","*:22"],"deny":["1.2.3.4"]})");
  EXPECT_EQ(ErrorFor("firewall", R"({"deny":["10.0.0.0/40"]})"),
            "config: field deny[0]: \"10.0.0.0/40\": prefix length must be 0-32");
  EXPECT_EQ(ErrorFor("firewall", R"({"allow":["example.com:80"]})"),
            "config: field allow[0]: \"example.com:80\": expected IPv4ADDRESS[/PREFIX][:PORT] or *:PORT");
}

}  // namespace
}  // namespace middlepipe::scheduler

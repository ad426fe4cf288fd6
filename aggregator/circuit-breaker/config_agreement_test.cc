// The circuit breaker's config is read by three parties: the controller's validation
// (the kind's schema), the filter and the aggregate (both ParseBreakerConfig). This test
// holds them to one meaning: every schema field reaches the struct, the defaults agree,
// and a value one refuses is refused by all.
#include <functional>
#include <map>
#include <string>

#include "aggregator/circuit-breaker/breaker_aggregate.h"
#include "gtest/gtest.h"
#include "scheduler/filters/circuit-breaker/config.h"
#include "scheduler/filters/circuit-breaker/kind.h"
#include "scheduler/kind_config_check.h"

namespace middlepipe::aggregator::circuit_breaker {
namespace {

using scheduler::circuit_breaker::BreakerConfig;
using scheduler::circuit_breaker::ParseBreakerConfig;

struct Field {
  std::string valid;  // a JSON value other than the default
  std::function<bool(const BreakerConfig&)> reached;  // the struct holds `valid`
  std::vector<std::string> invalid;  // JSON values the schema refuses
};

std::map<std::string, Field> Fields() {
  return {
      {"latency_threshold_ms",
       {"250", [](const BreakerConfig& c) { return c.latency_threshold_ms == 250; },
        {"0", "-5", "1.5", "\"250\""}}},
      {"error_threshold_percent",
       {"12.5", [](const BreakerConfig& c) { return c.error_threshold_percent == 12.5; },
        {"0", "100.5", "\"50\""}}},
      {"min_requests",
       {"7", [](const BreakerConfig& c) { return c.min_requests == 7; }, {"0", "-1", "2.5"}}},
      {"window_ms",
       {"2000", [](const BreakerConfig& c) { return c.window_ms == 2000; },
        {"99", "3600001", "1000.5"}}},
      {"open_ms",
       {"750", [](const BreakerConfig& c) { return c.open_ms == 750; }, {"0", "3600001"}}},
      {"half_open_requests",
       {"9", [](const BreakerConfig& c) { return c.half_open_requests == 9; }, {"0", "1001"}}},
      {"scope",
       {"\"instance\"", [](const BreakerConfig& c) { return !c.cluster_scope; },
        {"\"region\"", "1"}}},
      {"fallback",
       {R"({"status": 200, "headers": {"X-A": "b"}, "body": "cached"})",
        [](const BreakerConfig& c) {
          return c.fallback.has_value() && c.fallback->status() == 200 &&
                 c.fallback->body() == "cached" && c.fallback->headers_size() == 1 &&
                 c.fallback->headers(0).name() == "X-A" && c.fallback->headers(0).value() == "b";
        },
        {R"({"body": "x"})", R"({"status": 99})", R"({"status": 200, "headers": {"X": 1}})",
         R"({"status": 200, "extra": 1})", "\"503\""}}},
  };
}

class BreakerConfigAgreementTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<scheduler::KindConfigCheck> check = scheduler::KindConfigCheck::Create(scheduler::circuit_breaker::Kind());
    ASSERT_TRUE(check.ok()) << check.status();
    check_.emplace(*std::move(check));
  }

  absl::StatusOr<std::string> Validate(const std::string& config) const {
    return check_->Validate(config);
  }

  std::optional<scheduler::KindConfigCheck> check_;
};

TEST_F(BreakerConfigAgreementTest, EverySchemaFieldHasARowHere) {
  const std::map<std::string, Field> fields = Fields();
  for (const std::string& field : check_->SchemaFields()) {
    EXPECT_EQ(fields.count(field), 1u) << field << " is in the schema but not tested";
  }
  EXPECT_EQ(fields.size(), check_->SchemaFields().size());
}

TEST_F(BreakerConfigAgreementTest, DefaultsAgree) {
  absl::StatusOr<std::string> filled = Validate("{}");
  ASSERT_TRUE(filled.ok()) << filled.status();
  absl::StatusOr<BreakerConfig> from_filled = ParseBreakerConfig(*filled);
  absl::StatusOr<BreakerConfig> from_empty = ParseBreakerConfig("{}");
  ASSERT_TRUE(from_filled.ok()) << from_filled.status();
  ASSERT_TRUE(from_empty.ok()) << from_empty.status();
  const BreakerConfig defaults;
  for (const BreakerConfig* config : {&*from_filled, &*from_empty}) {
    EXPECT_EQ(config->latency_threshold_ms, defaults.latency_threshold_ms);
    EXPECT_EQ(config->error_threshold_percent, defaults.error_threshold_percent);
    EXPECT_EQ(config->min_requests, defaults.min_requests);
    EXPECT_EQ(config->window_ms, defaults.window_ms);
    EXPECT_EQ(config->open_ms, defaults.open_ms);
    EXPECT_EQ(config->half_open_requests, defaults.half_open_requests);
    EXPECT_EQ(config->cluster_scope, defaults.cluster_scope);
    EXPECT_FALSE(config->fallback.has_value());
  }
}

TEST_F(BreakerConfigAgreementTest, EveryFieldReachesTheStructAndTheAggregate) {
  for (const auto& [name, field] : Fields()) {
    const std::string config = "{\"" + name + "\": " + field.valid + "}";
    absl::StatusOr<std::string> validated = Validate(config);
    ASSERT_TRUE(validated.ok()) << config << ": " << validated.status();
    absl::StatusOr<BreakerConfig> parsed = ParseBreakerConfig(*validated);
    ASSERT_TRUE(parsed.ok()) << config << ": " << parsed.status();
    EXPECT_TRUE(field.reached(*parsed)) << config;
    EXPECT_TRUE(BreakerAggregate::Create(*validated).ok()) << config;
  }
  absl::StatusOr<std::string> windowed = Validate(R"({"window_ms": 2000})");
  ASSERT_TRUE(windowed.ok());
  absl::StatusOr<std::unique_ptr<KindAggregate>> aggregate = BreakerAggregate::Create(*windowed);
  ASSERT_TRUE(aggregate.ok());
  EXPECT_EQ((*aggregate)->WindowMs(), 2000);
}

TEST_F(BreakerConfigAgreementTest, AnInvalidValueIsRefusedByAll) {
  std::vector<std::string> configs = {R"({"unknown_field": 1})", "[]", "not json"};
  for (const auto& [name, field] : Fields()) {
    for (const std::string& value : field.invalid) {
      configs.push_back("{\"" + name + "\": " + value + "}");
    }
  }
  for (const std::string& config : configs) {
    EXPECT_FALSE(Validate(config).ok()) << "schema accepted " << config;
    EXPECT_FALSE(ParseBreakerConfig(config).ok()) << "parser accepted " << config;
    EXPECT_FALSE(BreakerAggregate::Create(config).ok()) << "aggregate accepted " << config;
  }
}

}  // namespace
}  // namespace middlepipe::aggregator::circuit_breaker

// The rate limit's config is read by three parties: the controller's validation (the
// kind's schema), the filter and the aggregate (both ParseRateConfig). This test holds
// them to one meaning: every schema field reaches the struct, the defaults agree, and a
// value one refuses (a rate <= 0 among them) is refused by all.
#include <functional>
#include <map>
#include <string>

#include "aggregator/rate-limit/rate_aggregate.h"
#include "gtest/gtest.h"
#include "scheduler/filters/rate-limit/config.h"
#include "scheduler/filters/rate-limit/kind.h"
#include "scheduler/kind_config_check.h"

namespace middlepipe::aggregator::rate_limit {
namespace {

using scheduler::rate_limit::ParseRateConfig;
using scheduler::rate_limit::RateConfig;

struct Field {
  std::string valid;  // a JSON value other than the default
  std::function<bool(const RateConfig&)> reached;  // the struct holds `valid`
  std::vector<std::string> invalid;  // JSON values the schema refuses
};

std::map<std::string, Field> Fields() {
  return {
      {"requests_per_second",
       {"12.5", [](const RateConfig& c) { return c.requests_per_second == 12.5; },
        {"0", "-3", "10000001", "\"5\""}}},
      {"burst", {"4", [](const RateConfig& c) { return c.burst == 4; }, {"-1", "1.5", "10000001"}}},
      {"scope",
       {"\"instance\"", [](const RateConfig& c) { return !c.cluster_scope; }, {"\"zone\"", "0"}}},
      {"key_header",
       {"\"X-User\"", [](const RateConfig& c) { return c.key_header == "X-User"; },
        {"\"\"", "\"X User\"", "\"X_User\"", "7", "\"" + std::string(129, 'a') + "\""}}},
      {"max_keys",
       {"50", [](const RateConfig& c) { return c.max_keys == 50; }, {"0", "1000001", "2.5"}}},
  };
}

// A config with the required rate and `name` set to `value`.
std::string With(const std::string& name, const std::string& value) {
  if (name == "requests_per_second") return "{\"requests_per_second\": " + value + "}";
  return "{\"requests_per_second\": 5, \"" + name + "\": " + value + "}";
}

class RateConfigAgreementTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<scheduler::KindConfigCheck> check = scheduler::KindConfigCheck::Create(scheduler::rate_limit::Kind());
    ASSERT_TRUE(check.ok()) << check.status();
    check_.emplace(*std::move(check));
  }

  absl::StatusOr<std::string> Validate(const std::string& config) const {
    return check_->Validate(config);
  }

  std::optional<scheduler::KindConfigCheck> check_;
};

TEST_F(RateConfigAgreementTest, EverySchemaFieldHasARowHere) {
  const std::map<std::string, Field> fields = Fields();
  for (const std::string& field : check_->SchemaFields()) {
    EXPECT_EQ(fields.count(field), 1u) << field << " is in the schema but not tested";
  }
  EXPECT_EQ(fields.size(), check_->SchemaFields().size());
}

TEST_F(RateConfigAgreementTest, DefaultsAgree) {
  absl::StatusOr<std::string> filled = Validate(R"({"requests_per_second": 5})");
  ASSERT_TRUE(filled.ok()) << filled.status();
  absl::StatusOr<RateConfig> from_filled = ParseRateConfig(*filled);
  absl::StatusOr<RateConfig> from_bare = ParseRateConfig(R"({"requests_per_second": 5})");
  ASSERT_TRUE(from_filled.ok()) << from_filled.status();
  ASSERT_TRUE(from_bare.ok()) << from_bare.status();
  const RateConfig defaults;
  for (const RateConfig* config : {&*from_filled, &*from_bare}) {
    EXPECT_EQ(config->burst, defaults.burst);
    EXPECT_EQ(config->cluster_scope, defaults.cluster_scope);
    EXPECT_EQ(config->key_header, defaults.key_header);
    EXPECT_EQ(config->max_keys, defaults.max_keys);
  }
}

TEST_F(RateConfigAgreementTest, EveryFieldReachesTheStructAndTheAggregate) {
  for (const auto& [name, field] : Fields()) {
    const std::string config = With(name, field.valid);
    absl::StatusOr<std::string> validated = Validate(config);
    ASSERT_TRUE(validated.ok()) << config << ": " << validated.status();
    absl::StatusOr<RateConfig> parsed = ParseRateConfig(*validated);
    ASSERT_TRUE(parsed.ok()) << config << ": " << parsed.status();
    EXPECT_TRUE(field.reached(*parsed)) << config;
    EXPECT_TRUE(RateAggregate::Create(*validated).ok()) << config;
  }
}

TEST_F(RateConfigAgreementTest, AnInvalidValueIsRefusedByAll) {
  std::vector<std::string> configs = {"{}", R"({"requests_per_second": 5, "unknown": 1})", "[]",
                                      "not json"};
  for (const auto& [name, field] : Fields()) {
    for (const std::string& value : field.invalid) configs.push_back(With(name, value));
  }
  for (const std::string& config : configs) {
    EXPECT_FALSE(Validate(config).ok()) << "schema accepted " << config;
    EXPECT_FALSE(ParseRateConfig(config).ok()) << "parser accepted " << config;
    EXPECT_FALSE(RateAggregate::Create(config).ok()) << "aggregate accepted " << config;
  }
}

}  // namespace
}  // namespace middlepipe::aggregator::rate_limit

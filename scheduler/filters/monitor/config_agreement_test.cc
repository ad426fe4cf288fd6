// The monitor's config is read by the controller's validation (the kind's schema and
// check) and by the filter (ParseMonitorConfig). This test holds them to one meaning:
// every schema field reaches the struct, the defaults agree, and a value one refuses is
// refused by both.
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "scheduler/filters/monitor/config.h"
#include "scheduler/filters/monitor/kind.h"
#include "scheduler/kind_config_check.h"

namespace middlepipe::scheduler::monitor {
namespace {

class MonitorConfigAgreementTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<KindConfigCheck> check = KindConfigCheck::Create(Kind());
    ASSERT_TRUE(check.ok()) << check.status();
    check_.emplace(*std::move(check));
  }

  absl::StatusOr<std::string> Validate(const std::string& config) const {
    return check_->Validate(config);
  }

  std::optional<KindConfigCheck> check_;
};

TEST_F(MonitorConfigAgreementTest, TheSchemaHasTheOneFieldTheStructHas) {
  EXPECT_EQ(check_->SchemaFields(), std::set<std::string>{"buckets_ms"});
}

TEST_F(MonitorConfigAgreementTest, DefaultsAgree) {
  absl::StatusOr<std::string> filled = Validate("{}");
  ASSERT_TRUE(filled.ok()) << filled.status();
  for (const std::string& config : {*filled, std::string("{}")}) {
    absl::StatusOr<MonitorConfig> parsed = ParseMonitorConfig(config);
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(parsed->buckets_ms, MonitorConfig().buckets_ms);
  }
}

TEST_F(MonitorConfigAgreementTest, TheFieldReachesTheStruct) {
  absl::StatusOr<std::string> validated = Validate(R"({"buckets_ms": [1, 2.5, 40]})");
  ASSERT_TRUE(validated.ok()) << validated.status();
  absl::StatusOr<MonitorConfig> parsed = ParseMonitorConfig(*validated);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->buckets_ms, (std::vector<double>{1, 2.5, 40}));
}

TEST_F(MonitorConfigAgreementTest, AnInvalidValueIsRefusedByBoth) {
  std::string too_many = "[";
  for (int i = 1; i <= 65; ++i) too_many += (i > 1 ? ", " : "") + std::to_string(i);
  too_many += "]";
  for (const std::string& config :
       {std::string(R"({"buckets_ms": []})"), std::string(R"({"buckets_ms": [0, 5]})"),
        std::string(R"({"buckets_ms": [5, 5]})"), std::string(R"({"buckets_ms": [10, 5]})"),
        std::string(R"({"buckets_ms": ["5"]})"), std::string(R"({"buckets_ms": 5})"),
        std::string(R"({"buckets": [5]})"), "{\"buckets_ms\": " + too_many + "}",
        std::string("[]")}) {
    EXPECT_FALSE(Validate(config).ok()) << "schema accepted " << config;
    EXPECT_FALSE(ParseMonitorConfig(config).ok()) << "parser accepted " << config;
  }
}

}  // namespace
}  // namespace middlepipe::scheduler::monitor

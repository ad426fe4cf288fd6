// The traffic split's config is read by the controller's validation (the kind's schema
// and check) and by the filter (ParseSplitConfig). This test holds them to one meaning:
// every schema field reaches the struct, and a value one refuses is refused by both.
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "scheduler/filters/traffic-split/config.h"
#include "scheduler/filters/traffic-split/kind.h"
#include "scheduler/kind_config_check.h"

namespace middlepipe::scheduler::traffic_split {
namespace {

class SplitConfigAgreementTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<KindConfigCheck> check = KindConfigCheck::Create(Kind());
    ASSERT_TRUE(check.ok()) << check.status();
    check_.emplace(*std::move(check));
  }

  absl::StatusOr<SplitConfig> Parse(const std::string& config) const {
    return ParseSplitConfig(config, {});
  }

  std::optional<KindConfigCheck> check_;
};

TEST_F(SplitConfigAgreementTest, EverySchemaFieldReachesTheStruct) {
  EXPECT_EQ(check_->SchemaFields(), (std::set<std::string>{"routes", "sticky_header"}));
  absl::StatusOr<std::string> validated = check_->Validate(
      R"({"routes": [{"service": "a", "weight": 1}, {"service": "b-2", "weight": 3.5}],
          "sticky_header": "X-User"})");
  ASSERT_TRUE(validated.ok()) << validated.status();
  absl::StatusOr<SplitConfig> parsed = Parse(*validated);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->routes.size(), 2u);
  EXPECT_EQ(parsed->routes[1].service, "b-2");
  EXPECT_EQ(parsed->routes[1].weight, 3.5);
  EXPECT_EQ(parsed->sticky_header, "X-User");
}

TEST_F(SplitConfigAgreementTest, AnInvalidValueIsRefusedByBoth) {
  std::string seventeen = "[";
  for (int i = 0; i < 17; ++i) {
    seventeen += (i > 0 ? ", " : "") + std::string(R"({"service": "s)") + std::to_string(i) +
                 R"(", "weight": 1})";
  }
  seventeen += "]";
  for (const std::string& config : std::vector<std::string>{
           "{}", "[]", R"({"routes": []})", "{\"routes\": " + seventeen + "}",
           R"({"routes": [{"service": "a"}]})", R"({"routes": [{"weight": 1}]})",
           R"({"routes": [{"service": "a", "weight": -1}]})",
           R"({"routes": [{"service": "a", "weight": "1"}]})",
           R"({"routes": [{"service": "A", "weight": 1}]})",
           R"({"routes": [{"service": "-a", "weight": 1}]})",
           R"({"routes": [{"service": "a", "weight": 1, "x": 1}]})",
           R"({"routes": [{"service": "a", "weight": 0}]})",
           R"({"routes": [{"service": "a", "weight": 1}, {"service": "a", "weight": 1}]})",
           R"({"routes": [{"service": "a", "weight": 1}], "sticky_header": "X User"})",
           R"({"routes": [{"service": "a", "weight": 1}], "sticky_header": ""})",
           R"({"routes": [{"service": "a", "weight": 1}], "other": 1})"}) {
    EXPECT_FALSE(check_->Validate(config).ok()) << "schema accepted " << config;
    EXPECT_FALSE(Parse(config).ok()) << "parser accepted " << config;
  }
}

}  // namespace
}  // namespace middlepipe::scheduler::traffic_split

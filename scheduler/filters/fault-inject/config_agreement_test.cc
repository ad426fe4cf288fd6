// The fault injector's config is read by the controller's validation (the kind's schema)
// and by the filter (ParseFaultConfig). This test holds them to one meaning: every schema
// field reaches the struct, the defaults agree, and a value one refuses is refused by both.
#include <functional>
#include <map>
#include <string>

#include "gtest/gtest.h"
#include "scheduler/filters/fault-inject/config.h"
#include "scheduler/filters/fault-inject/kind.h"
#include "scheduler/kind_config_check.h"

namespace middlepipe::scheduler::fault_inject {
namespace {

struct Field {
  std::string valid;  // a JSON value other than the default
  std::function<bool(const FaultConfig&)> reached;  // the struct holds `valid`
  std::vector<std::string> invalid;  // JSON values the schema refuses
};

std::map<std::string, Field> Fields() {
  return {
      {"delay_ms",
       {"40", [](const FaultConfig& c) { return c.delay_ms == 40; }, {"-1", "600001", "1.5"}}},
      {"delay_percent",
       {"12.5", [](const FaultConfig& c) { return c.delay_percent == 12.5; },
        {"-0.5", "101", "\"5\""}}},
      {"abort_status",
       {"429", [](const FaultConfig& c) { return c.abort_status == 429; }, {"99", "600", "5.5"}}},
      {"abort_percent",
       {"100", [](const FaultConfig& c) { return c.abort_percent == 100; }, {"-1", "100.1"}}},
  };
}

class FaultConfigAgreementTest : public ::testing::Test {
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

TEST_F(FaultConfigAgreementTest, EverySchemaFieldHasARowHere) {
  const std::map<std::string, Field> fields = Fields();
  for (const std::string& field : check_->SchemaFields()) {
    EXPECT_EQ(fields.count(field), 1u) << field << " is in the schema but not tested";
  }
  EXPECT_EQ(fields.size(), check_->SchemaFields().size());
}

TEST_F(FaultConfigAgreementTest, DefaultsAgree) {
  absl::StatusOr<std::string> filled = Validate("{}");
  ASSERT_TRUE(filled.ok()) << filled.status();
  const FaultConfig defaults;
  for (const std::string& config : {*filled, std::string("{}")}) {
    absl::StatusOr<FaultConfig> parsed = ParseFaultConfig(config);
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(parsed->delay_ms, defaults.delay_ms);
    EXPECT_EQ(parsed->delay_percent, defaults.delay_percent);
    EXPECT_EQ(parsed->abort_status, defaults.abort_status);
    EXPECT_EQ(parsed->abort_percent, defaults.abort_percent);
  }
}

TEST_F(FaultConfigAgreementTest, EveryFieldReachesTheStruct) {
  for (const auto& [name, field] : Fields()) {
    const std::string config = "{\"" + name + "\": " + field.valid + "}";
    absl::StatusOr<std::string> validated = Validate(config);
    ASSERT_TRUE(validated.ok()) << config << ": " << validated.status();
    absl::StatusOr<FaultConfig> parsed = ParseFaultConfig(*validated);
    ASSERT_TRUE(parsed.ok()) << config << ": " << parsed.status();
    EXPECT_TRUE(field.reached(*parsed)) << config;
  }
}

TEST_F(FaultConfigAgreementTest, AnInvalidValueIsRefusedByBoth) {
  std::vector<std::string> configs = {R"({"unknown": 1})", "[]", "not json"};
  for (const auto& [name, field] : Fields()) {
    for (const std::string& value : field.invalid) {
      configs.push_back("{\"" + name + "\": " + value + "}");
    }
  }
  for (const std::string& config : configs) {
    EXPECT_FALSE(Validate(config).ok()) << "schema accepted " << config;
    EXPECT_FALSE(ParseFaultConfig(config).ok()) << "parser accepted " << config;
  }
}

}  // namespace
}  // namespace middlepipe::scheduler::fault_inject

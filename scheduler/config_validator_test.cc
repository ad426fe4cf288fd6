#include "scheduler/config_validator.h"

#include "gtest/gtest.h"

namespace middlepipe::scheduler {
namespace {

constexpr char kSchema[] = R"json({
  "type": "object",
  "additionalProperties": false,
  "required": ["rate"],
  "properties": {
    "rate": {"type": "number", "exclusiveMinimum": 0},
    "count": {"type": "integer", "minimum": 1, "maximum": 10, "default": 3},
    "mode": {"type": "string", "enum": ["a", "b"], "default": "a"},
    "nested": {
      "type": "object", "additionalProperties": false,
      "properties": {"status": {"type": "integer", "maximum": 599}, "on": {"type": "boolean", "default": true}}
    },
    "list": {"type": "array", "minItems": 1,
             "items": {"type": "object", "properties": {"w": {"type": "number", "minimum": 0}}}}
  }
})json";

class ConfigValidatorTest : public ::testing::Test {
 protected:
  std::string ErrorFor(const char* config) {
    auto result = validator_.Validate(nlohmann::json::parse(config));
    EXPECT_FALSE(result.ok()) << config << " was accepted";
    if (result.ok()) return "";
    EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
    return std::string(result.status().message());
  }

  ConfigValidator validator_ = *ConfigValidator::Create(kSchema);
};

TEST_F(ConfigValidatorTest, FillsDefaultsIncludingNested) {
  auto filled = validator_.Validate(nlohmann::json::parse(R"({"rate": 2, "nested": {}})"));
  ASSERT_TRUE(filled.ok()) << filled.status();
  EXPECT_EQ(*filled, nlohmann::json::parse(
                         R"({"rate": 2, "count": 3, "mode": "a", "nested": {"on": true}})"));
}

TEST_F(ConfigValidatorTest, KeepsWhatTheUserSet) {
  auto filled = validator_.Validate(nlohmann::json::parse(R"({"rate": 2, "count": 7})"));
  ASSERT_TRUE(filled.ok()) << filled.status();
  EXPECT_EQ((*filled)["count"], 7);
}

TEST_F(ConfigValidatorTest, ErrorsNameTheFieldAndTheRule) {
  EXPECT_EQ(ErrorFor(R"({"rate": 1, "count": "x"})"), "config: field count: must be an integer");
  EXPECT_EQ(ErrorFor(R"({"rate": 1, "count": 1.5})"), "config: field count: must be an integer");
  EXPECT_EQ(ErrorFor(R"({"rate": 1, "count": 0})"), "config: field count: must be >= 1");
  EXPECT_EQ(ErrorFor(R"({"rate": 1, "count": 11})"), "config: field count: must be <= 10");
  EXPECT_EQ(ErrorFor(R"({"rate": 0})"), "config: field rate: must be > 0");
  EXPECT_EQ(ErrorFor(R"({"rate": 1, "mode": "c"})"),
            "config: field mode: must be one of \"a\", \"b\"");
  EXPECT_EQ(ErrorFor(R"({"rate": 1, "nested": {"status": 700}})"),
            "config: field nested.status: must be <= 599");
  EXPECT_EQ(ErrorFor(R"({"rate": 1, "list": [{"w": 1}, {"w": -1}]})"),
            "config: field list[1].w: must be >= 0");
  EXPECT_EQ(ErrorFor(R"({"rate": 1, "list": []})"),
            "config: field list: must have at least 1 items");
}

TEST_F(ConfigValidatorTest, UnknownAndMissingFields) {
  EXPECT_EQ(ErrorFor(R"({"rate": 1, "rat": 2})"),
            "config: unknown field \"rat\" (known: count, list, mode, nested, rate)");
  EXPECT_EQ(ErrorFor(R"({"rate": 1, "nested": {"x": 1}})"),
            "config: field nested: unknown field \"x\" (known: on, status)");
  EXPECT_EQ(ErrorFor(R"({})"), "config: missing required field \"rate\"");
}

TEST_F(ConfigValidatorTest, NotAnObject) {
  EXPECT_EQ(ErrorFor("[1]"), "config: must be a JSON object");
}

TEST(ConfigValidatorCreateTest, RefusesABrokenSchema) {
  EXPECT_FALSE(ConfigValidator::Create("{not json").ok());
  EXPECT_FALSE(ConfigValidator::Create("[]").ok());
}

}  // namespace
}  // namespace middlepipe::scheduler

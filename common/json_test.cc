#include "common/json.h"

#include <string>

#include "gtest/gtest.h"

namespace middlepipe {
namespace {

std::string Nested(int levels) {
  return "{\"x\":" + std::string(levels, '[') + std::string(levels, ']') + "}";
}

TEST(JsonTest, ParsesWhatNestsWithinTheBound) {
  absl::StatusOr<nlohmann::json> parsed = ParseJson(Nested(kMaxJsonDepth - 1), "the body");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_TRUE(parsed->contains("x"));
}

// The bug: a broker body nesting 100,000 arrays overflowed the controller's stack.
TEST(JsonTest, RefusesDeepNestingBeforeParsing) {
  for (int levels : {kMaxJsonDepth + 1, 100'000, 1'000'000}) {
    absl::StatusOr<nlohmann::json> parsed = ParseJson(Nested(levels), "the body");
    ASSERT_FALSE(parsed.ok()) << levels;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    // The object is level 1, so the 64th '[' (byte 68) is the 65th level.
    EXPECT_EQ(parsed.status().message(),
              "the body nests deeper than 64 levels (at byte 68)");
  }
}

TEST(JsonTest, BracketsInsideStringsDoNotCount) {
  const std::string text = "{\"rule\":\"" + std::string(1000, '[') + "\\\"" +
                           std::string(1000, '{') + "\"}";
  EXPECT_TRUE(CheckJsonDepth(text, "config").ok());
  EXPECT_TRUE(ParseJson(text, "config").ok());
}

TEST(JsonTest, NamesWhatIsNotJson) {
  absl::StatusOr<nlohmann::json> parsed = ParseJson("{\"a\":", "the config");
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(parsed.status().message().find("the config is not valid JSON: parse error"),
            std::string::npos)
      << parsed.status();
}

// Found by json_fuzz: a number past a double's range threw out_of_range, which the parse
// error handling did not catch (a broker body of {"x":1e999} would end the controller).
TEST(JsonTest, ANumberPastADoubleIsAnErrorNotAnException) {
  for (const char* text : {"{\"x\":1e999}", "333e333333333336"}) {
    absl::StatusOr<nlohmann::json> parsed = ParseJson(text, "the body");
    ASSERT_FALSE(parsed.ok()) << text;
    EXPECT_NE(parsed.status().message().find("the body is not valid JSON: number overflow"),
              std::string::npos)
        << parsed.status();
  }
}

}  // namespace
}  // namespace middlepipe

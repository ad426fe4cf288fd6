#include "common/names.h"

#include <string>

#include "gtest/gtest.h"

namespace middlepipe {
namespace {

TEST(ValidateNameTest, AcceptsDnsLabels) {
  for (const char* name : {"a", "orders-breaker", "web2", "a-b-c", "9lives",
                           "5f6c1c6b-0f2e-4b8e-9d2a-3c1e2b4a5d6f"}) {
    EXPECT_TRUE(ValidateName("name", name).ok()) << name;
  }
  EXPECT_TRUE(ValidateName("name", std::string(kMaxNameLength, 'a')).ok());
}

TEST(ValidateNameTest, RefusalsNameWhatAndWhy) {
  struct Case {
    std::string name;
    const char* says;
  };
  for (const Case& c : {Case{"", "middlepipe name is empty"},
                        Case{std::string(64, 'a'), "longer than 63"},
                        Case{"Orders", "lowercase letters"},
                        Case{"a_b", "lowercase letters"},
                        Case{"a b", "lowercase letters"},
                        Case{"-x", "start with a lowercase letter or a digit"},
                        Case{"x-", "must not end with '-'"}}) {
    absl::Status status = ValidateName("middlepipe name", c.name);
    ASSERT_FALSE(status.ok()) << c.name;
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(status.message().find(c.says), absl::string_view::npos)
        << c.name << " -> " << status.message();
  }
}

}  // namespace
}  // namespace middlepipe

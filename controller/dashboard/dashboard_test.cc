#include "controller/dashboard/sessions.h"

#include "gtest/gtest.h"

namespace middlepipe::controller {
namespace {

TEST(SessionTableTest, AnOpenSessionNamesItsUserUntilItExpiresOrCloses) {
  auto now = std::chrono::steady_clock::time_point() + std::chrono::hours(1);
  SessionTable sessions([&now] { return now; });
  absl::StatusOr<std::string> alice = sessions.Open("alice");
  ASSERT_TRUE(alice.ok()) << alice.status();
  EXPECT_EQ(alice->size(), 64u);  // 32 random bytes, hex
  absl::StatusOr<std::string> bob = sessions.Open("bob");
  ASSERT_TRUE(bob.ok());
  EXPECT_NE(*alice, *bob);
  EXPECT_EQ(sessions.UserFor(*alice), "alice");
  EXPECT_EQ(sessions.UserFor(*bob), "bob");
  EXPECT_EQ(sessions.UserFor("not-a-session"), std::nullopt);
  EXPECT_EQ(sessions.UserFor(""), std::nullopt);

  sessions.Close(*bob);
  EXPECT_EQ(sessions.UserFor(*bob), std::nullopt);
  now += SessionTable::kLifetime;
  EXPECT_EQ(sessions.UserFor(*alice), std::nullopt);
}

TEST(SessionTableTest, HoldsABoundedNumberDroppingTheOldest) {
  auto now = std::chrono::steady_clock::time_point();
  SessionTable sessions([&now] { return now; });
  absl::StatusOr<std::string> first = sessions.Open("alice");
  ASSERT_TRUE(first.ok());
  for (size_t i = 0; i < SessionTable::kMaxSessions; ++i) {
    now += std::chrono::milliseconds(1);
    ASSERT_TRUE(sessions.Open("mallory").ok());
  }
  EXPECT_EQ(sessions.UserFor(*first), std::nullopt);
}

TEST(CookieValueTest, FindsTheNamedCookieOnly) {
  EXPECT_EQ(CookieValue("a=1; mp_session=abc; b=2", "mp_session"), "abc");
  EXPECT_EQ(CookieValue("mp_session=abc", "mp_session"), "abc");
  EXPECT_EQ(CookieValue("xmp_session=abc; mp_session_old=z", "mp_session"), "");
  EXPECT_EQ(CookieValue("", "mp_session"), "");
}

TEST(FormValueTest, DecodesFormFields) {
  EXPECT_EQ(FormValue("token=ab%2Bc+d&other=1", "token"), "ab+c d");
  EXPECT_EQ(FormValue("other=1&token=xyz", "token"), "xyz");
  EXPECT_EQ(FormValue("token=%zz%4", "token"), "%zz%4");  // malformed escapes kept as is
  EXPECT_EQ(FormValue("tokens=1", "token"), "");
  EXPECT_EQ(FormValue("", "token"), "");
}

}  // namespace
}  // namespace middlepipe::controller

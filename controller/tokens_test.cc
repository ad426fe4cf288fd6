#include "controller/tokens.h"

#include <sys/stat.h>

#include <cstdlib>

#include "common/files.h"
#include "gtest/gtest.h"

namespace middlepipe::controller {
namespace {

std::string FreshDir(const std::string& name) {
  std::string dir = std::string(std::getenv("TEST_TMPDIR")) + "/" + name;
  EXPECT_TRUE(MakeDirectories(dir, 0700).ok());
  return dir;
}

TEST(TokenTableTest, ParsesUsersTokensCommentsAndRotation) {
  auto table = TokenTable::Parse(
      "# operators\n"
      "alice  aaaaaaaaaaaaaaaa1\n"
      "\n"
      "bob\tbbbbbbbbbbbbbbbb\n"
      "alice aaaaaaaaaaaaaaaa2\n",
      "tokens.txt");
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(table->UserFor("aaaaaaaaaaaaaaaa1"), "alice");
  EXPECT_EQ(table->UserFor("aaaaaaaaaaaaaaaa2"), "alice");
  EXPECT_EQ(table->UserFor("bbbbbbbbbbbbbbbb"), "bob");
  EXPECT_EQ(table->UserFor("bbbbbbbbbbbbbbbbX"), std::nullopt);
  EXPECT_EQ(table->UserFor(""), std::nullopt);
  EXPECT_EQ(table->Users(), (std::vector<std::string>{"alice", "bob"}));
}

TEST(TokenTableTest, ErrorsNameFileLineAndProblem) {
  struct Case {
    const char* text;
    const char* says;
  };
  for (const Case& c : {
           Case{"alice\n", "tokens.txt:1: expected USER TOKEN"},
           Case{"ok aaaaaaaaaaaaaaaa\nAlice aaaaaaaaaaaaaaab\n", "tokens.txt:2: user \"Alice\""},
           Case{"alice short\n", "tokens.txt:1: token of user \"alice\" is shorter than 16"},
           Case{"a aaaaaaaaaaaaaaaa\nb aaaaaaaaaaaaaaaa\n", "already the token of user \"a\""},
           Case{"# nothing\n", "tokens.txt: no USER TOKEN lines"},
       }) {
    auto table = TokenTable::Parse(c.text, "tokens.txt");
    ASSERT_FALSE(table.ok()) << c.text;
    EXPECT_NE(table.status().message().find(c.says), absl::string_view::npos)
        << table.status().message();
  }
}

TEST(LoadTokensTest, CreatesAdminTokenOnceWithMode0600) {
  const std::string dir = FreshDir("admin");
  auto first = LoadTokens(std::nullopt, dir);
  ASSERT_TRUE(first.ok()) << first.status();
  auto token = ReadFile(dir + "/admin-token");
  ASSERT_TRUE(token.ok());
  ASSERT_EQ(token->size(), 65u);  // 64 hex digits and a newline
  EXPECT_EQ(first->UserFor(token->substr(0, 64)), "admin");

  struct stat info {};
  ASSERT_EQ(stat((dir + "/admin-token").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);

  auto second = LoadTokens(std::nullopt, dir);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->UserFor(token->substr(0, 64)), "admin") << "token must survive restarts";
}

TEST(LoadTokensTest, TokensFileWinsAndItsErrorsAreReported) {
  const std::string dir = FreshDir("file");
  ASSERT_TRUE(WriteFileAtomically(dir + "/tokens", "carol cccccccccccccccc\n", 0600).ok());
  auto table = LoadTokens(dir + "/tokens", dir);
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(table->Users(), std::vector<std::string>{"carol"});

  auto missing = LoadTokens(dir + "/nope", dir);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("/nope"), absl::string_view::npos);
}

TEST(NewRandomTokenTest, DiffersEachTime) {
  auto a = NewRandomToken();
  auto b = NewRandomToken();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(*a, *b);
  EXPECT_EQ(a->size(), 64u);
}

}  // namespace
}  // namespace middlepipe::controller

#include "scheduler/filters/ids/rule.h"

#include <gtest/gtest.h>

#include "scheduler/packet/test_packets.h"

namespace middlepipe::scheduler::ids {
namespace {

using packet::testing::At;

TEST(ParseRuleTest, ReadsTheSnortSubset) {
  absl::StatusOr<Rule> rule = ParseRule(
      R"(drop tcp 10.0.0.0/8 any -> 192.168.1.5 8000:8080 (msg:"cmd; \"exec\""; )"
      R"(content:"GET|20|/admin"; nocase; content:"|0d 0a 0d 0a|"; sid:1000001; rev:2;))");
  ASSERT_TRUE(rule.ok()) << rule.status();
  EXPECT_EQ(rule->action, Rule::Action::kDrop);
  EXPECT_EQ(rule->message, "cmd; \"exec\"");
  ASSERT_EQ(rule->contents.size(), 2u);
  EXPECT_EQ(rule->contents[0].bytes, "GET /admin");
  EXPECT_TRUE(rule->contents[0].nocase);
  EXPECT_EQ(rule->contents[1].bytes, "\r\n\r\n");
  EXPECT_FALSE(rule->contents[1].nocase);
  EXPECT_EQ(rule->sid, 1000001u);
  EXPECT_TRUE(rule->Applies(At("10.3.3.3", 5555), At("192.168.1.5", 8080)));
  EXPECT_FALSE(rule->Applies(At("10.3.3.3", 5555), At("192.168.1.5", 8081)));
  EXPECT_FALSE(rule->Applies(At("192.168.1.5", 8080), At("10.3.3.3", 5555)));  // ->
}

TEST(ParseRuleTest, BothWaysAndPortRanges) {
  absl::StatusOr<Rule> rule =
      ParseRule(R"(alert tcp any :1023 <> any 6000: (content:"x"; sid:5;))");
  ASSERT_TRUE(rule.ok()) << rule.status();
  EXPECT_TRUE(rule->Applies(At("1.1.1.1", 80), At("2.2.2.2", 6001)));
  EXPECT_TRUE(rule->Applies(At("2.2.2.2", 6001), At("1.1.1.1", 80)));
  EXPECT_FALSE(rule->Applies(At("1.1.1.1", 1024), At("2.2.2.2", 6001)));
}

TEST(ParseRuleTest, ErrorsNameThePartThatIsWrong) {
  auto error = [](const std::string& text) {
    return std::string(ParseRule(text).status().message());
  };
  EXPECT_EQ(error("alert tcp any any -> any any"),
            "expected a header and (options) in parentheses");
  EXPECT_EQ(error(R"(pass tcp any any -> any any (content:"a"; sid:1;))"),
            "action: pass is not alert or drop");
  EXPECT_EQ(error(R"(alert udp any any -> any any (content:"a"; sid:1;))"),
            "protocol: only tcp is supported, not udp");
  EXPECT_EQ(error(R"(alert tcp $HOME_NET any -> any any (content:"a"; sid:1;))"),
            "source: variables ($HOME_NET) are not supported; use an address or any");
  EXPECT_EQ(error(R"(alert tcp any 70000 -> any any (content:"a"; sid:1;))"),
            "source port: 70000 is not any, N, N:M, N: or :M (ports 0-65535)");
  EXPECT_EQ(error(R"(alert tcp any any => any any (content:"a"; sid:1;))"),
            "direction: => is not -> or <>");
  EXPECT_EQ(error(R"(alert tcp any any -> 10.0.0.300 any (content:"a"; sid:1;))"),
            "destination: 10.0.0.300 is not any, an IPv4 address or A.B.C.D/PREFIX");
  EXPECT_EQ(error(R"(alert tcp any any -> any any (conten:"a"; sid:1;))"),
            "option 1 (conten): unsupported option (msg, content, nocase, sid and rev are)");
  EXPECT_EQ(error(R"(alert tcp any any -> any any (nocase; content:"a"; sid:1;))"),
            "option 1 (nocase): nocase must follow a content");
  EXPECT_EQ(error(R"(alert tcp any any -> any any (content:"|4g|"; sid:1;))"),
            "option 1 (content): 'g' is not a hex digit between | |");
  EXPECT_EQ(error(R"(alert tcp any any -> any any (content:"|41"; sid:1;))"),
            "option 1 (content): unterminated |hex| run");
  EXPECT_EQ(error(R"(alert tcp any any -> any any (content:a; sid:1;))"),
            "option 1 (content): value must be in double quotes");
  EXPECT_EQ(error(R"(alert tcp any any -> any any (msg:"m"; sid:1;))"),
            "needs at least one content");
  EXPECT_EQ(error(R"(alert tcp any any -> any any (content:"a";))"), "missing sid");
  EXPECT_EQ(error(R"(alert tcp any any -> any any (content:"a"; sid:x;))"),
            "option 2 (sid): must be a number");
  EXPECT_EQ(error(R"(alert tcp any any -> any (content:"a"; sid:1;))"),
            "header has 6 parts; expected ACTION tcp SRC SRC_PORT -> DST DST_PORT");
}

}  // namespace
}  // namespace middlepipe::scheduler::ids

#include "clients/cpp/hook.h"

#include <sstream>

#include "gtest/gtest.h"

namespace middlepipe {
namespace {

TEST(ParseCallbackMarkerTest, ReadsKindNameEventAndQuotedDetail) {
  auto event = ParseCallbackMarker(
      "circuit-breaker; name=\"orders-breaker\"; event=open; detail=\"50%; of 4 calls\"");
  ASSERT_TRUE(event.has_value());
  EXPECT_EQ(event->kind, "circuit-breaker");
  EXPECT_EQ(event->middlepipe, "orders-breaker");
  EXPECT_EQ(event->event, "open");
  EXPECT_EQ(event->detail, "50%; of 4 calls");
  EXPECT_FALSE(ParseCallbackMarker("garbage").has_value());
  EXPECT_FALSE(ParseCallbackMarker("kind; name=\"unterminated").has_value());
}

TEST(HookTest, FailsOpenWhenTheAgentIsAbsentAndSaysSoOnce) {
  std::ostringstream log;
  HookOptions options;
  options.socket_path = "/nonexistent/agent.sock";
  options.log = &log;
  Hook hook(options);
  int sent = 0;
  for (int i = 0; i < 3; ++i) {
    HttpResponse response = hook.Call("orders", HttpRequest(), [&](const Destination& to,
                                                                   const HttpRequest&) {
      ++sent;
      EXPECT_EQ(to.service, "orders");
      HttpResponse ok;
      ok.status = 200;
      return ok;
    });
    EXPECT_EQ(response.status, 200);
  }
  EXPECT_EQ(sent, 3);
  EXPECT_EQ(log.str(),
            "middlepipe: agent at /nonexistent/agent.sock is unreachable (No such file or "
            "directory); calls go through without middlepipes until it is back\n");
}

}  // namespace
}  // namespace middlepipe

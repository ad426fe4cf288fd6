#include "common/markers.h"

#include <cstdlib>

#include "gtest/gtest.h"

namespace middlepipe::markers {
namespace {

TEST(CallbackMarkerTest, WhatOneSideFormatsTheOtherParses) {
  const std::string value =
      FormatCallbackMarker("circuit-breaker", "orders-breaker", "open", "50%; of 4 calls");
  EXPECT_EQ(value,
            "circuit-breaker; name=\"orders-breaker\"; event=open; detail=\"50%; of 4 calls\"");
  std::optional<CallbackEvent> event = ParseCallbackMarker(value);
  ASSERT_TRUE(event.has_value());
  EXPECT_EQ(event->kind, "circuit-breaker");
  EXPECT_EQ(event->middlepipe, "orders-breaker");
  EXPECT_EQ(event->event, "open");
  EXPECT_EQ(event->detail, "50%; of 4 calls");
}

TEST(CallbackMarkerTest, NoDetailLeavesItOut) {
  EXPECT_EQ(FormatCallbackMarker("rate-limit", "api-limit", "limited"),
            "rate-limit; name=\"api-limit\"; event=limited");
}

TEST(CallbackMarkerTest, RefusesWhatIsNotAMarker) {
  EXPECT_FALSE(ParseCallbackMarker("garbage").has_value());
  EXPECT_FALSE(ParseCallbackMarker("kind; name=\"unterminated").has_value());
  EXPECT_FALSE(ParseCallbackMarker("kind; name").has_value());
  EXPECT_FALSE(ParseCallbackMarker("; event=open").has_value());
}

TEST(HeaderNameEqualsTest, IgnoresAsciiCaseOnly) {
  EXPECT_TRUE(HeaderNameEquals("Middlepipe-Epoch", "middlepipe-epoch"));
  EXPECT_TRUE(HeaderNameEquals("", ""));
  EXPECT_FALSE(HeaderNameEquals("Middlepipe-Epoch", "Middlepipe-Epochs"));
  EXPECT_FALSE(HeaderNameEquals("x-a", "x_a"));
}

TEST(AgentPathsTest, ExplicitThenEnvironmentThenDefault) {
  unsetenv(kAgentSocketEnv);
  unsetenv(kAgentSegmentEnv);
  EXPECT_EQ(AgentSocketPath(), "/run/middlepipe/agent.sock");
  EXPECT_EQ(AgentSegmentPath("", AgentSocketPath()), "/run/middlepipe/agent.sock.shm");
  setenv(kAgentSocketEnv, "/tmp/a.sock", 1);
  EXPECT_EQ(AgentSocketPath(), "/tmp/a.sock");
  EXPECT_EQ(AgentSocketPath("/given.sock"), "/given.sock");
  EXPECT_EQ(AgentSegmentPath("", AgentSocketPath()), "/tmp/a.sock.shm");
  setenv(kAgentSegmentEnv, "/tmp/segment", 1);
  EXPECT_EQ(AgentSegmentPath("", AgentSocketPath()), "/tmp/segment");
  EXPECT_EQ(AgentSegmentPath("/given.shm", AgentSocketPath()), "/given.shm");
  setenv(kAgentSocketEnv, "", 1);
  EXPECT_EQ(AgentSocketPath(), "/run/middlepipe/agent.sock");
  unsetenv(kAgentSocketEnv);
  unsetenv(kAgentSegmentEnv);
}

}  // namespace
}  // namespace middlepipe::markers

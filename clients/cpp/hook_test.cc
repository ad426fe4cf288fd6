#include "clients/cpp/hook.h"

#include <chrono>
#include <cstdlib>
#include <limits>
#include <sstream>

#include "fastpath/program.h"
#include "fastpath/segment.h"
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

// An agent's segment holding one program for orders, beating now.
std::unique_ptr<fastpath::Segment> PublishOrders(const std::string& path, std::vector<fastpath::Step> steps) {
  std::string error;
  std::unique_ptr<fastpath::Segment> segment =
      fastpath::Segment::Create(path, fastpath::Segment::Sizes(), static_cast<uid_t>(-1), &error);
  EXPECT_NE(segment, nullptr) << error;
  fastpath::Program program;
  program.binding_id = 1;
  program.epoch = 9;
  program.service = "orders";
  program.fast = true;
  program.valid_until_ms = std::numeric_limits<int64_t>::max();
  program.filter_count = 2;
  program.steps = std::move(steps);
  segment->header().directory_seq.fetch_add(1);
  EXPECT_TRUE(segment->WriteSlot(0, fastpath::Encode(program)));
  segment->header().directory_seq.fetch_add(1);
  segment->header().heartbeat_ms.store(static_cast<uint64_t>(fastpath::MonotonicMicros() / 1000));
  return segment;
}

std::string TempPath(const std::string& name) {
  return std::string(std::getenv("TEST_TMPDIR") ? std::getenv("TEST_TMPDIR") : "/tmp") + "/" + name;
}

// With a segment the agent keeps current, the hook decides calls in-process: the socket
// (absent here) is never asked, an open breaker throws its typed error and fires the
// callbacks, a passed call carries the markers and reaches the agent through the ring.
TEST(HookTest, DecidesFromTheSegmentWithoutTheSocket) {
  const std::string path = TempPath("hook-fast.shm");
  std::ostringstream log;
  HookOptions options;
  options.socket_path = "/nonexistent/agent.sock";
  options.shm_path = path;
  options.log = &log;

  std::unique_ptr<fastpath::Segment> segment = PublishOrders(path, {});
  Hook hook(options);
  std::vector<CallbackEvent> fired;
  hook.On("*", [&](const CallbackEvent& event) { fired.push_back(event); });
  int sent = 0;
  auto send = [&](const Destination&, const HttpRequest& request) {
    ++sent;
    HttpResponse response;
    response.status = 201;
    response.body = request.body + "!";
    return response;
  };
  HttpRequest request;
  request.body = "hello";
  HttpResponse passed = hook.Call("orders", request, send);
  EXPECT_EQ(sent, 1);
  EXPECT_EQ(passed.status, 201);
  EXPECT_EQ(passed.Header("Middlepipe-Epoch"), "9");
  std::vector<fastpath::ObservationData> observed;
  segment->Drain([&](const fastpath::ObservationData& data) { observed.push_back(data); });
  ASSERT_EQ(observed.size(), 1u);
  EXPECT_EQ(observed[0].status, 201u);
  EXPECT_EQ(observed[0].request_bytes, 5u);
  EXPECT_EQ(observed[0].response_bytes, 6u);
  EXPECT_EQ(observed[0].answered_by, fastpath::kNotAnswered);

  fastpath::Step open;
  open.kind = fastpath::Step::Kind::kRespond;
  open.filter_index = 0;
  open.markers = {{"Middlepipe-Callback", "circuit-breaker; name=\"orders-breaker\"; event=open; detail=\"too slow\""}};
  open.response.status = 503;
  open.response.raise = true;
  segment = PublishOrders(path, {open});
  Hook fresh(options);  // attaches to the new segment at once
  fresh.On("open", [&](const CallbackEvent& event) { fired.push_back(event); });
  try {
    fresh.Call("orders", request, send);
    FAIL() << "the open breaker let the call through";
  } catch (const CircuitOpenError& error) {
    EXPECT_EQ(error.middlepipe(), "orders-breaker");
    EXPECT_NE(std::string(error.what()).find("too slow"), std::string::npos) << error.what();
  }
  EXPECT_EQ(sent, 1) << "the service was called";
  ASSERT_EQ(fired.size(), 1u);
  EXPECT_EQ(fired[0].event, "open");
  EXPECT_EQ(log.str(), "") << "the socket was asked, or the fast path complained";
}

// A sticky split and a delay decided in-process: the hook waits, sends where the split
// chose (by the request's header), reports the wait in the latency and the route to the
// agent.
TEST(HookTest, RoutesAndDelaysFromTheSegment) {
  const std::string path = TempPath("hook-route.shm");
  fastpath::Step slow;
  slow.kind = fastpath::Step::Kind::kFault;
  slow.filter_index = 0;
  slow.delay_percent = 100;
  slow.delay_ms = 20;
  slow.delay_markers = {{"Middlepipe-Callback", "fault-inject; name=\"slow\"; event=delay"}};
  fastpath::Step split;
  split.kind = fastpath::Step::Kind::kRoute;
  split.filter_index = 1;
  split.sticky_header = "x-user";
  split.routes = {{"orders", 1, true}, {"orders-v2", 1, true}};
  split.targets = {{true, {}}, {false, {{"10.9.9.9", 8081}}}};
  std::unique_ptr<fastpath::Segment> segment = PublishOrders(path, {slow, split});
  std::ostringstream log;
  HookOptions options;
  options.socket_path = "/nonexistent/agent.sock";
  options.shm_path = path;
  options.log = &log;
  Hook hook(options);
  std::vector<Destination> sent_to;
  auto send = [&](const Destination& to, const HttpRequest&) {
    sent_to.push_back(to);
    HttpResponse ok;
    ok.status = 200;
    return ok;
  };
  for (int user = 0; user < 16; ++user) {
    HttpRequest request;
    request.headers = {{"X-User", "u" + std::to_string(user)}};
    const auto started = std::chrono::steady_clock::now();
    HttpResponse response = hook.Call("orders", request, send);
    EXPECT_GE(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(20));
    EXPECT_EQ(response.Header("Middlepipe-Callback"), "fault-inject; name=\"slow\"; event=delay");
    const size_t route = *fastpath::StickyRoute(split.routes, "u" + std::to_string(user));
    ASSERT_EQ(sent_to.size(), static_cast<size_t>(user) + 1);
    EXPECT_EQ(sent_to.back().service, route == 1 ? "orders-v2" : "orders");
    EXPECT_EQ(sent_to.back().endpoints.size(), route == 1 ? 1u : 0u);
    std::vector<fastpath::ObservationData> observed;
    segment->Drain([&](const fastpath::ObservationData& data) { observed.push_back(data); });
    ASSERT_EQ(observed.size(), 1u);
    EXPECT_GE(observed[0].latency_us, 20'000u) << "the delay counts as the service's";
    EXPECT_EQ(observed[0].choices[1], route + 1);
  }
  EXPECT_EQ(hook.fast_path()->asked(), 0u);
  EXPECT_EQ(log.str(), "");
}

// Same verdict with the fast path turned off: the socket is asked (and, absent, fails open).
TEST(HookTest, FastPathCanBeTurnedOff) {
  const std::string path = TempPath("hook-off.shm");
  fastpath::Step open;
  open.kind = fastpath::Step::Kind::kRespond;
  open.response.status = 503;
  std::unique_ptr<fastpath::Segment> segment = PublishOrders(path, {open});
  std::ostringstream log;
  HookOptions options;
  options.socket_path = "/nonexistent/agent.sock";
  options.shm_path = path;
  options.fast_path = false;
  options.log = &log;
  Hook hook(options);
  HttpResponse response = hook.Call("orders", HttpRequest(), [](const Destination&, const HttpRequest&) {
    HttpResponse ok;
    ok.status = 200;
    return ok;
  });
  EXPECT_EQ(response.status, 200);
  EXPECT_NE(log.str().find("unreachable"), std::string::npos);
}

}  // namespace
}  // namespace middlepipe

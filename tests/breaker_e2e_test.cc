// End to end, the way a user meets the circuit breaker: a real controller, a real
// mp-agent, a service that can be told to fail, and an app calling it through the C++
// hook. Bind a breaker; the service fails; the breaker opens, the app gets
// CircuitOpenError and its callback, and the service stops receiving calls; the service
// recovers; after open_ms the half-open trials succeed and the breaker closes. And a
// fault-inject delay in the same chain rehearses a slow service: the breaker opens.
#include <signal.h>

#include <atomic>
#include <thread>

#include <httplib.h>

#include "absl/strings/str_cat.h"
#include "clients/cpp/fastpath/client.h"
#include "clients/cpp/hook.h"
#include "gtest/gtest.h"
#include "tests/support/breaker_stack.h"
#include "tests/support/controller_steps.h"

namespace middlepipe {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Stub = v1::Controller::Stub;

TEST(BreakerEndToEndTest, OpensForTheAppThenProbesAndCloses) {
  testing::ScratchDir scratch;
  testing::BreakerStack stack(scratch);
  ASSERT_TRUE(stack
                  .Start(R"({"min_requests":4,"error_threshold_percent":50,"open_ms":400,)"
                         R"("half_open_requests":2})")
                  .ok());
  testing::SampleService& service = stack.service();
  controller::ControllerClient& client = stack.client();

  // The app.
  HookOptions options;
  options.socket_path = stack.hook_socket();
  Hook hook(options);
  std::atomic<int> opened{0};
  std::atomic<int> half_opened{0};
  std::atomic<int> closed{0};
  hook.On("open", [&](const CallbackEvent& event) {
    EXPECT_EQ(event.middlepipe, "orders-breaker");
    ++opened;
  });
  hook.On("half-open", [&](const CallbackEvent&) { ++half_opened; });
  hook.On("closed", [&](const CallbackEvent&) { ++closed; });
  httplib::Client http("127.0.0.1", service.port());

  for (int i = 0; i < 5; ++i) {
    HttpResponse response = hook.Get(http, "orders", "/orders");
    ASSERT_EQ(response.status, 200);
    EXPECT_EQ(response.Header("Middlepipe-Epoch"), "1");
  }

  // The service fails: calls come back 500 until the breaker opens (the user's
  // aggregator decides from the agent's reports, or the agent alone before it has a
  // decision), then the app gets CircuitOpenError and the service sees no more calls.
  service.Fail(true);
  int failed_calls = 0;
  bool open = false;
  const auto give_up = std::chrono::steady_clock::now() + seconds(20);
  while (!open && std::chrono::steady_clock::now() < give_up) {
    try {
      EXPECT_EQ(hook.Get(http, "orders", "/orders").status, 500);
      ++failed_calls;
      std::this_thread::sleep_for(milliseconds(20));
    } catch (const CircuitOpenError& error) {
      open = true;
      EXPECT_EQ(error.middlepipe(), "orders-breaker");
    }
  }
  ASSERT_TRUE(open) << "the breaker never opened";
  // The agent published the open breaker to its segment: apps decide it in-process,
  // and an app that asks over the socket gets the same answer.
  {
    fastpath::ClientOptions core_options;
    core_options.path = stack.hook_socket() + ".shm";
    fastpath::Client core(core_options);
    EXPECT_EQ(core.OnRequest("orders").action, fastpath::Action::kRespond);
    HookOptions socket_only = options;
    socket_only.fast_path = false;
    Hook asking(socket_only);
    EXPECT_THROW(asking.Get(http, "orders", "/orders"), CircuitOpenError);
  }
  EXPECT_GE(failed_calls, 2);
  EXPECT_GE(opened.load(), 1);
  const int calls_when_open = service.calls();
  for (int i = 0; i < 5; ++i) {
    EXPECT_THROW(hook.Get(http, "orders", "/orders"), CircuitOpenError);
  }
  EXPECT_EQ(service.calls(), calls_when_open) << "an open breaker must not reach the service";

  // The service recovers; after open_ms the two half-open trials succeed and it closes.
  service.Fail(false);
  int passed = 0;
  const auto recovery_deadline = std::chrono::steady_clock::now() + seconds(20);
  while (closed.load() == 0 && std::chrono::steady_clock::now() < recovery_deadline) {
    try {
      EXPECT_EQ(hook.Get(http, "orders", "/orders").status, 200);
      ++passed;
    } catch (const CircuitOpenError&) {
      // still open, or half-open with the trials taken
    }
    std::this_thread::sleep_for(milliseconds(20));
  }
  EXPECT_EQ(closed.load(), 1) << "the breaker never closed";
  EXPECT_EQ(half_opened.load(), 2) << "exactly half_open_requests trials";
  for (int i = 0; i < 5; ++i) EXPECT_EQ(hook.Get(http, "orders", "/orders").status, 200);
  EXPECT_EQ(service.calls(), calls_when_open + passed + 5);

  // `mp middlepipe` shows the live state the aggregator holds for the binding.
  v1::GetMiddlepipeRequest get;
  get.set_name("orders-breaker");
  absl::StatusOr<v1::GetMiddlepipeResponse> shown;
  for (int i = 0; i < 100; ++i) {
    shown = client.Call(&Stub::GetMiddlepipe, get);
    ASSERT_TRUE(shown.ok()) << shown.status();
    if (shown->live_size() == 1 && shown->live(0).total().requests() >= 10u) break;
    std::this_thread::sleep_for(milliseconds(100));
  }
  ASSERT_EQ(shown->live_size(), 1) << shown->live_error();
  EXPECT_EQ(shown->live(0).app(), "web");
  EXPECT_EQ(shown->live(0).service(), "orders");
  EXPECT_EQ(shown->live(0).state(), "closed");
  EXPECT_GE(shown->live(0).total().short_circuited(), 5u) << shown->DebugString();

  stack.agent().Signal(SIGTERM);
  EXPECT_EQ(stack.agent().WaitForExit(seconds(20)), 0) << stack.agent().Stderr();
}

}  // namespace
}  // namespace middlepipe

namespace middlepipe {
namespace {

TEST(BreakerEndToEndTest, AnInjectedDelayRehearsesASlowServiceAndTheBreakerOpens) {
  testing::ScratchDir scratch;
  testing::BreakerStack stack(scratch);
  ASSERT_TRUE(stack
                  .Start(R"({"min_requests":4,"error_threshold_percent":50,"latency_threshold_ms":20,)"
                         R"("open_ms":60000})")
                  .ok());
  auto bound = testing::CreateAndBind(stack.client(), "fault-inject", "slowdown",
                                      R"({"delay_ms": 40, "delay_percent": 100})", "web", "orders");
  ASSERT_TRUE(bound.ok()) << bound.status();

  HookOptions options;
  options.socket_path = stack.hook_socket();
  Hook hook(options);
  std::atomic<int> delayed{0};
  hook.On("delay", [&](const CallbackEvent& event) {
    EXPECT_EQ(event.kind, "fault-inject");
    ++delayed;
  });
  httplib::Client http("127.0.0.1", stack.service().port());
  bool open = false;
  const auto give_up = std::chrono::steady_clock::now() + seconds(20);
  while (!open && std::chrono::steady_clock::now() < give_up) {
    try {
      EXPECT_EQ(hook.Get(http, "orders", "/orders").status, 200) << "the service itself is fine";
    } catch (const CircuitOpenError&) {
      open = true;
    }
  }
  EXPECT_TRUE(open) << "every call took 40 ms > latency_threshold_ms: the breaker must open";
  EXPECT_GE(delayed.load(), 4);
}

}  // namespace
}  // namespace middlepipe

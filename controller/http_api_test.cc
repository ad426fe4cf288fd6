#include "controller/http_api.h"

#include <httplib.h>

#include <atomic>
#include <sstream>
#include <thread>

#include "gtest/gtest.h"

namespace middlepipe::controller {
namespace {

// The bug this guards against: a stop right after start (a SIGTERM as the controller
// comes up) reached the HTTP server before its loop ran, was ignored, and the join in
// Stop() then waited forever.
TEST(HttpApiTest, StopRightAfterStartReturns) {
  std::ostringstream log;
  Logger logger("test", &log);
  for (int i = 0; i < 200; ++i) {
    HttpApi api(&logger, [] { return std::string(); }, [] { return absl::OkStatus(); });
    auto bound = api.Start(*ParseAddress("127.0.0.1:0"));
    ASSERT_TRUE(bound.ok()) << bound.status();
    api.Stop();
  }
}

TEST(HttpApiTest, ServesHealthAndMetricsFromTheRenderer) {
  std::ostringstream log;
  Logger logger("test", &log);
  HttpApi api(&logger, [] { return std::string("mp_test_figure 42\n"); },
              [] { return absl::OkStatus(); });
  auto bound = api.Start(*ParseAddress("127.0.0.1:0"));
  ASSERT_TRUE(bound.ok()) << bound.status();
  httplib::Client client("127.0.0.1", bound->port);
  auto health = client.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->body, "ok\n");
  auto metrics = client.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("\nmp_test_figure 42\n"), std::string::npos) << metrics->body;
  api.Stop();
}

// The bug: a controller whose store failed every call still said "200 ok".
TEST(HttpApiTest, HealthSaysWhenTheStoreFails) {
  std::ostringstream log;
  Logger logger("test", &log);
  std::atomic<bool> broken{false};
  HttpApi api(&logger, [] { return std::string(); }, [&broken] {
    return broken.load() ? absl::DataLossError("database disk image is malformed")
                         : absl::OkStatus();
  });
  auto bound = api.Start(*ParseAddress("127.0.0.1:0"));
  ASSERT_TRUE(bound.ok()) << bound.status();
  httplib::Client client("127.0.0.1", bound->port);
  auto healthy = client.Get("/healthz");
  ASSERT_TRUE(healthy);
  EXPECT_EQ(healthy->status, 200);
  broken = true;
  std::this_thread::sleep_for(HttpApi::kHealthCacheTime + std::chrono::milliseconds(50));
  auto sick = client.Get("/healthz");
  ASSERT_TRUE(sick);
  EXPECT_EQ(sick->status, 503);
  EXPECT_EQ(sick->body, "store: database disk image is malformed\n");
  auto metrics = client.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("\nmp_store_up 0\n"), std::string::npos) << metrics->body;
}

}  // namespace
}  // namespace middlepipe::controller

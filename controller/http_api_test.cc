#include "controller/http_api.h"

#include <httplib.h>

#include <sstream>

#include "gtest/gtest.h"

namespace middlepipe::controller {
namespace {

// The bug this guards against: a stop right after start (a SIGTERM as the controller
// comes up) reached cpp-httplib before its listen loop ran, was ignored, and the join in
// Stop() then waited forever.
TEST(HttpApiTest, StopRightAfterStartReturns) {
  std::ostringstream log;
  Logger logger("test", &log);
  for (int i = 0; i < 200; ++i) {
    HttpApi api(&logger, [] { return std::string(); });
    auto bound = api.Start(*ParseAddress("127.0.0.1:0"));
    ASSERT_TRUE(bound.ok()) << bound.status();
    api.Stop();
  }
}

TEST(HttpApiTest, ServesHealthAndMetricsFromTheRenderer) {
  std::ostringstream log;
  Logger logger("test", &log);
  HttpApi api(&logger, [] { return std::string("mp_test_figure 42\n"); });
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

}  // namespace
}  // namespace middlepipe::controller

#include "aggregator/prometheus_text.h"

#include <gtest/gtest.h>

namespace middlepipe::aggregator {
namespace {

TEST(PrometheusTextTest, RendersFamiliesWithLabelsAndCumulativeBuckets) {
  v1::QueryResponse states;
  v1::MiddlepipeState* state = states.add_states();
  state->set_middlepipe("latency");
  state->set_kind("monitor");
  state->set_app("web");
  state->set_service("orders");
  state->mutable_total()->set_requests(12);
  state->mutable_total()->mutable_status_classes()->Resize(6, 0);
  state->mutable_total()->set_status_classes(2, 10);
  state->mutable_total()->set_status_classes(0, 2);
  v1::Histogram* latency = state->mutable_total()->mutable_latency();
  latency->add_bounds_ms(5);
  latency->add_bounds_ms(50);
  for (uint64_t count : {4, 6, 2}) latency->add_counts(count);
  latency->set_sum_ms(123.5);
  (*state->mutable_figures())["p99_ms"] = 48;
  AggregatorCounters counters;
  counters.rejected["value out of range"] = 3;
  const std::string text = RenderPrometheus("al\"ice", states, counters);
  const std::string labels =
      R"(user="al\"ice",middlepipe="latency",kind="monitor",app="web",service="orders")";
  EXPECT_NE(text.find("# TYPE middlepipe_requests_total counter\n"), std::string::npos);
  EXPECT_NE(text.find("middlepipe_requests_total{" + labels + "} 12\n"), std::string::npos) << text;
  EXPECT_NE(text.find("middlepipe_responses_total{" + labels + ",class=\"error\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("middlepipe_request_latency_ms_bucket{" + labels + ",le=\"50\"} 10\n"), std::string::npos);
  EXPECT_NE(text.find("middlepipe_request_latency_ms_bucket{" + labels + ",le=\"+Inf\"} 12\n"), std::string::npos);
  EXPECT_NE(text.find("middlepipe_request_latency_ms_count{" + labels + "} 12\n"), std::string::npos);
  EXPECT_NE(text.find("middlepipe_window_latency_ms{" + labels + ",quantile=\"0.99\"} 48\n"), std::string::npos);
  EXPECT_NE(text.find("mp_aggregator_rejected_total{user=\"al\\\"ice\",reason=\"value out of range\"} 3\n"),
            std::string::npos);
}

TEST(PrometheusTextTest, EscapesLabelValues) {
  EXPECT_EQ(EscapeLabelValue("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
}

}  // namespace
}  // namespace middlepipe::aggregator

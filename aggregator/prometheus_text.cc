#include "aggregator/prometheus_text.h"

#include <functional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace middlepipe::aggregator {
namespace {

constexpr const char* kStatusClassLabels[] = {"error", "1xx", "2xx", "3xx", "4xx", "5xx"};

std::string Number(double value) { return absl::StrFormat("%.17g", value); }

// One metric family: HELP and TYPE once, then a sample per middlepipe state.
class Family {
 public:
  Family(std::string* out, const char* name, const char* type, const char* help) : out_(out), name_(name) {
    absl::StrAppend(out_, "# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n");
  }
  void Sample(const std::string& labels, double value, const std::string& suffix = "",
              const std::string& extra_labels = "") {
    absl::StrAppend(out_, name_, suffix, "{", labels, extra_labels, "} ", Number(value), "\n");
  }

 private:
  std::string* out_;
  const char* name_;
};

std::string Labels(const std::string& user, const v1::MiddlepipeState& state) {
  return absl::StrCat("user=\"", EscapeLabelValue(user), "\",middlepipe=\"",
                      EscapeLabelValue(state.middlepipe()), "\",kind=\"",
                      EscapeLabelValue(state.kind()), "\",app=\"", EscapeLabelValue(state.app()),
                      "\",service=\"", EscapeLabelValue(state.service()), "\"");
}

}  // namespace

std::string EscapeLabelValue(const std::string& value) {
  std::string escaped;
  for (char c : value) {
    if (c == '\\') {
      escaped += "\\\\";
    } else if (c == '"') {
      escaped += "\\\"";
    } else if (c == '\n') {
      escaped += "\\n";
    } else {
      escaped += c;
    }
  }
  return escaped;
}

std::string RenderPrometheus(const std::string& user, const v1::QueryResponse& states,
                             const AggregatorCounters& counters) {
  std::string out;
  std::vector<std::string> labels;
  for (const v1::MiddlepipeState& state : states.states()) labels.push_back(Labels(user, state));
  auto each = [&](Family& family, const std::function<void(const v1::MiddlepipeState&, const std::string&)>& sample) {
    for (int i = 0; i < states.states_size(); ++i) sample(states.states(i), labels[static_cast<size_t>(i)]);
  };

  Family requests(&out, "middlepipe_requests_total", "counter",
                  "Requests that reached the middlepipe's filter, all instances.");
  each(requests, [&](const auto& state, const auto& l) { requests.Sample(l, state.total().requests()); });
  Family responses(&out, "middlepipe_responses_total", "counter",
                   "Completed calls by status class (error = no status, transport failed).");
  each(responses, [&](const auto& state, const auto& l) {
    for (int c = 0; c < state.total().status_classes_size(); ++c) {
      responses.Sample(l, state.total().status_classes(c), "",
                       absl::StrCat(",class=\"", kStatusClassLabels[c], "\""));
    }
  });
  Family failures(&out, "middlepipe_failures_total", "counter",
                  "Calls the middlepipe counted as failed (5xx, transport error, too slow).");
  each(failures, [&](const auto& state, const auto& l) { failures.Sample(l, state.total().failures()); });
  Family short_circuited(&out, "middlepipe_short_circuited_total", "counter",
                         "Requests the middlepipe answered itself.");
  each(short_circuited, [&](const auto& state, const auto& l) {
    short_circuited.Sample(l, state.total().short_circuited());
  });
  Family latency(&out, "middlepipe_request_latency_ms", "histogram",
                 "Latency of completed calls in milliseconds (monitor).");
  each(latency, [&](const auto& state, const auto& l) {
    const v1::Histogram& histogram = state.total().latency();
    if (histogram.counts_size() == 0) return;
    uint64_t cumulative = 0;
    for (int b = 0; b < histogram.counts_size(); ++b) {
      cumulative += histogram.counts(b);
      const std::string le =
          b < histogram.bounds_ms_size() ? Number(histogram.bounds_ms(b)) : std::string("+Inf");
      latency.Sample(l, static_cast<double>(cumulative), "_bucket", absl::StrCat(",le=\"", le, "\""));
    }
    latency.Sample(l, histogram.sum_ms(), "_sum");
    latency.Sample(l, static_cast<double>(cumulative), "_count");
  });
  Family quantiles(&out, "middlepipe_window_latency_ms", "gauge",
                   "Latency percentiles over the middlepipe's rolling window, milliseconds.");
  each(quantiles, [&](const auto& state, const auto& l) {
    for (const auto& [q, figure] : {std::pair{"0.5", "p50_ms"}, std::pair{"0.9", "p90_ms"},
                                    std::pair{"0.99", "p99_ms"}}) {
      auto it = state.figures().find(figure);
      if (it != state.figures().end()) {
        quantiles.Sample(l, it->second, "", absl::StrCat(",quantile=\"", q, "\""));
      }
    }
  });
  Family instances(&out, "middlepipe_instances_reporting", "gauge",
                   "Instances that reported within the middlepipe's window.");
  each(instances, [&](const auto& state, const auto& l) { instances.Sample(l, state.instances_reporting()); });
  Family breaker(&out, "middlepipe_breaker_open", "gauge",
                 "Circuit breaker state across the cluster: 0 closed, 1 open, 0.5 half-open.");
  each(breaker, [&](const auto& state, const auto& l) {
    if (state.kind() != "circuit-breaker") return;
    breaker.Sample(l, state.state() == "open" ? 1.0 : state.state() == "half-open" ? 0.5 : 0.0);
  });
  Family counters_family(&out, "middlepipe_kind_events_total", "counter",
                         "Kind-specific events (e.g. opened, trial, route:orders-v2).");
  each(counters_family, [&](const auto& state, const auto& l) {
    for (const auto& [name, value] : state.total().counters()) {
      counters_family.Sample(l, static_cast<double>(value), "",
                             absl::StrCat(",event=\"", EscapeLabelValue(name), "\""));
    }
  });
  Family bytes(&out, "middlepipe_packet_bytes_total", "counter",
               "Payload bytes seen by packet-level middlepipes, retransmissions excluded.");
  each(bytes, [&](const auto& state, const auto& l) {
    if (!state.has_packets()) return;
    bytes.Sample(l, state.packets().bytes_out(), "", ",direction=\"out\"");
    bytes.Sample(l, state.packets().bytes_in(), "", ",direction=\"in\"");
  });

  const std::string self = absl::StrCat("user=\"", EscapeLabelValue(user), "\"");
  Family batches(&out, "mp_aggregator_report_batches_total", "counter", "Report batches applied.");
  batches.Sample(self, counters.batches);
  Family observations(&out, "mp_aggregator_observations_total", "counter",
                      "Requests covered by the accepted reports.");
  observations.Sample(self, counters.observations);
  Family duplicates(&out, "mp_aggregator_duplicate_batches_total", "counter",
                    "Batches received again after a reconnect and not applied twice.");
  duplicates.Sample(self, counters.duplicate_batches);
  Family lost(&out, "mp_aggregator_lost_batches_total", "counter",
              "Batches missing from agents' sequences.");
  lost.Sample(self, counters.lost_batches);
  Family dropped(&out, "mp_aggregator_agent_dropped_reports_total", "counter",
                 "Reports agents dropped before sending (their queue was full).");
  dropped.Sample(self, counters.agent_dropped_reports);
  Family rejected(&out, "mp_aggregator_rejected_total", "counter", "Reports or batches refused, by reason.");
  for (const auto& [reason, count] : counters.rejected) {
    rejected.Sample(self, count, "", absl::StrCat(",reason=\"", EscapeLabelValue(reason), "\""));
  }
  Family decisions(&out, "mp_aggregator_decisions_sent_total", "counter", "Decisions pushed to agents.");
  decisions.Sample(self, counters.decisions_sent);
  Family undeliverable(&out, "mp_aggregator_decisions_undeliverable_total", "counter",
                       "Decisions that could not be queued to an agent's stream.");
  undeliverable.Sample(self, counters.decisions_undeliverable);
  Family agents(&out, "mp_aggregator_agents_connected", "gauge", "Agents with an open report stream.");
  agents.Sample(self, counters.agents_connected);
  Family epoch(&out, "mp_aggregator_configuration_epoch", "gauge",
               "The controller's configuration epoch in force.");
  epoch.Sample(self, static_cast<double>(counters.configure_epoch));
  return out;
}

}  // namespace middlepipe::aggregator

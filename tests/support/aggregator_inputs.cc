#include "tests/support/aggregator_inputs.h"

namespace middlepipe::testing {

v1::AggregatedMiddlepipe BoundMiddlepipe(const std::string& name, const std::string& kind,
                                         const std::string& config_json, const std::string& app,
                                         const std::string& service) {
  v1::AggregatedMiddlepipe aggregated;
  aggregated.mutable_middlepipe()->set_name(name);
  aggregated.mutable_middlepipe()->set_kind(kind);
  aggregated.mutable_middlepipe()->set_config_json(config_json);
  v1::Binding* binding = aggregated.add_bindings();
  binding->set_middlepipe(name);
  binding->set_app(app);
  binding->set_service(service);
  return aggregated;
}

v1::RequestStats CallsStats(uint64_t ok, uint64_t failed) {
  v1::RequestStats stats;
  stats.set_requests(ok + failed);
  stats.mutable_status_classes()->Resize(6, 0);
  stats.set_status_classes(2, ok);
  stats.set_status_classes(5, failed);
  stats.set_failures(failed);
  return stats;
}

v1::Report CallsReport(const std::string& middlepipe, const std::string& kind, const std::string& app,
                       const std::string& service, uint64_t ok, uint64_t failed,
                       const std::vector<std::pair<std::string, uint64_t>>& counters) {
  v1::Report report;
  report.set_middlepipe(middlepipe);
  report.set_kind(kind);
  report.set_app(app);
  report.set_service(service);
  v1::RequestStats* stats = report.mutable_request_stats();
  *stats = CallsStats(ok, failed);
  for (const auto& [name, value] : counters) (*stats->mutable_counters())[name] = value;
  return report;
}

}  // namespace middlepipe::testing

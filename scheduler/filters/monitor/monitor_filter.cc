#include "scheduler/filters/monitor/monitor_filter.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/request_stats.h"
#include "scheduler/filters/monitor/config.h"

namespace middlepipe::scheduler::monitor {

// Deltas since the last report, shared by the filters of consecutive epochs.
class MonitorCounts {
 public:
  std::mutex mu;
  v1::RequestStats pending;
};

absl::StatusOr<std::unique_ptr<RequestFilter>> MonitorFilter::Create(
    const FilterSpecContext& context) {
  absl::StatusOr<MonitorConfig> config = ParseMonitorConfig(context.spec.config_json());
  if (!config.ok()) return config.status();
  return std::make_unique<MonitorFilter>(std::move(config->buckets_ms));
}

MonitorFilter::MonitorFilter(std::vector<double> bounds_ms)
    : bounds_ms_(std::move(bounds_ms)), counts_(std::make_shared<MonitorCounts>()) {}

MonitorFilter::~MonitorFilter() = default;

FilterStatus MonitorFilter::OnRequest(RequestCall& call, uint32_t& note) {
  std::lock_guard<std::mutex> lock(counts_->mu);
  counts_->pending.set_requests(counts_->pending.requests() + 1);
  return FilterStatus::kContinue;
}

uint32_t MonitorFilter::OnFastPathRequest(const FastPathCall& /*call*/) {
  std::lock_guard<std::mutex> lock(counts_->mu);
  counts_->pending.set_requests(counts_->pending.requests() + 1);
  return 0;
}

void MonitorFilter::OnResponse(RequestCall& call, uint32_t note) {
  const double latency_ms = static_cast<double>(call.latency_us) / 1000.0;
  const size_t status_class = call.status >= 100 && call.status < 600 ? call.status / 100 : 0;
  const size_t bucket = static_cast<size_t>(
      std::lower_bound(bounds_ms_.begin(), bounds_ms_.end(), latency_ms) - bounds_ms_.begin());
  std::lock_guard<std::mutex> lock(counts_->mu);
  v1::RequestStats& pending = counts_->pending;
  if (pending.status_classes_size() == 0) pending.mutable_status_classes()->Resize(6, 0);
  pending.set_status_classes(status_class, pending.status_classes(status_class) + 1);
  v1::Histogram* latency = pending.mutable_latency();
  if (latency->counts_size() == 0) {
    for (double bound : bounds_ms_) latency->add_bounds_ms(bound);
    latency->mutable_counts()->Resize(static_cast<int>(bounds_ms_.size() + 1), 0);
  }
  latency->set_counts(bucket, latency->counts(bucket) + 1);
  latency->set_sum_ms(latency->sum_ms() + latency_ms);
}

void MonitorFilter::AdoptState(RequestFilter& previous) {
  auto& before = static_cast<MonitorFilter&>(previous);
  if (before.bounds_ms_ == bounds_ms_) counts_ = before.counts_;  // new buckets: fresh counts
}

std::string MonitorFilter::ExportState() const {
  std::lock_guard<std::mutex> lock(counts_->mu);
  return counts_->pending.SerializeAsString();
}

absl::Status MonitorFilter::ImportState(absl::string_view state) {
  v1::RequestStats stats;
  if (!stats.ParseFromString(std::string(state))) {
    return absl::InvalidArgumentError("monitor state: not serialized request statistics");
  }
  return absl::OkStatus();
}

absl::Status MonitorFilter::MergeState(absl::string_view state) {
  v1::RequestStats stats;
  if (!stats.ParseFromString(std::string(state))) {
    return absl::InvalidArgumentError("monitor state: not serialized request statistics");
  }
  if (absl::Status checked = CheckRequestStats(stats); !checked.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("monitor state: ", checked.message()));
  }
  std::lock_guard<std::mutex> lock(counts_->mu);
  AddRequestStats(counts_->pending, stats);
  return absl::OkStatus();
}

void MonitorFilter::TakeReport(v1::Report& report) {
  std::lock_guard<std::mutex> lock(counts_->mu);
  report.mutable_request_stats()->Swap(&counts_->pending);
  counts_->pending.Clear();
}

}  // namespace middlepipe::scheduler::monitor

#include "scheduler/filters/fault-inject/fault_filter.h"

#include "absl/strings/str_cat.h"
#include "common/markers.h"

namespace middlepipe::scheduler::fault_inject {

absl::StatusOr<std::unique_ptr<RequestFilter>> FaultFilter::Create(const FilterSpecContext& context) {
  absl::StatusOr<FaultConfig> config = ParseFaultConfig(context.spec.config_json());
  if (!config.ok()) return config.status();
  return std::make_unique<FaultFilter>(context.spec.middlepipe(), *config, std::random_device()());
}

FaultFilter::FaultFilter(std::string name, FaultConfig config, uint64_t seed)
    : name_(std::move(name)), config_(config), random_(seed) {}

double FaultFilter::Roll() {
  std::lock_guard<std::mutex> lock(mu_);
  return std::uniform_real_distribution<double>(0.0, 100.0)(random_);
}

void FaultFilter::Count(bool abort, bool delay) {
  pending_->Update([&](v1::RequestStats& stats) {
    stats.set_requests(stats.requests() + 1);
    if (abort) {
      ++(*stats.mutable_counters())["injected_abort"];
      stats.set_short_circuited(stats.short_circuited() + 1);
    }
    if (delay) ++(*stats.mutable_counters())["injected_delay"];
  });
}

void FaultFilter::Abort(RequestCall& call) const {
  call.markers.push_back(CallbackMarker("fault-inject", name_, "abort",
                                        absl::StrCat("status ", config_.abort_status)));
  call.AddMarker(markers::kShortCircuitHeader, name_);
  call.response.Clear();
  call.response.set_status(config_.abort_status);  // handed to the app as the answer
  call.response.set_body(absl::StrCat("fault injected by ", name_, "\n"));
  for (const v1::Header& marker : call.markers) *call.response.add_headers() = marker;
}

v1::Header FaultFilter::DelayMarker() const {
  return CallbackMarker("fault-inject", name_, "delay", absl::StrCat(config_.delay_ms, " ms"));
}

FilterStatus FaultFilter::OnRequest(RequestCall& call, uint32_t& note) {
  const bool abort = config_.abort_percent > 0 && Roll() < config_.abort_percent;
  const bool delay = !abort && config_.delay_percent > 0 && config_.delay_ms > 0 &&
                     Roll() < config_.delay_percent;
  Count(abort, delay);
  if (abort) {
    Abort(call);
    return FilterStatus::kRespond;
  }
  if (delay) {
    call.delay_ms = std::max(call.delay_ms, config_.delay_ms);
    call.markers.push_back(DelayMarker());
  }
  return FilterStatus::kContinue;
}

FastPathPlan FaultFilter::CompileFastPath(FastPathContext& /*context*/) {
  RequestCall aborted;
  Abort(aborted);
  fastpath::Step step;
  step.kind = fastpath::Step::Kind::kFault;
  step.markers = ToHeaderList(aborted.markers);
  step.response.status = aborted.response.status();
  step.response.body = aborted.response.body();  // no headers of its own: only the markers
  step.abort_percent = config_.abort_percent;
  step.delay_percent = config_.delay_percent;
  step.delay_ms = config_.delay_ms;
  const v1::Header delay = DelayMarker();
  step.delay_markers = {{delay.name(), delay.value()}};
  return {true, std::numeric_limits<int64_t>::max(), std::move(step)};
}

uint32_t FaultFilter::OnFastPathRequest(const FastPathCall& call) {
  Count(call.answered, !call.answered && call.choice == kDelayedChoice);
  return 0;
}

void FaultFilter::AdoptState(RequestFilter& previous) {
  pending_ = static_cast<FaultFilter&>(previous).pending_;
}

void FaultFilter::TakeReport(v1::Report& report) { pending_->TakeInto(report); }

}  // namespace middlepipe::scheduler::fault_inject

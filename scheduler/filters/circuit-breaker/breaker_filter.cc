#include "scheduler/filters/circuit-breaker/breaker_filter.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "common/markers.h"
#include "scheduler/filters/circuit-breaker/breaker_rule.h"

namespace middlepipe::scheduler::circuit_breaker {
namespace {

constexpr int kSlices = 10;
constexpr uint32_t kTrialNote = 1;
// A decision without a lease of its own holds this long.
constexpr int64_t kDefaultLeaseMs = 3000;

enum class Phase { kClosed, kOpen, kHalfOpen };

const char* PhaseName(Phase phase) {
  switch (phase) {
    case Phase::kClosed:
      return "closed";
    case Phase::kOpen:
      return "open";
    case Phase::kHalfOpen:
      return "half-open";
  }
  return "?";
}

size_t StatusClass(uint32_t status) { return status >= 100 && status < 600 ? status / 100 : 0; }

}  // namespace

// Everything that changes, behind one mutex. Times are on the filter's clock.
class BreakerState {
 public:
  struct Slice {
    int64_t start_ms = -1;
    uint64_t calls = 0;
    uint64_t failures = 0;
  };

  std::mutex mu;
  Phase phase = Phase::kClosed;
  int64_t opened_at_ms = 0;
  uint32_t trial_permits = 0;
  uint32_t trial_successes = 0;
  // Trials started in this half-open round (the aggregator's permits count them too).
  uint32_t round_trials = 0;
  std::string reason;
  // The aggregator's decisions: the last applied, and until when they hold.
  uint64_t decision_sequence = 0;
  int64_t lease_until_ms = 0;
  // A transition a decision made, told to the app on its next call ("closed").
  std::string pending_event;

  bool Live(int64_t now_ms) const { return now_ms < lease_until_ms; }
  std::vector<Slice> slices = std::vector<Slice>(kSlices);
  // Report deltas since the last TakeReport.
  v1::RequestStats pending;

  void ResetWindow() { slices.assign(kSlices, Slice()); }

  void Record(int64_t now_ms, int64_t window_ms, bool failed) {
    const int64_t width = std::max<int64_t>(window_ms / kSlices, 1);
    const int64_t start = now_ms - now_ms % width;
    Slice& slice = slices[static_cast<size_t>((now_ms / width) % kSlices)];
    if (slice.start_ms != start) slice = Slice{start, 0, 0};
    ++slice.calls;
    slice.failures += failed ? 1 : 0;
  }

  std::pair<uint64_t, uint64_t> Totals(int64_t now_ms, int64_t window_ms) const {
    uint64_t calls = 0;
    uint64_t failures = 0;
    for (const Slice& slice : slices) {
      if (slice.start_ms >= 0 && slice.start_ms > now_ms - window_ms) {
        calls += slice.calls;
        failures += slice.failures;
      }
    }
    return {calls, failures};
  }

  void Count(const char* counter) { ++(*pending.mutable_counters())[counter]; }
};

absl::StatusOr<std::unique_ptr<RequestFilter>> BreakerFilter::Create(
    const FilterSpecContext& context) {
  absl::StatusOr<BreakerConfig> config = ParseBreakerConfig(context.spec.config_json());
  if (!config.ok()) return config.status();
  return std::make_unique<BreakerFilter>(context.spec.middlepipe(), *config, context.clock);
}

BreakerFilter::BreakerFilter(std::string name, BreakerConfig config, Clock clock)
    : name_(std::move(name)),
      config_(std::move(config)),
      clock_(std::move(clock)),
      state_(std::make_shared<BreakerState>()) {}

BreakerFilter::~BreakerFilter() = default;

void BreakerFilter::ShortCircuit(RequestCall& call, const std::string& reason) const {
  call.markers.push_back(CallbackMarker("circuit-breaker", name_, "open", reason));
  call.AddMarker(markers::kShortCircuitHeader, name_);
  if (config_.fallback.has_value()) {
    call.response = *config_.fallback;
  } else {
    call.response.Clear();
    call.response.set_status(503);
    call.response.set_raise(true);  // no fallback: the client hook raises CircuitOpenError
    call.response.set_body(absl::StrCat("circuit breaker ", name_, " is open: ", reason, "\n"));
  }
  for (const v1::Header& marker : call.markers) *call.response.add_headers() = marker;
}

FilterStatus BreakerFilter::OnRequest(RequestCall& call, uint32_t& note) {
  const int64_t now = clock_();
  std::lock_guard<std::mutex> lock(state_->mu);
  BreakerState& state = *state_;
  state.pending.set_requests(state.pending.requests() + 1);
  if (!state.pending_event.empty()) {
    call.markers.push_back(CallbackMarker("circuit-breaker", name_, state.pending_event));
    state.pending_event.clear();
  }
  // Under a live aggregator decision the cluster says when to half-open; alone, the timer.
  if (state.phase == Phase::kOpen && !state.Live(now) && now - state.opened_at_ms >= config_.open_ms) {
    state.phase = Phase::kHalfOpen;
    state.trial_permits = config_.half_open_requests;
    state.trial_successes = 0;
    state.round_trials = 0;
    state.Count(report::kHalfOpened);
  }
  if (state.phase == Phase::kHalfOpen && state.trial_permits > 0) {
    --state.trial_permits;
    ++state.round_trials;
    state.Count(report::kTrial);
    note = kTrialNote;
    call.markers.push_back(CallbackMarker("circuit-breaker", name_, "half-open"));
    return FilterStatus::kContinue;
  }
  if (state.phase == Phase::kClosed) return FilterStatus::kContinue;
  state.pending.set_short_circuited(state.pending.short_circuited() + 1);
  ShortCircuit(call, state.reason);
  return FilterStatus::kRespond;
}

void BreakerFilter::OnResponse(RequestCall& call, uint32_t note) {
  const int64_t now = clock_();
  const bool slow = static_cast<int64_t>(call.latency_us / 1000) > config_.latency_threshold_ms;
  const bool failed = call.status == 0 || call.status >= 500 || slow;
  std::lock_guard<std::mutex> lock(state_->mu);
  BreakerState& state = *state_;
  v1::RequestStats& pending = state.pending;
  if (pending.status_classes_size() == 0) pending.mutable_status_classes()->Resize(6, 0);
  pending.set_status_classes(StatusClass(call.status),
                             pending.status_classes(StatusClass(call.status)) + 1);
  pending.set_failures(pending.failures() + (failed ? 1 : 0));
  pending.set_slow(pending.slow() + (slow ? 1 : 0));
  const bool live = state.Live(now);

  if (note == kTrialNote) {
    if (state.phase != Phase::kHalfOpen) return;  // a decision moved it meanwhile
    state.Count(failed ? report::kTrialFailure : report::kTrialSuccess);
    if (failed) {
      // Re-open at once, even under the aggregator: it will decide the same from the report.
      state.phase = Phase::kOpen;
      state.opened_at_ms = now;
      state.reason = "a half-open trial call failed";
      state.Count(report::kOpened);
      call.markers.push_back(CallbackMarker("circuit-breaker", name_, "open", state.reason));
    } else if (++state.trial_successes >= config_.half_open_requests && !live) {
      // Alone, this instance's trials decide; under the aggregator, the cluster's do.
      state.phase = Phase::kClosed;
      state.ResetWindow();
      state.reason.clear();
      state.Count(report::kClosed);
      call.markers.push_back(CallbackMarker("circuit-breaker", name_, "closed"));
    }
    return;
  }
  if (state.phase != Phase::kClosed) return;
  state.Record(now, config_.window_ms, failed);
  if (live) return;  // the cluster decides from every instance's calls
  auto [calls, failures] = state.Totals(now, config_.window_ms);
  if (ShouldOpen(config_, calls, failures)) {
    state.phase = Phase::kOpen;
    state.opened_at_ms = now;
    state.reason = OpenReason(config_, calls, failures);
    state.Count(report::kOpened);
    call.markers.push_back(CallbackMarker("circuit-breaker", name_, "open", state.reason));
  }
}

FastPathPlan BreakerFilter::CompileFastPath(FastPathContext& context) {
  const int64_t now = context.now_ms;
  std::string reason;
  int64_t valid_until = 0;
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    const BreakerState& state = *state_;
    if (!state.pending_event.empty()) return FastPathPlan::Ask();  // told on the next call
    const bool live = state.Live(now);
    if (state.phase == Phase::kClosed) {
      return live ? FastPathPlan::Pass(state.lease_until_ms) : FastPathPlan::Ask();
    }
    if (state.phase == Phase::kHalfOpen) {
      // A trial's outcome closes or re-opens the breaker, and that transition's callback
      // goes on the trial call itself, so trials go to the agent. Once the permits are
      // taken, the calls beyond them are short-circuited until an outcome or a decision
      // moves the breaker (the agent republishes then), whatever the clock does.
      if (state.trial_permits > 0) return FastPathPlan::Ask();
      valid_until = std::numeric_limits<int64_t>::max();
    } else {
      // Open: under the cluster's lease until it lapses; alone, until half-open is due.
      valid_until = live ? state.lease_until_ms : state.opened_at_ms + config_.open_ms;
      if (now >= valid_until) return FastPathPlan::Ask();
    }
    reason = state.reason;
  }
  RequestCall answer;
  ShortCircuit(answer, reason);
  fastpath::Step step;
  step.kind = fastpath::Step::Kind::kRespond;
  step.markers = ToHeaderList(answer.markers);
  step.response.status = answer.response.status();
  step.response.raise = answer.response.raise();
  // The response's own headers (a fallback's): ShortCircuit put the markers after them,
  // and the client core adds those of the whole call there.
  step.response.headers = ToHeaderList(answer.response.headers());
  step.response.headers.resize(step.response.headers.size() - step.markers.size());
  step.response.body = answer.response.body();
  return {true, valid_until, std::move(step)};
}

uint32_t BreakerFilter::OnFastPathRequest(const FastPathCall& call) {
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->pending.set_requests(state_->pending.requests() + 1);
  if (call.answered) state_->pending.set_short_circuited(state_->pending.short_circuited() + 1);
  return 0;
}

bool BreakerFilter::MayMarkResponse(uint32_t note) const {
  if (note == kTrialNote) return true;  // a trial's outcome re-opens or closes
  // Closed under the aggregator's lease, only the cluster opens it (by decision, told on
  // a later call); deciding alone, this very response may trip it.
  const int64_t now = clock_();
  std::lock_guard<std::mutex> lock(state_->mu);
  return !state_->Live(now);
}

void BreakerFilter::OnDecision(const v1::Decision& decision) {
  if (!decision.has_breaker() || !config_.cluster_scope) return;
  const v1::BreakerDecision& breaker = decision.breaker();
  const int64_t now = clock_();
  std::lock_guard<std::mutex> lock(state_->mu);
  BreakerState& state = *state_;
  state.lease_until_ms = now + (decision.lease_ms() != 0 ? decision.lease_ms() : kDefaultLeaseMs);
  if (decision.sequence() != 0 && decision.sequence() <= state.decision_sequence) {
    return;  // a lease refresh of a decision already applied (or an older one)
  }
  state.decision_sequence = decision.sequence();
  switch (breaker.state()) {
    case v1::BREAKER_STATE_OPEN:
      if (state.phase != Phase::kOpen) state.opened_at_ms = now;  // open_ms from now if alone later
      state.phase = Phase::kOpen;
      state.reason = breaker.reason();
      break;
    case v1::BREAKER_STATE_HALF_OPEN:
      if (state.phase != Phase::kHalfOpen) {
        state.phase = Phase::kHalfOpen;
        state.trial_successes = 0;
        state.round_trials = 0;
      }
      // Permits count the whole round: trials already started use them up.
      state.trial_permits =
          breaker.trial_permits() > state.round_trials ? breaker.trial_permits() - state.round_trials : 0;
      break;
    case v1::BREAKER_STATE_CLOSED:
      if (state.phase != Phase::kClosed) state.pending_event = "closed";
      state.phase = Phase::kClosed;
      state.ResetWindow();
      state.reason.clear();
      break;
    default:
      break;
  }
}

void BreakerFilter::AdoptState(RequestFilter& previous) {
  state_ = static_cast<BreakerFilter&>(previous).state_;  // same kind, guaranteed by the table
}

std::string BreakerFilter::ExportState() const {
  const int64_t now = clock_();
  std::lock_guard<std::mutex> lock(state_->mu);
  nlohmann::json json = {{"state", PhaseName(state_->phase)}, {"reason", state_->reason}};
  if (state_->phase == Phase::kOpen) {
    json["open_remaining_ms"] = std::max<int64_t>(0, config_.open_ms - (now - state_->opened_at_ms));
  }
  return json.dump();
}

absl::Status BreakerFilter::ImportState(absl::string_view text) {
  nlohmann::json json = nlohmann::json::parse(std::string(text), nullptr, false);
  if (!json.is_object() || !json.contains("state") || !json["state"].is_string()) {
    return absl::InvalidArgumentError("breaker state: expected {\"state\": ...}");
  }
  const std::string phase = json["state"].get<std::string>();
  const int64_t now = clock_();
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->reason = json.value("reason", "");
  if (phase == "open") {
    state_->phase = Phase::kOpen;
    state_->opened_at_ms = now - (config_.open_ms - json.value("open_remaining_ms", config_.open_ms));
  } else if (phase == "half-open") {
    state_->phase = Phase::kHalfOpen;
    state_->trial_permits = config_.half_open_requests;
    state_->trial_successes = 0;
  } else if (phase == "closed") {
    state_->phase = Phase::kClosed;
    state_->ResetWindow();
  } else {
    return absl::InvalidArgumentError(absl::StrCat("breaker state: unknown state \"", phase, "\""));
  }
  return absl::OkStatus();
}

absl::Status BreakerFilter::MergeState(absl::string_view text) {
  nlohmann::json json = nlohmann::json::parse(std::string(text), nullptr, false);
  if (!json.is_object() || !json.contains("state") || !json["state"].is_string()) {
    return absl::InvalidArgumentError("breaker state: expected {\"state\": ...}");
  }
  const std::string theirs = json["state"].get<std::string>();
  auto severity = [](const std::string& phase) {
    return phase == "open" ? 2 : phase == "half-open" ? 1 : phase == "closed" ? 0 : -1;
  };
  if (severity(theirs) < 0) {
    return absl::InvalidArgumentError(absl::StrCat("breaker state: unknown state \"", theirs, "\""));
  }
  const int64_t now = clock_();
  std::string ours;
  int64_t our_remaining = 0;
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    ours = PhaseName(state_->phase);
    if (state_->phase == Phase::kOpen) {
      our_remaining = std::max<int64_t>(0, config_.open_ms - (now - state_->opened_at_ms));
    }
  }
  const bool theirs_wins =
      severity(theirs) > severity(ours) ||
      (theirs == "open" && ours == "open" && json.value("open_remaining_ms", int64_t{0}) > our_remaining);
  return theirs_wins ? ImportState(text) : absl::OkStatus();
}

void BreakerFilter::TakeReport(v1::Report& report) {
  const int64_t now = clock_();
  std::lock_guard<std::mutex> lock(state_->mu);
  // The phase at report time, so an aggregator that (re)starts learns who is open.
  if (state_->phase == Phase::kOpen) state_->Count(report::kIntervalsOpen);
  if (state_->phase == Phase::kHalfOpen) state_->Count(report::kIntervalsHalfOpen);
  report.set_local_fallback(config_.cluster_scope && !state_->Live(now));
  report.mutable_request_stats()->Swap(&state_->pending);
  state_->pending.Clear();
}

std::string BreakerFilter::StateName() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return PhaseName(state_->phase);
}

}  // namespace middlepipe::scheduler::circuit_breaker

// What the circuit breaker's two halves must agree on, beyond the config: the counters the
// filter reports and the aggregate reads, and the rule that opens a closed breaker. The
// filter applies the rule to its own calls when it decides alone; the aggregate applies it
// to the whole cluster's. Both include this header, so neither can drift from the other.
#pragma once

#include <cstdint>
#include <string>

#include "scheduler/filters/circuit-breaker/config.h"

namespace middlepipe::scheduler::circuit_breaker {

// Counters in the filter's reports (v1::RequestStats.counters), per report interval.
namespace report {
// A half-open trial call let through / that succeeded / that failed.
inline constexpr char kTrial[] = "trial";
inline constexpr char kTrialSuccess[] = "trial_success";
inline constexpr char kTrialFailure[] = "trial_failure";
// Report intervals the filter spent open / half-open; an aggregator that (re)starts and
// sees either adopts the open state instead of closing what it has no history of.
inline constexpr char kIntervalsOpen[] = "intervals_open";
inline constexpr char kIntervalsHalfOpen[] = "intervals_half_open";
// Transitions the filter made on its own.
inline constexpr char kOpened[] = "opened";
inline constexpr char kHalfOpened[] = "half_opened";
inline constexpr char kClosed[] = "closed";
}  // namespace report

// Whether `failures` of `calls` completed calls in the window open a closed breaker: at
// least min_requests calls, and failures at or above error_threshold_percent of them.
bool ShouldOpen(const BreakerConfig& config, uint64_t calls, uint64_t failures);

// The reason an open breaker gives, e.g. "50% of 20 calls failed (threshold 50%)";
// `where` is inserted after "failed" (" across the cluster" for the aggregate).
std::string OpenReason(const BreakerConfig& config, uint64_t calls, uint64_t failures,
                       const char* where = "");

}  // namespace middlepipe::scheduler::circuit_breaker

#include "scheduler/filters/circuit-breaker/breaker_rule.h"

#include "absl/strings/str_format.h"

namespace middlepipe::scheduler::circuit_breaker {

bool ShouldOpen(const BreakerConfig& config, uint64_t calls, uint64_t failures) {
  return calls >= config.min_requests &&
         static_cast<double>(failures) * 100.0 >=
             config.error_threshold_percent * static_cast<double>(calls);
}

std::string OpenReason(const BreakerConfig& config, uint64_t calls, uint64_t failures,
                       const char* where) {
  return absl::StrFormat("%d%% of %d calls failed%s (threshold %g%%)", failures * 100 / calls,
                         calls, where, config.error_threshold_percent);
}

}  // namespace middlepipe::scheduler::circuit_breaker

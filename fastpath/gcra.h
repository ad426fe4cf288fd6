// Token buckets as one 64-bit word (the generic cell rate algorithm): the cell holds the
// theoretical arrival time (TAT, microseconds on CLOCK_MONOTONIC) of the next request
// the bucket's rate allows. A bucket of `capacity` tokens refilling one per `interval`
// admits a request at `now` when TAT - now <= tolerance = (capacity - 1) * interval, and
// moves TAT to max(TAT, now) + interval. One compare-and-swap per request, so app
// processes and the agent share a bucket in the fast-path segment without a lock.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <limits>

namespace middlepipe::fastpath {

// Bounds a program's bucket shape is checked against (1 request a day .. 1M/s).
constexpr int64_t kMinIntervalUs = 1;
constexpr int64_t kMaxIntervalUs = 86'400'000'000;
constexpr int64_t kMaxToleranceUs = int64_t{1} << 52;

// Takes a token: 0 when taken, else the microseconds until one will be there.
inline int64_t TakeToken(std::atomic<int64_t>& cell, int64_t interval_us, int64_t tolerance_us,
                         int64_t now_us) {
  int64_t tat = cell.load(std::memory_order_relaxed);
  for (int attempt = 0; attempt < 1000; ++attempt) {
    const int64_t start = std::max(tat, now_us);
    if (start - now_us > tolerance_us) return start - now_us - tolerance_us;
    if (start > std::numeric_limits<int64_t>::max() - interval_us) return 1'000'000;  // corrupt
    if (cell.compare_exchange_weak(tat, start + interval_us, std::memory_order_relaxed)) return 0;
  }
  return 0;  // a thousand lost races in a row: admit rather than stall the app
}

// Retry-After seconds for a wait (at least 1, rounded up).
inline int64_t RetryAfterSeconds(int64_t wait_us) {
  const int64_t wait_ms = (wait_us + 999) / 1000;
  return std::max<int64_t>(1, (wait_ms + 999) / 1000);
}

}  // namespace middlepipe::fastpath

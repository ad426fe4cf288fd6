#include "aggregator/request_window.h"

#include <algorithm>

#include "common/request_stats.h"

namespace middlepipe::aggregator {

RequestWindow::RequestWindow(int64_t window_ms)
    : window_ms_(std::max<int64_t>(window_ms, kSlices)),
      slice_ms_(window_ms_ / kSlices),
      slices_(kSlices) {}

void RequestWindow::Add(int64_t now_ms, const v1::RequestStats& delta) {
  const int64_t start = now_ms - now_ms % slice_ms_;
  Slice& slice = slices_[static_cast<size_t>((now_ms / slice_ms_) % kSlices)];
  if (slice.start_ms != start) {
    slice.start_ms = start;
    slice.stats.Clear();
  }
  AddRequestStats(slice.stats, delta);
}

v1::RequestStats RequestWindow::Sum(int64_t now_ms) const {
  v1::RequestStats sum;
  for (const Slice& slice : slices_) {
    if (slice.start_ms >= 0 && slice.start_ms > now_ms - window_ms_ && slice.start_ms <= now_ms) {
      AddRequestStats(sum, slice.stats);
    }
  }
  return sum;
}

void RequestWindow::Reset() { slices_.assign(kSlices, Slice()); }

}  // namespace middlepipe::aggregator

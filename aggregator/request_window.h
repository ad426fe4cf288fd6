// Request statistics summed over a rolling window: kSlices slices of window/kSlices
// milliseconds each, so the window advances in steps of a tenth and old observations
// fall out without being stored one by one.
#pragma once

#include <vector>

#include "proto/middlepipe.pb.h"

namespace middlepipe::aggregator {

class RequestWindow {
 public:
  static constexpr int kSlices = 10;

  explicit RequestWindow(int64_t window_ms);

  int64_t window_ms() const { return window_ms_; }

  // Adds a delta observed at `now_ms`.
  void Add(int64_t now_ms, const v1::RequestStats& delta);
  // The sum over the window ending at `now_ms`.
  v1::RequestStats Sum(int64_t now_ms) const;
  // Forgets everything (e.g. a breaker closed: its old failures must not count again).
  void Reset();

 private:
  struct Slice {
    int64_t start_ms = -1;
    v1::RequestStats stats;
  };

  int64_t window_ms_;
  int64_t slice_ms_;
  std::vector<Slice> slices_;
};

}  // namespace middlepipe::aggregator

// What a request filter observed since its last report. The filters of one middlepipe in
// successive epochs share one (RequestFilter::AdoptState), so calls that finish on the old
// chain and calls that start on the new one land in the same report, and a new epoch
// loses no count.
#pragma once

#include <mutex>

#include "proto/middlepipe.pb.h"

namespace middlepipe::scheduler {

class PendingStats {
 public:
  // Runs `change(stats)` under the lock.
  template <typename Change>
  void Update(Change&& change) {
    std::lock_guard<std::mutex> lock(mu_);
    change(stats_);
  }

  // Moves what was observed into `report` and starts over (reports are deltas).
  void TakeInto(v1::Report& report) {
    std::lock_guard<std::mutex> lock(mu_);
    report.mutable_request_stats()->Swap(&stats_);
    stats_.Clear();
  }

 private:
  std::mutex mu_;
  v1::RequestStats stats_;
};

}  // namespace middlepipe::scheduler

#include "aggregator/request_window.h"

#include <gtest/gtest.h>

#include "tests/support/aggregator_inputs.h"

namespace middlepipe::aggregator {
namespace {

v1::RequestStats Calls(uint64_t ok, uint64_t failed) { return testing::CallsStats(ok, failed); }

TEST(RequestWindowTest, ObservationsLeaveTheWindowAfterItsLength) {
  RequestWindow window(1000);  // ten slices of 100 ms
  window.Add(1000, Calls(1, 0));
  window.Add(1550, Calls(2, 0));
  EXPECT_EQ(window.Sum(1999).requests(), 3u);
  EXPECT_EQ(window.Sum(2000).requests(), 2u) << "the slice starting at 1000 is out";
  EXPECT_EQ(window.Sum(2499).requests(), 2u);
  EXPECT_EQ(window.Sum(2500).requests(), 0u) << "the slice starting at 1500 is out";
  window.Add(2600, Calls(1, 1));
  window.Reset();
  EXPECT_EQ(window.Sum(2600).requests(), 0u);
}

TEST(RequestWindowTest, AReusedSliceStartsEmpty) {
  RequestWindow window(1000);
  window.Add(100, Calls(5, 0));
  window.Add(1100, Calls(1, 0));  // same slot, one window later
  EXPECT_EQ(window.Sum(1100).requests(), 1u);
}

}  // namespace
}  // namespace middlepipe::aggregator

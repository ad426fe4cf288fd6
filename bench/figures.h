// How benchmarks report: one JSON object per figure and line on stdout,
//   {"suite":"aggregator","row":"agents-1000","metric":"fanout_p99","unit":"ms","value":12.3}
// which bench/report.py folds into min/median/max over runs (DESIGN.md §8).
#pragma once

#include <string>
#include <vector>

namespace middlepipe::bench {

class Figures {
 public:
  explicit Figures(std::string suite) : suite_(std::move(suite)) {}
  void Emit(const std::string& row, const std::string& metric, const std::string& unit,
            double value) const;

 private:
  const std::string suite_;
};

// Nearest-rank percentile (0 < percent <= 100) of `samples`; 0 for none.
double Percentile(std::vector<double> samples, double percent);

}  // namespace middlepipe::bench

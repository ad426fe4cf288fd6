#include "bench/figures.h"

#include <algorithm>
#include <cmath>
#include <iostream>

#include <nlohmann/json.hpp>

namespace middlepipe::bench {

void Figures::Emit(const std::string& row, const std::string& metric, const std::string& unit,
                   double value) const {
  std::cout << nlohmann::json{{"suite", suite_}, {"row", row}, {"metric", metric}, {"unit", unit},
                              {"value", value}}
                   .dump()
            << std::endl;
}

double Percentile(std::vector<double> samples, double percent) {
  if (samples.empty()) return 0;
  std::sort(samples.begin(), samples.end());
  const size_t rank = static_cast<size_t>(std::ceil(percent / 100.0 * samples.size()));
  return samples[std::max<size_t>(rank, 1) - 1];
}

}  // namespace middlepipe::bench

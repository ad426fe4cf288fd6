#include "fastpath/route_choice.h"

#include <cmath>

#include "fastpath/stable_hash.h"

namespace middlepipe::fastpath {

std::optional<size_t> StickyRoute(const std::vector<RouteWeight>& routes, std::string_view key) {
  // Each route draws u in (0, 1) from the key; the highest -weight / ln(u) wins, which
  // happens with probability weight / sum of weights.
  std::optional<size_t> best;
  double best_score = 0;
  for (size_t i = 0; i < routes.size(); ++i) {
    if (!routes[i].reachable) continue;
    const double u = (static_cast<double>(StableHash({routes[i].service, key}) >> 11) + 0.5) * 0x1.0p-53;
    const double score = -routes[i].weight / std::log(u);
    if (!best || score > best_score) {
      best = i;
      best_score = score;
    }
  }
  return best;
}

std::optional<size_t> WeightedRoute(const std::vector<RouteWeight>& routes, double roll) {
  double total = 0;
  for (const RouteWeight& route : routes) {
    if (route.reachable) total += route.weight;
  }
  if (!(total > 0)) return std::nullopt;
  double left = roll * total;
  std::optional<size_t> last;
  for (size_t i = 0; i < routes.size(); ++i) {
    if (!routes[i].reachable) continue;
    last = i;
    if (left < routes[i].weight) return i;
    left -= routes[i].weight;
  }
  return last;  // rounding left a sliver past the last route
}

}  // namespace middlepipe::fastpath

#include "clients/cpp/fastpath/route_choice.h"

#include <cmath>

namespace middlepipe::fastpath {
namespace {

// The same in every process and on every machine (std::hash and absl::Hash are seeded
// per process). FNV-1a over the route's service and the key, then the splitmix64
// finalizer to spread FNV's weak low bits over the whole word.
uint64_t StableHash(std::string_view service, std::string_view key) {
  uint64_t hash = 0xcbf29ce484222325ull;
  auto mix_in = [&hash](std::string_view bytes) {
    for (unsigned char byte : bytes) {
      hash ^= byte;
      hash *= 0x100000001b3ull;
    }
  };
  mix_in(service);
  mix_in(std::string_view("\xff", 1));  // no service name contains it: "ab"+"c" != "a"+"bc"
  mix_in(key);
  hash ^= hash >> 30;
  hash *= 0xbf58476d1ce4e5b9ull;
  hash ^= hash >> 27;
  hash *= 0x94d049bb133111ebull;
  hash ^= hash >> 31;
  return hash;
}

}  // namespace

std::optional<size_t> StickyRoute(const std::vector<RouteWeight>& routes, std::string_view key) {
  // Each route draws u in (0, 1) from the key; the highest -weight / ln(u) wins, which
  // happens with probability weight / sum of weights.
  std::optional<size_t> best;
  double best_score = 0;
  for (size_t i = 0; i < routes.size(); ++i) {
    if (!routes[i].reachable) continue;
    const double u = (static_cast<double>(StableHash(routes[i].service, key) >> 11) + 0.5) * 0x1.0p-53;
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

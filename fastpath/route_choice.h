// How a traffic split picks a route, in one place for the agent's filter and the client
// core, so a call gets the same route whichever of them decides it.
//
//   StickyRoute    weighted rendezvous hashing over a fixed hash: a key goes to the same
//                  route in every process on every machine, and raising one route's
//                  weight moves keys onto it, never off it;
//   WeightedRoute  a route by weight for a uniform roll in [0, 1) (requests without a
//                  sticky key).
// Routes that are not reachable (no weight, nowhere to send) are never chosen; nullopt
// when none is.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace middlepipe::fastpath {

struct RouteWeight {
  std::string service;
  double weight = 0;
  bool reachable = false;
};

std::optional<size_t> StickyRoute(const std::vector<RouteWeight>& routes, std::string_view key);
std::optional<size_t> WeightedRoute(const std::vector<RouteWeight>& routes, double roll);

}  // namespace middlepipe::fastpath

// What the agent publishes for one binding (app -> service) in a segment slot: the
// request verdict of its chain as the client core can evaluate it without the agent.
//
// A program is a list of steps, one per filter that decides something at request time,
// in chain order; filters that only observe (monitor) have none. The first step that
// answers ends the call, as in the agent's chain:
//   kRespond     answer with `response` (a breaker that is open);
//   kTakeToken   take a token from rate-limit cell `cell` (GCRA, gcra.h); without one,
//                answer with `response`, a Retry-After header in front.
// `fast` false means the verdict needs the agent now (a breaker half-open or deciding
// alone, a filter with no fast path): the client asks over the socket. So does a client
// whose clock passed `valid_until_ms` (a lease or an open interval ended) before the
// agent republished.
//
// The encoding is little-endian, length-prefixed, and Decode checks every length
// against what is left, so any bytes decode to a program or to an error.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "clients/cpp/fastpath/route_choice.h"

namespace middlepipe::fastpath {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct Response {
  uint32_t status = 0;
  // No fallback configured: the client raises the kind's typed error.
  bool raise = false;
  HeaderList headers;
  std::string body;
};

// Where a traffic split's route sends: the chain's own service (the request goes
// unchanged), or another service's endpoints.
struct RouteTarget {
  bool own = false;
  std::vector<std::pair<std::string, uint32_t>> endpoints;  // host, port
};

struct Step {
  enum class Kind : uint8_t { kRespond = 1, kTakeToken = 2, kFault = 3, kRoute = 4 };
  Kind kind = Kind::kRespond;
  // Position of the filter in the chain.
  uint8_t filter_index = 0;
  // kTakeToken: the cell and the bucket's shape.
  uint32_t cell = 0;
  int64_t interval_us = 0;
  int64_t tolerance_us = 0;
  // The answer: marker headers for the verdict and the response the app gets (its own
  // headers; the client adds the markers).
  HeaderList markers;
  Response response;
  // kFault: percentages in [0, 100].
  double abort_percent = 0;
  double delay_percent = 0;
  uint32_t delay_ms = 0;
  HeaderList delay_markers;
  // kRoute: weights and targets, one each per route, in the filter's order.
  std::string sticky_header;
  std::vector<RouteWeight> routes;
  std::vector<RouteTarget> targets;
};

struct Program {
  // Stable for the service across epochs; names the binding in observations.
  uint64_t binding_id = 0;
  uint64_t epoch = 0;
  std::string service;
  bool fast = false;
  int64_t valid_until_ms = 0;
  uint8_t filter_count = 0;
  std::vector<Step> steps;
};

std::string Encode(const Program& program);
// False (with `error`) for bytes that are not a whole, sane program.
bool Decode(const std::string& bytes, Program* program, std::string* error);

}  // namespace middlepipe::fastpath

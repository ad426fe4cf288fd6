// What the agent publishes for one binding (app -> service) in a segment slot: the
// request verdict of its chain as the client core can evaluate it without the agent.
//
// A program is a list of steps, one per filter that decides something at request time,
// in chain order; filters that only observe (monitor) have none. The first step that
// answers ends the call, as in the agent's chain:
//   kRespond     answer with `response` (a breaker that is open);
//   kTakeToken   take a token from rate-limit cell `cell` (GCRA, gcra.h); without one,
//                answer with `response`, a Retry-After header in front;
//   kTakeKeyedToken
//                take a token from the bucket of the value of key_header (absent: the
//                empty key) in the key table (key_table.h) of key_slots slots at cell
//                `cell`; a key not in the table goes to the agent. Without a token,
//                answer as kTakeToken, with kKeyPlaceholder in the markers and body
//                replaced by key_prefix + the key (nothing for the empty key);
//   kFault       abort abort_percent of calls with `response`; delay delay_percent of
//                the others by delay_ms (they carry delay_markers);
//   kRoute       send the call to one of `routes` (route_choice.h): by the value of
//                sticky_header when the request has it, else by weight at random.
// An answer's response carries, after its own headers, the markers of every step so far
// (a delay's, then its own), as the agent's chain puts them.
// `fast` false means the verdict needs the agent now (a breaker's trial or one deciding
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

#include "fastpath/route_choice.h"

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
  enum class Kind : uint8_t { kRespond = 1, kTakeToken = 2, kFault = 3, kRoute = 4, kTakeKeyedToken = 5 };
  Kind kind = Kind::kRespond;
  // Position of the filter in the chain.
  uint8_t filter_index = 0;
  // kTakeToken: the cell and the bucket's shape (kTakeKeyedToken: its table's first
  // cell, and every key's bucket's shape).
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
  // kTakeKeyedToken.
  std::string key_header;
  uint32_t key_slots = 0;
  std::string key_prefix;
};

// Where a kTakeKeyedToken step's answer names the key.
constexpr char kKeyPlaceholder[] = "\x1f{key}\x1f";

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

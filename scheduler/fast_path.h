// How a request filter takes part in the shared-memory fast path (DESIGN.md §5).
//
// The agent compiles each chain's request verdict into a fastpath::Program the client
// core evaluates in the app's process: every filter says what it would decide for the
// next call (CompileFastPath), or that it cannot say without seeing the call (then the
// whole binding goes over the socket until it can). Calls the client core decided come
// back through the segment's ring; the agent then gives each filter what OnRequest
// would have counted (OnFastPathRequest) and runs OnResponse as for a socket call, so
// windows, transitions and reports are the same on both paths.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <string>

#include "fastpath/program.h"
#include "proto/middlepipe.pb.h"

namespace middlepipe::scheduler {

// Consecutive 64-bit cells of the segment that clients and the agent update together.
struct SharedCells {
  uint32_t index = 0;  // of the first
  std::atomic<int64_t>* first = nullptr;
  uint32_t count = 0;
};

struct FastPathContext {
  int64_t now_ms = 0;
  // `count` consecutive cells of the segment for this binding's middlepipe `name` (the
  // same ones every time the same binding asks for as many); nullopt when the segment
  // has no room left.
  std::function<std::optional<SharedCells>(const std::string& name, uint32_t count)> cells;
};

// What the client core did with a call it decided, for one filter of the chain.
struct FastPathCall {
  // This filter's step answered the call.
  bool answered = false;
  // fastpath::ObservationData::choices for this filter (0 past kChoiceFilters).
  uint8_t choice = 0;
  // fastpath::ObservationData::key_slot.
  uint16_t key_slot = 0;
};

struct FastPathPlan {
  // False: the verdict needs the agent (the client asks over the socket).
  bool possible = false;
  // When the plan stops holding by the clock alone (a lease, an open interval).
  int64_t valid_until_ms = std::numeric_limits<int64_t>::max();
  // What the filter decides; none for a filter that lets every call pass.
  std::optional<fastpath::Step> step;

  static FastPathPlan Ask() { return {}; }
  static FastPathPlan Pass(int64_t valid_until_ms = std::numeric_limits<int64_t>::max()) {
    return {true, valid_until_ms, std::nullopt};
  }
};

// A fastpath::HeaderList from marker/response headers (a repeated field or a vector).
template <typename Headers>
fastpath::HeaderList ToHeaderList(const Headers& headers) {
  fastpath::HeaderList list;
  for (const v1::Header& header : headers) list.emplace_back(header.name(), header.value());
  return list;
}

}  // namespace middlepipe::scheduler

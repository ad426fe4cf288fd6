// Asks a user's aggregator for live state (Aggregator.Query), for `mp middlepipe NAME`.
#pragma once

#include <chrono>
#include <string>

#include "absl/status/statusor.h"
#include "proto/aggregator.pb.h"

namespace middlepipe::controller {

// UNAVAILABLE naming the address when the aggregator does not answer within `timeout`.
absl::StatusOr<v1::QueryResponse> QueryAggregator(const std::string& address,
                                                  const v1::QueryRequest& request,
                                                  std::chrono::milliseconds timeout);

}  // namespace middlepipe::controller

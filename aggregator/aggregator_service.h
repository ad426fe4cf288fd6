// The per-user aggregator's gRPC service (proto/aggregator.proto).
//
// The kinds' aggregator halves (aggregator/<kind>/) plug in here. Until they do, every
// call answers UNIMPLEMENTED (the generated default), never a fake success.
#pragma once

#include <string>

#include "proto/aggregator.grpc.pb.h"

namespace middlepipe::aggregator {

class AggregatorService final : public v1::Aggregator::CallbackService {
 public:
  // `user`: the one user whose agents and middlepipes this aggregator serves.
  explicit AggregatorService(std::string user) : user_(std::move(user)) {}

  const std::string& user() const { return user_; }

 private:
  const std::string user_;
};

}  // namespace middlepipe::aggregator

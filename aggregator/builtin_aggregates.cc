#include "aggregator/builtin_aggregates.h"

#include "aggregator/circuit-breaker/breaker_aggregate.h"
#include "aggregator/rate-limit/rate_aggregate.h"

namespace middlepipe::aggregator {

KindAggregateRegistry BuiltinAggregates() {
  return {
      {"circuit-breaker", &circuit_breaker::BreakerAggregate::Create},
      {"rate-limit", &rate_limit::RateAggregate::Create},
  };
}

}  // namespace middlepipe::aggregator

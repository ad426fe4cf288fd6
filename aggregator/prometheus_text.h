// The aggregator's /metrics page in the Prometheus text exposition format (0.0.4): every
// middlepipe's statistics labelled user, middlepipe, kind, app, service, and the
// aggregator's own counters.
#pragma once

#include <string>

#include "aggregator/aggregation.h"
#include "proto/aggregator.pb.h"

namespace middlepipe::aggregator {

std::string RenderPrometheus(const std::string& user, const v1::QueryResponse& states,
                             const AggregatorCounters& counters);

// Escapes a label value (backslash, double quote, newline) as the format requires.
std::string EscapeLabelValue(const std::string& value);

}  // namespace middlepipe::aggregator

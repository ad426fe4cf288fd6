// What an aggregator is fed, built in one line for tests and benchmarks: a middlepipe
// bound to (app, service) for Configure, and a request-level report.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "proto/aggregator.pb.h"

namespace middlepipe::testing {

// A middlepipe bound to (app, service) as Configure wants it.
v1::AggregatedMiddlepipe BoundMiddlepipe(const std::string& name, const std::string& kind,
                                         const std::string& config_json, const std::string& app,
                                         const std::string& service);

// Request statistics of `ok` 2xx and `failed` 5xx completed calls.
v1::RequestStats CallsStats(uint64_t ok, uint64_t failed);

// A request-level report for (middlepipe, kind) of app -> service: `ok` 2xx and `failed`
// 5xx completed calls, plus kind counters.
v1::Report CallsReport(const std::string& middlepipe, const std::string& kind, const std::string& app,
                       const std::string& service, uint64_t ok, uint64_t failed,
                       const std::vector<std::pair<std::string, uint64_t>>& counters = {});

}  // namespace middlepipe::testing

// Load for the request-path benchmark, measured the way wrk2 does it.
//
// Constant rate: `connections` threads, each with its own connection, send requests on a
// fixed schedule (together `rate` per second). A request's latency runs from when it was
// *due*, not from when it was sent, so a stall counts against every request it delayed
// instead of hiding behind them (coordinated omission). Closed loop: the same threads send
// back to back, for the capacity figure.
#pragma once

#include <functional>
#include <vector>

namespace middlepipe::bench {

// One request; returns the HTTP status (0 for a transport failure).
using Caller = std::function<int()>;
// Makes a caller with a connection of its own, for one load thread.
using CallerFactory = std::function<Caller()>;

struct LoadResult {
  std::vector<double> latencies_us;  // one per request
  double seconds = 0;                // first due time to last completion
  double client_cpu_seconds = 0;     // CPU of the load threads (the app's side)
  int failures = 0;                  // requests not answered 200
};

LoadResult ConstantRate(const CallerFactory& make_caller, double rate, int requests, int connections);
LoadResult ClosedLoop(const CallerFactory& make_caller, int requests, int connections);

// One thread, one connection per caller: `requests` times one call of each caller, back
// to back, in a new random order each time (so none always follows the same other).
// Neighbouring calls of different rows are microseconds apart, so drift and noise bursts
// hit every row alike: the rows' differences resolve what separate runs cannot.
// Result i is caller i's.
std::vector<LoadResult> Interleaved(const std::vector<CallerFactory>& make_callers, int requests);

}  // namespace middlepipe::bench

#include "bench/request_path/load.h"

#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <numeric>
#include <random>
#include <thread>

namespace middlepipe::bench {
namespace {

using Clock = std::chrono::steady_clock;

double ThreadCpuSeconds() {
  timespec now{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) / 1e9;
}

// Runs `connections` threads; thread t sends requests t, t + connections, …, each at
// `due(i)` (or at once when due returns nullopt-like Clock::time_point::min()).
LoadResult Run(const CallerFactory& make_caller, int requests, int connections,
               const std::function<Clock::time_point(int)>& due) {
  LoadResult result;
  result.latencies_us.resize(static_cast<size_t>(requests));
  std::mutex mu;
  std::atomic<int> failures{0};
  std::vector<Caller> callers;
  for (int t = 0; t < connections; ++t) callers.push_back(make_caller());
  const auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < connections; ++t) {
    threads.emplace_back([&, t] {
      const double cpu_before = ThreadCpuSeconds();
      for (int i = t; i < requests; i += connections) {
        Clock::time_point when = due(i);
        if (when == Clock::time_point::min()) {
          when = Clock::now();
        } else {
          std::this_thread::sleep_until(when);
        }
        if (callers[static_cast<size_t>(t)]() != 200) ++failures;
        result.latencies_us[static_cast<size_t>(i)] =
            std::chrono::duration<double, std::micro>(Clock::now() - when).count();
      }
      const double used = ThreadCpuSeconds() - cpu_before;
      std::lock_guard<std::mutex> lock(mu);
      result.client_cpu_seconds += used;
    });
  }
  for (std::thread& thread : threads) thread.join();
  result.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  result.failures = failures.load();
  return result;
}

}  // namespace

LoadResult ConstantRate(const CallerFactory& make_caller, double rate, int requests, int connections) {
  const auto start = Clock::now() + std::chrono::milliseconds(10);  // threads up first
  const auto interval = std::chrono::duration<double>(1.0 / rate);
  return Run(make_caller, requests, connections, [&](int i) {
    return start + std::chrono::duration_cast<Clock::duration>(interval * i);
  });
}

LoadResult ClosedLoop(const CallerFactory& make_caller, int requests, int connections) {
  return Run(make_caller, requests, connections, [](int) { return Clock::time_point::min(); });
}

std::vector<LoadResult> Interleaved(const std::vector<CallerFactory>& make_callers, int requests) {
  const size_t rows = make_callers.size();
  std::vector<Caller> callers;
  std::vector<LoadResult> results(rows);
  for (size_t row = 0; row < rows; ++row) {
    callers.push_back(make_callers[row]());
    results[row].latencies_us.reserve(static_cast<size_t>(requests));
  }
  // A fresh random order each time, from a fixed seed: a row's call costs more or less
  // depending on which row's call came just before (who woke up, what is in the caches),
  // so a fixed rotation would give each row a bias of its own.
  std::vector<size_t> order(rows);
  std::iota(order.begin(), order.end(), 0);
  std::mt19937 shuffle(12345);
  for (int i = 0; i < requests; ++i) {
    std::shuffle(order.begin(), order.end(), shuffle);
    for (size_t row : order) {
      const double cpu_before = ThreadCpuSeconds();
      const auto sent = Clock::now();
      if (callers[row]() != 200) ++results[row].failures;
      const auto done = Clock::now();
      results[row].latencies_us.push_back(std::chrono::duration<double, std::micro>(done - sent).count());
      results[row].seconds += std::chrono::duration<double>(done - sent).count();
      results[row].client_cpu_seconds += ThreadCpuSeconds() - cpu_before;
    }
  }
  return results;
}

}  // namespace middlepipe::bench

// Optional export of every middlepipe's figures to Graphite (carbon plaintext protocol,
// `path value timestamp\n` over TCP), every interval, from a thread of its own.
//
// Paths: middlepipe.<user>.<middlepipe>.<app>.<service>.<figure>, e.g.
// middlepipe.alice.orders-breaker.web.orders.requests 1234 1763800000. A Graphite that is
// away costs nothing but a warning once per outage; the next interval reconnects.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "common/address.h"
#include "common/logger.h"
#include "proto/aggregator.pb.h"

namespace middlepipe::aggregator {

// The plaintext lines for one snapshot at `unix_seconds`.
std::string RenderGraphite(const std::string& user, const v1::QueryResponse& states,
                           int64_t unix_seconds);

class GraphiteExporter {
 public:
  GraphiteExporter(Address carbon, std::string user, std::chrono::milliseconds interval,
                   std::function<v1::QueryResponse()> snapshot, Logger* logger);
  ~GraphiteExporter();  // Stop()

  void Start();
  void Stop();

 private:
  void Run();
  bool Send(const std::string& lines);  // one connection per interval

  const Address carbon_;
  const std::string user_;
  const std::chrono::milliseconds interval_;
  const std::function<v1::QueryResponse()> snapshot_;
  Logger* const logger_;
  std::mutex mu_;
  std::condition_variable stop_changed_;
  bool stopping_ = false;
  bool warned_ = false;
  std::thread thread_;
};

}  // namespace middlepipe::aggregator

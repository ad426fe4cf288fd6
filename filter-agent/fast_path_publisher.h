// The agent's side of the shared-memory fast path (DESIGN.md §5). Every round (a few
// milliseconds apart) it
//   1. drains the segment's ring: each call a client core decided is counted by the
//      filters as OnRequest would have (OnFastPathRequest), and its outcome runs the
//      chain's OnResponse, exactly as a socket call's would;
//   2. compiles each chain of the committed epoch into a fastpath::Program (every
//      filter's CompileFastPath) and writes the slots whose program changed;
//   3. beats, so clients know the programs are current.
// Draining before compiling means a transition the observations cause (a breaker
// tripping) reaches the clients in the same round.
//
// Filters' token buckets move into the segment's cells, so the segment must outlive the
// chains' filters: it is made first and handed in.
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "fastpath/segment.h"
#include "common/logger.h"
#include "scheduler/chain_table.h"

namespace middlepipe::agent {

class FastPathPublisher {
 public:
  // Not owned; all must outlive the publisher.
  FastPathPublisher(fastpath::Segment* segment, const scheduler::ChainTable* chains, Logger* logger,
                    scheduler::Clock clock);
  ~FastPathPublisher();

  // Runs rounds on a thread of its own every `interval`. A breaker trips from drained
  // observations at most that late; rounds every 1 ms instead doubled the agent's CPU
  // per call (bench/request_path, interposer_cpu_per_1000) for no lower latency.
  void Start(std::chrono::milliseconds interval = std::chrono::milliseconds(5));
  // A last round (so the app's last calls count), then stops; clients are told the fast
  // path is gone (their next call asks the socket).
  void Stop();

  // One round, for tests and the thread: drain, compile, publish, beat.
  void RunRound();

  // Calls decided by client cores and drained so far.
  uint64_t observations() const { return observations_.load(); }
  // Observations of bindings the current epoch no longer has.
  uint64_t orphaned() const { return orphaned_.load(); }
  // Observations the filters never saw: the ring was full, or an app died mid-append.
  uint64_t lost() const;
  // "N on the fast path (N lost, N of bindings gone)", for the agent's last line.
  std::string Summary() const;

 private:
  void Drain(const scheduler::ChainSet* current);
  void Publish(const scheduler::ChainSet* current, int64_t now_ms);
  uint64_t BindingId(const std::string& service);

  fastpath::Segment* const segment_;
  const scheduler::ChainTable* const chains_;
  Logger* const logger_;
  const scheduler::Clock clock_;

  // Only the round touches these (one round at a time, under round_mu_).
  std::mutex round_mu_;
  std::map<std::string, uint64_t> binding_ids_;
  std::map<uint64_t, std::string> services_;
  std::map<std::string, uint32_t> cells_;  // "service/middlepipe/count" -> first cell
  uint32_t next_cell_ = 0;
  std::map<std::string, uint32_t> slots_;  // service -> slot
  std::map<uint32_t, std::string> written_;  // slot -> payload now in it
  uint64_t unlisted_ = 0;
  bool warned_full_ = false;
  bool warned_cells_ = false;
  uint64_t lost_told_ = 0;  // lost() when last said on the log
  int64_t next_loss_warning_ms_ = 0;

  std::atomic<uint64_t> observations_{0};
  std::atomic<uint64_t> orphaned_{0};
  std::thread thread_;
  std::mutex stop_mu_;
  std::condition_variable stop_changed_;
  bool stopping_ = false;
};

}  // namespace middlepipe::agent

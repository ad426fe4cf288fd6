// Keeps every user's aggregator configured with that user's middlepipes and bindings
// (Aggregator.Configure, a complete snapshot each time).
//
// A user is marked after every stored change and after every (re)start of its
// aggregator; a thread of its own reads the snapshot from the store and sends it,
// retrying with back-off while the aggregator is not up yet. Snapshot epochs are the
// controller's clock in milliseconds, forced to grow, so a late older snapshot never
// overrides a newer one at the aggregator. Nothing on the request or CLI path waits on
// this.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "common/logger.h"
#include "controller/store/store.h"
#include "proto/aggregator.pb.h"

namespace middlepipe::controller {

// The snapshot of `user`'s middlepipes with their bindings.
absl::StatusOr<v1::ConfigureRequest> AggregatorSnapshot(StoreTransaction& tx, const std::string& user);

struct AggregatorConfigurerOptions {
  // The user's aggregator address; empty: none (nothing to configure).
  std::function<std::string(const std::string& user)> aggregator_address;
  std::chrono::milliseconds call_timeout{2000};
  std::chrono::milliseconds initial_retry{100};
  std::chrono::milliseconds max_retry{5000};
};

class AggregatorConfigurer {
 public:
  // Not owned; must outlive the configurer.
  AggregatorConfigurer(Store* store, AggregatorConfigurerOptions options, Logger* logger);
  ~AggregatorConfigurer();  // Stop()

  // Sends `user`'s snapshot again soon. Cheap; callable from any thread and lock.
  void MarkDirty(const std::string& user);

  void Start();
  void Stop();

  // Snapshots accepted by aggregators so far (for tests and metrics).
  uint64_t configured() const;

 private:
  struct Pending {
    std::chrono::steady_clock::time_point due;
    std::chrono::milliseconds retry{0};
  };

  void Run();
  absl::Status ConfigureOne(const std::string& user);

  Store* const store_;
  const AggregatorConfigurerOptions options_;
  Logger* const logger_;
  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::map<std::string, Pending> pending_;
  bool stopping_ = false;
  uint64_t last_epoch_ = 0;
  uint64_t configured_ = 0;
  std::thread thread_;
};

}  // namespace middlepipe::controller

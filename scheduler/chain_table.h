// The chains an agent runs, by epoch, with atomic hot swap (DESIGN.md §4):
//
//   Prepare(epoch, chains)  builds every filter of every chain (failing fast on the
//                           first that cannot be built) and holds them, unused;
//   Commit(epoch)           makes them current in one pointer swap;
//   Abort(epoch)            drops them.
//
// A request takes Current() once and runs entirely on that ChainSet, which stays alive
// while any request holds it: a request is never half old chain, half new. Filters of
// the same middlepipe on the same service take over their predecessor's state at
// Prepare, so a new epoch does not reset an open breaker or a counter.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "proto/agent.pb.h"
#include "scheduler/filter_registry.h"
#include "scheduler/packet/packet_chain.h"

namespace middlepipe::scheduler {

// The request-level filters of one (app, service), in order.
class RequestChain {
 public:
  struct Entry {
    v1::FilterSpec spec;
    std::unique_ptr<RequestFilter> filter;
  };

  explicit RequestChain(std::vector<Entry> entries) : entries_(std::move(entries)) {}

  // Runs OnRequest of each filter in order until one answers kRespond.
  FilterStatus OnRequest(RequestCall& call) const;
  // Runs OnResponse of every filter (the call went to the service).
  void OnResponse(RequestCall& call) const;

  const std::vector<Entry>& entries() const { return entries_; }
  RequestFilter* Find(const std::string& middlepipe) const;

 private:
  std::vector<Entry> entries_;
};

using PacketChains = std::map<std::string, std::shared_ptr<const packet::PacketChain>>;

// Every chain of the app at one epoch: the request-level filters of each service (run by
// the hooks) and the packet-level ones (run on the agent's queue), by service.
class ChainSet {
 public:
  ChainSet(uint64_t epoch, std::string aggregator_address,
           std::map<std::string, std::unique_ptr<RequestChain>> chains,
           PacketChains packet_chains = {})
      : epoch_(epoch),
        aggregator_address_(std::move(aggregator_address)),
        chains_(std::move(chains)),
        packet_chains_(std::move(packet_chains)) {}

  uint64_t epoch() const { return epoch_; }
  const std::string& aggregator_address() const { return aggregator_address_; }
  // The chain to `service`, or nullptr (no filters: the call goes straight through).
  const RequestChain* Find(const std::string& service) const;
  const std::map<std::string, std::unique_ptr<RequestChain>>& chains() const { return chains_; }
  // Services with packet-level filters; a flow holds its chain while it runs on it.
  const PacketChains& packet_chains() const { return packet_chains_; }

 private:
  const uint64_t epoch_;
  const std::string aggregator_address_;
  const std::map<std::string, std::unique_ptr<RequestChain>> chains_;
  const PacketChains packet_chains_;
};

class ChainTable {
 public:
  // Not owned; must outlive the table. `packet_support`: OK when this agent can run
  // packet-level filters, else why not (PREPARE of a chain with one fails with it).
  ChainTable(const FilterRegistry* registry, Clock clock,
             absl::Status packet_support = absl::OkStatus());

  absl::Status Prepare(const v1::Prepare& prepare);
  // FAILED_PRECONDITION if `epoch` was not prepared (the controller's protocol broke).
  absl::Status Commit(uint64_t epoch);
  void Abort(uint64_t epoch);

  // The chains of the committed epoch (nullptr before the first commit).
  std::shared_ptr<const ChainSet> Current() const;

 private:
  const FilterRegistry* const registry_;
  const Clock clock_;
  const absl::Status packet_support_;
  mutable std::mutex mu_;
  std::shared_ptr<const ChainSet> current_;
  std::map<uint64_t, std::shared_ptr<const ChainSet>> prepared_;
};

}  // namespace middlepipe::scheduler

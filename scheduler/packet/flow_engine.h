// The flow engine (mOS/FlowOS): turns the packets the queue hands over into flows, tracks
// both ends' TCP state from what passes, reassembles each side's bytes, and raises the
// events of packet_filter.h on the filters of the flow's chain. Packet filters are then a
// few dozen lines of event handlers each, instead of one TCP tracker per filter.
//
// Flows are keyed by their 5-tuple (TCP only), bounded in number (the least recently
// seen one is evicted when full) and in memory (MemoryBudget), and end after an idle
// timeout. A flow runs on the chain of the epoch its packet resolves to: when a new epoch
// is committed, the next packet moves the flow onto it, carrying each filter's per-flow
// context over to the same middlepipe's filter (new filters join mid-stream, removed ones
// see the flow end as "unbound"). One thread; not thread-safe.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <unordered_map>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "scheduler/packet/packet_chain.h"

namespace middlepipe::scheduler::packet {

struct EngineOptions {
  size_t max_flows = 65536;
  int64_t idle_timeout_ms = 600'000;
  // How long an ended flow stays to absorb its last packets (the final ACKs) before a new
  // packet of the same 5-tuple starts a new flow.
  int64_t ended_linger_ms = 2'000;
  ReassemblyLimits reassembly;
  // Bytes of buffers and histories of all flows together.
  size_t memory_limit = 256 << 20;
};

// Which chain a packet belongs to, and which side of its flow sent it.
struct Resolution {
  std::shared_ptr<const PacketChain> chain;  // nullptr: no chain handles this traffic
  Side sender = Side::kClient;
};

class ChainResolver {
 public:
  virtual ~ChainResolver() = default;
  virtual Resolution Resolve(const TcpPacket& packet) const = 0;
};

enum class Verdict : uint8_t { kAccept, kDrop };

struct EngineStats {
  uint64_t packets = 0;
  uint64_t unparsable = 0;
  uint64_t unresolved = 0;
  uint64_t dropped = 0;
  uint64_t flows_started = 0;
  uint64_t flows_ended = 0;
  uint64_t flows_evicted = 0;
  size_t flows_active = 0;
  size_t memory_used = 0;
};

class FlowEngine {
 public:
  // `resolver` is not owned and must outlive the engine.
  FlowEngine(EngineOptions options, const ChainResolver* resolver);
  ~FlowEngine();  // ends every flow (kShutdown)
  FlowEngine(const FlowEngine&) = delete;
  FlowEngine& operator=(const FlowEngine&) = delete;

  // One packet as captured (see ParseTcpPacket). A packet that cannot be parsed returns the
  // parse error; the caller gives it the chain's fail-open/fail-closed verdict.
  absl::StatusOr<Verdict> Process(absl::string_view captured, int64_t now_ms);
  // Ends flows idle for longer than the timeout, and forgets ended ones after the linger.
  void Expire(int64_t now_ms);
  // Ends every flow (e.g. the agent stops).
  void EndAll(EndReason reason);

  EngineStats stats() const;

 private:
  struct Key {
    // The lower endpoint first, so both directions of a connection find one flow.
    uint64_t low = 0;
    uint64_t high = 0;
    bool operator==(const Key& other) const { return low == other.low && high == other.high; }
  };
  struct KeyHash {
    size_t operator()(const Key& key) const {
      return static_cast<size_t>(key.low * 0x9E3779B97F4A7C15ull ^ (key.high + (key.high >> 29)));
    }
  };
  class SideListener;

  static Key KeyOf(const Endpoint& one, const Endpoint& other);
  Flow* NewFlow(const Key& key, const TcpPacket& packet, const Resolution& resolution,
                int64_t now_ms);
  void Forget(Flow* flow);
  void Rebind(Flow& flow, std::shared_ptr<const PacketChain> chain);
  void Track(Flow& flow, const TcpPacket& packet, Side sender);
  void Reassemble(Flow& flow, const TcpPacket& packet, Side sender);
  void End(Flow& flow, EndReason reason);
  void Raise(Flow& flow, const Event& event);
  void RaiseOn(Flow& flow, size_t slot, const Event& event);
  bool WantsStream(const Flow& flow, Side side) const;

  const EngineOptions options_;
  const ChainResolver* const resolver_;
  MemoryBudget budget_;
  std::unordered_map<Key, std::unique_ptr<Flow>, KeyHash> flows_;
  // Most recently seen first.
  std::list<Flow*> recency_;
  uint64_t next_flow_id_ = 1;
  EngineStats stats_;
};

}  // namespace middlepipe::scheduler::packet

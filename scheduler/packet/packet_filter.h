// The packet half of the filter API (DESIGN.md §6), after mOS: a packet filter does not
// parse packets or track TCP; it handles events of flows the engine (flow_engine.h)
// tracks and reassembles for it:
//
//   kPacket      every packet of the flow (its side, the parsed packet)
//   kConnStart   the flow appeared (a SYN, or mid-stream when the agent started late)
//   kConnEnd     the flow ended (FIN both ways, RST, idle, evicted, unbound, shutdown)
//   kData        new in-order bytes of one side, reassembled
//   kRetransmit  bytes of one side seen again (with whether they differ)
//
// and user-defined events: a base event plus a predicate, nestable (a user event can be
// the base of another), defined once per filter in DefineEvents. A filter keeps per-flow
// context in FlowView::state(), can stop reassembly or monitoring of one side of a flow,
// and can drop the current packet or the whole flow.
//
// Threading: the engine runs on the agent's one queue thread; only TakeReport (the
// reporter's thread) and the state calls may come from elsewhere, so filters guard what
// those touch.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "proto/middlepipe.pb.h"
#include "scheduler/packet/packet.h"
#include "scheduler/packet/stream_reassembler.h"

namespace middlepipe::scheduler::packet {

// The client is the side that talks to the bound service; the server is the service.
enum class Side : uint8_t { kClient = 0, kServer = 1 };
inline Side Other(Side side) { return side == Side::kClient ? Side::kServer : Side::kClient; }

// What TCP state one side is in, as far as the packets that passed show.
enum class TcpState : uint8_t {
  kUnknown,      // nothing seen from this side yet, or picked up mid-stream
  kSynSent,      // sent SYN (client)
  kSynReceived,  // sent SYN-ACK (server)
  kEstablished,
  kFinSent,      // sent FIN; may still receive
  kClosed,       // FIN sent and acknowledged, or RST
};

enum class EndReason : uint8_t { kFin, kReset, kIdle, kEvicted, kUnbound, kShutdown };
const char* EndReasonName(EndReason reason);

using EventId = uint32_t;
namespace event {
constexpr EventId kPacket = 0;
constexpr EventId kConnStart = 1;
constexpr EventId kConnEnd = 2;
constexpr EventId kData = 3;
constexpr EventId kRetransmit = 4;
constexpr EventId kFirstUserEvent = 16;
}  // namespace event

struct Event {
  EventId id = event::kPacket;
  // The side that sent the packet or the bytes (kConnStart/kConnEnd: the client).
  Side side = Side::kClient;
  // kPacket (and events derived from it): the packet.
  const TcpPacket* packet = nullptr;
  // kData: the new bytes, their stream offset, and whether bytes before them were skipped.
  absl::string_view data;
  uint64_t offset = 0;
  bool after_gap = false;
  // kRetransmit.
  Retransmission retransmission;
  // kConnEnd.
  EndReason end_reason = EndReason::kFin;
  // kConnStart: whether the engine saw the handshake or joined an open connection.
  bool midstream = false;
};

struct Flow;

// One filter's view of one flow.
class FlowView {
 public:
  // Per-flow context a filter keeps; the engine destroys it when the flow goes.
  class State {
   public:
    virtual ~State() = default;
  };

  FlowView(Flow* flow, size_t slot) : flow_(flow), slot_(slot) {}

  const Endpoint& client() const;
  const Endpoint& server() const;
  const Endpoint& endpoint(Side side) const { return side == Side::kClient ? client() : server(); }
  TcpState state(Side side) const;
  // Stream bytes of `side` delivered so far.
  uint64_t stream_bytes(Side side) const;
  // The flow's number in the engine (stable while it lives).
  uint64_t id() const;

  // This filter's context for the flow (nullptr until set).
  State* state() const;
  template <typename T>
  T* state_as() const { return static_cast<T*>(state()); }
  void set_state(std::unique_ptr<State> state);

  // This filter no longer needs `side`'s reassembled bytes (kData, kRetransmit); the engine
  // stops reassembling a side when no filter of the flow needs it.
  void StopReassembly(Side side);
  // This filter no longer wants any event of `side` (kConnEnd still comes).
  void StopMonitoring(Side side);
  // Drops the current packet; DropFlow drops it and every later packet of the flow.
  void DropPacket();
  void DropFlow();

 private:
  Flow* const flow_;
  const size_t slot_;
};

// Defines a filter's user events and which events it handles.
class EventDefinitions {
 public:
  using Predicate = std::function<bool(const FlowView&, const Event&)>;
  struct UserEvent {
    EventId id;
    EventId base;
    Predicate predicate;
  };

  // Asks for `id` (built in or user) to reach OnEvent.
  void Subscribe(EventId id);
  // A new event raised whenever `base` is raised on a flow and `predicate` holds; `base`
  // may be a built-in event or one defined earlier.
  EventId Define(EventId base, Predicate predicate);

  bool subscribed(EventId id) const;
  const std::vector<UserEvent>& user_events() const { return user_events_; }
  // Whether any subscribed event or user event hangs off `base` (directly or not).
  bool Needs(EventId base) const;

 private:
  std::vector<EventId> subscribed_;
  std::vector<UserEvent> user_events_;
};

class PacketFilter {
 public:
  virtual ~PacketFilter() = default;

  // Called once, before the filter sees any flow.
  virtual void DefineEvents(EventDefinitions& events) = 0;
  virtual void OnEvent(FlowView& flow, const Event& event) = 0;

  // Whether the filter reads payload bytes (kData, kRetransmit, packet payload). When no
  // filter of a chain does, the queue copies headers only.
  virtual bool NeedsPayload() const { return true; }
  // Drop the traffic when it cannot be inspected (agent gone, packet unparsable).
  virtual bool FailClosed() const { return false; }

  // Takes over the same middlepipe's filter of the previous epoch (same kind guaranteed).
  virtual void AdoptState(PacketFilter& previous) {}
  // State as the kind serializes it (see RequestFilter).
  virtual std::string ExportState() const { return ""; }
  virtual absl::Status ImportState(absl::string_view state) { return absl::OkStatus(); }
  virtual absl::Status MergeState(absl::string_view state) { return absl::OkStatus(); }
  // Moves what was observed since the last call into `report` (packet_stats, alerts).
  virtual void TakeReport(v1::Report& report) {}
};

}  // namespace middlepipe::scheduler::packet

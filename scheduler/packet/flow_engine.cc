#include "scheduler/packet/flow_engine.h"

#include "scheduler/packet/flow.h"

#include <utility>
#include <vector>

namespace middlepipe::scheduler::packet {

namespace {
uint64_t Pack(const Endpoint& endpoint) {
  return uint64_t{endpoint.address} << 16 | endpoint.port;
}
}  // namespace


// Turns one side's reassembled bytes into kData / kRetransmit events.
class FlowEngine::SideListener : public StreamListener {
 public:
  SideListener(FlowEngine& engine, Flow& flow, Side side)
      : engine_(engine), flow_(flow), side_(side) {}

  void OnStreamData(uint64_t offset, absl::string_view bytes, bool after_gap) override {
    Event data;
    data.id = event::kData;
    data.side = side_;
    data.data = bytes;
    data.offset = offset;
    data.after_gap = after_gap;
    engine_.Raise(flow_, data);
  }
  void OnStreamRetransmit(const Retransmission& retransmission) override {
    Event event;
    event.id = event::kRetransmit;
    event.side = side_;
    event.retransmission = retransmission;
    engine_.Raise(flow_, event);
  }

 private:
  FlowEngine& engine_;
  Flow& flow_;
  const Side side_;
};

FlowEngine::FlowEngine(EngineOptions options, const ChainResolver* resolver)
    : options_(options), resolver_(resolver) {
  budget_.limit = options_.memory_limit;
}

FlowEngine::~FlowEngine() { EndAll(EndReason::kShutdown); }

FlowEngine::Key FlowEngine::KeyOf(const Endpoint& one, const Endpoint& other) {
  const uint64_t a = Pack(one);
  const uint64_t b = Pack(other);
  return a < b ? Key{a, b} : Key{b, a};
}

absl::StatusOr<Verdict> FlowEngine::Process(absl::string_view captured, int64_t now_ms) {
  ++stats_.packets;
  absl::StatusOr<TcpPacket> parsed = ParseTcpPacket(captured);
  if (!parsed.ok()) {
    ++stats_.unparsable;
    return parsed.status();
  }
  const TcpPacket& packet = *parsed;
  const Resolution resolution = resolver_->Resolve(packet);
  const Key key = KeyOf(packet.source, packet.destination);
  auto found = flows_.find(key);
  Flow* flow = found == flows_.end() ? nullptr : found->second.get();

  if (resolution.chain == nullptr) {
    ++stats_.unresolved;
    if (flow != nullptr) {
      End(*flow, EndReason::kUnbound);
      Forget(flow);
    }
    return Verdict::kAccept;
  }
  // A fresh SYN on the 5-tuple of a flow that ended, or with another initial sequence
  // number, is a new connection reusing the ports.
  const bool fresh_syn = packet.has(tcp_flag::kSyn) && !packet.has(tcp_flag::kAck);
  if (flow != nullptr && fresh_syn && resolution.sender == Side::kClient) {
    const Flow::Half& client = flow->halves[0];
    if (flow->ended || (client.syn_seen && client.isn != packet.seq)) {
      End(*flow, EndReason::kEvicted);
      Forget(flow);
      flow = nullptr;
    }
  }
  if (flow == nullptr) {
    if (packet.has(tcp_flag::kRst)) return Verdict::kAccept;  // nothing to reset
    flow = NewFlow(key, packet, resolution, now_ms);
  } else if (flow->chain != resolution.chain) {
    Rebind(*flow, resolution.chain);
  }

  flow->last_seen_ms = now_ms;
  recency_.splice(recency_.begin(), recency_, flow->recency);
  flow->drop_packet = false;

  Event packet_event;
  packet_event.id = event::kPacket;
  packet_event.side = resolution.sender;
  packet_event.packet = &packet;
  if (flow->ended) {
    Raise(*flow, packet_event);  // the last ACKs of a closed connection
  } else {
    Track(*flow, packet, resolution.sender);
    Raise(*flow, packet_event);
    Reassemble(*flow, packet, resolution.sender);
    if (packet.has(tcp_flag::kRst)) {
      End(*flow, EndReason::kReset);
    } else if (flow->halves[0].fin_seen && flow->halves[1].fin_seen) {
      End(*flow, EndReason::kFin);
    }
  }
  const bool drop = flow->drop_flow || flow->drop_packet;
  if (drop) ++stats_.dropped;
  return drop ? Verdict::kDrop : Verdict::kAccept;
}

Flow* FlowEngine::NewFlow(const Key& key, const TcpPacket& packet, const Resolution& resolution,
                          int64_t now_ms) {
  if (flows_.size() >= options_.max_flows && !recency_.empty()) {
    Flow* oldest = recency_.back();
    if (!oldest->ended) ++stats_.flows_evicted;
    End(*oldest, EndReason::kEvicted);
    Forget(oldest);
  }
  auto owned = std::make_unique<Flow>();
  Flow* flow = owned.get();
  flow->id = next_flow_id_++;
  const bool from_client = resolution.sender == Side::kClient;
  flow->ends[0] = from_client ? packet.source : packet.destination;
  flow->ends[1] = from_client ? packet.destination : packet.source;
  flow->chain = resolution.chain;
  flow->slots.resize(flow->chain->entries().size());
  flow->last_seen_ms = now_ms;
  recency_.push_front(flow);
  flow->recency = recency_.begin();
  flows_.emplace(key, std::move(owned));
  ++stats_.flows_started;

  Event start;
  start.id = event::kConnStart;
  start.midstream = !(packet.has(tcp_flag::kSyn) && !packet.has(tcp_flag::kAck) && from_client);
  Raise(*flow, start);
  return flow;
}

void FlowEngine::Forget(Flow* flow) {
  recency_.erase(flow->recency);
  flows_.erase(KeyOf(flow->ends[0], flow->ends[1]));  // destroys the flow
}

void FlowEngine::Rebind(Flow& flow, std::shared_ptr<const PacketChain> chain) {
  const auto& old_entries = flow.chain->entries();
  const auto& new_entries = chain->entries();
  std::vector<Flow::Slot> slots(new_entries.size());
  std::vector<bool> carried(old_entries.size(), false);
  std::vector<bool> joined(new_entries.size(), true);
  for (size_t j = 0; j < new_entries.size(); ++j) {
    for (size_t i = 0; i < old_entries.size(); ++i) {
      if (!carried[i] && old_entries[i].spec.middlepipe() == new_entries[j].spec.middlepipe() &&
          old_entries[i].spec.kind() == new_entries[j].spec.kind()) {
        slots[j] = std::move(flow.slots[i]);
        carried[i] = true;
        joined[j] = false;
        break;
      }
    }
  }
  Event end;
  end.id = event::kConnEnd;
  end.end_reason = EndReason::kUnbound;
  for (size_t i = 0; i < old_entries.size(); ++i) {
    if (!carried[i] && !flow.ended) RaiseOn(flow, i, end);
  }
  flow.chain = std::move(chain);
  flow.slots = std::move(slots);
  Event start;
  start.id = event::kConnStart;
  start.midstream = true;
  for (size_t j = 0; j < new_entries.size(); ++j) {
    if (joined[j] && !flow.ended) RaiseOn(flow, j, start);
  }
}

void FlowEngine::Track(Flow& flow, const TcpPacket& packet, Side sender) {
  Flow::Half& from = flow.halves[Index(sender)];
  Flow::Half& to = flow.halves[Index(Other(sender))];
  if (packet.has(tcp_flag::kRst)) {
    from.state = to.state = TcpState::kClosed;
    return;
  }
  if (packet.has(tcp_flag::kSyn)) {
    if (!from.syn_seen) {
      from.syn_seen = true;
      from.isn = packet.seq;
    }
    from.state = packet.has(tcp_flag::kAck) ? TcpState::kSynReceived : TcpState::kSynSent;
  } else if (from.state == TcpState::kUnknown || from.state == TcpState::kSynSent ||
             from.state == TcpState::kSynReceived) {
    from.state = TcpState::kEstablished;
    if (to.state == TcpState::kSynReceived || to.state == TcpState::kUnknown) {
      // The handshake's last ACK (or a connection joined mid-stream): both are open.
      to.state = TcpState::kEstablished;
    }
  }
  if (packet.has(tcp_flag::kFin) && !from.fin_seen) {
    from.fin_seen = true;
    from.fin_seq = packet.seq + packet.payload_length;
    from.state = TcpState::kFinSent;
  }
  if (packet.has(tcp_flag::kAck) && to.fin_seen && packet.ack == to.fin_seq + 1) {
    to.state = TcpState::kClosed;
  }
}

bool FlowEngine::WantsStream(const Flow& flow, Side side) const {
  if (!flow.chain->needs_payload()) return false;
  constexpr uint32_t kStreamEvents = 1u << event::kData | 1u << event::kRetransmit;
  const auto& entries = flow.chain->entries();
  for (size_t i = 0; i < entries.size(); ++i) {
    const Flow::Slot& slot = flow.slots[i];
    if ((entries[i].builtin_mask & kStreamEvents) != 0 && slot.reassemble[Index(side)] &&
        slot.monitor[Index(side)]) {
      return true;
    }
  }
  return false;
}

void FlowEngine::Reassemble(Flow& flow, const TcpPacket& packet, Side sender) {
  const Side receiver = Other(sender);
  Flow::Half& from = flow.halves[Index(sender)];
  if (WantsStream(flow, sender)) {
    if (from.stream == nullptr) {
      from.stream = std::make_unique<StreamReassembler>(options_.reassembly, &budget_);
    }
    if (!from.stream->started()) {
      // After a SYN the stream starts one past the ISN; mid-stream at this segment.
      from.stream->Start(from.syn_seen ? from.isn + 1 : packet.seq);
    }
    SideListener listener(*this, flow, sender);
    // Bytes the queue did not copy (a packet cut short) are left out; the peer's ACK of
    // them later makes them a gap.
    from.stream->Add(packet.has(tcp_flag::kSyn) ? packet.seq + 1 : packet.seq, packet.payload,
                     listener);
    if (from.fin_seen) from.stream->FinAt(from.fin_seq);
  }
  Flow::Half& to = flow.halves[Index(receiver)];
  if (packet.has(tcp_flag::kAck) && to.stream != nullptr && WantsStream(flow, receiver)) {
    SideListener listener(*this, flow, receiver);
    to.stream->Acknowledged(packet.ack, listener);
  }
}

void FlowEngine::End(Flow& flow, EndReason reason) {
  if (flow.ended) return;
  for (Side side : {Side::kClient, Side::kServer}) {
    auto& stream = flow.halves[Index(side)].stream;
    if (stream == nullptr) continue;
    SideListener listener(*this, flow, side);
    stream->Finish(listener);
  }
  Event end;
  end.id = event::kConnEnd;
  end.end_reason = reason;
  Raise(flow, end);
  flow.ended = true;
  ++stats_.flows_ended;
  // Buffers are not needed any more; the flow itself lingers for its last packets.
  for (auto& half : flow.halves) half.stream.reset();
}

void FlowEngine::Expire(int64_t now_ms) {
  while (!recency_.empty()) {
    Flow* oldest = recency_.back();
    const int64_t idle = now_ms - oldest->last_seen_ms;
    if (oldest->ended ? idle < options_.ended_linger_ms : idle < options_.idle_timeout_ms) break;
    End(*oldest, EndReason::kIdle);
    Forget(oldest);
  }
}

void FlowEngine::EndAll(EndReason reason) {
  while (!recency_.empty()) {
    Flow* flow = recency_.back();
    End(*flow, reason);
    Forget(flow);
  }
}

void FlowEngine::Raise(Flow& flow, const Event& event) {
  for (size_t slot = 0; slot < flow.slots.size(); ++slot) RaiseOn(flow, slot, event);
}

void FlowEngine::RaiseOn(Flow& flow, size_t slot_index, const Event& event) {
  const PacketChain::Entry& entry = flow.chain->entries()[slot_index];
  if (event.id < event::kFirstUserEvent && (entry.builtin_mask & (1u << event.id)) == 0) return;
  const Flow::Slot& slot = flow.slots[slot_index];
  const bool about_connection = event.id == event::kConnStart || event.id == event::kConnEnd;
  if (!about_connection && !slot.monitor[Index(event.side)]) return;
  if ((event.id == event::kData || event.id == event::kRetransmit) &&
      !slot.reassemble[Index(event.side)]) {
    return;
  }
  FlowView view(&flow, slot_index);
  if (entry.events.subscribed(event.id)) entry.filter->OnEvent(view, event);
  for (const EventDefinitions::UserEvent& user : entry.events.user_events()) {
    if (user.base != event.id || !user.predicate(view, event)) continue;
    Event derived = event;
    derived.id = user.id;
    RaiseOn(flow, slot_index, derived);
  }
}

EngineStats FlowEngine::stats() const {
  EngineStats stats = stats_;
  stats.flows_active = flows_.size();
  stats.memory_used = budget_.used;
  return stats;
}

}  // namespace middlepipe::scheduler::packet

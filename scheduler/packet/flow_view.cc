#include "scheduler/packet/flow.h"
#include "scheduler/packet/packet_filter.h"

namespace middlepipe::scheduler::packet {

// FlowView: a filter's handle on a flow.
const Endpoint& FlowView::client() const { return flow_->ends[0]; }
const Endpoint& FlowView::server() const { return flow_->ends[1]; }
TcpState FlowView::state(Side side) const { return flow_->halves[Index(side)].state; }
uint64_t FlowView::stream_bytes(Side side) const {
  const auto& stream = flow_->halves[Index(side)].stream;
  return stream ? stream->next_offset() : 0;
}
uint64_t FlowView::id() const { return flow_->id; }
FlowView::State* FlowView::state() const { return flow_->slots[slot_].state.get(); }
void FlowView::set_state(std::unique_ptr<State> state) { flow_->slots[slot_].state = std::move(state); }
void FlowView::StopReassembly(Side side) { flow_->slots[slot_].reassemble[Index(side)] = false; }
void FlowView::StopMonitoring(Side side) { flow_->slots[slot_].monitor[Index(side)] = false; }
void FlowView::DropPacket() { flow_->drop_packet = true; }
void FlowView::DropFlow() { flow_->drop_flow = true; }

}  // namespace middlepipe::scheduler::packet

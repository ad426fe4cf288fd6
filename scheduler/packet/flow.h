// A tracked connection as the flow engine keeps it; filters see it only through FlowView.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <vector>

#include "scheduler/packet/packet_chain.h"
#include "scheduler/packet/stream_reassembler.h"

namespace middlepipe::scheduler::packet {

inline size_t Index(Side side) { return static_cast<size_t>(side); }

// One tracked connection.
struct Flow {
  struct Slot {
    std::unique_ptr<FlowView::State> state;
    bool reassemble[2] = {true, true};
    bool monitor[2] = {true, true};
  };
  struct Half {
    TcpState state = TcpState::kUnknown;
    bool syn_seen = false;
    uint32_t isn = 0;
    bool fin_seen = false;
    uint32_t fin_seq = 0;  // sequence number of the FIN itself
    std::unique_ptr<StreamReassembler> stream;
  };

  uint64_t id = 0;
  Endpoint ends[2];  // by Side
  Half halves[2];
  std::shared_ptr<const PacketChain> chain;
  std::vector<Slot> slots;
  bool ended = false;
  bool drop_flow = false;
  bool drop_packet = false;
  int64_t last_seen_ms = 0;
  std::list<Flow*>::iterator recency;
};

}  // namespace middlepipe::scheduler::packet

// Builds IPv4/TCP packets byte for byte, as NFQUEUE would hand them over, for tests of
// the parser, the flow engine and the packet filters.
#pragma once

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "scheduler/packet/packet.h"

namespace middlepipe::scheduler::packet::testing {

// "10.0.0.1", 80 -> Endpoint.
Endpoint At(absl::string_view address, uint16_t port);

struct Segment {
  Endpoint from;
  Endpoint to;
  uint32_t seq = 0;
  uint32_t ack = 0;
  uint8_t flags = tcp_flag::kAck;
  std::string payload;
};
std::string BuildPacket(const Segment& segment);

// Both sides of one connection, keeping each side's next sequence number, so a test
// writes "client sends x" instead of sequence arithmetic. Offsets are stream offsets
// (0 = the first byte after the SYN).
class Conversation {
 public:
  Conversation(Endpoint client, Endpoint server, uint32_t client_isn = 1000,
               uint32_t server_isn = 900000)
      : client_(client), server_(server), isn_{client_isn, server_isn} {}

  std::string Syn() const;
  std::string SynAck() const;
  // A pure ACK from one side of everything the other sent so far.
  std::string Ack(bool from_client) const;
  // Sends `payload` at the side's next offset and advances it.
  std::string Send(bool from_client, absl::string_view payload);
  // Sends `payload` at `offset` without advancing (retransmissions, reordering); the ack
  // field acknowledges everything the other side sent.
  std::string SendAt(bool from_client, uint64_t offset, absl::string_view payload,
                     uint8_t extra_flags = 0) const;
  std::string Fin(bool from_client);
  std::string Rst(bool from_client) const;
  // Moves a side's next offset (after SendAt of bytes sent out of order).
  void Advance(bool from_client, uint64_t bytes) { next_[from_client ? 0 : 1] += bytes; }
  uint32_t SeqAt(bool from_client, uint64_t offset) const {
    return isn_[from_client ? 0 : 1] + 1 + static_cast<uint32_t>(offset);
  }

 private:
  // Everything the other side sent, its FIN included.
  uint32_t AckFor(bool from_client) const {
    const int other = from_client ? 1 : 0;
    return SeqAt(!from_client, next_[other]) + (fin_[other] ? 1 : 0);
  }

  Endpoint client_;
  Endpoint server_;
  uint32_t isn_[2];
  uint64_t next_[2] = {0, 0};
  bool fin_[2] = {false, false};
};

}  // namespace middlepipe::scheduler::packet::testing

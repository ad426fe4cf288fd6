#include "scheduler/packet/test_packets.h"

#include <arpa/inet.h>

namespace middlepipe::scheduler::packet::testing {
namespace {

void Store16(std::string& out, size_t at, uint16_t value) {
  out[at] = static_cast<char>(value >> 8);
  out[at + 1] = static_cast<char>(value & 0xff);
}
void Store32(std::string& out, size_t at, uint32_t value) {
  Store16(out, at, static_cast<uint16_t>(value >> 16));
  Store16(out, at + 2, static_cast<uint16_t>(value & 0xffff));
}

}  // namespace

Endpoint At(absl::string_view address, uint16_t port) {
  in_addr parsed{};
  inet_pton(AF_INET, std::string(address).c_str(), &parsed);
  return {ntohl(parsed.s_addr), port};
}

std::string BuildPacket(const Segment& segment) {
  std::string out(40, '\0');
  out[0] = 0x45;
  Store16(out, 2, static_cast<uint16_t>(40 + segment.payload.size()));
  out[8] = 64;
  out[9] = 6;
  Store32(out, 12, segment.from.address);
  Store32(out, 16, segment.to.address);
  Store16(out, 20, segment.from.port);
  Store16(out, 22, segment.to.port);
  Store32(out, 24, segment.seq);
  Store32(out, 28, segment.ack);
  out[32] = 0x50;
  out[33] = static_cast<char>(segment.flags);
  Store16(out, 34, 65535);
  return out + segment.payload;
}

std::string Conversation::Syn() const {
  return BuildPacket({client_, server_, isn_[0], 0, tcp_flag::kSyn, ""});
}

std::string Conversation::SynAck() const {
  return BuildPacket({server_, client_, isn_[1], isn_[0] + 1, tcp_flag::kSyn | tcp_flag::kAck, ""});
}

std::string Conversation::Ack(bool from_client) const {
  const int side = from_client ? 0 : 1;
  const uint32_t seq = SeqAt(from_client, next_[side]) + (fin_[side] ? 1 : 0);
  return BuildPacket({from_client ? client_ : server_, from_client ? server_ : client_, seq,
                      AckFor(from_client),
                      tcp_flag::kAck, ""});
}

std::string Conversation::Send(bool from_client, absl::string_view payload) {
  std::string packet = SendAt(from_client, next_[from_client ? 0 : 1], payload, tcp_flag::kPsh);
  Advance(from_client, payload.size());
  return packet;
}

std::string Conversation::SendAt(bool from_client, uint64_t offset, absl::string_view payload,
                                 uint8_t extra_flags) const {
  return BuildPacket({from_client ? client_ : server_, from_client ? server_ : client_,
                      SeqAt(from_client, offset), AckFor(from_client),
                      static_cast<uint8_t>(tcp_flag::kAck | extra_flags), std::string(payload)});
}

std::string Conversation::Fin(bool from_client) {
  std::string packet = SendAt(from_client, next_[from_client ? 0 : 1], "", tcp_flag::kFin);
  fin_[from_client ? 0 : 1] = true;
  return packet;
}

std::string Conversation::Rst(bool from_client) const {
  return BuildPacket({from_client ? client_ : server_, from_client ? server_ : client_,
                      SeqAt(from_client, next_[from_client ? 0 : 1]), 0, tcp_flag::kRst, ""});
}

}  // namespace middlepipe::scheduler::packet::testing

// One IPv4/TCP packet as NFQUEUE hands it to the agent (starting at the IP header), parsed
// without trusting any length field: every offset is checked against what was captured,
// so a truncated or hostile packet yields an error, never a read past the buffer.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/ipv4.h"

namespace middlepipe::scheduler::packet {

// An IPv4 address and TCP port, both in host byte order.
struct Endpoint {
  uint32_t address = 0;
  uint16_t port = 0;

  bool operator==(const Endpoint& other) const {
    return address == other.address && port == other.port;
  }
  bool operator!=(const Endpoint& other) const { return !(*this == other); }
  // "10.0.0.1:80"
  std::string ToString() const;
};

std::string AddressToString(uint32_t address);

// IPv4 networks as firewall entries and ids rules write them ("A.B.C.D" = a /32, or
// "A.B.C.D/PREFIX"), parsed by common/ipv4.h, the project's one CIDR parser: OUT_OF_RANGE
// for the prefix, INVALID_ARGUMENT for the address, so each caller can say it in the
// terms of its own syntax.
using ::middlepipe::Ipv4Network;
using ::middlepipe::ParseIpv4Network;

namespace tcp_flag {
constexpr uint8_t kFin = 0x01;
constexpr uint8_t kSyn = 0x02;
constexpr uint8_t kRst = 0x04;
constexpr uint8_t kPsh = 0x08;
constexpr uint8_t kAck = 0x10;
}  // namespace tcp_flag

struct TcpPacket {
  Endpoint source;
  Endpoint destination;
  uint32_t seq = 0;
  uint32_t ack = 0;
  uint8_t flags = 0;
  uint16_t window = 0;
  // The IP packet's length and its TCP payload's length, from the headers.
  uint32_t ip_length = 0;
  uint32_t payload_length = 0;
  // The payload bytes that were captured: all of them, or a prefix when the queue copied
  // less than the whole packet (then payload.size() < payload_length).
  absl::string_view payload;

  bool has(uint8_t flag) const { return (flags & flag) != 0; }
  bool payload_complete() const { return payload.size() == payload_length; }
};

// Parses `captured` (an IPv4 packet, possibly cut short by the queue's copy range, or a
// GSO super-packet). Errors name what is wrong: "not IPv4 (version 6)", "IP header
// length 12 < 20", "TCP data offset 3 < 5", "captured 30 bytes, IP+TCP headers need 40".
absl::StatusOr<TcpPacket> ParseTcpPacket(absl::string_view captured);

}  // namespace middlepipe::scheduler::packet

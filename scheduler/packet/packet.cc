#include "scheduler/packet/packet.h"

#include <arpa/inet.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace middlepipe::scheduler::packet {
namespace {

constexpr uint8_t kProtocolTcp = 6;
constexpr size_t kMinIpHeader = 20;
constexpr size_t kMinTcpHeader = 20;

uint16_t Load16(const unsigned char* at) { return static_cast<uint16_t>(at[0] << 8 | at[1]); }
uint32_t Load32(const unsigned char* at) {
  return static_cast<uint32_t>(at[0]) << 24 | static_cast<uint32_t>(at[1]) << 16 |
         static_cast<uint32_t>(at[2]) << 8 | at[3];
}

}  // namespace

std::string AddressToString(uint32_t address) { return FormatIpv4Address(address); }

std::string Endpoint::ToString() const { return absl::StrCat(AddressToString(address), ":", port); }

absl::StatusOr<TcpPacket> ParseTcpPacket(absl::string_view captured) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(captured.data());
  if (captured.size() < kMinIpHeader) {
    return absl::InvalidArgumentError(
        absl::StrCat("captured ", captured.size(), " bytes, an IPv4 header needs 20"));
  }
  const unsigned version = bytes[0] >> 4;
  if (version != 4) return absl::InvalidArgumentError(absl::StrCat("not IPv4 (version ", version, ")"));
  const size_t ip_header = static_cast<size_t>(bytes[0] & 0x0f) * 4;
  if (ip_header < kMinIpHeader) {
    return absl::InvalidArgumentError(absl::StrCat("IP header length ", ip_header, " < 20"));
  }
  if (bytes[9] != kProtocolTcp) {
    return absl::InvalidArgumentError(absl::StrCat("not TCP (protocol ", bytes[9], ")"));
  }
  // A fragment's TCP header may be elsewhere; the queue sees reassembled packets (conntrack
  // defragments), so a fragment here is hostile or broken.
  const uint16_t fragment = Load16(bytes + 6);
  if ((fragment & 0x3fff) != 0) return absl::InvalidArgumentError("IP fragment");
  uint32_t ip_length = Load16(bytes + 2);
  // A GSO super-packet larger than 64 KiB carries 0 here; then what was captured is it.
  if (ip_length == 0) ip_length = static_cast<uint32_t>(captured.size());
  if (ip_length < ip_header + kMinTcpHeader) {
    return absl::InvalidArgumentError(
        absl::StrCat("IP total length ", ip_length, " < headers ", ip_header + kMinTcpHeader));
  }
  if (captured.size() < ip_header + kMinTcpHeader) {
    return absl::InvalidArgumentError(absl::StrCat("captured ", captured.size(),
                                                   " bytes, IP+TCP headers need ",
                                                   ip_header + kMinTcpHeader));
  }
  const unsigned char* tcp = bytes + ip_header;
  const size_t tcp_header = static_cast<size_t>(tcp[12] >> 4) * 4;
  if (tcp_header < kMinTcpHeader) {
    return absl::InvalidArgumentError(absl::StrCat("TCP data offset ", tcp_header / 4, " < 5"));
  }
  if (ip_header + tcp_header > ip_length) {
    return absl::InvalidArgumentError(absl::StrCat("TCP header (", tcp_header,
                                                   " bytes) runs past the IP total length ",
                                                   ip_length));
  }
  if (ip_header + tcp_header > captured.size()) {
    return absl::InvalidArgumentError(absl::StrCat("captured ", captured.size(),
                                                   " bytes, IP+TCP headers need ",
                                                   ip_header + tcp_header));
  }
  TcpPacket packet;
  packet.source = {Load32(bytes + 12), Load16(tcp)};
  packet.destination = {Load32(bytes + 16), Load16(tcp + 2)};
  packet.seq = Load32(tcp + 4);
  packet.ack = Load32(tcp + 8);
  packet.flags = tcp[13];
  packet.window = Load16(tcp + 14);
  packet.ip_length = ip_length;
  const size_t payload_start = ip_header + tcp_header;
  packet.payload_length = static_cast<uint32_t>(ip_length - payload_start);
  const size_t payload_end = std::min<size_t>(ip_length, captured.size());
  packet.payload = captured.substr(payload_start, payload_end - payload_start);
  return packet;
}

}  // namespace middlepipe::scheduler::packet

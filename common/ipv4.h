// IPv4 addresses and CIDR networks as people write them ("10.0.0.0/8"), for every part
// that reads them: firewall entries and ids rules (scheduler/), the local platform's
// address pool (platform/local). Addresses are in host byte order.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace middlepipe {

// "A.B.C.D"; INVALID_ARGUMENT `"<text>" is not an IPv4 address`.
absl::StatusOr<uint32_t> ParseIpv4Address(absl::string_view text);
// "A.B.C.D".
std::string FormatIpv4Address(uint32_t address);
// The mask of a prefix length 0-32 (0: no bits).
uint32_t Ipv4Mask(int prefix_length);

// An address with a prefix length, as written: the address keeps any host bits, so a
// caller may either drop them (network()) or refuse them.
struct Ipv4Cidr {
  uint32_t address = 0;
  int prefix_length = 32;
  bool prefix_given = false;  // false: "A.B.C.D" alone, taken as a /32

  uint32_t mask() const { return Ipv4Mask(prefix_length); }
  uint32_t network() const { return address & mask(); }
  bool host_bits_set() const { return (address & ~mask()) != 0; }
};

// "A.B.C.D" or "A.B.C.D/PREFIX". The prefix is checked before the address:
// OUT_OF_RANGE "prefix length must be 0-32" (also when it is not a number), else the
// address's INVALID_ARGUMENT; the codes let each caller say it in its own syntax's terms.
absl::StatusOr<Ipv4Cidr> ParseIpv4Cidr(absl::string_view text);

// The addresses whose bits under `mask` equal `network`.
struct Ipv4Network {
  uint32_t network = 0;
  uint32_t mask = 0;  // 0: every address

  bool Contains(uint32_t address) const { return (address & mask) == network; }
};

// ParseIpv4Cidr with its host bits dropped.
absl::StatusOr<Ipv4Network> ParseIpv4Network(absl::string_view text);

}  // namespace middlepipe

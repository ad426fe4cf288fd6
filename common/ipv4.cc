#include "common/ipv4.h"

#include <arpa/inet.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace middlepipe {

absl::StatusOr<uint32_t> ParseIpv4Address(absl::string_view text) {
  in_addr parsed{};
  if (inet_pton(AF_INET, std::string(text).c_str(), &parsed) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("\"", text, "\" is not an IPv4 address"));
  }
  return ntohl(parsed.s_addr);
}

std::string FormatIpv4Address(uint32_t address) {
  return absl::StrCat(address >> 24, ".", (address >> 16) & 0xff, ".", (address >> 8) & 0xff, ".",
                      address & 0xff);
}

uint32_t Ipv4Mask(int prefix_length) {
  return prefix_length <= 0 ? 0 : ~uint32_t{0} << (32 - prefix_length);
}

absl::StatusOr<Ipv4Cidr> ParseIpv4Cidr(absl::string_view text) {
  Ipv4Cidr cidr;
  const size_t slash = text.find('/');
  if (slash != absl::string_view::npos) {
    cidr.prefix_given = true;
    if (!absl::SimpleAtoi(text.substr(slash + 1), &cidr.prefix_length) || cidr.prefix_length < 0 ||
        cidr.prefix_length > 32) {
      return absl::OutOfRangeError("prefix length must be 0-32");
    }
    text = text.substr(0, slash);
  }
  absl::StatusOr<uint32_t> address = ParseIpv4Address(text);
  if (!address.ok()) return address.status();
  cidr.address = *address;
  return cidr;
}

absl::StatusOr<Ipv4Network> ParseIpv4Network(absl::string_view text) {
  absl::StatusOr<Ipv4Cidr> cidr = ParseIpv4Cidr(text);
  if (!cidr.ok()) return cidr.status();
  return Ipv4Network{cidr->network(), cidr->mask()};
}

}  // namespace middlepipe

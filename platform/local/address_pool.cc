#include "platform/local/address_pool.h"

#include <arpa/inet.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace middlepipe::local {
namespace {

absl::StatusOr<uint32_t> ParseAddress(const std::string& text) {
  in_addr parsed{};
  if (inet_pton(AF_INET, text.c_str(), &parsed) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("\"", text, "\" is not an IPv4 address"));
  }
  return ntohl(parsed.s_addr);
}

std::string FormatAddress(uint32_t address) {
  in_addr raw{htonl(address)};
  char text[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &raw, text, sizeof(text));
  return text;
}

uint32_t Mask(int prefix_length) {
  return prefix_length == 0 ? 0 : ~uint32_t{0} << (32 - prefix_length);
}

}  // namespace

absl::StatusOr<AddressPool> AddressPool::Parse(const std::string& cidr) {
  const size_t slash = cidr.find('/');
  int prefix_length = 0;
  if (slash == std::string::npos || !absl::SimpleAtoi(cidr.substr(slash + 1), &prefix_length)) {
    return absl::InvalidArgumentError(
        absl::StrCat("subnet \"", cidr, "\" is not ADDRESS/PREFIX, e.g. 198.18.0.0/16"));
  }
  if (prefix_length < 8 || prefix_length > 30) {
    return absl::InvalidArgumentError(
        absl::StrCat("subnet \"", cidr, "\": the prefix length must be 8 to 30"));
  }
  absl::StatusOr<uint32_t> address = ParseAddress(cidr.substr(0, slash));
  if (!address.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("subnet \"", cidr, "\": ", address.status().message()));
  }
  if ((*address & ~Mask(prefix_length)) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("subnet \"", cidr, "\" has host bits set; the network is ",
                     FormatAddress(*address & Mask(prefix_length)), "/", prefix_length));
  }
  return AddressPool(*address, prefix_length);
}

bool AddressPool::Assignable(uint32_t address) const {
  const uint32_t host = address - network_;
  const uint32_t size = ~Mask(prefix_length_) + uint64_t{1};
  return (address & Mask(prefix_length_)) == network_ && host >= 2 && host < size - 1;
}

absl::StatusOr<std::string> AddressPool::Take() {
  const uint64_t size = uint64_t{~Mask(prefix_length_)} + 1;
  for (uint64_t host = 2; host + 1 < size; ++host) {
    const uint32_t address = network_ + static_cast<uint32_t>(host);
    if (taken_.insert(address).second) return FormatAddress(address);
  }
  return absl::ResourceExhaustedError(absl::StrCat("subnet ", cidr(), " has no free address left"));
}

absl::Status AddressPool::Claim(const std::string& text) {
  absl::StatusOr<uint32_t> address = ParseAddress(text);
  if (!address.ok()) return address.status();
  if (!Assignable(*address)) {
    return absl::InvalidArgumentError(absl::StrCat(text, " is not a host address of ", cidr()));
  }
  if (!taken_.insert(*address).second) {
    return absl::AlreadyExistsError(absl::StrCat(text, " is taken"));
  }
  return absl::OkStatus();
}

void AddressPool::Release(const std::string& text) {
  absl::StatusOr<uint32_t> address = ParseAddress(text);
  if (address.ok()) taken_.erase(*address);
}

std::string AddressPool::cidr() const { return absl::StrCat(FormatAddress(network_), "/", prefix_length_); }

}  // namespace middlepipe::local

#include "platform/local/address_pool.h"

#include "absl/strings/str_cat.h"
#include "common/ipv4.h"

namespace middlepipe::local {
// The pool's syntax is stricter than common/ipv4's: the prefix must be written, 8 to 30
// (room for the fabric's own address and one container), with no host bits.
absl::StatusOr<AddressPool> AddressPool::Parse(const std::string& cidr) {
  if (cidr.find('/') == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("subnet \"", cidr, "\" is not ADDRESS/PREFIX, e.g. 198.18.0.0/16"));
  }
  absl::StatusOr<Ipv4Cidr> parsed = ParseIpv4Cidr(cidr);
  if (absl::IsOutOfRange(parsed.status()) ||
      (parsed.ok() && (parsed->prefix_length < 8 || parsed->prefix_length > 30))) {
    return absl::InvalidArgumentError(
        absl::StrCat("subnet \"", cidr, "\": the prefix length must be 8 to 30"));
  }
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("subnet \"", cidr, "\": ", parsed.status().message()));
  }
  if (parsed->host_bits_set()) {
    return absl::InvalidArgumentError(
        absl::StrCat("subnet \"", cidr, "\" has host bits set; the network is ",
                     FormatIpv4Address(parsed->network()), "/", parsed->prefix_length));
  }
  return AddressPool(parsed->address, parsed->prefix_length);
}

bool AddressPool::Assignable(uint32_t address) const {
  const uint32_t host = address - network_;
  const uint32_t size = ~Ipv4Mask(prefix_length_) + uint64_t{1};
  return (address & Ipv4Mask(prefix_length_)) == network_ && host >= 2 && host < size - 1;
}

absl::StatusOr<std::string> AddressPool::Take() {
  const uint64_t size = uint64_t{~Ipv4Mask(prefix_length_)} + 1;
  for (uint64_t host = 2; host + 1 < size; ++host) {
    const uint32_t address = network_ + static_cast<uint32_t>(host);
    if (taken_.insert(address).second) return FormatIpv4Address(address);
  }
  return absl::ResourceExhaustedError(absl::StrCat("subnet ", cidr(), " has no free address left"));
}

absl::Status AddressPool::Claim(const std::string& text) {
  absl::StatusOr<uint32_t> address = ParseIpv4Address(text);
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
  absl::StatusOr<uint32_t> address = ParseIpv4Address(text);
  if (address.ok()) taken_.erase(*address);
}

std::string AddressPool::cidr() const { return absl::StrCat(FormatIpv4Address(network_), "/", prefix_length_); }

}  // namespace middlepipe::local

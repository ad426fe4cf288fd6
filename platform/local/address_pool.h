// The fabric's IPv4 addresses: a CIDR range from which each container gets one host
// address, the lowest free one, kept until the container goes. The first host address is
// never given out (it is the fabric's own), nor the network or broadcast address.
#pragma once

#include <cstdint>
#include <set>
#include <string>

#include "absl/status/statusor.h"

namespace middlepipe::local {

class AddressPool {
 public:
  // "198.18.0.0/16"; the error names what is wrong with the text. Prefixes longer than
  // /30 leave no addresses to give and are refused.
  static absl::StatusOr<AddressPool> Parse(const std::string& cidr);

  // The lowest free address, now taken; an error when none is left.
  absl::StatusOr<std::string> Take();
  // Takes a given address (one a container had before a restart); an error if it is
  // outside the range, reserved, or taken.
  absl::Status Claim(const std::string& address);
  void Release(const std::string& address);

  int prefix_length() const { return prefix_length_; }
  std::string cidr() const;

 private:
  AddressPool(uint32_t network, int prefix_length) : network_(network), prefix_length_(prefix_length) {}
  bool Assignable(uint32_t address) const;

  uint32_t network_;
  int prefix_length_;
  std::set<uint32_t> taken_;
};

}  // namespace middlepipe::local

// Addresses the processes listen on and dial: "host:port", "[v6]:port" or
// "unix:///absolute/path" (the local platform's way across network namespaces).
#pragma once

#include <cstdint>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"

namespace middlepipe {

struct Address {
  enum class Family { kTcp, kUnix };

  Family family = Family::kTcp;
  std::string host;   // kTcp: name or IP, IPv6 without brackets
  uint16_t port = 0;  // kTcp: 0 lets the kernel choose when listening
  std::string path;   // kUnix: absolute socket path

  // The form gRPC's channel and server builder take ("unix:///p", "h:p", "[v6]:p").
  std::string ToGrpcTarget() const;
  // The form users write, as accepted by ParseAddress.
  std::string ToString() const { return ToGrpcTarget(); }
};

// Parses an address; the error names what is wrong with `text`.
absl::StatusOr<Address> ParseAddress(absl::string_view text);

}  // namespace middlepipe

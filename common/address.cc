#include "common/address.h"

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace middlepipe {
namespace {

constexpr absl::string_view kUnixScheme = "unix://";

absl::Status Invalid(absl::string_view text, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("address \"", text, "\": ", why));
}

}  // namespace

std::string Address::ToGrpcTarget() const {
  if (family == Family::kUnix) return absl::StrCat(kUnixScheme, path);
  if (absl::StrContains(host, ':')) return absl::StrCat("[", host, "]:", port);
  return absl::StrCat(host, ":", port);
}

absl::StatusOr<Address> ParseAddress(absl::string_view text) {
  Address address;
  if (absl::StartsWith(text, "unix:")) {
    address.family = Address::Family::kUnix;
    absl::string_view rest = text.substr(5);
    if (absl::StartsWith(rest, "//")) rest.remove_prefix(2);
    if (rest.empty() || rest[0] != '/') {
      return Invalid(text, "a unix socket address needs an absolute path: unix:///path");
    }
    address.path = std::string(rest);
    return address;
  }

  absl::string_view host;
  absl::string_view port;
  if (absl::StartsWith(text, "[")) {
    size_t close = text.find(']');
    if (close == absl::string_view::npos || close + 1 >= text.size() ||
        text[close + 1] != ':') {
      return Invalid(text, "expected [IPv6]:PORT");
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    size_t colon = text.rfind(':');
    if (colon == absl::string_view::npos) {
      return Invalid(text, "expected HOST:PORT or unix:///PATH");
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (absl::StrContains(host, ':')) {
      return Invalid(text, "an IPv6 host must be in brackets: [HOST]:PORT");
    }
  }
  if (host.empty()) return Invalid(text, "host is empty");
  uint32_t port_number = 0;
  if (!absl::SimpleAtoi(port, &port_number) || port_number > 65535) {
    return Invalid(text, absl::StrCat("port \"", port, "\" is not a number 0-65535"));
  }
  address.host = std::string(host);
  address.port = static_cast<uint16_t>(port_number);
  return address;
}

}  // namespace middlepipe

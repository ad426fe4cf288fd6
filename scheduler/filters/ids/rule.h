// The Snort rule subset the ids kind reads (DESIGN.md §7):
//
//   ACTION tcp SRC SRC_PORT DIRECTION DST DST_PORT (OPTION; OPTION; ...)
//
//   ACTION     alert | drop
//   SRC, DST   any | A.B.C.D | A.B.C.D/PREFIX
//   *_PORT     any | N | N:M | N: | :M
//   DIRECTION  ->  (from SRC to DST)  |  <>  (either way)
//   OPTION     msg:"text"; content:"bytes"; nocase; sid:N; rev:N;
//
// content may hold |41 42 0d 0a| hex bytes, as in Snort; nocase applies to the content
// before it; a rule may have several contents, which must all appear, in that order,
// without overlapping, in one side's reassembled stream. Errors name the part that is
// wrong, e.g. "option 3 (conten): unsupported option".
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "scheduler/packet/packet.h"

namespace middlepipe::scheduler::ids {

struct AddressMatch {
  packet::Ipv4Network addresses;  // "any": every address
  uint16_t low_port = 0;
  uint16_t high_port = 65535;

  bool Matches(const packet::Endpoint& endpoint) const {
    return addresses.Contains(endpoint.address) && endpoint.port >= low_port &&
           endpoint.port <= high_port;
  }
};

struct Content {
  std::string bytes;
  bool nocase = false;
};

struct Rule {
  enum class Action { kAlert, kDrop };
  Action action = Action::kAlert;
  AddressMatch source;
  AddressMatch destination;
  bool bidirectional = false;
  std::string message;
  std::vector<Content> contents;
  uint32_t sid = 0;

  // Whether bytes sent from `from` to `to` are this rule's to look at.
  bool Applies(const packet::Endpoint& from, const packet::Endpoint& to) const {
    return (source.Matches(from) && destination.Matches(to)) ||
           (bidirectional && source.Matches(to) && destination.Matches(from));
  }
};

absl::StatusOr<Rule> ParseRule(const std::string& text);

// Every rule of a config's "rules" list, for the kind's check and the filter alike; the
// error names the first bad one: "rules[1]: missing sid".
absl::StatusOr<std::vector<Rule>> ParseRules(const nlohmann::json& rules);

}  // namespace middlepipe::scheduler::ids

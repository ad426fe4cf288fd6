#include "scheduler/filters/ids/rule.h"

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace middlepipe::scheduler::ids {
namespace {

absl::Status Bad(absl::string_view part, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(part, ": ", why));
}

absl::Status ParseAddress(absl::string_view text, absl::string_view part, AddressMatch& match) {
  if (text == "any") return absl::OkStatus();
  if (absl::StartsWith(text, "$")) {
    return Bad(part, absl::StrCat("variables (", text, ") are not supported; use an address or any"));
  }
  if (absl::StartsWith(text, "!") || absl::StartsWith(text, "[")) {
    return Bad(part, absl::StrCat("negations and lists (", text, ") are not supported"));
  }
  absl::StatusOr<packet::Ipv4Network> network = packet::ParseIpv4Network(text);
  if (!network.ok()) {
    return Bad(part, absl::IsOutOfRange(network.status())
                         ? absl::StrCat("prefix length of ", text, " must be 0-32")
                         : absl::StrCat(text, " is not any, an IPv4 address or A.B.C.D/PREFIX"));
  }
  match.addresses = *network;
  return absl::OkStatus();
}

absl::Status ParsePorts(absl::string_view text, absl::string_view part, AddressMatch& match) {
  if (text == "any") return absl::OkStatus();
  auto port = [&](absl::string_view digits, uint16_t fallback, uint16_t& out) -> bool {
    if (digits.empty()) {
      out = fallback;
      return true;
    }
    int value = 0;
    if (!absl::SimpleAtoi(digits, &value) || value < 0 || value > 65535) return false;
    out = static_cast<uint16_t>(value);
    return true;
  };
  const size_t colon = text.find(':');
  const bool ok = colon == absl::string_view::npos
                      ? !text.empty() && port(text, 0, match.low_port) &&
                            port(text, 0, match.high_port)
                      : port(text.substr(0, colon), 0, match.low_port) &&
                            port(text.substr(colon + 1), 65535, match.high_port) && text != ":";
  if (!ok || match.low_port > match.high_port) {
    return Bad(part, absl::StrCat(text, " is not any, N, N:M, N: or :M (ports 0-65535)"));
  }
  return absl::OkStatus();
}

// A quoted option value: "..." with \" \\ \; escapes.
absl::StatusOr<std::string> Unquote(absl::string_view value, absl::string_view part) {
  value = absl::StripAsciiWhitespace(value);
  if (value.size() < 2 || value.front() != '"' || value.back() != '"') {
    return Bad(part, "value must be in double quotes");
  }
  value = value.substr(1, value.size() - 2);
  std::string out;
  for (size_t i = 0; i < value.size(); ++i) {
    if (value[i] == '\\' && i + 1 < value.size()) {
      out.push_back(value[++i]);
    } else if (value[i] == '"') {
      return Bad(part, "unescaped \" inside the value");
    } else {
      out.push_back(value[i]);
    }
  }
  return out;
}

// Content bytes: text with |hex hex ...| runs.
absl::StatusOr<std::string> ContentBytes(absl::string_view text, absl::string_view part) {
  std::string out;
  bool hex = false;
  std::string digits;
  for (char c : text) {
    if (c == '|') {
      if (hex && !digits.empty()) return Bad(part, "odd number of hex digits between | |");
      hex = !hex;
      continue;
    }
    if (!hex) {
      out.push_back(c);
      continue;
    }
    if (c == ' ') continue;
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) {
      return Bad(part, absl::StrCat("'", std::string(1, c), "' is not a hex digit between | |"));
    }
    digits.push_back(c);
    if (digits.size() == 2) {
      out.push_back(static_cast<char>(std::stoi(digits, nullptr, 16)));
      digits.clear();
    }
  }
  if (hex) return Bad(part, "unterminated |hex| run");
  if (out.empty()) return Bad(part, "empty content");
  return out;
}

// Splits the option list at ';' outside quotes.
std::vector<std::string> SplitOptions(absl::string_view text) {
  std::vector<std::string> options;
  std::string current;
  bool quoted = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\\' && quoted && i + 1 < text.size()) {
      current.push_back(c);
      current.push_back(text[++i]);
      continue;
    }
    if (c == '"') quoted = !quoted;
    if (c == ';' && !quoted) {
      options.push_back(current);
      current.clear();
      continue;
    }
    current.push_back(c);
  }
  if (!absl::StripAsciiWhitespace(current).empty()) options.push_back(current);
  return options;
}

}  // namespace

absl::StatusOr<Rule> ParseRule(const std::string& text) {
  const size_t open = text.find('(');
  const size_t close = text.rfind(')');
  if (open == std::string::npos || close == std::string::npos || close < open) {
    return absl::InvalidArgumentError("expected a header and (options) in parentheses");
  }
  if (!absl::StripAsciiWhitespace(absl::string_view(text).substr(close + 1)).empty()) {
    return absl::InvalidArgumentError("text after the closing parenthesis");
  }
  std::vector<std::string> header = absl::StrSplit(absl::string_view(text).substr(0, open), ' ',
                                                   absl::SkipWhitespace());
  if (header.size() != 7) {
    return absl::InvalidArgumentError(absl::StrCat(
        "header has ", header.size(),
        " parts; expected ACTION tcp SRC SRC_PORT -> DST DST_PORT"));
  }
  Rule rule;
  if (header[0] == "alert") {
    rule.action = Rule::Action::kAlert;
  } else if (header[0] == "drop") {
    rule.action = Rule::Action::kDrop;
  } else {
    return Bad("action", absl::StrCat(header[0], " is not alert or drop"));
  }
  if (header[1] != "tcp") return Bad("protocol", absl::StrCat("only tcp is supported, not ", header[1]));
  if (absl::Status s = ParseAddress(header[2], "source", rule.source); !s.ok()) return s;
  if (absl::Status s = ParsePorts(header[3], "source port", rule.source); !s.ok()) return s;
  if (header[4] == "<>") {
    rule.bidirectional = true;
  } else if (header[4] != "->") {
    return Bad("direction", absl::StrCat(header[4], " is not -> or <>"));
  }
  if (absl::Status s = ParseAddress(header[5], "destination", rule.destination); !s.ok()) return s;
  if (absl::Status s = ParsePorts(header[6], "destination port", rule.destination); !s.ok()) return s;

  bool has_sid = false;
  const std::vector<std::string> options =
      SplitOptions(absl::string_view(text).substr(open + 1, close - open - 1));
  for (size_t i = 0; i < options.size(); ++i) {
    absl::string_view option = absl::StripAsciiWhitespace(options[i]);
    const size_t colon = option.find(':');
    const std::string name(absl::StripAsciiWhitespace(option.substr(0, colon)));
    const absl::string_view value =
        colon == absl::string_view::npos ? absl::string_view() : option.substr(colon + 1);
    const std::string part = absl::StrCat("option ", i + 1, " (", name, ")");
    if (name == "msg") {
      absl::StatusOr<std::string> message = Unquote(value, part);
      if (!message.ok()) return message.status();
      rule.message = *message;
    } else if (name == "content") {
      absl::StatusOr<std::string> quoted = Unquote(value, part);
      if (!quoted.ok()) return quoted.status();
      absl::StatusOr<std::string> bytes = ContentBytes(*quoted, part);
      if (!bytes.ok()) return bytes.status();
      rule.contents.push_back({*bytes, false});
    } else if (name == "nocase") {
      if (rule.contents.empty()) return Bad(part, "nocase must follow a content");
      rule.contents.back().nocase = true;
    } else if (name == "sid" || name == "rev") {
      uint32_t number = 0;
      if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(value), &number)) {
        return Bad(part, "must be a number");
      }
      if (name == "sid") {
        rule.sid = number;
        has_sid = true;
      }
    } else {
      return Bad(part, "unsupported option (msg, content, nocase, sid and rev are)");
    }
  }
  if (rule.contents.empty()) return absl::InvalidArgumentError("needs at least one content");
  if (!has_sid) return absl::InvalidArgumentError("missing sid");
  return rule;
}

absl::StatusOr<std::vector<Rule>> ParseRules(const nlohmann::json& rules) {
  if (!rules.is_array()) return absl::InvalidArgumentError("rules: not a list");
  std::vector<Rule> parsed;
  for (size_t i = 0; i < rules.size(); ++i) {
    absl::StatusOr<Rule> rule = rules[i].is_string() ? ParseRule(rules[i].get<std::string>())
                                                     : absl::InvalidArgumentError("not a string");
    if (!rule.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("rules[", i, "]: ", rule.status().message()));
    }
    parsed.push_back(*std::move(rule));
  }
  return parsed;
}

}  // namespace middlepipe::scheduler::ids

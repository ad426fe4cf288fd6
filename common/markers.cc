#include "common/markers.h"

#include <cstdlib>

namespace middlepipe::markers {
namespace {

const char* NonEmptyEnv(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : nullptr;
}

char AsciiLower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

// The whitespace absl::StripAsciiWhitespace drops, which the hook parser used before.
bool AsciiSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

std::string_view Strip(std::string_view text) {
  while (!text.empty() && AsciiSpace(text.front())) text.remove_prefix(1);
  while (!text.empty() && AsciiSpace(text.back())) text.remove_suffix(1);
  return text;
}

}  // namespace

std::string AgentSocketPath(std::string_view explicit_path) {
  if (!explicit_path.empty()) return std::string(explicit_path);
  if (const char* from_env = NonEmptyEnv(kAgentSocketEnv)) return from_env;
  return kDefaultAgentSocket;
}

std::string AgentSegmentPath(std::string_view explicit_path, std::string_view socket_path) {
  if (!explicit_path.empty()) return std::string(explicit_path);
  if (const char* from_env = NonEmptyEnv(kAgentSegmentEnv)) return from_env;
  return std::string(socket_path) + kSegmentSuffix;
}

bool HeaderNameEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (AsciiLower(a[i]) != AsciiLower(b[i])) return false;
  }
  return true;
}

std::string FormatCallbackMarker(std::string_view kind, std::string_view middlepipe,
                                 std::string_view event, std::string_view detail) {
  std::string value;
  value.append(kind).append("; name=\"").append(middlepipe).append("\"; event=").append(event);
  if (!detail.empty()) value.append("; detail=\"").append(detail).append("\"");
  return value;
}

std::optional<CallbackEvent> ParseCallbackMarker(std::string_view value) {
  CallbackEvent event;
  size_t at = value.find(';');
  event.kind = std::string(Strip(value.substr(0, at)));
  while (at != std::string_view::npos && at < value.size()) {
    const size_t key_start = value.find_first_not_of("; ", at);
    if (key_start == std::string_view::npos) break;
    const size_t equals = value.find('=', key_start);
    if (equals == std::string_view::npos) return std::nullopt;
    const std::string_view key = value.substr(key_start, equals - key_start);
    std::string_view parameter;
    if (equals + 1 < value.size() && value[equals + 1] == '"') {
      const size_t close = value.find('"', equals + 2);
      if (close == std::string_view::npos) return std::nullopt;
      parameter = value.substr(equals + 2, close - equals - 2);
      at = value.find(';', close);
    } else {
      at = value.find(';', equals);
      parameter = Strip(value.substr(equals + 1, at - equals - 1));
    }
    if (key == "name") event.middlepipe = std::string(parameter);
    if (key == "event") event.event = std::string(parameter);
    if (key == "detail") event.detail = std::string(parameter);
  }
  if (event.kind.empty() || event.event.empty()) return std::nullopt;
  return event;
}

}  // namespace middlepipe::markers

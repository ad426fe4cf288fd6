// The marker and path protocol between the agent, its filters and the apps' hooks
// (DESIGN.md §5): the header names filters add and hooks read, the callback marker's
// syntax, where an app finds its agent, and how header names compare. Every side includes
// this one header, so a name is spelled once.
//
// Only the C++ standard library: the client core's shared library (libmiddlepipe_client.so)
// uses it and must stay free of other dependencies.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace middlepipe::markers {

// Response headers added to what the app sees.
// `<kind>; name="<middlepipe>"; event=<event>[; detail="<text>"]`, one per callback.
inline constexpr char kCallbackHeader[] = "Middlepipe-Callback";
// `<middlepipe>`: the response was made by a filter, not the service.
inline constexpr char kShortCircuitHeader[] = "Middlepipe-Short-Circuit";
// `<n>`: the chain epoch that processed the request.
inline constexpr char kEpochHeader[] = "Middlepipe-Epoch";
// `<n>`: how many attempts a retry middlepipe made (when > 1).
inline constexpr char kAttemptsHeader[] = "Middlepipe-Attempts";
// Request header set by the hook: `<unix ms>`, the call's absolute deadline.
inline constexpr char kDeadlineHeader[] = "Middlepipe-Deadline";

// Where an app finds its agent: the hook socket, and the fast-path segment next to it.
inline constexpr char kAgentSocketEnv[] = "MP_AGENT_SOCKET";
inline constexpr char kAgentSegmentEnv[] = "MP_AGENT_SHM";
inline constexpr char kDefaultAgentSocket[] = "/run/middlepipe/agent.sock";
// The segment's default path is the socket's with this appended.
inline constexpr char kSegmentSuffix[] = ".shm";

// `explicit_path` if given, else $MP_AGENT_SOCKET if set and not empty, else the default.
std::string AgentSocketPath(std::string_view explicit_path = {});
// `explicit_path` if given, else $MP_AGENT_SHM if set and not empty, else `socket_path` +
// ".shm" (where the agent serving that socket puts its segment).
std::string AgentSegmentPath(std::string_view explicit_path, std::string_view socket_path);

// HTTP header names compare case-insensitively (ASCII only, as RFC 9110 names are).
bool HeaderNameEquals(std::string_view a, std::string_view b);

// One `Middlepipe-Callback` marker.
struct CallbackEvent {
  std::string kind;        // e.g. "circuit-breaker"
  std::string middlepipe;  // e.g. "orders-breaker"
  std::string event;       // e.g. "open", "half-open", "closed", "limited"
  std::string detail;      // e.g. "50% of 20 calls failed (threshold 50%)"
};

// The value of a `Middlepipe-Callback` header; `detail` is left out when empty.
std::string FormatCallbackMarker(std::string_view kind, std::string_view middlepipe,
                                 std::string_view event, std::string_view detail = {});
// Parses a `Middlepipe-Callback` value; nullopt if it is not one (no kind or no event, an
// unterminated quote, a parameter without '='). Quoted values may hold ';'.
std::optional<CallbackEvent> ParseCallbackMarker(std::string_view value);

}  // namespace middlepipe::markers

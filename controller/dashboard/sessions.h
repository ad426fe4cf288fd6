// Dashboard sign-ins: a bearer token is posted once to /login and exchanged for a random
// session id, which the browser keeps in an HttpOnly, SameSite=Strict cookie. The token
// itself is never in a URL, a page or a log line; a session expires after its lifetime
// and the table holds a bounded number (the oldest go first).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "absl/status/statusor.h"

namespace middlepipe::controller {

class SessionTable {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;

  static constexpr std::chrono::hours kLifetime{12};
  static constexpr size_t kMaxSessions = 10'000;

  explicit SessionTable(Clock clock = [] { return std::chrono::steady_clock::now(); })
      : clock_(std::move(clock)) {}

  // A new session for `user`; its id is 32 random bytes, hex-encoded.
  absl::StatusOr<std::string> Open(const std::string& user);
  // The user of a live session; nullopt for an unknown or expired id.
  std::optional<std::string> UserFor(const std::string& session_id);
  void Close(const std::string& session_id);

 private:
  struct Session {
    std::string user;
    std::chrono::steady_clock::time_point expires;
  };
  const Clock clock_;
  std::mutex mu_;
  std::map<std::string, Session> sessions_;
};

// The value of cookie `name` in a Cookie header ("a=1; b=2"), or "".
std::string CookieValue(const std::string& cookie_header, const std::string& name);

// The value of field `name` in an application/x-www-form-urlencoded body, decoded, or "".
std::string FormValue(const std::string& body, const std::string& name);

}  // namespace middlepipe::controller

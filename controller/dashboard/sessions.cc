#include "controller/dashboard/sessions.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "controller/tokens.h"

namespace middlepipe::controller {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = absl::ascii_tolower(static_cast<unsigned char>(c));
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// Percent-decoding with '+' as space (HTML forms); a malformed escape is kept as is.
std::string FormDecode(absl::string_view text) {
  std::string decoded;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '+') {
      decoded += ' ';
    } else if (text[i] == '%' && i + 2 < text.size() &&
               HexValue(text[i + 1]) >= 0 && HexValue(text[i + 2]) >= 0) {
      decoded += static_cast<char>(HexValue(text[i + 1]) * 16 + HexValue(text[i + 2]));
      i += 2;
    } else {
      decoded += text[i];
    }
  }
  return decoded;
}

}  // namespace

absl::StatusOr<std::string> SessionTable::Open(const std::string& user) {
  absl::StatusOr<std::string> id = NewRandomToken();
  if (!id.ok()) return id.status();
  std::lock_guard<std::mutex> lock(mu_);
  const auto now = clock_();
  for (auto it = sessions_.begin(); it != sessions_.end();) {
    it = it->second.expires <= now ? sessions_.erase(it) : std::next(it);
  }
  while (sessions_.size() >= kMaxSessions) {
    auto oldest = sessions_.begin();
    for (auto it = sessions_.begin(); it != sessions_.end(); ++it) {
      if (it->second.expires < oldest->second.expires) oldest = it;
    }
    sessions_.erase(oldest);
  }
  sessions_[*id] = Session{user, now + kLifetime};
  return id;
}

std::optional<std::string> SessionTable::UserFor(const std::string& session_id) {
  if (session_id.empty()) return std::nullopt;
  std::lock_guard<std::mutex> lock(mu_);
  auto found = sessions_.find(session_id);
  if (found == sessions_.end()) return std::nullopt;
  if (found->second.expires <= clock_()) {
    sessions_.erase(found);
    return std::nullopt;
  }
  return found->second.user;
}

void SessionTable::Close(const std::string& session_id) {
  std::lock_guard<std::mutex> lock(mu_);
  sessions_.erase(session_id);
}

std::string CookieValue(const std::string& cookie_header, const std::string& name) {
  for (absl::string_view pair : absl::StrSplit(cookie_header, ';')) {
    pair = absl::StripAsciiWhitespace(pair);
    if (absl::ConsumePrefix(&pair, name) && absl::ConsumePrefix(&pair, "=")) {
      return std::string(pair);
    }
  }
  return "";
}

std::string FormValue(const std::string& body, const std::string& name) {
  for (absl::string_view field : absl::StrSplit(body, '&')) {
    std::pair<absl::string_view, absl::string_view> parts = absl::StrSplit(field, absl::MaxSplits('=', 1));
    if (FormDecode(parts.first) == name) return FormDecode(parts.second);
  }
  return "";
}

}  // namespace middlepipe::controller

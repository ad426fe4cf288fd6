#include "controller/tokens.h"

#include <sys/random.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/files.h"
#include "common/names.h"

namespace middlepipe::controller {
namespace {

constexpr char kAdminUser[] = "admin";
constexpr char kAdminTokenFile[] = "admin-token";

bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char difference = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    difference |= static_cast<unsigned char>(a[i] ^ b[i]);
  }
  return difference == 0;
}

}  // namespace

absl::StatusOr<TokenTable> TokenTable::Parse(absl::string_view text, absl::string_view source) {
  TokenTable table;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    auto error = [&](absl::string_view what) {
      return absl::InvalidArgumentError(absl::StrCat(source, ":", line_number, ": ", what));
    };
    std::vector<absl::string_view> fields =
        absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (fields.size() != 2) return error("expected USER TOKEN");
    absl::Status name = ValidateName("user", fields[0]);
    if (!name.ok()) return error(name.message());
    if (fields[1].size() < kMinTokenLength) {
      return error(absl::StrCat("token of user \"", fields[0], "\" is shorter than ",
                                kMinTokenLength, " characters"));
    }
    for (const Entry& entry : table.entries_) {
      if (entry.token == fields[1] && entry.user != fields[0]) {
        return error(absl::StrCat("token of user \"", fields[0],
                                  "\" is already the token of user \"", entry.user, "\""));
      }
    }
    table.entries_.push_back(Entry{std::string(fields[0]), std::string(fields[1])});
  }
  if (table.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": no USER TOKEN lines"));
  }
  return table;
}

std::optional<std::string> TokenTable::UserFor(absl::string_view token) const {
  std::optional<std::string> user;
  // Look at every entry whatever matches, so timing does not tell how many tokens exist
  // before the matching one.
  for (const Entry& entry : entries_) {
    if (ConstantTimeEquals(entry.token, token) && !user.has_value()) user = entry.user;
  }
  return user;
}

std::vector<std::string> TokenTable::Users() const {
  std::set<std::string> users;
  for (const Entry& entry : entries_) users.insert(entry.user);
  return std::vector<std::string>(users.begin(), users.end());
}

absl::StatusOr<std::string> NewRandomToken() {
  unsigned char bytes[32];
  size_t filled = 0;
  while (filled < sizeof(bytes)) {
    ssize_t n = getrandom(bytes + filled, sizeof(bytes) - filled, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::ErrnoToStatus(errno, "getrandom");
    }
    filled += static_cast<size_t>(n);
  }
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(bytes), sizeof(bytes)));
}

absl::StatusOr<TokenTable> LoadTokens(const std::optional<std::string>& tokens_file,
                                      const std::string& data_dir) {
  if (tokens_file.has_value()) {
    absl::StatusOr<std::string> text = ReadFile(*tokens_file);
    if (!text.ok()) return text.status();
    return TokenTable::Parse(*text, *tokens_file);
  }
  const std::string path = absl::StrCat(data_dir, "/", kAdminTokenFile);
  absl::StatusOr<std::string> token = ReadFile(path);
  if (!token.ok() && absl::IsNotFound(token.status())) {
    token = NewRandomToken();
    if (!token.ok()) return token.status();
    absl::Status written = WriteFileAtomically(path, absl::StrCat(*token, "\n"), 0600);
    if (!written.ok()) return written;
  }
  if (!token.ok()) return token.status();
  return TokenTable::Parse(absl::StrCat(kAdminUser, " ", absl::StripAsciiWhitespace(*token)),
                           path);
}

}  // namespace middlepipe::controller

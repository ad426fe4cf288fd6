// Bearer tokens and the users they belong to.
//
// The tokens file (`mp-controller --tokens FILE`) has one `USER TOKEN` pair a line;
// blank lines and lines starting with '#' are ignored. A user may have several tokens
// (rotation); a token belongs to one user. Without a tokens file the controller has one
// user, `admin`, whose token it creates on first start in DATA_DIR/admin-token (0600)
// and reads from there on every later start.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace middlepipe::controller {

// Shortest token accepted, so a guessable token is refused at start, not found out later.
inline constexpr size_t kMinTokenLength = 16;

class TokenTable {
 public:
  // Parses a tokens file's text; `source` (the file name) prefixes every error, with the
  // line number: "tokens.txt:3: user \"Bob\": ...".
  static absl::StatusOr<TokenTable> Parse(absl::string_view text, absl::string_view source);

  // The user `token` belongs to, if any. Compares in time independent of where the
  // token differs.
  std::optional<std::string> UserFor(absl::string_view token) const;

  // Distinct users, sorted.
  std::vector<std::string> Users() const;

  bool empty() const { return entries_.empty(); }

 private:
  struct Entry {
    std::string user;
    std::string token;
  };
  std::vector<Entry> entries_;
};

// The table the controller serves with: from `tokens_file` when given; otherwise the
// `admin` user with the token in `data_dir`/admin-token, created if missing.
absl::StatusOr<TokenTable> LoadTokens(const std::optional<std::string>& tokens_file,
                                      const std::string& data_dir);

// A new random token: 32 bytes from the kernel's CSPRNG, hex-encoded.
absl::StatusOr<std::string> NewRandomToken();

}  // namespace middlepipe::controller

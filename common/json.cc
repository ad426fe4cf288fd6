#include "common/json.h"

#include "absl/strings/str_cat.h"

namespace middlepipe {

absl::Status CheckJsonDepth(absl::string_view text, absl::string_view what, int max_depth) {
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) {
        return absl::InvalidArgumentError(absl::StrCat(what, " nests deeper than ", max_depth,
                                                       " levels (at byte ", i, ")"));
      }
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<nlohmann::json> ParseJson(absl::string_view text, absl::string_view what,
                                         int max_depth) {
  if (absl::Status deep = CheckJsonDepth(text, what, max_depth); !deep.ok()) return deep;
  try {
    return nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::exception& error) {
    // parse_error for syntax, out_of_range for a number past a double (1e999): both are
    // the text's fault, neither may escape to the caller.
    // error.what() reads "[json.exception.parse_error.101] parse error at line 1, column
    // 2: syntax error …"; the part after the bracket is what a user can act on.
    std::string reason = error.what();
    if (size_t bracket = reason.find("] "); bracket != std::string::npos) {
      reason = reason.substr(bracket + 2);
    }
    return absl::InvalidArgumentError(absl::StrCat(what, " is not valid JSON: ", reason));
  }
}

}  // namespace middlepipe

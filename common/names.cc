#include "common/names.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace middlepipe {
namespace {

bool AllowedCharacter(char c) {
  return absl::ascii_islower(static_cast<unsigned char>(c)) ||
         absl::ascii_isdigit(static_cast<unsigned char>(c)) || c == '-';
}

}  // namespace

absl::Status ValidateName(absl::string_view what, absl::string_view name) {
  auto invalid = [&](absl::string_view rule) {
    return absl::InvalidArgumentError(absl::StrCat(what, " \"", name, "\": ", rule));
  };
  if (name.empty()) return absl::InvalidArgumentError(absl::StrCat(what, " is empty"));
  if (name.size() > kMaxNameLength) {
    return invalid(absl::StrCat("longer than ", kMaxNameLength, " characters"));
  }
  for (char c : name) {
    if (!AllowedCharacter(c)) {
      return invalid("may only contain lowercase letters, digits and '-'");
    }
  }
  if (name.front() == '-') return invalid("must start with a lowercase letter or a digit");
  if (name.back() == '-') return invalid("must not end with '-'");
  return absl::OkStatus();
}

}  // namespace middlepipe

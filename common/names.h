// The one naming rule for everything a user names: users, middlepipes, apps, services.
//
// A name is 1-63 characters of lowercase letters, digits and '-', neither starting nor
// ending with '-' (an RFC 1123 DNS label, so names fit in host names, metric labels and
// Cloud Foundry service names unchanged, and a platform's lowercase GUIDs, which the
// service broker uses for organizations and apps, are names too).
#pragma once

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace middlepipe {

inline constexpr size_t kMaxNameLength = 63;

// OK, or INVALID_ARGUMENT naming `what` (e.g. "middlepipe name") and the broken rule.
absl::Status ValidateName(absl::string_view what, absl::string_view name);

}  // namespace middlepipe

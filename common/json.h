// JSON from outside the process (broker bodies, middlepipe configs, state values),
// parsed with its nesting bounded first. nlohmann's parser is iterative, but what
// consumes a document afterwards (schema validation, protobuf's JSON mapping, dump()) is
// recursive: a body of 100,000 nested arrays overflowed the controller's stack. The
// bound is checked on the raw text, before any parsing work is spent on it.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace middlepipe {

// Deeper than any configuration or broker body needs (they nest a handful of levels).
inline constexpr int kMaxJsonDepth = 64;

// OK when no array or object in `text` nests deeper than `max_depth`; otherwise an
// InvalidArgument error naming `what`, the bound and the byte where it was passed.
// Brackets inside strings do not count. Does not check that `text` is JSON.
absl::Status CheckJsonDepth(absl::string_view text, absl::string_view what,
                            int max_depth = kMaxJsonDepth);

// Parses `text` after CheckJsonDepth; the error names `what` and, for text that is not
// JSON, the byte and the parser's reason.
absl::StatusOr<nlohmann::json> ParseJson(absl::string_view text, absl::string_view what,
                                         int max_depth = kMaxJsonDepth);

}  // namespace middlepipe

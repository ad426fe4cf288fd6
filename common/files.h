// Whole-file reads and crash-safe writes.
#pragma once

#include <string>
#include "absl/strings/string_view.h"

#include <sys/types.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace middlepipe {

// The file's contents; the error names the path and the system's reason.
absl::StatusOr<std::string> ReadFile(const std::string& path);

// Replaces `path` with `contents` so that a crash at any moment leaves either the old or
// the new file, never a partial one: writes a temporary file in the same directory with
// `mode`, fsyncs it, renames it over `path`, fsyncs the directory.
absl::Status WriteFileAtomically(const std::string& path, absl::string_view contents,
                                 mode_t mode);

// The last `lines` lines of a text file (a log), without the final newline; empty if the
// file is missing or empty. For error messages that show what a child process said.
std::string LastLines(const std::string& path, size_t lines);

// Creates `path` and its missing parents with `mode` (like `mkdir -p`).
absl::Status MakeDirectories(const std::string& path, mode_t mode);

}  // namespace middlepipe

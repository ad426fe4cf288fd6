// One line per event on a stream (stderr in the binaries):
//
//   2026-11-22T04:31:07.123Z mp-controller INFO grpc listening on 127.0.0.1:7400
//
// A Logger is made in main() and passed to the components that log; there is no global
// logger. Log calls from many threads never interleave within a line.
#pragma once

#include <functional>
#include <mutex>
#include <ostream>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/strings/str_cat.h"

namespace middlepipe {

enum class Severity { kInfo, kWarning, kError };

class Logger {
 public:
  // The clock gives the time to stamp each line with (Unix milliseconds); tests pass a
  // fixed one.
  using Clock = std::function<int64_t()>;

  Logger(std::string component, std::ostream* out);
  Logger(std::string component, std::ostream* out, Clock clock);

  Logger(const Logger&) = delete;
  Logger& operator=(const Logger&) = delete;

  template <typename... Parts>
  void Info(const Parts&... parts) {
    Write(Severity::kInfo, absl::StrCat(parts...));
  }
  template <typename... Parts>
  void Warning(const Parts&... parts) {
    Write(Severity::kWarning, absl::StrCat(parts...));
  }
  template <typename... Parts>
  void Error(const Parts&... parts) {
    Write(Severity::kError, absl::StrCat(parts...));
  }

  void Write(Severity severity, absl::string_view message);

 private:
  const std::string component_;
  std::ostream* const out_;
  const Clock clock_;
  std::mutex mu_;  // keeps each line whole
};

// Formats Unix milliseconds as RFC 3339 UTC with milliseconds, e.g.
// "2026-11-22T04:31:07.123Z".
std::string FormatUnixMillis(int64_t unix_ms);

// Wall-clock Unix time in milliseconds.
int64_t NowUnixMillis();

}  // namespace middlepipe

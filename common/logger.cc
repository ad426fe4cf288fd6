#include "common/logger.h"

#include <chrono>
#include <ctime>

#include "absl/strings/str_format.h"

namespace middlepipe {
namespace {

absl::string_view SeverityName(Severity severity) {
  switch (severity) {
    case Severity::kInfo:
      return "INFO";
    case Severity::kWarning:
      return "WARNING";
    case Severity::kError:
      return "ERROR";
  }
  return "?";
}

// A message must stay on one line, or log readers split one event in two.
std::string OneLine(absl::string_view message) {
  std::string line(message);
  for (char& c : line) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return line;
}

}  // namespace

Logger::Logger(std::string component, std::ostream* out)
    : Logger(std::move(component), out, NowUnixMillis) {}

Logger::Logger(std::string component, std::ostream* out, Clock clock)
    : component_(std::move(component)), out_(out), clock_(std::move(clock)) {}

void Logger::Write(Severity severity, absl::string_view message) {
  std::string line = absl::StrCat(FormatUnixMillis(clock_()), " ", component_, " ",
                                  SeverityName(severity), " ", OneLine(message), "\n");
  std::lock_guard<std::mutex> lock(mu_);
  *out_ << line << std::flush;
}

std::string FormatUnixMillis(int64_t unix_ms) {
  std::time_t seconds = static_cast<std::time_t>(unix_ms / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  return absl::StrFormat("%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900,
                         utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                         static_cast<int>(unix_ms % 1000));
}

int64_t NowUnixMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace middlepipe

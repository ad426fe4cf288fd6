#include "cli/cli_config.h"

#include <cerrno>
#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/files.h"

namespace middlepipe::cli {

std::string CliConfigPath() {
  if (const char* path = std::getenv("MP_CONFIG"); path != nullptr && *path != '\0') return path;
  const char* home = std::getenv("HOME");
  return absl::StrCat(home != nullptr ? home : "", "/.config/middlepipe/cli.conf");
}

absl::StatusOr<CliConfig> LoadCliConfig(const std::string& path) {
  CliConfig config;
  absl::StatusOr<std::string> text = ReadFile(path);
  if (absl::IsNotFound(text.status())) return config;
  if (!text.ok()) return text.status();
  int number = 0;
  for (absl::string_view line : absl::StrSplit(*text, '\n')) {
    ++number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    const size_t equals = line.find('=');
    if (equals == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ":", number, ": \"", line, "\" is not KEY = VALUE"));
    }
    const absl::string_view key = absl::StripAsciiWhitespace(line.substr(0, equals));
    const std::string value(absl::StripAsciiWhitespace(line.substr(equals + 1)));
    if (key == "controller") {
      config.controller = value;
    } else if (key == "token-file") {
      config.token_file = value;
    } else if (key == "local-dir") {
      config.local_dir = value;
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ":", number, ": unknown key \"", key, "\" (known: controller, token-file, local-dir)"));
    }
  }
  return config;
}

absl::Status WriteCliConfig(const std::string& path, const CliConfig& config) {
  const size_t slash = path.rfind('/');
  if (slash != std::string::npos && slash > 0) {
    if (absl::Status made = MakeDirectories(path.substr(0, slash), 0700); !made.ok()) return made;
  }
  const std::string text =
      absl::StrCat("# Written by `mp local up`; flags, MP_CONTROLLER and MP_TOKEN win over it.\n",
                   "controller = ", config.controller, "\n", "token-file = ", config.token_file,
                   "\n", "local-dir = ", config.local_dir, "\n");
  return WriteFileAtomically(path, text, 0600);
}

}  // namespace middlepipe::cli

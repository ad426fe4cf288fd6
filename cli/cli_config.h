// The CLI's configuration file: where the controller is and where the user's token is,
// so that `mp` works with no flags after `mp local up` (which writes it). Flags and
// MP_CONTROLLER / MP_TOKEN win over it.
//
// $MP_CONFIG, else $HOME/.config/middlepipe/cli.conf; lines "KEY = VALUE", "#" comments:
//   controller = unix:///home/me/.middlepipe/controller.sock
//   token-file = /home/me/.middlepipe/data/admin-token
//   local-dir = /home/me/.middlepipe
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace middlepipe::cli {

struct CliConfig {
  std::string controller;
  std::string token_file;
  std::string local_dir;  // the local platform's state directory
};

std::string CliConfigPath();
// A missing file is an empty config; a malformed one an error naming the line.
absl::StatusOr<CliConfig> LoadCliConfig(const std::string& path);
absl::Status WriteCliConfig(const std::string& path, const CliConfig& config);

}  // namespace middlepipe::cli

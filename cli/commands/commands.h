// The `mp` commands, by group. Each Add* function registers its subcommands on `app`;
// they run through `context` (see cli/command_context.h).
#pragma once

#include <CLI/CLI.hpp>

#include "cli/command_context.h"

namespace middlepipe::cli {

// marketplace, create-middlepipe, update-middlepipe, delete-middlepipe, middlepipes,
// middlepipe
void AddMiddlepipeCommands(CLI::App& app, CommandContext& context);
// bind-middlepipe, unbind-middlepipe, chain
void AddBindingCommands(CLI::App& app, CommandContext& context);
// register-service, services, apps
void AddServiceCommands(CLI::App& app, CommandContext& context);
// local up, down, push, scale, status, delete (the local platform)
void AddLocalCommands(CLI::App& app, CommandContext& context);

}  // namespace middlepipe::cli

// A built-in command shell served by the application itself, not by a
// process: help, whoami, echo, width and exit. The demo serves it when
// parleyd runs as root, so answering the demo's question never yields a system
// shell; embedders use it as a model of a ChannelHandler.
#pragma once

#include <memory>
#include <string>

#include "parley/connection/channel_handler.hpp"

namespace parley::connection {

/// A session handler for `user` (the name shown by whoami and in the prompt).
/// With a terminal it echoes keystrokes and edits the line; without one it
/// reads lines; "exec" runs one command and reports its status. No command
/// reaches the operating system.
std::unique_ptr<ChannelHandler> make_command_shell(std::string user);

}  // namespace parley::connection

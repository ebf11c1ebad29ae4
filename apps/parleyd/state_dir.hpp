// Where parleyd keeps its state (the generated host key).
#pragma once

#include <expected>
#include <filesystem>
#include <string>

namespace parleyd {

/// The default state directory: $STATE_DIRECTORY (systemd; the first entry if it
/// lists several), else $XDG_STATE_HOME/parleyd, else $HOME/.local/state/parleyd.
/// An error if none of these variables is set.
std::expected<std::filesystem::path, std::string> default_state_dir();

/// Creates `dir` (and its parents) if missing; the directory itself gets mode
/// 0700 since it holds a private key. A directory (new or not) that this process
/// does not own, or that its group or others may write, is refused.
std::expected<void, std::string> ensure_private_dir(const std::filesystem::path& dir);

}  // namespace parleyd

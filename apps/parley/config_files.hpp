// The I/O edge of ssh_config for parley: files read from disk (with ssh's
// ownership and mode check), glob(3), Match exec run by the user's shell, and
// the local facts tokens stand for (user, home, host name, uid).
#pragma once

#include "options.hpp"

namespace parley::app {

/// The real world: the files on disk, $HOME (else the passwd entry), the local
/// user from the passwd entry, gethostname(). Its shell runs Match exec
/// commands with stdin and stdout on /dev/null; parse_client_options() hands it
/// on only under --allow-match-exec.
ConfigEnvironment system_config_environment();

}  // namespace parley::app

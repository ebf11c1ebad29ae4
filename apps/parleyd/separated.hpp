// parleyd as two processes when it starts as root (issue 14): a root monitor
// and a confined network process, each reloading its part on SIGHUP.
#pragma once

#include "config.hpp"
#include "settings.hpp"

namespace parleyd {

/// Runs the privilege-separated server until it is stopped; the exit status.
/// `line` is read again (with the file it names) by each reload.
int run_separated(const CommandLine& line, const Config& c);

}  // namespace parleyd

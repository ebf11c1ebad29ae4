// parley -G: the configuration for a host printed as `ssh -G` prints it (a
// lower-case keyword, a space, the value; one line per value of a list), for
// the options parley reads, with parley's values where it has its own defaults.
#pragma once

#include <ostream>

#include "options.hpp"

namespace parley::app {

/// Writes the options parley reads, as ssh -G words them.
void print_config(const ClientOptions& options, std::ostream& out);

}  // namespace parley::app

// parleyd -T: the effective configuration (the file and the command line
// merged, built-in defaults filled in) as TOML that parleyd reads back to the
// same settings.
#pragma once

#include <string>

#include "config.hpp"

namespace parleyd {

/// The TOML text; settings that are not set and have no one value (a path
/// parleyd derives at run time) are listed in a comment at the top.
std::string dump_config(const Config& c);

}  // namespace parleyd

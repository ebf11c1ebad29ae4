// The seccomp filter of confine(), kept apart from the privilege steps.
#pragma once

#include <expected>

#include "parley/sandbox/sandbox.hpp"

namespace parley::sandbox {

/// Installs the allow-list for every thread of the process (TSYNC). Needs
/// PR_SET_NO_NEW_PRIVS set first (or CAP_SYS_ADMIN).
std::expected<void, Failure> install_filter(const Syscalls& allow);

}  // namespace parley::sandbox

// TEST BUILD ONLY: see network_probe.cpp. parleyd itself has no such hook.
#pragma once

#include <sys/types.h>

namespace parleyd {

/// Tries what PARLEY_PROBE names, from inside the confined network process;
/// `monitor` is the monitor's pid (read before the sandbox: getppid is not allowed).
void run_network_probe(pid_t monitor);

}  // namespace parleyd

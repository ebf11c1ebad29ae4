// How many I/O threads a server should run by default: the CPUs this process
// may run on (its affinity mask, as taskset or systemd's CPUAffinity= set it),
// capped by its cgroup's CPU quota (cgroup v2 cpu.max, as a container's
// --cpus sets it). std::thread::hardware_concurrency() counts every CPU of the
// machine, so a server pinned to one core would run threads that contend for it.
#pragma once

#include <optional>
#include <string_view>

namespace parley::driver {

/// The CPUs a quota line of cgroup v2's cpu.max allows ("max 100000": no
/// limit, nullopt; "150000 100000": 1.5 CPUs, so 2); nullopt if the line does
/// not parse.
std::optional<unsigned> cpus_of_quota(std::string_view cpu_max);

/// The threads for `affinity_cpus` CPUs under a quota (cpus_of_quota), at least 1.
unsigned io_threads_for(unsigned affinity_cpus, std::optional<unsigned> quota_cpus);

/// io_threads_for() this process: sched_getaffinity() and its cgroup's cpu.max
/// (read from /proc/self/cgroup and /sys/fs/cgroup; absent files: no quota).
unsigned default_io_threads();

}  // namespace parley::driver

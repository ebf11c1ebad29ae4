// The default I/O thread count: the affinity mask's CPUs, capped by the cgroup quota.
#include "parley/driver/cpu_count.hpp"

#include <sched.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <string>

namespace parley::driver {
namespace {

std::optional<unsigned long long> number(std::string_view text) {
  unsigned long long value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

/// The cgroup v2 path of this process ("0::/system.slice/x.service"), or "".
std::string own_cgroup() {
  std::ifstream in("/proc/self/cgroup");
  std::string line;
  while (std::getline(in, line))
    if (line.starts_with("0::")) return line.substr(3);
  return {};
}

}  // namespace

std::optional<unsigned> cpus_of_quota(std::string_view cpu_max) {
  while (!cpu_max.empty() && (cpu_max.back() == '\n' || cpu_max.back() == ' ')) cpu_max.remove_suffix(1);
  const auto space = cpu_max.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  const std::string_view quota = cpu_max.substr(0, space);
  const auto period = number(cpu_max.substr(space + 1));
  if (!period || *period == 0) return std::nullopt;
  if (quota == "max") return std::nullopt;
  const auto q = number(quota);
  if (!q) return std::nullopt;
  return static_cast<unsigned>(std::max<unsigned long long>(1, (*q + *period - 1) / *period));
}

unsigned io_threads_for(unsigned affinity_cpus, std::optional<unsigned> quota_cpus) {
  unsigned n = std::max(1u, affinity_cpus);
  if (quota_cpus) n = std::min(n, std::max(1u, *quota_cpus));
  return n;
}

unsigned default_io_threads() {
  cpu_set_t set;
  CPU_ZERO(&set);
  unsigned affinity = 1;
  if (::sched_getaffinity(0, sizeof set, &set) == 0) affinity = static_cast<unsigned>(CPU_COUNT(&set));
  std::optional<unsigned> quota;
  if (const std::string group = own_cgroup(); !group.empty()) {
    std::ifstream in("/sys/fs/cgroup" + (group == "/" ? std::string() : group) + "/cpu.max");
    std::string line;
    if (std::getline(in, line)) quota = cpus_of_quota(line);
  }
  return io_threads_for(affinity, quota);
}

}  // namespace parley::driver

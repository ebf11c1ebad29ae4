#include "capacity.hpp"

#include <dirent.h>
#include <sys/resource.h>

#include <algorithm>
#include <string_view>

#include <fmt/format.h>

namespace parleyd {

std::size_t Capacity::connections() const {
  const std::uint64_t used = open_at_start + reserved_descriptors;
  const std::uint64_t by_descriptors = soft_limit > used ? soft_limit - used : 0;
  return static_cast<std::size_t>(std::min<std::uint64_t>(by_descriptors, max_connections));
}

Capacity raise_descriptor_limit() {
  Capacity c;
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) return c;
  c.limit_before = lim.rlim_cur;
  if (lim.rlim_cur < lim.rlim_max) {
    rlimit raised = lim;
    raised.rlim_cur = lim.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) lim = raised;
  }
  c.soft_limit = lim.rlim_cur;
  c.hard_limit = lim.rlim_max;
  return c;
}

std::size_t open_descriptors() {
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return 0;
  std::size_t n = 0;
  while (const dirent* e = ::readdir(dir))
    if (e->d_name[0] != '.') ++n;
  ::closedir(dir);
  return n > 0 ? n - 1 : 0;  // less the directory's own descriptor
}

std::string capacity_line(const Capacity& c, std::string_view who) {
  std::string line = fmt::format(
      "{}can hold {} connections at once: open-file limit {} ({}hard limit {}), {} descriptors open at start, "
      "{} kept for logins and sessions, one descriptor per connection",
      who, c.connections(), c.soft_limit,
      c.limit_before < c.soft_limit ? fmt::format("raised from {}; ", c.limit_before) : std::string(),
      c.hard_limit, c.open_at_start, parleyd::reserved_descriptors);
  if (c.connections() == c.max_connections) line += fmt::format("; at most {} by max_connections", c.max_connections);
  return line;
}

}  // namespace parleyd

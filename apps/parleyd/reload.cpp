// Reload support: which settings need a restart, systemd notifications and
// the sealed configuration text for the network process.
#include "reload.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

namespace parleyd {

std::optional<std::string> restart_only_change(const Config& running, const Config& loaded) {
  const Limits& a = running.limits;
  const Limits& b = loaded.limits;
  // In the order the configuration file lists them.
  const std::pair<bool, const char*> changes[] = {
      {running.listen != loaded.listen, "listen"},
      {running.port != loaded.port, "port"},
      {running.threads != loaded.threads, "threads"},
      {running.privilege_separation != loaded.privilege_separation, "privilege_separation"},
      {running.proxy_protocol != loaded.proxy_protocol, "proxy_protocol"},
      {running.proxy_from != loaded.proxy_from, "proxy_from"},
      {!(a.max_startups == b.max_startups), "limits.max_startups"},
      {a.per_source_max_startups != b.per_source_max_startups, "limits.per_source_max_startups"},
      {a.per_source_netblock4 != b.per_source_netblock4 || a.per_source_netblock6 != b.per_source_netblock6,
       "limits.per_source_netblock_size"},
      {!(a.per_source_penalties == b.per_source_penalties), "limits.per_source_penalties"},
      {a.max_queued_checks != b.max_queued_checks, "limits.max_queued_checks"},
  };
  for (const auto& [changed, key] : changes)
    if (changed) return std::string(key);
  return std::nullopt;
}

namespace {

void notify(const std::string& state) {
  // 0: NOTIFY_SOCKET stays set, so a reload can notify again.
  (void)::sd_notify(0, state.c_str());
}

std::string monotonic_usec() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  const auto usec = static_cast<unsigned long long>(ts.tv_sec) * 1000000ULL +
                    static_cast<unsigned long long>(ts.tv_nsec) / 1000ULL;
  return std::to_string(usec);
}

}  // namespace

void notify_ready(std::string_view status) { notify("READY=1\nSTATUS=" + std::string(status)); }

void notify_reloading() { notify("RELOADING=1\nMONOTONIC_USEC=" + monotonic_usec()); }

void notify_stopping() { notify("STOPPING=1"); }

std::expected<parley::UniqueFd, std::string> sealed_text(std::string_view text) {
  parley::UniqueFd fd(::memfd_create("parleyd.conf", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (fd.get() < 0) return std::unexpected(std::string("memfd_create: ") + std::strerror(errno));
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd.get(), text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return std::unexpected(std::string("writing the configuration: ") + std::strerror(errno));
    done += static_cast<std::size_t>(n);
  }
  if (::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) != 0)
    return std::unexpected(std::string("sealing the configuration: ") + std::strerror(errno));
  // The receiver shares this file offset: it reads from the start (read(2), as
  // its system-call filter has no pread).
  if (::lseek(fd.get(), 0, SEEK_SET) != 0)
    return std::unexpected(std::string("rewinding the configuration: ") + std::strerror(errno));
  return fd;
}

std::expected<std::string, std::string> read_text(int fd, std::size_t limit) {
  std::string text;
  char buffer[8192];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::unexpected(std::string("reading the configuration: ") + std::strerror(errno));
    if (n == 0) return text;
    text.append(buffer, static_cast<std::size_t>(n));
    if (text.size() > limit) return std::unexpected("the configuration is larger than " + std::to_string(limit) + " bytes");
  }
}

}  // namespace parleyd

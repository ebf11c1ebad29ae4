#include "parley/login/records.hpp"

#include <fcntl.h>
#include <grp.h>
#include <lastlog.h>
#include <paths.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>
#include <utmpx.h>

#include <algorithm>
#include <cstring>
#include <mutex>

#include "parley/wire/unique_fd.hpp"

namespace parley::login {
namespace {

/// utmp's functions share one hidden file position: one session at a time.
std::mutex utmp_mutex;

template <std::size_t N>
void copy_field(char (&field)[N], std::string_view text) {
  std::memset(field, 0, N);
  std::memcpy(field, text.data(), std::min(N, text.size()));
}

/// The entry's line ("pts/3") and id ("ts/3", as sshd and login derive it).
utmpx entry_for(const LoginRecord& r, short type) {
  utmpx ut{};
  ut.ut_type = type;
  ut.ut_pid = r.pid;
  std::string_view line = r.tty;
  if (line.starts_with("/dev/")) line.remove_prefix(5);
  copy_field(ut.ut_line, line);
  const std::string_view id = line.size() > sizeof ut.ut_id ? line.substr(line.size() - sizeof ut.ut_id) : line;
  copy_field(ut.ut_id, id);
  if (type == USER_PROCESS) {
    copy_field(ut.ut_user, r.user);
    copy_field(ut.ut_host, r.host);
  }
  timeval now{};
  ::gettimeofday(&now, nullptr);
  ut.ut_tv.tv_sec = static_cast<decltype(ut.ut_tv.tv_sec)>(now.tv_sec);
  ut.ut_tv.tv_usec = static_cast<decltype(ut.ut_tv.tv_usec)>(now.tv_usec);
  return ut;
}

bool write_utmp(const utmpx& ut) {
  std::lock_guard lock(utmp_mutex);
  if (::access(_PATH_UTMPX, W_OK) != 0) return false;
  ::setutxent();
  const bool ok = ::pututxline(&ut) != nullptr;
  ::endutxent();
  return ok;
}

bool write_wtmp(const utmpx& ut) {
  if (::access(_PATH_WTMPX, W_OK) != 0) return false;
  ::updwtmpx(_PATH_WTMPX, &ut);
  return true;
}

bool write_lastlog(const LoginRecord& r) {
  UniqueFd fd(::open(_PATH_LASTLOG, O_WRONLY | O_CLOEXEC | O_NOFOLLOW));
  if (fd.get() < 0) return false;
  lastlog entry{};
  entry.ll_time = static_cast<decltype(entry.ll_time)>(::time(nullptr));
  std::string_view line = r.tty;
  if (line.starts_with("/dev/")) line.remove_prefix(5);
  copy_field(entry.ll_line, line);
  copy_field(entry.ll_host, r.host);
  const off_t at = static_cast<off_t>(r.uid) * static_cast<off_t>(sizeof entry);
  return ::pwrite(fd.get(), &entry, sizeof entry, at) == static_cast<ssize_t>(sizeof entry);
}

}  // namespace

std::string record_login(const LoginRecord& record) {
  const utmpx ut = entry_for(record, USER_PROCESS);
  std::string written;
  auto note = [&](bool ok, const char* what) {
    if (!ok) return;
    if (!written.empty()) written += ' ';
    written += what;
  };
  note(write_utmp(ut), "utmp");
  note(write_wtmp(ut), "wtmp");
  note(write_lastlog(record), "lastlog");
  return written;
}

void record_logout(const LoginRecord& record) {
  const utmpx ut = entry_for(record, DEAD_PROCESS);
  write_utmp(ut);
  write_wtmp(ut);
}

bool claim_terminal(int fd, uid_t uid, gid_t gid) {
  group entry{};
  group* found = nullptr;
  char buffer[4096];
  gid_t tty_gid = gid;
  if (::getgrnam_r("tty", &entry, buffer, sizeof buffer, &found) == 0 && found != nullptr)
    tty_gid = entry.gr_gid;
  return ::fchown(fd, uid, tty_gid) == 0 && ::fchmod(fd, S_IRUSR | S_IWUSR | S_IWGRP) == 0;
}


}  // namespace parley::login

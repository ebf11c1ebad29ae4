#include "state_dir.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <system_error>

namespace parleyd {
namespace {

std::string_view env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? std::string_view(v) : std::string_view();
}

}  // namespace

std::expected<std::filesystem::path, std::string> default_state_dir() {
  if (auto dirs = env("STATE_DIRECTORY"); !dirs.empty())
    return std::filesystem::path(dirs.substr(0, dirs.find(':')));
  if (auto xdg = env("XDG_STATE_HOME"); !xdg.empty()) return std::filesystem::path(xdg) / "parleyd";
  if (auto home = env("HOME"); !home.empty())
    return std::filesystem::path(home) / ".local" / "state" / "parleyd";
  return std::unexpected(
      std::string("no state directory: set --state-dir, STATE_DIRECTORY, XDG_STATE_HOME or HOME"));
}

namespace {

/// The state directory holds the host key: as sshd's StrictModes treats a
/// user's ~/.ssh, it must be ours and writable by nobody else, or someone else
/// could swap the key (or its directory entry) under us.
std::expected<void, std::string> check_private_dir(const std::filesystem::path& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0)
    return std::unexpected("cannot stat " + dir.string() + ": " + std::strerror(errno));
  if (!S_ISDIR(st.st_mode)) return std::unexpected(dir.string() + " is not a directory");
  if (st.st_uid != ::geteuid())
    return std::unexpected("bad ownership for state directory " + dir.string() + ": owned by uid " +
                           std::to_string(st.st_uid) + ", not by this process (uid " +
                           std::to_string(::geteuid()) + ")");
  if ((st.st_mode & 022) != 0) {
    char octal[8];
    std::snprintf(octal, sizeof octal, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return std::unexpected("bad permissions " + std::string(octal) + " for state directory " +
                           dir.string() +
                           ": it must not be writable by group or others (chmod 700)");
  }
  return {};
}

}  // namespace

std::expected<void, std::string> ensure_private_dir(const std::filesystem::path& dir) {
  std::error_code ec;
  if (std::filesystem::is_directory(dir, ec)) return check_private_dir(dir);
  if (dir.has_parent_path()) {
    std::filesystem::create_directories(dir.parent_path(), ec);
    if (ec)
      return std::unexpected("cannot create " + dir.parent_path().string() + ": " + ec.message());
  }
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    return std::unexpected("cannot create " + dir.string() + ": " + std::strerror(errno));
  if (!std::filesystem::is_directory(dir, ec))
    return std::unexpected(dir.string() + " is not a directory");
  return check_private_dir(dir);
}

}  // namespace parleyd

#include "state_dir.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
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

std::expected<void, std::string> ensure_private_dir(const std::filesystem::path& dir) {
  std::error_code ec;
  if (std::filesystem::is_directory(dir, ec)) return {};
  if (dir.has_parent_path()) {
    std::filesystem::create_directories(dir.parent_path(), ec);
    if (ec)
      return std::unexpected("cannot create " + dir.parent_path().string() + ": " + ec.message());
  }
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    return std::unexpected("cannot create " + dir.string() + ": " + std::strerror(errno));
  if (!std::filesystem::is_directory(dir, ec))
    return std::unexpected(dir.string() + " is not a directory");
  return {};
}

}  // namespace parleyd

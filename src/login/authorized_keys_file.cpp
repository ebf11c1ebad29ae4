#include "parley/login/authorized_keys_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <optional>

#include "parley/wire/unique_fd.hpp"

namespace parley::login {
namespace {

namespace fs = std::filesystem;

/// sshd's owner and mode rule for the file and each directory above it.
bool owner_and_mode_ok(const struct stat& st, uid_t uid) {
  return (st.st_uid == 0 || st.st_uid == uid) && (st.st_mode & 022) == 0;
}

/// OpenSSH's auth_secure_path for the directories: from the file's directory
/// upwards to `home` (when the file is under it) or "/"; nullopt if all pass.
std::optional<std::string> insecure_directory(const fs::path& file, const KeyFileOwner& owner) {
  std::error_code ec;
  const fs::path real = fs::canonical(file, ec);
  if (ec) return "cannot resolve the path: " + ec.message();
  fs::path home;
  if (!owner.home.empty()) {
    home = fs::canonical(owner.home, ec);
    if (ec) home.clear();
  }
  for (fs::path dir = real.parent_path();; dir = dir.parent_path()) {
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0)
      return "cannot stat directory " + dir.string() + ": " + std::strerror(errno);
    // Laxer than sshd in one case: a root-owned sticky directory (/tmp). Its
    // sticky bit keeps other users from renaming or removing what it holds, so
    // a path through it cannot be swapped; sshd refuses it outright.
    const bool root_sticky = st.st_uid == 0 && (st.st_mode & S_ISVTX) != 0;
    if (!owner_and_mode_ok(st, owner.uid) && !root_sticky)
      return "bad ownership or modes for directory " + dir.string();
    if (!home.empty() && dir == home) return std::nullopt;
    if (dir == dir.root_path() || !dir.has_relative_path()) return std::nullopt;
  }
}

}  // namespace

std::expected<std::string, std::string> read_authorized_keys_file(const fs::path& path,
                                                                  const KeyFileOwner& owner) {
  auto refuse = [&](const std::string& why) { return std::unexpected(path.string() + ": " + why); };
  // O_NONBLOCK: a FIFO put in place of the file must not hang a worker on open().
  const UniqueFd fd(
      ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY));
  if (fd.get() < 0) {
    if (errno == ELOOP) return refuse("is a symbolic link; not used");
    return refuse(std::string("cannot be opened: ") + std::strerror(errno));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0)
    return refuse(std::string("cannot stat: ") + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return refuse("not a regular file; not used");
  if (!owner_and_mode_ok(st, owner.uid)) return refuse("bad ownership or modes for file; not used");
  if (static_cast<std::size_t>(st.st_size) > max_authorized_keys_bytes)
    return refuse("larger than " + std::to_string(max_authorized_keys_bytes) + " bytes; not used");
  if (auto bad = insecure_directory(path, owner)) return refuse(*bad + "; not used");
  std::string text;
  std::array<char, 8192> buffer{};
  for (;;) {
    const ssize_t n = ::read(fd.get(), buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return refuse(std::string("cannot be read: ") + std::strerror(errno));
    if (n == 0) break;
    if (text.size() + static_cast<std::size_t>(n) > max_authorized_keys_bytes)  // grew while read
      return refuse("larger than " + std::to_string(max_authorized_keys_bytes) +
                    " bytes; not used");
    text.append(buffer.data(), static_cast<std::size_t>(n));
  }
  return text;
}

}  // namespace parley::login

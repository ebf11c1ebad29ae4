// The empty directory that becomes the network process's root, checked as sshd
// checks its privsep path (owned by root, not writable by group or others) and
// found empty, through one descriptor that confine() then chroots into.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "parley/sandbox/sandbox.hpp"

namespace parley::sandbox {
namespace {

// mkdir -p with 0755 for each missing component (chmod'ed, so the umask does not
// decide); components that exist are left as they are and checked no further
// than the last one is.
std::expected<void, Failure> create_missing(const std::filesystem::path& dir) {
  std::filesystem::path so_far = dir.root_path();
  for (const auto& part : dir.relative_path()) {
    if (part.empty()) continue;  // a trailing '/'
    so_far /= part;
    if (::mkdir(so_far.c_str(), 0755) == 0) {
      if (::chmod(so_far.c_str(), 0755) != 0)
        return std::unexpected(Failure{SandboxError::empty_dir_create, errno});
    } else if (errno != EEXIST) {
      return std::unexpected(Failure{SandboxError::empty_dir_create, errno});
    }
  }
  return {};
}

// Whether the directory behind `fd` has no entry but "." and "..".
std::expected<bool, Failure> is_empty(int fd) {
  int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (copy < 0) return std::unexpected(Failure{SandboxError::empty_dir_open, errno});
  DIR* d = ::fdopendir(copy);
  if (!d) {
    int saved = errno;
    ::close(copy);
    return std::unexpected(Failure{SandboxError::empty_dir_open, saved});
  }
  bool empty = true;
  errno = 0;
  while (const dirent* entry = ::readdir(d)) {
    if (std::strcmp(entry->d_name, ".") != 0 && std::strcmp(entry->d_name, "..") != 0) {
      empty = false;
      break;
    }
  }
  int saved = errno;
  ::closedir(d);
  if (empty && saved != 0) return std::unexpected(Failure{SandboxError::empty_dir_open, saved});
  return empty;
}

}  // namespace

std::expected<UniqueFd, Failure> open_empty_dir(const std::filesystem::path& dir) {
  if (auto created = create_missing(dir); !created) return std::unexpected(created.error());
  // O_NOFOLLOW: the last component must be the directory itself, not a link to
  // somewhere a checked directory could be swapped for another.
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (fd.get() < 0) return std::unexpected(Failure{SandboxError::empty_dir_open, errno});
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0)
    return std::unexpected(Failure{SandboxError::empty_dir_open, errno});
  if (!S_ISDIR(st.st_mode) || st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
    return std::unexpected(Failure{SandboxError::empty_dir_unsafe});
  auto empty = is_empty(fd.get());
  if (!empty) return std::unexpected(empty.error());
  if (!*empty) return std::unexpected(Failure{SandboxError::empty_dir_not_empty});
  return fd;
}

}  // namespace parley::sandbox

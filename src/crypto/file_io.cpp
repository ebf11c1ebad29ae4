#include "parley/crypto/file_io.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <utility>

#include "parley/crypto/secret.hpp"
#include "parley/wire/bytes.hpp"
#include "parley/wire/unique_fd.hpp"

namespace parley::crypto {
namespace {

namespace fs = std::filesystem;

// Attempts at finding an unused temporary name before giving up.
constexpr int max_temp_attempts = 16;

std::expected<void, FileError> write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::unexpected(FileError{"cannot write temporary file", errno});
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

}  // namespace

std::string FileError::describe(const fs::path& path) const {
  return path.string() + ": " + std::string(what) + ": " + std::strerror(err);
}

std::expected<FileText, FileError> read_file(const fs::path& path, std::size_t max_size) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  if (fd.get() < 0) return std::unexpected(FileError{"cannot open", errno});
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return std::unexpected(FileError{"cannot stat", errno});
  if (!S_ISREG(st.st_mode)) return std::unexpected(FileError{"not a regular file", EINVAL});
  if (static_cast<std::size_t>(st.st_size) > max_size) return std::unexpected(FileError{"too large", EFBIG});
  FileText out{std::string(static_cast<std::size_t>(st.st_size), '\0'), st.st_mode & 07777};
  std::size_t done = 0;
  while (done < out.text.size()) {
    const ssize_t n = ::read(fd.get(), out.text.data() + done, out.text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      secure_wipe(out.text.data(), out.text.size());  // the part read may be a key
      return std::unexpected(FileError{"cannot read", err});
    }
    if (n == 0) break;  // shrank while being read: use what is there
    done += static_cast<std::size_t>(n);
  }
  out.text.resize(done);
  return out;
}

fs::path directory_of(const fs::path& path) {
  fs::path dir = path.parent_path();
  return dir.empty() ? fs::path(".") : dir;
}

std::expected<void, FileError> sync_directory(const fs::path& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) return std::unexpected(FileError{"cannot open directory", errno});
  // Some filesystems cannot sync a directory (EINVAL); nothing more can be done there.
  if (::fsync(fd.get()) != 0 && errno != EINVAL) {
    return std::unexpected(FileError{"cannot sync directory", errno});
  }
  return {};
}

std::expected<TempFile, FileError> TempFile::write(const fs::path& final_path, std::string_view data,
                                                   mode_t mode, Random& rng,
                                                   std::optional<FileOwner> owner) {
  for (int attempt = 0; attempt < max_temp_attempts; ++attempt) {
    std::array<std::uint8_t, 6> suffix{};
    rng.fill(suffix);
    TempFile tmp(directory_of(final_path) /
                 ("." + final_path.filename().string() + ".tmp-" + to_hex(suffix)));
    UniqueFd fd(::open(tmp.path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode));
    if (fd.get() < 0 && errno == EEXIST) {
      tmp.path_.clear();  // someone else's file: not ours to remove
      continue;
    }
    if (fd.get() < 0) {
      const int err = errno;
      tmp.path_.clear();
      return std::unexpected(FileError{"cannot create temporary file", err});
    }
    // The umask may have narrowed the mode; the file's mode must be exact.
    if (::fchmod(fd.get(), mode) != 0) return std::unexpected(FileError{"cannot set temporary file mode", errno});
    if (owner) {
      struct stat st {};
      if (::fstat(fd.get(), &st) != 0) return std::unexpected(FileError{"cannot stat temporary file", errno});
      if (st.st_uid != owner->uid || st.st_gid != owner->gid) {
        if (::fchown(fd.get(), owner->uid, owner->gid) != 0)
          return std::unexpected(FileError{"cannot give the new file the old file's owner", errno});
        // fchown may clear set-id bits: set the exact mode again.
        if (::fchmod(fd.get(), mode) != 0)
          return std::unexpected(FileError{"cannot set temporary file mode", errno});
      }
    }
    if (auto w = write_all(fd.get(), data); !w) return std::unexpected(w.error());
    // The data must be on disk before the rename makes it the file.
    if (::fsync(fd.get()) != 0) return std::unexpected(FileError{"cannot sync temporary file", errno});
    if (fd.close() != 0) return std::unexpected(FileError{"cannot close temporary file", errno});
    return tmp;
  }
  return std::unexpected(FileError{"cannot find an unused temporary file name", EEXIST});
}

TempFile::TempFile(TempFile&& other) noexcept : path_(std::exchange(other.path_, {})) {}

TempFile::~TempFile() {
  if (!path_.empty()) ::unlink(path_.c_str());
}

std::expected<void, FileError> TempFile::commit(const fs::path& final_path) {
  if (::rename(path_.c_str(), final_path.c_str()) != 0)
    return std::unexpected(FileError{"cannot rename into place", errno});
  path_.clear();
  return {};
}

std::expected<void, FileError> replace_file(const fs::path& path, std::string_view data, mode_t mode,
                                            Random& rng) {
  auto tmp = TempFile::write(path, data, mode, rng);
  if (!tmp) return std::unexpected(tmp.error());
  if (auto r = tmp->commit(path); !r) return r;
  return sync_directory(directory_of(path));
}

}  // namespace parley::crypto

// Private key files: loading, atomic saving, and the host key bootstrap.
#include "parley/crypto/key_file.hpp"
#include "parley/wire/unique_fd.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <utility>

#include "parley/crypto/secret.hpp"

namespace parley::crypto {
namespace {

namespace fs = std::filesystem;

// Far above any real key (a 16384-bit RSA key file is about 13 KiB); it only
// stops a wrong path (a log, a device) from being read into memory whole.
constexpr off_t max_key_file_size = 1 << 20;
// Attempts at finding an unused temporary name before giving up.
constexpr int max_temp_attempts = 16;
constexpr std::string_view host_key_comment = "parley host key";

using Fd = parley::UniqueFd;

/// A failed system call: what was attempted and errno.
struct SysError {
  std::string_view what;
  int err;
};

KeyFileError io_failure(const fs::path& path, SysError e) {
  return {CryptoError::io_error,
          path.string() + ": " + std::string(e.what) + ": " + std::strerror(e.err)};
}

KeyFileError key_failure(const fs::path& path, CryptoError e) {
  return {e, path.string() + ": " + std::string(to_string(e))};
}

/// Wipes a string holding private key text when it goes out of scope.
class WipeOnExit {
 public:
  explicit WipeOnExit(std::string& s) : s_(s) {}
  ~WipeOnExit() { secure_wipe(s_.data(), s_.size()); }
  WipeOnExit(const WipeOnExit&) = delete;
  WipeOnExit& operator=(const WipeOnExit&) = delete;

 private:
  std::string& s_;
};

/// Reads a whole regular file into `out` (sized once, so no stray copies).
std::expected<void, SysError> read_file(const fs::path& path, std::string& out) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  if (fd.get() < 0) return std::unexpected(SysError{"cannot open", errno});
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return std::unexpected(SysError{"cannot stat", errno});
  if (!S_ISREG(st.st_mode)) return std::unexpected(SysError{"not a regular file", EINVAL});
  if (st.st_size > max_key_file_size) return std::unexpected(SysError{"too large", EFBIG});
  out.assign(static_cast<std::size_t>(st.st_size), '\0');
  std::size_t done = 0;
  while (done < out.size()) {
    const ssize_t n = ::read(fd.get(), out.data() + done, out.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::unexpected(SysError{"cannot read", errno});
    if (n == 0) break;  // shrank while being read: parse what is there
    done += static_cast<std::size_t>(n);
  }
  out.resize(done);
  return {};
}

std::expected<PrivateKey, KeyFileError> parse_key_file(const fs::path& path, std::string& text) {
  WipeOnExit wipe(text);
  auto key = PrivateKey::from_openssh(text);
  if (!key) return std::unexpected(key_failure(path, key.error()));
  return *std::move(key);
}

std::expected<void, SysError> write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::unexpected(SysError{"cannot write temporary file", errno});
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

fs::path directory_of(const fs::path& path) {
  fs::path dir = path.parent_path();
  return dir.empty() ? fs::path(".") : dir;
}

/// Makes a rename in `dir` durable.
std::expected<void, SysError> sync_directory(const fs::path& dir) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) return std::unexpected(SysError{"cannot open directory", errno});
  // Some filesystems cannot sync a directory (EINVAL); nothing more can be done there.
  if (::fsync(fd.get()) != 0 && errno != EINVAL) {
    return std::unexpected(SysError{"cannot sync directory", errno});
  }
  return {};
}

/// A file written in full and synced under a fresh name beside its final
/// path; removed on destruction unless commit() renamed it into place.
class TempFile {
 public:
  /// Creates the file exclusively (never following or reusing an existing
  /// name) with exactly `mode`, writes `data`, and syncs it.
  static std::expected<TempFile, KeyFileError> write(const fs::path& final_path,
                                                     std::string_view data, mode_t mode,
                                                     Random& rng) {
    for (int attempt = 0; attempt < max_temp_attempts; ++attempt) {
      std::array<std::uint8_t, 6> suffix{};
      rng.fill(suffix);
      TempFile tmp(directory_of(final_path) /
                   ("." + final_path.filename().string() + ".tmp-" + to_hex(suffix)));
      Fd fd(::open(tmp.path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode));
      if (fd.get() < 0 && errno == EEXIST) {
        tmp.path_.clear();  // someone else's file: not ours to remove
        continue;
      }
      if (fd.get() < 0) {
        const int err = errno;
        tmp.path_.clear();
        return std::unexpected(io_failure(final_path, {"cannot create temporary file", err}));
      }
      // The umask may have narrowed the mode; the key's mode must be exact.
      if (::fchmod(fd.get(), mode) != 0) {
        return std::unexpected(io_failure(final_path, {"cannot set temporary file mode", errno}));
      }
      if (auto w = write_all(fd.get(), data); !w) {
        return std::unexpected(io_failure(final_path, w.error()));
      }
      // The data must be on disk before the rename makes it the key.
      if (::fsync(fd.get()) != 0) {
        return std::unexpected(io_failure(final_path, {"cannot sync temporary file", errno}));
      }
      if (fd.close() != 0) {
        return std::unexpected(io_failure(final_path, {"cannot close temporary file", errno}));
      }
      return tmp;
    }
    return std::unexpected(
        io_failure(final_path, {"cannot find an unused temporary file name", EEXIST}));
  }

  TempFile(TempFile&& other) noexcept : path_(std::exchange(other.path_, {})) {}
  TempFile& operator=(TempFile&&) = delete;
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  ~TempFile() {
    if (!path_.empty()) ::unlink(path_.c_str());
  }

  /// Atomically replaces `final_path` with this file (POSIX rename).
  std::expected<void, KeyFileError> commit(const fs::path& final_path) {
    if (::rename(path_.c_str(), final_path.c_str()) != 0) {
      return std::unexpected(io_failure(final_path, {"cannot rename into place", errno}));
    }
    path_.clear();
    return {};
  }

 private:
  explicit TempFile(fs::path path) : path_(std::move(path)) {}
  fs::path path_;
};

}  // namespace

std::expected<PrivateKey, KeyFileError> load_private_key(const fs::path& path) {
  std::string text;
  if (auto r = read_file(path, text); !r) {
    secure_wipe(text.data(), text.size());
    return std::unexpected(io_failure(path, r.error()));
  }
  return parse_key_file(path, text);
}

std::expected<void, KeyFileError> save_private_key(const fs::path& path, const PrivateKey& key,
                                                   std::string_view comment, Random& rng) {
  std::string text = key.to_openssh(comment, rng);
  WipeOnExit wipe(text);
  const std::string pub_text = key.public_key().to_openssh(comment) + "\n";
  fs::path pub_path = path;
  pub_path += ".pub";

  // Both files are complete on disk before either is renamed, and the private
  // key is renamed last, so no failure leaves `path` changed (the temporaries
  // are removed by ~TempFile). The one failure that leaves anything changed is
  // the final rename failing after the .pub was replaced; the .pub is derived
  // data (ssh-keygen -y rebuilds it), the private key is not.
  auto priv_tmp = TempFile::write(path, text, 0600, rng);
  if (!priv_tmp) return std::unexpected(priv_tmp.error());
  auto pub_tmp = TempFile::write(pub_path, pub_text, 0644, rng);
  if (!pub_tmp) return std::unexpected(pub_tmp.error());
  if (auto r = pub_tmp->commit(pub_path); !r) return r;
  if (auto r = priv_tmp->commit(path); !r) return r;
  if (auto r = sync_directory(directory_of(path)); !r) {
    return std::unexpected(io_failure(path, r.error()));
  }
  return {};
}

std::expected<PrivateKey, KeyFileError> load_or_generate_host_key(const fs::path& path,
                                                                  Random& rng) {
  std::string text;
  auto r = read_file(path, text);
  if (r) return parse_key_file(path, text);
  secure_wipe(text.data(), text.size());
  // Only a missing file means "first start"; any other failure (permissions, a
  // directory) must not be papered over with a fresh key.
  if (r.error().err != ENOENT) return std::unexpected(io_failure(path, r.error()));
  // Two processes starting at once may both generate; the later rename wins
  // and the earlier process serves a key that is no longer on disk until it
  // restarts. Servers start once, so this is not worth a lock file.
  PrivateKey key = PrivateKey::generate_ed25519(rng);
  if (auto saved = save_private_key(path, key, host_key_comment, rng); !saved) {
    return std::unexpected(saved.error());
  }
  return key;
}

}  // namespace parley::crypto

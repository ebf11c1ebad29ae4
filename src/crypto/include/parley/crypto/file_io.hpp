// Whole-file reads and atomic replacement, for the files parley keeps (private
// keys, known_hosts): a failed write never leaves a half-written file.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <expected>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "parley/crypto/random.hpp"

namespace parley::crypto {

/// A failed system call: what was attempted and errno.
struct FileError {
  std::string_view what;
  int err;
  /// "PATH: WHAT: strerror(err)".
  std::string describe(const std::filesystem::path& path) const;
};

/// A whole regular file and its permission bits.
struct FileText {
  std::string text;
  mode_t mode = 0;
};

/// Reads a whole regular file of at most `max_size` bytes (sized once, so no
/// stray copies of what may be secret). Anything else (a device, a directory) is
/// refused, so a wrong path is never read without end.
std::expected<FileText, FileError> read_file(const std::filesystem::path& path, std::size_t max_size);

/// The directory a path's file lives in ("." for a bare name).
std::filesystem::path directory_of(const std::filesystem::path& path);

/// Makes a rename in `dir` durable.
std::expected<void, FileError> sync_directory(const std::filesystem::path& dir);

/// Who a new file should belong to, when not to whoever creates it (a file
/// rewritten for its owner by a privileged process).
struct FileOwner {
  uid_t uid;
  gid_t gid;
};

/// A file written in full and synced under a fresh name beside its final path;
/// removed on destruction unless commit() renamed it into place.
class TempFile {
 public:
  /// Creates the file exclusively (never following or reusing an existing name)
  /// with exactly `mode` (and `owner`, if given), writes `data`, and syncs it.
  /// `rng` names it.
  static std::expected<TempFile, FileError> write(const std::filesystem::path& final_path,
                                                  std::string_view data, mode_t mode, Random& rng,
                                                  std::optional<FileOwner> owner = std::nullopt);
  TempFile(TempFile&& other) noexcept;
  TempFile& operator=(TempFile&&) = delete;
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  ~TempFile();

  /// Atomically replaces `final_path` with this file (POSIX rename).
  std::expected<void, FileError> commit(const std::filesystem::path& final_path);

 private:
  explicit TempFile(std::filesystem::path path) : path_(std::move(path)) {}
  std::filesystem::path path_;
};

/// Replaces `path` with `data` (mode exactly `mode`) in one step: a temporary
/// file written, synced and renamed over it, then the directory synced.
std::expected<void, FileError> replace_file(const std::filesystem::path& path, std::string_view data,
                                            mode_t mode, Random& rng);

}  // namespace parley::crypto

// Files over SFTP for `parley cp`: blocking operations on the sftp subsystem's
// byte stream (one end of a socketpair whose other end is the session channel),
// driven through the sans-I/O client::SftpClient. Reads and writes are pipelined:
// up to `max_in_flight` requests of `chunk` bytes are outstanding at once (as
// OpenSSH's sftp and scp: 64 × 32 KiB), so a long path costs no round trip per
// chunk. Runs on its own thread; nothing in it touches the connection.
#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "parley/client/sftp.hpp"

namespace parley::app {

/// What a transfer reports as it goes: bytes done of the total (when known).
using ProgressFn = std::function<void(std::uint64_t done, std::optional<std::uint64_t> total)>;

class SftpFiles {
 public:
  /// Writes: 32 KiB, which every server takes. Reads: what OpenSSH's sftp-server
  /// gives at most (its limits@openssh.com read length, 255 KiB), as OpenSSH's scp
  /// asks for; a server that gives less answers short, and the rest is asked again.
  static constexpr std::uint32_t chunk = 32 * 1024;
  static constexpr std::uint32_t read_chunk = 255 * 1024;
  static constexpr std::size_t max_in_flight = 64;

  /// `fd` is the stream to the server; it is not closed here.
  explicit SftpFiles(int fd);

  /// INIT and VERSION: the session is usable (version 3 or later).
  std::expected<void, std::string> start();
  std::expected<client::SftpAttrs, std::string> stat(const std::string& path);
  std::expected<void, std::string> mkdir(const std::string& path, std::uint32_t mode);
  std::expected<void, std::string> setstat(const std::string& path, const client::SftpAttrs& attrs);
  /// A directory's entries, "." and ".." left out.
  std::expected<std::vector<client::SftpName>, std::string> list(const std::string& path);
  /// Copies the remote file to `local` (created or truncated; `mode` for a new
  /// file). With `preserve`, the remote mode and times are set on it.
  std::expected<void, std::string> download(const std::string& remote, const std::string& local, bool preserve,
                                            const ProgressFn& progress);
  /// Copies the local file to `remote` (created or truncated with the local
  /// permissions); with `preserve`, the local times too.
  std::expected<void, std::string> upload(const std::string& local, const std::string& remote, bool preserve,
                                          const ProgressFn& progress);
  /// The stream or the protocol failed: nothing more can be done (why).
  const std::string& broken() const { return broken_; }

 private:
  /// Sends what is queued, then waits for the response to `id` (others met on
  /// the way are kept for their own waits).
  std::expected<client::SftpResponse, std::string> wait(std::uint32_t id);
  /// A STATUS answer that must be OK, as an error naming `path` otherwise.
  std::expected<void, std::string> ok(std::uint32_t id, const std::string& path);
  std::expected<std::string, std::string> open(const std::string& path, std::uint32_t pflags,
                                               const client::SftpAttrs& attrs);
  /// One turn of a pipelined transfer: sends what is queued, reads what came,
  /// and hands each response to `take`; one it does not take is kept for wait().
  std::expected<void, std::string> exchange(const std::function<bool(client::SftpResponse&)>& take);
  std::expected<void, std::string> flush();
  /// Reads what the server sent (blocking) into the client; responses are polled after.
  std::expected<void, std::string> read_more();
  std::expected<void, std::string> fail(std::string why);

  int fd_;
  client::SftpClient sftp_;
  std::map<std::uint32_t, client::SftpResponse> kept_;
  std::string broken_;
};

/// The server's STATUS as a line for the user ("No such file or directory", or the
/// server's own message made safe to print).
std::string describe(const client::SftpStatus& status);

}  // namespace parley::app

// Helpers for tests that run real programs (OpenSSH, parleyd): temporary
// directories, child processes with captured output, free ports.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace parley::test {

/// The parleyd binary of this build tree.
std::filesystem::path parleyd_path();

/// A fresh directory under $TMPDIR (or /tmp), removed with its contents on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

/// What a finished command did.
struct CommandResult {
  int exit_code = -1;  // the exit status, or 128 + signal number if killed
  bool timed_out = false;
  std::string out;
  std::string err;
};

/// Runs argv[0] (an absolute path) with stdin from /dev/null, capturing stdout
/// and stderr; kills it (SIGKILL) if it is still running after `timeout`.
CommandResult run_command(const std::vector<std::string>& argv, std::chrono::milliseconds timeout);

/// A 127.0.0.1 TCP port that was free a moment ago (bound to port 0 and released).
std::uint16_t free_port();

/// True if something accepts TCP connections on 127.0.0.1:port.
bool port_open(std::uint16_t port);

/// A blocking TCP socket connected to 127.0.0.1:port, or -1; the caller closes it.
int connect_loopback(std::uint16_t port);

/// The whole file as text ("" if it cannot be read).
std::string read_text_file(const std::filesystem::path& path);
/// Writes `text` to `path`, replacing it; false on failure.
bool write_text_file(const std::filesystem::path& path, const std::string& text);

/// A child process started with posix_spawn, its stdout on a pipe and its stderr
/// appended to a file. Destruction kills it (SIGTERM, then SIGKILL) and reaps it.
class ChildProcess {
 public:
  /// Starts argv[0] (an absolute path). nullopt, with the reason in `error`, on failure.
  static std::optional<ChildProcess> spawn(const std::vector<std::string>& argv,
                                           const std::filesystem::path& stderr_file,
                                           std::string* error = nullptr);
  ChildProcess(ChildProcess&& other) noexcept;
  /// Takes `other`'s process; the one held before is stopped as on destruction.
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ChildProcess(const ChildProcess&) = delete;
  ~ChildProcess();

  pid_t pid() const { return pid_; }
  /// Reads one line (without "\n") from its stdout; nullopt on EOF or timeout.
  std::optional<std::string> read_line(std::chrono::milliseconds timeout);
  /// True while it has not exited.
  bool running();
  /// Sends `sig` and waits up to `timeout` for it to exit; returns its exit code
  /// as in CommandResult, or nullopt if it did not exit.
  std::optional<int> stop(int sig, std::chrono::milliseconds timeout);

 private:
  ChildProcess(pid_t pid, int stdout_fd) : pid_(pid), stdout_fd_(stdout_fd) {}
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  std::string buffered_;
  std::optional<int> exit_code_;
};

/// The "SHA256:..." fingerprint that `ssh-keygen -lf` prints for a key file; "" on failure.
std::string ssh_keygen_fingerprint(const std::filesystem::path& key_file);

/// Generates an unencrypted OpenSSH key with ssh-keygen ("ed25519", "ecdsa" (P-256)
/// or "rsa" (3072 bits)); the error text on failure.
std::optional<std::string> ssh_keygen_generate(const std::string& type,
                                               const std::filesystem::path& path);

}  // namespace parley::test

// Reloading parleyd's configuration on SIGHUP, and telling systemd how the
// server is doing (sd_notify: READY=1, RELOADING=1, STOPPING=1).
//
// A reload builds everything a start builds from the configuration file as it
// is now (host keys, authentication, sessions) and, only when all of it is
// good, swaps it in for connections that open from then on. Established
// connections keep what they opened with. What a running server cannot change
// (its socket, threads, the process split, the pre-authentication bounds
// shared by all connections) makes a reload refused: a restart applies it.
#pragma once

#include <cstddef>
#include <expected>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "config.hpp"
#include "parley/wire/unique_fd.hpp"

namespace parleyd {

/// The key of the first setting `loaded` changes from `running` that only a
/// restart applies ("listen", "limits.max_startups", ...); nullopt when a
/// reload may apply `loaded`.
std::optional<std::string> restart_only_change(const Config& running, const Config& loaded);

/// sd_notify(3) when parleyd runs under systemd (NOTIFY_SOCKET is set);
/// otherwise nothing. `status` is shown by systemctl status.
void notify_ready(std::string_view status);
/// A reload has begun (READY=1 follows, whether it was applied or refused).
void notify_reloading();
void notify_stopping();

/// `text` in a sealed memfd (it can be read, never changed): the configuration
/// text the monitor checked, handed to the network process with SCM_RIGHTS.
std::expected<parley::UniqueFd, std::string> sealed_text(std::string_view text);
/// Everything readable from `fd` from its offset on, at most `limit` bytes.
std::expected<std::string, std::string> read_text(int fd, std::size_t limit);

/// What every new connection is given, swapped whole by a reload (any thread).
template <class T>
class Current {
 public:
  explicit Current(std::shared_ptr<const T> value) : value_(std::move(value)) {}
  std::shared_ptr<const T> get() const {
    std::lock_guard lock(mutex_);
    return value_;
  }
  void set(std::shared_ptr<const T> value) {
    std::lock_guard lock(mutex_);
    value_.swap(value);  // the old one is released outside the lock
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const T> value_;
};

}  // namespace parleyd

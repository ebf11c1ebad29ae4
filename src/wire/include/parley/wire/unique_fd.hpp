// An owned POSIX file descriptor (the base layer's one helper outside encoding,
// shared by the key-file and password-file readers).
#pragma once

#include <unistd.h>

#include <utility>

namespace parley {

class UniqueFd {
 public:
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  int get() const { return fd_; }
  /// Closes now, reporting the result (a deferred write error can surface here).
  int close() { return ::close(std::exchange(fd_, -1)); }

 private:
  int fd_;
};

}  // namespace parley

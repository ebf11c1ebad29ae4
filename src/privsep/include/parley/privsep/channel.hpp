// One end of the socketpair between the monitor and the network process: the
// only OS-facing code of privsep. Each frame travels as one SOCK_SEQPACKET
// datagram, so message boundaries are the kernel's, and descriptors (a
// session's pty, a forwarded socket) ride along by SCM_RIGHTS.
#pragma once

#include <cstddef>
#include <expected>
#include <span>
#include <system_error>
#include <utility>
#include <vector>

#include "parley/wire/bytes.hpp"
#include "parley/wire/unique_fd.hpp"

namespace parley::privsep {

/// Descriptors one frame may carry.
inline constexpr std::size_t max_fds = 4;

class Channel {
 public:
  /// A connected SOCK_SEQPACKET socketpair, close-on-exec, blocking.
  static std::expected<std::pair<Channel, Channel>, std::error_code> pair();
  explicit Channel(UniqueFd fd) : fd_(std::move(fd)) {}

  /// Sends one whole frame and, if any, up to max_fds descriptors (the
  /// caller keeps its own copies). A partial send cannot happen on SEQPACKET.
  std::expected<void, std::error_code> send(BytesView frame, std::span<const int> fds = {});

  struct Outgoing {
    BytesView frame;
    std::span<const int> fds;
  };
  /// Sends `frames` in order with one sendmmsg(): the peer is woken once for
  /// the lot instead of once a frame. Frames without descriptors share a
  /// datagram (each keeps its length field, so receive() splits them again),
  /// which the kernel queues and copies once. Returns how many frames went:
  /// fewer than all only when the socket is full (a non-blocking one) or failed
  /// after the first; an error if none went.
  std::expected<std::size_t, std::error_code> send_batch(std::span<const Outgoing> frames);

  struct Received {
    Bytes frame;
    std::vector<UniqueFd> fds;
  };
  /// Receives one frame and the descriptors that came with it (a datagram's
  /// descriptors come with its first frame; the frames after it in the same
  /// datagram are returned by the next calls, with no system call). A datagram
  /// longer than a frame can be, or one with more than max_fds descriptors,
  /// is an error (EMSGSIZE) and its descriptors are closed; end of stream (the
  /// other process is gone) is an error too (ECONNRESET). With Wait::no, no
  /// frame waiting is the error EAGAIN, whatever the socket's blocking mode.
  enum class Wait { yes, no };
  std::expected<Received, std::error_code> receive(Wait wait = Wait::yes);

  int fd() const { return fd_.get(); }
  /// Whether frames of the last datagram wait in the channel's buffer: receive()
  /// returns them without the socket being readable.
  bool buffered() const { return taken_ < filled_; }

 private:
  /// The next frame of the datagram in buffer_, wiped there once copied out.
  Received next_frame(std::vector<UniqueFd> fds);

  UniqueFd fd_;
  Bytes buffer_;  // receive(): one datagram's room, reused; each frame wiped once taken
  std::size_t filled_ = 0;  // bytes of the last datagram in buffer_
  std::size_t taken_ = 0;   // of which already returned
};

}  // namespace parley::privsep

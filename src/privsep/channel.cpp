// Frames and descriptors over a SOCK_SEQPACKET socketpair (sendmsg/recvmsg
// with SCM_RIGHTS). Every size is bounded before the kernel is asked.
#include "parley/privsep/channel.hpp"

#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

#include "parley/crypto/secret.hpp"
#include "parley/privsep/protocol.hpp"

namespace parley::privsep {
namespace {

std::error_code last_error() { return {errno, std::generic_category()}; }

/// Control space for max_fds descriptors, aligned as cmsghdr wants.
union Control {
  char buf[CMSG_SPACE(sizeof(int) * max_fds)];
  cmsghdr align;
};

/// Points `msg` at `frame` and, if any, `fds` (in `control`); false if either is too large.
bool fill(msghdr& msg, iovec& iov, Control& control, BytesView frame, std::span<const int> fds) {
  if (frame.size() > frame_header + max_frame || fds.size() > max_fds) return false;
  iov = {const_cast<std::uint8_t*>(frame.data()), frame.size()};
  msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (!fds.empty()) {
    msg.msg_control = control.buf;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    cmsghdr* cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(cm), fds.data(), sizeof(int) * fds.size());
  }
  return true;
}

/// Datagrams one sendmmsg() takes, and frames (iovecs) in all of them.
constexpr std::size_t batch_most = 32;
constexpr std::size_t iov_most = 256;
/// A datagram's bytes at most: what receive()'s buffer takes whole.
constexpr std::size_t datagram_most = frame_header + max_frame;

}  // namespace

std::expected<std::pair<Channel, Channel>, std::error_code> Channel::pair() {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0)
    return std::unexpected(last_error());
  return std::pair{Channel(UniqueFd(fds[0])), Channel(UniqueFd(fds[1]))};
}

std::expected<void, std::error_code> Channel::send(BytesView frame, std::span<const int> fds) {
  iovec iov;
  msghdr msg;
  Control control;
  if (!fill(msg, iov, control, frame, fds)) return std::unexpected(std::make_error_code(std::errc::message_size));
  ssize_t n;
  do n = ::sendmsg(fd_.get(), &msg, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  if (n < 0) return std::unexpected(last_error());
  return {};
}

std::expected<std::size_t, std::error_code> Channel::send_batch(std::span<const Outgoing> frames) {
  std::size_t sent = 0;
  while (sent < frames.size()) {
    std::array<mmsghdr, batch_most> msgs;
    std::array<iovec, iov_most> iovs;
    std::array<Control, batch_most> controls;
    std::array<std::size_t, batch_most> frames_in;  // frames in each datagram
    std::size_t count = 0, iov_used = 0, next = sent;
    // Stops before an oversized frame: it fails alone, as the first of a later call.
    while (count < batch_most && next < frames.size() && iov_used < iov_most) {
      const auto& first = frames[next];
      msgs[count] = {};
      if (!fill(msgs[count].msg_hdr, iovs[iov_used], controls[count], first.frame, first.fds)) break;
      // Frames without descriptors ride along in the same datagram while it has room.
      std::size_t n = 1, bytes = first.frame.size();
      while (next + n < frames.size() && iov_used + n < iov_most && frames[next + n].fds.empty() &&
             bytes + frames[next + n].frame.size() <= datagram_most) {
        const BytesView f = frames[next + n].frame;
        iovs[iov_used + n] = {const_cast<std::uint8_t*>(f.data()), f.size()};
        bytes += f.size();
        ++n;
      }
      msgs[count].msg_hdr.msg_iovlen = n;
      frames_in[count] = n;
      iov_used += n;
      next += n;
      ++count;
    }
    if (count == 0) {
      if (sent == 0) return std::unexpected(std::make_error_code(std::errc::message_size));
      return sent;
    }
    int n;
    do n = ::sendmmsg(fd_.get(), msgs.data(), static_cast<unsigned>(count), MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
      if (sent == 0) return std::unexpected(last_error());
      return sent;
    }
    for (int i = 0; i < n; ++i) sent += frames_in[static_cast<std::size_t>(i)];
    if (static_cast<std::size_t>(n) < count) return sent;
  }
  return sent;
}

Channel::Received Channel::next_frame(std::vector<UniqueFd> fds) {
  // A frame is its length field and that many bytes; what does not parse as one
  // is the rest of the datagram, which decode_frame() then refuses.
  const std::size_t left = filled_ - taken_;
  std::size_t take = left;
  if (left >= 4) {
    const std::size_t length = load_be32(buffer_.data() + taken_);
    if (length <= max_frame && 4 + length <= left) take = 4 + length;
  }
  Received out;
  const auto from = buffer_.begin() + static_cast<std::ptrdiff_t>(taken_);
  out.frame.assign(from, from + static_cast<std::ptrdiff_t>(take));
  crypto::secure_wipe(buffer_.data() + taken_, take);  // a frame may hold a password, answers or K
  taken_ += take;
  out.fds = std::move(fds);
  return out;
}

std::expected<Channel::Received, std::error_code> Channel::receive(Wait wait) {
  if (taken_ < filled_) return next_frame({});  // more frames of the last datagram
  Received out;
  // One byte more than the largest frame, so an oversized datagram shows as
  // MSG_TRUNC. The buffer is the channel's, made once: a fresh 64 KiB per frame
  // would cost more than the frame.
  if (buffer_.empty()) buffer_.resize(frame_header + max_frame + 1);
  iovec iov{buffer_.data(), buffer_.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  Control control{};
  msg.msg_control = control.buf;
  msg.msg_controllen = sizeof(control.buf);
  ssize_t n;
  const int flags = MSG_CMSG_CLOEXEC | (wait == Wait::no ? MSG_DONTWAIT : 0);
  do n = ::recvmsg(fd_.get(), &msg, flags);
  while (n < 0 && errno == EINTR);
  if (n < 0) return std::unexpected(last_error());
  // Take ownership of every descriptor first, so an error below closes them.
  for (cmsghdr* cm = CMSG_FIRSTHDR(&msg); cm != nullptr; cm = CMSG_NXTHDR(&msg, cm)) {
    if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) continue;
    const std::size_t count = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (std::size_t i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
      out.fds.emplace_back(fd);
    }
  }
  if (n == 0) return std::unexpected(std::make_error_code(std::errc::connection_reset));
  const auto length = static_cast<std::size_t>(n);
  if ((msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0 || length > frame_header + max_frame ||
      out.fds.size() > max_fds) {
    crypto::secure_wipe(buffer_.data(), std::min(length, buffer_.size()));
    return std::unexpected(std::make_error_code(std::errc::message_size));
  }
  filled_ = length;
  taken_ = 0;
  return next_frame(std::move(out.fds));
}

}  // namespace parley::privsep

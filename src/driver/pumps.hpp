// Internal: the two directions between a stream (pipe, terminal, socket) and a
// channel, shared by the server's channel services and the client's session.
//
// Flow control both ways without buffers that grow: a stream is read only
// while its channel has room, into the per-thread buffer, and written straight
// to the channel; channel input is held only until the stream takes it, and
// the peer's window grows as it does.
//
// `Owner` provides: `connection::ChannelIo* io` (null once the channel is gone),
// `executor()`, and the callbacks output_done(), input_eof(), input_failed().
#pragma once

#include <array>
#include <asio/error.hpp>
#include <asio/post.hpp>
#include <cstdint>
#include <memory>
#include <system_error>

#include "parley/connection/channel_handler.hpp"
#include "parley/wire/bytes.hpp"

namespace parley::driver::detail {

inline std::array<std::uint8_t, 64 * 1024>& io_buffer() {
  thread_local std::array<std::uint8_t, 64 * 1024> buffer;
  return buffer;
}

inline bool would_block(const std::error_code& ec) {
  return ec == asio::error::would_block || ec == asio::error::try_again;
}

// ---- the two directions of a stream ----------------------------------------

/// Stream → channel.
template <class Stream>
struct OutFlow {
  Stream* stream = nullptr;
  std::uint32_t extended = 0;  // 1: the channel's stderr
  bool waiting = false;        // a readability wait is pending
  bool done = true;            // EOF or error seen (or no stream)
  bool drain_only = false;     // stop at the first "nothing to read" (a pty after exit)
};

/// Channel → stream.
template <class Stream>
struct InFlow {
  Stream* stream = nullptr;
  Bytes pending;
  std::size_t offset = 0;
  bool waiting = false;
  bool flush_posted = false;  // a write of what is pending is queued on the connection's thread
  bool eof = false;   // the client sent EOF
  bool done = true;   // no more writing (EOF passed on, error, or no stream)
};

/// Waits until `f`'s stream is ready for `what`, then runs `pump` on it again,
/// unless the wait was cancelled or the channel has gone meanwhile.
template <class Owner, class Flow, class WaitType>
void resume_when_ready(const std::shared_ptr<Owner>& self, Flow& f, WaitType what,
                       void (*pump)(const std::shared_ptr<Owner>&, Flow&)) {
  f.waiting = true;
  f.stream->async_wait(what, [self, &f, pump](std::error_code wec) {
    f.waiting = false;
    if (wec == asio::error::operation_aborted || self->io == nullptr) return;
    pump(self, f);
  });
}

/// Reads `f` into the channel while it has room. Owner provides `io` and
/// output_done(); `self` keeps the owner alive across the waits.
template <class Owner, class Stream>
void pump_out(const std::shared_ptr<Owner>& self, OutFlow<Stream>& f) {
  while (self->io != nullptr && !f.done && !f.waiting) {
    const std::size_t room = self->io->writable();
    if (room == 0) return;  // on_writable() comes back here
    auto& buffer = io_buffer();
    std::error_code ec;
    const std::size_t n = f.stream->read_some(asio::buffer(buffer.data(), std::min(room, buffer.size())), ec);
    if (would_block(ec)) {
      if (f.drain_only) {
        f.done = true;
        self->output_done();
        return;
      }
      resume_when_ready(self, f, Stream::wait_read, &pump_out<Owner, Stream>);
      return;
    }
    if (ec) {  // EOF; EIO from a pty whose last slave closed; any error
      f.done = true;
      self->output_done();
      return;
    }
    if (f.extended != 0)
      self->io->write_stderr(BytesView(buffer.data(), n));
    else
      self->io->write(BytesView(buffer.data(), n));
  }
}

/// Writes what the client sent to the stream, growing the client's window as it goes.
template <class Owner, class Stream>
void pump_in(const std::shared_ptr<Owner>& self, InFlow<Stream>& f) {
  while (!f.done && !f.waiting && f.offset < f.pending.size()) {
    std::error_code ec;
    const std::size_t n = f.stream->write_some(
        asio::buffer(f.pending.data() + f.offset, f.pending.size() - f.offset), ec);
    if (would_block(ec)) {
      resume_when_ready(self, f, Stream::wait_write, &pump_in<Owner, Stream>);
      return;
    }
    if (ec) {  // the reader went away (EPIPE): take and drop what the client sends
      f.done = true;
      if (self->io) self->io->consumed(f.pending.size() - f.offset);
      Bytes().swap(f.pending);
      f.offset = 0;
      self->input_failed();
      return;
    }
    f.offset += n;
    if (self->io) self->io->consumed(n);
  }
  if (f.offset >= f.pending.size()) {
    Bytes().swap(f.pending);  // hold no buffer while idle
    f.offset = 0;
    if (f.eof && !f.done && !f.waiting) {
      f.done = true;
      self->input_eof();
    }
  }
}

/// Client input for `f`: queued (and written when the stream takes it) or, once
/// the stream is gone, dropped with the window given back.
///
/// The write happens after the connection has handled everything it read in
/// this turn, so many packets go out in one write: one wake-up of the program
/// per batch rather than per 32 KiB packet.
template <class Owner, class Stream>
void queue_input(const std::shared_ptr<Owner>& self, InFlow<Stream>& f, BytesView data) {
  if (f.done || f.eof) {
    if (self->io) self->io->consumed(data.size());
    return;
  }
  f.pending.insert(f.pending.end(), data.begin(), data.end());
  if (f.waiting || f.flush_posted) return;
  f.flush_posted = true;
  asio::post(self->executor(), [self, &f] {
    f.flush_posted = false;
    if (self->io == nullptr) return;
    pump_in(self, f);
  });
}


}  // namespace parley::driver::detail

// The SSH connection protocol's channel layer (RFC 4254 §4–5), sans-I/O and the
// same for both roles: channel open / confirmation / failure, window and
// maximum-packet flow control in both directions, data and extended data, EOF
// and close, channel requests and global requests with their replies.
//
// The owner feeds every received connection-layer payload (message numbers
// 80–100) to handle(), drains poll_event(), and sends what the `send` sink is
// given (through the transport). Nothing here reads a clock or touches a socket.
#pragma once

#include <cstdint>
#include <expected>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "parley/transport/error.hpp"
#include "parley/wire/fifo.hpp"
#include "parley/wire/bytes.hpp"

namespace parley::connection {

/// RFC 4254 message numbers.
enum MessageId : std::uint8_t {
  msg_global_request = 80,
  msg_request_success = 81,
  msg_request_failure = 82,
  msg_channel_open = 90,
  msg_channel_open_confirmation = 91,
  msg_channel_open_failure = 92,
  msg_channel_window_adjust = 93,
  msg_channel_data = 94,
  msg_channel_extended_data = 95,
  msg_channel_eof = 96,
  msg_channel_close = 97,
  msg_channel_request = 98,
  msg_channel_success = 99,
  msg_channel_failure = 100,
};

/// RFC 4254 §5.1 reason codes for CHANNEL_OPEN_FAILURE.
enum class OpenFailure : std::uint32_t {
  administratively_prohibited = 1,
  connect_failed = 2,
  unknown_channel_type = 3,
  resource_shortage = 4,
};

/// What the peer did wrong; each ends the connection with a disconnect reason.
enum class ConnectionError : std::uint8_t {
  malformed_message,         // a field missing, too long, or trailing bytes
  unknown_channel,           // a message for a channel number we never gave out (or freed)
  channel_not_open,          // data/request on a channel still waiting for confirmation
  unexpected_open_reply,     // a confirmation/failure for a channel we did not open
  unexpected_reply,          // a success/failure with no request outstanding
  window_exceeded,           // data well past the window we granted (OpenSSH allows 10%)
  window_overflow,           // a WINDOW_ADJUST that takes the window past 2^32-1
};

std::string_view to_string(ConnectionError e);
transport::DisconnectReason disconnect_reason(ConnectionError e);

using ChannelId = std::uint32_t;

struct ChannelLimits {
  /// The receive window we grant each channel, and the largest data packet we accept.
  /// 2 MiB and 32 KiB, as OpenSSH's sessions do.
  std::uint32_t window = 2 * 1024 * 1024;
  std::uint32_t max_packet = 32 * 1024;
  /// Channels open (or opening) at once; opens beyond it fail with resource_shortage.
  std::size_t max_channels = 1024;
};

// ---- events -------------------------------------------------------------

/// The peer asks to open a channel. Answer with accept() or reject(), now or later.
struct OpenRequested {
  ChannelId id;
  std::string type;
  Bytes extra;  // the type-specific rest of CHANNEL_OPEN (unparsed)
};
/// A channel we opened was confirmed.
struct OpenConfirmed {
  ChannelId id;
  Bytes extra;
};
/// A channel we opened was refused; the id is free again.
struct OpenFailed {
  ChannelId id;
  OpenFailure reason;
  std::string description;
};
/// Data from the peer; `extended` is the data type code for extended data (1 =
/// stderr), 0 for ordinary data. Call consumed() once it has been taken so the
/// peer may send more.
struct Data {
  ChannelId id;
  std::uint32_t extended;
  Bytes bytes;
};
struct Eof {
  ChannelId id;
};
/// The channel is gone (both sides sent CLOSE); its id may be reused.
struct Closed {
  ChannelId id;
};
/// A channel request. If want_reply, answer with reply() (in order).
struct Request {
  ChannelId id;
  std::string type;
  bool want_reply;
  Bytes data;
};
struct RequestReply {
  ChannelId id;
  bool success;
};
/// A global request. If want_reply, answer with global_reply() (in order).
struct GlobalRequest {
  std::string name;
  bool want_reply;
  Bytes data;
};
struct GlobalReply {
  bool success;
  Bytes data;
};
/// The peer's window for this channel grew from zero: sending may resume.
struct Writable {
  ChannelId id;
};

using Event = std::variant<OpenRequested, OpenConfirmed, OpenFailed, Data, Eof, Closed, Request,
                           RequestReply, GlobalRequest, GlobalReply, Writable>;

/// The channel table of one connection.
class Channels {
 public:
  /// `send` receives each payload to transmit, in order (the owner hands it to
  /// the transport). It is called from inside the methods below.
  using Sink = std::function<void(BytesView payload)>;

  explicit Channels(Sink send, ChannelLimits limits = {});

  /// True for the message numbers handle() takes (80–82, 90–100); the owner
  /// answers other numbers with UNIMPLEMENTED.
  static bool handles(std::uint8_t message_id);
  /// Processes one received payload whose number handles() accepts. On error
  /// nothing more should be fed: the owner disconnects with disconnect_reason(error).
  std::expected<void, ConnectionError> handle(BytesView payload);
  std::optional<Event> poll_event();
  /// Optional: hands channel data to `sink` from inside handle() instead of
  /// queueing a Data event, saving a copy of every packet. Used only while no
  /// event is queued, so order is kept; `data` is valid only during the call.
  /// The sink may call any method of this object.
  using DataSink = std::function<void(ChannelId id, std::uint32_t extended, BytesView data)>;
  void set_data_sink(DataSink sink) { data_sink_ = std::move(sink); }

  // ---- opening
  /// Opens a channel of `type` with type-specific `extra` fields. Returns
  /// nullopt if max_channels are in use.
  std::optional<ChannelId> open(std::string_view type, BytesView extra = {});
  /// Confirms a channel the peer asked for (after OpenRequested).
  void accept(ChannelId id, BytesView extra = {});
  /// Refuses it; the id is free again.
  void reject(ChannelId id, OpenFailure reason, std::string_view description);

  // ---- data
  /// How many bytes send_data() would take now: the peer's window.
  std::uint32_t send_window(ChannelId id) const;
  /// Sends up to send_window() bytes of `data` in packets no larger than the
  /// peer's maximum; returns how many were sent. `extended` as in Data.
  std::size_t send_data(ChannelId id, BytesView data, std::uint32_t extended = 0);
  /// Marks `n` received bytes as taken; grows the peer's window back to the full
  /// window (in steps of at least half of it, as OpenSSH does, so adjusts stay few).
  void consumed(ChannelId id, std::size_t n);
  void send_eof(ChannelId id);
  /// Sends CLOSE (once). The channel is freed when the peer's CLOSE arrives too.
  void close(ChannelId id);

  // ---- requests
  void request(ChannelId id, std::string_view type, bool want_reply, BytesView data = {});
  /// Answers the oldest request on `id` that wanted a reply.
  void reply(ChannelId id, bool success);
  void global_request(std::string_view name, bool want_reply, BytesView data = {});
  /// Answers the oldest global request that wanted a reply.
  void global_reply(bool success, BytesView data = {});

  // ---- state
  bool is_open(ChannelId id) const;  // confirmed and we have not sent CLOSE
  bool eof_received(ChannelId id) const;
  bool close_sent(ChannelId id) const;
  /// Channels not yet freed (opening, open, or closing).
  std::size_t count() const { return in_use_; }
  const ChannelLimits& limits() const { return limits_; }
  /// The peer's channel type for `id` (as opened), or empty.
  std::string_view type(ChannelId id) const;

 private:
  enum class State : std::uint8_t {
    free,
    opening,         // we sent CHANNEL_OPEN
    awaiting_local,  // the peer asked; we have not answered
    open,
  };
  struct Channel {
    State state = State::free;
    std::uint32_t remote_id = 0;
    std::uint32_t remote_window = 0;
    std::uint32_t remote_max_packet = 0;
    // Our receive window as running totals, so an overrun is never forgotten: the
    // peer may have sent at most granted + 10% (OpenSSH's grace), and what we hold
    // (received - taken) never exceeds the window plus that grace.
    std::uint64_t granted = 0;   // window granted in all: the initial one and every adjust
    std::uint64_t received = 0;  // data bytes received in all
    std::uint64_t taken = 0;     // of those, reported consumed()
    std::uint32_t replies_owed = 0;    // requests of the peer awaiting our reply
    std::uint32_t replies_expected = 0;  // our requests awaiting the peer's reply
    bool eof_sent = false;
    bool eof_received = false;
    bool close_sent = false;
    bool close_wanted = false;  // close() called while still opening
    std::string type;
  };

  std::expected<void, ConnectionError> handle_open(BytesView payload);
  std::expected<void, ConnectionError> handle_open_reply(std::uint8_t id, BytesView payload);
  std::expected<void, ConnectionError> handle_channel_message(std::uint8_t id, BytesView payload);
  std::expected<void, ConnectionError> handle_global(std::uint8_t id, BytesView payload);
  /// CHANNEL_DATA / EXTENDED_DATA (`code` 0 for plain data) after parsing:
  /// window accounting, then the sink or a Data event.
  std::expected<void, ConnectionError> receive_data(ChannelId local, Channel& c, std::uint32_t code,
                                                    BytesView data);
  /// The channel a peer's message names, or an error (unknown, not yet open).
  std::expected<Channel*, ConnectionError> lookup(std::uint32_t local_id);
  const Channel* find(ChannelId id) const;
  Channel* find(ChannelId id);
  ChannelId allocate();
  void release(ChannelId id);
  void emit(BytesView payload) { send_(payload); }

  Sink send_;
  ChannelLimits limits_;
  std::vector<Channel> table_;
  std::size_t in_use_ = 0;
  Fifo<Event> events_;
  DataSink data_sink_;
  std::uint32_t global_replies_owed_ = 0;
  std::uint32_t global_replies_expected_ = 0;
  std::uint32_t next_id_ = 0;        // where the search for a free id starts
  Bytes scratch_;                    // reused to build outgoing messages
};

}  // namespace parley::connection

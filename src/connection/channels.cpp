#include "parley/connection/channels.hpp"

#include <algorithm>

#include "parley/wire/reader.hpp"
#include "parley/wire/writer.hpp"

namespace parley::connection {

std::string_view to_string(ConnectionError e) {
  switch (e) {
    case ConnectionError::malformed_message: return "malformed connection-layer message";
    case ConnectionError::unknown_channel: return "message for a nonexistent channel";
    case ConnectionError::channel_not_open: return "message for a channel that is not open yet";
    case ConnectionError::unexpected_open_reply: return "open reply for a channel we did not open";
    case ConnectionError::unexpected_reply: return "reply to a request we did not make";
    case ConnectionError::window_exceeded: return "peer ignored channel window";
    case ConnectionError::window_overflow: return "window adjust overflows the channel window";
  }
  return "connection-layer error";
}

transport::DisconnectReason disconnect_reason(ConnectionError) {
  // Every one of these is the peer breaking RFC 4254.
  return transport::DisconnectReason::protocol_error;
}

bool Channels::handles(std::uint8_t message_id) {
  return (message_id >= msg_global_request && message_id <= msg_request_failure) ||
         (message_id >= msg_channel_open && message_id <= msg_channel_failure);
}

Channels::Channels(Sink send, ChannelLimits limits) : send_(std::move(send)), limits_(limits) {}

std::optional<Event> Channels::poll_event() {
  if (events_.empty()) return std::nullopt;
  Event e = std::move(events_.front());
  events_.pop_front();
  return e;
}

std::expected<void, ConnectionError> Channels::handle(BytesView payload) {
  if (payload.empty()) return std::unexpected(ConnectionError::malformed_message);
  const std::uint8_t id = payload[0];
  switch (id) {
    case msg_global_request:
    case msg_request_success:
    case msg_request_failure: return handle_global(id, payload);
    case msg_channel_open: return handle_open(payload);
    case msg_channel_open_confirmation:
    case msg_channel_open_failure: return handle_open_reply(id, payload);
    default:
      if (id > msg_channel_open_failure && id <= msg_channel_failure)
        return handle_channel_message(id, payload);
      return std::unexpected(ConnectionError::malformed_message);
  }
}

std::expected<void, ConnectionError> Channels::handle_global(std::uint8_t id, BytesView payload) {
  wire::Reader r(payload);
  r.byte();
  if (id == msg_global_request) {
    std::string name(r.text());
    const bool want_reply = r.boolean();
    BytesView data = r.rest();
    if (!r.ok()) return std::unexpected(ConnectionError::malformed_message);
    if (want_reply) ++global_replies_owed_;
    events_.push_back(GlobalRequest{std::move(name), want_reply, Bytes(data.begin(), data.end())});
    return {};
  }
  BytesView data = r.rest();  // REQUEST_SUCCESS may carry request-specific data
  if (global_replies_expected_ == 0) return std::unexpected(ConnectionError::unexpected_reply);
  --global_replies_expected_;
  events_.push_back(GlobalReply{id == msg_request_success, Bytes(data.begin(), data.end())});
  return {};
}

std::expected<void, ConnectionError> Channels::handle_open(BytesView payload) {
  wire::Reader r(payload);
  r.byte();
  std::string type(r.text());
  const std::uint32_t sender = r.uint32();
  const std::uint32_t window = r.uint32();
  const std::uint32_t max_packet = r.uint32();
  BytesView extra = r.rest();
  if (!r.ok()) return std::unexpected(ConnectionError::malformed_message);
  if (in_use_ >= limits_.max_channels) {
    // Not an offence: refuse this one and keep the connection (OpenSSH does the same
    // when it is out of channels or sessions).
    scratch_.clear();
    wire::Writer(scratch_).byte(msg_channel_open_failure).uint32(sender)
        .uint32(static_cast<std::uint32_t>(OpenFailure::resource_shortage))
        .string(std::string_view("too many channels")).string(std::string_view{});
    emit(scratch_);
    return {};
  }
  const ChannelId local = allocate();
  Channel& c = table_[local];
  c.state = State::awaiting_local;
  c.remote_id = sender;
  c.remote_window = window;
  c.remote_max_packet = max_packet;
  c.type = type;
  events_.push_back(OpenRequested{local, std::move(type), Bytes(extra.begin(), extra.end())});
  return {};
}

std::expected<void, ConnectionError> Channels::handle_open_reply(std::uint8_t id, BytesView payload) {
  wire::Reader r(payload);
  r.byte();
  const std::uint32_t local = r.uint32();
  if (id == msg_channel_open_confirmation) {
    const std::uint32_t sender = r.uint32();
    const std::uint32_t window = r.uint32();
    const std::uint32_t max_packet = r.uint32();
    BytesView extra = r.rest();
    if (!r.ok()) return std::unexpected(ConnectionError::malformed_message);
    Channel* c = find(local);
    if (c == nullptr) return std::unexpected(ConnectionError::unknown_channel);
    if (c->state != State::opening) return std::unexpected(ConnectionError::unexpected_open_reply);
    c->state = State::open;
    c->remote_id = sender;
    c->remote_window = window;
    c->remote_max_packet = max_packet;
    c->granted = limits_.window;
    events_.push_back(OpenConfirmed{local, Bytes(extra.begin(), extra.end())});
    if (c->close_wanted) close(local);
    return {};
  }
  const std::uint32_t reason = r.uint32();
  std::string description(r.utf8(4096));
  r.text();  // language tag
  if (auto done = r.finish(); !done) return std::unexpected(ConnectionError::malformed_message);
  Channel* c = find(local);
  if (c == nullptr) return std::unexpected(ConnectionError::unknown_channel);
  if (c->state != State::opening) return std::unexpected(ConnectionError::unexpected_open_reply);
  release(local);
  events_.push_back(OpenFailed{local, static_cast<OpenFailure>(reason), std::move(description)});
  return {};
}

std::expected<Channels::Channel*, ConnectionError> Channels::lookup(std::uint32_t local_id) {
  Channel* c = find(local_id);
  // A channel the peer asked for but we have not confirmed has no number the peer
  // knows yet: a message naming it is as bad as one naming no channel at all.
  if (c == nullptr || c->state == State::awaiting_local)
    return std::unexpected(ConnectionError::unknown_channel);
  if (c->state == State::opening) return std::unexpected(ConnectionError::channel_not_open);
  return c;
}

std::expected<void, ConnectionError> Channels::handle_channel_message(std::uint8_t id,
                                                                       BytesView payload) {
  wire::Reader r(payload);
  r.byte();
  const std::uint32_t local = r.uint32();
  if (!r.ok()) return std::unexpected(ConnectionError::malformed_message);
  auto found = lookup(local);
  if (!found) return std::unexpected(found.error());
  Channel& c = **found;

  switch (id) {
    case msg_channel_window_adjust: {
      const std::uint32_t add = r.uint32();
      if (auto done = r.finish(); !done) return std::unexpected(ConnectionError::malformed_message);
      if (c.close_sent) return {};
      // OpenSSH treats a window past 2^32-1 as fatal; so do we.
      if (add > UINT32_MAX - c.remote_window) return std::unexpected(ConnectionError::window_overflow);
      const bool was_empty = c.remote_window == 0;
      c.remote_window += add;
      if (was_empty && add > 0) events_.push_back(Writable{local});
      return {};
    }
    case msg_channel_data:
    case msg_channel_extended_data: {
      const std::uint32_t code = id == msg_channel_extended_data ? r.uint32() : 0;
      BytesView data = r.string();
      if (auto done = r.finish(); !done) return std::unexpected(ConnectionError::malformed_message);
      return receive_data(local, c, code, data);
    }
    case msg_channel_eof:
      if (auto done = r.finish(); !done) return std::unexpected(ConnectionError::malformed_message);
      if (c.close_sent || c.eof_received) return {};
      c.eof_received = true;
      events_.push_back(Eof{local});
      return {};
    case msg_channel_close:
      if (auto done = r.finish(); !done) return std::unexpected(ConnectionError::malformed_message);
      // RFC 4254 §5.3: answer a CLOSE with our own unless we already sent one.
      if (!c.close_sent) {
        scratch_.clear();
        wire::Writer(scratch_).byte(msg_channel_close).uint32(c.remote_id);
        emit(scratch_);
      }
      release(local);
      events_.push_back(Closed{local});
      return {};
    case msg_channel_request: {
      std::string type(r.text());
      const bool want_reply = r.boolean();
      BytesView data = r.rest();
      if (!r.ok()) return std::unexpected(ConnectionError::malformed_message);
      if (c.close_sent) return {};
      if (want_reply) ++c.replies_owed;
      events_.push_back(Request{local, std::move(type), want_reply, Bytes(data.begin(), data.end())});
      return {};
    }
    case msg_channel_success:
    case msg_channel_failure:
      if (auto done = r.finish(); !done) return std::unexpected(ConnectionError::malformed_message);
      if (c.close_sent) return {};
      if (c.replies_expected == 0) return std::unexpected(ConnectionError::unexpected_reply);
      --c.replies_expected;
      events_.push_back(RequestReply{local, id == msg_channel_success});
      return {};
    default: return std::unexpected(ConnectionError::malformed_message);
  }
}

std::expected<void, ConnectionError> Channels::receive_data(ChannelId local, Channel& c,
                                                             std::uint32_t code, BytesView data) {
  if (c.close_sent) return {};  // in flight when we closed: dropped
  const auto n = static_cast<std::uint32_t>(data.size());
  // OpenSSH drops a packet larger than the maximum it announced, and data after EOF.
  if (n > limits_.max_packet || c.eof_received) return {};
  // OpenSSH tolerates a peer overrunning the window by up to 10% (it may have
  // counted differently) and disconnects past that. Counted against everything
  // ever granted, so repeated small overruns add up instead of being forgiven.
  c.received += n;
  if (c.received > c.granted + limits_.window / 10)
    return std::unexpected(ConnectionError::window_exceeded);
  if (n == 0) return {};
  // Last use of `c`: the sink may open channels and so move the table.
  if (data_sink_ && events_.empty()) {
    data_sink_(local, code, data);
    return {};
  }
  events_.push_back(Data{local, code, Bytes(data.begin(), data.end())});
  return {};
}

std::optional<ChannelId> Channels::open(std::string_view type, BytesView extra) {
  if (in_use_ >= limits_.max_channels) return std::nullopt;
  const ChannelId local = allocate();
  Channel& c = table_[local];
  c.state = State::opening;
  c.type = type;
  scratch_.clear();
  wire::Writer(scratch_).byte(msg_channel_open).string(type).uint32(local).uint32(limits_.window)
      .uint32(limits_.max_packet);
  scratch_.insert(scratch_.end(), extra.begin(), extra.end());
  emit(scratch_);
  return local;
}

void Channels::accept(ChannelId id, BytesView extra) {
  Channel* c = find(id);
  if (c == nullptr || c->state != State::awaiting_local) return;
  c->state = State::open;
  c->granted = limits_.window;
  scratch_.clear();
  wire::Writer(scratch_).byte(msg_channel_open_confirmation).uint32(c->remote_id).uint32(id)
      .uint32(limits_.window).uint32(limits_.max_packet);
  scratch_.insert(scratch_.end(), extra.begin(), extra.end());
  emit(scratch_);
}

void Channels::reject(ChannelId id, OpenFailure reason, std::string_view description) {
  Channel* c = find(id);
  if (c == nullptr || c->state != State::awaiting_local) return;
  scratch_.clear();
  wire::Writer(scratch_).byte(msg_channel_open_failure).uint32(c->remote_id)
      .uint32(static_cast<std::uint32_t>(reason)).string(description).string(std::string_view{});
  emit(scratch_);
  release(id);
}

std::uint32_t Channels::send_window(ChannelId id) const {
  const Channel* c = find(id);
  if (c == nullptr || c->state != State::open || c->close_sent || c->eof_sent) return 0;
  return c->remote_window;
}

std::size_t Channels::send_data(ChannelId id, BytesView data, std::uint32_t extended) {
  Channel* c = find(id);
  if (c == nullptr || c->state != State::open || c->close_sent || c->eof_sent) return 0;
  const std::size_t total = std::min<std::size_t>(data.size(), c->remote_window);
  // A peer announcing a zero maximum packet still gets its data, one byte at a time.
  const std::size_t chunk_max = std::max<std::uint32_t>(c->remote_max_packet, 1);
  std::size_t sent = 0;
  while (sent < total) {
    const std::size_t n = std::min(chunk_max, total - sent);
    scratch_.clear();
    wire::Writer w(scratch_);
    if (extended != 0)
      w.byte(msg_channel_extended_data).uint32(c->remote_id).uint32(extended);
    else
      w.byte(msg_channel_data).uint32(c->remote_id);
    w.string(data.subspan(sent, n));
    emit(scratch_);
    sent += n;
  }
  c->remote_window -= static_cast<std::uint32_t>(sent);
  return sent;
}

void Channels::consumed(ChannelId id, std::size_t n) {
  Channel* c = find(id);
  if (c == nullptr || c->state != State::open || c->close_sent) return;
  c->taken = std::min<std::uint64_t>(c->taken + n, c->received);
  if (c->eof_received) return;  // nothing more may come: no window to give
  // Give back what makes the peer's window whole again: it may then have at most
  // one window in flight or held by us, whatever it overran before.
  const std::uint64_t limit = c->taken + limits_.window;
  if (limit <= c->granted) return;
  const std::uint64_t grant = std::min<std::uint64_t>(limit - c->granted, UINT32_MAX);
  if (grant < limits_.window / 2) return;
  c->granted += grant;
  scratch_.clear();
  wire::Writer(scratch_).byte(msg_channel_window_adjust).uint32(c->remote_id)
      .uint32(static_cast<std::uint32_t>(grant));
  emit(scratch_);
}

void Channels::send_eof(ChannelId id) {
  Channel* c = find(id);
  if (c == nullptr || c->state != State::open || c->close_sent || c->eof_sent) return;
  c->eof_sent = true;
  scratch_.clear();
  wire::Writer(scratch_).byte(msg_channel_eof).uint32(c->remote_id);
  emit(scratch_);
}

void Channels::close(ChannelId id) {
  Channel* c = find(id);
  if (c == nullptr || c->close_sent) return;
  if (c->state == State::opening) {  // say it once the peer has given us its number
    c->close_wanted = true;
    return;
  }
  if (c->state != State::open) return;
  c->close_sent = true;
  scratch_.clear();
  wire::Writer(scratch_).byte(msg_channel_close).uint32(c->remote_id);
  emit(scratch_);
}

void Channels::request(ChannelId id, std::string_view type, bool want_reply, BytesView data) {
  Channel* c = find(id);
  if (c == nullptr || c->state != State::open || c->close_sent) return;
  if (want_reply) ++c->replies_expected;
  scratch_.clear();
  wire::Writer(scratch_).byte(msg_channel_request).uint32(c->remote_id).string(type).boolean(want_reply);
  scratch_.insert(scratch_.end(), data.begin(), data.end());
  emit(scratch_);
}

void Channels::reply(ChannelId id, bool success) {
  Channel* c = find(id);
  if (c == nullptr || c->state != State::open || c->replies_owed == 0) return;
  --c->replies_owed;
  if (c->close_sent) return;  // nothing may follow our CLOSE
  scratch_.clear();
  wire::Writer(scratch_).byte(success ? msg_channel_success : msg_channel_failure).uint32(c->remote_id);
  emit(scratch_);
}

void Channels::global_request(std::string_view name, bool want_reply, BytesView data) {
  if (want_reply) ++global_replies_expected_;
  scratch_.clear();
  wire::Writer(scratch_).byte(msg_global_request).string(name).boolean(want_reply);
  scratch_.insert(scratch_.end(), data.begin(), data.end());
  emit(scratch_);
}

void Channels::global_reply(bool success, BytesView data) {
  if (global_replies_owed_ == 0) return;
  --global_replies_owed_;
  scratch_.clear();
  scratch_.push_back(success ? msg_request_success : msg_request_failure);
  if (success) scratch_.insert(scratch_.end(), data.begin(), data.end());
  emit(scratch_);
}

bool Channels::is_open(ChannelId id) const {
  const Channel* c = find(id);
  return c != nullptr && c->state == State::open && !c->close_sent;
}

bool Channels::eof_received(ChannelId id) const {
  const Channel* c = find(id);
  return c != nullptr && c->eof_received;
}

bool Channels::close_sent(ChannelId id) const {
  const Channel* c = find(id);
  return c != nullptr && c->close_sent;
}

std::string_view Channels::type(ChannelId id) const {
  const Channel* c = find(id);
  return c == nullptr ? std::string_view{} : std::string_view(c->type);
}

const Channels::Channel* Channels::find(ChannelId id) const {
  if (id >= table_.size() || table_[id].state == State::free) return nullptr;
  return &table_[id];
}

Channels::Channel* Channels::find(ChannelId id) {
  if (id >= table_.size() || table_[id].state == State::free) return nullptr;
  return &table_[id];
}

ChannelId Channels::allocate() {
  // Prefer numbers past the last one handed out: a freed number then tends not to
  // come back at once. (Reuse is legal: the peer may not mention a number after
  // both CLOSEs, and one that does is answered as an unknown channel anyway.)
  for (std::size_t i = 0; i < table_.size(); ++i) {
    const auto id = static_cast<ChannelId>((next_id_ + i) % table_.size());
    if (table_[id].state == State::free) {
      next_id_ = id + 1;
      ++in_use_;
      return id;
    }
  }
  table_.emplace_back();
  ++in_use_;
  next_id_ = static_cast<std::uint32_t>(table_.size());
  return static_cast<ChannelId>(table_.size() - 1);
}

void Channels::release(ChannelId id) {
  table_[id] = Channel{};
  --in_use_;
  // Give back the table's tail so a burst of channels does not hold memory forever.
  while (!table_.empty() && table_.back().state == State::free) table_.pop_back();
  if (table_.empty()) std::vector<Channel>().swap(table_);
}

}  // namespace parley::connection

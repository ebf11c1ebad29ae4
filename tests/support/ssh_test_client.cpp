#include "ssh_test_client.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <type_traits>
#include <variant>

#include "parley/transport/messages.hpp"
#include "parley/wire/reader.hpp"
#include "parley/wire/writer.hpp"

namespace parley::test {
namespace {

using namespace std::chrono_literals;
using connection::ChannelId;
using SteadyClock = std::chrono::steady_clock;

/// Output waiting for the socket beyond which queued channel input is held back.
constexpr std::size_t max_buffered_output = 1024 * 1024;
/// Bytes of queued input handed to Channels per channel per step.
constexpr std::size_t input_per_step = 256 * 1024;
/// Bytes read per step before the loop looks at its deadline again.
constexpr std::size_t read_per_step = 1024 * 1024;

transport::TransportConfig client_config(transport::TransportConfig c) {
  c.role = transport::Role::client;
  if (!c.verify_host_key) c.verify_host_key = transport::danger_accept_any_host_key();
  return c;
}

/// RFC 4252 §7: a "publickey" USERAUTH_REQUEST signed over the session identifier.
Bytes publickey_request(const Bytes& session_id, std::string_view user, const crypto::PrivateKey& key) {
  const auto alg = key.signature_algs().front();
  Bytes request;
  wire::Writer(request)
      .byte(transport::msg::userauth_request)
      .string(user)
      .string(std::string_view("ssh-connection"))
      .string(std::string_view("publickey"))
      .boolean(true)
      .string(crypto::name(alg))
      .string(key.public_key().blob());
  Bytes signed_data;
  wire::Writer(signed_data).string(session_id).raw(request);
  wire::Writer(request).string(key.sign(alg, signed_data));
  return request;
}

int connect_tcp(const std::string& host, std::uint16_t port, std::string& error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  if (int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &found); rc != 0) {
    error = "cannot resolve " + host + ": " + ::gai_strerror(rc);
    return -1;
  }
  int fd = -1;
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0) break;
    error = "cannot connect to " + host + ":" + service + ": " + std::strerror(errno);
    ::close(fd);
    fd = -1;
  }
  ::freeaddrinfo(found);
  if (fd < 0) return -1;
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  const int flags = ::fcntl(fd, F_GETFL);
  ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  return fd;
}

}  // namespace

SshTestClient::SshTestClient(SshClientOptions options)
    : options_(std::move(options)),
      channels_(
          [this](BytesView payload) {
            if (!payload.empty()) ++sent_count[payload[0]];
            if (transport_ && !transport_->closed()) transport_->send(payload);
          },
          options_.limits) {}

SshTestClient::~SshTestClient() { close_socket(); }

// ---- getting in -------------------------------------------------------------

std::string SshTestClient::connect(const std::string& host, std::uint16_t port) {
  if (transport_) return "already connected";
  transport_ = std::make_unique<transport::Transport>(client_config(options_.transport), rng_,
                                                      transport::Clock::now());
  std::string error;
  fd_ = connect_tcp(host, port, error);
  if (fd_ < 0) return error;
  if (!pump_until([&] { return kex_count_ > 0; })) {
    if (disconnected_)
      return "key exchange failed: " + disconnected_->description + " (" +
             std::string(transport::to_string(disconnected_->reason)) + ")";
    return "key exchange did not finish";
  }
  return {};
}

std::string SshTestClient::authenticate(const std::string& user, const crypto::PrivateKey& key) {
  if (!transport_ || kex_count_ == 0) return "not connected";
  user_ = user;
  key_ = &key;
  transport_->request_service("ssh-userauth");
  if (!pump_until([&] { return authenticated_ || auth_failed_; })) {
    if (disconnected_)
      return "authentication ended the connection: " + disconnected_->description + " (" +
             std::string(transport::to_string(disconnected_->reason)) + ")";
    return service_accepted_ ? "no answer to publickey" : "ssh-userauth was not accepted";
  }
  if (auth_failed_) return "publickey refused for " + user;
  return {};
}

std::string SshTestClient::login(const std::string& host, std::uint16_t port, const std::string& user,
                                 const crypto::PrivateKey& key) {
  if (auto error = connect(host, port); !error.empty()) return error;
  return authenticate(user, key);
}

// ---- pumping ----------------------------------------------------------------

bool SshTestClient::closed() const { return !transport_ || transport_->closed(); }

bool SshTestClient::pump_until(const std::function<bool()>& done) {
  return pump_until(done, options_.timeout);
}

bool SshTestClient::pump_until(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  const auto end = SteadyClock::now() + timeout;
  for (;;) {
    if (done()) return true;
    // Over: nothing more can arrive (what we still had to say has been written).
    if (!transport_ || (transport_->closed() && pending_output() == 0 && !transport_->has_output()) ||
        fd_ < 0) {
      close_socket();
      return done();
    }
    const auto now = SteadyClock::now();
    if (now >= end) return false;
    step(std::min<std::chrono::milliseconds>(
        50ms, std::chrono::duration_cast<std::chrono::milliseconds>(end - now) + 1ms));
  }
}

void SshTestClient::pump_for(std::chrono::milliseconds duration) {
  pump_until([] { return false; }, duration);
}

void SshTestClient::step(std::chrono::milliseconds wait) {
  const auto now = transport::Clock::now();
  if (auto deadline = transport_->next_deadline(); deadline && *deadline <= now) {
    transport_->on_time(now);
    dispatch();
  }
  flush_input();
  take_output();
  if (fd_ < 0) return;
  pollfd p{fd_, 0, 0};
  if (!socket_eof_) p.events |= POLLIN;
  if (pending_output() > 0) p.events |= POLLOUT;
  if (p.events == 0) {  // the server closed and we have nothing to say
    if (!transport_->closed()) {
      transport_->peer_closed(transport::Clock::now());
      dispatch();
    }
    close_socket();
    return;
  }
  int timeout_ms = static_cast<int>(wait.count());
  if (auto deadline = transport_->next_deadline()) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*deadline - now);
    timeout_ms = static_cast<int>(std::clamp<std::int64_t>(left.count() + 1, 0, timeout_ms));
  }
  if (::poll(&p, 1, timeout_ms) <= 0) return;
  if (p.revents & (POLLOUT | POLLERR | POLLHUP)) write_socket();
  if (fd_ >= 0 && (p.revents & (POLLIN | POLLERR | POLLHUP))) read_socket();
  take_output();
}

void SshTestClient::flush_input() {
  if (!transport_ || transport_->closed()) return;
  for (auto& [id, rec] : records_) {
    if (pending_output() + transport_->pending_output() >= max_buffered_output) return;
    if (!rec.confirmed || rec.closed || !channels_.is_open(id)) continue;
    if (rec.input_sent < rec.input.size()) {
      const std::size_t n = std::min(rec.input.size() - rec.input_sent, input_per_step);
      rec.input_sent += channels_.send_data(id, BytesView(rec.input).subspan(rec.input_sent, n));
      if (rec.input_sent == rec.input.size()) {
        Bytes().swap(rec.input);
        rec.input_sent = 0;
      }
    }
    if (rec.eof_wanted && !rec.eof_sent && rec.input_sent == rec.input.size()) {
      channels_.send_eof(id);
      rec.eof_sent = true;
    }
  }
}

void SshTestClient::take_output() {
  if (!transport_) return;
  if (out_pos_ == out_.size()) {
    out_.clear();
    out_pos_ = 0;
  }
  transport_->take_output(out_);
}

void SshTestClient::write_socket() {
  while (pending_output() > 0) {
    const ssize_t n = ::send(fd_, out_.data() + out_pos_, pending_output(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      out_pos_ += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
    // The server is gone: what we had to say is lost.
    out_.clear();
    out_pos_ = 0;
    socket_eof_ = true;
    if (!transport_->closed()) {
      transport_->peer_closed(transport::Clock::now());
      dispatch();
    }
    return;
  }
}

void SshTestClient::read_socket() {
  in_buffer_.resize(256 * 1024);
  std::size_t total = 0;
  while (total < read_per_step && !socket_eof_) {
    const ssize_t n = ::recv(fd_, in_buffer_.data(), in_buffer_.size(), MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) break;
    if (n <= 0) {  // EOF or reset
      socket_eof_ = true;
      if (!transport_->closed()) transport_->peer_closed(transport::Clock::now());
      dispatch();
      break;
    }
    total += static_cast<std::size_t>(n);
    if (!transport_->closed()) {
      transport_->receive(BytesView(in_buffer_.data(), static_cast<std::size_t>(n)),
                          transport::Clock::now());
      dispatch();
    }
    // Answers (window adjusts, echoed input) go out as we read, as a real client's would.
    take_output();
    if (pending_output() > 0) write_socket();
  }
}

void SshTestClient::close_socket() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

// ---- events -----------------------------------------------------------------

void SshTestClient::dispatch() {
  while (auto event = transport_->poll_event()) {
    std::visit(
        [&](auto& e) {
          using E = std::decay_t<decltype(e)>;
          if constexpr (std::is_same_v<E, transport::KexDone>) {
            ++kex_count_;
          } else if constexpr (std::is_same_v<E, transport::ServiceAccepted>) {
            service_accepted_ = true;
            if (key_ != nullptr && transport_->session_id())
              transport_->send(publickey_request(*transport_->session_id(), user_, *key_));
          } else if constexpr (std::is_same_v<E, transport::Message>) {
            const std::uint8_t id = e.payload[0];
            if (id >= 50 && id < 80) {
              if (id == transport::msg::userauth_success) authenticated_ = true;
              if (id == transport::msg::userauth_failure) auth_failed_ = true;
              // (a banner, 53, is only shown)
            } else if (connection::Channels::handles(id)) {
              handle_connection_message(e.payload);
            } else {
              other_messages.push_back(std::move(e.payload));
            }
          } else if constexpr (std::is_same_v<E, transport::Disconnected>) {
            disconnected_ = std::move(e);
          }
        },
        *event);
  }
}

void SshTestClient::handle_connection_message(BytesView payload) {
  ++received_count[payload[0]];
  if (on_message && !on_message(payload)) return;
  if (channel_error_ || transport_->closed()) return;
  if (payload[0] == connection::msg_channel_open_confirmation) {
    // Note the server's numbers for raw messages (Channels keeps them private).
    wire::Reader r(payload);
    r.byte();
    const std::uint32_t ours = r.uint32();
    const std::uint32_t theirs = r.uint32();
    const std::uint32_t window = r.uint32();
    const std::uint32_t max_packet = r.uint32();
    if (auto it = records_.find(ours); r.ok() && it != records_.end()) {
      it->second.remote_id = theirs;
      it->second.remote_window = window;
      it->second.remote_max_packet = max_packet;
    }
  }
  if (auto handled = channels_.handle(payload); !handled) {
    channel_error_ = handled.error();
    transport_->disconnect(connection::disconnect_reason(handled.error()),
                           connection::to_string(handled.error()));
    return;
  }
  drain_channel_events();
}

void SshTestClient::drain_channel_events() {
  while (auto event = channels_.poll_event()) {
    std::visit(
        [&](auto& e) {
          using E = std::decay_t<decltype(e)>;
          if constexpr (std::is_same_v<E, connection::OpenRequested>) {
            // Forwarded connections, X11, agents: a test client takes none.
            channels_.reject(e.id, connection::OpenFailure::administratively_prohibited,
                             "not accepted by the test client");
          } else if constexpr (std::is_same_v<E, connection::GlobalRequest>) {
            if (e.want_reply) channels_.global_reply(false);
          } else if constexpr (std::is_same_v<E, connection::GlobalReply>) {
            global_replies.push_back(e.success);
          } else {
            ChannelRecord& rec = records_[e.id];
            if constexpr (std::is_same_v<E, connection::OpenConfirmed>) {
              rec.confirmed = true;
            } else if constexpr (std::is_same_v<E, connection::OpenFailed>) {
              rec.failure = e;
            } else if constexpr (std::is_same_v<E, connection::Data>) {
              const std::size_t n = e.bytes.size();
              if (e.extended == 0) {
                rec.out_bytes += n;
                if (rec.keep_data) rec.out.append(as_chars(e.bytes));
              } else {
                rec.err_bytes += n;
                if (rec.keep_data) rec.err.append(as_chars(e.bytes));
              }
              if (rec.auto_consume)
                channels_.consumed(e.id, n);
              else
                rec.unconsumed += n;
            } else if constexpr (std::is_same_v<E, connection::Eof>) {
              rec.eof = true;
            } else if constexpr (std::is_same_v<E, connection::Closed>) {
              rec.closed = true;
              Bytes().swap(rec.input);
              rec.input_sent = 0;
            } else if constexpr (std::is_same_v<E, connection::Request>) {
              rec.requests.push_back(e.type);
              if (e.type == "exit-status") {
                if (auto s = connection::parse_exit_status(e.data)) rec.exit_status = s->status;
              } else if (e.type == "exit-signal") {
                if (auto s = connection::parse_exit_signal(e.data)) rec.exit_signal = *s;
              }
              if (e.want_reply) channels_.reply(e.id, false);  // keepalive@openssh.com and the like
            } else if constexpr (std::is_same_v<E, connection::RequestReply>) {
              rec.replies.push_back(e.success);
            } else if constexpr (std::is_same_v<E, connection::Writable>) {
              // flush_input() sends what is queued.
            }
          }
        },
        *event);
  }
}

// ---- channels ---------------------------------------------------------------

std::optional<ChannelId> SshTestClient::open(std::string_view type, BytesView extra) {
  if (!transport_ || transport_->closed()) return std::nullopt;
  auto id = channels_.open(type, extra);
  if (!id) return std::nullopt;
  records_[*id] = ChannelRecord{};
  records_[*id].type = std::string(type);
  return id;
}

bool SshTestClient::wait_open(ChannelId id) {
  ChannelRecord& rec = channel(id);
  pump_until([&] { return rec.confirmed || rec.failure.has_value(); });
  return rec.confirmed;
}

std::optional<ChannelId> SshTestClient::open_session() {
  auto id = open("session");
  if (!id || !wait_open(*id)) return std::nullopt;
  return id;
}

std::optional<bool> SshTestClient::request(ChannelId id, std::string_view type, BytesView data) {
  ChannelRecord& rec = channel(id);
  if (!channels_.is_open(id)) return std::nullopt;
  const std::size_t before = rec.replies.size();
  channels_.request(id, type, true, data);
  if (!pump_until([&] { return rec.replies.size() > before || rec.closed; })) return std::nullopt;
  if (rec.replies.size() <= before) return std::nullopt;
  return rec.replies[before];
}

std::optional<bool> SshTestClient::pty(ChannelId id, const connection::PtyRequest& p) {
  return request(id, "pty-req", connection::encode(p));
}

std::optional<bool> SshTestClient::env(ChannelId id, const std::string& name, const std::string& value) {
  return request(id, "env", connection::encode(connection::EnvRequest{name, value}));
}

std::optional<bool> SshTestClient::exec(ChannelId id, const std::string& command) {
  connection::StartRequest r{connection::StartRequest::Kind::exec, command};
  return request(id, "exec", connection::encode(r));
}

std::optional<bool> SshTestClient::shell(ChannelId id) { return request(id, "shell"); }

std::optional<bool> SshTestClient::subsystem(ChannelId id, const std::string& name) {
  connection::StartRequest r{connection::StartRequest::Kind::subsystem, name};
  return request(id, "subsystem", connection::encode(r));
}

void SshTestClient::write(ChannelId id, BytesView data) {
  ChannelRecord& rec = channel(id);
  rec.input.insert(rec.input.end(), data.begin(), data.end());
}

void SshTestClient::write_eof(ChannelId id) { channel(id).eof_wanted = true; }

void SshTestClient::consume(ChannelId id, std::size_t n) {
  ChannelRecord& rec = channel(id);
  n = static_cast<std::size_t>(std::min<std::uint64_t>(n, rec.unconsumed));
  rec.unconsumed -= n;
  channels_.consumed(id, n);
}

void SshTestClient::close(ChannelId id) { channels_.close(id); }

bool SshTestClient::wait_eof(ChannelId id) {
  ChannelRecord& rec = channel(id);
  return pump_until([&] { return rec.eof || rec.closed; }) && rec.eof;
}

bool SshTestClient::wait_closed(ChannelId id) {
  ChannelRecord& rec = channel(id);
  return pump_until([&] { return rec.closed; });
}

ChannelRecord& SshTestClient::channel(ChannelId id) { return records_[id]; }

// ---- connection -------------------------------------------------------------

std::optional<bool> SshTestClient::ping() {
  if (closed()) return std::nullopt;
  const std::size_t before = global_replies.size();
  channels_.global_request("keepalive@openssh.com", true);
  if (!pump_until([&] { return global_replies.size() > before; })) return std::nullopt;
  return global_replies[before];
}

void SshTestClient::disconnect(std::string_view description) {
  if (transport_ && !transport_->closed()) {
    transport_->disconnect(transport::DisconnectReason::by_application, description);
    dispatch();
  }
  // Write the DISCONNECT; pump_until() closes the socket once it is out.
  if (transport_) pump_until([] { return false; }, 2s);
  close_socket();
}

void SshTestClient::send_raw(BytesView payload) {
  if (!payload.empty()) ++sent_count[payload[0]];
  if (transport_ && !transport_->closed()) transport_->send(payload);
}

// ---- exec -------------------------------------------------------------------

ExecResult exec(const std::string& host, std::uint16_t port, const std::string& user,
                const crypto::PrivateKey& key, const std::string& command, std::string_view input,
                const ExecOptions& options) {
  ExecResult result;
  SshTestClient client(options.client);
  auto finish = [&](std::string error) {
    result.error = std::move(error);
    if (result.error.empty() || !client.closed()) client.disconnect();
    result.disconnected = client.disconnected();
    return result;
  };
  if (auto error = client.login(host, port, user, key); !error.empty()) return finish(error);
  auto id = client.open("session");
  if (!id) return finish("cannot open a session: the connection is gone or our table is full");
  if (!client.wait_open(*id)) {
    const auto& failure = client.channel(*id).failure;
    return finish("session refused" + (failure ? ": " + failure->description : std::string()));
  }
  if (options.pty) {
    auto ok = client.pty(*id, *options.pty);
    if (!ok || !*ok) return finish("pty-req refused");
  }
  for (const auto& e : options.env) client.env(*id, e.name, e.value);  // refusals are allowed
  auto started = client.exec(*id, command);
  if (!started || !*started) return finish("exec refused");
  client.write(*id, as_bytes(input));
  if (options.send_eof) client.write_eof(*id);
  const bool closed = client.wait_closed(*id);
  const ChannelRecord& rec = client.channel(*id);
  result.out = rec.out;
  result.err = rec.err;
  result.exit_status = rec.exit_status;
  result.exit_signal = rec.exit_signal;
  return finish(closed ? std::string() : "the channel did not close");
}

std::string describe(const ExecResult& r) {
  std::string s = "error='" + r.error + "' stdout='" + r.out.substr(0, 512) + "' stderr='" +
                  r.err.substr(0, 512) + "'";
  if (r.exit_status) s += " exit-status=" + std::to_string(*r.exit_status);
  if (r.exit_signal) s += " exit-signal=" + r.exit_signal->name;
  if (r.disconnected)
    s += " disconnected: " + std::string(transport::to_string(r.disconnected->error)) + " '" +
         r.disconnected->description + "'";
  return s;
}

}  // namespace parley::test

// A small scripted SSH client for tests: a client Transport and the RFC 4254
// channel core (connection::Channels) pumped over a non-blocking TCP socket on
// the calling thread. It accepts any host key (tests only), logs in with
// "publickey", and then runs whatever the test scripts on its channels: open
// sessions, pty-req/env/exec/shell/subsystem, stdin with EOF, and collects
// stdout, stderr, exit-status and exit-signal per channel.
//
// Nothing runs between calls: the socket is read and written only inside the
// calls that wait (pump_until() and everything built on it), so a test stops
// reading its socket simply by not calling them.
//
// For hostile tests there is a raw level too: send_raw() puts any payload on
// the wire (bypassing Channels' checks), on_message sees every connection-layer
// message before Channels does (and may hold it back), the peer's channel
// numbers and windows from OPEN_CONFIRMATION are recorded, and disconnected()
// says how the server ended the connection (reason code and description).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "parley/connection/channels.hpp"
#include "parley/connection/session.hpp"
#include "parley/crypto/keys.hpp"
#include "parley/crypto/random.hpp"
#include "parley/transport/transport.hpp"
#include "parley/wire/bytes.hpp"

namespace parley::test {

struct SshClientOptions {
  /// Our transport configuration; the role is forced to client, and an empty
  /// verify_host_key is replaced by one that accepts any key.
  transport::TransportConfig transport;
  /// Our side's windows (what we grant the server) and channel limit.
  connection::ChannelLimits limits;
  /// How long each waiting call (connect, authenticate, open, request, ...) may take.
  std::chrono::milliseconds timeout{30000};
};

/// One channel as the client saw it. Kept after the channel closes, until its
/// number is used again by open().
struct ChannelRecord {
  std::string type;
  bool confirmed = false;
  std::optional<connection::OpenFailed> failure;
  /// From the server's OPEN_CONFIRMATION: its number for the channel, the window
  /// it granted us and its maximum packet (for raw messages in hostile tests).
  std::uint32_t remote_id = 0;
  std::uint32_t remote_window = 0;
  std::uint32_t remote_max_packet = 0;

  /// Received data. With keep_data false only the counts grow (for streams too
  /// large to hold). With auto_consume false the window is not given back: call
  /// SshTestClient::consume().
  bool keep_data = true;
  bool auto_consume = true;
  std::string out, err;
  std::uint64_t out_bytes = 0, err_bytes = 0;
  std::uint64_t unconsumed = 0;

  bool eof = false;     // the server sent EOF
  bool closed = false;  // both CLOSEs: the channel is gone
  std::optional<std::uint32_t> exit_status;
  std::optional<connection::ExitSignal> exit_signal;
  std::vector<bool> replies;           // answers to our requests, in order
  std::vector<std::string> requests;   // request types the server sent on it

  // Our input, sent as the server's window allows.
  Bytes input;
  std::size_t input_sent = 0;
  bool eof_wanted = false;  // send EOF once the input is out
  bool eof_sent = false;
};

class SshTestClient {
 public:
  explicit SshTestClient(SshClientOptions options = {});
  ~SshTestClient();
  SshTestClient(const SshTestClient&) = delete;
  SshTestClient& operator=(const SshTestClient&) = delete;

  // ---- getting in; each returns "" on success, else what went wrong
  /// TCP connection and the first key exchange.
  std::string connect(const std::string& host, std::uint16_t port);
  /// "ssh-userauth", then a signed "publickey" request for `user` with `key`.
  std::string authenticate(const std::string& user, const crypto::PrivateKey& key);
  std::string login(const std::string& host, std::uint16_t port, const std::string& user,
                    const crypto::PrivateKey& key);

  // ---- pumping
  /// Moves bytes both ways until `done()` holds (true) or the timeout passes or
  /// the connection is over (false).
  bool pump_until(const std::function<bool()>& done);
  bool pump_until(const std::function<bool()>& done, std::chrono::milliseconds timeout);
  /// Moves bytes both ways for `duration` (or until the connection is over).
  void pump_for(std::chrono::milliseconds duration);

  // ---- channels
  /// Sends CHANNEL_OPEN (nothing waits); nullopt if our channel table is full.
  std::optional<connection::ChannelId> open(std::string_view type, BytesView extra = {});
  /// Waits for the answer to an open; true if it was confirmed.
  bool wait_open(connection::ChannelId id);
  /// open("session") and wait_open(); nullopt if refused (see channel(id).failure).
  std::optional<connection::ChannelId> open_session();
  /// A channel request with want_reply; the answer, or nullopt if none came.
  std::optional<bool> request(connection::ChannelId id, std::string_view type, BytesView data = {});
  std::optional<bool> pty(connection::ChannelId id, const connection::PtyRequest& pty);
  std::optional<bool> env(connection::ChannelId id, const std::string& name, const std::string& value);
  std::optional<bool> exec(connection::ChannelId id, const std::string& command);
  std::optional<bool> shell(connection::ChannelId id);
  std::optional<bool> subsystem(connection::ChannelId id, const std::string& name);
  /// Queues input for the channel; it goes out as the server's window allows.
  void write(connection::ChannelId id, BytesView data);
  void write(connection::ChannelId id, std::string_view text) { write(id, as_bytes(text)); }
  /// EOF once the queued input is out.
  void write_eof(connection::ChannelId id);
  /// Gives back `n` bytes of window for a channel with auto_consume off.
  void consume(connection::ChannelId id, std::size_t n);
  void close(connection::ChannelId id);
  bool wait_eof(connection::ChannelId id);
  bool wait_closed(connection::ChannelId id);
  /// The record of a channel opened through this client.
  ChannelRecord& channel(connection::ChannelId id);
  connection::Channels& channels() { return channels_; }
  transport::Transport& transport() { return *transport_; }

  // ---- connection
  /// A global request "keepalive@openssh.com" with want_reply: the server's
  /// answer (true: REQUEST_SUCCESS), or nullopt if none came (the connection is gone).
  std::optional<bool> ping();
  /// Sends DISCONNECT (by_application), writes what is left and closes the socket.
  void disconnect(std::string_view description = "done");

  // ---- raw access for hostile tests
  /// Sends a connection-layer payload as is (no channel bookkeeping).
  void send_raw(BytesView payload);
  /// Called with every connection-layer message (80-100) from the server before
  /// Channels sees it; return false to hide the message from Channels. It may
  /// call send_raw() (the raw bytes then go out before Channels' answer).
  std::function<bool(BytesView payload)> on_message;
  /// Connection-layer messages by number, as sent (through Channels or raw) and received.
  std::map<std::uint8_t, std::size_t> sent_count, received_count;
  /// Global replies to our requests, in order (true: REQUEST_SUCCESS).
  std::vector<bool> global_replies;
  /// Messages numbered 50+ that are neither userauth nor connection layer.
  std::vector<Bytes> other_messages;

  // ---- outcome
  /// The transport is closed (either side ended the connection, or the socket did).
  bool closed() const;
  /// How the connection ended: the server's DISCONNECT (error peer_disconnected,
  /// its reason and description), ours (local_disconnect), or the socket's.
  const std::optional<transport::Disconnected>& disconnected() const { return disconnected_; }
  /// Set if the server broke RFC 4254 towards us (we then disconnected).
  const std::optional<connection::ConnectionError>& channel_error() const { return channel_error_; }
  bool authenticated() const { return authenticated_; }
  std::uint32_t kex_count() const { return kex_count_; }

 private:
  void step(std::chrono::milliseconds wait);
  void flush_input();
  void take_output();
  void write_socket();
  void read_socket();
  void dispatch();
  void handle_connection_message(BytesView payload);
  void drain_channel_events();
  void close_socket();
  std::size_t pending_output() const { return out_.size() - out_pos_; }

  SshClientOptions options_;
  crypto::SystemRandom rng_;
  std::unique_ptr<transport::Transport> transport_;
  connection::Channels channels_;
  std::map<connection::ChannelId, ChannelRecord> records_;
  int fd_ = -1;
  bool socket_eof_ = false;
  Bytes out_;
  std::size_t out_pos_ = 0;
  Bytes in_buffer_;

  std::string user_;
  const crypto::PrivateKey* key_ = nullptr;
  bool service_accepted_ = false;
  bool authenticated_ = false;
  bool auth_failed_ = false;
  std::uint32_t kex_count_ = 0;
  std::optional<transport::Disconnected> disconnected_;
  std::optional<connection::ConnectionError> channel_error_;
};

// ---- one command, start to end ---------------------------------------------

struct ExecOptions {
  SshClientOptions client;
  std::optional<connection::PtyRequest> pty;
  std::vector<connection::EnvRequest> env;
  /// Send EOF after the input (a command reading stdin to its end needs it).
  bool send_eof = true;
};

struct ExecResult {
  /// "" if the command ran and its channel closed; else which step failed.
  std::string error;
  std::string out, err;
  std::optional<std::uint32_t> exit_status;
  std::optional<connection::ExitSignal> exit_signal;
  /// How the connection ended: normally our own DISCONNECT (local_disconnect)
  /// after the channel closed; the server's if it ended the connection.
  std::optional<transport::Disconnected> disconnected;
};

/// Logs in to host:port as `user` with `key`, runs `command` in a session with
/// `input` on its stdin, and collects what it did.
ExecResult exec(const std::string& host, std::uint16_t port, const std::string& user,
                const crypto::PrivateKey& key, const std::string& command, std::string_view input = {},
                const ExecOptions& options = {});

/// A readable account of a result, for assertion messages.
std::string describe(const ExecResult& r);

}  // namespace parley::test

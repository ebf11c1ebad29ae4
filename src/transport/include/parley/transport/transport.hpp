// The SSH transport layer (RFC 4253) as one sans-I/O state machine serving both
// roles. It takes bytes and the current time and hands back bytes to send,
// events, and its next deadline. It has no socket, thread, clock or global RNG.
//
// Call rules:
//  - After construction, take_output() yields our identification line (and, once
//    the peer's arrives, our KEXINIT). Write everything take_output() returns, in order.
//  - receive() whenever bytes arrive; peer_closed() when the peer closes.
//  - After receive()/peer_closed()/on_time()/send(), drain poll_event() and take_output().
//  - Call on_time(now) when next_deadline() passes.
//  - Once closed() is true, write the remaining output and close the socket.
//  - (Server, delegated key exchange) after kex_answered(), drain as after receive().
#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "parley/wire/fifo.hpp"
#include "parley/crypto/keys.hpp"
#include "parley/crypto/random.hpp"
#include "parley/crypto/secret.hpp"
#include "parley/transport/algorithms.hpp"
#include "parley/transport/error.hpp"
#include "parley/transport/ident.hpp"
#include "parley/transport/packet.hpp"
#include "parley/wire/bytes.hpp"

namespace parley::transport {

using Clock = std::chrono::steady_clock;
using Instant = Clock::time_point;

enum class Role : std::uint8_t { client, server };

/// Decides whether the server's host key is acceptable (client role). Called
/// once, in the first key exchange, after the server proved it holds the key
/// (its signature over the exchange hash verified); returning false ends the
/// connection with host_key_not_verifiable. Re-exchanges must present the same key.
using HostKeyVerifier = std::function<bool(const crypto::PublicKey& key)>;

/// Accepts any host key. Only for tests and explicit user opt-in: it gives no
/// protection against a man in the middle.
HostKeyVerifier danger_accept_any_host_key();

/// (Server) what a key exchange's signer is asked: the transcript of one key
/// exchange up to the client's value, as the wire carried it (RFC 4253 §8).
/// The signer makes the server's value, computes H and signs it.
struct KexSignRequest {
  KexAlg kex{};
  crypto::SignatureAlg host_key_alg{};
  std::string v_c, v_s;  // identification lines without CR LF
  Bytes i_c, i_s;        // the client's and the server's KEXINIT payloads
  Bytes q_c;             // the client's value (an mpint's magnitude for DH)
};

/// (Server) the signer's answer: what KEX_ECDH_REPLY carries and what the keys
/// are derived from. The transport checks H against its own computation.
struct KexAnswer {
  Bytes k_s;              // the host key blob
  Bytes q_s;              // the server's value
  crypto::SecretBytes k;  // the shared secret, as KexKeyPair::derive returns it
  Bytes signature;        // over h, by the host key
  Bytes h;                // the exchange hash
};

/// (Server) hands the transcript of a key exchange to whoever holds the host
/// private keys (privilege separation's monitor); the answer comes back,
/// now or later, through Transport::kex_answered().
using KexDelegate = std::function<void(KexSignRequest request)>;

struct TransportConfig {
  Role role = Role::server;
  /// The software version in our identification line ("SSH-2.0-" + this).
  std::string software_version = "parley_0.1";
  AlgorithmPreferences algorithms;
  /// Server: host keys, loaded once and shared by every connection.
  std::vector<crypto::PrivateKey> host_keys;
  /// Server: host keys whose private halves are held elsewhere (a delegated key
  /// exchange, see Transport::set_kex_delegate): offered in KEXINIT and checked
  /// against the K_S of every answer.
  std::vector<crypto::PublicKey> host_public_keys;
  /// Client: host-key policy. Empty means reject every key (fail closed).
  HostKeyVerifier verify_host_key;
  /// Server: services a client may request.
  std::vector<std::string> services{"ssh-userauth"};
  /// Server: signature algorithms announced in RFC 8308 server-sig-algs.
  std::vector<crypto::SignatureAlg> server_sig_algs{
      crypto::SignatureAlg::ssh_ed25519, crypto::SignatureAlg::ecdsa_sha2_nistp256,
      crypto::SignatureAlg::rsa_sha2_512, crypto::SignatureAlg::rsa_sha2_256};
  /// Rekey after this many bytes in either direction (OpenSSH's default for our ciphers: 1 GiB-ish).
  std::uint64_t rekey_bytes = std::uint64_t{1} << 30;
  /// ... or after this long.
  std::chrono::seconds rekey_interval{3600};
  /// Per-phase timeouts: the peer's identification line, each key exchange.
  std::chrono::seconds ident_timeout{30};
  std::chrono::seconds kex_timeout{60};
  /// Client: lines a server may send before its version line.
  std::size_t max_preversion_lines = 1024;
  /// Messages of the layer above queued while a key exchange is pending (their
  /// bytes plus kex_queue_overhead each): past this, input_paused() is true and
  /// the driver stops reading from the peer until the queue drains, so a peer
  /// that keeps a key exchange open while asking for replies cannot make us
  /// queue them without bound.
  std::size_t max_kex_queue = 4 * 1024 * 1024;
};

/// What one queued message is counted as beyond its bytes (its allocation and
/// bookkeeping), so a flood of tiny replies is bounded too.
inline constexpr std::size_t kex_queue_overhead = 64;

// ---- Events handed to the layer above ----

/// A key exchange finished and new keys are in use in both directions.
struct KexDone {
  bool first;  // the initial key exchange (the session id is now fixed)
  Negotiated algorithms;
};
/// (Server) the client asked for a service we offer; it has been accepted.
struct ServiceStarted {
  std::string service;
};
/// (Client) the server accepted our service request.
struct ServiceAccepted {
  std::string service;
};
/// (Client) RFC 8308 server-sig-algs from the server's EXT_INFO.
struct ServerSigAlgs {
  std::vector<std::string> algorithms;
};
/// A message for the layer above (numbers 50 and up, after the service started).
struct Message {
  Bytes payload;
  std::uint32_t seq;  // for SSH_MSG_UNIMPLEMENTED replies
};
/// The connection is over; no more events follow.
struct Disconnected {
  TransportError error;
  DisconnectReason reason;
  std::string description;  // ours, or the peer's (sanitised) if it sent DISCONNECT
};
using Event = std::variant<KexDone, ServiceStarted, ServiceAccepted, ServerSigAlgs, Message,
                           Disconnected>;

/// One SSH transport connection.
class Transport {
 public:
  /// `rng` must outlive the Transport; `now` starts the identification timer.
  Transport(TransportConfig config, crypto::Random& rng, Instant now);
  /// The same with a configuration shared by many connections (a server's), so
  /// that each connection does not carry its own copy.
  Transport(std::shared_ptr<const TransportConfig> config, crypto::Random& rng, Instant now);
  ~Transport();
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  /// Feeds bytes received from the peer.
  void receive(BytesView data, Instant now);
  /// The peer closed its side.
  void peer_closed(Instant now);
  /// Handles timers; call when next_deadline() has passed (calling early is harmless).
  void on_time(Instant now);
  /// When on_time() must next be called, if ever.
  std::optional<Instant> next_deadline() const;

  /// Sends a message of the layer above (payload starting with its number).
  /// During a key exchange it is queued and sent, in order, once new keys are in use.
  void send(BytesView payload);
  /// The same for a message carrying a secret (a password, keyboard-interactive
  /// answers): padded to a multiple of 64 bytes, as OpenSSH pads them, so its
  /// length does not tell the secret's length.
  void send_secret(BytesView payload);
  /// (Client) requests a service; ServiceAccepted follows.
  void request_service(std::string_view service);
  /// Replies SSH_MSG_UNIMPLEMENTED to a message the layer above does not know.
  void send_unimplemented(std::uint32_t seq);
  /// (Server) Has each key exchange's reply made by `delegate` instead of with
  /// TransportConfig::host_keys: the exchange waits (input_paused() is true, no
  /// packet is processed; the kex timeout still runs) until kex_answered().
  /// Per connection, so a shared configuration serves every connection. Set it
  /// before the first receive().
  void set_kex_delegate(KexDelegate delegate) { kex_delegate_ = std::move(delegate); }
  /// The delegate's answer to the pending request (may be called from inside the
  /// delegate). An answer whose K_S is not one of ours or whose H is not the
  /// exchange hash of this transcript ends the connection (kex_answer_mismatch),
  /// as does an error; an answer when none is awaited is ignored.
  void kex_answered(std::expected<KexAnswer, TransportError> answer);
  /// True while a delegated key exchange waits for kex_answered().
  bool kex_awaiting_answer() const { return kex_awaiting_; }
  /// Starts a key re-exchange now (if none is running).
  void request_rekey(Instant now);
  /// Sends DISCONNECT and closes.
  void disconnect(DisconnectReason reason, std::string_view description);

  /// Moves the bytes to write into `out` (appending). Empty when there is nothing.
  void take_output(Bytes& out);
  bool has_output() const { return !out_.empty(); }
  /// Bytes of upper-layer output not yet taken: encrypted and waiting in the
  /// output buffer, or held back until a key exchange finishes. Layers above use
  /// it to stop producing while the peer is not reading.
  std::size_t pending_output() const { return out_.size() + pending_bytes_; }
  /// True while the messages queued for the end of a key exchange exceed
  /// max_kex_queue: read nothing more from the peer until it is false again
  /// (once our NEWKEYS has gone out, or the connection has closed). Only the
  /// peer's key exchange messages, or the kex timeout, end the pause. It is
  /// also true while a delegated key exchange awaits its answer.
  bool input_paused() const {
    return kex_awaiting_ || pending_bytes_ + pending_.size() * kex_queue_overhead > config_->max_kex_queue;
  }
  std::optional<Event> poll_event();
  /// Optional: hands each upper-layer message (number 50 and up) to `sink` from
  /// inside receive() instead of queueing a Message event, saving a copy of every
  /// packet. Used only while no other event is queued, so the order of events and
  /// messages is kept. `payload` is valid (and writable, for wiping) only during
  /// the call; the sink may call send(), disconnect() and the like, not receive().
  using MessageSink = std::function<void(std::span<std::uint8_t> payload, std::uint32_t seq)>;
  void set_message_sink(MessageSink sink) { message_sink_ = std::move(sink); }

  bool closed() const { return closed_; }
  /// Set once the first key exchange finished.
  const std::optional<Bytes>& session_id() const { return session_id_; }
  const std::optional<std::string>& peer_version() const { return ident_.version(); }
  /// Algorithms of the last completed key exchange.
  const std::optional<Negotiated>& negotiated() const { return negotiated_; }
  Role role() const { return config_->role; }
  /// Number of completed key exchanges.
  std::uint32_t kex_count() const { return kex_count_; }

  struct KexState;  // in-progress key exchange (defined in kex_state.hpp)

 private:
  void process_input(Instant now);
  void handle_packet(std::span<std::uint8_t> payload, std::uint32_t seq, Instant now);
  void handle_kexinit(BytesView payload, std::uint32_t seq, Instant now);
  void handle_kex_init_message(BytesView payload);   // server: ECDH/DH init
  void handle_kex_reply_message(BytesView payload);  // client: ECDH/DH reply
  /// Sends KEX_ECDH_REPLY, derives the keys and sends NEWKEYS.
  void send_kex_reply(BytesView k_s, BytesView q_s, BytesView signature, BytesView k_enc, BytesView h);
  /// Whether `k_s` is the blob of a host key we hold for the negotiated algorithm.
  bool is_our_host_key(BytesView k_s) const;
  void handle_newkeys(Instant now);
  void handle_service_request(BytesView payload);
  void handle_service_accept(BytesView payload);
  void handle_ext_info(BytesView payload);
  void handle_disconnect(BytesView payload);
  void start_kex(Instant now);
  /// Derives both directions' keys from K and H into the KexState (false: failed).
  bool prepare_keys(BytesView k_enc, BytesView h);
  void send_newkeys();
  void send_packet(BytesView payload, bool secret = false);
  void queue_or_send(BytesView payload, bool secret);
  void flush_pending();
  void fail(TransportError error, std::string_view description = {});
  void close_with(TransportError error, DisconnectReason reason, std::string description);
  /// Drops (wiping) the input, queued messages and key-exchange state on close.
  void release_state();
  void check_rekey(Instant now);

  std::shared_ptr<const TransportConfig> config_;
  crypto::Random& rng_;
  IdentReader ident_;
  std::string our_version_;
  Bytes in_;
  std::size_t in_pos_ = 0;
  Bytes out_;
  PacketDecoder decoder_;
  PacketEncoder encoder_;
  std::unique_ptr<KexState> kex_;
  struct Pending {
    Bytes payload;
    bool secret;
  };
  Fifo<Pending> pending_;  // upper-layer messages held back during kex
  std::size_t pending_bytes_ = 0;  // their total size
  Fifo<Event> events_;
  MessageSink message_sink_;
  KexDelegate kex_delegate_;
  bool kex_awaiting_ = false;  // a delegated key exchange waits for kex_answered()
  bool processing_ = false;    // inside process_input()
  std::optional<Bytes> session_id_;
  Bytes server_host_key_;  // (client) the blob verified in the first key exchange
  std::optional<Negotiated> negotiated_;
  std::optional<Instant> ident_deadline_;
  Instant last_kex_done_;
  Instant now_;  // the latest time we were given
  bool closed_ = false;
  bool strict_kex_ = false;
  bool service_started_ = false;
  bool ext_info_sent_ = false;
  std::uint32_t kex_count_ = 0;
};

}  // namespace parley::transport

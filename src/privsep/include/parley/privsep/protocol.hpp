// The privilege-separation protocol between parleyd's network process (which
// parses every network byte, unprivileged) and its root monitor (which holds
// the host keys and makes every authentication decision). Each message is one
// struct with one encoder and one decoder; a frame is
//
//   uint32 length (of what follows) || byte MsgType || body
//
// with every field bounded, so a frame is at most max_frame bytes after its
// length. Requests (network -> monitor) carry the connection id and, where a
// reply is due, a request id the reply repeats. The monitor never sees raw SSH
// messages: the network process decodes them and sends the typed fields.
#pragma once

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "parley/crypto/secret.hpp"
#include "parley/userauth/messages.hpp"
#include "parley/wire/bytes.hpp"

namespace parley::privsep {

/// Bounds of the protocol; a decoder refuses anything over them.
inline constexpr std::size_t max_frame = 64 * 1024;  // length field: type byte + body
inline constexpr std::size_t frame_header = 5;       // uint32 length + type byte
inline constexpr std::size_t max_name = 256;         // user, service, method, algorithm, address
inline constexpr std::size_t max_version = 255;      // an identification line (RFC 4253 §4.2)
inline constexpr std::size_t max_kexinit = 16 * 1024;
inline constexpr std::size_t max_kex_value = 2048;   // Q_C, Q_S (the hybrid's C_INIT is 1216)
inline constexpr std::size_t max_shared_secret = 1024;  // K (a 4096-bit DH group's is 512)
inline constexpr std::size_t max_key = 16 * 1024;    // a key blob, a signature
inline constexpr std::size_t max_hash = 64;          // an exchange hash (SHA-512 at most)
inline constexpr std::size_t max_secret = 4096;      // a password, an answer
inline constexpr std::size_t max_answers = 32;       // answers in one INFO_RESPONSE
inline constexpr std::size_t max_packets = 8;        // SSH messages in one AuthReply
inline constexpr std::size_t max_packet = 32 * 1024;
inline constexpr std::size_t max_text = 1024;        // a disconnect description
inline constexpr std::size_t max_command = 8 * 1024; // an exec command line, a subsystem name
inline constexpr std::size_t max_modes = 1024;       // RFC 4254 §8 encoded terminal modes
inline constexpr std::size_t max_env = 64;           // client variables in one SessionSpawn
inline constexpr std::size_t max_env_value = 512;    // one variable's value
inline constexpr std::size_t max_netblock = 48;      // "192.0.2.0/24"; an IPv6 one is at most 43
inline constexpr std::size_t max_shared_penalties = 1024;  // 1024 of at most 60 bytes fit a frame
inline constexpr std::uint32_t max_penalty_seconds = 30 * 24 * 3600;
inline constexpr std::uint64_t max_unix_time = std::uint64_t{1} << 40;  // year 36812

enum class MsgType : std::uint8_t {
  // network -> monitor
  connection_opened = 1,
  connection_closed,
  kex_sign,
  auth_request,
  info_response,
  session_start,
  session_spawn,
  session_signal,
  forward_connect,
  forward_listen,
  penalty_accrued,
  // monitor -> network
  kex_signed = 64,
  auth_reply,
  session_granted,
  refused,
  session_spawned,
  session_exited,
  forward_connected,
  forward_listening,
  host_keys,
  reconfigure,
  shared_penalties,
};

/// What was wrong with a frame.
enum class ProtocolError : std::uint8_t {
  truncated,       // shorter than its header, its length field, or a field
  oversized,       // its length field is over max_frame (refused before reading on)
  length_mismatch, // its length field does not match the bytes received
  unknown_type,    // a MsgType this protocol does not have
  wrong_type,      // a valid type, but not the message being decoded
  trailing_bytes,  // bytes after the last field
  field_too_long,  // a field over its bound
  not_utf8,        // a text field that is not UTF-8 without NUL
  bad_value,       // an enum or count out of range
};

std::string_view to_string(ProtocolError e);

/// A frame split into its type and body (a view into the input).
struct Frame {
  MsgType type{};
  BytesView body;
};

/// Splits exactly one whole frame (one SOCK_SEQPACKET datagram): the length
/// field must match the size and be at most max_frame, and the type be known.
std::expected<Frame, ProtocolError> decode_frame(BytesView frame);

/// What every request and reply starts with: its type, the connection it is
/// about and the request id a reply answers.
template <MsgType Type>
struct Addressed {
  static constexpr MsgType type = Type;
  std::uint64_t conn = 0;
  std::uint64_t req = 0;
};

// ---- network -> monitor

/// A client connected; the monitor starts its state for `conn`. No reply unless refused.
struct ConnectionOpened {
  static constexpr MsgType type = MsgType::connection_opened;
  std::uint64_t conn = 0;
  std::string address;  // the peer's IP address, as text
  std::uint16_t port = 0;
  Bytes encode() const;
  static std::expected<ConnectionOpened, ProtocolError> decode(BytesView frame);
};

/// The connection ended; the monitor forgets it. No reply unless refused.
struct ConnectionClosed {
  static constexpr MsgType type = MsgType::connection_closed;
  std::uint64_t conn = 0;
  Bytes encode() const;
  static std::expected<ConnectionClosed, ProtocolError> decode(BytesView frame);
};

/// The server's side of one key exchange up to the client's value: the
/// monitor makes the server's ephemeral value itself, computes the exchange
/// hash H from this transcript and signs H. Nothing else can be signed.
struct KexSign : Addressed<MsgType::kex_sign> {
  std::string kex;           // the negotiated method ("curve25519-sha256")
  std::string host_key_alg;  // the negotiated host key algorithm ("ssh-ed25519")
  std::string v_c, v_s;      // identification lines without CR LF
  Bytes i_c, i_s;            // the client's and the server's KEXINIT payloads
  Bytes q_c;                 // the client's value (an mpint's magnitude for DH)
  Bytes encode() const;
  static std::expected<KexSign, ProtocolError> decode(BytesView frame);
};

/// One SSH_MSG_USERAUTH_REQUEST, as the network process decoded it.
struct AuthRequest : Addressed<MsgType::auth_request> {
  userauth::UserauthRequest request;  // a password in it is a secret
  /// The frame holds any password: the caller wipes it once sent.
  Bytes encode() const;
  static std::expected<AuthRequest, ProtocolError> decode(BytesView frame);
};

/// One SSH_MSG_USERAUTH_INFO_RESPONSE's answers (RFC 4256 §3.4).
struct InfoResponse : Addressed<MsgType::info_response> {
  std::vector<crypto::SecretBytes> answers;  // secrets: never logged
  /// The frame holds the answers: the caller wipes it once sent.
  Bytes encode() const;
  static std::expected<InfoResponse, ProtocolError> decode(BytesView frame);
};

/// A request or reply about one user's session: SessionStart asks for it once
/// the connection's authentication is complete, SessionGranted says it may start.
template <MsgType Type>
struct UserSession : Addressed<Type> {
  std::string user;
  Bytes encode() const;
  static std::expected<UserSession, ProtocolError> decode(BytesView frame);
};
using SessionStart = UserSession<MsgType::session_start>;

/// What a session runs (RFC 4254 §6.5).
enum class SessionKind : std::uint8_t { shell = 1, exec, subsystem };

/// A pseudo-terminal as the client asked for it (RFC 4254 §6.2).
struct Terminal {
  std::string term;
  std::uint32_t cols = 80, rows = 24, width_px = 0, height_px = 0;
  Bytes modes;  // at most max_modes
};

struct EnvVar {
  std::string name;   // at most max_name
  std::string value;  // at most max_env_value
};

/// Start the program of a session channel, as the connection's authenticated
/// user, once its SessionStart was granted. Answered by SessionSpawned with
/// the streams' descriptors (a terminal's master, or stdin, stdout, stderr),
/// or Refused. `local_*` is the server's end of the connection (SSH_CONNECTION).
struct SessionSpawn : Addressed<MsgType::session_spawn> {
  std::string user;  // must be the user the monitor authenticated
  SessionKind kind = SessionKind::shell;
  std::string command;  // exec: the command line; subsystem: its name
  std::optional<Terminal> pty;
  std::vector<EnvVar> env;  // at most max_env, already through the allow-list
  std::string local_address;
  std::uint16_t local_port = 0;
  Bytes encode() const;
  static std::expected<SessionSpawn, ProtocolError> decode(BytesView frame);
};

/// What a message about one running session program starts with: the
/// connection and the handle SessionSpawned gave the program.
template <MsgType Type>
struct AboutSession {
  static constexpr MsgType type = Type;
  std::uint64_t conn = 0;
  std::uint64_t handle = 0;
};

/// Send a signal (its RFC 4254 §6.10 name, "TERM") to a session's program. No
/// reply unless refused.
struct SessionSignal : AboutSession<MsgType::session_signal> {
  std::string signal;
  Bytes encode() const;
  static std::expected<SessionSignal, ProtocolError> decode(BytesView frame);
};

/// A TCP destination (ForwardConnect) or bind address (ForwardListen, "" or
/// "*" for every address) and port.
template <MsgType Type>
struct ForwardTarget : Addressed<Type> {
  std::string host;
  std::uint32_t port = 0;  // at most 65535
  Bytes encode() const;
  static std::expected<ForwardTarget, ProtocolError> decode(BytesView frame);
};
/// direct-tcpip: connect to host:port if the channel policy permits it;
/// answered by ForwardConnected with the connected socket, or Refused.
using ForwardConnect = ForwardTarget<MsgType::forward_connect>;
/// tcpip-forward: listen at host:port if the policy permits it; answered by
/// ForwardListening with the listening socket, or Refused.
using ForwardListen = ForwardTarget<MsgType::forward_listen>;

// ---- monitor -> network

/// The answer to KexSign: what the network process sends in KEX_ECDH_REPLY
/// (K_S, Q_S, the signature) and what it derives keys from (K, H).
struct KexSigned : Addressed<MsgType::kex_signed> {
  Bytes k_s;                 // the host key blob
  Bytes q_s;                 // the server's value (KexResponse::reply)
  crypto::SecretBytes k;     // the shared secret, as KexKeyPair::derive returns it
  Bytes signature;           // over h, by the host key
  Bytes h;                   // the exchange hash
  /// The first key exchange only: what the monitor answers a well-formed
  /// "none" request for "ssh-connection" that is the connection's first
  /// (a BANNER if configured, then USERAUTH_FAILURE), so the network process
  /// answers it at once and tells the monitor later. At most max_packets.
  std::vector<Bytes> none_reply;
  /// The frame holds K: the caller wipes it once sent.
  Bytes encode() const;
  static std::expected<KexSigned, ProtocolError> decode(BytesView frame);
};

/// Where a connection's authentication stands after an AuthReply.
enum class AuthStatus : std::uint8_t {
  in_progress = 1,  // send the packets; more requests may follow
  success,          // the last packet is USERAUTH_SUCCESS: `user` is in
  disconnect,       // end the connection with `reason` and `description`
};

/// SSH messages to send to the client for one request (USERAUTH_FAILURE,
/// SUCCESS, PK_OK, INFO_REQUEST, a BANNER before them), or the end of the
/// exchange. req is the request it answers, 0 for what the monitor ends on
/// its own (the login grace time).
struct AuthReply : Addressed<MsgType::auth_reply> {
  std::vector<Bytes> packets;
  AuthStatus status = AuthStatus::in_progress;
  std::string user;          // success
  std::string service;       // success
  std::uint32_t reason = 0;  // disconnect: an SSH disconnect reason code
  std::string description;   // disconnect
  Bytes encode() const;
  static std::expected<AuthReply, ProtocolError> decode(BytesView frame);
};

using SessionGranted = UserSession<MsgType::session_granted>;

/// The program of a SessionSpawn started: its streams' descriptors ride with
/// this frame (one: a terminal's master; three: stdin, stdout, stderr).
struct SessionSpawned : Addressed<MsgType::session_spawned> {
  std::uint64_t handle = 0;  // names the session in SessionSignal and SessionExited
  Bytes encode() const;
  static std::expected<SessionSpawned, ProtocolError> decode(BytesView frame);
};

/// A session's program has exited (sent by the monitor on its own).
struct SessionExited : AboutSession<MsgType::session_exited> {
  bool signalled = false;
  std::uint32_t code = 0;  // the exit status, or the signal's number
  bool core_dumped = false;
  Bytes encode() const;
  static std::expected<SessionExited, ProtocolError> decode(BytesView frame);
};

/// ForwardConnect's answer: the connected socket rides with this frame.
struct ForwardConnected : Addressed<MsgType::forward_connected> {
  Bytes encode() const;
  static std::expected<ForwardConnected, ProtocolError> decode(BytesView frame);
};

/// ForwardListen's answer: the listening socket rides with this frame.
struct ForwardListening : Addressed<MsgType::forward_listening> {
  std::uint16_t port = 0;  // the port bound (the one asked for, or the kernel's choice for 0)
  Bytes encode() const;
  static std::expected<ForwardListening, ProtocolError> decode(BytesView frame);
};

/// Why the monitor refused a request.
enum class RefusalReason : std::uint8_t {
  malformed_frame = 1,     // the frame did not decode (conn and req are 0)
  not_a_request,           // a monitor -> network message was sent to the monitor
  unknown_connection,      // no ConnectionOpened for this conn
  connection_exists,       // a second ConnectionOpened for a live conn
  too_many_connections,    // over MonitorLimits::max_connections
  too_many_outstanding,    // over MonitorLimits::max_outstanding for this connection
  duplicate_request,       // a request id already outstanding on this connection
  unknown_kex,             // a key-exchange method parley does not have
  host_key_not_held,       // no host key for that algorithm
  bad_kexinit,             // I_C or I_S is not a KEXINIT, or does not offer the method
  wrong_server_version,    // V_S is not the server's identification line
  bad_client_version,      // V_C is not an SSH-2.0 identification line
  invalid_kex_value,       // Q_C was refused by the key exchange
  session_id_replayed,     // H is the session id of a connection already seen
  no_key_exchange,         // authentication before any exchange hash was signed
  authentication_over,     // a request after the chain completed or the connection ended
  not_authenticated,       // SessionStart before the chain completed
  wrong_user,              // SessionStart for another user than the one authenticated
  session_already_started, // a second SessionStart for one authentication
  session_not_granted,     // SessionSpawn before a SessionStart was granted
  too_many_sessions,       // over MonitorLimits::max_sessions programs running for this connection
  unknown_session,         // SessionSignal for a handle this connection was not given
  unknown_signal,          // a signal name RFC 4254 §6.10 does not list
  forward_not_permitted,   // forwarding the channel policy refuses
  privileged_port,         // a listen below 1024 for a user the policy does not allow it
  spawn_failed,            // the program could not be started
  connect_failed,          // the destination could not be reached in time
  listen_failed,           // the address could not be bound
};

std::string_view to_string(RefusalReason r);

struct Refused : Addressed<MsgType::refused> {
  RefusalReason reason = RefusalReason::malformed_frame;
  Bytes encode() const;
  static std::expected<Refused, ProtocolError> decode(BytesView frame);
};

/// The first frame of all, monitor -> network: the public halves of the host
/// keys, which the network process offers and sends as K_S (it never holds the
/// private halves). conn and req are 0.
struct HostKeys : Addressed<MsgType::host_keys> {
  std::vector<Bytes> blobs;  // SSH public key blobs, at most max_host_keys
  Bytes encode() const;
  static std::expected<HostKeys, ProtocolError> decode(BytesView frame);
};
inline constexpr std::size_t max_host_keys = 8;

/// Monitor -> network, after a reload (SIGHUP) the monitor accepted: the public
/// halves of the new host keys, and, when `with_settings`, one descriptor (a
/// sealed memfd) holding the text of the configuration file the monitor checked,
/// which the network process reads and merges with its command line as at start.
/// New connections follow it; established ones keep what they started with.
/// conn and req are 0.
struct Reconfigure : Addressed<MsgType::reconfigure> {
  std::uint64_t generation = 0;  // 1 for the first reload, for the log
  std::vector<Bytes> blobs;      // as HostKeys
  bool with_settings = false;    // a descriptor with the configuration text comes along
  Bytes encode() const;
  static std::expected<Reconfigure, ProtocolError> decode(BytesView frame);
};

/// Network -> monitor, unasked: a per-source penalty accrued in the network
/// process's SourceLimiter, for the shared-state backend (docs/scale-out.md),
/// which only the monitor reaches. No reply. conn and req are 0. The decoder
/// takes only a netblock's characters (hex digits, '.', ':', '/'); the monitor
/// parses it again as an address block before it names a key.
struct PenaltyAccrued : Addressed<MsgType::penalty_accrued> {
  std::string netblock;       // "192.0.2.0/24", "2001:db8::/64"; at most max_netblock
  std::uint32_t seconds = 0;  // added; 1 .. max_penalty_seconds
  std::uint32_t max = 0;      // the policy's cap; 1 .. max_penalty_seconds
  Bytes encode() const;
  static std::expected<PenaltyAccrued, ProtocolError> decode(BytesView frame);
};

/// Monitor -> network, unasked, when the backend's penalties changed: every
/// penalty not yet ended (its end in Unix seconds), for SourceLimiter::import.
/// conn and req are 0.
struct SharedPenalties : Addressed<MsgType::shared_penalties> {
  struct Entry {
    std::string netblock;   // as PenaltyAccrued's
    std::uint64_t until = 0;  // 1 .. max_unix_time
    friend bool operator==(const Entry&, const Entry&) = default;
  };
  std::vector<Entry> penalties;  // at most max_shared_penalties
  Bytes encode() const;
  static std::expected<SharedPenalties, ProtocolError> decode(BytesView frame);
};

using Request = std::variant<ConnectionOpened, ConnectionClosed, KexSign, AuthRequest, InfoResponse,
                             SessionStart, SessionSpawn, SessionSignal, ForwardConnect, ForwardListen,
                             PenaltyAccrued>;
using Reply = std::variant<KexSigned, AuthReply, SessionGranted, Refused, SessionSpawned, SessionExited,
                           ForwardConnected, ForwardListening, HostKeys, Reconfigure,
                           SharedPenalties>;

/// Decodes a frame the monitor received; a reply type is unknown_type here.
std::expected<Request, ProtocolError> decode_request(BytesView frame);
/// Decodes a frame the network process received; a request type is unknown_type here.
std::expected<Reply, ProtocolError> decode_reply(BytesView frame);

}  // namespace parley::privsep

// The client side of the ssh-agent protocol (draft-miller-ssh-agent), sans-I/O:
// requests are encoded into frames to write to the agent's socket, and the
// agent's bytes are taken apart here, bounded as if the agent were hostile (a
// 256 KiB message, 1000 identities). Nothing here reads or writes a socket.
//
//   Bytes out = agent::request_identities();          // write it
//   agent::Deframer in;                               // read at most in.wanted() bytes
//   while (...) { in.feed(bytes); if (auto m = in.take()) ...; }
//   auto ids = agent::parse_identities_answer(*m);
#pragma once

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "parley/crypto/keys.hpp"
#include "parley/wire/bytes.hpp"

namespace parley::client::agent {

// Message numbers (draft-miller-ssh-agent §5.1) and sign flags (§5.3).
enum class AgentMsg : std::uint8_t {
  failure = 5,              // SSH_AGENT_FAILURE
  request_identities = 11,  // SSH_AGENTC_REQUEST_IDENTITIES
  identities_answer = 12,   // SSH_AGENT_IDENTITIES_ANSWER
  sign_request = 13,        // SSH_AGENTC_SIGN_REQUEST
  sign_response = 14,       // SSH_AGENT_SIGN_RESPONSE
};
inline constexpr std::uint32_t flag_rsa_sha2_256 = 2;         // SSH_AGENT_RSA_SHA2_256
inline constexpr std::uint32_t flag_rsa_sha2_512 = 4;         // SSH_AGENT_RSA_SHA2_512

/// The largest message we accept from an agent (OpenSSH's agent uses the same
/// bound), and the most identities in one answer.
inline constexpr std::size_t max_message = 256 * 1024;
inline constexpr std::size_t max_identities = 1000;

/// What the agent did wrong (or refused).
enum class AgentError : std::uint8_t {
  message_too_long,     // a frame length over max_message
  empty_message,        // a frame of length 0 (no message type)
  malformed_message,    // truncated fields or trailing bytes
  too_many_identities,  // an identities answer with more than max_identities keys
  unexpected_message,   // a message type that does not answer our request
  refused,              // SSH_AGENT_FAILURE: the agent declined
  overfed,              // the caller gave the deframer more than it wanted (a caller bug)
};

std::string_view to_string(AgentError e);

/// One key the agent holds: its SSH public key blob and the agent's comment
/// (arbitrary bytes: make it printable before showing it). `key` is set when
/// parley can use the key type (certificates, DSA, security keys and RSA under
/// 2048 bits are listed but have no `key`).
struct Identity {
  Bytes blob;
  std::string comment;
  std::optional<crypto::PublicKey> key;
};

/// A frame: uint32 length + payload.
Bytes frame(BytesView payload);

/// The framed SSH_AGENTC_REQUEST_IDENTITIES message.
Bytes request_identities();

/// The framed SSH_AGENTC_SIGN_REQUEST asking the key `key_blob` to sign `data`
/// with `alg` (the RSA flags select rsa-sha2-256 / rsa-sha2-512). The frame
/// holds the data to sign: wipe it once written.
Bytes sign_request(BytesView key_blob, BytesView data, crypto::SignatureAlg alg);

/// The flags a sign request for `alg` carries.
std::uint32_t sign_flags(crypto::SignatureAlg alg);

/// SSH_AGENT_IDENTITIES_ANSWER (the payload of one frame, without its length).
std::expected<std::vector<Identity>, AgentError> parse_identities_answer(BytesView message);

/// SSH_AGENT_SIGN_RESPONSE: the signature blob (string alg-name, string sig),
/// exactly as the agent sent it. SSH_AGENT_FAILURE gives AgentError::refused.
std::expected<Bytes, AgentError> parse_sign_response(BytesView message);

/// Splits the agent's byte stream into messages. It never holds more than one
/// frame: wanted() says how many bytes it can take now (read at most that many),
/// and a length over max_message is refused as soon as its 4 bytes arrive.
class Deframer {
 public:
  /// Bytes it can take now: what is left of the length, or of the message.
  std::size_t wanted() const;
  /// Takes bytes (at most wanted()); an error is final.
  std::expected<void, AgentError> feed(BytesView bytes);
  /// The complete message (payload without length), once there is one.
  std::optional<Bytes> take();
  /// True once a message is complete and not yet taken.
  bool ready() const { return ready_; }

 private:
  Bytes buffer_;
  std::uint32_t length_ = 0;
  bool have_length_ = false;
  bool ready_ = false;
  std::optional<AgentError> error_;
};

}  // namespace parley::client::agent

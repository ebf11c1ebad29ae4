// The userauth messages (RFC 4252 §5-§8, RFC 4256 §3) as types: one struct per
// message, each with one encoder and one decoder. The cores build and parse
// userauth messages only through these, so each can be tested and fuzzed on its
// own. Decoders read through the bounds-checked wire::Reader, refuse trailing
// bytes, and apply the limits the cores enforce (prompts per round, answer size).
#pragma once

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "parley/userauth/provider.hpp"
#include "parley/crypto/secret.hpp"
#include "parley/transport/messages.hpp"
#include "parley/wire/bytes.hpp"
#include "parley/wire/reader.hpp"

namespace parley::userauth {

/// Userauth message numbers (RFC 4250 §4.1.2). 60 is method-specific: PK_OK for
/// publickey, PASSWD_CHANGEREQ for password, INFO_REQUEST for keyboard-interactive.
namespace msg {
inline constexpr std::uint8_t userauth_request = transport::msg::userauth_request;  // 50
inline constexpr std::uint8_t userauth_failure = transport::msg::userauth_failure;  // 51
inline constexpr std::uint8_t userauth_success = transport::msg::userauth_success;  // 52
inline constexpr std::uint8_t userauth_banner = transport::msg::userauth_banner;    // 53
inline constexpr std::uint8_t userauth_pk_ok = 60;             // RFC 4252 §7
inline constexpr std::uint8_t userauth_passwd_changereq = 60;  // RFC 4252 §8
inline constexpr std::uint8_t userauth_info_request = 60;      // RFC 4256 §3.2
inline constexpr std::uint8_t userauth_info_response = 61;     // RFC 4256 §3.4
/// Userauth messages are 50-79 (RFC 4250 §4.1.2).
inline constexpr std::uint8_t userauth_first = 50;
inline constexpr std::uint8_t userauth_last = 79;
}  // namespace msg

/// What was wrong with a userauth message.
enum class DecodeFault : std::uint8_t {
  wrong_message,     // its first byte is not this message's number
  truncated,         // a field ran past the end
  trailing_bytes,    // bytes after the last field
  not_utf8,          // a text field (or an answer, a password) was not UTF-8 without NUL
  too_long,          // a field longer than its bound (an answer, a password, a user name)
  bad_name_list,     // FAILURE's method list was not a valid name-list
  bad_boolean,       // (kept in step with wire::DecodeError)
  text_too_long,     // INFO_REQUEST name or instruction over the bound
  prompt_too_long,   // an INFO_REQUEST prompt over the bound
  too_many_prompts,  // INFO_REQUEST num-prompts over the bound
  count_mismatch,    // INFO_RESPONSE num-responses missing or not the num-prompts asked
};

std::string_view to_string(DecodeFault fault);

struct DecodeError {
  DecodeFault fault = DecodeFault::truncated;
  /// too_many_prompts, count_mismatch: the count the peer sent (0 if absent).
  std::uint32_t count = 0;
  friend bool operator==(const DecodeError&, const DecodeError&) = default;
};

/// Bounds applied while decoding; the defaults are AuthLimits' and ClientAuthConfig's.
struct DecodeLimits {
  std::size_t max_name_bytes = 256;     // USERAUTH_REQUEST user name and service
  std::size_t max_secret_bytes = 4096;  // a password (both of a change request), an answer
  std::size_t max_submethods_bytes = 1024;
  std::size_t max_key_bytes = 16384;    // a publickey blob, a signature
  std::size_t max_prompts = 32;         // INFO_REQUEST prompts in one round
  std::size_t max_text_bytes = 65536;   // INFO_REQUEST name, instruction, each prompt
};

// ---- SSH_MSG_USERAUTH_REQUEST (50) and its method-specific fields (RFC 4252 §5)

/// "none" (RFC 4252 §5.2): no fields.
struct NoneFields {};
/// "password" (RFC 4252 §8). A change request carries the new password too.
struct PasswordFields {
  crypto::SecretBytes password;
  std::optional<crypto::SecretBytes> new_password;
};
/// "publickey" (RFC 4252 §7): a query without signature, or a signed request.
struct PublickeyFields {
  std::string algorithm;
  Bytes key_blob;
  std::optional<Bytes> signature;
};
/// "keyboard-interactive" (RFC 4256 §3.1).
struct KeyboardInteractiveFields {
  std::string language;    // deprecated; sent empty
  std::string submethods;  // a hint only
};
/// A method this library does not implement: its fields are not read.
struct OtherMethod {
  std::string method;
};
/// A known method whose fields did not decode. Kept as a value, not a decode
/// error, because what it costs depends on the server's state (a failed attempt
/// for a method it does not offer, the end of the connection for one it does);
/// encode() writes only the header for it.
struct MalformedFields {
  std::string method;
  DecodeError error;
};
using MethodFields = std::variant<NoneFields, PasswordFields, PublickeyFields,
                                  KeyboardInteractiveFields, OtherMethod, MalformedFields>;

struct UserauthRequest {
  std::string user;
  std::string service;
  MethodFields fields;

  /// The method name on the wire ("none", "password", ...).
  std::string_view method() const;
  /// The whole message. For a signed publickey request the signature, if set,
  /// is appended: signed_data() gives what it covers.
  Bytes encode() const;
  /// Fails only when the header (user, service, method) is malformed; a
  /// malformed method part decodes as MalformedFields.
  static std::expected<UserauthRequest, DecodeError> decode(BytesView payload,
                                                           const DecodeLimits& limits = {});
};

/// RFC 4252 §7: what a publickey signature covers: the session id, then the
/// request up to (not including) the signature, with has-signature TRUE.
Bytes publickey_signed_data(BytesView session_id, std::string_view user, std::string_view service,
                            std::string_view algorithm, BytesView key_blob);

// ---- SSH_MSG_USERAUTH_FAILURE (51), SUCCESS (52), BANNER (53)

struct UserauthFailure {
  std::vector<std::string> methods;  // that can continue
  bool partial_success = false;
  Bytes encode() const;
  static std::expected<UserauthFailure, DecodeError> decode(BytesView payload);
};

struct UserauthSuccess {
  Bytes encode() const;
  static std::expected<UserauthSuccess, DecodeError> decode(BytesView payload);
};

struct UserauthBanner {
  std::string message;  // UTF-8, not yet made safe for a terminal
  std::string language;
  Bytes encode() const;
  static std::expected<UserauthBanner, DecodeError> decode(BytesView payload);
};

// ---- SSH_MSG_USERAUTH_PK_OK (60, publickey)

struct PkOk {
  std::string algorithm;
  Bytes key_blob;
  Bytes encode() const;
  static std::expected<PkOk, DecodeError> decode(BytesView payload);
};

// ---- SSH_MSG_USERAUTH_INFO_REQUEST (60) and INFO_RESPONSE (61), RFC 4256 §3

struct InfoRequest {
  std::string name;
  std::string instruction;
  std::string language;
  std::vector<Prompt> prompts;
  Bytes encode() const;
  /// Refuses more than limits.max_prompts prompts before reading them, and a
  /// name, instruction or prompt over limits.max_text_bytes.
  static std::expected<InfoRequest, DecodeError> decode(BytesView payload,
                                                       const DecodeLimits& limits = {});
};

struct InfoResponse {
  std::vector<crypto::SecretBytes> answers;  // secrets: never logged
  /// The message; it holds the answers, so the caller wipes it once sent.
  Bytes encode() const;
  /// RFC 4256 §3.4: num-responses must equal `expected` (the prompts asked); a
  /// response without that count is count_mismatch. Each answer is UTF-8
  /// without NUL and at most limits.max_secret_bytes.
  static std::expected<InfoResponse, DecodeError> decode(BytesView payload, std::size_t expected,
                                                        const DecodeLimits& limits = {});
};

}  // namespace parley::userauth

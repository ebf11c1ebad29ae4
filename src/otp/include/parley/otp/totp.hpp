// RFC 6238 time-based one-time codes (liboath computes them), for the server's
// TOTP provider and the client's totp responder alike, and TOTP secrets as
// authenticator apps export them (base32 or otpauth URIs).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>

#include "parley/crypto/secret.hpp"

namespace parley::otp {

/// The HMAC of an RFC 6238 TOTP.
enum class TotpAlgorithm { sha1, sha256, sha512 };

/// What parley knows of each algorithm, in one table: its otpauth name and the
/// size of its HMAC output (the key size RFC 6238 recommends).
struct TotpAlgorithmFacts {
  TotpAlgorithm algorithm;
  std::string_view name;  // "SHA1", "SHA256", "SHA512"
  std::size_t digest_bytes;
};
const TotpAlgorithmFacts& facts(TotpAlgorithm algorithm);
/// The algorithm an otpauth URI names, in any case.
std::optional<TotpAlgorithm> totp_algorithm_named(std::string_view name);

/// A TOTP key and its parameters (RFC 6238; otpauth URI defaults).
struct TotpSecret {
  crypto::SecretBytes key;  // the shared secret, decoded from base32
  TotpAlgorithm algorithm = TotpAlgorithm::sha1;
  unsigned digits = 6;              // 6..8
  std::chrono::seconds period{30};  // the time step X of RFC 6238
};

/// True if the secret can make codes: a key, 6..8 digits, a period.
bool totp_usable(const TotpSecret& secret);
/// The RFC 6238 code (liboath) for the time step holding `unix_time`, as ASCII
/// digits; nullopt if the secret is not usable. The client's totp responder
/// and the server's TOTP provider both call it.
std::optional<crypto::SecretBytes> totp_code(const TotpSecret& secret, std::int64_t unix_time);

/// Parses a TOTP secret: base32 (RFC 4648; spaces, lower case and '=' padding
/// tolerated; at least 80 bits) or an otpauth URI as authenticator apps export
/// it: otpauth://totp/LABEL?secret=BASE32&algorithm=SHA256&digits=8&period=60
/// (algorithm SHA1/SHA256/SHA512, digits 6..8, period 1..3600; other
/// parameters ignored). Error messages never quote the secret.
std::expected<TotpSecret, std::string> parse_totp_secret(std::string_view base32_or_otpauth_uri);

/// The RFC 6238 time step of `unix_time` (T0 = 0).
std::int64_t time_step(const TotpSecret& secret, std::int64_t unix_time);

/// The code for one time step, zero-padded to secret.digits (liboath); empty if
/// the secret is unusable (no key, digits outside 6..8, no period).
crypto::SecretBytes code_at(const TotpSecret& secret, std::int64_t step);

/// The latest step in [first, last] whose code equals `code`. Every step is
/// computed and compared in constant time, with no early exit, so the time
/// taken does not tell which step (if any) matched. nullopt if none does, or if
/// `code` has the wrong length or a non-digit.
std::optional<std::int64_t> match_code_between(const TotpSecret& secret, const crypto::SecretBytes& code,
                                               std::int64_t first, std::int64_t last);

/// The time step in [now-window, now+window] whose code equals `code`, compared
/// in constant time; nullopt if none does (or `code` has the wrong length or a
/// non-digit). When several match (they cannot, short of a collision) the
/// latest step wins.
std::optional<std::int64_t> match_code(const TotpSecret& secret, const crypto::SecretBytes& code,
                                       std::int64_t unix_time, unsigned window);

}  // namespace parley::otp

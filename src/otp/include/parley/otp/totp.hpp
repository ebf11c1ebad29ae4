// RFC 6238 time-based one-time codes on the server side (liboath computes them).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "parley/auth/responders.hpp"  // TotpSecret, TotpAlgorithm
#include "parley/crypto/secret.hpp"

namespace parley::otp {

using auth::TotpAlgorithm;
using auth::TotpSecret;

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

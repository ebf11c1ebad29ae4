#include "parley/otp/totp.hpp"

#include <liboath/oath.h>

#include <algorithm>
#include <cstdint>
#include <optional>

#include "parley/wire/bytes.hpp"

namespace parley::otp {

namespace {

using crypto::SecretBytes;

/// liboath needs one global initialisation (its crypto backend); never undone,
/// since other code in the process may use it too.
bool oath_ready() {
  static const bool ready = oath_init() == OATH_OK;
  return ready;
}

}  // namespace

constexpr TotpAlgorithmFacts totp_algorithms[] = {{TotpAlgorithm::sha1, "SHA1", 20},
                                                  {TotpAlgorithm::sha256, "SHA256", 32},
                                                  {TotpAlgorithm::sha512, "SHA512", 64}};

const TotpAlgorithmFacts& facts(TotpAlgorithm algorithm) {
  for (const auto& f : totp_algorithms)
    if (f.algorithm == algorithm) return f;
  return totp_algorithms[0];  // only for a value cast from outside the enumeration
}

std::optional<TotpAlgorithm> totp_algorithm_named(std::string_view name) {
  for (const auto& f : totp_algorithms)
    if (parley::ascii_lower(f.name) == parley::ascii_lower(name)) return f.algorithm;
  return std::nullopt;
}

bool totp_usable(const TotpSecret& s) {
  return !s.key.empty() && s.digits >= 6 && s.digits <= 8 && s.period.count() > 0;
}

/// The RFC 6238 code for the step holding `unix_time`, as ASCII digits.
std::optional<SecretBytes> totp_code(const TotpSecret& secret, std::int64_t unix_time) {
  if (!oath_ready() || !totp_usable(secret)) return std::nullopt;
  int flags = 0;  // HMAC-SHA1
  if (secret.algorithm == TotpAlgorithm::sha256) flags = OATH_TOTP_HMAC_SHA256;
  if (secret.algorithm == TotpAlgorithm::sha512) flags = OATH_TOTP_HMAC_SHA512;
  char digits[16] = {};
  const auto key = secret.key.view();
  const int rc = oath_totp_generate2(
      reinterpret_cast<const char*>(key.data()), key.size(), static_cast<time_t>(unix_time),
      static_cast<unsigned>(secret.period.count()), 0, secret.digits, flags, digits);
  std::optional<SecretBytes> code;
  if (rc == OATH_OK) code.emplace(as_bytes(std::string_view(digits, secret.digits)));
  crypto::secure_wipe(digits, sizeof digits);
  return code;
}

std::int64_t time_step(const TotpSecret& secret, std::int64_t unix_time) {
  const std::int64_t period = secret.period.count();
  if (period <= 0 || unix_time < 0) return -1;
  return unix_time / period;
}

crypto::SecretBytes code_at(const TotpSecret& secret, std::int64_t step) {
  if (step < 0 || !totp_usable(secret)) return {};
  auto code = totp_code(secret, step * secret.period.count());
  return code ? std::move(*code) : crypto::SecretBytes();
}

std::optional<std::int64_t> match_code_between(const TotpSecret& secret, const crypto::SecretBytes& code,
                                               std::int64_t first, std::int64_t last) {
  if (!totp_usable(secret) || code.size() != secret.digits) return std::nullopt;
  for (std::uint8_t c : code.view())
    if (c < '0' || c > '9') return std::nullopt;
  std::optional<std::int64_t> found;
  for (std::int64_t step = std::max<std::int64_t>(first, 0); step <= last; ++step) {
    const crypto::SecretBytes expected = code_at(secret, step);
    if (!expected.empty() && crypto::constant_time_equal(expected.view(), code.view())) found = step;
  }
  return found;
}

std::optional<std::int64_t> match_code(const TotpSecret& secret, const crypto::SecretBytes& code,
                                       std::int64_t unix_time, unsigned window) {
  const std::int64_t now = time_step(secret, unix_time);
  if (now < 0) return std::nullopt;
  return match_code_between(secret, code, now - window, now + static_cast<std::int64_t>(window));
}

}  // namespace parley::otp

#include "parley/otp/totp.hpp"

#include <algorithm>
#include <cstdint>
#include <optional>

namespace parley::otp {

std::int64_t time_step(const TotpSecret& secret, std::int64_t unix_time) {
  const std::int64_t period = secret.period.count();
  if (period <= 0 || unix_time < 0) return -1;
  return unix_time / period;
}

crypto::SecretBytes code_at(const TotpSecret& secret, std::int64_t step) {
  if (step < 0 || !auth::totp_usable(secret)) return {};
  auto code = auth::totp_code(secret, step * secret.period.count());
  return code ? std::move(*code) : crypto::SecretBytes();
}

std::optional<std::int64_t> match_code_between(const TotpSecret& secret, const crypto::SecretBytes& code,
                                               std::int64_t first, std::int64_t last) {
  if (!auth::totp_usable(secret) || code.size() != secret.digits) return std::nullopt;
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

// TOTP secrets as authenticator apps export them: base32, or an otpauth URI
// (Google's Key Uri Format), parsed into a TotpSecret.
#include <charconv>
#include <span>
#include <utility>

#include "parley/otp/base32.hpp"
#include "parley/otp/totp.hpp"
#include "parley/wire/text.hpp"

namespace parley::otp {
namespace {

using crypto::SecretBytes;
using wire::trim;

/// A TOTP key from base32: at least 80 bits, as RFC 4226 §4 asks of a shared secret.
std::expected<SecretBytes, std::string> totp_key(BytesView base32) {
  auto key = base32_decode(base32);
  if (key && key->size() < 10)
    return std::unexpected(std::string(
        "the secret is shorter than 80 bits (16 base32 characters): was it copied whole?"));
  return key;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = ascii_lower(c);
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

/// Percent-decodes a URI query value into `out`; returns the decoded length.
std::optional<std::size_t> percent_decode(std::string_view value, std::span<std::uint8_t> out) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < value.size(); ++i) {
    if (value[i] == '%') {
      if (i + 2 >= value.size()) return std::nullopt;
      const int hi = hex_value(value[i + 1]), lo = hex_value(value[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out[n++] = static_cast<std::uint8_t>(hi * 16 + lo);
      i += 2;
    } else {
      out[n++] = static_cast<std::uint8_t>(value[i] == '+' ? ' ' : value[i]);
    }
  }
  return n;
}

std::optional<unsigned> parse_number(std::string_view s, unsigned min, unsigned max) {
  unsigned v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v < min || v > max) return std::nullopt;
  return v;
}

std::expected<TotpSecret, std::string> parse_otpauth(std::string_view uri) {
  constexpr std::string_view kScheme = "otpauth://";
  std::string_view rest = uri.substr(kScheme.size());
  const std::size_t slash = rest.find('/');
  const std::string type = ascii_lower(rest.substr(0, slash));
  if (type == "hotp")
    return std::unexpected(std::string("otpauth URI is for HOTP (counter-based codes), not TOTP"));
  if (type != "totp" || slash == std::string_view::npos)
    return std::unexpected(std::string("not an otpauth://totp/ URI"));
  rest = rest.substr(slash + 1);
  if (const std::size_t hash = rest.find('#'); hash != std::string_view::npos)
    rest = rest.substr(0, hash);
  const std::size_t question = rest.find('?');
  if (question == std::string_view::npos)
    return std::unexpected(std::string("otpauth URI has no secret parameter"));
  std::string_view query = rest.substr(question + 1);

  TotpSecret secret;
  bool have_secret = false, have_algorithm = false, have_digits = false, have_period = false;
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view param = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    const std::size_t eq = param.find('=');
    const std::string key = ascii_lower(param.substr(0, eq));
    const std::string_view value =
        eq == std::string_view::npos ? std::string_view() : param.substr(eq + 1);
    auto once = [&](bool& seen) -> std::optional<std::string> {
      if (seen) return "otpauth URI repeats the " + key + " parameter";
      seen = true;
      return std::nullopt;
    };
    if (key == "secret") {
      if (auto e = once(have_secret)) return std::unexpected(*e);
      SecretBytes raw(value.size());
      const auto n = percent_decode(value, raw.mutable_view());
      if (!n) return std::unexpected(std::string("otpauth URI secret has a bad %-escape"));
      auto key_bytes = totp_key(raw.view().first(*n));
      if (!key_bytes) return std::unexpected("otpauth URI secret: " + key_bytes.error());
      secret.key = std::move(*key_bytes);
    } else if (key == "algorithm") {
      if (auto e = once(have_algorithm)) return std::unexpected(*e);
      const auto algorithm = totp_algorithm_named(value);
      if (!algorithm)
        return std::unexpected(std::string("otpauth URI algorithm must be SHA1, SHA256 or SHA512"));
      secret.algorithm = *algorithm;
    } else if (key == "digits") {
      if (auto e = once(have_digits)) return std::unexpected(*e);
      const auto digits = parse_number(value, 6, 8);
      if (!digits) return std::unexpected(std::string("otpauth URI digits must be 6, 7 or 8"));
      secret.digits = *digits;
    } else if (key == "period") {
      if (auto e = once(have_period)) return std::unexpected(*e);
      const auto period = parse_number(value, 1, 3600);
      if (!period)
        return std::unexpected(std::string("otpauth URI period must be 1 to 3600 seconds"));
      secret.period = std::chrono::seconds(*period);
    }
    // issuer, image, ...: labels only.
  }
  if (!have_secret) return std::unexpected(std::string("otpauth URI has no secret parameter"));
  return secret;
}

}  // namespace

std::expected<TotpSecret, std::string> parse_totp_secret(std::string_view text) {
  const std::string_view trimmed = trim(text);
  if (ascii_lower(trimmed.substr(0, 10)) == "otpauth://") return parse_otpauth(trimmed);
  auto key = totp_key(as_bytes(trimmed));
  if (!key) return std::unexpected(key.error());
  TotpSecret secret;
  secret.key = std::move(*key);
  return secret;
}

}  // namespace parley::otp

#include "parley/otp/enroll.hpp"

#include "parley/otp/base32.hpp"

#include <qrencode.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <set>
#include <utility>

#include "parley/crypto/secret.hpp"

namespace parley::otp {

namespace {

constexpr std::uint32_t scratch_low = 10'000'000;    // the smallest 8-digit number
constexpr std::uint32_t scratch_count = 90'000'000;  // 10000000..99999999

struct QrFree {
  void operator()(QRcode* code) const { QRcode_free(code); }
};

}  // namespace

std::expected<Enrollment, std::string> make_enrollment(crypto::Random& rng,
                                                       const EnrollOptions& options) {
  if (options.digits < 6 || options.digits > 8)
    return std::unexpected(std::string("digits must be 6, 7 or 8"));
  if (options.period.count() < 1 || options.period.count() > 3600)
    return std::unexpected(std::string("period must be 1 to 3600 seconds"));
  const std::size_t key_bytes =
      options.key_bytes == 0 ? facts(options.algorithm).digest_bytes : options.key_bytes;
  if (key_bytes < 10 || key_bytes > 64)
    return std::unexpected(std::string("the key must be 10 to 64 bytes (80 to 512 bits)"));
  if (options.scratch_codes > 20)
    return std::unexpected(std::string("at most 20 scratch codes"));

  Enrollment enrollment;
  enrollment.secret.key = crypto::SecretBytes(key_bytes);
  rng.fill(enrollment.secret.key.mutable_view());
  enrollment.secret.algorithm = options.algorithm;
  enrollment.secret.digits = options.digits;
  enrollment.secret.period = options.period;

  // Distinct codes: a repeat is drawn again. With 9e7 values a working CSPRNG
  // repeats about once in 10^6 enrolments; a source stuck on one value would
  // loop for ever, so give up after many draws instead.
  std::set<std::uint32_t> seen;
  for (std::size_t draws = 0; enrollment.scratch_codes.size() < options.scratch_codes; ++draws) {
    if (draws == 1000) return std::unexpected(std::string("the random source keeps repeating itself"));
    const std::uint32_t code = scratch_low + rng.uniform(scratch_count);
    if (!seen.insert(code).second) continue;
    enrollment.scratch_codes.push_back(std::to_string(code));
  }
  return enrollment;
}


std::string percent_encode(std::string_view text) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                            (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15u]);
    }
  }
  return out;
}

std::string_view algorithm_name(TotpAlgorithm algorithm) { return facts(algorithm).name; }

std::string otpauth_uri(std::string_view issuer, std::string_view account, const TotpSecret& secret) {
  const std::string label_issuer = percent_encode(issuer), label_account = percent_encode(account);
  std::string base32 = otp::base32_encode(secret.key.view());
  // Reserved whole, so that appending never reallocates and leaves a copy of
  // the secret behind.
  std::string uri;
  uri.reserve(128 + 2 * label_issuer.size() + label_account.size() + base32.size());
  uri.append("otpauth://totp/");
  if (!issuer.empty()) uri.append(label_issuer).append(":");
  uri.append(label_account).append("?secret=").append(base32);
  crypto::secure_wipe(base32.data(), base32.size());
  if (!issuer.empty()) uri.append("&issuer=").append(label_issuer);
  uri.append("&algorithm=").append(algorithm_name(secret.algorithm));
  uri.append("&digits=").append(std::to_string(secret.digits));
  uri.append("&period=").append(std::to_string(secret.period.count()));
  return uri;
}

std::expected<QrMatrix, std::string> qr_matrix(std::string_view text) {
  if (text.find('\0') != std::string_view::npos)
    return std::unexpected(std::string("QR code text contains a NUL byte"));
  std::string terminated(text);  // libqrencode wants a C string
  errno = 0;
  std::unique_ptr<QRcode, QrFree> code(
      QRcode_encodeString(terminated.c_str(), 0, QR_ECLEVEL_M, QR_MODE_8, 1));
  const int error = errno;
  crypto::secure_wipe(terminated.data(), terminated.size());
  if (!code) {
    if (error == ERANGE)
      return std::unexpected("QR code text too long (" + std::to_string(text.size()) +
                             " bytes; version 40 at level M holds about 2300)");
    return std::unexpected(std::string("libqrencode failed: ") +
                           (error != 0 ? std::strerror(error) : "unknown error"));
  }
  if (code->width <= 0) return std::unexpected(std::string("libqrencode returned an empty code"));
  QrMatrix qr;
  qr.width = static_cast<std::size_t>(code->width);
  qr.version = code->version;
  qr.modules.resize(qr.width * qr.width);
  for (std::size_t i = 0; i < qr.modules.size(); ++i)
    qr.modules[i] = static_cast<std::uint8_t>(code->data[i] & 1u);  // bit 0: dark
  return qr;
}

std::string render_qr(const QrMatrix& qr, const QrStyle& style) {
  const std::size_t side = qr.width + 2 * qr_quiet_zone;
  // Ink at (x, y) of the code with its quiet zone; outside the code is light.
  auto ink = [&](std::size_t x, std::size_t y) {
    bool dark = false;
    if (x >= qr_quiet_zone && y >= qr_quiet_zone && x - qr_quiet_zone < qr.width &&
        y - qr_quiet_zone < qr.width)
      dark = qr.dark(x - qr_quiet_zone, y - qr_quiet_zone);
    return dark == style.dark_ink;
  };
  std::string out;
  if (style.utf8) {
    // Two rows a line: the top module is the upper half of the cell.
    static constexpr std::string_view cells[2][2] = {
        {" ", "\u2584"},        // top without ink: nothing, lower half
        {"\u2580", "\u2588"}};  // top with ink: upper half, full block
    out.reserve((side + 1) / 2 * (side * 3 + 1));
    for (std::size_t y = 0; y < side; y += 2) {
      for (std::size_t x = 0; x < side; ++x) {
        const bool top = ink(x, y);
        const bool bottom = y + 1 < side ? ink(x, y + 1) : !style.dark_ink;  // below: light
        out += cells[top ? 1 : 0][bottom ? 1 : 0];
      }
      out += '\n';
    }
  } else {
    out.reserve(side * (side * 2 + 1));
    for (std::size_t y = 0; y < side; ++y) {
      for (std::size_t x = 0; x < side; ++x) out += ink(x, y) ? "##" : "  ";
      out += '\n';
    }
  }
  return out;
}

std::expected<std::string, std::string> qr_terminal(std::string_view text, bool utf8,
                                                    bool dark_ink) {
  auto qr = qr_matrix(text);
  if (!qr) return std::unexpected(std::move(qr.error()));
  std::string drawn = render_qr(*qr, QrStyle{.utf8 = utf8, .dark_ink = dark_ink});
  std::fill(qr->modules.begin(), qr->modules.end(), std::uint8_t{0});
  return drawn;
}

}  // namespace parley::otp

// TOTP enrolment: a new secret and scratch codes from the CSPRNG, the otpauth://
// URI authenticator apps import, and that URI as a QR code drawn in a terminal
// (libqrencode).
//
// Everything made here carries the secret (the URI, its QR code, the base32
// text): it is meant to be shown once to the administrator who enrols, never
// logged. Nothing here logs.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <string>
#include <string_view>
#include <vector>

#include "parley/crypto/random.hpp"
#include "parley/otp/store.hpp"
#include "parley/otp/totp.hpp"
#include "parley/wire/bytes.hpp"

namespace parley::otp {

/// What make_enrollment() makes.
struct EnrollOptions {
  TotpAlgorithm algorithm = TotpAlgorithm::sha1;
  unsigned digits = 6;                        // 6..8
  std::chrono::seconds period{30};            // 1..3600 s
  /// Key length in bytes, 10..64 (at least 80 bits, as RFC 4226 §4 asks);
  /// 0: the HMAC's output size as RFC 6238's reference keys (20 for SHA1, 32
  /// for SHA256, 64 for SHA512).
  std::size_t key_bytes = 0;
  /// How many single-use scratch codes, 0..20 (google-authenticator makes 5).
  std::size_t scratch_codes = 5;
};

/// A new secret (key from `rng`, parameters from `options`) and distinct
/// 8-digit scratch codes, each uniform in 10000000..99999999 (no leading zero:
/// google-authenticator's PAM module reads them as numbers). The error names
/// the option that is out of range, or says the random source keeps repeating
/// itself (a broken source would otherwise never yield distinct codes).
std::expected<Enrollment, std::string> make_enrollment(crypto::Random& rng,
                                                       const EnrollOptions& options = {});


/// RFC 3986 percent-encoding: every byte but the unreserved A-Z a-z 0-9 - . _ ~
/// becomes %XX (upper-case hex), so the result is safe in a URI path segment
/// and in a query value (':', '&', '=', '+', '#', '/', '?', '%' and spaces
/// all escaped).
std::string percent_encode(std::string_view text);

/// "SHA1", "SHA256" or "SHA512".
std::string_view algorithm_name(TotpAlgorithm algorithm);

/// The Key URI authenticator apps import:
///   otpauth://totp/ISSUER:ACCOUNT?secret=BASE32&issuer=ISSUER&algorithm=SHA1&digits=6&period=30
/// with ISSUER and ACCOUNT percent-encoded (a ':' in either becomes %3A) and
/// the secret in base32 without padding. An empty issuer leaves out the
/// "ISSUER:" prefix and the issuer parameter. The result holds the secret.
std::string otpauth_uri(std::string_view issuer, std::string_view account, const TotpSecret& secret);

/// A QR code's modules, without the quiet zone.
struct QrMatrix {
  std::size_t width = 0;  // modules on each side (21 for version 1, +4 a version)
  int version = 0;        // 1..40
  /// width*width entries, row by row from the top left; 1 = dark.
  std::vector<std::uint8_t> modules;
  bool dark(std::size_t x, std::size_t y) const { return modules[y * width + x] != 0; }
  friend bool operator==(const QrMatrix&, const QrMatrix&) = default;
};

/// The light modules drawn around the code on every side (ISO/IEC 18004 asks for 4).
inline constexpr std::size_t qr_quiet_zone = 4;

/// Encodes `text` as libqrencode does for `qrencode -l M TEXT`:
/// QRcode_encodeString with error correction level M, QR_MODE_8 as the hint
/// (libqrencode picks numeric/alphanumeric/8-bit segments), case-sensitive,
/// the smallest version that fits. Fails for text with a NUL byte or too long
/// for version 40 (about 2300 bytes at level M).
std::expected<QrMatrix, std::string> qr_matrix(std::string_view text);

/// How a QR code is drawn in a terminal.
struct QrStyle {
  /// Unicode half blocks ("▀", "▄", "█", " "), two module rows per line and
  /// one column per module; false: ASCII, one module row per line and "##" or
  /// "  " per module.
  bool utf8 = true;
  /// Which modules get ink (blocks or '#'). false (the default): the light
  /// ones, as `qrencode -t UTF8` and `-t ASCIIi` draw them, so the code reads
  /// right on the usual light-on-dark terminal; true: the dark ones, as
  /// `qrencode -t UTF8i` and `-t ASCII` do, for dark-on-light terminals.
  bool dark_ink = false;
};

/// Draws `qr` with a quiet zone of qr_quiet_zone modules. The output equals
/// what qrencode(1) prints for the same matrix and style (see QrStyle), line by
/// line, each ending in '\n'. In UTF-8 the quiet zone is 2 lines above and,
/// as the code has an odd number of rows, the bottom half of its last line
/// plus 2 lines below.
std::string render_qr(const QrMatrix& qr, const QrStyle& style = {});

/// qr_matrix() and render_qr() in one: `text` as a QR code for the terminal.
std::expected<std::string, std::string> qr_terminal(std::string_view text, bool utf8,
                                                    bool dark_ink = false);

}  // namespace parley::otp

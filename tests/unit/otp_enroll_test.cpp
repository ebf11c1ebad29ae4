// TOTP enrolment: secrets and scratch codes, the otpauth URI (read back by the
// client's own parser), and the terminal QR code (read back into modules).
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "parley/otp/totp.hpp"
#include "parley/crypto/random.hpp"
#include "parley/otp/base32.hpp"
#include "parley/otp/enroll.hpp"
#include "parley/wire/bytes.hpp"

namespace {

using namespace parley;
using otp::QrMatrix;

crypto::SecretBytes secret_of(std::string_view text) { return crypto::SecretBytes(as_bytes(text)); }

otp::TotpSecret rfc6238_secret() {
  otp::TotpSecret s;
  s.key = secret_of("12345678901234567890");  // RFC 6238 appendix B, SHA1
  return s;
}

// --- base32 and percent-encoding ---------------------------------------------

TEST(Base32Encode, Rfc4648VectorsWithoutPadding) {
  // RFC 4648 §10, with the '=' padding dropped.
  const std::pair<std::string_view, std::string_view> vectors[] = {
      {"", ""},           {"f", "MY"},         {"fo", "MZXQ"},          {"foo", "MZXW6"},
      {"foob", "MZXW6YQ"}, {"fooba", "MZXW6YTB"}, {"foobar", "MZXW6YTBOI"}};
  for (const auto& [plain, encoded] : vectors)
    EXPECT_EQ(otp::base32_encode(as_bytes(plain)), encoded) << plain;
}

TEST(Base32Encode, RoundTripsThroughTheClientsParser) {
  crypto::DeterministicRandom rng(7);
  for (std::size_t size = 10; size <= 64; ++size) {
    crypto::SecretBytes key(size);
    rng.fill(key.mutable_view());
    auto parsed = otp::parse_totp_secret(otp::base32_encode(key.view()));
    ASSERT_TRUE(parsed) << size << ": " << parsed.error();
    EXPECT_TRUE(parsed->key == key) << size;
  }
}

TEST(PercentEncode, KeepsOnlyUnreservedCharacters) {
  EXPECT_EQ(otp::percent_encode("AZaz09-._~"), "AZaz09-._~");
  EXPECT_EQ(otp::percent_encode("ACME Co"), "ACME%20Co");
  EXPECT_EQ(otp::percent_encode("a:b&c=d+e/f?g#h%i@j"), "a%3Ab%26c%3Dd%2Be%2Ff%3Fg%23h%25i%40j");
  EXPECT_EQ(otp::percent_encode("\xc3\xa9t\xc3\xa9"), "%C3%A9t%C3%A9");  // UTF-8 "été"
  EXPECT_EQ(otp::percent_encode(std::string_view("\0\x7f\xff", 3)), "%00%7F%FF");
}

// --- the otpauth URI ------------------------------------------------------------

TEST(OtpauthUri, HasTheKeyUriFormat) {
  EXPECT_EQ(otp::otpauth_uri("parleyd", "alice", rfc6238_secret()),
            "otpauth://totp/parleyd:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
            "&issuer=parleyd&algorithm=SHA1&digits=6&period=30");
}

TEST(OtpauthUri, CarriesOtherParameters) {
  auto s = rfc6238_secret();
  s.algorithm = otp::TotpAlgorithm::sha512;
  s.digits = 8;
  s.period = std::chrono::seconds(60);
  EXPECT_EQ(otp::otpauth_uri("x", "y", s),
            "otpauth://totp/x:y?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
            "&issuer=x&algorithm=SHA512&digits=8&period=60");
  s.algorithm = otp::TotpAlgorithm::sha256;
  EXPECT_NE(otp::otpauth_uri("x", "y", s).find("&algorithm=SHA256&"), std::string::npos);
}

TEST(OtpauthUri, PercentEncodesLabelAndIssuer) {
  EXPECT_EQ(otp::otpauth_uri("ACME Co: Büro", "john.doe@example.com", rfc6238_secret()),
            "otpauth://totp/ACME%20Co%3A%20B%C3%BCro:john.doe%40example.com"
            "?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
            "&issuer=ACME%20Co%3A%20B%C3%BCro&algorithm=SHA1&digits=6&period=30");
}

TEST(OtpauthUri, NoIssuerLeavesOutPrefixAndParameter) {
  EXPECT_EQ(otp::otpauth_uri("", "alice", rfc6238_secret()),
            "otpauth://totp/alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
            "&algorithm=SHA1&digits=6&period=30");
}

TEST(OtpauthUri, AnIssuerCannotInjectParameters) {
  // '&', '=', '+', '#' and '?' in the issuer or account stay inside their value:
  // the client's parser still sees the real secret and parameters.
  auto s = rfc6238_secret();
  s.digits = 7;
  const std::string uri =
      otp::otpauth_uri("evil&secret=AAAAAAAAAAAAAAAAAAAA&digits=8#", "a?b+c", s);
  auto parsed = otp::parse_totp_secret(uri);
  ASSERT_TRUE(parsed) << parsed.error();
  EXPECT_TRUE(parsed->key == s.key);
  EXPECT_EQ(parsed->digits, 7u);
}

TEST(OtpauthUri, RoundTripsThroughTheClientsParser) {
  crypto::DeterministicRandom rng(1);
  const otp::TotpAlgorithm algorithms[] = {otp::TotpAlgorithm::sha1, otp::TotpAlgorithm::sha256,
                                           otp::TotpAlgorithm::sha512};
  for (const auto algorithm : algorithms) {
    for (unsigned digits = 6; digits <= 8; ++digits) {
      for (const auto period : {1, 30, 60, 3600}) {
        otp::EnrollOptions options;
        options.algorithm = algorithm;
        options.digits = digits;
        options.period = std::chrono::seconds(period);
        auto made = otp::make_enrollment(rng, options);
        ASSERT_TRUE(made) << made.error();
        const std::string uri = otp::otpauth_uri("Issuer & Co", "bob smith", made->secret);
        auto parsed = otp::parse_totp_secret(uri);
        ASSERT_TRUE(parsed) << parsed.error();
        EXPECT_TRUE(parsed->key == made->secret.key);
        EXPECT_EQ(parsed->algorithm, algorithm);
        EXPECT_EQ(parsed->digits, digits);
        EXPECT_EQ(parsed->period, std::chrono::seconds(period));
        // The same codes on both sides.
        EXPECT_TRUE(*otp::totp_code(*parsed, 1'700'000'000) ==
                    *otp::totp_code(made->secret, 1'700'000'000));
      }
    }
  }
}

// --- make_enrollment ---------------------------------------------------------------

bool all_digits(std::string_view s) {
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

TEST(MakeEnrollment, DefaultsAre160BitSha1SixDigitsThirtySeconds) {
  crypto::DeterministicRandom rng(2);
  auto made = otp::make_enrollment(rng);
  ASSERT_TRUE(made) << made.error();
  EXPECT_EQ(made->secret.key.size(), 20u);
  EXPECT_EQ(made->secret.algorithm, otp::TotpAlgorithm::sha1);
  EXPECT_EQ(made->secret.digits, 6u);
  EXPECT_EQ(made->secret.period, std::chrono::seconds(30));
  ASSERT_EQ(made->scratch_codes.size(), 5u);
  std::set<std::string> distinct;
  for (const auto& code : made->scratch_codes) {
    EXPECT_EQ(code.size(), 8u) << code;
    EXPECT_TRUE(all_digits(code)) << code;
    EXPECT_NE(code[0], '0') << code;
    distinct.insert(code);
  }
  EXPECT_EQ(distinct.size(), 5u);
}

TEST(MakeEnrollment, KeysComeFromTheRandomSource) {
  crypto::DeterministicRandom a(3), b(3), c(4);
  auto x = otp::make_enrollment(a), y = otp::make_enrollment(b), z = otp::make_enrollment(c);
  ASSERT_TRUE(x && y && z);
  EXPECT_TRUE(x->secret.key == y->secret.key);
  EXPECT_EQ(x->scratch_codes, y->scratch_codes);
  EXPECT_FALSE(x->secret.key == z->secret.key);
  EXPECT_NE(x->scratch_codes, z->scratch_codes);
}

TEST(MakeEnrollment, KeySizeFollowsTheHashUnlessGiven) {
  crypto::DeterministicRandom rng(5);
  otp::EnrollOptions o;
  o.algorithm = otp::TotpAlgorithm::sha256;
  EXPECT_EQ(otp::make_enrollment(rng, o)->secret.key.size(), 32u);
  o.algorithm = otp::TotpAlgorithm::sha512;
  EXPECT_EQ(otp::make_enrollment(rng, o)->secret.key.size(), 64u);
  o.key_bytes = 10;
  EXPECT_EQ(otp::make_enrollment(rng, o)->secret.key.size(), 10u);
  o.scratch_codes = 0;
  EXPECT_TRUE(otp::make_enrollment(rng, o)->scratch_codes.empty());
}

TEST(MakeEnrollment, RefusesOutOfRangeOptions) {
  crypto::DeterministicRandom rng(6);
  auto with = [&](auto change) {
    otp::EnrollOptions o;
    change(o);
    return otp::make_enrollment(rng, o);
  };
  EXPECT_FALSE(with([](auto& o) { o.digits = 5; }));
  EXPECT_FALSE(with([](auto& o) { o.digits = 9; }));
  EXPECT_FALSE(with([](auto& o) { o.period = std::chrono::seconds(0); }));
  EXPECT_FALSE(with([](auto& o) { o.period = std::chrono::seconds(3601); }));
  EXPECT_FALSE(with([](auto& o) { o.key_bytes = 9; }));
  EXPECT_FALSE(with([](auto& o) { o.key_bytes = 65; }));
  EXPECT_FALSE(with([](auto& o) { o.scratch_codes = 21; }));
  EXPECT_TRUE(with([](auto& o) {
    o.digits = 8;
    o.period = std::chrono::seconds(3600);
    o.key_bytes = 64;
    o.scratch_codes = 20;
  }));
}

TEST(MakeEnrollment, ScratchCodesAreSpreadOverAllEightDigitNumbers) {
  // 4000 codes from a deterministic stream: every leading digit 1..9 shows up
  // about 444 times, and the codes reach both ends of the range.
  crypto::DeterministicRandom rng(8);
  std::array<int, 10> leading{};
  std::uint32_t low = 99'999'999, high = 0;
  otp::EnrollOptions o;
  o.scratch_codes = 20;
  for (int i = 0; i < 200; ++i) {
    auto made = otp::make_enrollment(rng, o);
    ASSERT_TRUE(made);
    for (const auto& code : made->scratch_codes) {
      ++leading[static_cast<std::size_t>(code[0] - '0')];
      const auto v = static_cast<std::uint32_t>(std::stoul(code));
      low = std::min(low, v);
      high = std::max(high, v);
    }
  }
  EXPECT_EQ(leading[0], 0);
  for (std::size_t d = 1; d <= 9; ++d) {
    EXPECT_GT(leading[d], 330) << d;
    EXPECT_LT(leading[d], 560) << d;
  }
  EXPECT_LT(low, 10'100'000u);
  EXPECT_GT(high, 99'900'000u);
}

/// A broken source: the same bytes every time.
class StuckRandom final : public crypto::Random {
 public:
  void fill(std::span<std::uint8_t> out) override {
    for (auto& b : out) b = 0x42;
  }
};

TEST(MakeEnrollment, AStuckRandomSourceIsAnErrorNotAHang) {
  StuckRandom rng;
  otp::EnrollOptions o;
  o.scratch_codes = 0;
  EXPECT_TRUE(otp::make_enrollment(rng, o));  // one code can't repeat
  o.scratch_codes = 2;
  auto made = otp::make_enrollment(rng, o);
  ASSERT_FALSE(made);
  EXPECT_NE(made.error().find("random"), std::string::npos);
}

// --- the QR code ----------------------------------------------------------------

/// The code points of a UTF-8 string (only what the renderer writes: ASCII and
/// three-byte sequences); nullopt on anything else.
std::optional<std::vector<char32_t>> code_points(std::string_view line) {
  std::vector<char32_t> out;
  for (std::size_t i = 0; i < line.size();) {
    const auto c = static_cast<unsigned char>(line[i]);
    if (c < 0x80) {
      out.push_back(c);
      ++i;
    } else if ((c & 0xF0) == 0xE0 && i + 2 < line.size()) {
      out.push_back(static_cast<char32_t>((c & 0x0Fu) << 12 |
                                          (static_cast<unsigned char>(line[i + 1]) & 0x3Fu) << 6 |
                                          (static_cast<unsigned char>(line[i + 2]) & 0x3Fu)));
      i += 3;
    } else {
      return std::nullopt;
    }
  }
  return out;
}

std::vector<std::string_view> lines_of(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    const std::size_t nl = text.find('\n');
    if (nl == std::string_view::npos) {
      lines.push_back(text);  // an unterminated last line: the tests below catch it
      break;
    }
    lines.push_back(text.substr(0, nl));
    text.remove_prefix(nl + 1);
  }
  return lines;
}

/// Reads a terminal drawing back into dark/light modules, quiet zone included
/// (a square of side `side`); nullopt if it is not a well-formed drawing.
std::optional<std::vector<std::vector<bool>>> read_back(std::string_view text,
                                                        const otp::QrStyle& style,
                                                        std::size_t side) {
  if (text.empty() || text.back() != '\n') return std::nullopt;
  std::vector<std::vector<bool>> ink;  // rows of ink
  for (const auto line : lines_of(text)) {
    if (style.utf8) {
      auto cps = code_points(line);
      if (!cps || cps->size() != side) return std::nullopt;
      std::vector<bool> top, bottom;
      for (char32_t cp : *cps) {
        switch (cp) {
          case U' ': top.push_back(false), bottom.push_back(false); break;
          case U'\u2580': top.push_back(true), bottom.push_back(false); break;   // ▀
          case U'\u2584': top.push_back(false), bottom.push_back(true); break;   // ▄
          case U'\u2588': top.push_back(true), bottom.push_back(true); break;    // █
          default: return std::nullopt;
        }
      }
      ink.push_back(top);
      ink.push_back(bottom);
    } else {
      if (line.size() != 2 * side) return std::nullopt;
      std::vector<bool> row;
      for (std::size_t i = 0; i < line.size(); i += 2) {
        if (line.substr(i, 2) == "##") {
          row.push_back(true);
        } else if (line.substr(i, 2) == "  ") {
          row.push_back(false);
        } else {
          return std::nullopt;
        }
      }
      ink.push_back(row);
    }
  }
  // UTF-8 has one extra half row below (the code's side is odd): it must be light.
  if (style.utf8) {
    if (ink.size() != side + 1) return std::nullopt;
    for (bool i : ink.back())
      if (i == style.dark_ink) return std::nullopt;
    ink.pop_back();
  }
  if (ink.size() != side) return std::nullopt;
  std::vector<std::vector<bool>> dark(side, std::vector<bool>(side));
  for (std::size_t y = 0; y < side; ++y)
    for (std::size_t x = 0; x < side; ++x) dark[y][x] = ink[y][x] == style.dark_ink;
  return dark;
}

/// The matrix with its quiet zone, as read_back() returns it.
std::vector<std::vector<bool>> with_quiet_zone(const QrMatrix& qr) {
  const std::size_t q = otp::qr_quiet_zone, side = qr.width + 2 * q;
  std::vector<std::vector<bool>> dark(side, std::vector<bool>(side, false));
  for (std::size_t y = 0; y < qr.width; ++y)
    for (std::size_t x = 0; x < qr.width; ++x) dark[y + q][x + q] = qr.dark(x, y);
  return dark;
}

/// A 7x7 finder pattern with its top-left module at (x, y).
bool finder_at(const QrMatrix& qr, std::size_t x0, std::size_t y0) {
  for (std::size_t y = 0; y < 7; ++y) {
    for (std::size_t x = 0; x < 7; ++x) {
      const bool ring = x == 0 || y == 0 || x == 6 || y == 6;
      const bool core = x >= 2 && x <= 4 && y >= 2 && y <= 4;
      if (qr.dark(x0 + x, y0 + y) != (ring || core)) return false;
    }
  }
  return true;
}

const std::string kUri =
    "otpauth://totp/parleyd:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
    "&issuer=parleyd&algorithm=SHA1&digits=6&period=30";

TEST(QrMatrix, IsAQrCodeOfTheRightSize) {
  auto qr = otp::qr_matrix(kUri);
  ASSERT_TRUE(qr) << qr.error();
  ASSERT_GE(qr->version, 1);
  EXPECT_EQ(qr->width, 17u + 4u * static_cast<std::size_t>(qr->version));
  ASSERT_EQ(qr->modules.size(), qr->width * qr->width);
  EXPECT_TRUE(finder_at(*qr, 0, 0));
  EXPECT_TRUE(finder_at(*qr, qr->width - 7, 0));
  EXPECT_TRUE(finder_at(*qr, 0, qr->width - 7));
  EXPECT_FALSE(finder_at(*qr, qr->width - 7, qr->width - 7));
  // The same text, the same code; other text, another code.
  EXPECT_EQ(*otp::qr_matrix(kUri), *qr);
  EXPECT_NE(*otp::qr_matrix(kUri + "x"), *qr);
}

TEST(QrMatrix, LongerTextTakesALargerVersion) {
  auto small = otp::qr_matrix("otpauth://totp/a?secret=AAAAAAAAAAAAAAAA");
  auto big = otp::qr_matrix(std::string(1000, 'x'));
  ASSERT_TRUE(small && big);
  EXPECT_LT(small->version, big->version);
}

TEST(QrMatrix, RefusesNulAndTooLongText) {
  auto nul = otp::qr_matrix(std::string_view("a\0b", 3));
  ASSERT_FALSE(nul);
  EXPECT_NE(nul.error().find("NUL"), std::string::npos);
  auto huge = otp::qr_matrix(std::string(3000, 'x'));
  ASSERT_FALSE(huge);
  EXPECT_NE(huge.error().find("too long"), std::string::npos) << huge.error();
  EXPECT_FALSE(otp::qr_terminal(std::string(3000, 'x'), true));
}

class QrRendering : public ::testing::TestWithParam<otp::QrStyle> {};

TEST_P(QrRendering, DrawsExactlyTheModulesOfTheMatrix) {
  const otp::QrStyle style = GetParam();
  for (const std::string& text : {kUri, std::string("hi"), std::string(500, 'Q')}) {
    auto qr = otp::qr_matrix(text);
    ASSERT_TRUE(qr) << qr.error();
    const std::string drawn = otp::render_qr(*qr, style);
    auto back = read_back(drawn, style, qr->width + 2 * otp::qr_quiet_zone);
    ASSERT_TRUE(back) << "not a well-formed drawing:\n" << drawn;
    EXPECT_EQ(*back, with_quiet_zone(*qr)) << drawn;
    // qr_terminal is the same thing in one call.
    auto direct = otp::qr_terminal(text, style.utf8, style.dark_ink);
    ASSERT_TRUE(direct) << direct.error();
    EXPECT_EQ(*direct, drawn);
  }
}

INSTANTIATE_TEST_SUITE_P(Styles, QrRendering,
                         ::testing::Values(otp::QrStyle{.utf8 = true, .dark_ink = false},
                                           otp::QrStyle{.utf8 = true, .dark_ink = true},
                                           otp::QrStyle{.utf8 = false, .dark_ink = false},
                                           otp::QrStyle{.utf8 = false, .dark_ink = true}),
                         [](const auto& param_info) {
                           return std::string(param_info.param.utf8 ? "Utf8" : "Ascii") +
                                  (param_info.param.dark_ink ? "DarkInk" : "LightInk");
                         });

TEST(QrGlyphs, DefaultDrawsLightModulesAsBlocksLikeQrencodeUtf8) {
  // A tiny hand-made "matrix" pins the glyph choice: one dark module in the
  // top-left corner of a 1x1 code, inside the 4-module quiet zone.
  QrMatrix one;
  one.width = 1;
  one.version = 1;
  one.modules = {1};
  const std::string full = "\u2588", upper = "\u2580", lower = "\u2584";
  std::string wall;
  for (int i = 0; i < 9; ++i) wall += full;
  // Rows 0-3 light (2 lines of full blocks); rows 4 (dark module in column 4)
  // and 5 (light) share a line; rows 6-8 and the half row below are light.
  std::string middle = full + full + full + full + lower + full + full + full + full;
  EXPECT_EQ(otp::render_qr(one),
            wall + "\n" + wall + "\n" + middle + "\n" + wall + "\n" + wall + "\n");
  // Dark ink: the dark module is the only ink, in the upper half.
  const std::string blank(9, ' ');
  EXPECT_EQ(otp::render_qr(one, {.utf8 = true, .dark_ink = true}),
            blank + "\n" + blank + "\n    " + upper + "    \n" + blank + "\n" + blank + "\n");
  // ASCII: one row a line, two characters a module.
  const std::string ascii = otp::render_qr(one, {.utf8 = false, .dark_ink = true});
  EXPECT_EQ(lines_of(ascii).size(), 9u);
  EXPECT_EQ(lines_of(ascii)[4], "        ##        ");
  EXPECT_EQ(lines_of(otp::render_qr(one, {.utf8 = false, .dark_ink = false}))[4],
            "########  ########");
}

}  // namespace

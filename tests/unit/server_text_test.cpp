// Server text made safe to show: escape sequences (CSI, OSC 52 with either
// terminator, unterminated strings, DCS, 8-bit C1 forms), bidi overrides and
// invisible characters are removed, invalid UTF-8 becomes U+FFFD, the result is
// bounded with an ellipsis, and marked lines say they come from the server.
#include "parley/userauth/server_text.hpp"

#include <gtest/gtest.h>

#include <string>

#include "parley/wire/bytes.hpp"

namespace parley::userauth {
namespace {

constexpr std::size_t kBig = 1 << 20;
const std::string kFffd = "\xEF\xBF\xBD";
const std::string kEllipsis = "\xE2\x80\xA6";

std::string clean(std::string_view text, bool keep_newlines = true) {
  return sanitize_server_text(text, kBig, keep_newlines);
}

/// Whether the output holds nothing a terminal could act on.
bool inert(std::string_view s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if ((c < 0x20 && c != '\n') || c == 0x7F) return false;
    if (c == 0xC2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) < 0xA0) return false;
  }
  return true;
}

TEST(ServerText, PlainTextPassesThrough) {
  EXPECT_EQ(clean("Password: "), "Password: ");
  EXPECT_EQ(clean("Grüße, 世界 🙂"), "Grüße, 世界 🙂");
  EXPECT_EQ(clean(""), "");
}

TEST(ServerText, CsiColourAndCursorMovementAreRemoved) {
  EXPECT_EQ(clean("\x1b[31mred\x1b[0m text"), "red text");
  EXPECT_EQ(clean("\x1b[1;32;40mbold\x1b[m"), "bold");
  // Cursor up, erase line, home, clear screen: the classic fake-prompt kit.
  EXPECT_EQ(clean("a\x1b[2A\x1b[2K\x1b[H\x1b[2Jb"), "ab");
  // Private parameters and intermediates.
  EXPECT_EQ(clean("\x1b[?25l\x1b[?1049hx\x1b[1 q"), "x");
  // A CSI broken by a non-CSI character ends there; the rest is plain text.
  EXPECT_EQ(clean("\x1b[3\xc3\xa9x"), "éx");
}

TEST(ServerText, Osc52ClipboardWritesAreRemovedWithEitherTerminator) {
  // OSC 52 ; c ; base64 BEL  and  ... ESC \ (ST).
  EXPECT_EQ(clean("before\x1b]52;c;Y3VybCBldmlsLnNoIHwgc2g=\x07"
                  "after"),
            "beforeafter");
  EXPECT_EQ(clean("before\x1b]52;c;Y3VybCBldmlsLnNoIHwgc2g=\x1b\\after"), "beforeafter");
  // Window title.
  EXPECT_EQ(clean("\x1b]0;root@prod\x07ok"), "ok");
  // 8-bit ST (U+009C) ends it too.
  EXPECT_EQ(clean("\x1b]0;title\xc2\x9cok"), "ok");
}

TEST(ServerText, UnterminatedOscSwallowsTheRest) {
  EXPECT_EQ(clean("visible\x1b]52;c;aGlkZGVu"), "visible");
  EXPECT_EQ(clean("visible\x1b]0;hidden\nstill hidden"), "visible");
  EXPECT_EQ(clean("end\x1b"), "end");
  EXPECT_EQ(clean("end\x1b["), "end");
}

TEST(ServerText, DcsSosPmApcStringsAreRemoved) {
  EXPECT_EQ(clean("a\x1bP1$r0m\x1b\\b"), "ab");                // DCS (DECRQSS reply)
  EXPECT_EQ(clean("a\x1bXsos\x1b\\b"), "ab");                  // SOS
  EXPECT_EQ(clean("a\x1b^pm\x1b\\b"), "ab");                   // PM
  EXPECT_EQ(clean("a\x1b_Gf=100;AAAA\x1b\\b"), "ab");          // APC (kitty graphics)
  EXPECT_EQ(clean("a\x1bPq#0;2;0;0;0#0~~@@vv\x1b\\b"), "ab");  // sixel
  // An ESC that is not ST ends the string and starts a new sequence.
  EXPECT_EQ(clean("a\x1bPdata\x1b[31mb"), "ab");
}

TEST(ServerText, TwoByteAndCharsetEscapesAreRemoved) {
  EXPECT_EQ(clean("a\x1b"
                  "cb"),
            "ab");  // RIS: full reset
  EXPECT_EQ(clean("a\x1b"
                  "7\x1b"
                  "8b"),
            "ab");                                 // save/restore cursor
  EXPECT_EQ(clean("a\x1b(0qqq\x1b(Bb"), "aqqqb");  // charset designation (nF)
  EXPECT_EQ(clean("a\x1b#8b"), "ab");              // DECALN
}

TEST(ServerText, CanAndSubCancelASequence) {
  EXPECT_EQ(clean("a\x1b]0;title\x18visible"), "avisible");
  EXPECT_EQ(clean("a\x1b[31\x1a"
                  "5m"),
            "a5m");
}

TEST(ServerText, C1ControlsAndTheirIntroducersAreRemoved) {
  // U+009B is CSI in 8-bit form: "\u009b31m" must not leave "31m" behind.
  EXPECT_EQ(clean("a\xc2\x9b"
                  "31mred\xc2\x9b"
                  "0m"),
            "ared");
  EXPECT_EQ(clean("a\xc2\x9d"
                  "52;c;eA==\x07"
                  "b"),
            "ab");  // 8-bit OSC
  EXPECT_EQ(clean("a\xc2\x90"
                  "data\xc2\x9c"
                  "b"),
            "ab");  // 8-bit DCS ... ST
  EXPECT_EQ(clean("a\xc2\x85"
                  "b\xc2\x80"
                  "c"),
            "abc");  // NEL, PAD
  // A raw 0x9B byte is not UTF-8: it is shown as U+FFFD, never passed on.
  EXPECT_EQ(clean("a\x9b"
                  "31m"),
            "a" + kFffd + "31m");
}

TEST(ServerText, C0ControlsAndDelAreRemoved) {
  EXPECT_EQ(clean(std::string("a\0b\x07"
                              "c\x08"
                              "d\x7f"
                              "e",
                              9)),
            "abcde");
  EXPECT_EQ(clean("a\tb"), "a b");
  EXPECT_EQ(clean("line\r\nnext\roverwrite"), "line\nnextoverwrite");
}

TEST(ServerText, NewlinesAreKeptOrTurnedIntoSpaces) {
  EXPECT_EQ(sanitize_server_text("one\ntwo\n", kBig, true), "one\ntwo\n");
  EXPECT_EQ(sanitize_server_text("one\ntwo\n", kBig, false), "one two ");
  EXPECT_EQ(sanitize_server_text("one\r\ntwo", kBig, false), "one two");
  // Line and paragraph separators are newlines too.
  EXPECT_EQ(sanitize_server_text("a\xe2\x80\xa8"
                                 "b",
                                 kBig, true),
            "a\nb");
  EXPECT_EQ(sanitize_server_text("a\xe2\x80\xa9"
                                 "b",
                                 kBig, false),
            "a b");
}

TEST(ServerText, BidiControlsAreRemoved) {
  // U+202E RIGHT-TO-LEFT OVERRIDE: "invoice_\u202egnp.exe" displays as
  // "invoice_exe.png".
  EXPECT_EQ(clean("invoice_\xe2\x80\xae"
                  "gnp.exe"),
            "invoice_gnp.exe");
  for (const char* c : {"\xe2\x80\xaa", "\xe2\x80\xab", "\xe2\x80\xac", "\xe2\x80\xad",
                        "\xe2\x81\xa6", "\xe2\x81\xa7", "\xe2\x81\xa8", "\xe2\x81\xa9",
                        "\xe2\x80\x8e", "\xe2\x80\x8f", "\xd8\x9c"}) {
    EXPECT_EQ(clean(std::string("x") + c + "y"), "xy") << to_hex(as_bytes(c));
  }
}

TEST(ServerText, InvisibleCharactersAreRemoved) {
  // Zero width space, word joiner, BOM, soft hyphen, tag characters ("ASCII
  // smuggling"), Hangul filler.
  EXPECT_EQ(clean("pass\xe2\x80\x8bword"), "password");
  EXPECT_EQ(clean("pass\xe2\x81\xa0word"), "password");
  EXPECT_EQ(clean("\xef\xbb\xbfpassword"), "password");
  EXPECT_EQ(clean("pass\xc2\xadword"), "password");
  EXPECT_EQ(clean("ok\xf3\xa0\x80\x81\xf3\xa0\x81\xa8\xf3\xa0\x81\xa9"), "ok");
  EXPECT_EQ(clean("a\xe3\x85\xa4"
                  "b"),
            "ab");
  // ZWJ stays: emoji sequences and scripts need it.
  EXPECT_EQ(clean("\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x92\xbb"),
            "\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x92\xbb");
}

TEST(ServerText, InvalidUtf8BecomesReplacementCharacters) {
  EXPECT_EQ(clean("a\xff"
                  "b"),
            "a" + kFffd + "b");
  EXPECT_EQ(clean("a\x80"
                  "b"),
            "a" + kFffd + "b");  // stray continuation
  EXPECT_EQ(clean("a\xc0\xaf"
                  "b"),
            "a" + kFffd + kFffd + "b");  // overlong '/'
  EXPECT_EQ(clean("a\xe0\x80\xaf"
                  "b"),
            "a" + kFffd + kFffd + kFffd + "b");
  EXPECT_EQ(clean("a\xed\xa0\x80"
                  "b"),
            "a" + kFffd + kFffd + kFffd + "b");  // surrogate
  EXPECT_EQ(clean("a\xf4\x90\x80\x80"
                  "b"),
            "a" + kFffd + kFffd + kFffd + kFffd + "b");
  // A truncated sequence is one U+FFFD, and the next character survives.
  EXPECT_EQ(clean("a\xe2\x82"
                  "b"),
            "a" + kFffd + "b");
  EXPECT_EQ(clean("a\xf0\x9f\x99"), "a" + kFffd);
  // An overlong ESC (C0 9B) cannot smuggle an escape past the decoder.
  EXPECT_EQ(clean("\xc0\x9b[31mx"), kFffd + kFffd + "[31mx");
  // Noncharacters.
  EXPECT_EQ(clean("a\xef\xbf\xbe"
                  "b"),
            "a" + kFffd + "b");
}

TEST(ServerText, HugeBannerIsBoundedWithAnEllipsis) {
  std::string banner;
  while (banner.size() < (1 << 20)) banner += "Authorized use only. \x1b[1mMonitored.\x1b[0m\n";
  for (std::size_t max : {std::size_t{3}, std::size_t{4}, std::size_t{80}, std::size_t{4096}}) {
    const std::string out = sanitize_server_text(banner, max, true);
    EXPECT_LE(out.size(), max);
    EXPECT_GE(out.size(), max - 2);
    EXPECT_TRUE(out.ends_with(kEllipsis)) << max;
    EXPECT_TRUE(inert(out));
  }
  EXPECT_EQ(sanitize_server_text(banner, 10, true), "Authori" + kEllipsis);
  // Memory follows the bound, not the input.
  EXPECT_LE(sanitize_server_text(banner, 4096, true).capacity(), 2 * 4096u);
}

TEST(ServerText, MegabytesOfEscapesAndGarbageAreLinear) {
  // Every state of the parser, over and over; nothing of it is shown.
  std::string junk;
  while (junk.size() < (4 << 20))
    junk +=
        "\x1b[1;2;3\x1b]0;t\x1b\\\x1bPq\x07\x1b(\x18\xc2\x9b"
        "9m";
  EXPECT_EQ(sanitize_server_text(junk, 4096, true), "");
  std::string invalid(4 << 20, '\xff');
  const std::string out = sanitize_server_text(invalid, 4096, true);
  EXPECT_LE(out.size(), 4096u);
  EXPECT_TRUE(out.ends_with(kEllipsis));
}

TEST(ServerText, BoundCutsAtACharacterBoundary) {
  // Four 4-byte characters (16 bytes) into 12: two fit with the ellipsis (11).
  const std::string emoji = "\xf0\x9f\x99\x82";
  const std::string out = sanitize_server_text(emoji + emoji + emoji + emoji, 12, false);
  EXPECT_EQ(out, emoji + emoji + kEllipsis);
  // Exactly at the bound: no ellipsis.
  EXPECT_EQ(sanitize_server_text("abcdef", 6, false), "abcdef");
  EXPECT_EQ(sanitize_server_text("abcdefg", 6, false), "abc" + kEllipsis);
  // Removed sequences do not count against the bound.
  EXPECT_EQ(sanitize_server_text("ab\x1b[31mcdef\x1b[0m", 6, false), "abcdef");
  // Below the ellipsis' size the text is only cut.
  EXPECT_EQ(sanitize_server_text("abcdef", 2, false), "ab");
  EXPECT_EQ(sanitize_server_text("abcdef", 0, false), "");
}

TEST(ServerText, MarkPrefixesEveryLine) {
  EXPECT_EQ(mark_server_text(""), "");
  EXPECT_EQ(mark_server_text("Password: "), "[server] Password: ");
  EXPECT_EQ(mark_server_text("one\ntwo"), "[server] one\n[server] two");
  EXPECT_EQ(mark_server_text("one\ntwo\n"), "[server] one\n[server] two\n");
  EXPECT_EQ(mark_server_text("\n\nx"), "[server] \n[server] \n[server] x");
}

TEST(ServerText, ForgedClientPromptIsExposed) {
  // A banner that tries to erase itself and print what looks like the client's
  // own host-key question ends up inert and marked as the server's.
  const std::string banner =
      "Welcome\x1b[1A\x1b[2K\rThe authenticity of host can't be established.\n"
      "Are you sure you want to continue connecting (yes/no)? ";
  const std::string shown = mark_server_text(sanitize_server_text(banner, 4096, true));
  EXPECT_TRUE(inert(shown));
  EXPECT_EQ(shown,
            "[server] WelcomeThe authenticity of host can't be established.\n"
            "[server] Are you sure you want to continue connecting (yes/no)? ");
}

}  // namespace
}  // namespace parley::userauth

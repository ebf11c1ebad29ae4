#include "parley/userauth/server_text.hpp"

#include <algorithm>

namespace parley::userauth {
namespace {

constexpr char32_t kReplacement = 0xFFFD;
constexpr std::string_view kEllipsis = "\xE2\x80\xA6";  // U+2026, 3 bytes
constexpr std::string_view kMark = "[server] ";

constexpr char32_t kBel = 0x07, kCan = 0x18, kSub = 0x1A, kEsc = 0x1B;

unsigned byte_at(std::string_view s, std::size_t i) {
  return static_cast<unsigned char>(s[i]);
}

struct Decoded {
  char32_t code_point;
  std::size_t length;  // bytes consumed (>= 1)
};

/// Decodes the character at s[i]. Well-formed sequences follow Unicode Table 3-7
/// (no overlongs, surrogates or code points past U+10FFFF); anything else yields
/// U+FFFD for its maximal ill-formed subpart, so the next decode starts at the
/// first byte that could not continue it (Unicode §3.9, "substitution of
/// maximal subparts"), which keeps the decoder linear and resynchronising.
Decoded decode(std::string_view s, std::size_t i) {
  const unsigned b0 = byte_at(s, i);
  if (b0 < 0x80) return {b0, 1};
  std::size_t trail = 0;
  char32_t cp = 0;
  unsigned lo = 0x80, hi = 0xBF;  // allowed range of the first trail byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    trail = 1;
    cp = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    trail = 2;
    cp = b0 & 0x0F;
    if (b0 == 0xE0) lo = 0xA0;  // overlong
    if (b0 == 0xED) hi = 0x9F;  // surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    trail = 3;
    cp = b0 & 0x07;
    if (b0 == 0xF0) lo = 0x90;  // overlong
    if (b0 == 0xF4) hi = 0x8F;  // past U+10FFFF
  } else {
    return {kReplacement, 1};  // a stray trail byte, C0/C1 (overlong) or F5..FF
  }
  std::size_t j = i + 1;
  for (std::size_t k = 0; k < trail; ++k, ++j) {
    if (j >= s.size()) return {kReplacement, j - i};
    const unsigned b = byte_at(s, j);
    if (b < lo || b > hi) return {kReplacement, j - i};
    cp = (cp << 6) | (b & 0x3F);
    lo = 0x80;
    hi = 0xBF;
  }
  return {cp, trail + 1};
}

/// Format characters that render as nothing yet change what the user reads:
/// bidi controls reorder text, the others hide text inside or between words.
bool invisible(char32_t c) {
  return c == 0x00AD                         // soft hyphen
         || c == 0x034F                      // combining grapheme joiner
         || c == 0x061C                      // Arabic letter mark (bidi)
         || c == 0x115F || c == 0x1160       // Hangul fillers
         || c == 0x180E                      // Mongolian vowel separator
         || c == 0x200B                      // zero width space
         || c == 0x200E || c == 0x200F       // LRM, RLM (bidi)
         || (c >= 0x202A && c <= 0x202E)     // LRE, RLE, PDF, LRO, RLO (bidi)
         || (c >= 0x2060 && c <= 0x2064)     // word joiner, invisible operators
         || (c >= 0x2066 && c <= 0x2069)     // LRI, RLI, FSI, PDI (bidi)
         || (c >= 0x206A && c <= 0x206F)     // deprecated format controls
         || c == 0x3164 || c == 0xFFA0       // Hangul fillers
         || c == 0xFEFF                      // zero width no-break space (BOM)
         || (c >= 0xFFF9 && c <= 0xFFFB)     // interlinear annotation
         || (c >= 0xE0000 && c <= 0xE007F)   // tag characters
         || (c >= 0xE0100 && c <= 0xE01EF);  // variation selectors supplement
}

bool noncharacter(char32_t c) {
  return (c >= 0xFDD0 && c <= 0xFDEF) || (c & 0xFFFE) == 0xFFFE;
}

/// The C1 introducers in their 8-bit form (ECMA-48 §5.3), which some
/// terminals honour even in UTF-8 as U+0080–U+009F.
constexpr char32_t kC1Dcs = 0x90, kC1Sos = 0x98, kC1Csi = 0x9B, kC1St = 0x9C, kC1Osc = 0x9D,
                   kC1Pm = 0x9E, kC1Apc = 0x9F;

/// Where the parser is in an escape sequence (ECMA-48 / VT500 parser states,
/// reduced to what is needed to skip sequences whole).
enum class State {
  text,
  escape,        // after ESC
  intermediate,  // ESC 0x20..0x2F ...: an nF sequence awaiting its final byte
  csi,           // ESC [ or U+009B: parameters and intermediates until 0x40..0x7E
  string,        // OSC, DCS, SOS, PM, APC: everything until ST (or BEL)
  string_escape  // ESC inside a string: ST if a '\' follows
};

/// Appends characters to a bounded output, cutting it with an ellipsis once
/// something does not fit.
class BoundedText {
 public:
  explicit BoundedText(std::size_t max_bytes, std::size_t input_size) : max_(max_bytes) {
    out_.reserve(std::min(max_bytes, input_size));
  }

  bool full() const { return full_; }

  void put(char32_t c) {
    char buf[4];
    std::size_t n = 0;
    if (c < 0x80) {
      buf[n++] = static_cast<char>(c);
    } else if (c < 0x800) {
      buf[n++] = static_cast<char>(0xC0 | (c >> 6));
      buf[n++] = static_cast<char>(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
      buf[n++] = static_cast<char>(0xE0 | (c >> 12));
      buf[n++] = static_cast<char>(0x80 | ((c >> 6) & 0x3F));
      buf[n++] = static_cast<char>(0x80 | (c & 0x3F));
    } else {
      buf[n++] = static_cast<char>(0xF0 | (c >> 18));
      buf[n++] = static_cast<char>(0x80 | ((c >> 12) & 0x3F));
      buf[n++] = static_cast<char>(0x80 | ((c >> 6) & 0x3F));
      buf[n++] = static_cast<char>(0x80 | (c & 0x3F));
    }
    if (out_.size() + n > max_) {
      truncate();
      return;
    }
    out_.append(buf, n);
  }

  std::string take() { return std::move(out_); }

 private:
  // Removes whole characters until the ellipsis fits, then appends it. The
  // output holds only well-formed UTF-8, so a character starts at the last
  // byte that is not 10xxxxxx.
  void truncate() {
    full_ = true;
    if (max_ < kEllipsis.size()) return;
    while (out_.size() > max_ - kEllipsis.size()) {
      while ((static_cast<unsigned char>(out_.back()) & 0xC0) == 0x80) out_.pop_back();
      out_.pop_back();
    }
    out_.append(kEllipsis);
  }

  std::size_t max_;
  std::string out_;
  bool full_ = false;
};

/// What one character does to the parser: the state after it, and whether it
/// was used up (false: it ended a sequence and is read again as text).
struct Step {
  // Implicit, so a state function can `return {State::csi};`.
  constexpr Step(State n, bool used = true) : next(n), consumed(used) {}
  State next;
  bool consumed;
};

Step in_text(char32_t c, bool keep_newlines, BoundedText& out) {
  if (c == kEsc) return {State::escape};
  if (c == kC1Csi) return {State::csi};
  if (c == kC1Osc || c == kC1Dcs || c == kC1Sos || c == kC1Pm || c == kC1Apc)
    return {State::string};
  if (c == '\n' || c == 0x2028 || c == 0x2029) {
    out.put(keep_newlines ? '\n' : ' ');
  } else if (c == '\t') {
    out.put(' ');
  } else if (c < 0x20 || (c >= 0x7F && c <= 0x9F) || invisible(c)) {
    // Dropped: controls ('\r' included: alone it returns the cursor to
    // overwrite the line) and invisible format characters.
  } else {
    out.put(noncharacter(c) ? kReplacement : c);
  }
  return {State::text};
}

Step in_escape(char32_t c) {
  if (c == '[') return {State::csi};
  if (c == ']' || c == 'P' || c == 'X' || c == '^' || c == '_') return {State::string};
  if (c >= 0x20 && c <= 0x2F) return {State::intermediate};
  if (c >= 0x30 && c <= 0x7E)
    return {State::text};  // a two-byte sequence (ESC c, ESC 7, ESC =, ...)
  if (c == kEsc) return {State::escape};
  return {State::text, false};
}

Step in_intermediate(char32_t c) {
  if (c >= 0x30 && c <= 0x7E) return {State::text};
  if (c == kEsc) return {State::escape};
  if (c < 0x20 || c > 0x2F) return {State::text, false};
  return {State::intermediate};
}

Step in_csi(char32_t c) {
  if (c >= 0x40 && c <= 0x7E) return {State::text};  // the final byte
  if (c == kEsc) return {State::escape};
  // Not a CSI byte: the sequence is malformed; show what follows.
  if (c < 0x20 || c > 0x3F) return {State::text, false};
  return {State::csi};
}

Step in_string(char32_t c) {
  // xterm also ends OSC at BEL; ending every string there only ever
  // shows less, never more, since the output holds no escapes.
  if (c == kBel || c == kC1St) return {State::text};
  if (c == kEsc) return {State::string_escape};
  return {State::string};
}

Step in_string_escape(char32_t c) {
  // ESC \ is ST; any other ESC ends the string and starts a sequence.
  if (c == '\\') return {State::text};
  return {State::escape, false};
}

Step step(State state, char32_t c, bool keep_newlines, BoundedText& out) {
  switch (state) {
    case State::text:
      return in_text(c, keep_newlines, out);
    case State::escape:
      return in_escape(c);
    case State::intermediate:
      return in_intermediate(c);
    case State::csi:
      return in_csi(c);
    case State::string:
      return in_string(c);
    case State::string_escape:
      return in_string_escape(c);
  }
  return {State::text};
}

}  // namespace

std::string sanitize_server_text(std::string_view text, std::size_t max_bytes, bool keep_newlines) {
  BoundedText out(max_bytes, text.size());
  State state = State::text;
  std::size_t i = 0;
  while (i < text.size() && !out.full()) {
    const auto [c, length] = decode(text, i);
    // CAN and SUB abort any sequence in progress (ECMA-48 §8.3.6, §8.3.148).
    if (c == kCan || c == kSub) {
      state = State::text;
      i += length;
      continue;
    }
    const Step next = step(state, c, keep_newlines, out);
    state = next.next;
    if (next.consumed) i += length;
  }
  return out.take();
}

std::string mark_server_text(std::string_view sanitized) {
  std::string out;
  const auto lines =
      static_cast<std::size_t>(std::count(sanitized.begin(), sanitized.end(), '\n')) + 1;
  out.reserve(sanitized.size() + lines * kMark.size());
  std::size_t start = 0;
  while (start < sanitized.size()) {
    out.append(kMark);
    const std::size_t newline = sanitized.find('\n', start);
    if (newline == std::string_view::npos) {
      out.append(sanitized.substr(start));
      break;
    }
    out.append(sanitized.substr(start, newline + 1 - start));
    start = newline + 1;
  }
  return out;
}

std::string printable_for_log(std::string_view text, std::size_t max) {
  std::string out;
  for (char c : text.substr(0, max)) {
    const auto u = static_cast<unsigned char>(c);
    out.push_back(u >= 0x20 && u < 0x7f ? c : '?');
  }
  return out;
}

}  // namespace parley::userauth

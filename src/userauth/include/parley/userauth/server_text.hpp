// Server text made safe to show: a banner, a keyboard-interactive name,
// instruction or prompt comes from the server and is untrusted. Shown raw on a
// terminal it could recolour or move the cursor to forge the client's own
// prompts, set the window title, write the clipboard (OSC 52), or reorder what
// the user reads with bidi overrides ("exe.png" shown for "gnp.exe").
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace parley::userauth {

/// Returns `text` as plain, printable UTF-8 of at most `max_bytes` bytes.
///
/// - Invalid UTF-8 (overlong forms, surrogates, code points above U+10FFFF,
///   truncated or stray bytes) becomes U+FFFD, one per maximal ill-formed
///   subpart (Unicode §3.9).
/// - Escape sequences are removed whole: CSI (ESC [ ... final byte), OSC
///   (ESC ] ... BEL or ST, e.g. OSC 52 clipboard writes), DCS, SOS, PM and APC
///   (ESC P / X / ^ / _ ... ST), nF and two-byte ESC sequences, and their 8-bit
///   C1 forms (U+009B, U+009D, ...). A string never terminated swallows the
///   rest of the text; CAN and SUB cancel a sequence as terminals do.
/// - Control characters are removed: C0 except '\n' (kept when keep_newlines,
///   otherwise a space), '\t' (a space) and '\r' (dropped), DEL, C1 U+0080–U+009F.
/// - Invisible format characters are removed: bidi controls (U+061C, U+200E,
///   U+200F, U+202A–U+202E, U+2066–U+2069, U+206A–U+206F), zero-width and
///   invisible characters that can hide text inside a word (U+00AD, U+034F,
///   U+115F, U+1160, U+180E, U+200B, U+2060–U+2064, U+3164, U+FEFF, U+FFA0,
///   U+FFF9–U+FFFB), tag characters U+E0000–U+E007F and variation selectors
///   U+E0100–U+E01EF (both used to smuggle invisible text). ZWJ/ZWNJ (U+200C,
///   U+200D) and U+FE00–U+FE0F stay: scripts and emoji need them and they
///   hide nothing. U+2028/U+2029 are treated as '\n'. Noncharacters become U+FFFD.
/// - If the result is longer than max_bytes, it is cut at a character boundary
///   and "…" (3 bytes, counted in the bound) is appended; the result is never
///   longer than max_bytes (below 3 bytes there is no room for the ellipsis).
///
/// Linear in the input; allocates O(max_bytes) and stops reading once full.
std::string sanitize_server_text(std::string_view text, std::size_t max_bytes, bool keep_newlines);

/// Prefixes every line of already sanitized text with "[server] " so the user
/// can tell the server's words from the client's own prompts. A final '\n'
/// does not start another line; empty text stays empty.
std::string mark_server_text(std::string_view sanitized);

/// Peer-chosen text (a user name, a channel type, a client version) made safe
/// for one log line: printable ASCII only (anything else becomes '?'), at most
/// `max` bytes, so it can neither forge lines nor hide in escapes.
std::string printable_for_log(std::string_view text, std::size_t max = 128);

}  // namespace parley::userauth

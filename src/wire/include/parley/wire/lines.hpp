// Splitting a text file's contents into lines: the one line reader behind
// every line-oriented file parley parses (users.oath, google_authenticator,
// password files; known_hosts and authorized_keys may use it too). Files are
// read by their callers; this only cuts text already in memory.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

namespace parley::wire {

/// One line of a text. The views point into the text that was split.
struct Line {
  std::size_t number = 0;    // 1-based
  std::string_view text;     // without the '\n' (and without one '\r' before it)
  std::string_view raw;      // exactly as in the text, line ending included
  bool terminated = false;   // ended by '\n' (false only for a last line without one)
};

/// The lines of `text` in order. A line ends at '\n'; one '\r' before it is
/// dropped from `text` (a file edited on Windows). Text after the last '\n'
/// is a last, unterminated line; an empty text has no lines, and a text
/// ending in '\n' has no empty line after it. Joining every `raw` gives `text`.
std::vector<Line> split_lines(std::string_view text);

}  // namespace parley::wire

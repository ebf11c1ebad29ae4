// Helpers for the text of line-based files and patterns that parley parses
// (authorized_keys, known_hosts, ChannelPolicy rules, responder rules): the
// text is handed in, nothing here reads a file.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace parley::wire {

/// ASCII white space as isspace(3) knows it in the C locale: space, \t, \n,
/// \v, \f, \r (never a byte of a UTF-8 sequence).
bool is_space(char c);

/// `s` without the white space at either end (a view into it).
std::string_view trim(std::string_view s);

/// Whether a shell pattern matches case-sensitively or folds case.
enum class GlobCase { exact, fold };

/// fnmatch(3) of `text` against the shell pattern `pattern` ('*', '?', '[...]'),
/// as plain strings: '/' and a leading '.' are ordinary characters. Text or a
/// pattern holding a NUL byte never matches.
bool glob_match(std::string_view pattern, std::string_view text, GlobCase c = GlobCase::exact);

}  // namespace parley::wire

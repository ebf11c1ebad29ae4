#include "parley/wire/text.hpp"

#include <fnmatch.h>

#include <string>

namespace parley::wire {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

bool glob_match(std::string_view pattern, std::string_view text, GlobCase c) {
  // fnmatch(3) takes C strings: an embedded NUL would cut the text short.
  if (pattern.find('\0') != std::string_view::npos || text.find('\0') != std::string_view::npos)
    return false;
  const std::string p(pattern), t(text);
  return ::fnmatch(p.c_str(), t.c_str(), c == GlobCase::fold ? FNM_CASEFOLD : 0) == 0;
}

}  // namespace parley::wire

#include "parley/wire/name_list.hpp"

#include <algorithm>

namespace parley::wire {

bool is_valid_name(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return c > 0x20 && c < 0x7f && c != ',';  // RFC 4251 §6: printable US-ASCII, no comma
  });
}

namespace {

/// Calls `each` with every name of the wire form; false if a name is invalid.
template <class Each>
bool for_each_name(std::string_view text, EmptyNames empty, Each&& each) {
  if (text.empty()) return true;
  std::size_t start = 0;
  while (true) {
    std::size_t comma = text.find(',', start);
    std::string_view name = text.substr(start, comma == std::string_view::npos ? text.npos : comma - start);
    if (name.empty() && empty == EmptyNames::skip) {
      // skipped: matches nothing
    } else if (!is_valid_name(name)) {
      return false;
    } else {
      each(name);
    }
    if (comma == std::string_view::npos) return true;
    start = comma + 1;
  }
}

}  // namespace

std::optional<NameList> NameList::parse(std::string_view text, EmptyNames empty) {
  std::vector<std::string> names;
  if (!for_each_name(text, empty, [&](std::string_view name) { names.emplace_back(name); })) return std::nullopt;
  return NameList(std::move(names));
}

std::optional<bool> NameList::check(std::string_view text, std::string_view name, EmptyNames empty) {
  bool found = false;
  if (!for_each_name(text, empty, [&](std::string_view n) { found = found || n == name; })) return std::nullopt;
  return found;
}

std::optional<NameList> NameList::of(std::vector<std::string> names) {
  for (const auto& n : names)
    if (!is_valid_name(n)) return std::nullopt;
  return NameList(std::move(names));
}

bool NameList::contains(std::string_view name) const {
  return std::find(names_.begin(), names_.end(), name) != names_.end();
}

std::string NameList::joined() const {
  std::string out;
  for (std::size_t i = 0; i < names_.size(); ++i) {
    if (i) out.push_back(',');
    out += names_[i];
  }
  return out;
}

}  // namespace parley::wire

// RFC 4251 §5 name-list: comma-separated, non-empty US-ASCII names.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace parley::wire {

/// What an empty name (",," or a trailing comma) in a peer's name-list does.
/// RFC 4251 §5 has none, but peers send them (libssh 0.10's default cipher list
/// ends in a comma), and OpenSSH's match_list() reads one as a name nothing
/// matches: a KEXINIT is read with `skip` so, everything else with `refuse`.
enum class EmptyNames : std::uint8_t { refuse, skip };

/// A validated name-list. Exists only as a valid value: every name is non-empty,
/// printable US-ASCII without comma, and at most 64 characters (RFC 4251 §6).
class NameList {
 public:
  NameList() = default;
  /// Parses the wire form ("a,b,c"; "" is the empty list). nullopt if malformed.
  static std::optional<NameList> parse(std::string_view text, EmptyNames empty = EmptyNames::refuse);
  /// Checks the wire form without building a list (no allocation): nullopt if
  /// malformed, else whether `name` is one of its names.
  static std::optional<bool> check(std::string_view text, std::string_view name,
                                   EmptyNames empty = EmptyNames::refuse);
  /// Builds from names; nullopt if any name is invalid.
  static std::optional<NameList> of(std::vector<std::string> names);

  const std::vector<std::string>& names() const { return names_; }
  bool contains(std::string_view name) const;
  bool empty() const { return names_.empty(); }
  /// The wire form, names joined by commas.
  std::string joined() const;

 private:
  explicit NameList(std::vector<std::string> n) : names_(std::move(n)) {}
  std::vector<std::string> names_;
};

/// True if `name` is a valid algorithm/method name per RFC 4251 §6.
bool is_valid_name(std::string_view name);

}  // namespace parley::wire

// Byte containers shared by every layer.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace parley {

using Bytes = std::vector<std::uint8_t>;
using BytesView = std::span<const std::uint8_t>;

/// Views a string's characters as bytes (no copy; the string must outlive the view).
inline BytesView as_bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}
/// Views bytes as characters (no copy, no validation).
inline std::string_view as_chars(BytesView b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}
inline Bytes to_bytes(std::string_view s) { return Bytes(s.begin(), s.end()); }

/// Lower-case hex, for tests and diagnostics of public data only.
std::string to_hex(BytesView b);
/// Parses hex (whitespace ignored); returns an empty vector on malformed input.
Bytes from_hex(std::string_view hex);

}  // namespace parley

// What a scratch-code digest may be, for both implementations alike: hex
// digits, so that a digest can never run into the user name in a Redis key
// ("<prefix>scratch:<digest>:<user>", see redis_protocol.hpp).
#pragma once

#include <string_view>

namespace parley::state {

inline bool is_hex_digest(std::string_view digest) {
  if (digest.empty() || digest.size() > 128) return false;
  for (const char c : digest) {
    const bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    if (!hex) return false;
  }
  return true;
}

}  // namespace parley::state

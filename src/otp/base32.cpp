// RFC 4648 §6 base32.
#include "parley/otp/base32.hpp"

#include <cstdint>

namespace parley::otp {
namespace {

using crypto::SecretBytes;
using crypto::secure_wipe;

int base32_value(std::uint8_t c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a';
  if (c >= '2' && c <= '7') return c - '2' + 26;
  return -1;
}

}  // namespace

std::expected<crypto::SecretBytes, std::string> base32_decode(BytesView text) {
  std::size_t count = 0;
  bool padding = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const std::uint8_t c = text[i];
    if (c == ' ' || c == '\t') continue;
    if (c == '=') {
      padding = true;
      continue;
    }
    if (base32_value(c) < 0)
      return std::unexpected("invalid base32 character at position " + std::to_string(i + 1));
    if (padding) return std::unexpected(std::string("base32 text continues after '=' padding"));
    ++count;
  }
  if (count == 0) return std::unexpected(std::string("the secret is empty"));
  // 5 bits a character: 1, 3 or 6 characters left over cannot end a byte.
  if (const std::size_t r = count % 8; r == 1 || r == 3 || r == 6)
    return std::unexpected(
        std::string("base32 secret has an impossible length (a character missing?)"));
  const std::size_t size = count * 5 / 8;
  SecretBytes key(size);
  auto out = key.mutable_view();
  std::uint32_t bits = 0;
  int held = 0;
  std::size_t n = 0;
  for (const std::uint8_t c : text) {
    const int v = base32_value(c);
    if (v < 0) continue;
    bits = (bits << 5) | static_cast<std::uint32_t>(v);
    held += 5;
    if (held >= 8) {
      held -= 8;
      out[n++] = static_cast<std::uint8_t>(bits >> held);
      bits &= (1u << held) - 1;
    }
  }
  secure_wipe(&bits, sizeof bits);
  return key;
}

std::string base32_encode(BytesView data) {
  static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  std::string out;
  out.reserve((data.size() * 8 + 4) / 5);
  std::uint32_t bits = 0;
  int held = 0;
  for (const std::uint8_t byte : data) {
    bits = (bits << 8) | byte;
    held += 8;
    while (held >= 5) {
      held -= 5;
      out.push_back(alphabet[(bits >> held) & 31u]);
    }
    bits &= (1u << held) - 1;
  }
  if (held > 0) out.push_back(alphabet[(bits << (5 - held)) & 31u]);
  secure_wipe(&bits, sizeof bits);
  return out;
}

}  // namespace parley::otp

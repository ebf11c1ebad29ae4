#include "parley/wire/writer.hpp"

namespace parley::wire {

Writer& Writer::byte(std::uint8_t v) {
  out_.push_back(v);
  return *this;
}

Writer& Writer::boolean(bool v) { return byte(v ? 1 : 0); }

Writer& Writer::uint32(std::uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out_.push_back(static_cast<std::uint8_t>(v >> s));
  return *this;
}

Writer& Writer::uint64(std::uint64_t v) {
  for (int s = 56; s >= 0; s -= 8) out_.push_back(static_cast<std::uint8_t>(v >> s));
  return *this;
}

Writer& Writer::raw(BytesView v) {
  out_.insert(out_.end(), v.begin(), v.end());
  return *this;
}

Writer& Writer::string(BytesView v) {
  uint32(static_cast<std::uint32_t>(v.size()));
  return raw(v);
}

Writer& Writer::string(std::string_view v) { return string(as_bytes(v)); }

Writer& Writer::mpint_unsigned(BytesView m) {
  std::size_t skip = 0;
  while (skip < m.size() && m[skip] == 0) ++skip;
  m = m.subspan(skip);
  if (m.empty()) return uint32(0);
  const bool pad = (m[0] & 0x80) != 0;
  uint32(static_cast<std::uint32_t>(m.size() + (pad ? 1 : 0)));
  if (pad) byte(0);
  return raw(m);
}

Writer& Writer::name_list(const NameList& v) { return string(v.joined()); }

Bytes encode_string(BytesView v) {
  Bytes out;
  out.reserve(4 + v.size());
  Writer(out).string(v);
  return out;
}

}  // namespace parley::wire

// Encoder for the RFC 4251 §5 data types, appending to a byte vector.
#pragma once

#include <cstdint>
#include <string_view>

#include "parley/wire/bytes.hpp"
#include "parley/wire/name_list.hpp"

namespace parley::wire {

/// Appends encoded fields to `out` (which it does not own).
class Writer {
 public:
  explicit Writer(Bytes& out) : out_(out) {}

  Writer& byte(std::uint8_t v);
  Writer& boolean(bool v);
  Writer& uint32(std::uint32_t v);
  Writer& uint64(std::uint64_t v);
  Writer& string(BytesView v);
  Writer& string(std::string_view v);
  /// An mpint from an unsigned big-endian magnitude (leading zeros stripped,
  /// a zero byte added when the top bit is set).
  Writer& mpint_unsigned(BytesView magnitude);
  Writer& name_list(const NameList& v);
  Writer& raw(BytesView v);

 private:
  Bytes& out_;
};

/// Encodes a single string field (uint32 length + bytes).
Bytes encode_string(BytesView v);

}  // namespace parley::wire

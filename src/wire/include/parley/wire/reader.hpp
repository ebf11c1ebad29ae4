// Bounds-checked decoder for the RFC 4251 §5 data types.
#pragma once

#include <cstdint>
#include <expected>
#include <string_view>

#include "parley/wire/bytes.hpp"
#include "parley/wire/name_list.hpp"

namespace parley::wire {

/// What was wrong with an encoded field.
enum class DecodeError : std::uint8_t {
  truncated,         // a field ran past the end of the input
  trailing_bytes,    // the message had bytes after its last field
  bad_boolean,       // (accepted: any non-zero is true; kept for completeness)
  non_canonical_mpint,  // leading zero/0xff padding beyond what sign needs
  negative_mpint,    // an mpint that must be positive was negative
  bad_name_list,     // a name-list with an empty or non-ASCII name
  not_utf8,          // a string that must be UTF-8 was not
  too_long,          // a field longer than the caller's bound
};

std::string_view to_string(DecodeError e);

/// Reads fields from a byte view. The first failure is remembered: later reads
/// return empty values without touching memory, and finish() reports it. Peer
/// data is read only through this type.
///
///   Reader r(payload);
///   auto id = r.byte(); auto name = r.string(); auto n = r.uint32();
///   if (auto done = r.finish(); !done) return error(done.error());
class Reader {
 public:
  explicit Reader(BytesView data) : data_(data) {}

  std::uint8_t byte();
  bool boolean();
  std::uint32_t uint32();
  std::uint64_t uint64();
  /// A length-prefixed string as a view into the input.
  BytesView string();
  /// A string that must be at most `max` bytes long.
  BytesView string(std::size_t max);
  /// A string viewed as characters.
  std::string_view text();
  /// A string that must be valid UTF-8 without NUL.
  std::string_view utf8(std::size_t max = 65536);
  /// An mpint's two's-complement magnitude bytes (canonical form checked);
  /// fails on negative values. Returned without the sign-padding zero byte.
  BytesView mpint_positive();
  NameList name_list(EmptyNames empty = EmptyNames::refuse);
  /// A name-list's wire form, checked as name_list() checks it but not split
  /// (NameList::check() looks a name up in it).
  std::string_view name_list_text(EmptyNames empty = EmptyNames::refuse);
  /// `n` raw bytes.
  BytesView raw(std::size_t n);
  /// Everything left.
  BytesView rest();

  std::size_t remaining() const { return ok() ? data_.size() - pos_ : 0; }
  std::size_t position() const { return pos_; }
  bool ok() const { return !failed_; }
  /// Marks the reader failed with `e` (for caller-side semantic checks).
  void fail(DecodeError e);
  /// Succeeds only if every read succeeded and no bytes remain.
  std::expected<void, DecodeError> finish() const;
  /// The first failure, if any.
  std::expected<void, DecodeError> status() const;

 private:
  bool need(std::size_t n);
  BytesView data_;
  std::size_t pos_ = 0;
  bool failed_ = false;
  DecodeError error_ = DecodeError::truncated;
};

/// True if `s` is well-formed UTF-8 (no overlongs, no surrogates) without NUL.
bool is_utf8_without_nul(std::string_view s);

}  // namespace parley::wire

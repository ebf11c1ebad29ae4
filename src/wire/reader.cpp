#include "parley/wire/reader.hpp"

namespace parley::wire {

std::string_view to_string(DecodeError e) {
  switch (e) {
    case DecodeError::truncated: return "truncated field";
    case DecodeError::trailing_bytes: return "trailing bytes after the last field";
    case DecodeError::bad_boolean: return "bad boolean";
    case DecodeError::non_canonical_mpint: return "non-canonical mpint";
    case DecodeError::negative_mpint: return "negative mpint";
    case DecodeError::bad_name_list: return "malformed name-list";
    case DecodeError::not_utf8: return "string is not UTF-8 or contains NUL";
    case DecodeError::too_long: return "field too long";
  }
  return "unknown decode error";
}

void Reader::fail(DecodeError e) {
  if (!failed_) {
    failed_ = true;
    error_ = e;
  }
}

bool Reader::need(std::size_t n) {
  if (failed_) return false;
  if (data_.size() - pos_ < n) {
    fail(DecodeError::truncated);
    return false;
  }
  return true;
}

std::uint8_t Reader::byte() {
  if (!need(1)) return 0;
  return data_[pos_++];
}

bool Reader::boolean() { return byte() != 0; }  // RFC 4251 §5: any non-zero is TRUE

std::uint32_t Reader::uint32() {
  if (!need(4)) return 0;
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | data_[pos_++];
  return v;
}

std::uint64_t Reader::uint64() {
  if (!need(8)) return 0;
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | data_[pos_++];
  return v;
}

BytesView Reader::raw(std::size_t n) {
  if (!need(n)) return {};
  BytesView v = data_.subspan(pos_, n);
  pos_ += n;
  return v;
}

BytesView Reader::rest() {
  if (failed_) return {};
  BytesView v = data_.subspan(pos_);
  pos_ = data_.size();
  return v;
}

BytesView Reader::string() {
  std::uint32_t len = uint32();
  return raw(len);
}

BytesView Reader::string(std::size_t max) {
  std::uint32_t len = uint32();
  if (failed_) return {};
  if (len > max) {
    fail(DecodeError::too_long);
    return {};
  }
  return raw(len);
}

std::string_view Reader::text() { return as_chars(string()); }

std::string_view Reader::utf8(std::size_t max) {
  std::string_view s = as_chars(string(max));
  if (failed_) return {};
  if (!is_utf8_without_nul(s)) {
    fail(DecodeError::not_utf8);
    return {};
  }
  return s;
}

BytesView Reader::mpint_positive() {
  BytesView v = string(16384);  // 131072-bit bound: far above any group we use
  if (failed_ || v.empty()) return {};
  if (v[0] & 0x80) {
    fail(DecodeError::negative_mpint);
    return {};
  }
  if (v[0] == 0) {
    // RFC 4251 §5: a leading zero is allowed only to clear the sign bit.
    if (v.size() == 1 || !(v[1] & 0x80)) {
      fail(DecodeError::non_canonical_mpint);
      return {};
    }
    return v.subspan(1);
  }
  return v;
}

NameList Reader::name_list(EmptyNames empty) {
  std::string_view s = as_chars(string(65536));
  if (failed_) return {};
  auto parsed = NameList::parse(s, empty);
  if (!parsed) {
    fail(DecodeError::bad_name_list);
    return {};
  }
  return *std::move(parsed);
}

std::string_view Reader::name_list_text(EmptyNames empty) {
  std::string_view s = as_chars(string(65536));
  if (failed_) return {};
  if (!NameList::check(s, {}, empty)) {
    fail(DecodeError::bad_name_list);
    return {};
  }
  return s;
}

std::expected<void, DecodeError> Reader::status() const {
  if (failed_) return std::unexpected(error_);
  return {};
}

std::expected<void, DecodeError> Reader::finish() const {
  if (failed_) return std::unexpected(error_);
  if (pos_ != data_.size()) return std::unexpected(DecodeError::trailing_bytes);
  return {};
}

bool is_utf8_without_nul(std::string_view s) {
  std::size_t i = 0;
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  while (i < n) {
    unsigned char c = p[i];
    if (c == 0) return false;
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len;
    std::uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (n - i < len) return false;
    for (std::size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += len;
  }
  return true;
}

}  // namespace parley::wire

// Secret bytes: wiped on destruction, compared in constant time, never printable.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "parley/wire/bytes.hpp"

namespace parley::crypto {

/// Overwrites memory in a way the compiler cannot elide (OPENSSL_cleanse).
void secure_wipe(void* p, std::size_t n);
/// Constant-time comparison of two byte strings (time depends only on sizes).
bool constant_time_equal(BytesView a, BytesView b);

/// Wipes a buffer (Bytes, std::string) that held secret material when the
/// scope ends, for secrets that must pass through an ordinary container (a
/// decoded key file, one built with wire::Writer). Reserve the buffer's final
/// size first: growth would leave an unwiped copy behind.
template <class Buffer>
class WipeOnExit {
 public:
  explicit WipeOnExit(Buffer& b) : b_(b) {}
  ~WipeOnExit() { secure_wipe(b_.data(), b_.size()); }
  WipeOnExit(const WipeOnExit&) = delete;
  WipeOnExit& operator=(const WipeOnExit&) = delete;

 private:
  Buffer& b_;
};

/// A fixed-size secret byte buffer. Its storage is allocated once and never
/// reallocated, so no stray copies are left behind; it is wiped on destruction
/// and on move-from. It has no stream operator and no implicit conversion, so
/// it cannot reach a log by accident.
class SecretBytes {
 public:
  SecretBytes() = default;
  explicit SecretBytes(std::size_t size);
  explicit SecretBytes(BytesView data);
  SecretBytes(const SecretBytes& other);
  SecretBytes& operator=(const SecretBytes& other);
  SecretBytes(SecretBytes&& other) noexcept;
  SecretBytes& operator=(SecretBytes&& other) noexcept;
  ~SecretBytes();

  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  /// Read access for the crypto and protocol code that must use the secret.
  BytesView view() const { return {data_, size_}; }
  std::span<std::uint8_t> mutable_view() { return {data_, size_}; }

  /// Constant-time equality.
  friend bool operator==(const SecretBytes& a, const SecretBytes& b) {
    return constant_time_equal(a.view(), b.view());
  }

 private:
  void release();
  std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace parley::crypto

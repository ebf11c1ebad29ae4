#include "parley/crypto/secret.hpp"

#include <openssl/crypto.h>

#include <cstring>
#include <utility>

namespace parley::crypto {

void secure_wipe(void* p, std::size_t n) {
  // OPENSSL_cleanse writes through a volatile function pointer, so the store
  // survives dead-store elimination even right before the memory is freed.
  if (p != nullptr && n != 0) OPENSSL_cleanse(p, n);
}

bool constant_time_equal(BytesView a, BytesView b) {
  // Sizes are public (a MAC length, a key length); only the contents are secret.
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

// The buffer has exactly the requested size and is never resized, so the only
// copy of the secret is the one release() wipes. Value-initialised (zeroed).
SecretBytes::SecretBytes(std::size_t size)
    : data_(size != 0 ? new std::uint8_t[size]() : nullptr), size_(size) {}

SecretBytes::SecretBytes(BytesView data) : SecretBytes(data.size()) {
  if (size_ != 0) std::memcpy(data_, data.data(), size_);
}

SecretBytes::SecretBytes(const SecretBytes& other) : SecretBytes(other.view()) {}

SecretBytes& SecretBytes::operator=(const SecretBytes& other) {
  if (this == &other) return *this;
  SecretBytes copy(other);
  *this = std::move(copy);
  return *this;
}

// A move hands over the allocation itself, so no copy of the secret is made and
// the moved-from object is left empty.
SecretBytes::SecretBytes(SecretBytes&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

SecretBytes& SecretBytes::operator=(SecretBytes&& other) noexcept {
  if (this == &other) return *this;
  release();
  data_ = std::exchange(other.data_, nullptr);
  size_ = std::exchange(other.size_, 0);
  return *this;
}

SecretBytes::~SecretBytes() {
  release();
}

void SecretBytes::release() {
  if (data_ != nullptr) {
    secure_wipe(data_, size_);
    delete[] data_;
  }
  data_ = nullptr;
  size_ = 0;
}

}  // namespace parley::crypto

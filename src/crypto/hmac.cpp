// HMAC-SHA1 for hashed known_hosts names (see hmac.hpp for why SHA-1 at all).
#include "parley/crypto/hmac.hpp"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <array>

#include "ossl_ptr.hpp"

namespace parley::crypto {
namespace {

using ossl::libcrypto_failed;

// RFC 3174: SHA-1's output, and so HMAC-SHA1's tag, is 20 bytes.
constexpr std::size_t sha1_size = 20;

/// A keyed HMAC-SHA1 context made once per process. Setting the digest by
/// name makes the HMAC provider fetch SHA-1 (a provider-store lookup under a
/// lock), so each call duplicates this context and re-keys the copy instead.
/// It is only ever read after construction, which is safe from any thread.
const EVP_MAC_CTX* hmac_sha1_template() {
  static const ossl::MacCtxPtr ctx = [] {
    EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    if (mac == nullptr) libcrypto_failed("EVP_MAC_fetch(HMAC)");
    ossl::MacCtxPtr c(EVP_MAC_CTX_new(mac));
    EVP_MAC_free(mac);  // the context holds its own reference
    if (c == nullptr) libcrypto_failed("EVP_MAC_CTX_new");
    // OSSL_PARAM wants a mutable char*; give it a local copy of the name.
    char digest[] = "SHA1";
    const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                                 OSSL_PARAM_construct_end()};
    // A copy can only be made of a keyed context; every call re-keys its copy.
    const std::array<std::uint8_t, sha1_size> placeholder_key{};
    if (EVP_MAC_init(c.get(), placeholder_key.data(), placeholder_key.size(), params) != 1) {
      libcrypto_failed("EVP_MAC_init(HMAC-SHA1)");
    }
    return c;
  }();
  return ctx.get();
}

}  // namespace

Bytes hmac_sha1(BytesView key, BytesView data) {
  ossl::MacCtxPtr ctx(EVP_MAC_CTX_dup(hmac_sha1_template()));
  if (ctx == nullptr) libcrypto_failed("EVP_MAC_CTX_dup");
  // A null key means "keep the previous key" to EVP_MAC_init, so an empty key
  // (legal in RFC 2104) still needs a non-null pointer.
  static constexpr std::uint8_t no_key = 0;
  const std::uint8_t* key_ptr = key.empty() ? &no_key : key.data();
  if (EVP_MAC_init(ctx.get(), key_ptr, key.size(), nullptr) != 1) {
    libcrypto_failed("EVP_MAC_init");
  }
  if (!data.empty() && EVP_MAC_update(ctx.get(), data.data(), data.size()) != 1) {
    libcrypto_failed("EVP_MAC_update");
  }
  Bytes out(sha1_size);
  std::size_t len = 0;
  if (EVP_MAC_final(ctx.get(), out.data(), &len, out.size()) != 1 || len != sha1_size) {
    libcrypto_failed("EVP_MAC_final");
  }
  return out;
}

}  // namespace parley::crypto

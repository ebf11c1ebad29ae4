#include "parley/crypto/kdf.hpp"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>

#include <cstdlib>

namespace parley::crypto {
namespace {

EVP_KDF* sshkdf() {
  static EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "SSHKDF", nullptr);  // fetched once per process
  return kdf;
}

}  // namespace

SecretBytes derive_ssh_key(HashAlg alg, BytesView k, BytesView h, char letter, BytesView session_id,
                           std::size_t length) {
  SecretBytes out(length);
  EVP_KDF_CTX* ctx = EVP_KDF_CTX_new(sshkdf());
  if (ctx == nullptr) std::abort();
  char digest[16];
  std::snprintf(digest, sizeof digest, "%s", alg == HashAlg::sha256 ? "SHA256" : "SHA512");
  char type = letter;
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<std::uint8_t*>(k.data()),
                                        k.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SSHKDF_XCGHASH,
                                        const_cast<std::uint8_t*>(h.data()), h.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SSHKDF_SESSION_ID,
                                        const_cast<std::uint8_t*>(session_id.data()),
                                        session_id.size()),
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_SSHKDF_TYPE, &type, 1),
      OSSL_PARAM_construct_end(),
  };
  const int ok = EVP_KDF_derive(ctx, out.mutable_view().data(), length, params);
  EVP_KDF_CTX_free(ctx);
  if (ok != 1) std::abort();  // only fails on programming errors (bad parameters)
  return out;
}

}  // namespace parley::crypto

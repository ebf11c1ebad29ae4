// Owning pointers for libcrypto objects. Private to src/crypto (the only layer
// that includes OpenSSL). Objects that can hold secrets are cleared as freed.
#pragma once

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <memory>

#include "parley/crypto/hash.hpp"

namespace parley::crypto::ossl {

/// Ends the process: reached only where libcrypto cannot fail on valid input
/// (a built-in algorithm missing, out of memory), so no caller could recover,
/// and carrying on after e.g. a failed encryption could put plaintext on the
/// wire. Like OpenSSH's fatal(). Defined in hash.cpp.
[[noreturn]] void libcrypto_failed(const char* what);

/// The digest, fetched once per process (OpenSSL 3 fetches search the
/// provider store under a lock). Defined in hash.cpp.
const EVP_MD* digest_md(HashAlg alg);

/// Calls `Free` on destruction; a template so each type gets one line below.
template <auto Free>
struct Deleter {
  template <class T>
  void operator()(T* p) const {
    Free(p);
  }
};

using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, Deleter<EVP_PKEY_CTX_free>>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, Deleter<EVP_MD_CTX_free>>;
using CipherCtxPtr = std::unique_ptr<EVP_CIPHER_CTX, Deleter<EVP_CIPHER_CTX_free>>;
using MacCtxPtr = std::unique_ptr<EVP_MAC_CTX, Deleter<EVP_MAC_CTX_free>>;
// BIGNUMs here hold private exponents and shared secrets: cleared, not just freed.
using BnPtr = std::unique_ptr<BIGNUM, Deleter<BN_clear_free>>;
using BnCtxPtr = std::unique_ptr<BN_CTX, Deleter<BN_CTX_free>>;
using EcPointPtr = std::unique_ptr<EC_POINT, Deleter<EC_POINT_clear_free>>;
using EcdsaSigPtr = std::unique_ptr<ECDSA_SIG, Deleter<ECDSA_SIG_free>>;
using ParamBldPtr = std::unique_ptr<OSSL_PARAM_BLD, Deleter<OSSL_PARAM_BLD_free>>;
// OSSL_PARAM_free also clears the secure block holding copies of private BIGNUMs.
using ParamPtr = std::unique_ptr<OSSL_PARAM, Deleter<OSSL_PARAM_free>>;

}  // namespace parley::crypto::ossl

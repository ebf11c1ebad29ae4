#include "parley/crypto/hash.hpp"
#include "ossl_ptr.hpp"

#include <openssl/evp.h>

#include <cstdio>
#include <cstdlib>

namespace parley::crypto {

void ossl::libcrypto_failed(const char* what) {
  std::fprintf(stderr, "parley: libcrypto failed in %s; aborting\n", what);
  std::abort();
}

const EVP_MD* ossl::digest_md(HashAlg alg) {
  auto fetch = [](const char* name) {
    EVP_MD* md = EVP_MD_fetch(nullptr, name, nullptr);
    if (md == nullptr) libcrypto_failed("EVP_MD_fetch");
    return md;
  };
  switch (alg) {
    case HashAlg::sha256: {
      static const EVP_MD* const md = fetch("SHA256");
      return md;
    }
    case HashAlg::sha512: {
      static const EVP_MD* const md = fetch("SHA512");
      return md;
    }
  }
  libcrypto_failed("digest_md (unknown HashAlg)");
}

namespace {

using ossl::libcrypto_failed;
const EVP_MD* digest_alg(HashAlg alg) { return ossl::digest_md(alg); }


}  // namespace

std::size_t digest_size(HashAlg alg) {
  switch (alg) {
    case HashAlg::sha256: return 32;
    case HashAlg::sha512: return 64;
  }
  return 0;
}

struct Hasher::Impl {
  HashAlg alg;
  ossl::MdCtxPtr ctx;
};

Hasher::Hasher(HashAlg alg) : impl_(std::make_unique<Impl>(Impl{alg, nullptr})) {
  impl_->ctx.reset(EVP_MD_CTX_new());
  if (impl_->ctx == nullptr) libcrypto_failed("EVP_MD_CTX_new");
  if (EVP_DigestInit_ex2(impl_->ctx.get(), digest_alg(alg), nullptr) != 1) {
    libcrypto_failed("EVP_DigestInit_ex2");
  }
}

Hasher::~Hasher() = default;
Hasher::Hasher(Hasher&&) noexcept = default;
Hasher& Hasher::operator=(Hasher&&) noexcept = default;

Hasher& Hasher::update(BytesView data) {
  if (!data.empty() && EVP_DigestUpdate(impl_->ctx.get(), data.data(), data.size()) != 1) {
    libcrypto_failed("EVP_DigestUpdate");
  }
  return *this;
}

Bytes Hasher::finish() {
  Bytes out(digest_size(impl_->alg));
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(impl_->ctx.get(), out.data(), &len) != 1) {
    libcrypto_failed("EVP_DigestFinal_ex");
  }
  // Same context, same (already fetched) digest: ready for the next message.
  if (EVP_DigestInit_ex2(impl_->ctx.get(), digest_alg(impl_->alg), nullptr) != 1) {
    libcrypto_failed("EVP_DigestInit_ex2");
  }
  return out;
}

Bytes digest(HashAlg alg, BytesView data) {
  Bytes out(digest_size(alg));
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), out.data(), &len, digest_alg(alg), nullptr) != 1) {
    libcrypto_failed("EVP_Digest");
  }
  return out;
}

}  // namespace parley::crypto

// The exchange hash and the encoding of K it hashes (RFC 4253 §8).
#include "parley/transport/exchange_hash.hpp"

#include "parley/crypto/hash.hpp"
#include "parley/wire/writer.hpp"

namespace parley::transport {

crypto::SecretBytes encode_shared_secret(KexAlg kex, const crypto::SecretBytes& k) {
  Bytes tmp;
  tmp.reserve(k.size() + 5);
  if (kex_secret_is_string(kex)) wire::Writer(tmp).string(k.view());
  else wire::Writer(tmp).mpint_unsigned(k.view());
  crypto::SecretBytes out(tmp);
  crypto::secure_wipe(tmp.data(), tmp.size());
  return out;
}

Bytes exchange_hash(const ExchangeTranscript& t, BytesView k_encoded) {
  Bytes buf;
  wire::Writer w(buf);
  w.string(t.v_c).string(t.v_s).string(t.i_c).string(t.i_s).string(t.k_s);
  if (kex_uses_mpint(t.kex)) w.mpint_unsigned(t.q_c).mpint_unsigned(t.q_s);
  else w.string(t.q_c).string(t.q_s);
  w.raw(k_encoded);
  return crypto::digest(kex_hash(t.kex), buf);
}

}  // namespace parley::transport

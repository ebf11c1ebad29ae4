// The exchange hash of a key exchange (RFC 4253 §8, RFC 5656 §4), public so a
// privilege-separation monitor can compute H itself from a transcript rather
// than sign whatever it is handed.
#pragma once

#include <string_view>

#include "parley/crypto/secret.hpp"
#include "parley/transport/algorithms.hpp"
#include "parley/wire/bytes.hpp"

namespace parley::transport {

/// What one key exchange hashes, as the wire carried it.
struct ExchangeTranscript {
  KexAlg kex{};
  std::string_view v_c, v_s;  // identification lines without CR LF
  BytesView i_c, i_s;         // the KEXINIT payloads, message number included
  BytesView k_s;              // the server's host key blob
  BytesView q_c, q_s;         // the ephemeral public values (mpint magnitudes for DH)
};

/// K as it is hashed: an mpint (RFC 4253 §8), or a string for the hybrid
/// (draft-ietf-sshm-mlkem-hybrid-kex, as OpenSSH encodes it).
crypto::SecretBytes encode_shared_secret(KexAlg kex, const crypto::SecretBytes& k);

/// H = HASH(V_C || V_S || I_C || I_S || K_S || Q_C/e || Q_S/f || K), with K
/// already encoded by encode_shared_secret().
Bytes exchange_hash(const ExchangeTranscript& t, BytesView k_encoded);

}  // namespace parley::transport

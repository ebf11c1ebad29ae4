#include "parley/crypto/packet_cipher.hpp"
#include "ossl_ptr.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <array>
#include <iterator>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace parley::crypto {
namespace {

// ---------------------------------------------------------------------------
// libcrypto plumbing

using ossl::libcrypto_failed;

void check(int ok, const char* what) {
  if (ok != 1) libcrypto_failed(what);
}

// A broken caller contract (a tag buffer of the wrong size, a short prefix) is a
// bug in parley, not something a peer can cause; it must not pass silently.
void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "parley: PacketCipher misused: %s; aborting\n", what);
    std::abort();
  }
}

int to_int(std::size_t n) {
  require(n <= INT_MAX, "length beyond libcrypto's int range");
  return static_cast<int>(n);
}

using CipherCtx = ossl::CipherCtxPtr;
using MacCtx = ossl::MacCtxPtr;

// OpenSSL 3 "explicit fetching": a fetch searches the provider store under a
// lock, so every algorithm is fetched once per process and kept for its lifetime.
const EVP_CIPHER* fetch_cipher(const char* name) {
  EVP_CIPHER* c = EVP_CIPHER_fetch(nullptr, name, nullptr);
  if (c == nullptr) libcrypto_failed(name);
  return c;
}

EVP_MAC* fetch_mac(const char* name) {
  EVP_MAC* m = EVP_MAC_fetch(nullptr, name, nullptr);
  if (m == nullptr) libcrypto_failed(name);
  return m;
}

/// What each cipher is: its SSH name, libcrypto's name for it, and its sizes.
struct CipherFacts {
  CipherAlg alg;
  std::string_view name;
  const char* evp_name;
  CipherInfo info;
};
constexpr CipherFacts ciphers[] = {
    {CipherAlg::chacha20_poly1305, "chacha20-poly1305@openssh.com", "ChaCha20", {64, 0, 8, true}},
    {CipherAlg::aes256_gcm, "aes256-gcm@openssh.com", "AES-256-GCM", {32, 12, 16, true}},
    {CipherAlg::aes128_gcm, "aes128-gcm@openssh.com", "AES-128-GCM", {16, 12, 16, true}},
    {CipherAlg::aes256_ctr, "aes256-ctr", "AES-256-CTR", {32, 16, 16, false}},
    {CipherAlg::aes128_ctr, "aes128-ctr", "AES-128-CTR", {16, 16, 16, false}},
};

/// The row for `alg`; nullptr only for a value cast from outside the enumeration.
const CipherFacts* facts(CipherAlg alg) {
  for (const auto& f : ciphers)
    if (f.alg == alg) return &f;
  return nullptr;
}

/// libcrypto's cipher for `alg`. All are fetched together on first use.
const EVP_CIPHER* evp_cipher(CipherAlg alg) {
  static const auto fetched = [] {
    std::array<const EVP_CIPHER*, std::size(ciphers)> all{};
    for (std::size_t i = 0; i < all.size(); ++i) all[i] = fetch_cipher(ciphers[i].evp_name);
    return all;
  }();
  for (std::size_t i = 0; i < fetched.size(); ++i)
    if (ciphers[i].alg == alg) return fetched[i];
  libcrypto_failed("evp_cipher (unknown CipherAlg)");
}

const EVP_CIPHER* chacha20_alg() { return evp_cipher(CipherAlg::chacha20_poly1305); }

EVP_MAC* poly1305_alg() {
  static EVP_MAC* const m = fetch_mac("POLY1305");
  return m;
}

EVP_MAC* hmac_alg() {
  static EVP_MAC* const m = fetch_mac("HMAC");
  return m;
}

CipherCtx new_cipher_ctx(const EVP_CIPHER* cipher, BytesView key, const std::uint8_t* iv,
                         Direction dir) {
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  if (ctx == nullptr) libcrypto_failed("EVP_CIPHER_CTX_new");
  check(EVP_CipherInit_ex2(ctx.get(), cipher, key.data(), iv, dir == Direction::seal ? 1 : 0,
                           nullptr),
        "EVP_CipherInit_ex2");
  return ctx;
}

// Runs the context's cipher over `data` in place. Every mode used here (CTR,
// ChaCha20, GCM) is a stream mode, so the output is exactly as long as the input.
void cipher_in_place(EVP_CIPHER_CTX* ctx, std::span<std::uint8_t> data) {
  if (data.empty()) return;
  int out_len = 0;
  check(EVP_CipherUpdate(ctx, data.data(), &out_len, data.data(), to_int(data.size())),
        "EVP_CipherUpdate");
}

void mac_update(EVP_MAC_CTX* ctx, BytesView data) {
  if (!data.empty()) check(EVP_MAC_update(ctx, data.data(), data.size()), "EVP_MAC_update");
}

const char* hmac_digest_name(MacAlg alg) {
  switch (alg) {
    case MacAlg::hmac_sha2_256:
    case MacAlg::hmac_sha2_256_etm:
      return "SHA256";
    case MacAlg::hmac_sha2_512:
    case MacAlg::hmac_sha2_512_etm:
      return "SHA512";
    case MacAlg::implicit:
      break;
  }
  return nullptr;
}

// An HMAC context keyed with `key`; later packets re-initialise it without a key,
// which reuses the stored key and digest instead of fetching or re-keying.
MacCtx new_hmac_ctx(MacAlg alg, BytesView key) {
  MacCtx ctx(EVP_MAC_CTX_new(hmac_alg()));
  if (ctx == nullptr) libcrypto_failed("EVP_MAC_CTX_new");
  // OSSL_PARAM wants a mutable char*; give it a local copy of the name.
  char digest[8] = {};
  std::strncpy(digest, hmac_digest_name(alg), sizeof digest - 1);
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_end(),
  };
  // A null key pointer would mean "reuse the previous key"; an empty key is legal HMAC.
  static const std::uint8_t no_key = 0;
  check(EVP_MAC_init(ctx.get(), key.empty() ? &no_key : key.data(), key.size(), params),
        "EVP_MAC_init");
  return ctx;
}


void store_be64(std::uint8_t* p, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<std::uint8_t>(v >> (56 - 8 * i));
}

constexpr std::size_t kLengthField = 4;  // RFC 4253 §6: uint32 packet_length

// ---------------------------------------------------------------------------
// chacha20-poly1305@openssh.com (OpenSSH PROTOCOL.chacha20poly1305)
//
// The 64-byte key is K_2 || K_1. K_1 encrypts only the 4-byte length, so a
// receiver can learn it before the whole packet arrives; K_2 encrypts the rest
// and, at block counter 0, yields the one-time Poly1305 key. Both use the
// packet sequence number as a 64-bit big-endian nonce. The tag covers the
// encrypted length and the encrypted rest. The spec is written for the
// original ChaCha20 (64-bit counter, 64-bit nonce); in OpenSSL's RFC 8439
// layout that is IV = le32(counter) || 00000000 || be64(seq).
//
// An idle connection keeps only its 64-byte key: the ChaCha20 and Poly1305
// contexts belong to the thread and are keyed afresh for each use (ChaCha20's
// key setup is a copy of the key, Poly1305 is keyed per packet anyway), which
// saves three libcrypto contexts (about 2.5 KiB) per connection and allocates
// nothing per packet.
class ChachaPoly final : public PacketCipher {
  static constexpr std::size_t kTag = 16;
  static constexpr std::size_t kKey = 32;

 public:
  explicit ChachaPoly(BytesView key) { std::memcpy(key_.data(), key.data(), key_.size()); }
  ~ChachaPoly() override { OPENSSL_cleanse(key_.data(), key_.size()); }
  ChachaPoly(const ChachaPoly&) = delete;
  ChachaPoly& operator=(const ChachaPoly&) = delete;

  std::size_t block_size() const override { return 8; }
  std::size_t tag_size() const override { return kTag; }
  std::size_t length_prefix() const override { return kLengthField; }
  bool length_outside_blocks() const override { return true; }

  void seal(std::uint32_t seq, std::span<std::uint8_t> packet,
            std::span<std::uint8_t> tag) override {
    require(packet.size() >= kLengthField, "packet shorter than its length field");
    require(tag.size() == kTag, "tag buffer is not tag_size() bytes");
    Contexts& c = contexts();
    start(c.chacha.get(), k1(), seq, 0);
    cipher_in_place(c.chacha.get(), packet.first(kLengthField));
    // poly1305_key() leaves the stream at K_2's block counter 1, where the
    // payload encryption starts.
    std::array<std::uint8_t, 64> key_block;
    poly1305_key(c, seq, key_block);
    cipher_in_place(c.chacha.get(), packet.subspan(kLengthField));
    poly1305(c, key_block, packet, tag.first<kTag>());
    OPENSSL_cleanse(key_block.data(), key_block.size());
  }

  std::uint32_t peek_length(std::uint32_t seq, std::span<std::uint8_t> prefix) override {
    require(prefix.size() >= kLengthField, "prefix shorter than length_prefix()");
    // The prefix stays encrypted: the tag is computed over the ciphertext.
    std::array<std::uint8_t, kLengthField> length;
    std::memcpy(length.data(), prefix.data(), kLengthField);
    Contexts& c = contexts();
    start(c.chacha.get(), k1(), seq, 0);
    cipher_in_place(c.chacha.get(), length);
    return load_be32(length.data());
  }

  bool open(std::uint32_t seq, std::span<std::uint8_t> packet, BytesView tag) override {
    if (packet.size() < kLengthField || tag.size() != kTag) return false;
    Contexts& c = contexts();
    std::array<std::uint8_t, 64> key_block;
    poly1305_key(c, seq, key_block);
    std::array<std::uint8_t, kTag> expected;
    poly1305(c, key_block, packet, expected);
    OPENSSL_cleanse(key_block.data(), key_block.size());
    // Authenticate before decrypting anything (PROTOCOL.chacha20poly1305).
    if (CRYPTO_memcmp(expected.data(), tag.data(), kTag) != 0) return false;
    start(c.chacha.get(), k1(), seq, 0);
    cipher_in_place(c.chacha.get(), packet.first(kLengthField));
    start(c.chacha.get(), k2(), seq, 1);
    cipher_in_place(c.chacha.get(), packet.subspan(kLengthField));
    return true;
  }

 private:
  /// This thread's contexts, made on first use. Every call keys them before use,
  /// so what a previous connection left in them is never used.
  struct Contexts {
    CipherCtx chacha;
    MacCtx poly;
  };
  static Contexts& contexts() {
    thread_local Contexts c = [] {
      const std::array<std::uint8_t, kKey> zero{};
      Contexts made{new_cipher_ctx(chacha20_alg(), zero, nullptr, Direction::seal),
                    MacCtx(EVP_MAC_CTX_new(poly1305_alg()))};
      if (made.poly == nullptr) libcrypto_failed("EVP_MAC_CTX_new");
      return made;
    }();
    return c;
  }

  BytesView k2() const { return BytesView(key_).first(kKey); }  // payload and Poly1305 key
  BytesView k1() const { return BytesView(key_).subspan(kKey); }  // the length only

  // Keys the context with `key` at block `counter` of nonce `seq`. No cipher is
  // passed, so libcrypto re-keys the context it has instead of making a new one.
  static void start(EVP_CIPHER_CTX* ctx, BytesView key, std::uint32_t seq, std::uint32_t counter) {
    std::array<std::uint8_t, 16> iv = {};  // le32 counter || 4 zero bytes || nonce
    iv[0] = static_cast<std::uint8_t>(counter);
    store_be64(iv.data() + 8, seq);
    check(EVP_CipherInit_ex2(ctx, nullptr, key.data(), iv.data(), -1, nullptr),
          "EVP_CipherInit_ex2 (key, nonce)");
  }

  // Writes K_2's keystream block 0 for `seq` to `block` (its first 32 bytes are
  // the Poly1305 key); the context is then positioned at K_2's block 1.
  void poly1305_key(Contexts& c, std::uint32_t seq, std::array<std::uint8_t, 64>& block) const {
    block.fill(0);
    start(c.chacha.get(), k2(), seq, 0);
    cipher_in_place(c.chacha.get(), block);
  }

  static void poly1305(Contexts& c, const std::array<std::uint8_t, 64>& key_block, BytesView data,
                       std::span<std::uint8_t, kTag> out) {
    check(EVP_MAC_init(c.poly.get(), key_block.data(), 32, nullptr), "EVP_MAC_init (poly1305)");
    mac_update(c.poly.get(), data);
    std::size_t out_len = 0;
    check(EVP_MAC_final(c.poly.get(), out.data(), &out_len, out.size()), "EVP_MAC_final");
  }

  std::array<std::uint8_t, 2 * kKey> key_;  // K_2 || K_1
};

// ---------------------------------------------------------------------------
// aes128-gcm@openssh.com, aes256-gcm@openssh.com (RFC 5647)

class AesGcm final : public PacketCipher {
 public:
  AesGcm(CipherAlg alg, Direction dir, BytesView key, BytesView iv)
      // Keyed once here; each packet only installs its IV.
      : ctx_(new_cipher_ctx(evp_cipher(alg), key, nullptr, dir)) {
    std::memcpy(iv_.data(), iv.data(), iv_.size());
  }

  std::size_t block_size() const override { return 16; }
  std::size_t tag_size() const override { return kTag; }
  // RFC 5647 §7.3: packet_length is sent in the clear, as additional authenticated data.
  std::size_t length_prefix() const override { return kLengthField; }
  bool length_outside_blocks() const override { return true; }

  void seal(std::uint32_t, std::span<std::uint8_t> packet, std::span<std::uint8_t> tag) override {
    require(packet.size() >= kLengthField, "packet shorter than its length field");
    require(tag.size() == kTag, "tag buffer is not tag_size() bytes");
    start_packet();
    add_aad(packet.first(kLengthField));
    cipher_in_place(ctx_.get(), packet.subspan(kLengthField));
    check(finish(), "EVP_CipherFinal_ex");
    check(EVP_CIPHER_CTX_ctrl(ctx_.get(), EVP_CTRL_AEAD_GET_TAG, to_int(kTag), tag.data()),
          "EVP_CTRL_AEAD_GET_TAG");
  }

  std::uint32_t peek_length(std::uint32_t, std::span<std::uint8_t> prefix) override {
    require(prefix.size() >= kLengthField, "prefix shorter than length_prefix()");
    return load_be32(prefix.data());
  }

  bool open(std::uint32_t, std::span<std::uint8_t> packet, BytesView tag) override {
    if (packet.size() < kLengthField || tag.size() != kTag) return false;
    start_packet();
    // The ctrl interface takes a mutable pointer; hand it a copy.
    std::array<std::uint8_t, kTag> expected;
    std::memcpy(expected.data(), tag.data(), kTag);
    check(EVP_CIPHER_CTX_ctrl(ctx_.get(), EVP_CTRL_AEAD_SET_TAG, to_int(kTag), expected.data()),
          "EVP_CTRL_AEAD_SET_TAG");
    add_aad(packet.first(kLengthField));
    cipher_in_place(ctx_.get(), packet.subspan(kLengthField));
    // GCM checks the tag (in constant time) in the final step.
    if (finish() != 1) {
      // GCM decrypts as it goes; don't leave unauthenticated plaintext behind.
      std::memset(packet.data(), 0, packet.size());
      return false;
    }
    return true;
  }

 private:
  static constexpr std::size_t kTag = 16;

  // Installs this packet's IV, then advances the invocation counter for the next.
  // RFC 5647 §7.1: IV = fixed (4 bytes) || invocation_counter (8 bytes, big-endian),
  // the counter incremented modulo 2^64 after each packet.
  void start_packet() {
    check(EVP_CipherInit_ex2(ctx_.get(), nullptr, nullptr, iv_.data(), -1, nullptr),
          "EVP_CipherInit_ex2 (IV)");
    for (std::size_t i = iv_.size(); i-- > 4;) {
      if (++iv_[i] != 0) break;
    }
  }

  // Completes the GCM operation (computing or checking the tag). Stream mode
  // produces no output here; the buffer only satisfies the interface.
  int finish() {
    std::array<std::uint8_t, 16> none;
    int out_len = 0;
    return EVP_CipherFinal_ex(ctx_.get(), none.data(), &out_len);
  }

  void add_aad(BytesView aad) {
    int out_len = 0;
    check(EVP_CipherUpdate(ctx_.get(), nullptr, &out_len, aad.data(), to_int(aad.size())),
          "EVP_CipherUpdate (AAD)");
  }

  CipherCtx ctx_;
  std::array<std::uint8_t, 12> iv_;
};

// ---------------------------------------------------------------------------
// aes128-ctr, aes256-ctr (RFC 4344) with hmac-sha2-256/512 (RFC 6668)
//
// RFC 4253 §6.4 (encrypt-and-MAC): mac = MAC(key, uint32 seq || plaintext
// packet), and the whole packet, length included, is encrypted, so the length
// is only known after decrypting the first block. The -etm@openssh.com forms
// (OpenSSH PROTOCOL §1.5) send the length in the clear and MAC the ciphertext:
// mac = MAC(key, uint32 seq || length || ciphertext), checked before decrypting.
// RFC 4344 §4: the CTR counter runs on across packets, so one cipher context
// serves for the life of the key.
class CtrHmac final : public PacketCipher {
 public:
  CtrHmac(CipherAlg cipher, MacAlg mac, Direction dir, BytesView key, BytesView iv,
          BytesView mac_key)
      : ctx_(new_cipher_ctx(evp_cipher(cipher), key, iv.data(), dir)),
        hmac_(new_hmac_ctx(mac, mac_key)),
        mac_len_(mac_len(mac)),
        etm_(mac == MacAlg::hmac_sha2_256_etm || mac == MacAlg::hmac_sha2_512_etm) {}

  std::size_t block_size() const override { return kBlock; }
  std::size_t tag_size() const override { return mac_len_; }
  std::size_t length_prefix() const override { return etm_ ? kLengthField : kBlock; }
  bool length_outside_blocks() const override { return etm_; }

  void seal(std::uint32_t seq, std::span<std::uint8_t> packet,
            std::span<std::uint8_t> tag) override {
    require(packet.size() >= kLengthField, "packet shorter than its length field");
    require(tag.size() == mac_len_, "tag buffer is not tag_size() bytes");
    if (etm_) {
      cipher_in_place(ctx_.get(), packet.subspan(kLengthField));
      compute_mac(seq, packet, tag);
    } else {
      compute_mac(seq, packet, tag);
      cipher_in_place(ctx_.get(), packet);
    }
  }

  std::uint32_t peek_length(std::uint32_t, std::span<std::uint8_t> prefix) override {
    require(prefix.size() >= length_prefix(), "prefix shorter than length_prefix()");
    if (!etm_) cipher_in_place(ctx_.get(), prefix.first(kBlock));
    return load_be32(prefix.data());
  }

  bool open(std::uint32_t seq, std::span<std::uint8_t> packet, BytesView tag) override {
    if (tag.size() != mac_len_) return false;
    std::array<std::uint8_t, kMaxMac> expected;
    const auto mac = std::span(expected).first(mac_len_);
    if (etm_) {
      if (packet.size() < kLengthField) return false;
      compute_mac(seq, packet, mac);
      if (CRYPTO_memcmp(mac.data(), tag.data(), mac_len_) != 0) return false;
      cipher_in_place(ctx_.get(), packet.subspan(kLengthField));
      return true;
    }
    // peek_length() has already decrypted the first block in place.
    if (packet.size() < kBlock) return false;
    cipher_in_place(ctx_.get(), packet.subspan(kBlock));
    compute_mac(seq, packet, mac);
    if (CRYPTO_memcmp(mac.data(), tag.data(), mac_len_) != 0) {
      // Encrypt-and-MAC must decrypt before it can verify; don't leave
      // unauthenticated plaintext behind.
      std::memset(packet.data(), 0, packet.size());
      return false;
    }
    return true;
  }

 private:
  static constexpr std::size_t kBlock = 16;
  static constexpr std::size_t kMaxMac = 64;

  void compute_mac(std::uint32_t seq, BytesView packet, std::span<std::uint8_t> out) {
    // A null key re-initialises with the key and digest set at creation.
    check(EVP_MAC_init(hmac_.get(), nullptr, 0, nullptr), "EVP_MAC_init (HMAC)");
    std::array<std::uint8_t, 4> seq_be;
    store_be32(seq_be.data(), seq);
    mac_update(hmac_.get(), seq_be);
    mac_update(hmac_.get(), packet);
    std::size_t out_len = 0;
    check(EVP_MAC_final(hmac_.get(), out.data(), &out_len, out.size()), "EVP_MAC_final (HMAC)");
  }

  CipherCtx ctx_;
  MacCtx hmac_;
  std::size_t mac_len_;
  bool etm_;
};

}  // namespace

// ---------------------------------------------------------------------------
// Names and sizes

std::string_view name(CipherAlg alg) {
  const CipherFacts* f = facts(alg);
  return f ? f->name : std::string_view();
}

std::string_view name(MacAlg alg) {
  switch (alg) {
    case MacAlg::implicit:
      return {};  // never negotiated by name
    case MacAlg::hmac_sha2_256_etm:
      return "hmac-sha2-256-etm@openssh.com";
    case MacAlg::hmac_sha2_512_etm:
      return "hmac-sha2-512-etm@openssh.com";
    case MacAlg::hmac_sha2_256:
      return "hmac-sha2-256";
    case MacAlg::hmac_sha2_512:
      return "hmac-sha2-512";
  }
  return {};
}

std::optional<CipherAlg> cipher_from_name(std::string_view n) {
  for (const auto& f : ciphers)
    if (f.name == n) return f.alg;
  return std::nullopt;
}

std::optional<MacAlg> mac_from_name(std::string_view n) {
  for (auto alg : {MacAlg::hmac_sha2_256_etm, MacAlg::hmac_sha2_512_etm, MacAlg::hmac_sha2_256,
                   MacAlg::hmac_sha2_512}) {
    if (name(alg) == n) return alg;
  }
  return std::nullopt;
}

CipherInfo info(CipherAlg alg) {
  const CipherFacts* f = facts(alg);
  return f ? f->info : CipherInfo{};
}

std::size_t mac_key_len(MacAlg alg) {
  // RFC 6668 §2: the key is as long as the digest.
  return mac_len(alg);
}

std::size_t mac_len(MacAlg alg) {
  switch (alg) {
    case MacAlg::implicit:
      return 0;  // the AEAD tag is PacketCipher::tag_size()
    case MacAlg::hmac_sha2_256:
    case MacAlg::hmac_sha2_256_etm:
      return 32;
    case MacAlg::hmac_sha2_512:
    case MacAlg::hmac_sha2_512_etm:
      return 64;
  }
  return 0;
}

std::unique_ptr<PacketCipher> PacketCipher::create(CipherAlg cipher, MacAlg mac, Direction dir,
                                                   BytesView key, BytesView iv, BytesView mac_key) {
  const CipherInfo ci = info(cipher);
  if (key.size() != ci.key_len || iv.size() != ci.iv_len) return nullptr;
  if (ci.aead != (mac == MacAlg::implicit)) return nullptr;
  if (mac_key.size() != mac_key_len(mac)) return nullptr;
  switch (cipher) {
    case CipherAlg::chacha20_poly1305:
      return std::make_unique<ChachaPoly>(key);
    case CipherAlg::aes256_gcm:
    case CipherAlg::aes128_gcm:
      return std::make_unique<AesGcm>(cipher, dir, key, iv);
    case CipherAlg::aes256_ctr:
    case CipherAlg::aes128_ctr:
      return std::make_unique<CtrHmac>(cipher, mac, dir, key, iv, mac_key);
  }
  return nullptr;
}

Bytes hmac(MacAlg alg, BytesView key, BytesView data) {
  if (alg == MacAlg::implicit) return {};
  const MacCtx ctx = new_hmac_ctx(alg, key);
  mac_update(ctx.get(), data);
  Bytes out(mac_len(alg));
  std::size_t out_len = 0;
  check(EVP_MAC_final(ctx.get(), out.data(), &out_len, out.size()), "EVP_MAC_final (HMAC)");
  return out;
}

}  // namespace parley::crypto

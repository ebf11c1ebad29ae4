// The key-exchange half of Transport (RFC 4253 §7-§8, RFC 5656 §4, RFC 8308,
// OpenSSH's strict KEX): KEXINIT, negotiation, the exchange hash, the keys,
// NEWKEYS and re-exchange. The rest of the transport is in transport.cpp.
#include <algorithm>

#include "parley/crypto/hash.hpp"
#include "parley/crypto/kdf.hpp"
#include "parley/crypto/kex.hpp"
#include "parley/transport/exchange_hash.hpp"
#include "parley/transport/messages.hpp"
#include "parley/transport/transport.hpp"
#include "parley/wire/reader.hpp"
#include "parley/wire/writer.hpp"
#include "kex_state.hpp"

namespace parley::transport {
namespace {

constexpr std::string_view strict_c = "kex-strict-c-v00@openssh.com";
constexpr std::string_view strict_s = "kex-strict-s-v00@openssh.com";
constexpr std::string_view ext_info_c = "ext-info-c";
constexpr std::uint64_t rekey_packets = std::uint64_t{1} << 31;  // far below seqno wrap
// The largest string key-exchange value parley accepts: the hybrid's C_INIT
// (1216 bytes) is the longest; the checks per method then want exact sizes.
constexpr std::size_t max_kex_value = 2048;

template <class T, class F>
wire::NameList names_of(const std::vector<T>& algs, F to_name,
                        std::initializer_list<std::string_view> extra = {}) {
  std::vector<std::string> names;
  for (const auto& a : algs) names.emplace_back(to_name(a));
  for (auto e : extra) names.emplace_back(e);
  return *wire::NameList::of(std::move(names));
}

std::optional<KexInitLists> parse_kexinit(BytesView payload) {
  wire::Reader r(payload);
  r.byte();
  r.raw(16);  // cookie
  KexInitLists l;
  // A stray comma in a peer's list is an empty name that matches nothing (as OpenSSH).
  constexpr auto lenient = wire::EmptyNames::skip;
  l.kex = r.name_list(lenient);
  l.host_key = r.name_list(lenient);
  l.cipher_c2s = r.name_list(lenient);
  l.cipher_s2c = r.name_list(lenient);
  l.mac_c2s = r.name_list(lenient);
  l.mac_s2c = r.name_list(lenient);
  l.comp_c2s = r.name_list(lenient);
  l.comp_s2c = r.name_list(lenient);
  r.name_list(lenient);  // languages c2s
  r.name_list(lenient);  // languages s2c
  l.first_kex_packet_follows = r.boolean();
  r.uint32();  // reserved
  if (!r.finish()) return std::nullopt;
  return l;
}

}  // namespace

// ---- Key exchange ----

void Transport::start_kex(Instant now) {
  if (kex_ || closed_) return;
  kex_ = std::make_unique<KexState>();
  kex_->deadline = now + config_->kex_timeout;
  const bool first = !session_id_.has_value();
  const auto& a = config_->algorithms;
  const bool client = config_->role == Role::client;

  wire::NameList kex_names =
      first ? (client ? names_of(a.kex, [](KexAlg k) { return name(k); }, {ext_info_c, strict_c})
                      : names_of(a.kex, [](KexAlg k) { return name(k); }, {strict_s}))
            : names_of(a.kex, [](KexAlg k) { return name(k); });
  // A server offers the algorithms of the host keys it holds or has delegated.
  std::vector<crypto::KeyType> held;
  for (const auto& key : config_->host_keys) held.push_back(key.type());
  for (const auto& key : config_->host_public_keys) held.push_back(key.type());
  std::vector<crypto::SignatureAlg> host_algs;
  for (auto alg : a.host_key)
    if (client || std::find(held.begin(), held.end(), crypto::key_type_for(alg)) != held.end())
      host_algs.push_back(alg);
  auto host = names_of(host_algs, [](crypto::SignatureAlg s) { return crypto::name(s); });
  auto ciphers = names_of(a.ciphers, [](crypto::CipherAlg c) { return crypto::name(c); });
  auto macs = names_of(a.macs, [](crypto::MacAlg m) { return crypto::name(m); });
  auto none = *wire::NameList::parse("none");

  Bytes& p = kex_->our_kexinit;
  wire::Writer w(p);
  w.byte(msg::kexinit);
  std::uint8_t cookie[16];
  rng_.fill(cookie);
  w.raw(cookie);
  w.name_list(kex_names).name_list(host).name_list(ciphers).name_list(ciphers);
  w.name_list(macs).name_list(macs).name_list(none).name_list(none);
  kex_->ours = KexInitLists{kex_names, host, ciphers, ciphers, macs, macs, none, none, false};
  w.string(std::string_view{}).string(std::string_view{});
  w.boolean(false).uint32(0);
  kex_->our_kexinit_seq = encoder_.next_seq();
  send_packet(p);
}

void Transport::handle_kexinit(BytesView payload, std::uint32_t seq, Instant now) {
  if (kex_ && kex_->peer_kexinit_received)
    return fail(TransportError::unexpected_message, "second KEXINIT during key exchange");
  auto lists = parse_kexinit(payload);
  if (!lists) return fail(TransportError::malformed_message, "malformed KEXINIT");
  if (!kex_) start_kex(now);  // the peer started a re-exchange
  kex_->peer_kexinit.assign(payload.begin(), payload.end());
  kex_->peer_kexinit_received = true;

  const bool client = config_->role == Role::client;
  const bool first = !session_id_.has_value();
  const KexInitLists& ours = kex_->ours;
  const KexInitLists& c = client ? ours : *lists;
  const KexInitLists& s = client ? *lists : ours;

  if (first) {
    // Terrapin countermeasure: strict mode if both offered it; then KEXINIT must be first.
    strict_kex_ = lists->kex.contains(client ? strict_s : strict_c);
    if (strict_kex_ && seq != 0)
      return fail(TransportError::strict_kex_violation, "strict key exchange: KEXINIT was not the first packet");
  }

  Negotiated n;
  n.strict_kex = strict_kex_;
  n.peer_ext_info = !client && first && lists->kex.contains(ext_info_c);
  auto kex = first_match(c.kex, s.kex);
  auto kex_alg = kex ? kex_from_name(*kex) : std::nullopt;
  if (!kex_alg) return fail(TransportError::no_common_kex);
  n.kex = *kex_alg;
  auto host = first_match(c.host_key, s.host_key);
  auto host_alg = host ? crypto::signature_alg_from_name(*host) : std::nullopt;
  if (!host_alg) return fail(TransportError::no_common_host_key_alg);
  n.host_key = *host_alg;
  auto pick_cipher = [](const wire::NameList& cl, const wire::NameList& sl) {
    auto m = first_match(cl, sl);
    return m ? crypto::cipher_from_name(*m) : std::nullopt;
  };
  auto c2s = pick_cipher(c.cipher_c2s, s.cipher_c2s);
  auto s2c = pick_cipher(c.cipher_s2c, s.cipher_s2c);
  if (!c2s || !s2c) return fail(TransportError::no_common_cipher);
  n.cipher_c2s = *c2s;
  n.cipher_s2c = *s2c;
  auto pick_mac = [](crypto::CipherAlg cipher, const wire::NameList& cl,
                     const wire::NameList& sl) -> std::optional<crypto::MacAlg> {
    if (crypto::info(cipher).aead) return crypto::MacAlg::implicit;  // MAC lists are ignored
    auto m = first_match(cl, sl);
    return m ? crypto::mac_from_name(*m) : std::nullopt;
  };
  auto mc2s = pick_mac(n.cipher_c2s, c.mac_c2s, s.mac_c2s);
  auto ms2c = pick_mac(n.cipher_s2c, c.mac_s2c, s.mac_s2c);
  if (!mc2s || !ms2c) return fail(TransportError::no_common_mac);
  n.mac_c2s = *mc2s;
  n.mac_s2c = *ms2c;
  if (!first_match(c.comp_c2s, s.comp_c2s) || !first_match(c.comp_s2c, s.comp_s2c))
    return fail(TransportError::no_common_compression);

  // RFC 4253 §7: a guessed first kex packet is ignored if the guess was wrong.
  if (lists->first_kex_packet_follows) {
    const bool right = !lists->kex.empty() && !ours.kex.empty() &&
                       lists->kex.names()[0] == ours.kex.names()[0] &&
                       !lists->host_key.empty() && !ours.host_key.empty() &&
                       lists->host_key.names()[0] == ours.host_key.names()[0];
    kex_->ignore_next_kex_packet = !right;
  }
  kex_->algs = n;

  if (client) {
    auto eph = crypto::KexKeyPair::generate(kex_group(n.kex), rng_);
    if (!eph) return fail(TransportError::invalid_kex_value, "key generation failed");
    kex_->ephemeral = std::move(*eph);
    Bytes init;
    wire::Writer w(init);
    w.byte(msg::kex_ecdh_init);
    if (kex_uses_mpint(n.kex)) w.mpint_unsigned(kex_->ephemeral->public_value());
    else w.string(kex_->ephemeral->public_value());
    send_packet(init);
  }
}

void Transport::handle_kex_init_message(BytesView payload) {
  const Negotiated& n = *kex_->algs;
  wire::Reader r(payload);
  r.byte();
  BytesView q_c = kex_uses_mpint(n.kex) ? r.mpint_positive() : r.string(max_kex_value);
  if (!r.finish()) return fail(TransportError::malformed_message, "malformed key exchange init");

  if (kex_delegate_) {
    // The host key's holder answers; until then no packet is processed.
    kex_->q_c.assign(q_c.begin(), q_c.end());
    kex_awaiting_ = true;
    std::string v_c(*ident_.version());
    return kex_delegate_(KexSignRequest{n.kex, n.host_key, std::move(v_c), our_version_,
                                        kex_->peer_kexinit, kex_->our_kexinit, kex_->q_c});
  }
  const crypto::PrivateKey* key = nullptr;
  for (const auto& k : config_->host_keys)
    if (k.type() == crypto::key_type_for(n.host_key)) key = &k;
  if (key == nullptr) return fail(TransportError::no_common_host_key_alg);

  auto response = crypto::kex_respond(kex_group(n.kex), q_c, rng_);
  if (!response) return fail(TransportError::invalid_kex_value);
  crypto::SecretBytes k_enc = encode_shared_secret(n.kex, response->shared);

  const Bytes& k_s = key->public_key().blob();
  std::string_view v_c = *ident_.version();
  Bytes h = exchange_hash({n.kex, v_c, our_version_, kex_->peer_kexinit, kex_->our_kexinit, k_s, q_c,
                           response->reply},
                          k_enc.view());
  send_kex_reply(k_s, response->reply, key->sign(n.host_key, h), k_enc.view(), h);
}

void Transport::kex_answered(std::expected<KexAnswer, TransportError> answer) {
  if (closed_ || !kex_ || !kex_awaiting_) return;  // late: the connection moved on
  kex_awaiting_ = false;
  if (!answer) return fail(answer.error());
  const Negotiated& n = *kex_->algs;
  // The answer is trusted no more than the peer: K_S must be ours for the
  // negotiated algorithm and H the hash of this very transcript with its K_S,
  // Q_S and K, so a wrong or compromised signer cannot key this connection
  // with another exchange's secrets.
  if (!is_our_host_key(answer->k_s))
    return fail(TransportError::kex_answer_mismatch, "key exchange answer with another host key");
  crypto::SecretBytes k_enc = encode_shared_secret(n.kex, answer->k);
  std::string_view v_c = *ident_.version();
  const Bytes h = exchange_hash({n.kex, v_c, our_version_, kex_->peer_kexinit, kex_->our_kexinit,
                                 answer->k_s, kex_->q_c, answer->q_s},
                                k_enc.view());
  if (h.size() != answer->h.size() || !crypto::constant_time_equal(h, answer->h))
    return fail(TransportError::kex_answer_mismatch);
  send_kex_reply(answer->k_s, answer->q_s, answer->signature, k_enc.view(), h);
  // Packets that arrived meanwhile (the peer's NEWKEYS, ...) are processed now,
  // unless this is called from inside the delegate, whose caller goes on.
  if (!closed_ && !processing_) process_input(now_);
}

bool Transport::is_our_host_key(BytesView k_s) const {
  const crypto::KeyType type = crypto::key_type_for(kex_->algs->host_key);
  auto same = [&](const crypto::PublicKey& key) {
    return key.type() == type && std::equal(k_s.begin(), k_s.end(), key.blob().begin(), key.blob().end());
  };
  return std::any_of(config_->host_public_keys.begin(), config_->host_public_keys.end(), same) ||
         std::any_of(config_->host_keys.begin(), config_->host_keys.end(),
                     [&](const crypto::PrivateKey& key) { return same(key.public_key()); });
}

void Transport::send_kex_reply(BytesView k_s, BytesView q_s, BytesView signature, BytesView k_enc,
                               BytesView h) {
  const Negotiated& n = *kex_->algs;
  Bytes reply;
  wire::Writer w(reply);
  w.byte(msg::kex_ecdh_reply).string(k_s);
  if (kex_uses_mpint(n.kex)) w.mpint_unsigned(q_s);
  else w.string(q_s);
  w.string(signature);
  send_packet(reply);

  if (!prepare_keys(k_enc, h)) return;
  send_newkeys();
}

void Transport::handle_kex_reply_message(BytesView payload) {
  const Negotiated& n = *kex_->algs;
  wire::Reader r(payload);
  r.byte();
  BytesView k_s = r.string(16384);
  BytesView q_s = kex_uses_mpint(n.kex) ? r.mpint_positive() : r.string(max_kex_value);
  BytesView sig = r.string(16384);
  if (!r.finish()) return fail(TransportError::malformed_message, "malformed key exchange reply");

  auto host_key = crypto::PublicKey::from_blob(k_s);
  if (!host_key || host_key->type() != crypto::key_type_for(n.host_key))
    return fail(TransportError::host_key_mismatch);
  // A re-exchange must present the key verified the first time (as OpenSSH's client).
  if (!server_host_key_.empty() && !std::equal(k_s.begin(), k_s.end(), server_host_key_.begin(),
                                               server_host_key_.end()))
    return fail(TransportError::host_key_changed);
  auto k = kex_->ephemeral->derive(q_s);
  if (!k) return fail(TransportError::invalid_kex_value);
  crypto::SecretBytes k_enc = encode_shared_secret(n.kex, *k);
  std::string_view v_s = *ident_.version();
  Bytes h = exchange_hash({n.kex, our_version_, v_s, kex_->our_kexinit, kex_->peer_kexinit, k_s,
                           kex_->ephemeral->public_value(), q_s},
                          k_enc.view());
  if (!host_key->verify(n.host_key, sig, h)) return fail(TransportError::bad_host_key_signature);
  if (server_host_key_.empty()) {
    if (!config_->verify_host_key || !config_->verify_host_key(*host_key))
      return fail(TransportError::host_key_rejected);
    server_host_key_.assign(k_s.begin(), k_s.end());
  }

  if (!prepare_keys(k_enc.view(), h)) return;
  send_newkeys();
}

bool Transport::prepare_keys(BytesView k_enc, BytesView h) {
  const Negotiated& n = *kex_->algs;
  if (!session_id_) session_id_ = Bytes(h.begin(), h.end());
  const auto hash = kex_hash(n.kex);
  // RFC 4253 §7.2: 'A', 'C', 'E' give the client-to-server IV, key and MAC key;
  // 'B', 'D', 'F' the server-to-client ones.
  auto make = [&](crypto::CipherAlg cipher, crypto::MacAlg mac, char iv_letter,
                  crypto::Direction dir) {
    auto derive = [&](int offset, std::size_t len) {
      return crypto::derive_ssh_key(hash, k_enc, h, static_cast<char>(iv_letter + offset),
                                    *session_id_, len);
    };
    const crypto::CipherInfo info = crypto::info(cipher);
    auto iv = derive(0, info.iv_len), key = derive(2, info.key_len),
         mac_key = derive(4, crypto::mac_key_len(mac));
    return crypto::PacketCipher::create(cipher, mac, dir, key.view(), iv.view(), mac_key.view());
  };
  const bool client = config_->role == Role::client;
  auto c2s = make(n.cipher_c2s, n.mac_c2s, 'A', client ? crypto::Direction::seal : crypto::Direction::open);
  auto s2c = make(n.cipher_s2c, n.mac_s2c, 'B', client ? crypto::Direction::open : crypto::Direction::seal);
  if (!c2s || !s2c) {
    fail(TransportError::invalid_kex_value, "cannot key the negotiated cipher");
    return false;
  }
  kex_->next_out = std::move(client ? c2s : s2c);
  kex_->next_in = std::move(client ? s2c : c2s);
  return true;
}

void Transport::send_newkeys() {
  const std::uint8_t newkeys[] = {msg::newkeys};
  send_packet(newkeys);
  encoder_.set_cipher(std::move(kex_->next_out));
  if (strict_kex_) encoder_.reset_seq();
  kex_->sent_newkeys = true;
  const bool first = kex_count_ == 0;
  if (config_->role == Role::server && first && kex_->algs->peer_ext_info && !ext_info_sent_) {
    // RFC 8308 §2.4: EXT_INFO as the next packet after our first NEWKEYS.
    Bytes ext;
    wire::Writer w(ext);
    w.byte(msg::ext_info).uint32(1).string(std::string_view("server-sig-algs"));
    w.name_list(names_of(config_->server_sig_algs,
                         [](crypto::SignatureAlg s) { return crypto::name(s); }));
    send_packet(ext);
    ext_info_sent_ = true;
  }
  // RFC 4253 §7.1: once our NEWKEYS is sent we may send other messages again.
  flush_pending();
}

void Transport::handle_newkeys(Instant now) {
  // Our NEWKEYS always precedes the peer's here: it is sent in the same step that
  // makes the incoming keys (next_in) ready, which handle_packet requires.
  decoder_.set_cipher(std::move(kex_->next_in));
  if (strict_kex_) decoder_.reset_seq();
  const bool first = kex_count_ == 0;
  ++kex_count_;
  negotiated_ = kex_->algs;
  last_kex_done_ = now;
  events_.push_back(KexDone{first, *kex_->algs});
  kex_.reset();
  flush_pending();
}

void Transport::check_rekey(Instant now) {
  if (kex_ || closed_ || !session_id_) return;
  const bool bytes = encoder_.bytes_since_rekey() >= config_->rekey_bytes ||
                     decoder_.bytes_since_rekey() >= config_->rekey_bytes;
  const bool packets = encoder_.packets_since_rekey() >= rekey_packets ||
                       decoder_.packets_since_rekey() >= rekey_packets;
  const bool time = now - last_kex_done_ >= config_->rekey_interval;
  if (bytes || packets || time) start_kex(now);
}

void Transport::request_rekey(Instant now) {
  if (!session_id_ || closed_) return;
  now_ = now;
  start_kex(now);
}

}  // namespace parley::transport

#include "parley/transport/transport.hpp"

#include <algorithm>
#include <cstring>

#include "parley/crypto/hash.hpp"
#include "parley/crypto/kdf.hpp"
#include "parley/crypto/kex.hpp"
#include "parley/transport/messages.hpp"
#include "parley/wire/reader.hpp"
#include "parley/wire/writer.hpp"

namespace parley::transport {
namespace {

constexpr std::string_view strict_c = "kex-strict-c-v00@openssh.com";
constexpr std::string_view strict_s = "kex-strict-s-v00@openssh.com";
constexpr std::string_view ext_info_c = "ext-info-c";
constexpr std::uint64_t rekey_packets = std::uint64_t{1} << 31;  // far below seqno wrap
// The largest string key-exchange value parley accepts: the hybrid's C_INIT
// (1216 bytes) is the longest; the checks per method then want exact sizes.
constexpr std::size_t max_kex_value = 2048;

std::string sanitize(std::string_view text, std::size_t max = 256) {
  std::string out;
  for (char c : text.substr(0, max)) {
    const auto u = static_cast<unsigned char>(c);
    out.push_back(u < 0x20 || u == 0x7f ? '?' : c);
  }
  return out;
}

template <class T, class F>
wire::NameList names_of(const std::vector<T>& algs, F to_name,
                        std::initializer_list<std::string_view> extra = {}) {
  std::vector<std::string> names;
  for (const auto& a : algs) names.emplace_back(to_name(a));
  for (auto e : extra) names.emplace_back(e);
  return *wire::NameList::of(std::move(names));
}

/// The ten name-lists of a KEXINIT (RFC 4253 §7.1).
struct KexInitLists {
  wire::NameList kex, host_key, cipher_c2s, cipher_s2c, mac_c2s, mac_s2c, comp_c2s, comp_s2c;
  bool first_kex_packet_follows = false;
};

std::optional<KexInitLists> parse_kexinit(BytesView payload) {
  wire::Reader r(payload);
  r.byte();
  r.raw(16);  // cookie
  KexInitLists l;
  l.kex = r.name_list();
  l.host_key = r.name_list();
  l.cipher_c2s = r.name_list();
  l.cipher_s2c = r.name_list();
  l.mac_c2s = r.name_list();
  l.mac_s2c = r.name_list();
  l.comp_c2s = r.name_list();
  l.comp_s2c = r.name_list();
  r.name_list();  // languages c2s
  r.name_list();  // languages s2c
  l.first_kex_packet_follows = r.boolean();
  r.uint32();  // reserved
  if (!r.finish()) return std::nullopt;
  return l;
}

}  // namespace

struct Transport::KexState {
  Bytes our_kexinit;
  KexInitLists ours;  // what our_kexinit offers, kept so it is not parsed back
  std::uint32_t our_kexinit_seq = 0;
  Bytes peer_kexinit;
  bool peer_kexinit_received = false;
  std::optional<Negotiated> algs;
  std::unique_ptr<crypto::KexKeyPair> ephemeral;  // the client's
  bool ignore_next_kex_packet = false;
  bool sent_newkeys = false;
  std::unique_ptr<crypto::PacketCipher> next_in;
  std::unique_ptr<crypto::PacketCipher> next_out;
  Instant deadline;
};

HostKeyVerifier danger_accept_any_host_key() {
  return [](const crypto::PublicKey&) { return true; };
}

Transport::Transport(TransportConfig config, crypto::Random& rng, Instant now)
    : Transport(std::make_shared<const TransportConfig>(std::move(config)), rng, now) {}

Transport::Transport(std::shared_ptr<const TransportConfig> config, crypto::Random& rng, Instant now)
    : config_(std::move(config)),
      rng_(rng),
      ident_(config_->role == Role::client, config_->max_preversion_lines),
      our_version_("SSH-2.0-" + config_->software_version) {
  out_.insert(out_.end(), our_version_.begin(), our_version_.end());
  out_.push_back('\r');
  out_.push_back('\n');
  ident_deadline_ = now + config_->ident_timeout;
  last_kex_done_ = now;
  now_ = now;
  start_kex(now);  // RFC 4253 §7.1: KEXINIT may be sent right after the identification
}

Transport::~Transport() = default;

// ---- Input ----

void Transport::receive(BytesView data, Instant now) {
  if (closed_) return;
  now_ = now;
  if (!ident_.version()) {
    auto used = ident_.feed(data);
    if (!used) return fail(used.error());
    data = data.subspan(*used);
    if (!ident_.version()) return;
    ident_deadline_.reset();
  }
  if (in_pos_ > 0) {
    // A partial packet is left from the last call: move it and the new bytes
    // into a buffer of the right size in one pass, instead of shifting it down
    // and then growing the vector (which copies it twice).
    Bytes joined;
    joined.reserve(in_.size() - in_pos_ + data.size());
    joined.insert(joined.end(), in_.begin() + static_cast<std::ptrdiff_t>(in_pos_), in_.end());
    joined.insert(joined.end(), data.begin(), data.end());
    // (Everything before in_pos_ was wiped when it was consumed.)
    crypto::secure_wipe(in_.data() + in_pos_, in_.size() - in_pos_);
    in_.swap(joined);
    in_pos_ = 0;
  } else {
    in_.insert(in_.end(), data.begin(), data.end());
  }
  process_input(now);
  if (!closed_) check_rekey(now);
}

void Transport::process_input(Instant now) {
  while (!closed_ && in_pos_ < in_.size()) {
    std::span<std::uint8_t> rest(in_.data() + in_pos_, in_.size() - in_pos_);
    auto decoded = decoder_.decode(rest);
    if (!decoded) return fail(decoded.error());
    if (!*decoded) break;
    in_pos_ += (*decoded)->consumed;
    handle_packet((*decoded)->payload, (*decoded)->seq, now);
  }
  if (closed_) return;
  // Packets were decrypted in place and may have carried passwords or answers:
  // wipe what was consumed before the memory is released or reused.
  if (in_pos_ == in_.size()) {
    crypto::secure_wipe(in_.data(), in_.size());
    Bytes().swap(in_);  // buffers are held only while in use
    in_pos_ = 0;
  } else {
    // The partial packet stays where it is until the next receive() moves it;
    // the decrypted packets before it are wiped now.
    crypto::secure_wipe(in_.data(), in_pos_);
  }
}

void Transport::peer_closed(Instant) {
  if (closed_) return;
  const bool partial = decoder_.mid_packet() || in_pos_ < in_.size();
  const TransportError e = partial ? TransportError::truncated_packet : TransportError::connection_closed;
  closed_ = true;
  events_.push_back(Disconnected{e, disconnect_reason(e), std::string(to_string(e))});
  release_state();
}

void Transport::release_state() {
  kex_.reset();
  for (auto& p : pending_) crypto::secure_wipe(p.payload.data(), p.payload.size());
  pending_.clear();
  pending_bytes_ = 0;
  crypto::secure_wipe(in_.data(), in_.size());
  Bytes().swap(in_);
  in_pos_ = 0;
}

void Transport::handle_packet(std::span<std::uint8_t> payload, std::uint32_t seq, Instant now) {
  const std::uint8_t id = payload[0];
  const bool initial = kex_count_ == 0;
  // The peer is inside a key exchange from its KEXINIT to its NEWKEYS.
  const bool peer_in_kex = initial || (kex_ && kex_->peer_kexinit_received);
  const bool kex_message = id == msg::kexinit || id == msg::newkeys || (id >= 30 && id <= 49);

  if (strict_kex_ && initial && !kex_message && id != msg::disconnect)
    return fail(TransportError::strict_kex_violation,
                "strict key exchange: unexpected message during initial key exchange");

  switch (id) {
    case msg::disconnect: return handle_disconnect(payload);
    case msg::ignore:
    case msg::debug:
      return;
    case msg::unimplemented: {
      wire::Reader r(payload);
      r.byte();
      const std::uint32_t refused = r.uint32();
      if (!r.finish()) return fail(TransportError::malformed_message, "malformed UNIMPLEMENTED");
      // OpenSSH's sshd answers a KEXINIT before user authentication this way;
      // waiting would only end in kex_timeout.
      if (kex_ && !initial && refused == kex_->our_kexinit_seq)
        return fail(TransportError::kex_refused);
      return;
    }
    case msg::kexinit: return handle_kexinit(payload, seq, now);
    case msg::newkeys:
      if (!kex_ || !kex_->next_in)
        return fail(TransportError::unexpected_message, "unexpected NEWKEYS");
      if (payload.size() != 1) return fail(TransportError::malformed_message, "malformed NEWKEYS");
      return handle_newkeys(now);
    default: break;
  }
  if (id >= 30 && id <= 49) {
    if (!kex_ || !kex_->algs) return fail(TransportError::unexpected_message, "key exchange message outside key exchange");
    if (kex_->ignore_next_kex_packet) {
      kex_->ignore_next_kex_packet = false;  // the peer's wrong guess (RFC 4253 §7)
      return;
    }
    if (config_->role == Role::server && id == msg::kex_ecdh_init && !kex_->next_in)
      return handle_kex_init_message(payload);
    if (config_->role == Role::client && id == msg::kex_ecdh_reply && kex_->ephemeral && !kex_->next_in)
      return handle_kex_reply_message(payload);
    return fail(TransportError::unexpected_message, "unexpected key exchange message");
  }
  if (peer_in_kex) {
    return fail(TransportError::non_kex_message_during_kex,
                "message " + std::to_string(id) + " during key exchange");
  }
  switch (id) {
    case msg::service_request:
      if (config_->role == Role::server) return handle_service_request(payload);
      break;
    case msg::service_accept:
      if (config_->role == Role::client) return handle_service_accept(payload);
      break;
    case msg::ext_info:
      if (config_->role == Role::client) return handle_ext_info(payload);
      return;  // we never offer ext-info-s; tolerate as OpenSSH does
    default:
      if (id >= 50 && (config_->role == Role::client || service_started_)) {
        // The sink saves a copy of every packet; it is used only while no event is
        // waiting, so the layer above still sees everything in order.
        if (message_sink_ && events_.empty()) return message_sink_(payload, seq);
        events_.push_back(Message{Bytes(payload.begin(), payload.end()), seq});
        return;
      }
      break;
  }
  send_unimplemented(seq);
}

void Transport::handle_disconnect(BytesView payload) {
  wire::Reader r(payload);
  r.byte();
  const std::uint32_t code = r.uint32();
  const std::string_view text = r.text();
  r.text();  // language tag
  std::string description = r.ok() ? sanitize(text) : std::string("(malformed DISCONNECT)");
  DisconnectReason reason = (code >= 1 && code <= 15) ? static_cast<DisconnectReason>(code)
                                                      : DisconnectReason::protocol_error;
  closed_ = true;
  events_.push_back(Disconnected{TransportError::peer_disconnected, reason, std::move(description)});
  release_state();
}

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
  std::vector<crypto::SignatureAlg> host_algs;
  for (auto alg : a.host_key) {
    if (client) {
      host_algs.push_back(alg);
      continue;
    }
    for (const auto& key : config_->host_keys) {
      auto algs = key.signature_algs();
      if (std::find(algs.begin(), algs.end(), alg) != algs.end()) {
        host_algs.push_back(alg);
        break;
      }
    }
  }
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

namespace {

/// H = HASH(V_C || V_S || I_C || I_S || K_S || Q_C/e || Q_S/f || K) (RFC 4253 §8, RFC 5656 §4).
Bytes exchange_hash(KexAlg kex, std::string_view v_c, std::string_view v_s, BytesView i_c,
                    BytesView i_s, BytesView k_s, BytesView q_c, BytesView q_s, BytesView k_enc) {
  Bytes buf;
  wire::Writer w(buf);
  w.string(v_c).string(v_s).string(i_c).string(i_s).string(k_s);
  if (kex_uses_mpint(kex)) w.mpint_unsigned(q_c).mpint_unsigned(q_s);
  else w.string(q_c).string(q_s);
  w.raw(k_enc);
  Bytes h = crypto::digest(kex_hash(kex), buf);
  return h;
}

/// K as it is hashed: an mpint (RFC 4253 §8), or a string for the hybrid
/// (draft-ietf-sshm-mlkem-hybrid-kex, as OpenSSH encodes it).
crypto::SecretBytes encode_k(KexAlg kex, const crypto::SecretBytes& k) {
  Bytes tmp;
  tmp.reserve(k.size() + 5);
  if (kex_secret_is_string(kex)) wire::Writer(tmp).string(k.view());
  else wire::Writer(tmp).mpint_unsigned(k.view());
  crypto::SecretBytes out(tmp);
  crypto::secure_wipe(tmp.data(), tmp.size());
  return out;
}

}  // namespace

void Transport::handle_kex_init_message(BytesView payload) {
  const Negotiated& n = *kex_->algs;
  wire::Reader r(payload);
  r.byte();
  BytesView q_c = kex_uses_mpint(n.kex) ? r.mpint_positive() : r.string(max_kex_value);
  if (!r.finish()) return fail(TransportError::malformed_message, "malformed key exchange init");

  const crypto::PrivateKey* key = nullptr;
  for (const auto& k : config_->host_keys)
    if (k.type() == crypto::key_type_for(n.host_key)) key = &k;
  if (key == nullptr) return fail(TransportError::no_common_host_key_alg);

  auto response = crypto::kex_respond(kex_group(n.kex), q_c, rng_);
  if (!response) return fail(TransportError::invalid_kex_value);
  crypto::SecretBytes k_enc = encode_k(n.kex, response->shared);

  const Bytes& k_s = key->public_key().blob();
  std::string_view v_c = *ident_.version();
  Bytes h = exchange_hash(n.kex, v_c, our_version_, kex_->peer_kexinit, kex_->our_kexinit, k_s, q_c,
                          response->reply, k_enc.view());
  Bytes sig = key->sign(n.host_key, h);

  Bytes reply;
  wire::Writer w(reply);
  w.byte(msg::kex_ecdh_reply).string(k_s);
  if (kex_uses_mpint(n.kex)) w.mpint_unsigned(response->reply);
  else w.string(response->reply);
  w.string(sig);
  send_packet(reply);

  if (!prepare_keys(k_enc.view(), h)) return;
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
  crypto::SecretBytes k_enc = encode_k(n.kex, *k);
  std::string_view v_s = *ident_.version();
  Bytes h = exchange_hash(n.kex, our_version_, v_s, kex_->our_kexinit, kex_->peer_kexinit, k_s,
                          kex_->ephemeral->public_value(), q_s, k_enc.view());
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

// ---- Services ----

void Transport::handle_service_request(BytesView payload) {
  wire::Reader r(payload);
  r.byte();
  std::string service(r.text());
  if (!r.finish()) return fail(TransportError::malformed_message, "malformed SERVICE_REQUEST");
  if (service_started_ ||
      std::find(config_->services.begin(), config_->services.end(), service) == config_->services.end())
    return fail(TransportError::service_not_available, "service not available: " + sanitize(service, 64));
  Bytes accept;
  wire::Writer(accept).byte(msg::service_accept).string(service);
  send(accept);
  service_started_ = true;
  events_.push_back(ServiceStarted{std::move(service)});
}

void Transport::handle_service_accept(BytesView payload) {
  wire::Reader r(payload);
  r.byte();
  std::string service(r.text());
  if (!r.finish()) return fail(TransportError::malformed_message, "malformed SERVICE_ACCEPT");
  events_.push_back(ServiceAccepted{std::move(service)});
}

void Transport::handle_ext_info(BytesView payload) {
  wire::Reader r(payload);
  r.byte();
  const std::uint32_t count = r.uint32();
  if (count > 64) return fail(TransportError::malformed_message, "too many extensions");
  std::optional<wire::NameList> sig_algs;
  for (std::uint32_t i = 0; i < count && r.ok(); ++i) {
    std::string_view ext_name = r.text();
    BytesView value = r.string();
    if (ext_name == "server-sig-algs") {
      sig_algs = wire::NameList::parse(as_chars(value));
      if (!sig_algs) return fail(TransportError::malformed_message, "malformed server-sig-algs");
    }
  }
  if (!r.finish()) return fail(TransportError::malformed_message, "malformed EXT_INFO");
  if (sig_algs) events_.push_back(ServerSigAlgs{sig_algs->names()});
}

void Transport::request_service(std::string_view service) {
  Bytes req;
  wire::Writer(req).byte(msg::service_request).string(service);
  send(req);
}

// ---- Output ----

void Transport::send(BytesView payload) { queue_or_send(payload, false); }

void Transport::send_secret(BytesView payload) { queue_or_send(payload, true); }

void Transport::queue_or_send(BytesView payload, bool secret) {
  if (closed_ || payload.empty()) return;
  // RFC 4253 §7.1: between our KEXINIT and our NEWKEYS only kex messages go out;
  // the rest waits, in order, and leaves right after our NEWKEYS.
  if (!session_id_ || (kex_ && !kex_->sent_newkeys)) {
    pending_.push_back(Pending{Bytes(payload.begin(), payload.end()), secret});
    pending_bytes_ += payload.size();
    return;
  }
  send_packet(payload, secret);
  if (!kex_ && encoder_.bytes_since_rekey() >= config_->rekey_bytes) start_kex(now_);
}

void Transport::flush_pending() {
  while (!pending_.empty() && !closed_) {
    Pending p = std::move(pending_.front());
    pending_.pop_front();
    pending_bytes_ -= p.payload.size();
    send_packet(p.payload, p.secret);
    crypto::secure_wipe(p.payload.data(), p.payload.size());  // it may be a USERAUTH_REQUEST with a password
  }
}

void Transport::send_packet(BytesView payload, bool secret) {
  encoder_.encode(payload, rng_, out_, secret ? 64 : 0);
}

void Transport::send_unimplemented(std::uint32_t seq) {
  Bytes p;
  wire::Writer(p).byte(msg::unimplemented).uint32(seq);
  send(p);
}

void Transport::take_output(Bytes& out) {
  if (out.empty()) {
    out.swap(out_);
  } else {
    out.insert(out.end(), out_.begin(), out_.end());
  }
  Bytes().swap(out_);
}

std::optional<Event> Transport::poll_event() {
  if (events_.empty()) return std::nullopt;
  Event e = std::move(events_.front());
  events_.pop_front();
  return e;
}

// ---- Time ----

std::optional<Instant> Transport::next_deadline() const {
  if (closed_) return std::nullopt;
  std::optional<Instant> d;
  auto consider = [&](Instant t) {
    if (!d || t < *d) d = t;
  };
  if (ident_deadline_) consider(*ident_deadline_);
  if (kex_) consider(kex_->deadline);
  else if (session_id_) consider(last_kex_done_ + config_->rekey_interval);
  return d;
}

void Transport::on_time(Instant now) {
  if (closed_) return;
  now_ = now;
  if (ident_deadline_ && now >= *ident_deadline_) return fail(TransportError::ident_timeout);
  if (kex_ && now >= kex_->deadline) return fail(TransportError::kex_timeout);
  check_rekey(now);
}

// ---- Ending ----

void Transport::disconnect(DisconnectReason reason, std::string_view description) {
  close_with(TransportError::local_disconnect, reason, std::string(description));
}

void Transport::fail(TransportError error, std::string_view description) {
  close_with(error, disconnect_reason(error),
             description.empty() ? std::string(to_string(error)) : std::string(description));
}

void Transport::close_with(TransportError error, DisconnectReason reason, std::string description) {
  if (closed_) return;
  if (ident_.version()) {
    // The peer speaks the binary protocol: tell it why (RFC 4253 §11.1).
    Bytes p;
    wire::Writer(p).byte(msg::disconnect).uint32(static_cast<std::uint32_t>(reason)).string(description).string(std::string_view{});
    send_packet(p);
  }
  closed_ = true;
  events_.push_back(Disconnected{error, reason, std::move(description)});
  release_state();
}

}  // namespace parley::transport

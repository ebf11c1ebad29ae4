#include "parley/userauth/client_auth.hpp"

#include <algorithm>
#include <utility>

#include "parley/userauth/messages.hpp"

namespace parley::userauth {
namespace {

constexpr std::string_view service_name = "ssh-connection";

/// The signature algorithm a key signs with: what PrivateKey::signature_algs()
/// prefers (RSA: rsa-sha2-512, never SHA-1 "ssh-rsa").
crypto::SignatureAlg preferred_alg(crypto::KeyType type) {
  switch (type) {
    case crypto::KeyType::ed25519:
      return crypto::SignatureAlg::ssh_ed25519;
    case crypto::KeyType::ecdsa_p256:
      return crypto::SignatureAlg::ecdsa_sha2_nistp256;
    case crypto::KeyType::rsa:
      return crypto::SignatureAlg::rsa_sha2_512;
  }
  return crypto::SignatureAlg::ssh_ed25519;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ",") + x;
  return s;
}

}  // namespace

namespace {

/// A callback's reply still to come. When the phase waiting for it ends (the
/// server moved on, the connection went away) the reply is cancelled, so a late
/// answer from any thread is dropped.
template <class Reply>
class Pending {
 public:
  explicit Pending(std::function<void()> wake) : box_(std::make_shared<ReplyBox<Reply>>()) {
    box_->set_wake(std::move(wake));
  }
  Pending(Pending&&) noexcept = default;
  Pending& operator=(Pending&&) noexcept = default;
  Pending(const Pending&) = delete;
  Pending& operator=(const Pending&) = delete;
  ~Pending() {
    if (box_) box_->cancel();  // else moved from
  }

  ReplyTo<Reply> reply_to() const { return ReplyTo<Reply>(box_); }
  /// The reply, once the callback gave it; later replies are then ignored.
  std::optional<Reply> take() {
    std::optional<Reply> reply = box_->take();
    if (reply) box_->cancel();
    return reply;
  }

 private:
  std::shared_ptr<ReplyBox<Reply>> box_;
};

}  // namespace

/// Where authentication stands: what holds across attempts, and the phase of
/// the attempt in progress, each phase holding only what is valid in it.
struct ClientAuth::State {
  struct NoneSent {};  // the "none" request that lists the server's methods
  /// publickey without signature: waiting for PK_OK (for exactly this key) or FAILURE.
  struct PkQuery {
    std::string alg;
    Bytes blob;
  };
  /// PK_OK for an external key: its signer is at work on `signed_data` (wiped when done).
  struct PkSigning {
    Pending<SignReply> signer;
    crypto::SecretBytes signed_data;
  };
  struct PkSigned {};  // signed publickey request sent
  struct PasswordAsking {
    Pending<PasswordReply> reply;
  };
  struct PasswordSent {};
  /// keyboard-interactive request or answers sent: waiting for INFO_REQUEST (or the end).
  struct KbdWaiting {
    std::size_t rounds = 0;  // rounds answered in this attempt
  };
  /// on_user_info_request at work on round `round` of `prompts` prompts.
  struct KbdAnswering {
    std::size_t round = 0;
    std::size_t prompts = 0;
    Pending<InfoReply> reply;
  };
  struct Done {};
  using Phase = std::variant<NoneSent, PkQuery, PkSigning, PkSigned, PasswordAsking, PasswordSent,
                             KbdWaiting, KbdAnswering, Done>;

  Bytes session_id;
  Phase phase;
  std::size_t key_index = 0;  // next key for publickey: agent_keys, then keys
  std::size_t password_attempts = 0;
  std::size_t kbd_attempts = 0;
  bool password_declined = false;
  bool kbd_declined = false;

  template <class P>
  bool in() const {
    return std::holds_alternative<P>(phase);
  }
};

ClientAuth::ClientAuth(std::shared_ptr<const ClientAuthConfig> config, HostIdentity host)
    : s_(std::make_unique<State>()), config_(std::move(config)), host_(std::move(host)) {}

// Destroying the phase cancels any reply still to come: a callback answering
// later finds nobody listening.
ClientAuth::~ClientAuth() = default;

std::vector<Bytes> ClientAuth::take_messages() {
  return std::exchange(out_, {});
}

void ClientAuth::start(const Bytes& session_id) {
  s_->session_id = session_id;
  out_.push_back(UserauthRequest{config_->user, std::string(service_name), NoneFields{}}.encode());
  s_->phase = State::NoneSent{};
}

namespace {

/// Ends authentication with a local reason (a hostile or broken server).
ClientAuthFailed refused(std::string reason) {
  return ClientAuthFailed{std::move(reason), transport::DisconnectReason::protocol_error};
}

}  // namespace

void ClientAuth::handle(BytesView payload) {
  if (result_ || payload.empty()) return;
  const std::uint8_t id = payload.front();
  if (id == msg::userauth_banner) return handle_banner(payload);
  if (id == msg::userauth_success) {
    if (!UserauthSuccess::decode(payload)) {
      result_ = refused("malformed USERAUTH_SUCCESS from the server");
      return;
    }
    s_->phase = State::Done{};
    result_ = ClientAuthSucceeded{};
    return;
  }
  if (id == msg::userauth_failure) return handle_failure(payload);
  // 60 is method-specific (RFC 4250 §4.1.2): what it is depends on the request in progress.
  static_assert(msg::userauth_pk_ok == msg::userauth_info_request &&
                msg::userauth_pk_ok == msg::userauth_passwd_changereq);
  if (id == msg::userauth_pk_ok && s_->in<State::PkQuery>()) return handle_pk_ok(payload);
  if (id == msg::userauth_info_request && s_->in<State::KbdWaiting>()) return info_request(payload);
  if (id == msg::userauth_passwd_changereq && s_->in<State::PasswordSent>()) {
    // An expired password we cannot change here; try another method.
    s_->password_declined = true;
    next_method();
    return;
  }
  if (id == msg::userauth_pk_ok) {
    result_ = refused("unexpected message " + std::to_string(id) + " from the server");
    return;
  }
  result_ = refused("unexpected userauth message " + std::to_string(id) + " from the server");
}

void ClientAuth::handle_banner(BytesView payload) {
  // RFC 4252 §5.4: shown before authentication ends; bounded here, sanitized by the UI.
  auto banner = UserauthBanner::decode(payload);
  if (!banner) return;  // not UTF-8 (or malformed): dropped rather than shown
  std::string text = std::move(banner->message);
  if (text.size() > config_->max_text_bytes) text.resize(config_->max_text_bytes);
  if (config_->on_banner) config_->on_banner(text);
}

void ClientAuth::handle_failure(BytesView payload) {
  auto failure = UserauthFailure::decode(payload);
  if (!failure) {
    result_ = refused("malformed USERAUTH_FAILURE from the server");
    return;
  }
  server_methods_ = std::move(failure->methods);
  // A failure ends the attempt in progress: move past the key that just failed
  // (a signer still at work is cancelled when its phase ends below; keyboard-
  // interactive and password attempts were counted when they started).
  if (s_->in<State::PkQuery>() || s_->in<State::PkSigning>() || s_->in<State::PkSigned>())
    ++s_->key_index;
  // partial_success is not needed: the server's list already says what may continue.
  next_method();
}

void ClientAuth::handle_pk_ok(BytesView payload) {
  // RFC 4252 §7: PK_OK repeats the algorithm and the key of the query. One for
  // another key (or algorithm) answers no query of ours: signing on it would
  // let the server steer which key signs. OpenSSH calls it "server replied
  // with unknown key"; here it ends authentication as a protocol error.
  const auto& query = std::get<State::PkQuery>(s_->phase);
  auto ok = PkOk::decode(payload);
  if (!ok || ok->algorithm != query.alg || ok->key_blob != query.blob) {
    s_->phase = State::Done{};
    result_ = refused("server sent PK_OK for a key that was not offered");
    return;
  }
  return s_->key_index < config_->agent_keys.size() ? ask_signer() : send_signed();
}

void ClientAuth::next_method() {
  for (const auto& method : config_->methods) {
    if (std::find(server_methods_.begin(), server_methods_.end(), method) == server_methods_.end())
      continue;
    if (method == "publickey" && s_->key_index < config_->agent_keys.size() + config_->keys.size())
      return send_query();
    if (method == "keyboard-interactive" && !s_->kbd_declined && config_->on_user_info_request &&
        s_->kbd_attempts < config_->max_attempts)
      return start_keyboard_interactive();
    if (method == "password" && !s_->password_declined && config_->on_password_request &&
        s_->password_attempts < config_->max_attempts)
      return ask_password();
  }
  s_->phase = State::Done{};
  // OpenSSH's words, so scripts and people recognise it.
  result_ = ClientAuthFailed{"Permission denied (" + join(server_methods_) + ").",
                             transport::DisconnectReason::no_more_auth_methods_available};
}

void ClientAuth::send_query() {
  method_ = "publickey";
  const auto n_agent = config_->agent_keys.size();
  const crypto::PublicKey& key = s_->key_index < n_agent
                                     ? config_->agent_keys[s_->key_index].key
                                     : config_->keys[s_->key_index - n_agent].public_key();
  const auto alg = s_->key_index < n_agent
                       ? preferred_alg(key.type())
                       : config_->keys[s_->key_index - n_agent].signature_algs().front();
  out_.push_back(
      UserauthRequest{config_->user, std::string(service_name),
                      PublickeyFields{std::string(crypto::name(alg)), key.blob(), std::nullopt}}
          .encode());
  s_->phase = State::PkQuery{std::string(crypto::name(alg)), key.blob()};
}

void ClientAuth::ask_signer() {
  const auto& external = config_->agent_keys[s_->key_index];
  const auto alg = preferred_alg(external.key.type());
  Bytes signed_data = publickey_signed_data(s_->session_id, config_->user, service_name,
                                            crypto::name(alg), external.key.blob());
  auto& signing = s_->phase.emplace<State::PkSigning>(
      State::PkSigning{Pending<SignReply>(wake_), crypto::SecretBytes(signed_data)});
  if (!external.sign) return signer_replied(Decline{});
  external.sign(std::move(signed_data), alg, signing.signer.reply_to());
  poll();
}

void ClientAuth::signer_replied(SignReply reply) {
  const auto& external = config_->agent_keys[s_->key_index];
  const auto alg = preferred_alg(external.key.type());
  const auto* signature = std::get_if<Bytes>(&reply);
  // The blob goes out as the signer made it, but only if it is a signature by this
  // key, with this algorithm, over this request: an agent that ignored the RSA flags
  // (an "ssh-rsa" SHA-1 signature) or signed something else costs this key only.
  const auto& signing = std::get<State::PkSigning>(s_->phase);
  const bool good =
      signature != nullptr && external.key.verify(alg, *signature, signing.signed_data.view());
  if (!good) {
    ++s_->key_index;
    next_method();  // ends PkSigning: the signed data is wiped
    return;
  }
  out_.push_back(UserauthRequest{
      config_->user, std::string(service_name),
      PublickeyFields{std::string(crypto::name(alg)), external.key.blob(), *signature}}
                     .encode());
  s_->phase = State::PkSigned{};
}

void ClientAuth::send_signed() {
  const auto& key = config_->keys[s_->key_index - config_->agent_keys.size()];
  const auto alg = key.signature_algs().front();
  const Bytes blob = key.public_key().blob();
  // RFC 4252 §7: the signature covers the session id and the request so far.
  const Bytes signed_data =
      publickey_signed_data(s_->session_id, config_->user, service_name, crypto::name(alg), blob);
  Bytes signature = key.sign(alg, signed_data);
  out_.push_back(
      UserauthRequest{config_->user, std::string(service_name),
                      PublickeyFields{std::string(crypto::name(alg)), blob, std::move(signature)}}
          .encode());
  s_->phase = State::PkSigned{};
}

void ClientAuth::ask_password() {
  method_ = "password";
  ++s_->password_attempts;
  auto& asking = s_->phase.emplace<State::PasswordAsking>(
      State::PasswordAsking{Pending<PasswordReply>(wake_)});
  PasswordRequest request{config_->user, host_, s_->password_attempts};
  config_->on_password_request(request, asking.reply.reply_to());
  poll();
}

void ClientAuth::password_given(PasswordReply reply) {
  auto* password = std::get_if<crypto::SecretBytes>(&reply);
  if (password == nullptr) {
    s_->password_declined = true;
    next_method();
    return;
  }
  out_.push_back(UserauthRequest{config_->user, std::string(service_name),
                                 PasswordFields{std::move(*password), std::nullopt}}
                     .encode());
  s_->phase = State::PasswordSent{};
}

void ClientAuth::start_keyboard_interactive() {
  method_ = "keyboard-interactive";
  ++s_->kbd_attempts;
  // Language (deprecated, RFC 4256 §3.1) and submethods (a hint) empty.
  out_.push_back(
      UserauthRequest{config_->user, std::string(service_name), KeyboardInteractiveFields{}}
          .encode());
  s_->phase = State::KbdWaiting{};
}

namespace {

/// Why a server's keyboard-interactive request is refused, in the user's words.
std::string decode_refusal(const DecodeError& e, const ClientAuthConfig& c) {
  const std::string max_text = std::to_string(c.max_text_bytes);
  switch (e.fault) {
    case DecodeFault::text_too_long:
      return "server sent a keyboard-interactive text of more than " + max_text + " bytes";
    case DecodeFault::too_many_prompts:
      return "server asked " + std::to_string(e.count) + " questions in one round (limit " +
             std::to_string(c.max_prompts) + ")";
    case DecodeFault::prompt_too_long:
      return "server sent a prompt of more than " + max_text + " bytes";
    default:
      return "malformed keyboard-interactive request from the server";
  }
}

}  // namespace

void ClientAuth::info_request(BytesView payload) {
  const auto& c = *config_;
  // Bounds first: a server asking for 10 000 answers or sending a 1 MiB prompt is
  // refused before anything reaches the application.
  DecodeLimits limits;
  limits.max_prompts = c.max_prompts;
  limits.max_text_bytes = c.max_text_bytes;
  auto decoded = InfoRequest::decode(payload, limits);
  if (!decoded) {
    result_ = refused(decode_refusal(decoded.error(), c));
    return;
  }
  const std::size_t round = std::get<State::KbdWaiting>(s_->phase).rounds + 1;
  if (round > c.max_rounds) {
    result_ = refused("server asked more than " + std::to_string(c.max_rounds) +
                      " keyboard-interactive rounds");
    return;
  }
  UserInfoRequest request;
  request.name = std::move(decoded->name);
  request.instruction = std::move(decoded->instruction);
  request.language = std::move(decoded->language);
  request.prompts = std::move(decoded->prompts);
  request.round = round;
  request.attempt = s_->kbd_attempts;
  request.user = c.user;
  request.host = host_;
  auto& answering = s_->phase.emplace<State::KbdAnswering>(
      State::KbdAnswering{round, request.prompts.size(), Pending<InfoReply>(wake_)});
  c.on_user_info_request(request, answering.reply.reply_to());
  poll();
}

void ClientAuth::answers_given(InfoReply reply) {
  const auto& answering = std::get<State::KbdAnswering>(s_->phase);
  const std::size_t prompts = answering.prompts;
  const std::size_t round = answering.round;
  auto* answers = std::get_if<Answers>(&reply);
  if (answers == nullptr && prompts == 0) answers = &std::get<Answers>(reply = Answers{});
  if (answers == nullptr) {
    // Declined: this method is over; the next request abandons it (RFC 4256 §3.4 allows it).
    s_->kbd_declined = true;
    next_method();
    return;
  }
  if (answers->values.size() != prompts) {
    // The library, not the server, enforces one answer per prompt.
    result_ =
        ClientAuthFailed{"the answer callback gave " + std::to_string(answers->values.size()) +
                             " answers to " + std::to_string(prompts) + " prompts",
                         transport::DisconnectReason::by_application};
    return;
  }
  // The owner pads it and wipes it once sent.
  out_.push_back(InfoResponse{std::move(answers->values)}.encode());
  s_->phase = State::KbdWaiting{round};
}

void ClientAuth::poll() {
  if (result_) return;
  if (auto* signing = std::get_if<State::PkSigning>(&s_->phase)) {
    if (auto reply = signing->signer.take())
      signer_replied(std::move(*reply));  // one signature per request
  } else if (auto* answering = std::get_if<State::KbdAnswering>(&s_->phase)) {
    if (auto reply = answering->reply.take())
      answers_given(std::move(*reply));  // one reply per round
  } else if (auto* asking = std::get_if<State::PasswordAsking>(&s_->phase)) {
    if (auto reply = asking->reply.take()) password_given(std::move(*reply));
  }
}

}  // namespace parley::userauth

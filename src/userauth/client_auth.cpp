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
    case crypto::KeyType::ed25519: return crypto::SignatureAlg::ssh_ed25519;
    case crypto::KeyType::ecdsa_p256: return crypto::SignatureAlg::ecdsa_sha2_nistp256;
    case crypto::KeyType::rsa: return crypto::SignatureAlg::rsa_sha2_512;
  }
  return crypto::SignatureAlg::ssh_ed25519;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ",") + x;
  return s;
}

}  // namespace

/// Where the attempt in progress stands.
struct ClientAuth::State {
  Bytes session_id;
  enum class Step : std::uint8_t {
    none_sent,        // the "none" request that lists the server's methods
    pk_query,         // publickey without signature: waiting for PK_OK or FAILURE
    pk_signing,       // PK_OK for an external key: its signer is at work
    pk_signed,        // signed publickey request sent
    password_asking,  // on_password_request in progress
    password_sent,
    kbd_started,      // keyboard-interactive request sent, waiting for INFO_REQUEST
    kbd_answering,    // on_user_info_request in progress
    kbd_answered,     // INFO_RESPONSE sent
    done,
  } step = Step::none_sent;
  std::size_t key_index = 0;       // next key for publickey: agent_keys, then keys
  std::size_t password_attempts = 0;
  std::size_t kbd_attempts = 0;
  std::size_t kbd_round = 0;
  std::size_t prompts_in_round = 0;
  bool password_declined = false;
  bool kbd_declined = false;
  std::shared_ptr<detail::ReplyBox<InfoReply>> info_box;
  std::shared_ptr<detail::ReplyBox<PasswordReply>> password_box;
  std::shared_ptr<detail::ReplyBox<SignReply>> sign_box;
  std::string query_alg;  // the algorithm and key of the publickey query awaiting PK_OK
  Bytes query_blob;
  Bytes signed_data;      // what the external signer signs (wiped once answered)
  std::vector<std::string> tried;  // methods attempted, for the failure message
};

ClientAuth::ClientAuth(std::shared_ptr<const ClientAuthConfig> config, HostIdentity host)
    : s_(std::make_unique<State>()), config_(std::move(config)), host_(std::move(host)) {}

ClientAuth::~ClientAuth() {
  // A callback answering later must find nobody listening.
  if (s_->info_box) {
    std::lock_guard lock(s_->info_box->mutex);
    s_->info_box->cancelled = true;
  }
  if (s_->password_box) {
    std::lock_guard lock(s_->password_box->mutex);
    s_->password_box->cancelled = true;
  }
  if (s_->sign_box) {
    std::lock_guard lock(s_->sign_box->mutex);
    s_->sign_box->cancelled = true;
  }
  crypto::secure_wipe(s_->signed_data.data(), s_->signed_data.size());
}

std::vector<Bytes> ClientAuth::take_messages() {
  return std::exchange(out_, {});
}

void ClientAuth::start(const Bytes& session_id) {
  s_->session_id = session_id;
  out_.push_back(UserauthRequest{config_->user, std::string(service_name), NoneFields{}}.encode());
  s_->step = State::Step::none_sent;
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
    s_->step = State::Step::done;
    result_ = ClientAuthSucceeded{};
    return;
  }
  if (id == msg::userauth_failure) return handle_failure(payload);
  // 60 is method-specific (RFC 4250 §4.1.2): what it is depends on the request in progress.
  static_assert(msg::userauth_pk_ok == msg::userauth_info_request &&
                msg::userauth_pk_ok == msg::userauth_passwd_changereq);
  if (id == msg::userauth_pk_ok && s_->step == State::Step::pk_query) return handle_pk_ok(payload);
  if (id == msg::userauth_info_request &&
      (s_->step == State::Step::kbd_started || s_->step == State::Step::kbd_answered))
    return info_request(payload);
  if (id == msg::userauth_passwd_changereq && s_->step == State::Step::password_sent) {
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
  // A failure ends the attempt in progress: move past what just failed.
  switch (s_->step) {
    case State::Step::pk_signing:  // not asked for: the signer's late answer is dropped
      if (s_->sign_box) {
        std::lock_guard lock(s_->sign_box->mutex);
        s_->sign_box->cancelled = true;
      }
      s_->sign_box.reset();
      crypto::secure_wipe(s_->signed_data.data(), s_->signed_data.size());
      s_->signed_data.clear();
      ++s_->key_index;
      break;
    case State::Step::pk_query:
    case State::Step::pk_signed: ++s_->key_index; break;
    case State::Step::kbd_started:
    case State::Step::kbd_answered:
    case State::Step::kbd_answering: break;  // counted when started
    default: break;
  }
  // partial_success is not needed: the server's list already says what may continue.
  next_method();
}

void ClientAuth::handle_pk_ok(BytesView payload) {
  // RFC 4252 §7: PK_OK repeats the algorithm and the key of the query. One for
  // another key (or algorithm) answers no query of ours: signing on it would
  // let the server steer which key signs. OpenSSH calls it "server replied
  // with unknown key"; here it ends authentication as a protocol error.
  auto ok = PkOk::decode(payload);
  if (!ok || ok->algorithm != s_->query_alg || ok->key_blob != s_->query_blob) {
    s_->step = State::Step::done;
    result_ = refused("server sent PK_OK for a key that was not offered");
    return;
  }
  return s_->key_index < config_->agent_keys.size() ? ask_signer() : send_signed();
}

void ClientAuth::next_method() {
  for (const auto& method : config_->methods) {
    if (std::find(server_methods_.begin(), server_methods_.end(), method) == server_methods_.end()) continue;
    if (method == "publickey" && s_->key_index < config_->agent_keys.size() + config_->keys.size())
      return send_query();
    if (method == "keyboard-interactive" && !s_->kbd_declined && config_->on_user_info_request &&
        s_->kbd_attempts < config_->max_attempts)
      return start_keyboard_interactive();
    if (method == "password" && !s_->password_declined && config_->on_password_request &&
        s_->password_attempts < config_->max_attempts)
      return ask_password();
  }
  s_->step = State::Step::done;
  // OpenSSH's words, so scripts and people recognise it.
  result_ = ClientAuthFailed{"Permission denied (" + join(server_methods_) + ").",
                             transport::DisconnectReason::no_more_auth_methods_available};
}

void ClientAuth::send_query() {
  method_ = "publickey";
  const auto n_agent = config_->agent_keys.size();
  const crypto::PublicKey& key = s_->key_index < n_agent ? config_->agent_keys[s_->key_index].key
                                                         : config_->keys[s_->key_index - n_agent].public_key();
  const auto alg = s_->key_index < n_agent ? preferred_alg(key.type())
                                           : config_->keys[s_->key_index - n_agent].signature_algs().front();
  out_.push_back(UserauthRequest{config_->user, std::string(service_name),
                                 PublickeyFields{std::string(crypto::name(alg)), key.blob(), std::nullopt}}
                     .encode());
  s_->query_alg = std::string(crypto::name(alg));
  s_->query_blob = key.blob();
  s_->step = State::Step::pk_query;
}

void ClientAuth::ask_signer() {
  const auto& external = config_->agent_keys[s_->key_index];
  const auto alg = preferred_alg(external.key.type());
  Bytes signed_data = publickey_signed_data(s_->session_id, config_->user, service_name,
                                            crypto::name(alg), external.key.blob());
  s_->signed_data = signed_data;
  s_->step = State::Step::pk_signing;
  s_->sign_box = std::make_shared<detail::ReplyBox<SignReply>>();
  s_->sign_box->wake = wake_;
  if (!external.sign) return signer_replied(Decline{});
  external.sign(std::move(signed_data), alg, ReplyTo<SignReply>(s_->sign_box));
  poll();
}

void ClientAuth::signer_replied(SignReply reply) {
  s_->sign_box.reset();
  const auto& external = config_->agent_keys[s_->key_index];
  const auto alg = preferred_alg(external.key.type());
  const auto* signature = std::get_if<Bytes>(&reply);
  // The blob goes out as the signer made it, but only if it is a signature by this
  // key, with this algorithm, over this request: an agent that ignored the RSA flags
  // (an "ssh-rsa" SHA-1 signature) or signed something else costs this key only.
  const bool good = signature != nullptr && external.key.verify(alg, *signature, s_->signed_data);
  crypto::secure_wipe(s_->signed_data.data(), s_->signed_data.size());
  s_->signed_data.clear();
  if (!good) {
    ++s_->key_index;
    next_method();
    return;
  }
  out_.push_back(UserauthRequest{config_->user, std::string(service_name),
                                 PublickeyFields{std::string(crypto::name(alg)), external.key.blob(),
                                                 *signature}}
                     .encode());
  s_->step = State::Step::pk_signed;
}

void ClientAuth::send_signed() {
  const auto& key = config_->keys[s_->key_index - config_->agent_keys.size()];
  const auto alg = key.signature_algs().front();
  const Bytes blob = key.public_key().blob();
  // RFC 4252 §7: the signature covers the session id and the request so far.
  const Bytes signed_data =
      publickey_signed_data(s_->session_id, config_->user, service_name, crypto::name(alg), blob);
  Bytes signature = key.sign(alg, signed_data);
  out_.push_back(UserauthRequest{config_->user, std::string(service_name),
                                 PublickeyFields{std::string(crypto::name(alg)), blob, std::move(signature)}}
                     .encode());
  s_->step = State::Step::pk_signed;
}

void ClientAuth::ask_password() {
  method_ = "password";
  ++s_->password_attempts;
  s_->step = State::Step::password_asking;
  s_->password_box = std::make_shared<detail::ReplyBox<PasswordReply>>();
  s_->password_box->wake = wake_;
  PasswordRequest request{config_->user, host_, s_->password_attempts};
  config_->on_password_request(request, ReplyTo<PasswordReply>(s_->password_box));
  poll();
}

void ClientAuth::start_keyboard_interactive() {
  method_ = "keyboard-interactive";
  ++s_->kbd_attempts;
  s_->kbd_round = 0;
  // Language (deprecated, RFC 4256 §3.1) and submethods (a hint) empty.
  out_.push_back(UserauthRequest{config_->user, std::string(service_name), KeyboardInteractiveFields{}}
                     .encode());
  s_->step = State::Step::kbd_started;
}

void ClientAuth::info_request(BytesView payload) {
  const auto& c = *config_;
  // Bounds first: a server asking for 10 000 answers or sending a 1 MiB prompt is
  // refused before anything reaches the application.
  DecodeLimits limits;
  limits.max_prompts = c.max_prompts;
  limits.max_text_bytes = c.max_text_bytes;
  auto decoded = InfoRequest::decode(payload, limits);
  if (!decoded) {
    const std::string max_text = std::to_string(c.max_text_bytes);
    switch (decoded.error().fault) {
      case DecodeFault::text_too_long:
        result_ = refused("server sent a keyboard-interactive text of more than " + max_text + " bytes");
        return;
      case DecodeFault::too_many_prompts:
        result_ = refused("server asked " + std::to_string(decoded.error().count) +
                          " questions in one round (limit " + std::to_string(c.max_prompts) + ")");
        return;
      case DecodeFault::prompt_too_long:
        result_ = refused("server sent a prompt of more than " + max_text + " bytes");
        return;
      default:
        result_ = refused("malformed keyboard-interactive request from the server");
        return;
    }
  }
  UserInfoRequest request;
  request.name = std::move(decoded->name);
  request.instruction = std::move(decoded->instruction);
  request.language = std::move(decoded->language);
  request.prompts = std::move(decoded->prompts);
  const std::size_t count = request.prompts.size();
  if (++s_->kbd_round > c.max_rounds) {
    result_ = refused("server asked more than " + std::to_string(c.max_rounds) +
                      " keyboard-interactive rounds");
    return;
  }
  request.round = s_->kbd_round;
  request.attempt = s_->kbd_attempts;
  request.user = c.user;
  request.host = host_;
  s_->prompts_in_round = count;
  s_->step = State::Step::kbd_answering;
  s_->info_box = std::make_shared<detail::ReplyBox<InfoReply>>();
  s_->info_box->wake = wake_;
  c.on_user_info_request(request, ReplyTo<InfoReply>(s_->info_box));
  poll();
}

void ClientAuth::poll() {
  if (result_) return;
  if (s_->step == State::Step::pk_signing && s_->sign_box) {
    std::optional<SignReply> reply;
    {
      std::lock_guard lock(s_->sign_box->mutex);
      reply = std::move(s_->sign_box->reply);
      if (reply) s_->sign_box->cancelled = true;  // one signature per request
    }
    if (!reply) return;
    signer_replied(std::move(*reply));
    return;
  }
  if (s_->step == State::Step::kbd_answering && s_->info_box) {
    std::optional<InfoReply> reply;
    {
      std::lock_guard lock(s_->info_box->mutex);
      reply = std::move(s_->info_box->reply);
      if (reply) s_->info_box->cancelled = true;  // one reply per round
    }
    if (!reply) return;
    s_->info_box.reset();
    auto* answers = std::get_if<Answers>(&*reply);
    if (answers == nullptr && s_->prompts_in_round == 0) answers = &std::get<Answers>(*reply = Answers{});
    if (answers == nullptr) {
      // Declined: this method is over; the next request abandons it (RFC 4256 §3.4 allows it).
      s_->kbd_declined = true;
      next_method();
      return;
    }
    if (answers->values.size() != s_->prompts_in_round) {
      // The library, not the server, enforces one answer per prompt.
      result_ = ClientAuthFailed{"the answer callback gave " + std::to_string(answers->values.size()) +
                                     " answers to " + std::to_string(s_->prompts_in_round) + " prompts",
                                 transport::DisconnectReason::by_application};
      return;
    }
    // The owner pads it and wipes it once sent.
    out_.push_back(InfoResponse{std::move(answers->values)}.encode());
    s_->step = State::Step::kbd_answered;
    return;
  }
  if (s_->step == State::Step::password_asking && s_->password_box) {
    std::optional<PasswordReply> reply;
    {
      std::lock_guard lock(s_->password_box->mutex);
      reply = std::move(s_->password_box->reply);
      if (reply) s_->password_box->cancelled = true;
    }
    if (!reply) return;
    s_->password_box.reset();
    auto* password = std::get_if<crypto::SecretBytes>(&*reply);
    if (password == nullptr) {
      s_->password_declined = true;
      next_method();
      return;
    }
    out_.push_back(UserauthRequest{config_->user, std::string(service_name),
                                   PasswordFields{std::move(*password), std::nullopt}}
                       .encode());
    s_->step = State::Step::password_sent;
  }
}

}  // namespace parley::userauth

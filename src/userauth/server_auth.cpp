#include "parley/userauth/server_auth.hpp"

#include <algorithm>
#include <atomic>
#include <mutex>

#include "parley/userauth/messages.hpp"
#include "parley/userauth/server_text.hpp"

namespace parley::userauth {
namespace {

/// What the decoders enforce: the configured limits on what a client sends.
DecodeLimits decode_limits(const AuthLimits& limits) {
  DecodeLimits d;
  d.max_secret_bytes = limits.max_answer_bytes;
  return d;
}

std::vector<std::string> split_commas(std::string_view s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < s.size()) {
    std::size_t comma = s.find(',', start);
    if (comma == std::string_view::npos) comma = s.size();
    if (comma > start) out.emplace_back(s.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}


}  // namespace

namespace detail {

/// The connection's check slots (AuthLimits::max_pending_checks) held by one
/// attempt's jobs. Each slot is given back once: when its job returns, or when
/// the core collects the attempt's answer, whichever comes first. An answer
/// collected means the check is done even though its worker has yet to return
/// from the job; counting it until then would fail closed the request the
/// client sends as soon as it reads that answer (a signed publickey request
/// right after PK_OK).
class CheckSlots {
 public:
  using Slot = std::shared_ptr<std::atomic<bool>>;
  explicit CheckSlots(std::shared_ptr<std::atomic<std::size_t>> pending) : pending_(std::move(pending)) {}
  /// A slot for one more job, or null if the connection already holds `limit`.
  Slot take(std::size_t limit) {
    if (pending_->fetch_add(1) >= limit) {
      pending_->fetch_sub(1);
      return nullptr;
    }
    auto slot = std::make_shared<std::atomic<bool>>(true);
    std::lock_guard lock(mutex_);
    held_.push_back(slot);
    return slot;
  }
  void give_back(std::atomic<bool>& slot) {
    if (slot.exchange(false)) pending_->fetch_sub(1);
  }
  void give_back_all() {
    std::lock_guard lock(mutex_);
    for (const auto& slot : held_) give_back(*slot);
    held_.clear();
  }

 private:
  std::shared_ptr<std::atomic<std::size_t>> pending_;
  std::mutex mutex_;
  std::vector<Slot> held_;
};

}  // namespace detail

struct ServerAuth::Attempt {
  std::unique_ptr<KeyboardInteractiveProvider> provider;
  std::shared_ptr<detail::Mailbox> mailbox = std::make_shared<detail::Mailbox>();
  std::shared_ptr<detail::CheckSlots> slots;  // its jobs' slots in the connection's bound
  AttemptInfo info;
  /// The provider has yet to answer (start() or answer() was called).
  struct AwaitingProvider {};
  /// An INFO_REQUEST with this many prompts awaits its INFO_RESPONSE.
  struct AwaitingResponse {
    std::size_t prompts = 0;
  };
  std::variant<AwaitingProvider, AwaitingResponse> stage;
  std::size_t rounds = 0;
  std::size_t last_prompts = 0;
  ChainStep step;  // the chain step this attempt would complete
  /// Set for a publickey attempt: what to answer once the key is found authorized.
  struct Publickey {
    bool query = false;  // no signature: answer PK_OK (RFC 4252 §7)
    std::string alg_name;
    crypto::PublicKey key;
    std::shared_ptr<AuthError> refusal;  // why the check rejected (set before it answers)
  };
  std::optional<Publickey> publickey;

  ~Attempt() {
    // A late asynchronous answer after an abort is dropped (RFC 4252 §5: a new
    // request aborts the exchange in progress).
    mailbox->cancel();
  }
};

ServerAuth::ServerAuth(std::shared_ptr<const ServerAuthConfig> config, std::string peer,
                       Instant now)
    : config_(std::move(config)),
      chains_(effective_chains(*config_)),
      peer_(std::move(peer)),
      grace_deadline_(now + config_->limits.login_grace) {}

ServerAuth::~ServerAuth() = default;  // held requests wipe themselves

ServerAuth::HeldRequests& ServerAuth::HeldRequests::operator=(HeldRequests&& other) noexcept {
  if (this != &other) {
    wipe();
    queue_ = std::exchange(other.queue_, {});
  }
  return *this;
}

Bytes ServerAuth::HeldRequests::pop() {
  Bytes next = std::move(queue_.front());
  queue_.pop_front();
  return next;
}

void ServerAuth::HeldRequests::wipe() {
  // Held USERAUTH_REQUESTs may carry passwords: wipe them before they are freed.
  for (Bytes& request : queue_) crypto::secure_wipe(request.data(), request.size());
  queue_.clear();
}

ServerAuth::Attempt* ServerAuth::attempt() const {
  const auto* attempting = std::get_if<Attempting>(&phase_);
  return attempting ? attempting->attempt.get() : nullptr;
}

void ServerAuth::handle(BytesView payload, const Bytes& session_id, Instant now) {
  if (finished()) return;  // closed, or RFC 4252 §5.1: requests after success are ignored
  if (auto* holding = std::get_if<Holding>(&phase_)) {
    // A reply is being held for the uniform failure delay; keep order.
    if (holding->requests.size() >= config_->limits.max_requests)
      return disconnect(AuthError::too_many_pending_requests);
    holding->requests.push(payload);
    session_id_ = session_id;
    return;
  }
  process(payload, session_id, now);
}

void ServerAuth::process(BytesView payload, const Bytes& session_id, Instant now) {
  last_input_ = now;
  session_id_ = session_id;
  switch (payload.empty() ? 0 : payload[0]) {
    case msg::userauth_request: return handle_request(payload, session_id, now);
    case msg::userauth_info_response: return handle_info_response(payload, now);
    default:
      return disconnect(AuthError::unexpected_message);
  }
}

void ServerAuth::handle_request(BytesView payload, const Bytes& session_id, Instant now) {
  if (++requests_ > config_->limits.max_requests)
    return disconnect(AuthError::too_many_requests);
  auto request = UserauthRequest::decode(payload, decode_limits(config_->limits));
  if (!request)
    return disconnect(AuthError::malformed_request);
  const std::string method(request->method());
  // RFC 4252 §5: a changed user name or service may not be continued; as OpenSSH, end.
  if (user_ && (request->user != *user_ || request->service != *service_))
    return disconnect(AuthError::user_or_service_changed);
  if (request->service != "ssh-connection")
    return disconnect(AuthError::service_not_available);
  user_ = request->user;
  service_ = request->service;
  abort_attempt();
  if (method != "none") preauth(transport::PreauthState::attempted);

  // A known method whose fields did not decode: what it costs depends on the method.
  const bool malformed = std::holds_alternative<MalformedFields>(request->fields);
  if (method == "none" && !malformed && !banner_sent_) {
    // Exactly first_none_reply(), which a separated network process answers with.
    for (auto& packet : first_none_reply()) out_.push_back(std::move(packet));
    banner_sent_ = true;
    return;
  }
  if (!banner_sent_ && !config_->banner.empty())
    out_.push_back(UserauthBanner{config_->banner, ""}.encode());
  banner_sent_ = true;

  if (method == "none") {
    if (malformed) return disconnect(AuthError::malformed_none_request);
    return send_failure(now, /*delay=*/false);  // "none" is not a failed attempt (as OpenSSH)
  }
  if (method == "publickey") {
    method_ = method;
    if (malformed)
      return disconnect(AuthError::malformed_publickey_request);
    return handle_publickey(std::get<PublickeyFields>(request->fields), session_id, now);
  }
  if (method == "password" && config_->password && step_for(ChainMethod::password)) {
    method_ = method;
    if (malformed) return fail_attempt(AuthError::malformed_password, now);
    auto& fields = std::get<PasswordFields>(request->fields);
    // RFC 4252 §8: a change request carries the new password too (not supported here).
    if (fields.new_password) return fail_attempt(AuthError::password_change_unsupported, now);
    return start_password(std::move(fields.password), now);
  }
  if (method == "keyboard-interactive" && step_for(ChainMethod::keyboard_interactive)) {
    if (malformed)
      return disconnect(AuthError::malformed_keyboard_interactive_request);
    return start_keyboard_interactive(
        std::get<KeyboardInteractiveFields>(request->fields).submethods, now);
  }
  // A method we do not offer: a failed attempt, answered like any other.
  method_ = method;
  fail_attempt(AuthError::method_not_offered, now);
}

namespace {

/// The "password" method as a one-shot provider: start() checks the password it
/// was made with, so both password paths share the attempt machinery.
class PasswordMethod final : public KeyboardInteractiveProvider {
 public:
  PasswordMethod(const ServerAuthConfig& config, crypto::SecretBytes password)
      : config_(config), password_(std::move(password)) {}
  std::string_view name() const override { return "password"; }
  void start(const AttemptInfo& attempt, Responder respond) override {
    PasswordProvider::check(config_.password, attempt.run_blocking, attempt.user,
                            std::move(password_), std::move(respond));
  }
  void answer(std::vector<crypto::SecretBytes>, Responder respond) override { respond(Reject{}); }

 private:
  const ServerAuthConfig& config_;
  crypto::SecretBytes password_;
};

}  // namespace

bool ServerAuth::keyboard_interactive_offered() const {
  return config_->keyboard_interactive || config_->password;
}

ServerAuth::Attempt& ServerAuth::new_attempt(ChainStep step, std::vector<std::string> submethods) {
  auto a = std::make_unique<Attempt>();
  a->info = AttemptInfo{*user_, *service_, peer_, std::move(submethods), session_id_, completed_, {}};
  a->slots = std::make_shared<detail::CheckSlots>(pending_checks_);
  a->info.run_blocking = attempt_runner(*a);
  a->step = std::move(step);
  Attempt& made = *a;
  phase_ = Attempting{std::move(a)};
  return made;
}

void ServerAuth::start_attempt(Instant now) {
  Attempt& a = *attempt();
  a.mailbox->set_wake(wake_);
  a.stage = Attempt::AwaitingProvider{};
  a.provider->start(a.info, Responder(a.mailbox));
  collect(now);
}

void ServerAuth::start_password(crypto::SecretBytes password, Instant now) {
  new_attempt(*step_for(ChainMethod::password)).provider =
      std::make_unique<PasswordMethod>(*config_, std::move(password));
  start_attempt(now);
}

void ServerAuth::start_keyboard_interactive(std::string_view submethods, Instant now) {
  method_ = "keyboard-interactive";
  Attempt& a = new_attempt(*step_for(ChainMethod::keyboard_interactive), split_commas(submethods));
  // A chain step "keyboard-interactive:NAME" chooses the provider; the client's
  // submethods are only a hint (RFC 4256 §3.1) and do not.
  const std::string& sub = a.step.provider;
  if (!sub.empty()) {
    if (auto it = config_->named_providers.find(sub); it != config_->named_providers.end()) {
      a.provider = it->second(a.info);
    } else if (sub == "password" && config_->password) {
      a.provider = std::make_unique<PasswordProvider>(config_->password, a.info.run_blocking);
    }
  } else if (config_->keyboard_interactive) {
    a.provider = config_->keyboard_interactive(a.info);
  } else if (config_->password) {
    a.provider = std::make_unique<PasswordProvider>(config_->password, a.info.run_blocking);
  }
  if (!a.provider) return fail_attempt(AuthError::no_provider, now);
  start_attempt(now);
}

void ServerAuth::handle_info_response(BytesView payload, Instant now) {
  // RFC 4256 §3.4: only in answer to an outstanding INFO_REQUEST.
  Attempt* a = attempt();
  const auto* awaiting = a ? std::get_if<Attempt::AwaitingResponse>(&a->stage) : nullptr;
  if (!awaiting) return disconnect(AuthError::response_without_request);
  const std::size_t expected = awaiting->prompts;
  a->stage = Attempt::AwaitingProvider{};
  auto response = InfoResponse::decode(payload, expected, decode_limits(config_->limits));
  if (!response)
    return fail_attempt(response.error().fault == DecodeFault::count_mismatch
                            ? AuthError::response_count_mismatch
                            : AuthError::malformed_answers,
                        now);
  a->provider->answer(std::move(response->answers), Responder(a->mailbox));
  collect(now);
}

void ServerAuth::collect(Instant now) {
  Attempt* a = attempt();
  if (!a || !std::holds_alternative<Attempt::AwaitingProvider>(a->stage)) return;
  std::optional<Outcome> outcome = a->mailbox->take();
  if (!outcome) return;  // asynchronous: the Responder wakes us
  a->slots->give_back_all();  // answered: the next request may be checked
  apply(std::move(*outcome), now);
}

void ServerAuth::apply(Outcome outcome, Instant now) {
  Attempt& a = *attempt();
  if (auto* challenge = std::get_if<Challenge>(&outcome)) {
    if (a.rounds >= config_->limits.max_rounds) return fail_attempt(AuthError::too_many_rounds, now);
    if (challenge->prompts.size() > config_->limits.max_prompts)
      return fail_attempt(AuthError::too_many_prompts, now);
    ++a.rounds;
    a.last_prompts = challenge->prompts.size();
    out_.push_back(
        InfoRequest{challenge->name, challenge->instruction, "", challenge->prompts}.encode());
    a.stage = Attempt::AwaitingResponse{challenge->prompts.size()};
    audit("challenge");
    return;
  }
  if (std::holds_alternative<Accept>(outcome) && verdict().exists) {
    if (a.publickey && a.publickey->query) {
      // RFC 4252 §7: the key would do; no partial success on a mere query.
      out_.push_back(PkOk{a.publickey->alg_name, a.publickey->key.blob()}.encode());
      audit("key-ok");
      phase_ = Idle{};
      return;
    }
    if (!permitted(wire_name(a.step.method))) return fail_attempt(AuthError::not_permitted, now);
    audit("accept");
    const ChainStep step = a.step;
    if (a.publickey) {
      used_keys_.push_back(a.publickey->key);
      return complete_step(step, a.publickey->key.fingerprint(), now);
    }
    return complete_step(step, "", now);
  }
  if (a.publickey)
    return fail_attempt(*a.publickey->refusal, now);
  fail_attempt(AuthError::rejected, now);
}

namespace {

/// The publickey check as a one-shot provider: reading authorized_keys may block
/// (a slow home directory, a network file system), so it runs on the
/// BlockingRunner as password checks do, and the signature is verified there too.
class PublickeyCheck final : public KeyboardInteractiveProvider {
 public:
  struct Request {
    std::string user;
    crypto::PublicKey key;
    std::optional<crypto::SignatureAlg> alg;  // with a signature
    Bytes signature;
    Bytes signed_data;
  };
  PublickeyCheck(std::shared_ptr<const ServerAuthConfig> config, Request request,
                 std::shared_ptr<AuthError> refusal)
      : config_(std::move(config)), request_(std::move(request)), refusal_(std::move(refusal)) {}
  std::string_view name() const override { return "publickey"; }
  void start(const AttemptInfo& info, Responder respond) override {
    auto job = [config = config_, request = std::move(request_), refusal = refusal_, respond] {
      // Whether the user exists is decided once, in apply(), as for every method.
      bool authorized = false;
      for (const auto& k : config->authorized_keys(request.user))
        if (k == request.key) authorized = true;
      if (!authorized) {
        *refusal = AuthError::key_not_accepted;
        return respond(Reject{});
      }
      if (request.alg &&
          !request.key.verify(*request.alg, request.signature, request.signed_data)) {
        *refusal = AuthError::bad_signature;
        return respond(Reject{});
      }
      respond(Accept{});
    };
    // The attempt's runner: bounded per connection, dropped if the attempt is aborted.
    if (!info.run_blocking) return job();  // no pool configured: in place (tests, tools)
    if (!info.run_blocking(job)) {         // overloaded: fail closed, saying so
      *refusal_ = AuthError::checks_busy;
      respond(Reject{});
    }
  }
  void answer(std::vector<crypto::SecretBytes>, Responder respond) override { respond(Reject{}); }

 private:
  std::shared_ptr<const ServerAuthConfig> config_;
  Request request_;
  std::shared_ptr<AuthError> refusal_;
};

}  // namespace

void ServerAuth::handle_publickey(const PublickeyFields& fields, const Bytes& session_id,
                                  Instant now) {
  const auto step = step_for(ChainMethod::publickey);
  if (!step || !config_->authorized_keys) return fail_attempt(AuthError::method_not_offered, now);

  const std::string& alg_name = fields.algorithm;
  const auto alg = crypto::signature_alg_from_name(alg_name);
  const auto& allowed = config_->publickey_algorithms;
  auto key = crypto::PublicKey::from_blob(fields.key_blob);
  if (!alg || std::find(allowed.begin(), allowed.end(), *alg) == allowed.end() || !key ||
      key->type() != crypto::key_type_for(*alg))
    return fail_attempt(AuthError::key_not_accepted, now);
  // As OpenSSH (auth2-pubkey.c): a key that already completed a step of this
  // chain is refused, so "publickey,publickey" takes two different keys.
  if (std::find(used_keys_.begin(), used_keys_.end(), *key) != used_keys_.end())
    return fail_attempt(AuthError::key_already_used, now);

  PublickeyCheck::Request check{*user_, *key, std::nullopt, {}, {}};
  const bool has_signature = fields.signature.has_value();
  if (has_signature) {
    check.alg = *alg;
    check.signature = *fields.signature;
    // RFC 4252 §7: the signature covers the session id and this request.
    check.signed_data =
        publickey_signed_data(session_id, *user_, *service_, alg_name, fields.key_blob);
  }
  // Until the check says otherwise (an unknown user gets no other reason).
  auto refusal = std::make_shared<AuthError>(AuthError::key_not_accepted);
  Attempt& a = new_attempt(*step);
  a.provider = std::make_unique<PublickeyCheck>(config_, std::move(check), refusal);
  a.publickey = Attempt::Publickey{!has_signature, alg_name, *key, refusal};
  start_attempt(now);
}

std::vector<Chain> ServerAuth::effective_chains(const ServerAuthConfig& config) {
  if (!config.chains.empty()) return config.chains;
  std::vector<Chain> any;
  if (config.authorized_keys) any.push_back({{ChainMethod::publickey, {}}});
  if (config.password) any.push_back({{ChainMethod::password, {}}});
  if (config.keyboard_interactive || config.password)
    any.push_back({{ChainMethod::keyboard_interactive, {}}});
  return any;
}

std::vector<ChainStep> ServerAuth::next_steps() const {
  std::vector<ChainStep> next;
  for (const auto& chain : chains_) {
    // A chain is alive while what was completed is a prefix of it (in order, as OpenSSH).
    if (chain.size() <= completed_steps_.size()) continue;
    if (!std::equal(completed_steps_.begin(), completed_steps_.end(), chain.begin())) continue;
    const ChainStep& step = chain[completed_steps_.size()];
    if (std::find(next.begin(), next.end(), step) == next.end()) next.push_back(step);
  }
  return next;
}

std::optional<ChainStep> ServerAuth::step_for(ChainMethod method) const {
  for (const auto& step : next_steps())
    if (step.method == method) return step;
  return std::nullopt;
}

const UserVerdict& ServerAuth::verdict() {
  if (!verdict_) verdict_ = config_->look_up_user(*user_);
  return *verdict_;
}

bool ServerAuth::permitted(std::string_view method) {
  const auto& rule = verdict().method_permitted;
  return !rule || rule(method);
}

void ServerAuth::complete_step(const ChainStep& step, std::string fingerprint, Instant now) {
  (void)now;
  phase_ = Idle{};
  completed_steps_.push_back(step);
  completed_.push_back(CompletedMethod{std::string(wire_name(step.method)), std::move(fingerprint)});
  for (const auto& chain : chains_) {
    if (chain == completed_steps_) {
      phase_ = Succeeded{};
      preauth(transport::PreauthState::authenticated);
      out_.push_back(UserauthSuccess{}.encode());
      events_.push_back(Authenticated{*user_, *service_});
      return;
    }
  }
  // RFC 4252 §5.1: a method succeeded but more are required: partial success.
  out_.push_back(UserauthFailure{methods(), true}.encode());
  audit("partial-success");
}

void ServerAuth::fail_attempt(AuthError error, Instant now) {
  audit(audit_outcome(error).value_or(to_string(error)), error);
  phase_ = Idle{};
  if (++failures_ >= config_->limits.max_failures)
    return disconnect(AuthError::too_many_failures);
  send_failure(now, /*delay=*/true);
}

void ServerAuth::send_failure(Instant now, bool delay) {
  // RFC 4252 §5.1: the methods that can continue, and partial success (false).
  Bytes failure = UserauthFailure{methods(), false}.encode();
  const Instant release = last_input_ + config_->limits.failure_delay;
  if (delay && release > now) {
    Holding holding{release, {}, {}};
    holding.replies.push_back(std::move(failure));
    phase_ = std::move(holding);
    return;
  }
  out_.push_back(std::move(failure));
}

std::vector<Bytes> ServerAuth::first_none_reply() const {
  std::vector<Bytes> reply;
  if (banner_sent_) return reply;  // set by the first request that got this far
  if (!config_->banner.empty()) reply.push_back(UserauthBanner{config_->banner, ""}.encode());
  // RFC 4252 §5.1: the methods that can continue, and partial success (false).
  reply.push_back(UserauthFailure{methods(), false}.encode());
  return reply;
}

std::vector<std::string> ServerAuth::methods() const {
  std::vector<std::string> names;
  for (const auto& step : next_steps()) {
    const std::string_view m = wire_name(step.method);
    if (std::find(names.begin(), names.end(), m) == names.end()) names.emplace_back(m);
  }
  return names;
}

void ServerAuth::abort_attempt() {
  if (!attempt()) return;
  audit("aborted");
  phase_ = Idle{};
}

BlockingRunner ServerAuth::attempt_runner(const Attempt& attempt) const {
  if (!config_->run_blocking) return {};
  return [run = config_->run_blocking, mailbox = attempt.mailbox, slots = attempt.slots,
          limit = config_->limits.max_pending_checks](std::function<void()> job) {
    // A connection holds at most `limit` checks queued or running, so a client
    // that pipelines requests cannot fill the pool's (global) queue alone.
    auto slot = slots->take(limit);
    if (!slot) return false;
    auto guarded = [job = std::move(job), mailbox, slots, slot] {
      struct Release {
        detail::CheckSlots& slots;
        std::atomic<bool>& slot;
        ~Release() { slots.give_back(slot); }
      } release{*slots, *slot};
      // RFC 4252 §5: a new request (or the connection's end) aborted the
      // attempt: its check is dropped before the hash is computed.
      if (mailbox->cancelled()) return;
      job();
    };
    if (run(std::move(guarded))) return true;
    slots->give_back(*slot);  // refused by the pool: never run
    return false;
  };
}

void ServerAuth::preauth(transport::PreauthState state) {
  if (preauth_ == state || preauth_ == transport::PreauthState::authenticated) return;
  preauth_ = state;
  if (preauth_listener_) preauth_listener_(state);
}

void ServerAuth::audit(std::string_view outcome, std::optional<AuthError> error) {
  AuditRecord rec;
  rec.user = user_.value_or("");
  rec.method = method_;
  if (const Attempt* a = attempt()) {
    if (a->provider) rec.provider = std::string(a->provider->name());
    rec.prompts = a->last_prompts;
    rec.round = a->rounds;
  }
  rec.outcome = std::string(outcome);
  rec.error = error;
  events_.push_back(std::move(rec));
}

void ServerAuth::disconnect(AuthError error) {
  if (std::holds_alternative<Closed>(phase_)) return;
  phase_ = Closed{};  // drops the attempt, held replies and (wiped) held requests
  events_.push_back(AuthDisconnect{disconnect_reason(error).value_or(transport::DisconnectReason::protocol_error),
                                   std::string(to_string(error)), error});
}

void ServerAuth::on_time(Instant now) {
  if (finished()) return;
  if (now >= grace_deadline_) {
    preauth(transport::PreauthState::grace_exceeded);
    return disconnect(AuthError::login_grace_exceeded);
  }
  collect(now);
  auto* holding = std::get_if<Holding>(&phase_);
  if (!holding || now < holding->until) return;
  Holding held = std::move(*holding);
  phase_ = Idle{};
  while (!held.replies.empty()) {
    out_.push_back(std::move(held.replies.front()));
    held.replies.pop_front();
  }
  // The requests that waited, in order, until one is held again or the exchange ends.
  while (!held.requests.empty() && !finished()) {
    if (auto* again = std::get_if<Holding>(&phase_)) {
      again->requests = std::move(held.requests);
      break;
    }
    Bytes next = held.requests.pop();
    process(next, session_id_, now);
    crypto::secure_wipe(next.data(), next.size());  // may hold answers
  }
}

std::optional<Instant> ServerAuth::next_deadline() const {
  if (finished()) return std::nullopt;
  if (const auto* holding = std::get_if<Holding>(&phase_); holding && holding->until < grace_deadline_)
    return holding->until;
  return grace_deadline_;
}

std::vector<Bytes> ServerAuth::take_messages() {
  std::vector<Bytes> out;
  out.swap(out_);
  return out;
}

std::optional<AuthEvent> ServerAuth::poll_event() {
  if (events_.empty()) return std::nullopt;
  AuthEvent e = std::move(events_.front());
  events_.pop_front();
  return e;
}

std::string audit_line(const AuditRecord& record, std::string_view peer) {
  return "auth: user='" + printable_for_log(record.user, 64) + "' method=" + printable_for_log(record.method, 32) +
         " provider=" + (record.provider.empty() ? "-" : record.provider) +
         " prompts=" + std::to_string(record.prompts) + " round=" + std::to_string(record.round) +
         " outcome=" + record.outcome + " peer=" + std::string(peer);
}

}  // namespace parley::userauth

// Server side of SSH user authentication (RFC 4252) with keyboard-interactive
// (RFC 4256), as a sans-I/O core. It takes the userauth messages (numbers
// 50-79) the transport hands up, and gives back messages to send, events and
// its next deadline. The core, not providers, enforces the protocol and limits.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "parley/wire/fifo.hpp"
#include "parley/userauth/chain.hpp"
#include "parley/userauth/auth_error.hpp"
#include "parley/userauth/messages.hpp"
#include "parley/userauth/password.hpp"
#include "parley/userauth/provider.hpp"
#include "parley/crypto/keys.hpp"
#include "parley/transport/endpoint.hpp"
#include "parley/transport/error.hpp"
#include "parley/transport/transport.hpp"
#include "parley/wire/bytes.hpp"
#include "parley/wire/reader.hpp"

namespace parley::userauth {

using transport::Instant;

struct AuthLimits {
  std::size_t max_prompts = 32;          // per round
  std::size_t max_answer_bytes = 4096;   // per answer
  std::size_t max_rounds = 16;           // per keyboard-interactive attempt
  std::size_t max_failures = 6;          // failed attempts per connection (as MaxAuthTries)
  std::size_t max_requests = 128;        // USERAUTH_REQUESTs per connection
  std::chrono::seconds login_grace{120};  // from connection start to success
  /// Every failure is answered no sooner than this after its request arrived,
  /// so timing does not tell a known user from an unknown one.
  std::chrono::milliseconds failure_delay{300};
  /// Password/TOTP checks queued or running per connection; a request beyond
  /// this fails its attempt closed (the pool's own queue bound is global).
  std::size_t max_pending_checks = 1;
};

/// The server's rules for one user name, from one lookup (ServerAuthConfig::look_up_user).
struct UserVerdict {
  /// Whether the user exists. An unknown user goes through the same challenges
  /// and fails the same way; a provider's Accept for them becomes a Reject.
  bool exists = false;
  /// Whether the user may complete a step by `method` ("publickey", "password",
  /// "keyboard-interactive"): OpenSSH's PermitRootLogin, refused accounts.
  /// Asked only once the step would succeed; a refusal fails exactly as a wrong
  /// answer does (same reply, same delay). Empty: every method is permitted.
  std::function<bool(std::string_view method)> method_permitted;
};

struct ServerAuthConfig {
  /// Keyboard-interactive providers. Empty: keyboard-interactive asks for the
  /// password if a password verifier is set, and is not offered otherwise.
  ProviderFactory keyboard_interactive;
  /// Password checking. When set, "password" is offered (RFC 4252 §8) and, by
  /// default, keyboard-interactive asks "Password: " (as Maverick Synergy does).
  std::shared_ptr<const PasswordVerifier> password;
  /// Where password checks run (a worker pool); empty: in place. Each attempt
  /// gets it bounded and cancellable as AttemptInfo::run_blocking.
  BlockingRunner run_blocking;
  /// The public keys a user may log in with (publickey, RFC 4252 §7); empty: not
  /// offered. It may block (it reads the user's files): it runs on `run_blocking`
  /// when that is set, so it must be thread-safe.
  std::function<std::vector<crypto::PublicKey>(std::string_view user)> authorized_keys;
  /// Signature algorithms accepted for publickey (no SHA-1 "ssh-rsa").
  std::vector<crypto::SignatureAlg> publickey_algorithms{
      crypto::SignatureAlg::ssh_ed25519, crypto::SignatureAlg::ecdsa_sha2_nistp256,
      crypto::SignatureAlg::rsa_sha2_512, crypto::SignatureAlg::rsa_sha2_256};
  /// Providers for "keyboard-interactive:NAME" steps ("password" is built in when
  /// a password verifier is set).
  std::map<std::string, ProviderFactory, std::less<>> named_providers;
  /// OpenSSH's AuthenticationMethods: alternatives, each an ordered list of steps
  /// ("publickey", "password", "keyboard-interactive", "keyboard-interactive:NAME")
  /// that must all be completed. Empty: any one offered method is enough.
  std::vector<Chain> chains;
  /// What is known of the connection's user name: looked up at most once per
  /// connection (the name cannot change, RFC 4252 §5), when a step would first
  /// succeed, and kept for every later step, as OpenSSH keeps getpwnamallow()'s
  /// answer in its Authctxt. Never kept beyond the connection: an account
  /// removed between two logins is seen at the second.
  std::function<UserVerdict(std::string_view user)> look_up_user = [](std::string_view) {
    return UserVerdict{true, {}};
  };
  /// Sent once, before the first reply, if not empty (RFC 4252 §5.4).
  std::string banner;
  AuthLimits limits;
};

/// One line of the audit log: never an answer, never prompt text.
struct AuditRecord {
  std::string user;
  std::string method;
  std::string provider;
  std::size_t prompts = 0;  // in the last round
  std::size_t round = 0;    // rounds asked in this attempt
  std::string outcome;      // "challenge", "accept", "reject", "aborted", "count-mismatch", ...
  /// Set when the attempt failed: what the client or provider did (outcome is its audit_outcome).
  std::optional<AuthError> error;
};

/// The audit line for `record`, from `peer` ("address:port"), as parleyd logs
/// it in one process and in the monitor: "auth: user='..' method=.. provider=..
/// prompts=N round=N outcome=.. peer=..", the client's words made printable.
std::string audit_line(const AuditRecord& record, std::string_view peer);

/// The user is in: the connection service may start.
struct Authenticated {
  std::string user;
  std::string service;
};

/// The connection must end (the endpoint sends DISCONNECT with this reason).
struct AuthDisconnect {
  transport::DisconnectReason reason;
  std::string description;  // to_string(error)
  AuthError error = AuthError::unexpected_message;
};

using AuthEvent = std::variant<AuditRecord, Authenticated, AuthDisconnect>;

class ServerAuth {
 public:
  ServerAuth(std::shared_ptr<const ServerAuthConfig> config, std::string peer, Instant now);
  ~ServerAuth();
  ServerAuth(const ServerAuth&) = delete;
  ServerAuth& operator=(const ServerAuth&) = delete;

  /// A userauth message from the client (numbers 50-79).
  void handle(BytesView payload, const Bytes& session_id, Instant now);
  /// Picks up answers of asynchronous providers and releases delayed replies.
  void on_time(Instant now);
  std::optional<Instant> next_deadline() const;
  /// How an asynchronous Responder reaches the driver (called from any thread).
  void set_wake(std::function<void()> wake) { wake_ = std::move(wake); }
  /// Told, inside handle()/on_time(), each time the pre-authentication phase
  /// changes (first real attempt, success, login grace time exceeded): a
  /// server's admission control (MaxStartups, PerSourcePenalties) listens.
  void set_preauth_listener(std::function<void(transport::PreauthState)> listener) {
    preauth_listener_ = std::move(listener);
  }

  /// Messages to send, in order.
  std::vector<Bytes> take_messages();
  std::optional<AuthEvent> poll_event();
  /// What handle() would send for a well-formed "none" request for
  /// "ssh-connection" if it came now as the first request (a BANNER if
  /// configured, then USERAUTH_FAILURE with the methods): nothing once a request
  /// has come. The answer depends on no user: "none" is not an attempt.
  std::vector<Bytes> first_none_reply() const;
  bool authenticated() const { return std::holds_alternative<Succeeded>(phase_); }

 private:
  struct Attempt;
  /// Requests that arrived while a failure was held: they may carry passwords,
  /// so they are wiped when dropped (processed, or the connection ended).
  class HeldRequests {
   public:
    HeldRequests() = default;
    HeldRequests(HeldRequests&& other) noexcept : queue_(std::exchange(other.queue_, {})) {}
    HeldRequests& operator=(HeldRequests&& other) noexcept;
    ~HeldRequests() { wipe(); }
    bool empty() const { return queue_.empty(); }
    std::size_t size() const { return queue_.size(); }
    void push(BytesView request) { queue_.emplace_back(request.begin(), request.end()); }
    /// The oldest request; the caller wipes it once processed.
    Bytes pop();

   private:
    void wipe();
    Fifo<Bytes> queue_;
  };

  // The phases of the exchange (RFC 4252 §5), each holding only what is valid in it.
  /// Waiting for a request.
  struct Idle {};
  /// A method is being tried: its provider is at work or its INFO_REQUEST awaits a response.
  struct Attempting {
    std::unique_ptr<Attempt> attempt;
  };
  /// A failure is held back for the uniform delay; requests arriving meanwhile
  /// wait behind it, in order.
  struct Holding {
    Instant until;
    Fifo<Bytes> replies;
    HeldRequests requests;
  };
  /// SUCCESS was sent: later requests are ignored (RFC 4252 §5.1).
  struct Succeeded {};
  /// The connection is ending (an AuthDisconnect was reported).
  struct Closed {};
  using Phase = std::variant<Idle, Attempting, Holding, Succeeded, Closed>;

  /// The attempt in progress, if any.
  Attempt* attempt() const;
  bool finished() const {
    return std::holds_alternative<Succeeded>(phase_) || std::holds_alternative<Closed>(phase_);
  }
  void process(BytesView payload, const Bytes& session_id, Instant now);
  void handle_request(BytesView payload, const Bytes& session_id, Instant now);
  void handle_info_response(BytesView payload, Instant now);
  /// A new attempt at `step` with its AttemptInfo and bounded runner; the
  /// caller sets its provider, then start_attempt() runs it.
  Attempt& new_attempt(ChainStep step, std::vector<std::string> submethods = {});
  void start_attempt(Instant now);
  void start_keyboard_interactive(std::string_view submethods, Instant now);
  void start_password(crypto::SecretBytes password, Instant now);
  void handle_publickey(const PublickeyFields& fields, const Bytes& session_id, Instant now);
  bool keyboard_interactive_offered() const;
  /// The configured chains, or one single-step chain per offered method.
  static std::vector<Chain> effective_chains(const ServerAuthConfig& config);
  std::vector<ChainStep> next_steps() const;
  std::optional<ChainStep> step_for(ChainMethod method) const;
  void complete_step(const ChainStep& step, std::string fingerprint, Instant now);
  bool permitted(std::string_view method);
  /// config_->look_up_user(*user_), asked once per connection.
  const UserVerdict& verdict();
  void collect(Instant now);
  void apply(Outcome outcome, Instant now);
  /// Ends the attempt in progress as a failure (USERAUTH_FAILURE after the uniform
  /// delay), or the connection once max_failures is reached.
  void fail_attempt(AuthError error, Instant now);
  void send_failure(Instant now, bool delay);
  void abort_attempt();
  /// config_->run_blocking for one attempt: bounded per connection (a job's
  /// slot is given back when it returns or its answer is collected), and
  /// dropped before it runs once the attempt's mailbox is cancelled (aborted).
  BlockingRunner attempt_runner(const Attempt& attempt) const;
  void preauth(transport::PreauthState state);
  /// Ends the connection with disconnect_reason(error).
  void disconnect(AuthError error);
  void audit(std::string_view outcome, std::optional<AuthError> error = std::nullopt);
  /// The methods that can continue (RFC 4252 §5.1), for USERAUTH_FAILURE.
  std::vector<std::string> methods() const;

  std::shared_ptr<const ServerAuthConfig> config_;
  std::vector<Chain> chains_;  // effective_chains(*config_), computed once
  std::string peer_;
  Instant grace_deadline_;
  std::optional<std::string> user_, service_;
  std::optional<UserVerdict> verdict_;  // for user_, once asked
  Phase phase_;
  std::size_t failures_ = 0;
  std::size_t requests_ = 0;
  bool banner_sent_ = false;
  std::vector<Bytes> out_;
  Fifo<AuthEvent> events_;
  std::function<void()> wake_;
  Bytes session_id_;
  std::string method_;
  Chain completed_steps_;
  std::vector<CompletedMethod> completed_;
  std::vector<crypto::PublicKey> used_keys_;  // keys that completed a publickey step
  Instant last_input_{};
  // Checks this connection has queued or running (shared with the jobs, which
  // may outlive the connection).
  std::shared_ptr<std::atomic<std::size_t>> pending_checks_ =
      std::make_shared<std::atomic<std::size_t>>(0);
  std::function<void(transport::PreauthState)> preauth_listener_;
  transport::PreauthState preauth_ = transport::PreauthState::pending;
};

}  // namespace parley::userauth

// The keyboard-interactive provider API (RFC 4256): an application plugs in a
// challenge-response provider, one instance per authentication attempt.
//
//   start(attempt)  -> Challenge | Accept | Reject
//   answer(answers) -> Challenge | Accept | Reject   (another round, or the question again)
//
// A provider answers through a Responder, either before start()/answer()
// returns (synchronous providers) or later from any thread (asynchronous ones:
// a network lookup, PAM). The core, not the provider, enforces the protocol.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "parley/crypto/secret.hpp"
#include "parley/userauth/reply.hpp"
#include "parley/wire/bytes.hpp"

namespace parley::userauth {

/// One question: its text and whether the client may echo what is typed.
struct Prompt {
  std::string text;
  bool echo = false;
};

/// A round of questions (SSH_MSG_USERAUTH_INFO_REQUEST). Zero prompts is allowed.
struct Challenge {
  std::string name;
  std::string instruction;
  std::vector<Prompt> prompts;
};

struct Reject {};
struct Accept {};
/// What a provider decided. A default-constructed Outcome is a Reject.
using Outcome = std::variant<Reject, Accept, Challenge>;

/// A method that already succeeded on this connection.
struct CompletedMethod {
  std::string method;
  std::string key_fingerprint;  // for publickey: the verified key's SHA256 fingerprint
};

/// Runs a blocking job off the I/O thread (a worker pool); false if it cannot
/// take the job now (the pool is full), in which case the attempt fails closed.
using BlockingRunner = std::function<bool(std::function<void()> job)>;

/// What a provider may know about the attempt.
struct AttemptInfo {
  std::string user;
  std::string service;
  std::string peer;                     // "address:port"
  std::vector<std::string> submethods;  // as the client sent them (a hint only)
  Bytes session_id;
  std::vector<CompletedMethod> completed;
  /// Where this attempt's blocking work (a password hash, a TOTP store) runs:
  /// the server's pool, at most AuthLimits::max_pending_checks jobs per
  /// connection, and a job still queued when the attempt is aborted (a new
  /// request, a disconnect) is dropped before it runs. Empty: run in place.
  BlockingRunner run_blocking;
};

namespace detail {
/// Where a Responder leaves its Outcome for the connection to pick up; the
/// attempt cancels it when it is aborted, so late answers are dropped.
using Mailbox = ReplyBox<Outcome>;
}  // namespace detail

/// Delivers one Outcome to the connection (reply.hpp). Call it once; a call after
/// the attempt was aborted is ignored. Safe from any thread.
using Responder = ReplyTo<Outcome>;

/// A challenge-response provider; the core creates one per keyboard-interactive attempt.
class KeyboardInteractiveProvider {
 public:
  virtual ~KeyboardInteractiveProvider() = default;
  /// A short name for the audit log ("higher-or-lower", "password").
  virtual std::string_view name() const = 0;
  /// Called once when the attempt starts.
  virtual void start(const AttemptInfo& attempt, Responder respond) = 0;
  /// The answers to the last Challenge, one per prompt, in order (the core has
  /// checked the count). They are wiped when the provider drops them.
  virtual void answer(std::vector<crypto::SecretBytes> answers, Responder respond) = 0;
};

/// For providers that decide at once: implement begin() and check().
class SyncProvider : public KeyboardInteractiveProvider {
 public:
  virtual Outcome begin(const AttemptInfo& attempt) = 0;
  virtual Outcome check(const std::vector<crypto::SecretBytes>& answers) = 0;

  void start(const AttemptInfo& attempt, Responder respond) final { respond(begin(attempt)); }
  void answer(std::vector<crypto::SecretBytes> answers, Responder respond) final {
    respond(check(answers));
  }
};

/// Makes the provider for one attempt (it sees the attempt, e.g. to choose by user).
using ProviderFactory =
    std::function<std::unique_ptr<KeyboardInteractiveProvider>(const AttemptInfo& attempt)>;

/// An answer's text (a view into the secret; it must not outlive it or be logged).
inline std::string_view answer_text(const crypto::SecretBytes& answer) {
  return as_chars(answer.view());
}

}  // namespace parley::userauth

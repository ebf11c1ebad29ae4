// The PAM keyboard-interactive provider: a PAM conversation (pam_authenticate,
// then pam_acct_mgmt, then pam_chauthtok if the account says the password has
// expired) mapped onto keyboard-interactive rounds.
//   - one round per PAM prompt (PAM_PROMPT_ECHO_OFF / _ON, echo kept), even when
//     a module sends several messages in one conversation call;
//   - PAM_TEXT_INFO and PAM_ERROR_MSG are sent as zero-prompt rounds with the
//     text as the instruction (consecutive texts of one conversation call make
//     one round, their lines joined by "\n"); the client's empty answer continues;
//   - each conversation runs on its own thread, at most max_conversations at
//     once (a PAM module may block for as long as it likes), never on the
//     caller's (I/O) thread: start() and answer() return at once;
//   - an unknown user still goes through PAM, with every echo-off answer replaced
//     by a fake of the same length, and is always rejected;
//   - PAM_RHOST is the peer's address, PAM_TTY "ssh"; a module that changes
//     PAM_USER makes the attempt fail.
// Destroying a provider (the attempt was aborted, the connection dropped or its
// login grace ran out) never waits: a conversation waiting for answers fails
// (PAM_CONV_ERR) and its thread ends as soon as PAM returns.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "parley/userauth/provider.hpp"

namespace parley::pam {

struct PamConfig {
  std::string service = "parley";  // /etc/pam.d/<service>
  /// Conversations at once; a login beyond this is rejected at once (fails closed).
  std::size_t max_conversations = 64;
  /// True if the user exists (getpwnam_r by default). Called on a conversation
  /// thread (it may block), never on the caller's.
  std::function<bool(std::string_view user)> user_exists;
  /// How long a conversation waits for the client's answers before it fails
  /// (a backstop: the connection's login grace normally ends the attempt first).
  std::chrono::milliseconds answer_timeout = std::chrono::minutes(10);
  /// Told how each attempt ended, for the server's log (optional): `what` is
  /// "accepted" or "rejected: <reason>" (a PAM function and pam_strerror, never
  /// an answer). `user` and `peer` are the client's words: not yet printable.
  /// Called from conversation threads and from start(); must be thread-safe.
  std::function<void(std::string_view user, std::string_view peer, std::string_view what)> on_result;
};

/// Shared by every attempt of a server: owns the configuration and accounts for
/// the conversation threads. Thread-safe.
class PamService {
 public:
  explicit PamService(PamConfig config);
  /// Does not wait for conversation threads (each holds what it uses); call
  /// wait_idle() first for an orderly shutdown.
  ~PamService();
  PamService(const PamService&) = delete;
  PamService& operator=(const PamService&) = delete;

  /// Conversation threads running now (including ones whose provider is gone
  /// but whose PAM module has not returned yet).
  std::size_t running() const;
  /// Waits until no conversation thread runs, at most `timeout`; true if none does.
  bool wait_idle(std::chrono::milliseconds timeout) const;

  struct Shared;  // what the conversation threads hold

 private:
  friend std::unique_ptr<userauth::KeyboardInteractiveProvider> make_pam_provider(
      std::shared_ptr<PamService> service);
  std::shared_ptr<Shared> shared_;
};

/// Makes the per-attempt factory; `service` lives as long as any provider it made.
std::shared_ptr<PamService> make_pam_service(PamConfig config);
std::unique_ptr<userauth::KeyboardInteractiveProvider> make_pam_provider(std::shared_ptr<PamService> service);

/// The fake answer an unknown user's echo-off prompt is given instead of what
/// the client typed: "\b\n\r\177INCORRECT" repeated and cut to `length` bytes
/// (as OpenSSH does), so the PAM stack does the same work as for a real user.
std::string fake_password(std::size_t length);

}  // namespace parley::pam

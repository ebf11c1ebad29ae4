// How a client answers keyboard-interactive prompts (RFC 4256): a chain of
// PromptResponders, each filling the answers it knows, turned into the
// ClientAuthConfig::on_user_info_request callback. The interface and the
// chaining only: the responders themselves (the saved password, TOTP codes,
// the terminal) are the client's (parley/client/responders.hpp).
//
// Nothing here logs: prompt text and answers must never reach a log (answers
// live only in crypto::SecretBytes, and prompt text may quote what the user
// typed before).
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "parley/crypto/secret.hpp"
#include "parley/userauth/client_auth.hpp"

namespace parley::userauth {

/// What the server made of the last answers, if the application learns it.
enum class Verdict {
  accepted,  // authentication succeeded (or went on to another method)
  rejected,  // SSH_MSG_USERAUTH_FAILURE followed the answers
};

/// Answers some of the prompts of a keyboard-interactive round. answers has one
/// slot per prompt, nullopt where no responder has answered yet.
class PromptResponder {
 public:
  virtual ~PromptResponder() = default;
  /// Fills the slots of the prompts this responder answers, leaving the others
  /// as they are; it must not resize `answers` or touch an engaged slot. Called
  /// on the thread that runs the on_user_info_request callback; it may block
  /// (the terminal reads the user's typing; totp may wait for the next step).
  virtual void answer(const UserInfoRequest& request,
                      std::vector<std::optional<crypto::SecretBytes>>& answers) = 0;
  /// The server's verdict after answers were sent, for responders that learn
  /// from it (e.g. forget a stored password the server refused). The library
  /// does not call it; an application may, once ClientAuth::result() is set.
  /// Optional; the default ignores it.
  virtual void on_verdict(Verdict verdict) { static_cast<void>(verdict); }
  /// A short name for diagnostics ("saved-password", "totp", ...).
  virtual std::string_view name() const = 0;
};

using ResponderPtr = std::shared_ptr<PromptResponder>;

/// Runs each responder in order; each prompt gets the first answer given.
/// A responder sees an engaged but empty slot for prompts already answered
/// (never another responder's secret), and cannot change them.
ResponderPtr first_of(std::vector<ResponderPtr> responders);

/// The on_user_info_request callback built from a responder: prompts no
/// responder answered get an empty answer (the seed's batch behaviour) and are
/// counted in `unanswered` (set per round, for the one-line failure reason the
/// application gives, as the parley command does). The reply always holds exactly one
/// answer per prompt (RFC 4256 §3.4). It replies before returning, on the
/// calling thread.
std::function<void(const UserInfoRequest&, ReplyTo<InfoReply>)> user_info_callback(
    ResponderPtr responder, std::shared_ptr<std::size_t> unanswered = {});

}  // namespace parley::userauth

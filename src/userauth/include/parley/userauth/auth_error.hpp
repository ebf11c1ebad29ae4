// What a client (or a provider) can do wrong during user authentication, as
// one typed value. Each error says whether it ends the connection (and with
// which SSH disconnect reason) or only fails the attempt, and what the audit
// log records for it; its string is the one parleyd's log has always shown.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "parley/transport/error.hpp"

namespace parley::userauth {

enum class AuthError : std::uint8_t {
  // A failed attempt: answered by USERAUTH_FAILURE (after the uniform delay),
  // counted towards AuthLimits::max_failures.
  method_not_offered,           // a method (or chain step) the server does not offer now
  malformed_password,           // password fields truncated, over the limit or not UTF-8
  password_change_unsupported,  // RFC 4252 §8 change request
  no_provider,                  // no keyboard-interactive provider for the step (configuration)
  response_count_mismatch,      // RFC 4256 §3.4: num-responses is not num-prompts
  malformed_answers,            // answers truncated, over the limit, not UTF-8, trailing bytes
  too_many_rounds,              // the provider asked more rounds than AuthLimits::max_rounds
  too_many_prompts,             // the provider asked more prompts than AuthLimits::max_prompts
  rejected,                     // the provider (or the user lookup) said no
  not_permitted,                // the user's UserVerdict::method_permitted refused
  key_not_accepted,             // publickey: unknown key, algorithm or key type
  bad_signature,                // publickey: the signature does not verify
  key_already_used,             // publickey: the key already completed a step of this chain
  checks_busy,                  // publickey: no room to check now (max_pending_checks, a full pool)
  // The connection ends (AuthDisconnect).
  unexpected_message,           // a message other than REQUEST or INFO_RESPONSE
  response_without_request,     // RFC 4256 §3.4: INFO_RESPONSE with no INFO_REQUEST outstanding
  malformed_request,            // USERAUTH_REQUEST header (user, service, method) malformed
  malformed_none_request,
  malformed_publickey_request,
  malformed_keyboard_interactive_request,
  user_or_service_changed,      // RFC 4252 §5, as OpenSSH
  service_not_available,        // a service other than ssh-connection
  too_many_requests,            // more than AuthLimits::max_requests
  too_many_pending_requests,    // requests piling up behind a delayed failure
  too_many_failures,            // AuthLimits::max_failures failed attempts
  login_grace_exceeded,         // AuthLimits::login_grace passed without success
};

/// The error's words as the log and tests know them: the audit outcome of a
/// failed attempt ("count-mismatch"), the description of a disconnect.
std::string_view to_string(AuthError e);

/// The SSH disconnect reason (RFC 4253 §11.1) the error ends the connection
/// with, or nullopt: no disconnect, a failed attempt.
std::optional<transport::DisconnectReason> disconnect_reason(AuthError e);

/// The outcome= parleyd's audit line records for a failed attempt, or nullopt
/// for an error that ends the connection (its AuthDisconnect is logged instead).
std::optional<std::string_view> audit_outcome(AuthError e);

}  // namespace parley::userauth

#include "parley/userauth/auth_error.hpp"

namespace parley::userauth {

std::string_view to_string(AuthError e) {
  switch (e) {
    case AuthError::method_not_offered: return "method-not-offered";
    case AuthError::malformed_password: return "malformed-password";
    case AuthError::password_change_unsupported: return "password-change-unsupported";
    case AuthError::no_provider: return "no-provider";
    case AuthError::response_count_mismatch: return "count-mismatch";
    case AuthError::malformed_answers: return "malformed-answers";
    case AuthError::too_many_rounds: return "too-many-rounds";
    case AuthError::too_many_prompts: return "too-many-prompts";
    case AuthError::rejected: return "reject";
    case AuthError::not_permitted: return "not-permitted";
    case AuthError::key_not_accepted: return "key-not-accepted";
    case AuthError::bad_signature: return "bad-signature";
    case AuthError::key_already_used: return "key-already-used";
    case AuthError::checks_busy: return "checks-busy";
    case AuthError::unexpected_message: return "unexpected message during user authentication";
    case AuthError::response_without_request: return "unexpected INFO_RESPONSE";
    case AuthError::malformed_request: return "malformed USERAUTH_REQUEST";
    case AuthError::malformed_none_request: return "malformed none request";
    case AuthError::malformed_publickey_request: return "malformed publickey request";
    case AuthError::malformed_keyboard_interactive_request:
      return "malformed keyboard-interactive request";
    case AuthError::user_or_service_changed:
      return "change of user name or service during authentication";
    case AuthError::service_not_available: return "service not available";
    case AuthError::too_many_requests: return "too many authentication requests";
    case AuthError::too_many_pending_requests: return "too many pending requests";
    case AuthError::too_many_failures: return "too many authentication failures";
    case AuthError::login_grace_exceeded: return "login grace time exceeded";
  }
  return "unknown authentication error";
}

std::optional<transport::DisconnectReason> disconnect_reason(AuthError e) {
  using R = transport::DisconnectReason;
  switch (e) {
    case AuthError::method_not_offered:
    case AuthError::malformed_password:
    case AuthError::password_change_unsupported:
    case AuthError::no_provider:
    case AuthError::response_count_mismatch:
    case AuthError::malformed_answers:
    case AuthError::too_many_rounds:
    case AuthError::too_many_prompts:
    case AuthError::rejected:
    case AuthError::not_permitted:
    case AuthError::key_not_accepted:
    case AuthError::bad_signature:
    case AuthError::key_already_used:
    case AuthError::checks_busy: return std::nullopt;
    case AuthError::unexpected_message:
    case AuthError::response_without_request:
    case AuthError::malformed_request:
    case AuthError::malformed_none_request:
    case AuthError::malformed_publickey_request:
    case AuthError::malformed_keyboard_interactive_request:
    case AuthError::user_or_service_changed:
    case AuthError::too_many_requests:
    case AuthError::too_many_pending_requests:
    case AuthError::too_many_failures: return R::protocol_error;
    case AuthError::service_not_available: return R::service_not_available;
    case AuthError::login_grace_exceeded: return R::by_application;
  }
  return R::protocol_error;
}

std::optional<std::string_view> audit_outcome(AuthError e) {
  if (disconnect_reason(e)) return std::nullopt;
  return to_string(e);
}

}  // namespace parley::userauth

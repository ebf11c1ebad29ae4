// The PAM keyboard-interactive provider: a PAM conversation (pam_authenticate,
// then pam_acct_mgmt) mapped onto keyboard-interactive rounds.
//   - one round per PAM prompt (PAM_PROMPT_ECHO_OFF / _ON, echo kept);
//   - PAM_TEXT_INFO and PAM_ERROR_MSG are sent as zero-prompt rounds with the
//     text as the instruction;
//   - the conversation runs on its own bounded pool of threads (a PAM module may
//     block for as long as it likes), never on an I/O thread;
//   - an unknown user still goes through PAM, with a fake password of the same
//     length as the answer given, and is always rejected.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "parley/auth/provider.hpp"

namespace parley::pam {

struct PamConfig {
  std::string service = "parley";  // /etc/pam.d/<service>
  /// Conversations at once; a login beyond this is rejected at once (fails closed).
  std::size_t max_conversations = 64;
  /// True if the user exists (getpwnam by default).
  std::function<bool(std::string_view user)> user_exists;
};

/// Shared by every attempt of a server: owns the conversation threads.
class PamService;

/// Makes the per-attempt factory; `service` lives as long as any provider it made.
std::shared_ptr<PamService> make_pam_service(PamConfig config);
std::unique_ptr<auth::KeyboardInteractiveProvider> make_pam_provider(std::shared_ptr<PamService> service);

}  // namespace parley::pam

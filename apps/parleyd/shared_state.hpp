// parleyd's [state] section made real: the SharedState the TOTP provider counts
// failures in and, with Redis, claims used codes in (docs/scale-out.md).
#pragma once

#include <expected>
#include <memory>
#include <string>

#include "config.hpp"
#include "parley/state/shared_state.hpp"

namespace parleyd {

struct StateBackend {
  std::shared_ptr<parley::state::SharedState> state;
  /// Shared with other instances (Redis): used codes are claimed there too.
  bool shared = false;
  /// on_state_error = "deny-all": no login succeeds while the backend cannot answer.
  bool deny_all = false;
};

/// The backend [state] names: memory_state() for "local" (or none), Redis
/// otherwise, its password read from password_file (at most one line; the
/// file must not be readable by group or others). Connects nothing: Redis is
/// reached on the first call. The error names the file or setting at fault.
std::expected<StateBackend, std::string> make_state_backend(const StateSettings& settings);

}  // namespace parleyd

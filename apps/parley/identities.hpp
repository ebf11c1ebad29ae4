// parley's public keys for authentication: identity files and the ssh-agent's
// keys, offered in OpenSSH's order.
#pragma once

#include "options.hpp"
#include "parley/userauth/client_auth.hpp"

namespace parley::app {

/// Fills `config.agent_keys` and `config.keys` as OpenSSH orders them: agent keys
/// that are also identity files (in the files' order; the agent signs), the
/// agent's other keys (unless IdentitiesOnly), then the identity files the agent
/// does not hold. The agent is asked only when `config.methods` has publickey;
/// its keys' sign callbacks keep the connection to it. An explicit identity file
/// that cannot be used is reported on stderr, as ssh does.
void offer_keys(const ClientOptions& options, userauth::ClientAuthConfig& config);

}  // namespace parley::app

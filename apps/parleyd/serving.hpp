// What a start of parleyd builds from its settings: host keys, algorithm
// lists, the server's options and how sessions run. A reload builds the same
// again from the configuration as it is then.
#pragma once

#include <signal.h>

#include <cstddef>
#include <cstdint>
#include <expected>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "auth_setup.hpp"
#include "capacity.hpp"
#include "parley/crypto/keys.hpp"
#include "parley/crypto/random.hpp"
#include "parley/driver/server.hpp"
#include "parley/transport/transport.hpp"
#include "session.hpp"
#include "settings.hpp"

namespace parleyd {

inline constexpr int exit_runtime_error = 1;
inline constexpr int exit_usage = 2;

/// A startup failure: what to print and the exit status.
struct Failure {
  int status;
  std::string message;
};

/// Whether a missing state-directory host key may be made (not by parleyd -t).
enum class HostKeyFile : bool { load_only, may_generate };

/// The host keys named by the settings, or the state directory's.
std::expected<std::vector<parley::crypto::PrivateKey>, Failure> load_host_keys(
    const Config& c, parley::crypto::Random& rng, HostKeyFile file = HostKeyFile::may_generate);
/// True if some preferred host-key algorithm can be served by one of the keys.
bool any_usable_host_key(const std::vector<parley::crypto::PrivateKey>& keys,
                         const std::vector<parley::crypto::SignatureAlg>& preferred);
/// A server's transport configuration with the settings' algorithm lists, no keys yet.
parley::transport::TransportConfig server_algorithms(const Config& c);
/// The server side of the transport: the algorithm lists and the host keys.
std::expected<parley::transport::TransportConfig, Failure> transport_config(const Config& c,
                                                                            parley::crypto::Random& rng);

std::string host_port(const std::string& address, std::uint16_t port);

/// The open-file limits as parleyd raised them at start (a separated parleyd's
/// network process inherits them with the fork).
extern Capacity start_limits;
/// Says how many connections this process can hold at once, and why.
void log_capacity(const parley::driver::ServerOptions& options, std::size_t open_at_start, std::string_view who);

/// Where the server listens and its pre-authentication bounds ([limits]).
parley::driver::ServerOptions server_options(const Config& c);

/// Whether SIGHUP is waited for (a reload) along with SIGINT and SIGTERM.
enum class Reload : bool { no, on_sighup };
/// The signals are taken by a waiting thread, not a handler: blocked before
/// any other thread starts so every thread inherits the mask. SIGPIPE is ignored.
sigset_t block_stop_signals(Reload reload);

/// How sessions run for the logins `auth` lets in (as root: as the user who
/// logged in, in a PAM session when logins go through PAM); the demo's welcome,
/// or as root its built-in command shell.
std::shared_ptr<const SessionSetup> sessions_for(const Config& c, const BuiltAuth& auth,
                                                 parley::userauth::BlockingRunner run_blocking);
/// Says at start that the demo's sessions are the built-in command shell.
void log_command_shell(const SessionSetup& sessions);
/// Prints where the server listens and its host keys (tests read them).
void announce(const std::string& listen, std::uint16_t port,
              const std::vector<parley::crypto::PublicKey>& host_keys);
/// Prints the failure; its status.
int fail(const Failure& failure);

}  // namespace parleyd

// What a start of parleyd builds from its settings (host keys, algorithms,
// the server's options, how sessions run), shared by the one-process server
// (main.cpp), the privilege-separated pair (separated.cpp) and reloads.
#include "serving.hpp"

#include <pthread.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "parley/crypto/key_file.hpp"
#include "parley/login/account.hpp"
#include "state_dir.hpp"

namespace parleyd {

namespace {

namespace crypto = parley::crypto;
namespace driver = parley::driver;
namespace transport = parley::transport;

/// Welcome shown at the start of the demo's shell sessions.
constexpr const char* demo_welcome =
    "Welcome to parley. You answered the question; here is your shell.\n"
    "(parleyd runs it as the user it runs as.)\n";

/// The session policy and process options from [session] and [forwarding].
std::shared_ptr<parleyd::SessionSetup> session_setup(const parleyd::Config& c) {
  auto policy = std::make_shared<parley::session::ChannelPolicy>();
  auto setup = std::make_shared<parleyd::SessionSetup>();
  const auto& s = c.session;
  const auto& fw = c.forwarding;
  if (s.shell) setup->process.shell = *s.shell;
  if (s.sftp_server) setup->process.sftp_server = *s.sftp_server;
  if (s.accept_env) policy->env_allow = *s.accept_env;
  if (s.max_sessions) policy->max_sessions = *s.max_sessions;
  if (fw.local) policy->allow_local_forwarding = *fw.local;
  if (fw.remote) policy->allow_remote_forwarding = *fw.remote;
  if (fw.permit_open) policy->permit_open = *fw.permit_open;
  if (fw.permit_listen) policy->permit_listen = *fw.permit_listen;
  if (fw.gateway_ports) policy->gateway_ports = *fw.gateway_ports;
  setup->policy = std::move(policy);
  setup->process.log = [](std::string_view line) { spdlog::info("{}", line); };
  return setup;
}

/// The state directory's Ed25519 host key, generated on first start; nullopt
/// when it does not exist yet and `file` says not to make it.
std::expected<std::optional<crypto::PrivateKey>, Failure> state_dir_host_key(const parleyd::Config& c,
                                                                            crypto::Random& rng, HostKeyFile file) {
  std::filesystem::path dir;
  if (c.state_dir && !c.state_dir->empty()) {
    dir = *c.state_dir;
  } else {
    auto d = parleyd::default_state_dir();
    if (!d) return std::unexpected(Failure{exit_runtime_error, d.error()});
    dir = *d;
  }
  const auto path = dir / "ssh_host_ed25519_key";
  if (file == HostKeyFile::load_only) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) return std::nullopt;  // the first start makes it
    auto key = crypto::load_private_key(path.string());
    if (!key) return std::unexpected(Failure{exit_runtime_error, "host key: " + key.error().message});
    return std::optional(std::move(*key));
  }
  if (auto made = parleyd::ensure_private_dir(dir); !made)
    return std::unexpected(Failure{exit_runtime_error, made.error()});
  auto key = crypto::load_or_generate_host_key(path, rng);
  if (!key) return std::unexpected(Failure{exit_runtime_error, "host key: " + key.error().message});
  return std::optional(std::move(*key));
}

}  // namespace

/// The host keys named by the settings, or the state directory's.
std::expected<std::vector<crypto::PrivateKey>, Failure> load_host_keys(const parleyd::Config& c,
                                                                     crypto::Random& rng, HostKeyFile file) {
  std::vector<crypto::PrivateKey> keys;
  for (const auto& path : c.host_keys) {
    auto key = crypto::load_private_key(path);
    if (!key)
      return std::unexpected(Failure{exit_runtime_error, "cannot load host key: " + key.error().message});
    keys.push_back(std::move(*key));
  }
  if (keys.empty()) {
    auto key = state_dir_host_key(c, rng, file);
    if (!key) return std::unexpected(key.error());
    if (*key) keys.push_back(std::move(**key));
  }
  // The transport signs with the one key of the negotiated type; two would be ambiguous.
  for (std::size_t i = 0; i < keys.size(); ++i)
    for (std::size_t j = 0; j < i; ++j)
      if (keys[i].type() == keys[j].type())
        return std::unexpected(Failure{
            exit_usage, "more than one " + std::string(crypto::key_type_name(keys[i].type())) + " host key"});
  return keys;
}

/// True if some preferred host-key algorithm can be served by one of the keys.
bool any_usable_host_key(const std::vector<crypto::PrivateKey>& keys,
                         const std::vector<crypto::SignatureAlg>& preferred) {
  for (auto alg : preferred)
    for (const auto& key : keys)
      if (key.type() == crypto::key_type_for(alg)) return true;
  return false;
}

/// A server's transport configuration with the settings' algorithm lists, no keys yet.
transport::TransportConfig server_algorithms(const parleyd::Config& c) {
  transport::TransportConfig config;
  config.role = transport::Role::server;
  if (c.kex) config.algorithms.kex = *c.kex;
  if (c.host_key_algorithms) config.algorithms.host_key = *c.host_key_algorithms;
  if (c.ciphers) config.algorithms.ciphers = *c.ciphers;
  if (c.macs) config.algorithms.macs = *c.macs;
  return config;
}

/// The server side of the transport: the algorithm lists and the host keys.
std::expected<transport::TransportConfig, Failure> transport_config(const parleyd::Config& c,
                                                                    crypto::Random& rng) {
  transport::TransportConfig config = server_algorithms(c);
  auto keys = load_host_keys(c, rng);
  if (!keys) return std::unexpected(keys.error());
  if (!any_usable_host_key(*keys, config.algorithms.host_key))
    return std::unexpected(
        Failure{exit_usage, "none of the host keys can make a signature of --host-key-algorithms"});
  config.host_keys = std::move(*keys);
  return config;
}

std::string host_port(const std::string& address, std::uint16_t port) {
  const bool v6 = address.find(':') != std::string::npos;
  return (v6 ? "[" + address + "]" : address) + ":" + std::to_string(port);
}

parleyd::Capacity start_limits;

/// Says how many connections this process can hold at once, and why.
void log_capacity(const driver::ServerOptions& options, std::size_t open_at_start, std::string_view who) {
  parleyd::Capacity capacity = start_limits;
  capacity.open_at_start = open_at_start;
  capacity.max_connections = options.max_connections;
  spdlog::info("{}", parleyd::capacity_line(capacity, who));
}

/// Where the server listens and its pre-authentication bounds ([limits]).
driver::ServerOptions server_options(const parleyd::Config& c) {
  driver::ServerOptions options;
  options.address = c.listen.value_or(std::string(parleyd::default_listen));
  options.port = c.port.value_or(parleyd::default_port);
  options.threads = c.threads.value_or(0);
  driver::SourceLimits sources;
  sources.max_startups = c.limits.max_startups;
  sources.per_source_max_startups = c.limits.per_source_max_startups;
  sources.netblock4 = c.limits.per_source_netblock4;
  sources.netblock6 = c.limits.per_source_netblock6;
  sources.penalties = c.limits.per_source_penalties;
  options.source_limits = sources;
  options.on_penalty = [](const driver::PenaltyNotice& n) {
    spdlog::info("source {} penalised for {:.0f} s: {}{}", n.netblock, n.duration.count(), n.reason,
                 n.suppressed ? " (" + std::to_string(n.suppressed) + " more not logged)" : "");
  };
  if (c.proxy_protocol.value_or(false)) {
    for (const auto& entry : c.proxy_from)  // checked when the settings were read
      if (auto block = driver::AddressBlock::parse(entry)) options.proxy_from.push_back(*block);
    // The balancer sends the header at once; a client that never gets to SSH waits no longer.
    options.proxy_header_timeout = std::min<std::chrono::milliseconds>(c.limits.login_grace_time, std::chrono::seconds(10));
    options.proxy_log = [](bool refused, std::string_view line) {
      if (refused) spdlog::warn("{}", line);
      else spdlog::info("{}", line);
    };
  }
  return options;
}

/// SIGINT/SIGTERM are taken by a waiting thread, not a handler: blocked
/// before any other thread starts so every thread inherits the mask.
sigset_t block_stop_signals(Reload reload) {
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  if (reload == Reload::on_sighup) sigaddset(&stop_signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
  return stop_signals;
}

/// How sessions run for the logins `auth` lets in: as root, as the user who
/// logged in (in a PAM session when logins go through PAM, sshd's UsePAM);
/// the demo's welcome, or as root its built-in command shell.
std::shared_ptr<const parleyd::SessionSetup> sessions_for(const parleyd::Config& c,
                                                         const parleyd::BuiltAuth& auth,
                                                         parley::userauth::BlockingRunner run_blocking) {
  auto setup = session_setup(c);
  if (auth.run_as) {
    setup->process.run_as = auth.run_as;
    setup->process.login_records = true;
    setup->pam_service = auth.pam_service;
    // ssh -R below port 1024 for root only, as sshd's bind_permitted().
    auto policy = std::make_shared<parley::session::ChannelPolicy>(*setup->policy);
    // Virtual users run as the session user, which is never root.
    policy->may_bind_privileged_port = [](std::string_view user) {
      auto found = parley::login::find_account(user);
      return found && *found && (*found)->uid == 0;
    };
    setup->policy = std::move(policy);
    setup->run_blocking = std::move(run_blocking);
  }
  if (c.demo.value_or(false)) {
    if (::geteuid() == 0) {
      // Answering a question must never give a shell on the machine: as root the
      // demo's sessions are the built-in command shell.
      setup->command_shell = true;  // said once at start: log_command_shell()
    } else {
      setup->welcome = demo_welcome;
    }
  }
  return setup;
}

/// Says at start that the demo's sessions are the built-in command shell (once:
/// a separated parleyd's network process does not repeat it).
void log_command_shell(const parleyd::SessionSetup& sessions) {
  if (sessions.command_shell) spdlog::info("demo as root: sessions are the built-in command shell");
}

/// Prints where the server listens and its host keys (tests read them).
void announce(const std::string& listen, std::uint16_t port,
              const std::vector<crypto::PublicKey>& host_keys) {
  std::printf("parleyd listening on %s\n", host_port(listen, port).c_str());
  std::fflush(stdout);
  for (const auto& key : host_keys) {
    std::printf("host key: %s %s\n", std::string(crypto::key_type_name(key.type())).c_str(),
                key.fingerprint().c_str());
  }
  std::fflush(stdout);
  spdlog::info("listening on {}", host_port(listen, port));
}

int fail(const Failure& failure) {
  std::cerr << "parleyd: " << failure.message << "\n";
  return failure.status;
}
}  // namespace parleyd

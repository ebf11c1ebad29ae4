// parleyd: the parley SSH server. Key exchange with every algorithm parley
// implements, user authentication by the configured methods and chains (or,
// with --demo only, seed 004's "Higher or Lower" question), then sessions run
// as the user who logged in when parleyd runs as root.
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "parley/crypto/key_file.hpp"
#include "parley/crypto/random.hpp"
#include "parley/driver/server.hpp"
#include "parley/driver/worker_pool.hpp"
#include "parley/login/account.hpp"
#include "parley/pam/pam_login.hpp"
#include "parley/transport/transport.hpp"
#include "parley/driver/cpu_count.hpp"
#include "parley/userauth/server_text.hpp"
#include "parley/driver/monitor_link.hpp"
#include "parley/driver/privsep_endpoint.hpp"
#include "parley/privsep/executor.hpp"
#include "parley/privsep/monitor.hpp"
#include "parley/sandbox/sandbox.hpp"
#include "auth_setup.hpp"
#include "capacity.hpp"
#include "separation.hpp"
#ifdef PARLEY_NETWORK_PROBE
#include "network_probe.hpp"
#endif
#include "settings.hpp"
#include "session.hpp"
#include "state_dir.hpp"
#include "totp_enroll.hpp"

namespace {

namespace crypto = parley::crypto;
namespace driver = parley::driver;
namespace transport = parley::transport;

constexpr int exit_runtime_error = 1;
constexpr int exit_usage = 2;

/// Welcome shown at the start of the demo's shell sessions.
constexpr const char* demo_welcome =
    "Welcome to parley. You answered the question; here is your shell.\n"
    "(parleyd runs it as the user it runs as.)\n";

/// A startup failure: what to print and the exit status.
struct Failure {
  int status;
  std::string message;
};

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

/// Whether a missing state-directory host key may be made (not by parleyd -t).
enum class HostKeyFile : bool { load_only, may_generate };

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

/// The host keys named by the settings, or the state directory's.
std::expected<std::vector<crypto::PrivateKey>, Failure> load_host_keys(
    const parleyd::Config& c, crypto::Random& rng, HostKeyFile file = HostKeyFile::may_generate) {
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

/// Raises the open-file limit to its hard maximum: every connection is a descriptor,
/// and the usual soft limit (1024) would cap a server meant for 100 000.
/// The open-file limits as parleyd raised them at start (a separated parleyd's
/// network process inherits them with the fork).
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
  return options;
}

/// SIGINT/SIGTERM are taken by a waiting thread, not a handler: blocked
/// before any other thread starts so every thread inherits the mask.
sigset_t block_stop_signals() {
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
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

int run_separated(const parleyd::Config& c);

/// parleyd -t: what a start checks before it listens (the configuration, host
/// keys, the authentication setup and the files it reads, privilege separation's
/// account as root), without listening, generating a key or writing anything.
int check(const parleyd::Config& c) {
  spdlog::set_default_logger(spdlog::stderr_color_mt("parleyd"));
  spdlog::set_level(spdlog::level::warn);
  crypto::SystemRandom rng;
  const transport::TransportConfig algorithms = server_algorithms(c);
  auto keys = load_host_keys(c, rng, HostKeyFile::load_only);
  if (!keys) return fail(keys.error());
  if (!keys->empty() && !any_usable_host_key(*keys, algorithms.algorithms.host_key))
    return fail({exit_usage, "none of the host keys can make a signature of --host-key-algorithms"});
  const bool root = ::geteuid() == 0;
  auto refuse = [](std::function<void()>) { return false; };  // nothing runs: no checks are made
  auto built = parleyd::build_auth_config(c, root, rng, refuse);
  if (!built) return fail({exit_usage, built.error()});
  if (root && c.privilege_separation.value_or(true)) {
    const std::string name = parley::sandbox::Plan{}.account;
    auto account = parley::login::find_account(name);
    if (!account || !*account)
      return fail({exit_usage, "privilege separation: no account '" + name + "' for the network process "
                               "(scripts/install-deps.sh makes it)"});
  }
  return 0;
}

int run(const parleyd::Config& c) {
  spdlog::set_default_logger(spdlog::stderr_color_mt("parleyd"));
  spdlog::set_level(spdlog::level::from_str(c.log_level.value_or(std::string(parleyd::default_log_level))));
  start_limits = parleyd::raise_descriptor_limit();
  // As root, separated unless the configuration opts out (as sshd, which no
  // longer runs without privilege separation; the opt-out is kept to measure
  // and to debug). Not root, there is nothing to separate.
  if (::geteuid() == 0) {
    if (c.privilege_separation.value_or(true)) return run_separated(c);
    spdlog::warn(
        "privilege separation is off (--no-privilege-separation or privilege_separation = false): "
        "one root process parses every byte from the network");
  } else if (c.privilege_separation.value_or(false)) {
    spdlog::warn("privilege separation needs root: running as one process");
  }
  // One CSPRNG for every connection (thread-safe); it outlives the server.
  static crypto::SystemRandom rng;
  auto config = transport_config(c, rng);
  if (!config) return fail(config.error());
  sigset_t stop_signals = block_stop_signals();
  // Password checks (deliberately slow hashes) run here, never on an I/O thread.
  static driver::WorkerPool password_pool(2, c.limits.max_queued_checks);
  auto run_blocking = [](std::function<void()> job) { return password_pool.submit(std::move(job)); };
  auto built = parleyd::build_auth_config(c, ::geteuid() == 0, rng, run_blocking);
  if (!built) return fail({exit_usage, built.error()});
  // One configuration of each kind, shared by every connection.
  auto shared_config = std::make_shared<const transport::TransportConfig>(std::move(*config));
  std::shared_ptr<const parley::userauth::ServerAuthConfig> shared_auth = built->config;
  auto sessions = sessions_for(c, *built, run_blocking);
  log_command_shell(*sessions);
  const driver::ServerOptions options = server_options(c);
  driver::Server server(options, driver::ConnectionFactory([shared_config, shared_auth, sessions](
                                                               driver::ConnectionContext& context,
                                                               transport::Instant now) {
    std::string who = host_port(context.peer().address, context.peer().port);
    spdlog::info("{}: connection open", who);
    return parleyd::make_server_endpoint(shared_config, shared_auth, sessions, rng, context,
                                         std::move(who), now);
  }));
  if (auto started = server.start(); !started) return fail({exit_runtime_error, started.error()});
  std::vector<crypto::PublicKey> public_keys;
  for (const auto& key : shared_config->host_keys) public_keys.push_back(key.public_key());
  announce(options.address, server.port(), public_keys);
  log_capacity(options, parleyd::open_descriptors(), "");
  std::thread signal_waiter([&] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    spdlog::info("{}: stopping", strsignal(sig));
    server.stop();
  });
  server.wait();
  signal_waiter.join();
  const auto checks = password_pool.stats();
  spdlog::info(
      "checks queued at most {} at once (bound {}), {} refused; {} connections refused "
      "before authentication",
      checks.high_water, checks.max_queued, checks.refused, server.refused_connections());
  spdlog::info("stopped");
  return 0;
}

// ---------------------------------------------------------------------------
// Privilege separation: the monitor and the network process

/// The monitor's view of parleyd's settings: host keys, authentication, policy.
class MonitorBackend final : public parley::privsep::Backend {
 public:
  MonitorBackend(transport::TransportConfig transport,
                 std::shared_ptr<const parley::userauth::ServerAuthConfig> auth,
                 std::shared_ptr<const parley::session::ChannelPolicy> policy)
      : transport_(std::move(transport)), version_("SSH-2.0-" + transport_.software_version),
        auth_(std::move(auth)), policy_(std::move(policy)) {}
  const std::vector<crypto::PrivateKey>& host_keys() const override { return transport_.host_keys; }
  std::string_view server_version() const override { return version_; }
  std::shared_ptr<const parley::userauth::ServerAuthConfig> auth_config(std::string_view,
                                                                       std::uint16_t) override {
    return auth_;
  }
  const parley::session::ChannelPolicy& channel_policy() const override { return *policy_; }

 private:
  transport::TransportConfig transport_;
  std::string version_;
  std::shared_ptr<const parley::userauth::ServerAuthConfig> auth_;
  std::shared_ptr<const parley::session::ChannelPolicy> policy_;
};

/// The first frame to the network process: the public halves of the host keys.
bool send_host_keys(parley::privsep::Channel& channel, const std::vector<crypto::PrivateKey>& keys) {
  parley::privsep::HostKeys frame;
  for (const auto& key : keys) frame.blobs.push_back(key.public_key().blob());
  return channel.send(frame.encode()).has_value();
}

/// sshd's UsePAM in the monitor: a connection's session programs run inside a
/// PAM login session (account, credentials, session), as in one process.
class PamLoginSession final : public parley::privsep::LoginSession {
 public:
  explicit PamLoginSession(std::unique_ptr<parley::pam::PamLogin> login) : login_(std::move(login)) {}
  const std::vector<std::string>& environment() const override { return login_->environment(); }

 private:
  std::unique_ptr<parley::pam::PamLogin> login_;
};

parley::privsep::OpenLoginSession open_pam_login(std::string service) {
  using Opened = std::expected<std::unique_ptr<parley::privsep::LoginSession>, std::string>;
  return [service = std::move(service)](const std::string& user, const std::string& rhost) -> Opened {
    const std::string who = parley::userauth::printable_for_log(user, 64);
    auto opened = parley::pam::PamLogin::open(service, user, rhost);
    if (!opened) {
      spdlog::warn("{}: PAM session for '{}' failed: {}", rhost, who, opened.error());
      return std::unexpected(opened.error());
    }
    spdlog::info("{}: PAM session opened for '{}'", rhost, who);
    return std::make_unique<PamLoginSession>(std::move(*opened));
  };
}

/// The root monitor: loads the secrets, then serves the network process until it is gone.
int run_monitor(const parleyd::Config& c, parley::privsep::Channel channel, pid_t network) {
  static crypto::SystemRandom rng;
  auto config = transport_config(c, rng);
  if (!config) return fail(config.error());
  sigset_t stop_signals = block_stop_signals();
  sigaddset(&stop_signals, SIGUSR2);  // the loop's end, to the signal waiter
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  static driver::WorkerPool password_pool(2, c.limits.max_queued_checks);
  auto run_blocking = [](std::function<void()> job) { return password_pool.submit(std::move(job)); };
  auto built = parleyd::build_auth_config(c, true, rng, run_blocking);
  if (!built) return fail({exit_usage, built.error()});
  auto sessions = sessions_for(c, *built, run_blocking);
  log_command_shell(*sessions);
  if (!send_host_keys(channel, config->host_keys)) return fail({exit_runtime_error, "the network process is gone"});
  MonitorBackend backend(std::move(*config), built->config, sessions->policy);
  parley::privsep::ExecutorOptions exec;
  exec.run_as = built->run_as;
  exec.login_records = true;
  exec.shell = sessions->process.shell;
  exec.sftp_server = sessions->process.sftp_server;  // empty: no sftp subsystem (--sftp-server '')
  exec.log = [](std::string_view line) { spdlog::info("monitor: {}", line); };
  // Opened in the monitor's loop: PAM's session modules are expected to be quick.
  if (!sessions->pam_service.empty()) exec.open_login = open_pam_login(sessions->pam_service);
  parley::privsep::Executor executor(std::move(exec));
  // The monitor serves as many connections as the network process may hold
  // (MonitorLimits' 4096 would refuse the rest with "internal error").
  parley::privsep::MonitorLimits monitor_limits;
  monitor_limits.max_connections = server_options(c).max_connections;
  parley::privsep::Monitor monitor(backend, rng, monitor_limits);
  driver::MonitorLoop loop(std::move(channel), monitor,
                           [](const parley::privsep::LogEvent& e) { spdlog::info("monitor: conn {}: {}", e.conn, e.text); },
                           &executor);
  std::thread signal_waiter([&] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    if (sig == SIGUSR2) return;  // the loop ended first
    spdlog::info("{}: stopping", strsignal(sig));
    ::kill(network, SIGTERM);
    loop.stop();
  });
  const bool gone = loop.run();
  if (gone) spdlog::info("the network process has gone: stopping");
  const auto checks = password_pool.stats();
  spdlog::info("checks queued at most {} at once (bound {}), {} refused", checks.high_water, checks.max_queued,
               checks.refused);
  pthread_kill(signal_waiter.native_handle(), SIGUSR2);
  signal_waiter.join();
  return gone ? exit_runtime_error : 0;
}

/// The network process: public host keys from the monitor, then confined, then the server.
int run_network(const parleyd::Config& c, parleyd::NetworkHalf half) {
  auto first = half.channel.receive();
  auto keys = first ? parley::privsep::HostKeys::decode(first->frame) : std::unexpected(parley::privsep::ProtocolError::truncated);
  if (!keys) return fail({exit_runtime_error, "no host keys from the monitor"});
  auto config = std::make_shared<transport::TransportConfig>(server_algorithms(c));
  for (const auto& blob : keys->blobs) {
    auto key = crypto::PublicKey::from_blob(blob);
    if (!key) return fail({exit_runtime_error, "a host key from the monitor does not parse"});
    config->host_public_keys.push_back(std::move(*key));
  }
  static crypto::SystemRandom rng;
  parleyd::BuiltAuth none;
  auto sessions = sessions_for(c, none, {});
  {
    // ssh -R below port 1024 is for root only (sshd's bind_permitted()): the
    // monitor decides, since only it can read the account database, so here it
    // passes on to it.
    auto setup = std::make_shared<parleyd::SessionSetup>(*sessions);
    auto policy = std::make_shared<parley::session::ChannelPolicy>(*setup->policy);
    policy->may_bind_privileged_port = [](std::string_view) { return true; };
    setup->policy = std::move(policy);
    sessions = std::move(setup);
  }
  ::tzset();  // the log's local time, read before the root becomes empty
  static char stdout_buffer[BUFSIZ];  // stdio would size its own with fstat, later
  std::setvbuf(stdout, stdout_buffer, _IOLBF, sizeof stdout_buffer);
  sigset_t stop_signals = block_stop_signals();
  // Everything that opens a descriptor is made before the sandbox closes in:
  // the link's and the server's event loops; their threads start after.
  driver::MonitorLink link(std::move(half.channel), [] { ::_exit(exit_runtime_error); });
  driver::ServerOptions options = server_options(c);
  options.listen_fd = half.listen_fd;
  // Counted now: the cgroup's quota is read from /sys, which the chroot hides.
  if (options.threads == 0) options.threads = driver::default_io_threads();
  driver::PrivsepConnectionSetup setup{config, {}, [](std::string_view line) { spdlog::info("{}", line); }};
  setup.limits.login_grace = c.limits.login_grace_time;
  driver::Server server(options, driver::ConnectionFactory([&](driver::ConnectionContext& context,
                                                               transport::Instant now) {
    std::string who = host_port(context.peer().address, context.peer().port);
    spdlog::info("{}: connection open", who);
    return parleyd::make_separated_endpoint(link, setup, sessions, rng, context, std::move(who), now);
  }));
  const std::size_t open_at_start = parleyd::open_descriptors();  // /proc is hidden once confined
  [[maybe_unused]] const pid_t monitor_pid = ::getppid();
  parley::sandbox::Plan plan;
  if (auto confined = parley::sandbox::confine(plan); !confined)
    return fail({exit_runtime_error,
                 "cannot confine the network process: " + parley::sandbox::to_string(confined.error())});
  // The link reads on the server's first event loop: a reply reaches a
  // connection there without a hop between threads. (A remote forward's listen,
  // which waits in place for the monitor, pumps the link itself.)
  link.start(server);
  if (auto started = server.start(); !started) return fail({exit_runtime_error, started.error()});
  announce(options.address, server.port(), config->host_public_keys);
  log_capacity(options, open_at_start, "the network process ");
  spdlog::info("network process confined as {} in {}", plan.account, plan.empty_dir.string());
#ifdef PARLEY_NETWORK_PROBE
  parleyd::run_network_probe(monitor_pid);  // the test build only (parleyd_probe)
#endif
  std::thread signal_waiter([&] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    server.stop();
  });
  server.wait();
  signal_waiter.join();
  link.stop();  // while the server's loop still exists
  return 0;
}

int run_separated(const parleyd::Config& c) {
  const std::string address = c.listen.value_or(std::string(parleyd::default_listen));
  const std::uint16_t port = c.port.value_or(parleyd::default_port);
  return parleyd::split_processes(
      address, port, [&](parleyd::NetworkHalf half) { return run_network(c, std::move(half)); },
      [&](parley::privsep::Channel channel, pid_t network) { return run_monitor(c, std::move(channel), network); },
      [](const std::string& message) { std::cerr << "parleyd: " << message << "\n"; },
      [](int wait_status) {
        spdlog::info("the network process {}", parleyd::describe_wait_status(wait_status));
      });
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"parleyd: the parley SSH server"};
  parleyd::CommandLine line;
  parleyd::add_options(app, line);
  parleyd::TotpEnrollFlags totp_enroll;
  auto* totp_enroll_command = parleyd::add_totp_enroll_command(app, totp_enroll);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : exit_usage;
  }
  auto settings = parleyd::merge_settings(line);
  if (!settings) return fail({exit_usage, settings.error()});
  if (line.check) return check(*settings);
  if (totp_enroll_command->parsed())
    return parleyd::run_totp_enroll(
        totp_enroll,
        {settings->totp.users_oath.value_or(""), settings->totp.google_authenticator.value_or("")},
        settings->log_level.value_or(std::string(parleyd::default_log_level)), std::cout, std::cerr);
  return run(*settings);
}

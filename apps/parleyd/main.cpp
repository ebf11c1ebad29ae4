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
#include "parley/transport/transport.hpp"
#include "auth_setup.hpp"
#include "config.hpp"
#include "session.hpp"
#include "state_dir.hpp"
#include "totp_enroll.hpp"

namespace {

namespace crypto = parley::crypto;
namespace driver = parley::driver;
namespace transport = parley::transport;

constexpr int exit_runtime_error = 1;
constexpr int exit_usage = 2;

struct Flags {
  std::string listen = "127.0.0.1";
  std::uint16_t port = 2222;
  std::vector<std::string> host_keys;
  std::string state_dir;
  bool demo = false;
  unsigned threads = 0;
  std::string log_level = "info";
  std::optional<std::string> kex, ciphers, macs, host_key_algorithms;
  std::string password_file;
  std::string authorized_keys;
  std::vector<std::string> auth_methods;
  std::vector<std::string> users;
  std::string banner;
  std::string config_file;
  std::optional<std::size_t> max_auth_tries;
  std::optional<unsigned> login_grace_time;
  std::string totp_users_oath, totp_google_authenticator, pam_service;
  std::string session_user;
  std::string permit_root_login = "prohibit-password";
  std::optional<unsigned> totp_window;
  std::optional<parleyd::Config> file;  // the loaded --config, below the flags
  // Sessions and forwarding.
  std::optional<std::string> shell, sftp_server;
  std::vector<std::string> accept_env;
  std::optional<std::size_t> max_sessions;
  std::string allow_tcp_forwarding = "no";
  std::vector<std::string> permit_open, permit_listen;
  bool gateway_ports = false;
  // Pre-authentication bounds (sshd's MaxStartups, PerSource*); over [limits].
  std::optional<std::string> max_startups, per_source_netblock_size, per_source_penalties;
  std::optional<std::size_t> per_source_max_startups, max_checks_per_connection, max_queued_checks;
};

/// Welcome shown at the start of the demo's shell sessions.
constexpr const char* demo_welcome =
    "Welcome to parley. You answered the question; here is your shell.\n"
    "(parleyd runs it as the user it runs as.)\n";

/// The session policy and process options from the flags over the config file.
std::shared_ptr<const parleyd::SessionSetup> session_setup(const Flags& f) {
  auto policy = std::make_shared<parley::session::ChannelPolicy>();
  auto setup = std::make_shared<parleyd::SessionSetup>();
  if (f.file) {
    const auto& s = f.file->session;
    const auto& fw = f.file->forwarding;
    if (s.shell) setup->process.shell = *s.shell;
    if (s.sftp_server) setup->process.sftp_server = *s.sftp_server;
    if (s.accept_env) policy->env_allow = *s.accept_env;
    if (s.max_sessions) policy->max_sessions = *s.max_sessions;
    if (fw.local) policy->allow_local_forwarding = *fw.local;
    if (fw.remote) policy->allow_remote_forwarding = *fw.remote;
    if (fw.permit_open) policy->permit_open = *fw.permit_open;
    if (fw.permit_listen) policy->permit_listen = *fw.permit_listen;
    if (fw.gateway_ports) policy->gateway_ports = *fw.gateway_ports;
  }
  if (f.shell) setup->process.shell = *f.shell;
  if (f.sftp_server) setup->process.sftp_server = *f.sftp_server;
  if (!f.accept_env.empty()) policy->env_allow = f.accept_env;
  if (f.max_sessions) policy->max_sessions = *f.max_sessions;
  if (f.allow_tcp_forwarding != "config") {
    policy->allow_local_forwarding = f.allow_tcp_forwarding == "yes" || f.allow_tcp_forwarding == "local";
    policy->allow_remote_forwarding = f.allow_tcp_forwarding == "yes" || f.allow_tcp_forwarding == "remote";
  }
  if (!f.permit_open.empty()) policy->permit_open = f.permit_open;
  if (!f.permit_listen.empty()) policy->permit_listen = f.permit_listen;
  if (f.gateway_ports) policy->gateway_ports = true;
  setup->policy = std::move(policy);
  return setup;
}

/// A startup failure: what to print and the exit status.
struct Failure {
  int status;
  std::string message;
};

/// Applies one --kex/--ciphers/... list to `target`, in sshd_config's syntax
/// ("+a" adds to the defaults, "-a" removes, "^a" puts first); a bad name is a
/// usage error naming it.
template <class T, class Parse>
std::optional<Failure> apply_list(const std::optional<std::string>& list, std::string_view flag,
                                  std::string_view what, Parse parse, std::vector<T>& target) {
  if (!list) return std::nullopt;
  std::string bad;
  auto parsed = transport::apply_list_syntax(target, *list, parse, &bad);
  if (!parsed) {
    return Failure{exit_usage,
                   bad.empty()
                       ? "malformed list for " + std::string(flag) + ": '" + *list + "'"
                       : "unknown " + std::string(what) + " '" + bad + "' in " + std::string(flag)};
  }
  if (parsed->empty())
    return Failure{exit_usage, std::string(flag) + " must name at least one algorithm"};
  target = std::move(*parsed);
  return std::nullopt;
}

std::optional<Failure> parse_algorithms(const Flags& f, transport::AlgorithmPreferences& prefs) {
  using P = transport::AlgorithmPreferences;
  if (auto e = apply_list(f.kex, "--kex", "key exchange algorithm", &P::parse_kex, prefs.kex))
    return e;
  if (auto e = apply_list(f.host_key_algorithms, "--host-key-algorithms", "host key algorithm",
                          &P::parse_host_key, prefs.host_key))
    return e;
  if (auto e = apply_list(f.ciphers, "--ciphers", "cipher", &P::parse_ciphers, prefs.ciphers))
    return e;
  if (auto e = apply_list(f.macs, "--macs", "MAC", &P::parse_macs, prefs.macs)) return e;
  return std::nullopt;
}

/// The host keys named on the command line, or the state directory's Ed25519 key
/// (generated on first start).
std::expected<std::vector<crypto::PrivateKey>, Failure> load_host_keys(const Flags& f,
                                                                       crypto::Random& rng) {
  std::vector<crypto::PrivateKey> keys;
  if (!f.host_keys.empty()) {
    for (const auto& path : f.host_keys) {
      auto key = crypto::load_private_key(path);
      if (!key)
        return std::unexpected(
            Failure{exit_runtime_error, "cannot load host key: " + key.error().message});
      keys.push_back(std::move(*key));
    }
  } else {
    std::filesystem::path dir;
    if (!f.state_dir.empty()) {
      dir = f.state_dir;
    } else {
      auto d = parleyd::default_state_dir();
      if (!d) return std::unexpected(Failure{exit_runtime_error, d.error()});
      dir = *d;
    }
    if (auto made = parleyd::ensure_private_dir(dir); !made)
      return std::unexpected(Failure{exit_runtime_error, made.error()});
    auto key = crypto::load_or_generate_host_key(dir / "ssh_host_ed25519_key", rng);
    if (!key)
      return std::unexpected(Failure{exit_runtime_error, "host key: " + key.error().message});
    keys.push_back(std::move(*key));
  }
  // The transport signs with the one key of the negotiated type; two would be ambiguous.
  for (std::size_t i = 0; i < keys.size(); ++i)
    for (std::size_t j = 0; j < i; ++j)
      if (keys[i].type() == keys[j].type())
        return std::unexpected(Failure{
            exit_usage,
            "more than one " + std::string(crypto::key_type_name(keys[i].type())) + " host key"});
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

std::string host_port(const std::string& address, std::uint16_t port) {
  const bool v6 = address.find(':') != std::string::npos;
  return (v6 ? "[" + address + "]" : address) + ":" + std::to_string(port);
}

/// Raises the open-file limit to its hard maximum: every connection is a descriptor,
/// and the usual soft limit (1024) would cap a server meant for 100 000.
void raise_descriptor_limit() {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) return;
  if (lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &lim) != 0) return;
  }
  spdlog::debug("open-file limit {}", static_cast<unsigned long long>(lim.rlim_cur));
}

/// The pre-authentication bounds: [limits] with the flags over it.
struct PreauthBounds {
  driver::SourceLimits sources;
  std::size_t max_checks_per_connection = 1;
  std::size_t max_queued_checks = 1024;
};

std::expected<PreauthBounds, std::string> preauth_bounds(const Flags& f) {
  const parleyd::Limits l = f.file ? f.file->limits : parleyd::Limits{};
  PreauthBounds b;
  b.sources.max_startups = l.max_startups;
  b.sources.per_source_max_startups = l.per_source_max_startups;
  b.sources.netblock4 = l.per_source_netblock4;
  b.sources.netblock6 = l.per_source_netblock6;
  b.sources.penalties = l.per_source_penalties;
  b.max_checks_per_connection = l.max_checks_per_connection;
  b.max_queued_checks = l.max_queued_checks;
  if (f.max_startups) {
    auto m = driver::parse_max_startups(*f.max_startups);
    if (!m) return std::unexpected("--max-startups: " + m.error());
    b.sources.max_startups = *m;
  }
  if (f.per_source_max_startups) b.sources.per_source_max_startups = *f.per_source_max_startups;
  if (f.per_source_netblock_size) {
    auto n = driver::parse_netblock_size(*f.per_source_netblock_size);
    if (!n) return std::unexpected("--per-source-netblock-size: " + n.error());
    b.sources.netblock4 = n->first;
    b.sources.netblock6 = n->second;
  }
  if (f.per_source_penalties) {
    // As sshd_config: keys not named keep their default.
    auto p = driver::parse_penalties(*f.per_source_penalties, b.sources.penalties);
    if (!p) return std::unexpected("--per-source-penalties: " + p.error());
    b.sources.penalties = *p;
  }
  if (f.max_checks_per_connection) b.max_checks_per_connection = *f.max_checks_per_connection;
  if (f.max_queued_checks) b.max_queued_checks = *f.max_queued_checks;
  return b;
}

int run(const Flags& f) {
  spdlog::set_default_logger(spdlog::stderr_color_mt("parleyd"));
  spdlog::set_level(spdlog::level::from_str(f.log_level));
  raise_descriptor_limit();

  transport::TransportConfig config;
  config.role = transport::Role::server;
  if (f.file) {  // the config file's lists, where no flag overrides them
    if (f.file->kex) config.algorithms.kex = *f.file->kex;
    if (f.file->host_key_algorithms) config.algorithms.host_key = *f.file->host_key_algorithms;
    if (f.file->ciphers) config.algorithms.ciphers = *f.file->ciphers;
    if (f.file->macs) config.algorithms.macs = *f.file->macs;
  }
  if (auto failure = parse_algorithms(f, config.algorithms)) {
    std::cerr << "parleyd: " << failure->message << "\n";
    return failure->status;
  }

  // One CSPRNG for every connection (thread-safe); it outlives the server.
  static crypto::SystemRandom rng;
  auto keys = load_host_keys(f, rng);
  if (!keys) {
    std::cerr << "parleyd: " << keys.error().message << "\n";
    return keys.error().status;
  }
  if (!any_usable_host_key(*keys, config.algorithms.host_key)) {
    std::cerr << "parleyd: none of the host keys can make a signature of --host-key-algorithms\n";
    return exit_usage;
  }
  config.host_keys = *keys;

  // SIGINT/SIGTERM are taken by a waiting thread, not a handler: block them
  // before any other thread starts so every thread inherits the mask.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  driver::ServerOptions options;
  options.address = f.listen;
  options.port = f.port;
  options.threads = f.threads;
  // One configuration shared by every connection.
  auto shared_config = std::make_shared<const transport::TransportConfig>(config);
  auto bounds = preauth_bounds(f);
  if (!bounds) {
    std::cerr << "parleyd: " << bounds.error() << "\n";
    return exit_usage;
  }
  options.source_limits = bounds->sources;
  options.on_penalty = [](const driver::PenaltyNotice& n) {
    spdlog::info("source {} penalised for {:.0f} s: {}{}", n.netblock, n.duration.count(), n.reason,
                 n.suppressed ? " (" + std::to_string(n.suppressed) + " more not logged)" : "");
  };
  // Password checks (deliberately slow hashes) run here, never on an I/O thread.
  static parley::driver::WorkerPool password_pool(2, bounds->max_queued_checks);
  parleyd::AuthSettings auth;
  auth.password_file = f.password_file;
  auth.authorized_keys = f.authorized_keys;
  auth.methods = f.auth_methods;
  auth.users = f.users;
  auth.banner = f.banner;
  if (f.file) {
    const auto& l = f.file->limits;
    auth.limits.max_failures = l.max_auth_tries;
    auth.limits.login_grace = l.login_grace_time;
    auth.limits.max_prompts = l.max_prompts;
    auth.limits.max_answer_bytes = l.max_answer_bytes;
    auth.limits.max_rounds = l.max_rounds;
    auth.limits.max_requests = l.max_requests;
    auth.limits.failure_delay = l.failure_delay;
  }
  auth.demo = f.demo;
  auth.as_root = ::geteuid() == 0;
  auth.session_user = f.session_user;
  auth.permit_root_login = *parley::login::parse_root_login(f.permit_root_login);
  auth.totp_users_oath = f.totp_users_oath;
  auth.totp_google_authenticator = f.totp_google_authenticator;
  auth.pam_service = f.pam_service;
  if (f.file) {
    const auto& t = f.file->totp;
    if (t.window) auth.totp_window = *t.window;
    if (t.max_failures) auth.totp_max_failures = *t.max_failures;
    if (t.failure_period) auth.totp_failure_period = *t.failure_period;
    if (f.file->pam.max_conversations) auth.pam_max_conversations = *f.file->pam.max_conversations;
  }
  if (f.totp_window) auth.totp_window = *f.totp_window;
  if (f.max_auth_tries) auth.limits.max_failures = *f.max_auth_tries;
  if (f.login_grace_time) auth.limits.login_grace = std::chrono::seconds(*f.login_grace_time);
  auth.limits.max_pending_checks = bounds->max_checks_per_connection;
  auto built = parleyd::build_auth_config(auth, rng, [](std::function<void()> job) {
    return password_pool.submit(std::move(job));
  });
  if (!built) {
    std::cerr << "parleyd: " << built.error() << "\n";
    return exit_usage;
  }
  std::shared_ptr<const parley::userauth::ServerAuthConfig> shared_auth = built->config;
  auto setup = std::make_shared<parleyd::SessionSetup>(*session_setup(f));
  if (built->run_as) {
    // As root: each session runs as the account of the user who logged in,
    // inside a PAM session when logins go through PAM (sshd's UsePAM).
    setup->process.run_as = built->run_as;
    setup->process.login_records = true;
    setup->pam_service = built->pam_service;
    // ssh -R below port 1024 for root only, as sshd's bind_permitted().
    auto policy = std::make_shared<parley::session::ChannelPolicy>(*setup->policy);
    // Virtual users run as the session user, which is never root.
    policy->may_bind_privileged_port = [](std::string_view user) {
      auto found = parley::login::find_account(user);
      return found && *found && (*found)->uid == 0;
    };
    setup->policy = std::move(policy);
    setup->run_blocking = [](std::function<void()> job) { return password_pool.submit(std::move(job)); };
  }
  setup->process.log = [](std::string_view line) { spdlog::info("{}", line); };
  if (f.demo) {
    if (::geteuid() == 0) {
      // Answering a question must never give a shell on the machine: as root the
      // demo's sessions are the built-in command shell.
      setup->command_shell = true;
      spdlog::info("demo as root: sessions are the built-in command shell");
    } else {
      setup->welcome = demo_welcome;
    }
  }
  std::shared_ptr<const parleyd::SessionSetup> sessions = setup;
  driver::Server server(options, driver::ConnectionFactory([shared_config, shared_auth, sessions](
                                                               driver::ConnectionContext& context,
                                                               transport::Instant now) {
    std::string who = host_port(context.peer().address, context.peer().port);
    spdlog::info("{}: connection open", who);
    return parleyd::make_server_endpoint(shared_config, shared_auth, sessions, rng, context,
                                         std::move(who), now);
  }));
  if (auto started = server.start(); !started) {
    std::cerr << "parleyd: " << started.error() << "\n";
    return exit_runtime_error;
  }

  std::printf("parleyd listening on %s\n", host_port(f.listen, server.port()).c_str());
  std::fflush(stdout);
  for (const auto& key : config.host_keys) {
    std::printf("host key: %s %s\n", std::string(crypto::key_type_name(key.type())).c_str(),
                key.public_key().fingerprint().c_str());
  }
  std::fflush(stdout);
  spdlog::info("listening on {}", host_port(f.listen, server.port()));

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

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"parleyd: the parley SSH server"};
  Flags f;
  app.add_option("--listen", f.listen, "Address to listen on")->capture_default_str();
  app.add_option("--port", f.port, "TCP port (0: any free port)")->capture_default_str();
  app.add_option("--host-key", f.host_keys,
                 "OpenSSH private key file (repeatable; default: STATE_DIR/ssh_host_ed25519_key)")
      ->type_name("FILE")
      ->allow_extra_args(false);
  app.add_option("--state-dir", f.state_dir,
                 "State directory (default: $STATE_DIRECTORY, $XDG_STATE_HOME/parleyd or "
                 "~/.local/state/parleyd)")
      ->type_name("DIR");
  auto* demo = app.add_flag("--demo", f.demo,
                            "The Higher or Lower demo: the question lets in admin (or the --user "
                            "accounts); as root its sessions are the built-in command shell");
  app.add_option("--password-file", f.password_file,
                 "File of user:hash lines (crypt(3) hashes as mkpasswd writes them); enables "
                 "password and keyboard-interactive password logins instead of the demo challenge")
      ->type_name("FILE");
  app.add_option("--authorized-keys", f.authorized_keys,
                 "authorized_keys file for publickey logins; %u is the user name, %h the home "
                 "directory (e.g. %h/.ssh/authorized_keys)")
      ->type_name("PATTERN");
  app.add_option("--auth-methods", f.auth_methods,
                 "Required methods as OpenSSH's AuthenticationMethods, one alternative per use: "
                 "e.g. publickey,keyboard-interactive:higher-or-lower")
      ->type_name("LIST");
  app.add_option("--user", f.users, "An account for methods without a user database (repeatable)")
      ->type_name("NAME");
  auto* totp_oath = app.add_option("--totp-users-oath", f.totp_users_oath,
                                   "TOTP secrets for keyboard-interactive:totp in pam_oath's users.oath file");
  app.add_option("--totp-google-authenticator", f.totp_google_authenticator,
                 "TOTP secrets in per-user google-authenticator files; %h home, %u user "
                 "(e.g. %h/.google_authenticator)")
      ->excludes(totp_oath);
  app.add_option("--totp-window", f.totp_window,
                 "TOTP time steps accepted on each side of the current one (default 1)")
      ->check(CLI::Range(0, 10));
  app.add_option("--pam-service", f.pam_service,
                 "PAM service for keyboard-interactive (/etc/pam.d/NAME); also what plain "
                 "keyboard-interactive uses when there is no password file");
  app.add_option("--session-user", f.session_user,
                 "As root: the unprivileged account sessions of virtual users (password-file "
                 "names that are not accounts of this system) run as")
      ->type_name("NAME");
  app.add_option("--permit-root-login", f.permit_root_login,
                 "Logins of uid 0 as OpenSSH's PermitRootLogin: no, prohibit-password (publickey "
                 "only) or yes")
      ->check(CLI::IsMember({"no", "prohibit-password", "without-password", "yes"}))
      ->capture_default_str();
  app.add_option("--banner", f.banner, "Text shown to clients before authentication");
  app.add_option("--max-auth-tries", f.max_auth_tries,
                 "Failed authentication attempts before disconnect (default 6)")
      ->check(CLI::Range(1, 100));
  app.add_option("--login-grace-time", f.login_grace_time,
                 "Seconds to complete authentication (default 120)")
      ->check(CLI::Range(1, 3600));
  app.add_option("--max-startups", f.max_startups,
                 "Unauthenticated connections as sshd's MaxStartups start:rate:full (default "
                 "10:30:100)")
      ->type_name("S:R:F");
  app.add_option("--per-source-max-startups", f.per_source_max_startups,
                 "Unauthenticated connections per source netblock (default: no limit)")
      ->check(CLI::Range(1, 1000000));
  app.add_option("--per-source-netblock-size", f.per_source_netblock_size,
                 "Prefix lengths grouping addresses into a source, V4[:V6] (default 32:128)")
      ->type_name("V4:V6");
  app.add_option("--per-source-penalties", f.per_source_penalties,
                 "sshd's PerSourcePenalties, e.g. 'authfail:5 noauth:1 min:15' or 'no' "
                 "(default crash:90 authfail:5 noauth:1 grace-exceeded:10 max:600 min:15)")
      ->type_name("LIST");
  app.add_option("--max-checks-per-connection", f.max_checks_per_connection,
                 "Password/TOTP checks one connection may have queued or running (default 1)")
      ->check(CLI::Range(1, 16));
  app.add_option("--max-queued-checks", f.max_queued_checks,
                 "Password/TOTP checks waiting for a worker, all connections (default 1024)")
      ->check(CLI::Range(1, 1000000));
  app.add_option("--shell", f.shell, "Shell for sessions (default: the login shell of this user)")
      ->type_name("PATH");
  app.add_option("--sftp-server", f.sftp_server,
                 "Program for the sftp subsystem (default /usr/lib/openssh/sftp-server; '' disables)")
      ->type_name("PATH");
  app.add_option("--accept-env", f.accept_env,
                 "Variables clients may set, as patterns (repeatable; default LANG and LC_*)")
      ->type_name("PATTERN");
  app.add_option("--max-sessions", f.max_sessions, "Sessions per connection (default 10)")
      ->check(CLI::Range(1, 1000));
  app.add_option("--allow-tcp-forwarding", f.allow_tcp_forwarding,
                 "no, local (ssh -L/-W), remote (ssh -R) or yes; 'config' leaves the file's setting")
      ->check(CLI::IsMember({"no", "local", "remote", "yes", "config"}))
      ->capture_default_str();
  app.add_option("--permit-open", f.permit_open,
                 "Destinations ssh -L/-W may reach, HOST:PORT with patterns and * (repeatable; "
                 "default any)")
      ->type_name("HOST:PORT");
  app.add_option("--permit-listen", f.permit_listen,
                 "Addresses ssh -R may listen on, HOST:PORT (repeatable; default any)")
      ->type_name("HOST:PORT");
  app.add_flag("--gateway-ports", f.gateway_ports,
               "Let ssh -R listeners bind the address the client asks for (default: loopback)");
  app.add_option("--config", f.config_file,
                 "TOML configuration file (see docs/parleyd.conf.example); flags override it")
      ->type_name("FILE");
  app.add_option("--threads", f.threads, "Worker threads (0: one per CPU)")->capture_default_str();
  app.add_option("--log-level", f.log_level, "trace, debug, info, warn or error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}))
      ->capture_default_str();
  app.add_option("--kex", f.kex, "Key exchange algorithms, comma-separated, preferred first")
      ->type_name("LIST");
  app.add_option("--ciphers", f.ciphers, "Ciphers, comma-separated")->type_name("LIST");
  app.add_option("--macs", f.macs, "MACs, comma-separated")->type_name("LIST");
  app.add_option("--host-key-algorithms", f.host_key_algorithms,
                 "Host key signature algorithms, comma-separated")
      ->type_name("LIST");
  demo->excludes("--password-file")->excludes("--authorized-keys")->excludes("--auth-methods");
  parleyd::TotpEnrollFlags totp_enroll;
  auto* totp_enroll_command = parleyd::add_totp_enroll_command(app, totp_enroll);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : exit_usage;
  }
  if (!f.config_file.empty()) {
    auto loaded = parleyd::load_config(f.config_file);
    if (!loaded) {
      std::cerr << "parleyd: " << loaded.error().message() << "\n";
      return exit_usage;
    }
    // Flags given on the command line win over the file.
    const parleyd::Config& c = *loaded;
    auto unset = [&](const char* flag) { return app.count(flag) == 0; };
    if (c.listen && unset("--listen")) f.listen = *c.listen;
    if (c.port && unset("--port")) f.port = *c.port;
    if (!c.host_keys.empty() && unset("--host-key")) f.host_keys = c.host_keys;
    if (c.state_dir && unset("--state-dir")) f.state_dir = *c.state_dir;
    if (c.log_level && unset("--log-level")) f.log_level = *c.log_level;
    if (c.threads && unset("--threads")) f.threads = *c.threads;
    if (c.banner && unset("--banner")) f.banner = *c.banner;
    if (c.password_file && unset("--password-file")) f.password_file = *c.password_file;
    if (c.authorized_keys && unset("--authorized-keys")) f.authorized_keys = *c.authorized_keys;
    if (!c.users.empty() && unset("--user")) f.users = c.users;
    if (unset("--totp-users-oath") && unset("--totp-google-authenticator")) {
      if (c.totp.users_oath) f.totp_users_oath = *c.totp.users_oath;
      if (c.totp.google_authenticator) f.totp_google_authenticator = *c.totp.google_authenticator;
    }
    if (c.pam.service && unset("--pam-service")) f.pam_service = *c.pam.service;
    if (c.demo && unset("--demo")) f.demo = *c.demo;
    if (c.session.session_user && unset("--session-user")) f.session_user = *c.session.session_user;
    if (c.permit_root_login && unset("--permit-root-login")) f.permit_root_login = *c.permit_root_login;
    if (unset("--allow-tcp-forwarding")) f.allow_tcp_forwarding = "config";
    if (!c.methods.empty() && unset("--auth-methods")) {
      f.auth_methods.clear();
      for (const auto& chain : c.methods) {
        std::string joined;
        for (const auto& step : chain) joined += (joined.empty() ? "" : ",") + step;
        f.auth_methods.push_back(joined);
      }
    }
    f.file = std::move(*loaded);
  }
  if (totp_enroll_command->parsed())
    return parleyd::run_totp_enroll(totp_enroll, {f.totp_users_oath, f.totp_google_authenticator},
                                    f.log_level, std::cout, std::cerr);
  return run(f);
}

// parleyd: the parley SSH server. Key exchange with every algorithm parley
// implements, user authentication by the configured methods and chains (or,
// with --demo only, seed 004's "Higher or Lower" question), then sessions run
// as the user who logged in when parleyd runs as root. SIGHUP reloads the
// configuration for new connections (reload.hpp).
#include <pthread.h>
#include <signal.h>
#include <unistd.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstring>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <thread>

#include "parley/crypto/random.hpp"
#include "parley/driver/server.hpp"
#include "parley/driver/worker_pool.hpp"
#include "parley/login/account.hpp"
#include "parley/sandbox/sandbox.hpp"
#include "parley/transport/transport.hpp"
#include "auth_setup.hpp"
#include "capacity.hpp"
#include "config_dump.hpp"
#include "logging.hpp"
#include "reload.hpp"
#include "separated.hpp"
#include "serving.hpp"
#include "settings.hpp"
#include "session.hpp"
#include "shared_penalties.hpp"
#include "totp_enroll.hpp"

namespace parleyd {
namespace {

namespace crypto = parley::crypto;
namespace driver = parley::driver;
namespace transport = parley::transport;

/// parleyd -t: what a start checks before it listens (the configuration, host
/// keys, the authentication setup and the files it reads, privilege separation's
/// account as root), without listening, generating a key or writing anything.
int check(const Config& c) {
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
  auto built = build_auth_config(c, root, rng, refuse);
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

/// What the one-process server gives every new connection; a reload swaps it whole.
struct Serving {
  std::shared_ptr<const transport::TransportConfig> transport;
  std::shared_ptr<const parley::userauth::ServerAuthConfig> auth;
  std::shared_ptr<const SessionSetup> sessions;
  std::shared_ptr<parley::state::SharedState> shared_state;  // [state] backend = "redis"
};

std::expected<std::shared_ptr<const Serving>, Failure> serving(const Config& c, crypto::Random& rng,
                                                                parley::userauth::BlockingRunner run_blocking) {
  auto config = transport_config(c, rng);
  if (!config) return std::unexpected(config.error());
  auto built = build_auth_config(c, ::geteuid() == 0, rng, run_blocking);
  if (!built) return std::unexpected(Failure{exit_usage, built.error()});
  auto s = std::make_shared<Serving>();
  s->transport = std::make_shared<const transport::TransportConfig>(std::move(*config));
  s->auth = built->config;
  s->sessions = sessions_for(c, *built, std::move(run_blocking));
  s->shared_state = built->shared_state;
  return s;
}

/// The one-process server's SIGHUP: everything a start builds, built again
/// from the configuration as it is now, swapped in only if all of it is good.
void reload(const CommandLine& line, Config& running, Current<Serving>& current, crypto::Random& rng,
            const parley::userauth::BlockingRunner& run_blocking) {
  notify_reloading();
  auto c = merge_settings(line);
  std::expected<std::shared_ptr<const Serving>, std::string> next = std::unexpected(std::string());
  if (!c) {
    next = std::unexpected(c.error());
  } else if (auto key = restart_only_change(running, *c)) {
    next = std::unexpected(*key + " changed, which a reload cannot apply: restart parleyd for it");
  } else if (auto built = serving(*c, rng, run_blocking); !built) {
    next = std::unexpected(built.error().message);
  } else {
    next = std::move(*built);
  }
  if (!next) {
    spdlog::error("reload refused; the configuration loaded before goes on serving: {}", next.error());
  } else {
    current.set(std::move(*next));
    spdlog::set_level(spdlog::level::from_str(c->log_level.value_or(std::string(default_log_level))));
    running = std::move(*c);
    spdlog::info("configuration reloaded: new connections follow it");
  }
  notify_ready(next ? "serving" : "serving (reload refused)");
}

int run(const CommandLine& line, const Config& c) {
  setup_logging(c.log_level.value_or(std::string(default_log_level)));
  start_limits = raise_descriptor_limit();
  // As root, separated unless the configuration opts out (as sshd, which no
  // longer runs without privilege separation; the opt-out is kept to measure
  // and to debug). Not root, there is nothing to separate.
  if (::geteuid() == 0) {
    if (c.privilege_separation.value_or(true)) return run_separated(line, c);
    spdlog::warn(
        "privilege separation is off (--no-privilege-separation or privilege_separation = false): "
        "one root process parses every byte from the network");
  } else if (c.privilege_separation.value_or(false)) {
    spdlog::warn("privilege separation needs root: running as one process");
  }
  // One CSPRNG for every connection (thread-safe); it outlives the server.
  static crypto::SystemRandom rng;
  sigset_t signals = block_stop_signals(Reload::on_sighup);
  // Password checks (deliberately slow hashes) run here, never on an I/O thread.
  static driver::WorkerPool password_pool(2, c.limits.max_queued_checks);
  parley::userauth::BlockingRunner run_blocking = [](std::function<void()> job) {
    return password_pool.submit(std::move(job));
  };
  auto first = serving(c, rng, run_blocking);
  if (!first) return fail(first.error());
  log_command_shell(*(*first)->sessions);
  Current<Serving> current(*first);
  driver::ServerOptions options = server_options(c);
  // The backend of the start: a reload that changes [state] does not move them.
  share_penalties(options, (*first)->shared_state, c);
  driver::Server server(options, driver::ConnectionFactory([&current](driver::ConnectionContext& context,
                                                                      transport::Instant now) {
    std::string who = host_port(context.peer().address, context.peer().port);
    spdlog::info("{}: connection open", who);
    const auto s = current.get();
    return make_server_endpoint(s->transport, s->auth, s->sessions, rng, context, std::move(who), now);
  }));
  if (auto started = server.start(); !started) return fail({exit_runtime_error, started.error()});
  std::vector<crypto::PublicKey> public_keys;
  for (const auto& key : (*first)->transport->host_keys) public_keys.push_back(key.public_key());
  announce(options.address, server.port(), public_keys);
  log_capacity(options, open_descriptors(), "");
  notify_ready("serving");
  Config running = c;
  std::thread signal_waiter([&] {
    for (;;) {
      int sig = 0;
      sigwait(&signals, &sig);
      if (sig == SIGHUP) {
        reload(line, running, current, rng, run_blocking);
        continue;
      }
      spdlog::info("{}: stopping", strsignal(sig));
      notify_stopping();
      server.stop();
      return;
    }
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
}  // namespace parleyd

int main(int argc, char** argv) {
  CLI::App app{"parleyd: the parley SSH server"};
  parleyd::CommandLine line;
  parleyd::add_options(app, line);
  parleyd::TotpEnrollFlags totp_enroll;
  auto* totp_enroll_command = parleyd::add_totp_enroll_command(app, totp_enroll);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : parleyd::exit_usage;
  }
  auto settings = parleyd::merge_settings(line);
  if (!settings) return parleyd::fail({parleyd::exit_usage, settings.error()});
  if (line.check || line.dump) {
    if (const int status = parleyd::check(*settings); status != 0 || !line.dump) return status;
    std::cout << parleyd::dump_config(*settings);
    return 0;
  }
  if (totp_enroll_command->parsed())
    return parleyd::run_totp_enroll(
        totp_enroll,
        {settings->totp.users_oath.value_or(""), settings->totp.google_authenticator.value_or("")},
        settings->log_level.value_or(std::string(parleyd::default_log_level)), std::cout, std::cerr);
  return parleyd::run(line, *settings);
}

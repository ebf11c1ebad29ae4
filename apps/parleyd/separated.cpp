// A privilege-separated parleyd (issue 14): the root monitor, which holds the
// host keys and decides every authentication, and the unprivileged, confined
// network process, which parses every byte from the network. Each reloads on
// its side: the monitor on SIGHUP, the network process when the monitor sends
// it the configuration it accepted (privsep::Reconfigure).
#include "separated.hpp"

#include <pthread.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <thread>

#include "parley/driver/cpu_count.hpp"
#include "parley/driver/monitor_link.hpp"
#include "parley/driver/privsep_endpoint.hpp"
#include "parley/driver/worker_pool.hpp"
#include "parley/pam/pam_login.hpp"
#include "parley/privsep/executor.hpp"
#include "parley/privsep/monitor.hpp"
#include "parley/sandbox/sandbox.hpp"
#include "parley/userauth/server_text.hpp"
#ifdef PARLEY_NETWORK_PROBE
#include "network_probe.hpp"
#endif
#include "logging.hpp"
#include "reload.hpp"
#include "separation.hpp"
#include "serving.hpp"
#include "shared_penalties.hpp"

namespace parleyd {

namespace {

namespace crypto = parley::crypto;
namespace driver = parley::driver;
namespace privsep = parley::privsep;
namespace transport = parley::transport;

/// The monitor's view of parleyd's settings: host keys, authentication, policy.
class MonitorBackend final : public privsep::Backend {
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

/// sshd's UsePAM in the monitor: a connection's session programs run inside a
/// PAM login session (account, credentials, session), as in one process.
class PamLoginSession final : public privsep::LoginSession {
 public:
  explicit PamLoginSession(std::unique_ptr<parley::pam::PamLogin> login) : login_(std::move(login)) {}
  const std::vector<std::string>& environment() const override { return login_->environment(); }

 private:
  std::unique_ptr<parley::pam::PamLogin> login_;
};

privsep::OpenLoginSession open_pam_login(std::string service) {
  using Opened = std::expected<std::unique_ptr<privsep::LoginSession>, std::string>;
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


/// What the monitor serves new connections with, built whole at start and by
/// each reload.
struct MonitorSetup {
  std::shared_ptr<MonitorBackend> backend;
  privsep::ExecutorOptions exec;
  std::vector<parley::Bytes> public_keys;  // the host keys' blobs, for the network process
  bool command_shell = false;
  std::shared_ptr<parley::state::SharedState> shared_state;  // [state] backend = "redis"
};

/// The executor's options for sessions as `sessions` says they run.
privsep::ExecutorOptions executor_options(const BuiltAuth& built, const SessionSetup& sessions) {
  privsep::ExecutorOptions exec;
  exec.run_as = built.run_as;
  exec.login_records = true;
  exec.shell = sessions.process.shell;
  exec.sftp_server = sessions.process.sftp_server;  // empty: no sftp subsystem (--sftp-server '')
  exec.log = [](std::string_view line) { spdlog::info("monitor: {}", line); };
  // Opened in the monitor's loop: PAM's session modules are expected to be quick.
  if (!sessions.pam_service.empty()) exec.open_login = open_pam_login(sessions.pam_service);
  return exec;
}

std::expected<MonitorSetup, Failure> monitor_setup(const Config& c, crypto::Random& rng,
                                                   parley::userauth::BlockingRunner run_blocking) {
  auto config = transport_config(c, rng);
  if (!config) return std::unexpected(config.error());
  auto built = build_auth_config(c, true, rng, run_blocking);
  if (!built) return std::unexpected(Failure{exit_usage, built.error()});
  auto sessions = sessions_for(c, *built, run_blocking);
  MonitorSetup setup;
  for (const auto& key : config->host_keys) setup.public_keys.push_back(key.public_key().blob());
  setup.command_shell = sessions->command_shell;
  setup.shared_state = built->shared_state;
  setup.exec = executor_options(*built, *sessions);
  setup.backend = std::make_shared<MonitorBackend>(std::move(*config), built->config, sessions->policy);
  return setup;
}

/// The monitor's SIGHUP: builds a new MonitorSetup from the configuration as it
/// is now and, only if all of it is good, hands it to the monitor's loop and
/// the configuration text to the network process.
class MonitorReload {
 public:
  MonitorReload(const CommandLine& line, Config running, crypto::Random& rng,
                parley::userauth::BlockingRunner run_blocking)
      : line_(line), running_(std::move(running)), rng_(rng), run_blocking_(std::move(run_blocking)) {}

  /// On the signal thread; the loop applies it between frames.
  void operator()(driver::MonitorLoop& loop, privsep::Monitor& monitor, privsep::Executor& executor) {
    notify_reloading();
    std::optional<std::string> text;
    auto setup = prepare(text);
    if (!setup) {
      spdlog::error("reload refused; the configuration loaded before goes on serving: {}", setup.error());
      notify_ready("serving (reload refused)");
      return;
    }
    privsep::Reconfigure frame;
    frame.generation = ++generation_;
    frame.blobs = setup->public_keys;
    frame.with_settings = text.has_value();
    auto fd = std::make_shared<parley::UniqueFd>();
    if (text) {
      auto sealed = sealed_text(*text);
      if (!sealed) {
        spdlog::error("reload refused: {}", sealed.error());
        notify_ready("serving (reload refused)");
        return;
      }
      *fd = std::move(*sealed);
    }
    loop.post([&monitor, &executor, backend = setup->backend, exec = setup->exec, bytes = frame.encode(),
               fd]() -> std::optional<privsep::Outgoing> {
      monitor.replace_backend(backend);
      executor.replace_options(exec);
      privsep::Outgoing out{bytes, {}};
      if (fd->get() >= 0) out.fds.push_back(std::move(*fd));
      return out;
    });
    spdlog::info("configuration reloaded (generation {}): new connections follow it", generation_);
    notify_ready("serving");
  }

 private:
  std::expected<MonitorSetup, std::string> prepare(std::optional<std::string>& text) {
    if (!line_.config_file.empty()) {
      auto read = read_config_file(line_.config_file);
      if (!read) return std::unexpected(read.error().message());
      text = std::move(*read);
    }
    auto c = merge_settings(line_, text);
    if (!c) return std::unexpected(c.error());
    if (auto key = restart_only_change(running_, *c))
      return std::unexpected(*key + " changed, which a reload cannot apply: restart parleyd for it");
    auto setup = monitor_setup(*c, rng_, run_blocking_);
    if (!setup) return std::unexpected(setup.error().message);
    spdlog::set_level(spdlog::level::from_str(c->log_level.value_or(std::string(default_log_level))));
    running_ = std::move(*c);
    return std::move(*setup);
  }

  const CommandLine& line_;
  Config running_;
  crypto::Random& rng_;
  parley::userauth::BlockingRunner run_blocking_;
  std::uint64_t generation_ = 0;
};

/// The first frame to the network process: the public halves of the host keys.
bool send_host_keys(privsep::Channel& channel, const std::vector<parley::Bytes>& blobs) {
  privsep::HostKeys frame;
  frame.blobs = blobs;
  return channel.send(frame.encode()).has_value();
}

/// The root monitor: loads the secrets, then serves the network process until it is gone.
int run_monitor(const CommandLine& line, const Config& c, privsep::Channel channel, pid_t network) {
  static crypto::SystemRandom rng;
  sigset_t signals = block_stop_signals(Reload::on_sighup);
  sigaddset(&signals, SIGUSR2);  // the loop's end, to the signal waiter
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  static driver::WorkerPool password_pool(2, c.limits.max_queued_checks);
  auto run_blocking = [](std::function<void()> job) { return password_pool.submit(std::move(job)); };
  auto setup = monitor_setup(c, rng, run_blocking);
  if (!setup) return fail(setup.error());
  if (setup->command_shell) spdlog::info("demo as root: sessions are the built-in command shell");
  if (!send_host_keys(channel, setup->public_keys)) return fail({exit_runtime_error, "the network process is gone"});
  privsep::Executor executor(std::move(setup->exec));
  // The monitor serves as many connections as the network process may hold
  // (MonitorLimits' 4096 would refuse the rest with "internal error").
  privsep::MonitorLimits monitor_limits;
  monitor_limits.max_connections = server_options(c).max_connections;
  privsep::Monitor monitor(setup->backend, rng, monitor_limits);
  driver::MonitorLoop loop(std::move(channel), monitor,
                           [](const privsep::LogEvent& e) {
                             if (e.audit) return log_audit(*e.audit, e.peer);
                             spdlog::info("monitor: conn {}: {}", e.conn, e.text);
                           },
                           &executor);
  // Destroyed before the loop; the backend of the start, as in one process.
  auto penalty_relay = relay_penalties(setup->shared_state, c, loop, monitor);
  MonitorReload reload(line, c, rng, run_blocking);
  std::thread signal_waiter([&] {
    for (;;) {
      int sig = 0;
      sigwait(&signals, &sig);
      if (sig == SIGUSR2) return;  // the loop ended first
      if (sig == SIGHUP) {
        reload(loop, monitor, executor);
        continue;
      }
      spdlog::info("{}: stopping", strsignal(sig));
      notify_stopping();
      ::kill(network, SIGTERM);
      loop.stop();
      return;
    }
  });
  // The listening socket was bound before the fork: connections are taken from here on.
  notify_ready("serving");
  const bool gone = loop.run();
  if (gone) spdlog::info("the network process has gone: stopping");
  const auto checks = password_pool.stats();
  spdlog::info("checks queued at most {} at once (bound {}), {} refused", checks.high_water, checks.max_queued,
               checks.refused);
  pthread_kill(signal_waiter.native_handle(), SIGUSR2);
  signal_waiter.join();
  return gone ? exit_runtime_error : 0;
}

/// What the network process serves new connections with.
struct NetworkServing {
  driver::PrivsepConnectionSetup setup;
  std::shared_ptr<const SessionSetup> sessions;
};

/// The network process's serving from settings and the host keys' blobs.
std::expected<std::shared_ptr<const NetworkServing>, std::string> network_serving(
    const Config& c, const std::vector<parley::Bytes>& blobs) {
  auto config = std::make_shared<transport::TransportConfig>(server_algorithms(c));
  for (const auto& blob : blobs) {
    auto key = crypto::PublicKey::from_blob(blob);
    if (!key) return std::unexpected("a host key from the monitor does not parse");
    config->host_public_keys.push_back(std::move(*key));
  }
  auto sessions = sessions_for(c, BuiltAuth{}, {});
  // ssh -R below port 1024 is for root only (sshd's bind_permitted()): the
  // monitor decides, since only it can read the account database, so here it
  // passes on to it.
  auto setup = std::make_shared<SessionSetup>(*sessions);
  auto policy = std::make_shared<parley::session::ChannelPolicy>(*setup->policy);
  policy->may_bind_privileged_port = [](std::string_view) { return true; };
  setup->policy = std::move(policy);
  auto serving = std::make_shared<NetworkServing>();
  serving->setup = {config, {}, [](std::string_view line) { spdlog::info("{}", line); }};
  serving->setup.limits.login_grace = c.limits.login_grace_time;
  serving->sessions = std::move(setup);
  return serving;
}

/// A Reconfigure from the monitor, on the link's thread: the configuration it
/// accepted, merged with the command line as at start. Nothing changes on an error.
void reconfigure(const CommandLine& line, const privsep::Reconfigure& r, std::vector<parley::UniqueFd> fds,
                 Current<NetworkServing>& current) {
  std::optional<std::string> text;
  if (r.with_settings) {
    auto read = fds.size() == 1 ? read_text(fds[0].get(), std::size_t{1} << 20)
                                : std::unexpected(std::string("no configuration came with it"));
    if (!read) return spdlog::error("reload {}: {}", r.generation, read.error());
    text = std::move(*read);
  }
  auto c = merge_settings(line, text);
  if (!c) return spdlog::error("reload {}: {}", r.generation, c.error());
  auto serving = network_serving(*c, r.blobs);
  if (!serving) return spdlog::error("reload {}: {}", r.generation, serving.error());
  current.set(std::move(*serving));
  spdlog::set_level(spdlog::level::from_str(c->log_level.value_or(std::string(default_log_level))));
  spdlog::info("the network process follows the reloaded configuration (generation {})", r.generation);
}

/// The network process: public host keys from the monitor, then confined, then the server.
int run_network(CommandLine line, const Config& c, NetworkHalf half) {
  use_stderr_logging();
  auto first = half.channel.receive();
  auto keys = first ? privsep::HostKeys::decode(first->frame) : std::unexpected(privsep::ProtocolError::truncated);
  if (!keys) return fail({exit_runtime_error, "no host keys from the monitor"});
  auto serving = network_serving(c, keys->blobs);
  if (!serving) return fail({exit_runtime_error, serving.error()});
  Current<NetworkServing> current(std::move(*serving));
  static crypto::SystemRandom rng;
  // Reloads parse the configuration here, where the working directory is gone:
  // the file's own directory is the base of its relative paths, made absolute now.
  if (!line.config_file.empty()) line.config_file = std::filesystem::absolute(line.config_file).string();
  ::tzset();  // the log's local time, read before the root becomes empty
  static char stdout_buffer[BUFSIZ];  // stdio would size its own with fstat, later
  std::setvbuf(stdout, stdout_buffer, _IOLBF, sizeof stdout_buffer);
  sigset_t stop_signals = block_stop_signals(Reload::no);
  std::signal(SIGHUP, SIG_IGN);  // reloads come from the monitor
  // Everything that opens a descriptor is made before the sandbox closes in:
  // the link's and the server's event loops; their threads start after.
  driver::MonitorLink link(std::move(half.channel), [] { ::_exit(exit_runtime_error); });
  driver::ServerOptions options = server_options(c);
  options.listen_fd = half.listen_fd;
  send_penalties_to_monitor(options, c, link);
  // Counted now: the cgroup's quota is read from /sys, which the chroot hides.
  if (options.threads == 0) options.threads = driver::default_io_threads();
  driver::Server server(options, driver::ConnectionFactory([&](driver::ConnectionContext& context,
                                                               transport::Instant now) {
    std::string who = host_port(context.peer().address, context.peer().port);
    spdlog::info("{}: connection open", who);
    const auto now_serving = current.get();
    return make_separated_endpoint(link, now_serving->setup, now_serving->sessions, rng, context, std::move(who), now);
  }));
  link.set_control([&](privsep::Reply reply, std::vector<parley::UniqueFd> fds) {
    if (auto* r = std::get_if<privsep::Reconfigure>(&reply)) reconfigure(line, *r, std::move(fds), current);
    else if (auto* p = std::get_if<privsep::SharedPenalties>(&reply)) take_shared_penalties(server, *p);
  });
  const std::size_t open_at_start = open_descriptors();  // /proc is hidden once confined
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
  announce(options.address, server.port(), current.get()->setup.transport->host_public_keys);
  log_capacity(options, open_at_start, "the network process ");
  spdlog::info("network process confined as {} in {}", plan.account, plan.empty_dir.string());
#ifdef PARLEY_NETWORK_PROBE
  run_network_probe(monitor_pid);  // the test build only (parleyd_probe)
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

}  // namespace

int run_separated(const CommandLine& line, const Config& c) {
  const std::string address = c.listen.value_or(std::string(default_listen));
  const std::uint16_t port = c.port.value_or(default_port);
  return split_processes(
      address, port, [&](NetworkHalf half) { return run_network(line, c, std::move(half)); },
      [&](privsep::Channel channel, pid_t network) { return run_monitor(line, c, std::move(channel), network); },
      [](const std::string& message) { std::fprintf(stderr, "parleyd: %s\n", message.c_str()); },
      [](int wait_status) { spdlog::info("the network process {}", describe_wait_status(wait_status)); });
}

}  // namespace parleyd

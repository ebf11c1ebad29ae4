// parley: the parley SSH client, with ssh's options where it has them.
//
//   parley [-p port] [-l user] [-i key]... [-o Option=value]... [-v] [-t|-T] [user@]host
//   [command...]
//
// Secrets never come from the command line: the password from $PARLEY_PASSWORD
// or the file named by $PARLEY_PASSWORD_FILE, the TOTP secret (base32 or an
// otpauth:// URI) from $PARLEY_TOTP or $PARLEY_TOTP_FILE. Prompts nobody
// answers go to the terminal, or, without one (batch), get the seed's empty
// answer, and the failure says so. Keys come from -i / IdentityFile, ~/.ssh/id_*
// and the ssh-agent at $SSH_AUTH_SOCK (or IdentityAgent), in OpenSSH's order.
//
// main() is the script: parse the options, set up the terminal, verify the
// host, authenticate, run the session, turn its end into an exit status.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "client_run.hpp"
#include "config_dump.hpp"
#include "config_files.hpp"
#include "identities.hpp"
#include "options.hpp"
#include "parley/session/client_connection.hpp"
#include "parley/client/known_hosts.hpp"
#include "parley/client/responders.hpp"
#include "parley/userauth/server_text.hpp"
#include "parley/wire/text.hpp"
#include "parley/crypto/random.hpp"
#include "parley/driver/client_session.hpp"
#include "raw_terminal.hpp"
#include "secrets.hpp"

namespace {

namespace client = parley::client;
namespace otp = parley::otp;
namespace session = parley::session;
namespace userauth = parley::userauth;
namespace crypto = parley::crypto;
namespace driver = parley::driver;
namespace transport = parley::transport;
namespace connection = parley::connection;
namespace app = parley::app;

constexpr int exit_failure = 255;  // as ssh: connection or authentication error

[[noreturn]] void fail(const std::string& reason) {
  std::cerr << "parley: " << reason << "\n";
  std::exit(exit_failure);
}

/// What the local side offers: a terminal on stdin, someone to ask at /dev/tty.
struct Local {
  bool tty_in = false;
  bool can_ask = false;
};

/// The keyboard-interactive rounds' bookkeeping, for the failure's one line.
struct PromptCounts {
  std::shared_ptr<std::size_t> unanswered = std::make_shared<std::size_t>(0);
  std::shared_ptr<std::size_t> last_round_prompts = std::make_shared<std::size_t>(0);
};

void set_up_logging(const app::ClientOptions& options) {
  // Multi-threaded sink: nothing logs from another thread today, but a callback may.
  spdlog::set_default_logger(spdlog::stderr_color_mt("parley"));
  spdlog::set_level(options.log_level);
  for (const auto& name : options.ignored)
    spdlog::debug("option {} is not implemented by parley: ignored", name);
}

/// known_hosts under StrictHostKeyChecking, asking at the terminal when it may.
/// Under StrictHostKeyChecking=no a changed key is accepted, but, as in ssh, no
/// password or keyboard-interactive answer may go to whoever holds it. The
/// verifier runs during the key exchange, before authentication reads `aconfig`.
transport::HostKeyVerifier host_key_verifier(const app::ClientOptions& options, const Local& local,
                                             const std::shared_ptr<userauth::ClientAuthConfig>& aconfig,
                                             crypto::Random& rng) {
  client::HostKeyPolicy policy;
  policy.strict = options.strict_host_key_checking;
  policy.hash_new_entries = options.hash_known_hosts;
  policy.report = [](std::string_view line) { std::cerr << line << "\n"; };
  if (local.can_ask) {
    // OpenSSH's question, asked only about a host no file knows any key for.
    policy.ask = [](std::string_view question) -> std::optional<std::string> {
      client::TtyTerminal tty;
      tty.write(question);
      auto answer = tty.read_line(true);
      if (!answer) return std::nullopt;
      return std::string(parley::as_chars(answer->view()));
    };
  }
  policy.on_changed_key_accepted = [aconfig] {
    std::erase(aconfig->methods, std::string("password"));
    std::erase(aconfig->methods, std::string("keyboard-interactive"));
  };
  const app::Destination& d = options.destination;
  return client::known_hosts_verifier(options.known_hosts_files, d.host, d.port, std::move(policy),
                                    rng);
}

std::shared_ptr<transport::TransportConfig> transport_config(const app::ClientOptions& options,
                                                             transport::HostKeyVerifier verify) {
  auto config = std::make_shared<transport::TransportConfig>();
  config->role = transport::Role::client;
  config->verify_host_key = std::move(verify);
  config->algorithms = options.algorithms;
  // RekeyLimit: 0 keeps the transport's defaults; "none" for the time: no rekey by time.
  if (options.rekey_limit.bytes != 0) config->rekey_bytes = options.rekey_limit.bytes;
  if (options.rekey_limit.seconds != 0) config->rekey_interval = std::chrono::seconds(options.rekey_limit.seconds);
  if (options.rekey_limit.no_time) config->rekey_interval = std::chrono::hours(24 * 365 * 10);
  // As ssh: unless the user chose the order, the key types known_hosts holds
  // for this host come first, so the server shows the key we can check.
  if (!options.host_key_order_chosen)
    config->algorithms.host_key = client::order_host_key_algorithms(
        options.known_hosts_files, options.destination.host, options.destination.port,
        std::move(config->algorithms.host_key));
  return config;
}

/// A secret from $NAME or the file named by $NAME_FILE (its first line). The
/// variables are removed from our environment so no child inherits them.
std::optional<crypto::SecretBytes> secret_from_environment(const char* name) {
  std::optional<crypto::SecretBytes> secret;
  if (const char* v = std::getenv(name); v && *v) {
    secret = crypto::SecretBytes(parley::as_bytes(std::string_view(v)));
    ::unsetenv(name);
  }
  const std::string file_var = std::string(name) + "_FILE";
  if (const char* f = std::getenv(file_var.c_str()); !secret && f && *f) {
    std::ifstream in(f, std::ios::binary);
    if (!in) fail("cannot read " + std::string(f) + " (named by $" + file_var + ")");
    std::string line;
    std::getline(in, line);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    secret = crypto::SecretBytes(parley::as_bytes(line));
    crypto::secure_wipe(line.data(), line.size());
  }
  return secret;
}

/// The password method's answer: $PARLEY_PASSWORD once (a rejected password is
/// not replayed), then the terminal, up to three times, if there is one.
void answer_passwords(std::optional<crypto::SecretBytes> password, const Local& local,
                      userauth::ClientAuthConfig& aconfig) {
  auto saved = std::make_shared<std::optional<crypto::SecretBytes>>(std::move(password));
  aconfig.on_password_request = [saved, can_ask = local.can_ask](
                                    const userauth::PasswordRequest& request,
                                    userauth::ReplyTo<userauth::PasswordReply> reply) {
    if (*saved) {
      crypto::SecretBytes once(std::move(**saved));
      saved->reset();
      return reply(std::move(once));
    }
    if (!can_ask || request.attempt > 3) return reply(userauth::Decline{});
    client::TtyTerminal tty;
    tty.write(request.user + "@" + request.host.host + "'s password: ");
    auto typed = tty.read_line(false);
    tty.write("\n");
    if (!typed) return reply(userauth::Decline{});
    reply(std::move(*typed));
  };
}

/// Keyboard-interactive answers: $PARLEY_PASSWORD (by PasswordPromptRule),
/// $PARLEY_TOTP's codes, then the terminal if there is one.
PromptCounts answer_prompts(const std::optional<crypto::SecretBytes>& password,
                            std::optional<crypto::SecretBytes> totp_from_file, const app::ClientOptions& options,
                            const Local& local, userauth::ClientAuthConfig& aconfig) {
  std::optional<otp::TotpSecret> totp;
  auto t = secret_from_environment("PARLEY_TOTP");
  const bool from_file = !t && totp_from_file;
  if (from_file) t = std::move(totp_from_file);
  if (t) {
    auto parsed = otp::parse_totp_secret(parley::as_chars(t->view()));
    if (!parsed) fail((from_file ? "the secrets file's TOTP: " : "$PARLEY_TOTP: ") + parsed.error());
    totp = std::move(*parsed);
  }
  std::vector<userauth::ResponderPtr> chain;
  if (password)
    chain.push_back(options.password_prompt_rule == app::PasswordPromptRule::seed
                        ? client::seed_password(*password)
                        : client::saved_password(*password));
  if (totp) chain.push_back(client::totp(std::move(*totp)));
  if (local.can_ask) chain.push_back(client::terminal());
  PromptCounts counts;
  auto answer = userauth::user_info_callback(userauth::first_of(chain), counts.unanswered);
  aconfig.on_user_info_request = [answer, last = counts.last_round_prompts](
                                     const userauth::UserInfoRequest& request,
                                     userauth::ReplyTo<userauth::InfoReply> reply) {
    // Logged: the request's name and prompt count, never prompt text or answers.
    spdlog::debug("keyboard-interactive round {} ('{}'): {} prompt(s)", request.round,
                  userauth::sanitize_server_text(request.name, 64, false), request.prompts.size());
    *last = request.prompts.size();
    answer(request, std::move(reply));
  };
  return counts;
}

/// Authentication as the options say: methods, attempts, keys, answers, banner.
PromptCounts configure_authentication(const app::ClientOptions& options, const Local& local,
                                      userauth::ClientAuthConfig& aconfig) {
  aconfig.user = options.destination.user;
  aconfig.methods = options.auth_methods;
  if (options.max_attempts) aconfig.max_attempts = *options.max_attempts;
  // Without a terminal nothing can change between attempts (the saved password is
  // never replayed), so a second try could only fail again, slowly (a TOTP retry
  // waits for the next time step) and towards a lockout: one attempt each.
  if (!local.can_ask) aconfig.max_attempts = std::min<std::size_t>(aconfig.max_attempts, 1);
  app::offer_keys(options, aconfig);
  auto password = secret_from_environment("PARLEY_PASSWORD");
  // The secrets file (a path: every hop's parley reads it for its own host); the
  // environment's secrets, the destination's alone, come first.
  app::HostSecrets file;
  if (const char* path = std::getenv("PARLEY_SECRETS_FILE"); path && *path) {
    auto read = app::read_secrets(path, options.destination.host_arg);
    if (!read) fail(read.error());
    file = std::move(*read);
  }
  if (!password) password = std::move(file.password);
  PromptCounts counts = answer_prompts(password, std::move(file.totp), options, local, aconfig);
  answer_passwords(std::move(password), local, aconfig);
  aconfig.on_banner = [](std::string_view banner) {
    std::cerr << userauth::mark_server_text(userauth::sanitize_server_text(banner, 8192, true));
    if (!banner.empty() && banner.back() != '\n') std::cerr << "\n";
  };
  return counts;
}

/// As OpenSSH 10.1's WarnWeakCrypto: say so when the server could not agree a
/// post-quantum key exchange (shown at the default LogLevel, not under -q).
void report_key_exchange(session::ClientConnection& conn, bool warn_weak_crypto) {
  conn.on_transport = [warn_weak_crypto](const transport::Event& e) {
    auto* k = std::get_if<transport::KexDone>(&e);
    if (k == nullptr) return;
    spdlog::info("key exchange done: {}", transport::name(k->algorithms.kex));
    if (k->first && warn_weak_crypto &&
        k->algorithms.kex != transport::KexAlg::mlkem768x25519_sha256 &&
        spdlog::should_log(spdlog::level::warn)) {
      std::cerr << "** WARNING: connection is not using a post-quantum key exchange algorithm.\n"
                   "** This session may be vulnerable to \"store now, decrypt later\" attacks.\n"
                   "** The server may need to be upgraded. See https://openssh.com/pq.html\n";
    }
  };
}

/// The terminal to ask for: $TERM and our terminal's size.
connection::PtyRequest local_pty() {
  connection::PtyRequest pty;
  const char* term = std::getenv("TERM");
  pty.term = term ? term : "dumb";
  winsize ws{};
  if (::ioctl(0, TIOCGWINSZ, &ws) == 0 || ::ioctl(1, TIOCGWINSZ, &ws) == 0) {
    pty.cols = ws.ws_col;
    pty.rows = ws.ws_row;
    pty.width_px = ws.ws_xpixel;
    pty.height_px = ws.ws_ypixel;
  }
  return pty;
}

/// True if `name` matches one of SendEnv's patterns (fnmatch(3) globs, as ssh).
bool sent_by_pattern(const std::vector<std::string>& patterns, const std::string& name) {
  return std::ranges::any_of(
      patterns, [&](const std::string& p) { return parley::wire::glob_match(p, name); });
}

/// Our variables SendEnv picks, then SetEnv's.
std::vector<connection::EnvRequest> environment_to_send(const app::ClientOptions& options) {
  std::vector<connection::EnvRequest> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry(*e);
    const auto eq = entry.find('=');
    if (eq == std::string::npos || eq == 0) continue;
    std::string name = entry.substr(0, eq);
    if (sent_by_pattern(options.send_env, name))
      env.push_back({std::move(name), entry.substr(eq + 1)});
  }
  env.insert(env.end(), options.set_env.begin(), options.set_env.end());
  return env;
}

/// `s` in single quotes for /bin/sh.
std::string shell_quoted(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

/// ProxyJump as ssh turns it into a ProxyCommand: this program again, logging in
/// to the last hop (through the hops before it, its own -J) and forwarding its
/// standard input and output to the destination (-W). Each hop checks its own host
/// key and authenticates on its own; -F and -v go along.
std::string jump_command(const app::ClientOptions& o) {
  std::error_code ec;
  std::string self = std::filesystem::read_symlink("/proc/self/exe", ec).string();
  if (ec || self.empty()) self = "parley";
  const app::Jump& j = *o.jump;
  std::string cmd = shell_quoted(self);
  if (!j.user.empty()) cmd += " -l " + shell_quoted(j.user);
  if (!j.port.empty()) cmd += " -p " + shell_quoted(j.port);
  if (!j.earlier.empty()) cmd += " -J " + shell_quoted(j.earlier);
  if (o.config_file) cmd += " -F " + shell_quoted(*o.config_file);
  if (o.verbose > 0) cmd += " -" + std::string(static_cast<std::size_t>(std::min(o.verbose, 3)), 'v');
  cmd += " -W " + shell_quoted("[" + o.destination.host + "]:" + std::to_string(o.destination.port));
  return cmd + " " + shell_quoted(j.host);
}

driver::ClientSessionOptions session_options(const app::ClientOptions& options, const Local& local,
                                             app::RawTerminal& terminal) {
  driver::ClientSessionOptions session;
  session.command = options.command;
  const bool want_tty = session.open_session && !session.subsystem &&
                       options.request_tty.value_or(options.command.empty() && local.tty_in);
  if (want_tty) session.pty = local_pty();
  session.env = environment_to_send(options);
  session.tcp_keepalive = options.tcp_keepalive;
  session.proxy_command = options.jump ? jump_command(options) : options.proxy_command;
  if (options.stdio_forward)
    session.stdio_forward = driver::StdioForward{options.stdio_forward->host, options.stdio_forward->port};
  session.connection_attempts = options.connection_attempts;
  session.open_session = options.session_type != app::SessionType::none;
  session.subsystem = options.session_type == app::SessionType::subsystem;
  const app::Forwarding& f = options.forwarding;
  session.forwarding = {f.local, f.remote, f.dynamic, f.exit_on_failure, f.gateway_ports};
  // Keystrokes go to the remote terminal as typed, but only once the session
  // starts: authentication prompts are read in the terminal's own mode.
  if (want_tty && local.tty_in) session.on_session_start = [&terminal] { terminal.make_raw(); };
  return session;
}

/// ssh's exit status: the remote command's, or 255 with one line saying why not.
int exit_status(const driver::ClientSessionResult& result, const PromptCounts& counts,
                const Local& local) {
  if (!result.error.empty()) {
    std::string reason = result.error;
    if (*counts.unanswered > 0)
      reason += " (server asked " + std::to_string(*counts.last_round_prompts) + " question" +
                (*counts.last_round_prompts == 1 ? "" : "s") + "; " +
                std::to_string(*counts.unanswered) + " had no answer" +
                (local.can_ask ? "" : " (batch mode)") + ")";
    fail(reason);
  }
  if (result.exit_signal) {
    std::cerr << "parley: remote command killed by signal " << result.exit_signal->name << "\n";
    return exit_failure;
  }
  return result.exit_status ? static_cast<int>(*result.exit_status) : exit_failure;
}

}  // namespace

int parley::app::run_client(const app::ClientOptions& options, const SessionAdjust& adjust,
                            const connection::ChannelLimits& limits) {
  set_up_logging(options);

  // From here on the terminal is put back as it is now on every way out (a
  // signal included), also while a password is read without echo.
  const Local local{::isatty(0) != 0,
                    !options.batch_mode && ::access("/dev/tty", R_OK | W_OK) == 0};
  app::RawTerminal terminal(0);
  static crypto::SystemRandom rng;

  auto aconfig = std::make_shared<userauth::ClientAuthConfig>();
  auto tconfig = transport_config(options, host_key_verifier(options, local, aconfig, rng));
  const PromptCounts counts = configure_authentication(options, local, *aconfig);

  const app::Destination& d = options.destination;
  session::ClientConnection conn(tconfig, aconfig, d.host, d.port, rng, transport::Clock::now(), limits);
  conn.set_server_alive(options.server_alive);
  report_key_exchange(conn, options.warn_weak_crypto);
  driver::ClientSessionOptions session = session_options(options, local, terminal);
  if (adjust) adjust(session);
  auto result = driver::run_session(d.host, d.port, conn, session, options.connect_timeout);
  terminal.restore();
  return exit_status(result, counts, local);
}

int main(int argc, char** argv) {
  if (argc > 1 && std::string_view(argv[1]) == "cp") return app::copy_main(argc - 1, argv + 1);
  const auto parsed = app::parse_client_options(argc, argv, app::system_config_environment());
  if (!parsed) {
    if (!parsed.error().message.empty()) fail(parsed.error().message);
    return parsed.error().exit_code;  // CLI11 has printed its help or usage error
  }
  if (parsed->dump_config) {  // -G: as ssh -G, print and connect nowhere
    app::print_config(*parsed, std::cout);
    return 0;
  }
  return app::run_client(*parsed, nullptr);
}

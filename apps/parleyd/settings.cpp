// The command line's options (one table) and merge_settings(), which puts
// them over the configuration file.
#include "settings.hpp"

#include <CLI/CLI.hpp>
#include <type_traits>
#include <utility>
#include <variant>

#include "parley/login/account.hpp"

namespace parleyd {

namespace {

namespace transport = parley::transport;

/// The CommandLine field an option fills.
using Field = std::variant<std::string CommandLine::*, std::optional<std::string> CommandLine::*,
                           std::vector<std::string> CommandLine::*, bool CommandLine::*,
                           std::optional<bool> CommandLine::*,
                           std::optional<std::uint16_t> CommandLine::*,
                           std::optional<unsigned> CommandLine::*,
                           std::optional<std::size_t> CommandLine::*>;

/// One option of the table below.
struct OptionSpec {
  const char* name;
  Field field;
  const char* help;
  const char* type_name = nullptr;
  const char* shown_default = nullptr;  // the built-in value, for --help
  std::optional<CLI::Validator> check = std::nullopt;
};

/// Every option of parleyd, one per line.
const std::vector<OptionSpec>& option_table() {
  using C = CommandLine;
  // clang-format off
  static const std::vector<OptionSpec> table = {
      {"--listen", &C::listen, "Address to listen on", nullptr, "127.0.0.1"},
      {"--port", &C::port, "TCP port (0: any free port)", nullptr, "2222"},
      {"--host-key", &C::host_keys, "OpenSSH private key file (repeatable; default: STATE_DIR/ssh_host_ed25519_key)", "FILE"},
      {"--state-dir", &C::state_dir, "State directory (default: $STATE_DIRECTORY, $XDG_STATE_HOME/parleyd or ~/.local/state/parleyd)", "DIR"},
      {"-t,--check", &C::check, "Check the configuration and the files it names (host keys, passwords, TOTP secrets, authorized_keys patterns) as a start would, then exit: status 0 and nothing printed when parleyd could serve with it, else the error (FILE:LINE for the configuration file); writes nothing"},
      {"-T,--dump-config", &C::dump, "Print the effective configuration (the file and the flags merged, built-in defaults filled in) as TOML and exit, after the checks of --check"},
      {"--demo", &C::demo, "The Higher or Lower demo: the question lets in admin (or the --user accounts); as root its sessions are the built-in command shell"},
      {"--privilege-separation,!--no-privilege-separation", &C::privilege_separation, "As root (the default there): parse network bytes in an unprivileged, sandboxed process and decide in a root monitor; --no-privilege-separation runs one root process (for measurement and debugging; see docs/privilege-separation.md)"},
      {"--password-file", &C::password_file, "File of user:hash lines (crypt(3) hashes as mkpasswd writes them); enables password and keyboard-interactive password logins instead of the demo challenge", "FILE"},
      {"--authorized-keys", &C::authorized_keys, "authorized_keys file for publickey logins; %u is the user name, %h the home directory (e.g. %h/.ssh/authorized_keys)", "PATTERN"},
      {"--auth-methods", &C::auth_methods, "Required methods as OpenSSH's AuthenticationMethods, one alternative per use: e.g. publickey,keyboard-interactive:higher-or-lower", "LIST"},
      {"--user", &C::users, "An account for methods without a user database (repeatable)", "NAME"},
      {"--totp-users-oath", &C::totp_users_oath, "TOTP secrets for keyboard-interactive:totp in pam_oath's users.oath file"},
      {"--totp-google-authenticator", &C::totp_google_authenticator, "TOTP secrets in per-user google-authenticator files; %h home, %u user (e.g. %h/.google_authenticator)"},
      {"--totp-window", &C::totp_window, "TOTP time steps accepted on each side of the current one (default 1)", nullptr, nullptr, CLI::Range(0, 10)},
      {"--pam-service", &C::pam_service, "PAM service for keyboard-interactive (/etc/pam.d/NAME); also what plain keyboard-interactive uses when there is no password file"},
      {"--session-user", &C::session_user, "As root: the unprivileged account sessions of virtual users (password-file names that are not accounts of this system) run as", "NAME"},
      {"--permit-root-login", &C::permit_root_login, "Logins of uid 0 as OpenSSH's PermitRootLogin: no, prohibit-password (publickey only) or yes", nullptr, "prohibit-password", CLI::IsMember({"no", "prohibit-password", "without-password", "yes"})},
      {"--banner", &C::banner, "Text shown to clients before authentication"},
      {"--max-auth-tries", &C::max_auth_tries, "Failed authentication attempts before disconnect (default 6)", nullptr, nullptr, CLI::Range(1, 100)},
      {"--login-grace-time", &C::login_grace_time, "Seconds to complete authentication (default 120)", nullptr, nullptr, CLI::Range(1, 3600)},
      {"--max-startups", &C::max_startups, "Unauthenticated connections as sshd's MaxStartups start:rate:full (default 10:30:100)", "S:R:F"},
      {"--per-source-max-startups", &C::per_source_max_startups, "Unauthenticated connections per source netblock (default: no limit)", nullptr, nullptr, CLI::Range(1, 1000000)},
      {"--per-source-netblock-size", &C::per_source_netblock_size, "Prefix lengths grouping addresses into a source, V4[:V6] (default 32:128)", "V4:V6"},
      {"--per-source-penalties", &C::per_source_penalties, "sshd's PerSourcePenalties, e.g. 'authfail:5 noauth:1 min:15' or 'no' (default crash:90 authfail:5 noauth:1 grace-exceeded:10 max:600 min:15)", "LIST"},
      {"--max-checks-per-connection", &C::max_checks_per_connection, "Password/TOTP checks one connection may have queued or running (default 1)", nullptr, nullptr, CLI::Range(1, 16)},
      {"--max-queued-checks", &C::max_queued_checks, "Password/TOTP checks waiting for a worker, all connections (default 1024)", nullptr, nullptr, CLI::Range(1, 1000000)},
      {"--shell", &C::shell, "Shell for sessions (default: the login shell of this user)", "PATH"},
      {"--sftp-server", &C::sftp_server, "Program for the sftp subsystem (default /usr/lib/openssh/sftp-server; '' disables)", "PATH"},
      {"--accept-env", &C::accept_env, "Variables clients may set, as patterns (repeatable; default LANG and LC_*)", "PATTERN"},
      {"--max-sessions", &C::max_sessions, "Sessions per connection (default 10)", nullptr, nullptr, CLI::Range(1, 1000)},
      {"--allow-tcp-forwarding", &C::allow_tcp_forwarding, "no, local (ssh -L/-W), remote (ssh -R) or yes; 'config' leaves the file's setting", nullptr, "no", CLI::IsMember({"no", "local", "remote", "yes", "config"})},
      {"--permit-open", &C::permit_open, "Destinations ssh -L/-W may reach, HOST:PORT with patterns and * (repeatable; default any)", "HOST:PORT"},
      {"--permit-listen", &C::permit_listen, "Addresses ssh -R may listen on, HOST:PORT (repeatable; default any)", "HOST:PORT"},
      {"--gateway-ports", &C::gateway_ports, "Let ssh -R listeners bind the address the client asks for (default: loopback)"},
      {"--config", &C::config_file, "TOML configuration file (see docs/parleyd.conf.example); flags override it", "FILE"},
      {"--threads", &C::threads, "I/O threads (0: one per CPU this process may use: its affinity mask, capped by its cgroup CPU quota)", nullptr, "0"},
      {"--log-level", &C::log_level, "trace, debug, info, warn or error", nullptr, "info", CLI::IsMember({"trace", "debug", "info", "warn", "error"})},
      {"--kex", &C::kex, "Key exchange algorithms, comma-separated, preferred first", "LIST"},
      {"--ciphers", &C::ciphers, "Ciphers, comma-separated", "LIST"},
      {"--macs", &C::macs, "MACs, comma-separated", "LIST"},
      {"--host-key-algorithms", &C::host_key_algorithms, "Host key signature algorithms, comma-separated", "LIST"},
  };
  // clang-format on
  return table;
}

CLI::Option* add_option(CLI::App& app, CommandLine& line, const OptionSpec& spec) {
  return std::visit(
      [&](auto field) {
        auto& target = line.*field;
        using T = std::decay_t<decltype(target)>;
        if constexpr (std::is_same_v<T, std::optional<bool>>)
          // "--a,!--no-a": CLI11 passes +1 per --a and -1 per --no-a, summed.
          return app.add_flag_function(
              spec.name, [&target](std::int64_t count) { target = count > 0; }, spec.help);
        else if constexpr (std::is_same_v<T, bool>)
          return app.add_flag(spec.name, target, spec.help);
        else
          return app.add_option(spec.name, target, spec.help);
      },
      spec.field);
}

// Merging, one concern at a time. Each puts what the command line gave over
// `config`; an error is a usage error to print.
using Merged = std::expected<void, std::string>;

/// An algorithm list flag in sshd_config's syntax against `current` (the
/// file's list, or the defaults): "+a" adds, "-a" removes, "^a" puts first.
template <class T, class Parse>
Merged merge_list(const std::optional<std::string>& flag, std::string_view option,
                  std::string_view what, Parse parse, const std::vector<T>& defaults,
                  std::optional<std::vector<T>>& target) {
  if (!flag) return {};
  std::string bad;
  auto parsed = transport::apply_list_syntax(target.value_or(defaults), *flag, parse, &bad);
  if (!parsed)
    return std::unexpected(bad.empty() ? "malformed list for " + std::string(option) + ": '" +
                                             *flag + "'"
                                       : "unknown " + std::string(what) + " '" + bad + "' in " +
                                             std::string(option));
  if (parsed->empty())
    return std::unexpected(std::string(option) + " must name at least one algorithm");
  target = std::move(*parsed);
  return {};
}

Merged merge_algorithms(const CommandLine& line, Config& config) {
  using P = transport::AlgorithmPreferences;
  const P defaults;
  auto merged = merge_list(line.kex, "--kex", "key exchange algorithm", &P::parse_kex,
                           defaults.kex, config.kex);
  if (merged)
    merged = merge_list(line.host_key_algorithms, "--host-key-algorithms", "host key algorithm",
                        &P::parse_host_key, defaults.host_key, config.host_key_algorithms);
  if (merged)
    merged = merge_list(line.ciphers, "--ciphers", "cipher", &P::parse_ciphers, defaults.ciphers,
                        config.ciphers);
  if (merged)
    merged = merge_list(line.macs, "--macs", "MAC", &P::parse_macs, defaults.macs, config.macs);
  return merged;
}

/// A flag's value over the file's, where the flag was given.
template <class T, class U>
void over(const std::optional<T>& flag, std::optional<U>& target) {
  if (flag) target = *flag;
}

template <class T>
void over(const std::vector<T>& flag, std::vector<T>& target) {
  if (!flag.empty()) target = flag;
}

/// A path pattern flag, checked as the file's are.
Merged merge_pattern(const std::optional<std::string>& flag, std::string_view option,
                     std::optional<std::string>& target) {
  if (!flag) return {};
  if (auto problem = path_pattern_problem(*flag))
    return std::unexpected(std::string(option) + ": " + *problem);
  target = *flag;
  return {};
}

void merge_server(const CommandLine& line, Config& config) {
  over(line.listen, config.listen);
  over(line.port, config.port);
  over(line.host_keys, config.host_keys);
  over(line.state_dir, config.state_dir);
  over(line.log_level, config.log_level);
  over(line.threads, config.threads);
  over(line.banner, config.banner);
  if (line.demo) config.demo = true;
  over(line.privilege_separation, config.privilege_separation);
}

Merged merge_auth(const CommandLine& line, Config& config) {
  over(line.password_file, config.password_file);
  if (auto merged = merge_pattern(line.authorized_keys, "--authorized-keys", config.authorized_keys);
      !merged)
    return merged;
  over(line.users, config.users);
  over(line.session_user, config.session.session_user);
  if (line.permit_root_login) {
    config.permit_root_login = parley::login::parse_root_login(*line.permit_root_login);
    if (!config.permit_root_login)  // CLI11 checked it already
      return std::unexpected("--permit-root-login: unknown value '" + *line.permit_root_login + "'");
  }
  over(line.pam_service, config.pam.service);
  over(line.totp_window, config.totp.window);
  if (line.max_auth_tries) config.limits.max_auth_tries = *line.max_auth_tries;
  if (line.login_grace_time) config.limits.login_grace_time = std::chrono::seconds(*line.login_grace_time);
  if (line.totp_users_oath || line.totp_google_authenticator) {
    // Either flag names the store: the file's (either kind) is dropped.
    config.totp.users_oath = line.totp_users_oath;
    config.totp.google_authenticator.reset();
    if (auto merged = merge_pattern(line.totp_google_authenticator, "--totp-google-authenticator",
                                    config.totp.google_authenticator);
        !merged)
      return merged;
  }
  if (line.auth_methods.empty()) return {};
  config.methods.clear();
  for (const auto& text : line.auth_methods) {
    auto chain = parse_chain(text);
    if (!chain) return std::unexpected("--auth-methods: " + chain.error() + " in '" + text + "'");
    config.methods.push_back(std::move(*chain));
  }
  return {};
}

/// A permit list flag, each entry checked as the file's are.
Merged merge_permits(const std::vector<std::string>& flag, std::string_view option,
                     std::uint32_t low_port, std::optional<std::vector<std::string>>& target) {
  if (flag.empty()) return {};
  for (const auto& entry : flag)
    if (auto parsed = parse_permit(entry, low_port); !parsed)
      return std::unexpected(std::string(option) + ": " + parsed.error() + " in '" + entry + "' " +
                             permit_syntax(low_port));
  target = flag;
  return {};
}

Merged merge_sessions(const CommandLine& line, Config& config) {
  auto& session = config.session;
  over(line.shell, session.shell);
  over(line.sftp_server, session.sftp_server);
  if (!line.accept_env.empty()) session.accept_env = line.accept_env;
  over(line.max_sessions, session.max_sessions);
  auto& forwarding = config.forwarding;
  // Without --config the flag's default ("no") is what ChannelPolicy does anyway.
  if (line.allow_tcp_forwarding && *line.allow_tcp_forwarding != "config") {
    const std::string& allow = *line.allow_tcp_forwarding;
    forwarding.local = allow == "yes" || allow == "local";
    forwarding.remote = allow == "yes" || allow == "remote";
  }
  if (line.gateway_ports) forwarding.gateway_ports = true;
  auto merged = merge_permits(line.permit_open, "--permit-open", 1, forwarding.permit_open);
  if (merged) merged = merge_permits(line.permit_listen, "--permit-listen", 0, forwarding.permit_listen);
  return merged;
}

Merged merge_limits(const CommandLine& line, Limits& limits) {
  if (line.max_startups) {
    auto m = parley::driver::parse_max_startups(*line.max_startups);
    if (!m) return std::unexpected("--max-startups: " + m.error());
    limits.max_startups = *m;
  }
  if (line.per_source_netblock_size) {
    auto n = parley::driver::parse_netblock_size(*line.per_source_netblock_size);
    if (!n) return std::unexpected("--per-source-netblock-size: " + n.error());
    limits.per_source_netblock4 = n->first;
    limits.per_source_netblock6 = n->second;
  }
  if (line.per_source_penalties) {
    // As sshd_config: keys not named keep their value (the file's or the default).
    auto p = parley::driver::parse_penalties(*line.per_source_penalties, limits.per_source_penalties);
    if (!p) return std::unexpected("--per-source-penalties: " + p.error());
    limits.per_source_penalties = *p;
  }
  if (line.per_source_max_startups) limits.per_source_max_startups = *line.per_source_max_startups;
  if (line.max_checks_per_connection) limits.max_checks_per_connection = *line.max_checks_per_connection;
  if (line.max_queued_checks) limits.max_queued_checks = *line.max_queued_checks;
  return {};
}

}  // namespace

void add_options(CLI::App& app, CommandLine& line) {
  for (const auto& spec : option_table()) {
    CLI::Option* option = add_option(app, line, spec);
    if (spec.type_name) option->type_name(spec.type_name);
    if (spec.shown_default) option->default_str(spec.shown_default);
    if (spec.check) option->check(*spec.check);
  }
  app.get_option("--host-key")->allow_extra_args(false);
  app.get_option("--totp-google-authenticator")->excludes("--totp-users-oath");
  app.get_option("--demo")->excludes("--password-file")->excludes("--authorized-keys")->excludes(
      "--auth-methods");
}

std::expected<Config, std::string> merge_settings(const CommandLine& line) {
  std::optional<std::string> text;
  if (!line.config_file.empty()) {
    auto read = read_config_file(line.config_file);
    if (!read) return std::unexpected(read.error().message());
    text = std::move(*read);
  }
  return merge_settings(line, text);
}

std::expected<Config, std::string> merge_settings(const CommandLine& line,
                                                  const std::optional<std::string>& file_text) {
  Config config;
  if (!line.config_file.empty() && file_text) {
    auto loaded = parse_config(*file_text, line.config_file);
    if (!loaded) return std::unexpected(loaded.error().message());
    config = std::move(*loaded);
  }
  merge_server(line, config);
  Merged merged = merge_algorithms(line, config);
  if (merged) merged = merge_auth(line, config);
  if (merged) merged = merge_sessions(line, config);
  if (merged) merged = merge_limits(line, config.limits);
  if (!merged) return std::unexpected(merged.error());
  return config;
}

}  // namespace parleyd

// parley's command line as one typed value: ssh's flags (-p -l -i -o -v -t -T),
// the destination and the command, and the -o Key=Value options (ssh_config(5)
// names, case-insensitive), parsed and checked once. Nothing after
// parse_client_options() reads an option string again.
#pragma once

#include <spdlog/common.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "parley/client/forwards.hpp"
#include "parley/client/known_hosts.hpp"
#include "parley/client/ssh_config.hpp"
#include "parley/connection/session.hpp"
#include "parley/session/client_connection.hpp"
#include "parley/transport/algorithms.hpp"

namespace parley::app {

/// ProxyJump: the hop the proxy command logs in to, and the hops before it.
struct Jump {
  std::string user, host, port;  // user and port may be empty
  std::string earlier;           // "a,b": the proxy command's own -J
};

struct StdioForward {
  std::string host;
  std::uint16_t port = 0;
};

/// Where to connect and as whom: -l over user@ over User (then the local user);
/// -p over Port (the first Port given wins, as ssh_config's first value), then 22.
struct Destination {
  std::string user;
  /// Where parley connects and the name known_hosts knows it by: HostName (its
  /// %h expanded) or the host as typed, lower-cased unless an address.
  std::string host;
  std::uint16_t port = 22;
  /// The host as typed (ssh's host_arg): what Host patterns match.
  std::string host_arg;
};

/// -L, -R, -D and the options that govern them, as ssh keeps them: the command
/// line's first, then the files' (every line adds one; repeats count once).
struct Forwarding {
  std::vector<client::Forward> local, remote, dynamic;
  bool exit_on_failure = false;  // ExitOnForwardFailure
  bool gateway_ports = false;    // GatewayPorts: -L/-D without an address listen on every one
  bool cleared = false;          // ClearAllForwardings (or -W): none of them
};

/// SessionType (-N: none): a session runs the command or shell, a subsystem
/// (the command names it), or nothing at all (forwarding only).
enum class SessionType : std::uint8_t { session, subsystem, none };

/// PasswordPromptRule (parley's own): how $PARLEY_PASSWORD answers prompts.
enum class PasswordPromptRule : std::uint8_t {
  saved,  // only prompts that ask for a password
  seed,   // every prompt (the seed's rule)
};

struct ClientOptions {
  Destination destination;
  /// The remote command (its words joined by spaces); empty: a shell.
  std::string command;

  /// -v over LogLevel; warn by default (ssh's INFO shows what parley logs at warn).
  spdlog::level::level_enum log_level = spdlog::level::warn;
  /// ssh options given that parley accepts and ignores (lower-cased).
  std::vector<std::string> ignored;
  /// -G: print the configuration as `ssh -G` does and exit.
  bool dump_config = false;
  /// Every option line that applied, command line first (what -G prints from).
  client::ssh_config::Settings settings;
  /// -v given (its count): -G prints the log level ssh's -v would set.
  int verbose = 0;
  /// BatchMode: never ask at the terminal.
  bool batch_mode = false;

  // ---- the server's host key
  /// UserKnownHostsFile, then the GlobalKnownHostsFile files, `~/` expanded.
  std::vector<std::filesystem::path> known_hosts_files;
  client::StrictHostKeyChecking strict_host_key_checking = client::StrictHostKeyChecking::ask;
  bool hash_known_hosts = false;
  /// KexAlgorithms, HostKeyAlgorithms, Ciphers, MACs applied to the defaults.
  transport::AlgorithmPreferences algorithms;
  /// HostKeyAlgorithms set the order (a list, or ^list): known_hosts does not reorder it.
  bool host_key_order_chosen = false;
  /// WarnWeakCrypto: warn when the exchange is not post-quantum.
  bool warn_weak_crypto = true;

  // ---- authentication
  /// PreferredAuthentications less the methods switched off (PubkeyAuthentication=no, ...).
  std::vector<std::string> auth_methods;
  /// NumberOfPasswordPrompts.
  std::optional<std::size_t> max_attempts;
  /// -i files then IdentityFile ones, or ssh's default files; `~/` expanded.
  std::vector<std::filesystem::path> identity_files;
  /// The same as written (-i's with '~' expanded, IdentityFile's as they are), for -G.
  std::vector<std::string> identity_files_written;
  /// The files were named (-i, IdentityFile): one that cannot be used is reported.
  bool identity_files_named = false;
  bool identities_only = false;
  /// The agent's socket (IdentityAgent, by default $SSH_AUTH_SOCK); empty: no agent.
  std::string agent_socket;
  PasswordPromptRule password_prompt_rule = PasswordPromptRule::saved;

  // ---- the session
  /// -t/-T over RequestTTY; nullopt (auto): a terminal for a shell on a terminal.
  std::optional<bool> request_tty;
  /// SendEnv patterns (LANG when none is given), SetEnv assignments.
  std::vector<std::string> send_env;
  std::vector<connection::EnvRequest> set_env;
  /// ConnectTimeout bounds connecting and authenticating (60 s by default).
  std::chrono::milliseconds connect_timeout = std::chrono::seconds(60);
  /// ServerAliveInterval (0: none) and ServerAliveCountMax (3).
  session::ServerAlive server_alive;
  /// -W host:port: standard input and output to a direct-tcpip channel.
  std::optional<StdioForward> stdio_forward;
  /// ProxyCommand: the command (tokens expanded) whose standard input and output
  /// carry the connection instead of TCP; empty: none. As written, for -G.
  std::string proxy_command;
  std::string proxy_command_written;
  /// ProxyJump (main builds the proxy command from it: parley -W through the jump).
  std::optional<Jump> jump;
  std::string jump_written;
  std::optional<std::string> config_file;  // -F, for the jump's own parley
  bool tcp_keepalive = true;         // TCPKeepAlive
  unsigned connection_attempts = 1;  // ConnectionAttempts
  Forwarding forwarding;
  SessionType session_type = SessionType::session;
  /// RekeyLimit as written (0: parley's default, 1 GiB and an hour).
  client::ssh_config::RekeyLimit rekey_limit;
};

/// Why the command line cannot run. An empty message: CLI11 already printed
/// its help or usage error; otherwise the line to show after "parley: ".
struct OptionsError {
  std::string message;
  int exit_code = 255;
};

/// What parse_client_options() reads besides argv: the configuration files'
/// world (config_files.hpp gives the real one; tests give files in memory).
struct ConfigEnvironment {
  client::ssh_config::Files files;  // exec is set only under --allow-match-exec
  std::string local_user;
  std::string home;
  std::string local_host;
  std::string uid;
  std::string system_config = "/etc/ssh/ssh_config";
  /// Lets Match exec run (the caller's --allow-match-exec gave it a shell).
  std::function<std::expected<int, std::string>(const std::string&)> shell;
};

/// The forwards, ExitOnForwardFailure, GatewayPorts, ClearAllForwardings and
/// SessionType of `settings` (forward_options.cpp); errors name the file and line.
std::expected<void, std::string> resolve_forwarding(const client::ssh_config::Settings& settings,
                                                    ClientOptions& out);

/// Parses and checks parley's arguments (argv[0] is the program) and the
/// ssh_config files (-F FILE, -F none, or ~/.ssh/config then the system file),
/// through `env`. Reads $SSH_AUTH_SOCK (or IdentityAgent's $VAR) and the
/// ${VAR}s ssh expands.
std::expected<ClientOptions, OptionsError> parse_client_options(int argc, const char* const* argv,
                                                                const ConfigEnvironment& env);

}  // namespace parley::app

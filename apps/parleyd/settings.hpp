// parleyd's settings: the command line (CLI11) over the configuration file
// (toml++), merged by merge_settings() into one Config. Everything downstream
// reads that Config; nothing re-parses a flag or a key.
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config.hpp"

namespace CLI {
class App;
}

namespace parleyd {

/// What the command line said, as given: nullopt, empty or false where it
/// said nothing (a repeatable option is given when it has a value).
struct CommandLine {
  std::string config_file;  // --config; empty: none
  std::optional<std::string> listen;
  std::optional<std::uint16_t> port;
  std::vector<std::string> host_keys;
  std::optional<std::string> state_dir;
  bool demo = false;
  /// -t: check the configuration and what it names, then exit (as sshd -t).
  bool check = false;
  /// -T: print the effective configuration and exit (as sshd -T).
  bool dump = false;
  /// --privilege-separation (true) or --no-privilege-separation (false).
  std::optional<bool> privilege_separation;
  std::optional<unsigned> threads;
  std::optional<std::string> log_level;
  std::optional<std::string> banner;
  // Algorithm lists in sshd_config's syntax ("+a", "-a", "^a" or a list).
  std::optional<std::string> kex, ciphers, macs, host_key_algorithms;
  // Authentication.
  std::optional<std::string> password_file;
  std::optional<std::string> authorized_keys;  // a path pattern
  std::vector<std::string> auth_methods;       // chains, "step,step"
  std::vector<std::string> users;
  std::optional<std::string> permit_root_login;
  std::optional<std::string> session_user;
  std::optional<std::string> totp_users_oath, totp_google_authenticator;
  std::optional<unsigned> totp_window;
  std::optional<std::string> pam_service;
  std::optional<std::size_t> max_auth_tries;
  std::optional<unsigned> login_grace_time;  // seconds
  // Sessions and forwarding.
  std::optional<std::string> shell, sftp_server;
  std::vector<std::string> accept_env;
  std::optional<std::size_t> max_sessions;
  std::optional<std::string> allow_tcp_forwarding;  // no, local, remote, yes or config
  std::vector<std::string> permit_open, permit_listen;
  bool gateway_ports = false;
  // Pre-authentication bounds (sshd's MaxStartups, PerSource*).
  std::optional<std::string> max_startups, per_source_netblock_size, per_source_penalties;
  std::optional<std::size_t> per_source_max_startups, max_checks_per_connection, max_queued_checks;
};

/// Declares parleyd's options on `app`, each filling its field of `line`
/// (which must outlive the parse).
void add_options(CLI::App& app, CommandLine& line);

// Built-in values of settings neither the command line nor the file set.
inline constexpr std::string_view default_listen = "127.0.0.1";
inline constexpr std::uint16_t default_port = 2222;
inline constexpr std::string_view default_log_level = "info";

/// The one place settings are merged: loads the file named by --config, if
/// any, then puts every option the command line gave over the file's value
/// (a list option replaces the file's list; an algorithm list in sshd's
/// "+a"/"-a"/"^a" syntax is taken relative to the file's list; --totp-* replace
/// both of the file's stores; --allow-tcp-forwarding other than "config" sets
/// forwarding.local and .remote). Chains, path patterns and permit entries
/// given as flags are parsed as the file's are. The error is what to print: a
/// file's problem as "FILE:LINE: REASON", a flag's with the flag's name; both
/// are usage errors.
std::expected<Config, std::string> merge_settings(const CommandLine& line);

/// The same with the text of the file --config names already read (a reload:
/// the text the monitor checked is what the network process merges).
std::expected<Config, std::string> merge_settings(const CommandLine& line,
                                                  const std::optional<std::string>& file_text);

}  // namespace parleyd

// parleyd's configuration file: TOML, read once at startup. Every key is
// optional; a key that is not set leaves the built-in default (or the command
// line's value) in force. docs/parleyd.conf.example shows every key.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "parley/crypto/keys.hpp"
#include "parley/crypto/packet_cipher.hpp"
#include "parley/driver/source_limiter.hpp"
#include "parley/login/account.hpp"
#include "parley/transport/algorithms.hpp"
#include "setting_values.hpp"

namespace parleyd {

/// A problem in a configuration file: which file, which line, what is wrong.
struct ConfigError {
  std::string file;
  /// 1-based line of the offending key or value; 0 for a problem with the file
  /// as a whole (it cannot be read).
  std::size_t line = 0;
  std::string reason;

  /// "FILE:LINE: REASON", or "FILE: REASON" when `line` is 0.
  std::string message() const;
};

/// Per-connection limits on authentication, from the [limits] table. The
/// defaults follow OpenSSH's sshd where it has the same knob (MaxAuthTries 6,
/// LoginGraceTime 120 s).
struct Limits {
  std::size_t max_auth_tries = 6;                // failed attempts before disconnect
  std::chrono::seconds login_grace_time{120};    // time to finish authentication
  std::size_t max_prompts = 32;                  // prompts in one keyboard-interactive round
  std::size_t max_answer_bytes = 4096;           // bytes in one keyboard-interactive answer
  std::size_t max_rounds = 16;                   // keyboard-interactive rounds in one attempt
  std::size_t max_requests = 128;                // userauth requests in one connection
  std::chrono::milliseconds failure_delay{300};  // pause before each failure reply

  // Pre-authentication bounds, as sshd's options of the same names (whose
  // syntax the strings take); defaults are OpenSSH 9.8's.
  parley::driver::MaxStartups max_startups;            // max_startups = "10:30:100"
  std::optional<std::size_t> per_source_max_startups;  // none
  unsigned per_source_netblock4 = 32;                  // per_source_netblock_size = "32:128"
  unsigned per_source_netblock6 = 128;
  parley::driver::PenaltyPolicy per_source_penalties;  // "crash:90 authfail:5 noauth:1 ..."
  std::size_t max_checks_per_connection = 1;           // password/TOTP checks queued or running
  std::size_t max_queued_checks = 1024;  // checks waiting for a worker, all connections
};

/// What sessions run and which variables clients may set, from [session].
struct SessionSettings {
  std::optional<std::string> shell;        // default: the login shell of parleyd's user
  std::optional<std::string> sftp_server;  // "" disables the sftp subsystem
  /// As root: the account virtual users' sessions run as (never root).
  std::optional<std::string> session_user;
  std::optional<std::vector<std::string>> accept_env;  // patterns; default LANG, LC_*
  std::optional<std::size_t> max_sessions;             // per connection, 1..1000; default 10
};

/// TCP forwarding, from [forwarding]. Everything is off unless turned on.
struct ForwardingSettings {
  std::optional<bool> local;                   // direct-tcpip (ssh -L, ssh -W)
  std::optional<bool> remote;                  // tcpip-forward (ssh -R)
  std::optional<std::vector<std::string>> permit_open;    // "host:port", host pattern, port or "*"
  std::optional<std::vector<std::string>> permit_listen;  // as permit_open
  std::optional<bool> gateway_ports;           // remote listeners on the requested address
};

/// Where TOTP secrets are and how codes are checked, from [totp]
/// (keyboard-interactive:totp).
struct TotpSettings {
  std::optional<std::string> users_oath;            // pam_oath's users.oath (resolved like host_keys)
  std::optional<std::string> google_authenticator;  // per-user file pattern (%h, %u)
  std::optional<unsigned> window;                   // steps each side, 0..10; default 1
  std::optional<std::size_t> max_failures;          // wrong codes per user per period; default 5
  std::optional<std::chrono::seconds> failure_period;  // default 300 s
};

/// Where the state several parleyd instances must share lives (TOTP used
/// steps and scratch codes, second-factor failure counts), from [state];
/// docs/scale-out.md. Unset: this process's memory and the TOTP files only.
struct StateSettings {
  std::optional<std::string> backend;  // "local" (the default) or "redis"
  // Redis only (each an error with backend "local"):
  std::optional<std::string> address;  // "host:port" or "[v6]:port"; required with "redis"
  std::string host;                    // address's parts, once checked
  std::uint16_t port = 0;
  std::optional<bool> tls;             // default false
  std::optional<std::string> tls_ca_file, tls_cert_file, tls_key_file;  // resolved like host_keys
  std::optional<std::string> tls_server_name;  // default: the address's host
  std::optional<std::string> username;         // an ACL user; default: Redis's default user
  std::optional<std::string> password_file;    // holds the password (AUTH); resolved like host_keys
  std::optional<std::string> key_prefix;       // default "parley:"
  std::optional<std::chrono::milliseconds> timeout;          // per call, default 500 ms
  std::optional<std::chrono::milliseconds> connect_timeout;  // default 1000 ms
  std::optional<std::size_t> pool_size;                      // connections, default 4
  /// When the backend cannot answer: "deny-second-factor" (the default: TOTP
  /// codes are refused, other methods keep working) or "deny-all" (every
  /// login is refused until it answers again).
  std::optional<std::string> on_state_error;
  std::size_t line = 0;  // the [state] table's line, for errors across its keys
};

/// What [state]'s keys say together, or nothing: Redis needs an address, and
/// Redis's own keys mean nothing with the local backend (so are refused, not
/// ignored); TLS files need tls = true, and a certificate needs its key.
std::optional<std::string> state_settings_problem(const StateSettings& settings);

/// The PAM service for keyboard-interactive:pam, from [pam].
struct PamSettings {
  std::optional<std::string> service;             // /etc/pam.d/<service>; default "parley"
  std::optional<std::size_t> max_conversations;   // at once; default 64
};

/// A loaded configuration. Only valid values get here: algorithm names are
/// already parsed, paths already resolved, numbers already range-checked.
struct Config {
  std::optional<std::string> listen;  // address to listen on
  std::optional<std::uint16_t> port;  // 0: any free port
  /// Private key files. Relative paths in the file are resolved against the
  /// directory of the configuration file, so the result does not depend on the
  /// server's working directory; the same holds for every path below.
  std::vector<std::string> host_keys;
  std::optional<std::string> state_dir;  // resolved like host_keys
  std::optional<std::string> log_level;  // trace, debug, info, warn or error
  std::optional<unsigned> threads;       // 0: one per usable CPU (driver::default_io_threads)
  /// Text sent to clients before authentication (RFC 4252 §5.4), not a file name.
  std::optional<std::string> banner;
  /// The Higher or Lower demo (parleyd --demo).
  std::optional<bool> demo;
  /// As root: a root monitor and an unprivileged, sandboxed network process
  /// (the default as root: unset means on there; false runs one root
  /// process; true without root only warns). parleyd --[no-]privilege-separation.
  std::optional<bool> privilege_separation;
  /// HAProxy's PROXY protocol from the balancers proxy_from lists (addresses
  /// or CIDR blocks, each checked by driver::AddressBlock::parse; required when
  /// proxy_protocol is true). Default: off.
  std::optional<bool> proxy_protocol;
  std::vector<std::string> proxy_from;

  // [algorithms]: preference lists, most preferred first; never empty when set.
  std::optional<std::vector<parley::transport::KexAlg>> kex;
  std::optional<std::vector<parley::crypto::SignatureAlg>> host_key_algorithms;
  std::optional<std::vector<parley::crypto::CipherAlg>> ciphers;
  std::optional<std::vector<parley::crypto::MacAlg>> macs;

  // [auth]
  std::optional<std::string> password_file;  // resolved like host_keys
  /// A path pattern; expand it per user with expand_path_pattern(). A relative
  /// pattern without "%h" is resolved like host_keys.
  std::optional<std::string> authorized_keys;
  /// Like OpenSSH's AuthenticationMethods: a user is in once they have completed
  /// every step of any one chain, in order. Empty: not set.
  std::vector<AuthChain> methods;
  /// Accounts allowed in by methods that have no user database of their own
  /// (keyboard-interactive:higher-or-lower).
  std::vector<std::string> users;
  /// OpenSSH's PermitRootLogin: "no", "prohibit-password" (or its old name
  /// "without-password") or "yes".
  std::optional<parley::login::RootLogin> permit_root_login;

  Limits limits;
  SessionSettings session;
  ForwardingSettings forwarding;
  TotpSettings totp;
  StateSettings state;
  PamSettings pam;
};

/// Reads and validates the configuration file at `path`. The first problem (the
/// one nearest the top of the file) is returned with its line: TOML syntax, an
/// unknown key or table (a typo must not be silently ignored), a value of the
/// wrong type or out of range, an unknown algorithm, method or log level. A
/// missing, unreadable or non-regular file is an error with line 0.
std::expected<Config, ConfigError> load_config(const std::filesystem::path& path);

/// Reads a configuration file as load_config() does (bounded, a regular file),
/// without parsing it: the text a reload checks and then hands on unchanged.
std::expected<std::string, ConfigError> read_config_file(const std::filesystem::path& path);

/// Validates configuration text already in memory. `path_for_errors` names the
/// file in errors, and its directory is the base for relative paths.
std::expected<Config, ConfigError> parse_config(std::string_view text,
                                                const std::filesystem::path& path_for_errors);

}  // namespace parleyd

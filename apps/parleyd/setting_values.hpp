// The values parleyd's settings are made of, each parsed by one function
// whether it comes from a flag or the configuration file: authentication
// chains, per-user path patterns (%u, %h) and permit host:port entries. What
// is wrong comes back as text without a place; the caller adds the flag's
// name or the file and line.
#pragma once

#include <cstdint>
#include <expected>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "parley/userauth/chain.hpp"

namespace parleyd {

// ---------------------------------------------------------------------------
// Authentication chains (OpenSSH's AuthenticationMethods)

/// A method a chain may name (RFC 4252 §7, §8; RFC 4256): the userauth core's.
using AuthMethod = parley::userauth::ChainMethod;

/// Who answers a keyboard-interactive step when the chain names one.
enum class KbdSubmethod { higher_or_lower, password, totp, pam };

/// One step of a chain: "publickey", "password", "keyboard-interactive" or
/// "keyboard-interactive:SUB". Only keyboard_interactive has a submethod.
struct AuthStep {
  AuthMethod method = AuthMethod::publickey;
  std::optional<KbdSubmethod> submethod;

  friend bool operator==(const AuthStep&, const AuthStep&) = default;
};

/// A user is in once they have completed every step of one chain, in order.
using AuthChain = std::vector<AuthStep>;

std::string_view name(AuthMethod method);
std::string_view name(KbdSubmethod submethod);
/// The step as OpenSSH writes it ("keyboard-interactive:totp").
std::string name(const AuthStep& step);
/// The step as the userauth core walks it: the submethod names its provider.
parley::userauth::ChainStep chain_step(const AuthStep& step);

/// Parses one chain, "step,step,...". The error says what is wrong with which
/// step ("unknown method 'pasword' (known: ...)"), without the chain.
std::expected<AuthChain, std::string> parse_chain(std::string_view text);

/// True if some step of some chain is `step`.
bool names_step(const std::vector<AuthChain>& chains, const AuthStep& step);

// ---------------------------------------------------------------------------
// Per-user path patterns (authorized_keys, google_authenticator)

/// What is wrong with a pattern, if anything: every '%' must start "%u" (the
/// user name), "%h" (their home directory) or "%%" (a '%').
std::optional<std::string> path_pattern_problem(std::string_view pattern);

/// True if expanding the pattern needs the user's home directory.
bool pattern_uses_home(std::string_view pattern);

/// Where a user's home directory comes from; asked only by a pattern with %h.
using HomeLookup = std::function<std::expected<std::string, std::string>()>;

/// Expands a checked pattern for one user. `home` is called at most once, and
/// only when the pattern has "%h"; its error is the result's. The caller must
/// make sure `user` is a name it trusts in a path (no '/', not ".."), as it is
/// pasted in verbatim.
std::expected<std::string, std::string> expand_path_pattern(std::string_view pattern,
                                                            std::string_view user,
                                                            const HomeLookup& home);

/// The same with the home directory already known.
std::string expand_path_pattern(std::string_view pattern, std::string_view user,
                                std::string_view home);

// ---------------------------------------------------------------------------
// Names

/// What is wrong with an account name for methods without a user database, if
/// anything: 1..64 of A-Z a-z 0-9 . _ -, the rule of password files
/// (parley/passwd/password_file.hpp), so such a name can also have a password.
std::optional<std::string> user_name_problem(std::string_view user);

/// What is wrong with one accept_env pattern, if anything.
std::optional<std::string> env_pattern_problem(std::string_view pattern);

/// What is wrong with one proxy_from entry (an address or a CIDR block), if anything.
std::optional<std::string> proxy_block_problem(std::string_view entry);

// ---------------------------------------------------------------------------
// permit_open / permit_listen entries

/// "any", or HOST:PORT / [ADDRESS]:PORT, where PORT is a number or "*".
struct PermitEntry {
  bool any = false;
  std::string host;                 // as written; patterns are the matcher's business
  std::optional<std::uint16_t> port;  // nullopt: "*"
};

/// Parses one entry; the lowest port accepted is `low_port` (0 for
/// permit_listen: the server picks one, as ssh -R 0:host:port asks).
std::expected<PermitEntry, std::string> parse_permit(std::string_view entry, std::uint32_t low_port);

/// What parse_permit's error is followed by: how to write an entry.
std::string permit_syntax(std::uint32_t low_port);

// ---------------------------------------------------------------------------
// The configuration file's schema, for messages about keys it lacks

/// "a, b, c" for names and ", ".
std::string join_names(std::span<const std::string_view> names, std::string_view separator);

/// A table of the file ("" for the top level) and its keys.
struct SchemaSection {
  std::string_view name;
  std::vector<std::string_view> keys;
};

/// "unknown key 'prot'" or "unknown table 'x.y'", with a hint when the user
/// most likely misspelt a key ("did you mean 'port'?") or put it under the
/// wrong table header (in TOML every key after "[auth]" belongs to [auth], a
/// classic slip: "it belongs in [limits]").
std::string unknown_key_message(std::string_view section, std::string_view name, bool is_table,
                                const std::vector<SchemaSection>& schema);

// ---------------------------------------------------------------------------
// [state]

/// "host:port" or "[IPv6]:port" (a port 1..65535): the host (without
/// brackets) and the port.
std::expected<std::pair<std::string, std::uint16_t>, std::string> parse_host_port(std::string_view text);

}  // namespace parleyd

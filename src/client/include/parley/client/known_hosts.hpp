// known_hosts files in OpenSSH's format (sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT"),
// and the client's host-key policy built on them (ssh_config(5)
// StrictHostKeyChecking, HashKnownHosts).
//
// Each line is "[marker] hostpatterns keytype base64key [comment]":
//   - hostpatterns: comma-separated patterns with '*' and '?' wildcards and
//     '!' negation, matched case-insensitively against the host as OpenSSH
//     names it: "host" for port 22, "[host]:port" otherwise; or one hashed name
//     "|1|base64(salt)|base64(HMAC-SHA1(salt, name))" (ssh-keygen -H);
//   - marker: "@revoked" (the key is refused for the hosts, whatever else the
//     file says) or "@cert-authority" (parley has no host certificates: such
//     lines are not used and reported);
//   - '#' comments and blank lines are ignored; a malformed line is reported as
//     "NAME:LINE: reason" and skipped, and the rest of the file still applies.
#pragma once

#include <cstdint>
#include <expected>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "parley/crypto/keys.hpp"
#include "parley/crypto/random.hpp"
#include "parley/transport/transport.hpp"

namespace parley::client {

/// What the known_hosts lines for a host say about the key it presented.
/// The zero value is the one every policy refuses.
enum class HostKeyStatus : std::uint8_t {
  revoked,  // an @revoked line for the host lists this key: never accept it
  changed,  // a line for the host has a different key of the same type
  unknown,  // no line for the host has a key of this type
  known,    // a line for the host has exactly this key (and none revokes it)
};

std::string_view to_string(HostKeyStatus s);

/// The result of KnownHosts::check().
struct HostKeyCheck {
  HostKeyStatus status = HostKeyStatus::revoked;
  /// 1-based line numbers behind `status`: known: the lines with this key;
  /// changed: the lines with a different key of this type (OpenSSH's
  /// "Offending key"); revoked: the @revoked lines listing it; unknown: the
  /// lines for the host with keys of other types (usually none).
  std::vector<std::size_t> lines;
  /// Lines for this host that could not be used (a key parley cannot parse or
  /// does not support, @cert-authority), as "NAME:LINE: reason".
  std::vector<std::string> problems;
};

/// The host as known_hosts names it (OpenSSH's put_host_port()): the host in
/// lower case, as "[host]:port" unless the port is 22 (or 0, "default").
std::string known_hosts_name(std::string_view host, std::uint16_t port);

/// One parsed known_hosts file. Immutable; cheap to move.
class KnownHosts {
 public:
  /// Reads and parses `path`. A missing file is an empty KnownHosts (nothing
  /// known yet); anything else that stops the read (permissions, a directory,
  /// a file over 64 MiB) is an error "PATH: reason". Problems with single
  /// lines are not errors: see problems().
  static std::expected<KnownHosts, std::string> load(const std::filesystem::path& path);
  /// Parses known_hosts text. `name` (usually the path) prefixes the problems.
  static KnownHosts parse(std::string_view text, std::string name);

  /// Looks `key` up for `host`:`port`. Revoked beats known beats changed beats
  /// unknown. Key types are kept apart: a host with only an RSA line is
  /// "unknown" (not "changed") for an Ed25519 key (see known_hosts.cpp for how
  /// this differs from OpenSSH).
  HostKeyCheck check(std::string_view host, std::uint16_t port, const crypto::PublicKey& key) const;

  /// The key types of the lines for `host`:`port` that are not @revoked, in
  /// file order, each once: what sshconnect2.c order_hostkeyalgs() asks
  /// (hostfile.c lookups skip marked lines).
  std::vector<crypto::KeyType> known_types(std::string_view host, std::uint16_t port) const;

  /// The name given to parse() (the path for load()).
  const std::string& name() const { return name_; }
  /// Every line that is not used, as "NAME:LINE: reason", in file order.
  const std::vector<std::string>& problems() const { return problems_; }

  /// A line for `host`:`port` and `key` as OpenSSH's ssh writes it (no
  /// newline): "name keytype base64", the name hashed as ssh-keygen -H does
  /// (a fresh 20-byte salt from `rng`) if `hashed`. An error for a host that
  /// would not survive as a known_hosts name (empty, or with whitespace,
  /// control characters or any of ",*?!|#@[]/\"), which could otherwise
  /// turn into a wildcard or an extra line.
  static std::expected<std::string, std::string> format_line(std::string_view host,
                                                             std::uint16_t port,
                                                             const crypto::PublicKey& key,
                                                             bool hashed, crypto::Random& rng);

  KnownHosts(KnownHosts&&) noexcept;
  KnownHosts& operator=(KnownHosts&&) noexcept;
  ~KnownHosts();

  struct Entry;

 private:
  KnownHosts();
  std::string name_;
  std::vector<Entry> entries_;
  std::vector<std::string> problems_;
};

/// Appends format_line(host, port, key, hashed, rng) to the known_hosts file
/// `path`, atomically: the whole new file is written to a temporary file in the
/// same directory, synced and renamed over `path`, so a failure at any step
/// leaves the old file as it was. A new file gets mode 0600, an existing one
/// keeps its mode; a missing parent directory (~/.ssh) is created with mode
/// 0700 (its own parent must exist). A symlink at `path` is followed and its
/// target replaced. Two processes adding at the same moment can lose one of the
/// two lines (the later rename wins); that host is then just unknown again.
/// Errors are "PATH: what: reason".
std::expected<void, std::string> add_known_host(const std::filesystem::path& path,
                                                std::string_view host, std::uint16_t port,
                                                const crypto::PublicKey& key, bool hashed,
                                                crypto::Random& rng);

/// `algorithms` (the client's host key preference) with the algorithms whose key
/// types `files` hold for `host`:`port` moved to the front, each part in its
/// own order, as OpenSSH's order_hostkeyalgs(): a server that has the key we
/// know then shows it, rather than another type we would have to refuse.
/// Files that cannot be read add nothing (the verifier refuses them later).
std::vector<crypto::SignatureAlg> order_host_key_algorithms(
    const std::vector<std::filesystem::path>& files, std::string_view host, std::uint16_t port,
    std::vector<crypto::SignatureAlg> algorithms);

/// ssh_config(5) StrictHostKeyChecking.
enum class StrictHostKeyChecking : std::uint8_t {
  yes,         // accept only keys already known; add nothing
  ask,         // as yes, but a host with no key at all is asked about (HostKeyPolicy::ask)
  accept_new,  // also accept and add keys for hosts that have no key yet; refuse changed keys
  no,          // also accept changed keys (with the warning; nothing is written). Dangerous: it
               // gives no protection against a man in the middle once a key has changed
};

/// How known_hosts_verifier() decides, beyond the files.
struct HostKeyPolicy {
  StrictHostKeyChecking strict = StrictHostKeyChecking::yes;
  /// HashKnownHosts: new lines are written hashed.
  bool hash_new_entries = false;
  /// For `ask`: shows `question` (several lines, ending in OpenSSH's "Are you
  /// sure you want to continue connecting (yes/no/[fingerprint])? ") and returns
  /// the user's answer; nullopt if nobody can answer. Unset: `ask` is `yes`.
  std::function<std::optional<std::string>(std::string_view question)> ask;
  /// User-facing lines, one at a time (may be unset).
  std::function<void(std::string_view)> report;
  /// Called when a changed key is accepted (only `no` does that), before the
  /// verifier returns true. The caller must then send no password and no
  /// keyboard-interactive answer on this connection, as OpenSSH does.
  std::function<void()> on_changed_key_accepted;
};

/// A transport::HostKeyVerifier for `host`:`port` under `policy`.
///
/// On every call it reads `files` afresh, as OpenSSH reads UserKnownHostsFile
/// then GlobalKnownHostsFile: the key is known if any file knows it, revoked if
/// any file revokes it, changed if any file has a different key of its type, or
/// (stricter than OpenSSH, which would call it new) if no file has a key of its
/// type but some file has a key of another type for the host: a server at a
/// known address showing a type we have never seen for it is refused as changed
/// under yes, ask and accept_new, and nothing is added. Every file counts in
/// every mode: `ask` asks only about a host that no file knows any key for.
/// New keys are added (accept_new, no) to files[0] only, hashed if
/// `hash_new_entries` (HashKnownHosts). Revoked keys are refused under every
/// policy, `no` included (OpenSSH would continue under `no`). A file that
/// exists but cannot be read refuses the key: what it says is unknown. A key
/// accepted under accept_new/no whose line cannot be written is still accepted,
/// as in OpenSSH ("Failed to add the host to the list of known hosts").
///
/// `report` (may be empty) receives the user-facing lines one at a time, in
/// OpenSSH's wording: "Warning: Permanently added '[127.0.0.1]:2222' (ED25519)
/// to the list of known hosts.", the "REMOTE HOST IDENTIFICATION HAS CHANGED!"
/// block with "Offending ED25519 key in FILE:LINE", "No ED25519 host key is
/// known for ... and you have requested strict checking.", "Host key
/// verification failed.", and the problems of lines for this host.
///
/// Under `no` a changed key is accepted, but OpenSSH then also turns off
/// password and keyboard-interactive authentication and all forwarding; the
/// verifier says so (one line) and calls on_changed_key_accepted, and the
/// caller must do it.
///
/// `rng` (for salts and temporary file names) is held by reference and must
/// outlive the verifier; the verifier is as thread-safe as `rng` and `report`.
transport::HostKeyVerifier known_hosts_verifier(std::vector<std::filesystem::path> files,
                                                std::string host, std::uint16_t port,
                                                HostKeyPolicy policy, crypto::Random& rng);
/// The same with only the strictness, HashKnownHosts and a report.
transport::HostKeyVerifier known_hosts_verifier(std::vector<std::filesystem::path> files,
                                                std::string host, std::uint16_t port,
                                                StrictHostKeyChecking policy, bool hash_new_entries,
                                                crypto::Random& rng,
                                                std::function<void(std::string_view)> report);

}  // namespace parley::client

// known_hosts files: parsing, lookup, atomic appends, and the host-key policy.
//
// Lookups keep key types apart (KnownHosts::check: a different key of the same
// type is "changed", no key of that type "unknown"); the verifier then follows
// OpenSSH's defence against a substituted host and goes one step further:
//   - the client offers the key types it knows for the host first
//     (sshconnect2.c order_hostkeyalgs; order_host_key_algorithms here), so an
//     honest server shows the key we know;
//   - a server at a known address that shows a key of a type not known for it,
//     while a key of another type is, is treated as CHANGED under yes, ask and
//     accept-new. OpenSSH's accept-new would add it (hostfile.c calls it new),
//     which lets a man in the middle who only has to offer another key type
//     collect the password.
#include "parley/client/known_hosts.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <optional>
#include <utility>
#include <variant>

#include "parley/crypto/file_io.hpp"
#include "parley/crypto/hmac.hpp"
#include "parley/wire/lines.hpp"
#include "parley/wire/text.hpp"

namespace parley::client {
namespace fs = std::filesystem;

// ---------------------------------------------------------------------------
// The parsed form of a line

namespace {

// sshd(8): "|1|" marks a hashed host name; hostfile.c HASH_MAGIC / HASH_DELIM.
constexpr std::string_view hash_magic = "|1|";
constexpr char hash_delim = '|';
// The salt and the tag are both SHA-1 sized (hostfile.c extract_salt).
constexpr std::size_t hash_salt_size = 20;
constexpr std::string_view revoked_marker = "@revoked";
constexpr std::string_view ca_marker = "@cert-authority";
// Far above any real known_hosts file (a line is ~100 bytes); it only stops a
// wrong path (a log, a device) from being read into memory whole.
constexpr std::size_t max_file_size = std::size_t{64} << 20;
constexpr std::uint16_t default_port = 22;

/// A comma-separated pattern list, kept as written (matched lazily per host).
struct Patterns {
  std::string list;
};

/// "|1|salt|hash": matches the one name whose HMAC-SHA1 under `salt` is `hash`.
struct HashedName {
  Bytes salt;
  Bytes hash;
};

using HostMatcher = std::variant<Patterns, HashedName>;

/// A key line that can be used (no marker, or @revoked).
struct KeyLine {
  bool revoked = false;
  crypto::PublicKey key;
};

/// A line whose hosts could be read but whose key cannot be used; reported to
/// checks of the hosts it names.
struct UnusableLine {
  std::string reason;
};

}  // namespace

struct KnownHosts::Entry {
  std::size_t line = 0;
  HostMatcher hosts;
  std::variant<KeyLine, UnusableLine> what;
};

namespace {

bool is_blank(char c) {
  return c == ' ' || c == '\t';
}

std::string_view skip_blanks(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size() && is_blank(s[i])) ++i;
  return s.substr(i);
}

/// Splits off the field before the first blank; `s` keeps the rest (blanks skipped).
std::string_view take_field(std::string_view& s) {
  std::size_t end = 0;
  while (end < s.size() && !is_blank(s[end])) ++end;
  const std::string_view field = s.substr(0, end);
  s = skip_blanks(s.substr(end));
  return field;
}

/// match.c match_pattern(): '*' any run (also empty), '?' exactly one
/// character. Iterative with one backtrack point, so linear-ish on any input.
bool glob_match(std::string_view text, std::string_view pattern) {
  std::size_t t = 0, p = 0;
  std::optional<std::size_t> star_p;
  std::size_t star_t = 0;
  while (t < text.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++t;
      ++p;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star_p = p++;
      star_t = t;
    } else if (star_p) {
      p = *star_p + 1;
      t = ++star_t;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

/// match.c match_pattern_list() with dolower: true if some pattern matches and
/// no negated one does ("!pattern" that matches vetoes the whole list).
/// `name` is already lower case.
bool patterns_match(std::string_view name, std::string_view list) {
  bool positive = false;
  while (true) {
    const std::size_t comma = list.find(',');
    std::string_view sub = list.substr(0, comma);
    const bool negated = !sub.empty() && sub.front() == '!';
    if (negated) sub.remove_prefix(1);
    if (glob_match(name, ascii_lower(sub))) {
      if (negated) return false;
      positive = true;
    }
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return positive;
}

bool host_matches(const HostMatcher& hosts, std::string_view name) {
  if (const auto* p = std::get_if<Patterns>(&hosts)) return patterns_match(name, p->list);
  const auto& h = std::get<HashedName>(hosts);
  return crypto::hmac_sha1(h.salt, as_bytes(name)) == h.hash;
}

/// hostfile.c extract_salt(): "|1|" base64(20-byte salt) "|" base64(20-byte tag).
std::expected<HashedName, std::string> parse_hashed(std::string_view field) {
  if (!field.starts_with(hash_magic)) {
    return std::unexpected("hashed host name without the \"|1|\" prefix");
  }
  field.remove_prefix(hash_magic.size());
  const std::size_t delim = field.find(hash_delim);
  if (delim == std::string_view::npos) return std::unexpected("hashed host name without a hash");
  auto salt = crypto::base64_decode(field.substr(0, delim));
  auto hash = crypto::base64_decode(field.substr(delim + 1));
  if (!salt || salt->size() != hash_salt_size) {
    return std::unexpected("hashed host name with a malformed salt");
  }
  if (!hash || hash->size() != hash_salt_size) {
    return std::unexpected("hashed host name with a malformed hash");
  }
  return HashedName{std::move(*salt), std::move(*hash)};
}

std::string key_problem(crypto::CryptoError e, std::string_view type) {
  if (e == crypto::CryptoError::unsupported_key_type) {
    return "unsupported key type \"" + std::string(type) + "\"; line not used";
  }
  return "unusable key (" + std::string(crypto::to_string(e)) + "); line not used";
}

/// The parse of one non-blank, non-comment line: an entry (possibly unusable,
/// but with hosts to match), or a reason the line means nothing at all.
std::expected<KnownHosts::Entry, std::string> parse_line(std::string_view line,
                                                         std::size_t line_no) {
  // hostfile.c check_markers(): at most one marker, ended by a blank.
  bool revoked = false, ca = false;
  if (line.front() == '@') {
    const std::string_view marker = take_field(line);
    if (marker == revoked_marker) {
      revoked = true;
    } else if (marker == ca_marker) {
      ca = true;
    } else {
      return std::unexpected("unknown marker \"" + std::string(marker) + "\"");
    }
    if (line.empty() || line.front() == '@') {
      return std::unexpected(line.empty() ? "nothing after the marker" : "more than one marker");
    }
  }
  const std::string_view hosts = take_field(line);
  if (line.empty() || line.front() == '#') {
    return std::unexpected("no key after the host names");
  }
  KnownHosts::Entry e{line_no, Patterns{}, UnusableLine{}};
  if (hosts.front() == hash_delim) {
    auto hashed = parse_hashed(hosts);
    if (!hashed) return std::unexpected(hashed.error());
    e.hosts = std::move(*hashed);
  } else {
    e.hosts = Patterns{std::string(hosts)};
  }
  // The rest is "keytype base64 [comment]", as in a .pub file.
  std::string_view type = line.substr(0, line.find_first_of(" \t"));
  auto key = crypto::PublicKey::from_openssh(line);
  if (ca) {
    e.what = UnusableLine{"@cert-authority: host certificates are not supported; line not used"};
  } else if (!key) {
    e.what = UnusableLine{key_problem(key.error(), type)};
  } else {
    e.what = KeyLine{revoked, std::move(*key)};
  }
  return e;
}

std::string problem(std::string_view name, std::size_t line_no, std::string_view reason) {
  return std::string(name) + ":" + std::to_string(line_no) + ": " + std::string(reason);
}

// ---------------------------------------------------------------------------
// Files

using crypto::FileError;
using crypto::FileText;

std::string io_failure(const fs::path& path, const FileError& e) { return e.describe(path); }

/// Creates the file's directory (mode 0700, like ~/.ssh) if it is missing.
std::expected<void, std::string> ensure_directory(const fs::path& dir) {
  if (::mkdir(dir.c_str(), 0700) == 0) {
    // The umask may have narrowed the mode; never widened it, but be exact.
    if (::chmod(dir.c_str(), 0700) != 0) {
      return std::unexpected(io_failure(dir, {"cannot set directory mode", errno}));
    }
    return {};
  }
  if (errno == EEXIST) return {};
  return std::unexpected(io_failure(dir, {"cannot create directory", errno}));
}

/// Characters that would make a written host name mean something else: a
/// pattern list, a wildcard, a negation, a hashed name, a marker, a comment,
/// a port form, or another field or line.
bool valid_host(std::string_view host) {
  if (host.empty()) return false;
  for (const char c : host) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) return false;
    if (std::string_view(",*?!|#@[]/\\").find(c) != std::string_view::npos) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------
// The verifier's messages

/// The key type as OpenSSH's sshkey_type() prints it in messages.
std::string_view type_label(crypto::KeyType t) {
  switch (t) {
    case crypto::KeyType::ed25519: return "ED25519";
    case crypto::KeyType::ecdsa_p256: return "ECDSA";
    case crypto::KeyType::rsa: return "RSA";
  }
  return "unknown";
}

/// One file's verdict, with where it came from.
struct FileCheck {
  const fs::path* file;
  HostKeyCheck check;
};

}  // namespace

// ---------------------------------------------------------------------------
// Public API

std::string_view to_string(HostKeyStatus s) {
  switch (s) {
    case HostKeyStatus::revoked: return "revoked";
    case HostKeyStatus::changed: return "changed";
    case HostKeyStatus::unknown: return "unknown";
    case HostKeyStatus::known: return "known";
  }
  return "invalid";
}

std::string known_hosts_name(std::string_view host, std::uint16_t port) {
  // misc.c put_host_port(): the bare host for the default port.
  if (port == 0 || port == default_port) return ascii_lower(host);
  return "[" + ascii_lower(host) + "]:" + std::to_string(port);
}

KnownHosts::KnownHosts() = default;
KnownHosts::KnownHosts(KnownHosts&&) noexcept = default;
KnownHosts& KnownHosts::operator=(KnownHosts&&) noexcept = default;
KnownHosts::~KnownHosts() = default;

std::expected<KnownHosts, std::string> KnownHosts::load(const fs::path& path) {
  // /dev/null (UserKnownHostsFile=/dev/null, a common way to keep no record)
  // reads as empty, as in OpenSSH.
  if (path == "/dev/null") return parse({}, path.string());
  auto file = crypto::read_file(path, max_file_size);
  if (!file) {
    if (file.error().err == ENOENT) return parse({}, path.string());
    return std::unexpected(io_failure(path, file.error()));
  }
  return parse(file->text, path.string());
}

KnownHosts KnownHosts::parse(std::string_view text, std::string name) {
  KnownHosts out;
  out.name_ = std::move(name);
  for (const wire::Line& numbered : wire::split_lines(text)) {
    const std::size_t line_no = numbered.number;
    const std::string_view line = skip_blanks(numbered.text);
    if (line.empty() || line.front() == '#') continue;
    auto entry = parse_line(line, line_no);
    if (!entry) {
      out.problems_.push_back(problem(out.name_, line_no, entry.error()));
      continue;
    }
    if (const auto* bad = std::get_if<UnusableLine>(&entry->what)) {
      out.problems_.push_back(problem(out.name_, line_no, bad->reason));
    }
    out.entries_.push_back(std::move(*entry));
  }
  return out;
}

HostKeyCheck KnownHosts::check(std::string_view host, std::uint16_t port,
                               const crypto::PublicKey& key) const {
  const std::string name = known_hosts_name(host, port);
  std::vector<std::size_t> revoked, known, changed, other_types;
  HostKeyCheck out;
  for (const Entry& e : entries_) {
    if (!host_matches(e.hosts, name)) continue;
    if (const auto* bad = std::get_if<UnusableLine>(&e.what)) {
      out.problems.push_back(problem(name_, e.line, bad->reason));
      continue;
    }
    const auto& k = std::get<KeyLine>(e.what);
    if (k.revoked) {
      if (k.key == key) revoked.push_back(e.line);
    } else if (k.key == key) {
      known.push_back(e.line);
    } else if (k.key.type() == key.type()) {
      changed.push_back(e.line);
    } else {
      other_types.push_back(e.line);
    }
  }
  // hostfile.c: a revocation overrides everything, then any matching key wins.
  if (!revoked.empty()) {
    out.status = HostKeyStatus::revoked;
    out.lines = std::move(revoked);
  } else if (!known.empty()) {
    out.status = HostKeyStatus::known;
    out.lines = std::move(known);
  } else if (!changed.empty()) {
    out.status = HostKeyStatus::changed;
    out.lines = std::move(changed);
  } else {
    out.status = HostKeyStatus::unknown;
    out.lines = std::move(other_types);
  }
  return out;
}

std::vector<crypto::KeyType> KnownHosts::known_types(std::string_view host,
                                                     std::uint16_t port) const {
  const std::string name = known_hosts_name(host, port);
  std::vector<crypto::KeyType> out;
  for (const Entry& e : entries_) {
    const auto* k = std::get_if<KeyLine>(&e.what);
    if (k == nullptr || k->revoked || !host_matches(e.hosts, name)) continue;
    if (std::find(out.begin(), out.end(), k->key.type()) == out.end()) out.push_back(k->key.type());
  }
  return out;
}

std::vector<crypto::SignatureAlg> order_host_key_algorithms(
    const std::vector<fs::path>& files, std::string_view host, std::uint16_t port,
    std::vector<crypto::SignatureAlg> algorithms) {
  std::vector<crypto::KeyType> known;
  for (const fs::path& file : files) {
    auto kh = KnownHosts::load(file);
    if (!kh) continue;
    for (const crypto::KeyType t : kh->known_types(host, port))
      if (std::find(known.begin(), known.end(), t) == known.end()) known.push_back(t);
  }
  std::stable_partition(algorithms.begin(), algorithms.end(), [&](crypto::SignatureAlg alg) {
    return std::find(known.begin(), known.end(), crypto::key_type_for(alg)) != known.end();
  });
  return algorithms;
}

std::expected<std::string, std::string> KnownHosts::format_line(std::string_view host,
                                                                std::uint16_t port,
                                                                const crypto::PublicKey& key,
                                                                bool hashed, crypto::Random& rng) {
  if (!valid_host(host)) {
    return std::unexpected("\"" + std::string(host) + "\" cannot be written as a host name");
  }
  const std::string name = known_hosts_name(host, port);
  std::string out;
  if (hashed) {
    // hostfile.c host_hash(): a fresh salt per line.
    Bytes salt(hash_salt_size);
    rng.fill(salt);
    out = std::string(hash_magic) + crypto::base64_encode(salt) + hash_delim +
          crypto::base64_encode(crypto::hmac_sha1(salt, as_bytes(name)));
  } else {
    out = name;
  }
  out += ' ';
  out += key.to_openssh();
  return out;
}

std::expected<void, std::string> add_known_host(const fs::path& path, std::string_view host,
                                                std::uint16_t port, const crypto::PublicKey& key,
                                                bool hashed, crypto::Random& rng) {
  auto line = KnownHosts::format_line(host, port, key, hashed, rng);
  if (!line) return std::unexpected(path.string() + ": " + line.error());

  std::error_code ec;
  // A device (UserKnownHostsFile=/dev/null) takes the line and keeps nothing, as
  // OpenSSH's append does; it must never be replaced by a renamed file.
  if (fs::is_character_file(path, ec)) return {};
  // Replace what a symlink points at, not the link (dotfile managers link ~/.ssh files).
  fs::path target = path;
  if (fs::is_symlink(path, ec)) {
    target = fs::canonical(path, ec);
    if (ec) return std::unexpected(path.string() + ": cannot follow symlink: " + ec.message());
  }
  if (auto dir = ensure_directory(crypto::directory_of(target)); !dir) return std::unexpected(dir.error());

  FileText file{{}, 0600};
  if (auto old = crypto::read_file(target, max_file_size)) {
    file = std::move(*old);
  } else if (old.error().err != ENOENT) {
    return std::unexpected(io_failure(target, old.error()));
  }
  if (!file.text.empty() && file.text.back() != '\n') file.text += '\n';
  file.text += *line;
  file.text += '\n';

  if (auto r = crypto::replace_file(target, file.text, file.mode, rng); !r)
    return std::unexpected(io_failure(target, r.error()));
  return {};
}

namespace {

/// What the files say about a key: the first file behind each verdict.
struct Verdicts {
  // other_type: no line of this key's type, but lines of other types.
  std::optional<FileCheck> revoked, known, changed, other_type;
};

/// The verifier known_hosts_verifier() returns, called once per host key shown.
class Verifier {
 public:
  Verifier(std::vector<fs::path> files, std::string host, std::uint16_t port, HostKeyPolicy policy,
           crypto::Random& rng)
      : files_(std::move(files)),
        host_(std::move(host)),
        port_(port),
        policy_(std::move(policy)),
        random_(&rng) {}

  bool operator()(const crypto::PublicKey& key) const {
    if (files_.empty()) {
      say("No known_hosts file to check the host key against.");
      return fail();
    }
    const auto verdicts = read_files(key);
    if (!verdicts) return fail();
    if (verdicts->revoked) return revoked(key);
    if (verdicts->known) return true;
    if (verdicts->changed || verdicts->other_type) return changed(key, *verdicts);
    return unknown(key);
  }

 private:
  void say(std::string_view s) const {
    if (policy_.report) policy_.report(s);
  }
  bool fail() const {
    say("Host key verification failed.");
    return false;
  }
  bool strict() const { return policy_.strict != StrictHostKeyChecking::no; }
  std::string name() const { return known_hosts_name(host_, port_); }

  /// Every file's verdict; nullopt (and said why) if a file cannot be read.
  std::optional<Verdicts> read_files(const crypto::PublicKey& key) const {
    Verdicts out;
    for (const fs::path& file : files_) {
      auto kh = KnownHosts::load(file);
      if (!kh) {
        // What an unreadable file says is unknown; adding to it could also
        // duplicate or contradict it. Refuse rather than guess.
        say(kh.error());
        return std::nullopt;
      }
      HostKeyCheck c = kh->check(host_, port_, key);
      for (const std::string& p : c.problems) say(p);
      std::optional<FileCheck>* slot = nullptr;
      switch (c.status) {
        case HostKeyStatus::revoked:
          slot = &out.revoked;
          break;
        case HostKeyStatus::known:
          slot = &out.known;
          break;
        case HostKeyStatus::changed:
          slot = &out.changed;
          break;
        case HostKeyStatus::unknown:
          if (!c.lines.empty()) slot = &out.other_type;
          break;
      }
      if (slot != nullptr && !slot->has_value()) *slot = FileCheck{&file, std::move(c)};
    }
    return out;
  }

  /// sshconnect.c check_host_key(), HOST_REVOKED: refused under every policy.
  bool revoked(const crypto::PublicKey& key) const {
    const std::string type(type_label(key.type()));
    say("@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@");
    say("@       WARNING: REVOKED HOST KEY DETECTED!               @");
    say("@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@");
    say("The " + type + " host key for " + name() + " is marked as revoked.");
    say("This could mean that a stolen key is being used to");
    say("impersonate this host.");
    if (strict())
      say(type + " host key for " + name() +
          " was revoked and you have requested strict checking.");
    return fail();
  }

  /// sshconnect.c warn_changed_key() and HOST_CHANGED.
  bool changed(const crypto::PublicKey& key, const Verdicts& v) const {
    const std::string type(type_label(key.type()));
    const FileCheck& offending = v.changed ? *v.changed : *v.other_type;
    const std::string& offending_file = offending.file->string();
    say("@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@");
    say("@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @");
    say("@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@");
    say("IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!");
    say("Someone could be eavesdropping on you right now (man-in-the-middle attack)!");
    say("It is also possible that a host key has just been changed.");
    if (!v.changed) {
      say("The host sent a key of a type that is not known for it (" + type +
          "), while a key of another type is.");
    }
    say("The fingerprint for the " + type + " key sent by the remote host is");
    say(key.fingerprint() + ".");
    say("Please contact your system administrator.");
    say("Add correct host key in " + files_.front().string() + " to get rid of this message.");
    say("Offending " + (v.changed ? type + " key" : std::string("key")) + " in " + offending_file +
        ":" + std::to_string(offending.check.lines.front()));
    say("  remove with:");
    say("  ssh-keygen -f \"" + offending_file + "\" -R \"" + name() + "\"");
    if (strict()) {
      say("Host key for " + name() + " has changed and you have requested strict checking.");
      return fail();
    }
    // sshconnect.c: under "no" the connection goes on, without the methods
    // that would hand a secret to whoever holds the new key.
    say("Password and keyboard-interactive authentication are disabled to avoid "
        "man-in-the-middle attacks.");
    if (policy_.on_changed_key_accepted) policy_.on_changed_key_accepted();
    return true;
  }

  /// No file has any key for the host: refused, asked about or added.
  bool unknown(const crypto::PublicKey& key) const {
    const std::string type(type_label(key.type()));
    const bool asking = policy_.strict == StrictHostKeyChecking::ask && policy_.ask;
    if (policy_.strict == StrictHostKeyChecking::yes ||
        (policy_.strict == StrictHostKeyChecking::ask && !asking)) {
      say("No " + type + " host key is known for " + name() +
          " and you have requested strict checking.");
      return fail();
    }
    if (asking) {
      // sshconnect.c confirm(): "yes" or the fingerprint itself accepts.
      auto answer =
          policy_.ask("The authenticity of host '" + name() + "' can't be established.\n" + type +
                      " key fingerprint is " + key.fingerprint() + ".\n" +
                      "This key is not known by any other names.\n" +
                      "Are you sure you want to continue connecting (yes/no/[fingerprint])? ");
      if (!answer || (*answer != "yes" && *answer != key.fingerprint())) return fail();
    }
    const fs::path& file = files_.front();
    if (auto added = add_known_host(file, host_, port_, key, policy_.hash_new_entries, *random_);
        !added) {
      say(added.error());
      say("Failed to add the host to the list of known hosts (" + file.string() + ").");
    } else {
      say("Warning: Permanently added '" + name() + "' (" + type + ") to the list of known hosts.");
    }
    return true;
  }

  std::vector<fs::path> files_;
  std::string host_;
  std::uint16_t port_;
  HostKeyPolicy policy_;
  crypto::Random* random_;
};

}  // namespace

transport::HostKeyVerifier known_hosts_verifier(std::vector<fs::path> files, std::string host,
                                                std::uint16_t port, StrictHostKeyChecking strict,
                                                bool hash_new_entries, crypto::Random& rng,
                                                std::function<void(std::string_view)> report) {
  HostKeyPolicy policy;
  policy.strict = strict;
  policy.hash_new_entries = hash_new_entries;
  policy.report = std::move(report);
  return known_hosts_verifier(std::move(files), std::move(host), port, std::move(policy), rng);
}

transport::HostKeyVerifier known_hosts_verifier(std::vector<fs::path> files, std::string host,
                                                std::uint16_t port, HostKeyPolicy policy,
                                                crypto::Random& rng) {
  return Verifier(std::move(files), std::move(host), port, std::move(policy), rng);
}

}  // namespace parley::client

// ssh_config(5) as OpenSSH 9.2's ssh reads it, without I/O: lines split as
// readconf.c splits them (keyword, one optional '=', quoted arguments, '#'
// comments), Host and Match blocks, Include (files come from an injected
// reader and glob), IgnoreUnknown, %-tokens, and the two passes ssh makes when
// a config asks for "Match final" or CanonicalizeHostname.
//
// The result is a Settings list: every line that applies, in the order ssh
// would see it (the command line's -o options first). As in ssh, the first
// value of an option wins, except for the options that add up (IdentityFile,
// SendEnv, ...): a caller reads first() or all(), never a later value.
//
//   ssh_config::Settings s;                          // -o options: s.add(...)
//   ssh_config::Context c{.host = "example", .local_user = "me", ...};
//   auto r = ssh_config::apply({{"~/.ssh/config", Scope::user}}, c, files, s);
//   if (!r) show(r.error().message());               // "FILE line N: what is wrong"
#pragma once

#include <cstddef>
#include <expected>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace parley::client::ssh_config {

/// Where a setting was written: a file and its line, or "command-line" line 0.
struct Origin {
  std::string file;
  int line = 0;
};

/// Why a configuration cannot be used: the place and what is wrong there.
struct Error {
  Origin origin;
  std::string what;
  /// "FILE line N: what", as ssh words it.
  std::string message() const;
};

/// One option line that applies: its keyword lower-cased (aliases folded to the
/// name ssh prints, e.g. challengeresponseauthentication to
/// kbdinteractiveauthentication) and its arguments, unquoted.
struct Setting {
  std::string keyword;
  std::vector<std::string> args;
  Origin origin;
};

/// The options that apply, in order. first(): the value that counts for a
/// one-value option; all(): every line of one that adds up.
class Settings {
 public:
  void add(Setting s) { list_.push_back(std::move(s)); }
  const Setting* first(std::string_view keyword) const;
  std::vector<const Setting*> all(std::string_view keyword) const;
  const std::vector<Setting>& list() const { return list_; }

 private:
  std::vector<Setting> list_;
};

/// What Host and Match compare with and what %-tokens stand for.
struct Context {
  std::string host;        // the host as typed (ssh's host_arg; %n)
  std::string local_user;  // %u, Match localuser, User when none is set
  std::string home;        // %d, '~'
  std::string local_host;  // %l (gethostname), %L is its first label
  std::string uid;         // %i
  /// $NAME / ${NAME} for the options ssh expands them in; nullopt: unset.
  std::function<std::optional<std::string>(const std::string&)> env;
};

/// The file system and shell as the evaluation sees them (the I/O edge).
/// Why a file could not be read: `unopened` when it could not even be opened
/// (ssh skips ~/.ssh/config and the system file then, as if they were missing).
struct ReadError {
  std::string message;
  bool unopened = false;
};

struct Files {
  using ReadResult = std::expected<std::optional<std::string>, ReadError>;
  using GlobResult = std::expected<std::vector<std::string>, std::string>;
  /// A file's text; nullopt when it does not exist; an error otherwise.
  /// `check_permissions`: as ssh, refuse a file that another user owns or that
  /// the group or others can write (~/.ssh/config and included files).
  std::function<ReadResult(const std::string& path, bool check_permissions)> read;
  /// The paths a glob(3) pattern names, sorted as glob(3) sorts them.
  std::function<GlobResult(const std::string& pattern)> glob;
  /// Match exec's command run by the shell: its exit status. Empty: Match exec
  /// is refused (parley runs no command from a config file unless told to).
  std::function<std::expected<int, std::string>(const std::string& command)> exec;
};

/// A file to read and whose rules apply to it: a user file (`~/` allowed and
/// relative Include paths under ~/.ssh) or a system one (under /etc/ssh).
enum class Scope { user, system };
struct Source {
  std::string path;
  Scope scope = Scope::user;
  bool check_permissions = false;
};

/// Bounds against a hostile or broken configuration (OpenSSH stops at depth 16).
inline constexpr int max_include_depth = 16;
inline constexpr std::size_t max_files_read = 512;  // per pass, Include included
inline constexpr std::size_t max_file_size = 1 << 20;
inline constexpr std::size_t max_total_size = 8 << 20;  // per pass, every file together

/// Reads `sources` in order, twice when the configuration asks for ssh's final
/// pass, and appends what applies to `settings` (which may already hold the
/// command line's options: they count for Match user and win over the files).
/// A top-level file that is missing or cannot be opened is skipped unless
/// `required` (ssh's -F FILE); an included one that cannot be opened is an error.
std::expected<void, Error> apply(const std::vector<Source>& sources, const Context& context,
                                 const Files& files, Settings& settings, bool required = false);

/// The name ssh connects to and prints as `hostname`: HostName with its %h
/// expanded, or the host as typed; lower-cased unless an IP address.
std::expected<std::string, Error> resolved_host(const Settings& settings, const Context& context);

/// Splits one line as readconf.c does: nullopt for a blank or comment line.
struct Line {
  std::string keyword;  // lower-cased, as written (aliases not folded)
  std::vector<std::string> args;
};
std::expected<std::optional<Line>, std::string> split_line(std::string_view text);

/// The -o option "Name=value" / "Name value" as one Setting from "command-line".
std::expected<Setting, Error> command_line_option(std::string_view text);

/// ssh's wildcard match ('*' any run, '?' one character), case-sensitive.
bool match_pattern(std::string_view text, std::string_view pattern);
/// A comma-separated pattern list with '!' negation: 1 match, 0 none, -1 negated
/// match (which wins). `lower`: the patterns are lower-cased first.
int match_pattern_list(std::string_view text, std::string_view list, bool lower);

/// %-tokens: `values` pairs a letter with its text; "%%" is '%'. An unknown
/// token or a trailing '%' is an error naming it.
using Tokens = std::vector<std::pair<char, std::string>>;
std::expected<std::string, std::string> expand_tokens(std::string_view text, const Tokens& values);
/// ${NAME} from the environment (an unset name is an error), as ssh expands it
/// in UserKnownHostsFile and IdentityAgent.
std::expected<std::string, std::string> expand_env(std::string_view text, const Context& context);
/// ssh's convtime(): "90", "1m30s", "2h", ... in seconds (at most a year);
/// nullopt when malformed.
std::optional<long> parse_time(std::string_view text);
/// RekeyLimit's arguments, as ssh reads them: a byte count ("default", or a
/// number with an optional K, M, G or T suffix, 0 or at least 16) and an optional
/// time ("none" or as parse_time()). 0 stands for "default" and, for the time,
/// "none" too (ssh -G prints both as 0); `no_time` says "none".
struct RekeyLimit {
  std::uint64_t bytes = 0;
  long seconds = 0;
  bool no_time = false;
};
std::expected<RekeyLimit, std::string> parse_rekey_limit(const std::vector<std::string>& args);
/// "~" and "~/..." to the home directory.
std::string expand_tilde(std::string_view path, const Context& context);

/// What kind of option a keyword is to parley.
enum class Kind {
  read,         // parley reads it
  ignored,      // known to ssh, accepted, no effect in parley (a debug line says so)
  unsupported,  // known to ssh; parley refuses to run when it takes effect
  structure,    // Host, Match, Include, IgnoreUnknown
  unknown,
};
/// The keyword's kind (after folding aliases), and the folded name.
Kind kind_of(std::string_view keyword);
std::string canonical_keyword(std::string_view keyword);
/// Options whose every line counts (OpenSSH's arrays), the others: first wins.
bool accumulates(std::string_view keyword);
/// The checks ssh makes on an option's arguments wherever it is written (in a
/// block that applies or not): their number and, for the options parley reads,
/// their values. `keyword` is folded (canonical_keyword).
std::expected<void, std::string> check_arguments(std::string_view keyword,
                                                 const std::vector<std::string>& args);

}  // namespace parley::client::ssh_config

// ssh_config's words: how a line splits (readconf.c's strdelim for the keyword,
// misc.c's argv_split for the arguments), ssh's wildcard patterns (match.c),
// %-tokens and ${VAR} (misc.c's percent_expand), and which keywords parley
// reads, ignores or refuses. Nothing here does I/O.
#include <algorithm>
#include <map>

#include "parley/client/forwards.hpp"
#include "parley/client/ssh_config.hpp"
#include "parley/wire/bytes.hpp"

namespace parley::client::ssh_config {
namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f';
}

/// argv_split(s, terminate_on_comment=1): whitespace-separated words, '"' and
/// '\'' quote, '\' escapes a quote, a backslash or (unquoted) a space; '#' at a
/// word's start ends the line. An unclosed quote is an error.
std::expected<std::vector<std::string>, std::string> split_arguments(std::string_view s) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < s.size()) {
    if (s[i] == ' ' || s[i] == '\t') {
      ++i;
      continue;
    }
    if (s[i] == '#') break;
    std::string arg;
    char quote = 0;
    for (; i < s.size(); ++i) {
      const char c = s[i];
      if (c == '\\' && i + 1 < s.size() &&
          (s[i + 1] == '\'' || s[i + 1] == '"' || s[i + 1] == '\\' ||
           (quote == 0 && s[i + 1] == ' '))) {
        arg += s[++i];
      } else if (quote == 0 && (c == ' ' || c == '\t')) {
        break;
      } else if (quote == 0 && (c == '"' || c == '\'')) {
        quote = c;
      } else if (quote != 0 && c == quote) {
        quote = 0;
      } else {
        arg += c;
      }
    }
    if (quote != 0) return std::unexpected("invalid quotes");
    out.push_back(std::move(arg));
  }
  return out;
}

enum class Arity { one, many };
enum class Check { any, flag, pubkey, strict, tty, loglevel, port, time, count, setenv, rekey, session_type,
                   local_forward, remote_forward, dynamic_forward };

struct KeywordInfo {
  Kind kind;
  Arity arity = Arity::many;
  Check check = Check::any;
};

// clang-format off
const std::map<std::string, KeywordInfo, std::less<>>& keywords() {
  static const std::map<std::string, KeywordInfo, std::less<>> table = [] {
    std::map<std::string, KeywordInfo, std::less<>> t;
    const KeywordInfo one{Kind::read, Arity::one, Check::any};
    const KeywordInfo flag{Kind::read, Arity::one, Check::flag};
    for (const char* k : {"batchmode", "hashknownhosts", "identitiesonly",
                          "kbdinteractiveauthentication", "passwordauthentication"})
      t[k] = flag;
    for (const char* k : {"ciphers", "hostkeyalgorithms", "kexalgorithms", "macs", "hostname",
                          "identityagent", "identityfile", "preferredauthentications", "user",
                          "passwordpromptrule" /* parley's own */,
                          "warnweakcrypto" /* OpenSSH 10.1 */})
      t[k] = one;
    t["pubkeyauthentication"] = {Kind::read, Arity::one, Check::pubkey};
    t["stricthostkeychecking"] = {Kind::read, Arity::one, Check::strict};
    t["requesttty"] = {Kind::read, Arity::one, Check::tty};
    t["loglevel"] = {Kind::read, Arity::one, Check::loglevel};
    t["port"] = {Kind::read, Arity::one, Check::port};
    t["connecttimeout"] = {Kind::read, Arity::one, Check::time};
    t["numberofpasswordprompts"] = {Kind::read, Arity::one, Check::count};
    t["serveraliveinterval"] = {Kind::read, Arity::one, Check::time};
    t["serveralivecountmax"] = {Kind::read, Arity::one, Check::count};
    t["rekeylimit"] = {Kind::read, Arity::many, Check::rekey};
    t["proxycommand"] = one;
    t["proxyjump"] = one;
    t["tcpkeepalive"] = flag;
    t["connectionattempts"] = {Kind::read, Arity::one, Check::count};
    t["setenv"] = {Kind::read, Arity::many, Check::setenv};
    for (const char* k : {"exitonforwardfailure", "gatewayports", "clearallforwardings"}) t[k] = flag;
    t["sessiontype"] = {Kind::read, Arity::one, Check::session_type};
    t["localforward"] = {Kind::read, Arity::many, Check::local_forward};
    t["remoteforward"] = {Kind::read, Arity::many, Check::remote_forward};
    t["dynamicforward"] = {Kind::read, Arity::one, Check::dynamic_forward};
    for (const char* k : {"sendenv", "userknownhostsfile", "globalknownhostsfile"})
      t[k] = {Kind::read, Arity::many, Check::any};
    for (const char* k : {"host", "match", "include"}) t[k] = {Kind::structure};
    t["ignoreunknown"] = {Kind::structure, Arity::one};
    for (const char* k : {
        "addkeystoagent", "addressfamily", "canonicalizefallbacklocal", "canonicalizehostname",
        "canonicalizemaxdots", "canonicalizepermittedcnames", "canonicaldomains",
        "casignaturealgorithms", "certificatefile", "checkhostip",
        "compression", "controlmaster", "controlpath", "controlpersist",
        "enableescapecommandline", "enablesshkeysign", "escapechar",
        "fingerprinthash", "forwardagent", "forwardx11", "forwardx11timeout",
        "forwardx11trusted", "gssapiauthentication",
        "gssapidelegatecredentials", "hostbasedacceptedalgorithms", "hostbasedauthentication",
        "ipqos", "kbdinteractivedevices", "logverbose", "nohostauthenticationforlocalhost",
        "obscurekeystroketiming", "permitremoteopen", "pkcs11provider", "permitlocalcommand",
        "pubkeyacceptedalgorithms", "requiredrsasize", "securitykeyprovider",
        "streamlocalbindmask",
        "streamlocalbindunlink", "syslogfacility", "updatehostkeys",
        "verifyhostkeydns", "visualhostkey", "xauthlocation"})
      t[k] = {Kind::ignored};
    for (const char* k : {
        "bindaddress", "bindinterface", "forkafterauthentication",
        "hostkeyalias", "knownhostscommand", "localcommand",
        "proxyusefdpass", "remotecommand", "revokedhostkeys",
        "stdinnull", "tag", "tunnel", "tunneldevice"})
      t[k] = {Kind::unsupported};
    return t;
  }();
  return table;
}

/// Old names ssh still takes for an option, and the name it prints.
const std::map<std::string, std::string, std::less<>>& aliases() {
  static const std::map<std::string, std::string, std::less<>> a = {
      {"challengeresponseauthentication", "kbdinteractiveauthentication"},
      {"pubkeyacceptedkeytypes", "pubkeyacceptedalgorithms"},
      {"hostbasedkeytypes", "hostbasedacceptedalgorithms"},
      {"globalknownhostsfile2", "globalknownhostsfile"},
      {"userknownhostsfile2", "userknownhostsfile"}};
  return a;
}
// clang-format on

bool one_of(std::string_view v, std::initializer_list<std::string_view> list) {
  return std::find(list.begin(), list.end(), ascii_lower(v)) != list.end();
}

/// LocalForward LISTEN TARGET, RemoteForward LISTEN [TARGET], DynamicForward LISTEN,
/// checked as ssh checks them (a Unix socket path passes here: it is refused
/// where it applies, as parley does not forward those).
std::expected<void, std::string> check_forward(Check check, const std::vector<std::string>& args) {
  const bool local = check == Check::local_forward;
  if (local && args.size() < 2) return std::unexpected(std::string("Missing target argument."));
  const std::string_view keyword = local ? "localforward" : "remoteforward";
  if (args.size() > 2) return std::unexpected("keyword " + std::string(keyword) + " extra arguments at end of line");
  const ForwardKind kind = local ? ForwardKind::local : check == Check::remote_forward ? ForwardKind::remote : ForwardKind::dynamic;
  const std::string spec = args.size() == 2 ? args[0] + ":" + args[1] : args[0];
  // A port may be a service name: only the caller can look it up (/etc/services).
  const auto any_service = [](std::string_view) -> std::optional<std::uint16_t> { return 1; };
  auto f = parse_forward(spec, kind, any_service);
  if (!f && f.error() == "bad specification") return std::unexpected(std::string("Bad forwarding specification."));
  return {};
}

/// The value checks ssh makes on every line, in a block that applies or not.
std::expected<void, std::string> check_value(std::string_view keyword, Check check,
                                             const std::vector<std::string>& args) {
  const std::string& v = args.front();
  const auto bad = [&](std::string_view hint) {
    return std::unexpected("bad value for " + std::string(keyword) + ": '" + v + "'" +
                           std::string(hint));
  };
  switch (check) {
    case Check::any: return {};
    case Check::flag:
      if (one_of(v, {"yes", "no", "true", "false"})) return {};
      return bad(" (yes or no)");
    case Check::pubkey:
      if (one_of(v, {"yes", "no", "true", "false", "unbound", "host-bound"})) return {};
      return bad(" (yes, no, unbound or host-bound)");
    case Check::strict:
      if (one_of(v, {"yes", "no", "true", "false", "ask", "off", "accept-new"})) return {};
      return bad(" (yes, no, ask or accept-new)");
    case Check::tty:
      if (one_of(v, {"yes", "no", "true", "false", "force", "auto"})) return {};
      return bad(" (no, yes, force or auto)");
    case Check::loglevel:
      if (one_of(v, {"quiet", "fatal", "error", "info", "verbose", "debug", "debug1", "debug2",
                     "debug3"}))
        return {};
      return bad("");
    case Check::port: {
      const bool digits =
          !v.empty() && v.size() <= 5 &&
          std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; });
      if (digits && std::stoi(v) >= 1 && std::stoi(v) <= 65535) return {};
      return std::unexpected("Bad port '" + v + "'.");
    }
    case Check::time:
      if (v == "none" || parse_time(v)) return {};
      return std::unexpected("invalid time value '" + v + "'.");
    case Check::count:
      if (!v.empty() && v.size() <= 9 &&
          std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return {};
      return std::unexpected("bad number '" + v + "'.");
    case Check::rekey:
      if (auto r = parse_rekey_limit(args); !r) return std::unexpected(r.error());
      return {};
    case Check::session_type:
      if (one_of(v, {"none", "subsystem", "default"})) return {};
      return std::unexpected("unsupported option \"" + v + "\".");
    case Check::local_forward:
    case Check::remote_forward:
    case Check::dynamic_forward:
      return check_forward(check, args);
    case Check::setenv:
      for (const auto& a : args)
        if (a.find('=') == std::string::npos || a.front() == '=')
          return std::unexpected("Invalid SetEnv '" + a + "' (write NAME=value).");
      return {};
  }
  return bad("");
}

}  // namespace

std::string Error::message() const {
  return origin.file + " line " + std::to_string(origin.line) + ": " + what;
}

const Setting* Settings::first(std::string_view keyword) const {
  for (const auto& s : list_)
    if (s.keyword == keyword) return &s;
  return nullptr;
}

std::vector<const Setting*> Settings::all(std::string_view keyword) const {
  std::vector<const Setting*> out;
  for (const auto& s : list_)
    if (s.keyword == keyword) out.push_back(&s);
  return out;
}

std::expected<std::optional<Line>, std::string> split_line(std::string_view text) {
  // Trailing whitespace (and a form feed) goes, as readconf.c strips it.
  while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
  std::size_t i = 0;
  while (i < text.size() && is_space(text[i])) ++i;
  std::size_t end = i;
  while (end < text.size() && !is_space(text[end]) && text[end] != '=') ++end;
  const std::string keyword = ascii_lower(text.substr(i, end - i));
  if (keyword.empty() || keyword[0] == '#') return std::nullopt;
  // strdelim: whitespace, at most one '=', whitespace.
  i = end;
  while (i < text.size() && is_space(text[i])) ++i;
  if (i < text.size() && text[i] == '=') ++i;
  while (i < text.size() && is_space(text[i])) ++i;
  if (i == text.size()) return std::unexpected("no argument after keyword \"" + keyword + "\"");
  // As readconf.c: a command is the rest of the line as written, for the shell.
  if (keyword == "proxycommand") return Line{keyword, {std::string(text.substr(i))}};
  auto args = split_arguments(text.substr(i));
  if (!args) return std::unexpected(args.error());
  if (args->empty()) return std::unexpected("no argument after keyword \"" + keyword + "\"");
  return Line{keyword, std::move(*args)};
}

std::expected<Setting, Error> command_line_option(std::string_view text) {
  const Origin origin{"command-line", 0};
  auto line = split_line(text);
  if (!line) return std::unexpected(Error{origin, line.error()});
  if (!*line)
    return std::unexpected(Error{origin, "missing argument in '" + std::string(text) + "'"});
  const std::string keyword = canonical_keyword((*line)->keyword);
  if (keyword == "host" || keyword == "match" || keyword == "include")
    return std::unexpected(Error{origin, (*line)->keyword + " directive not supported as a "
                                                            "command-line option"});
  return Setting{keyword, std::move((*line)->args), origin};
}

std::expected<void, std::string> check_arguments(std::string_view keyword,
                                                 const std::vector<std::string>& args) {
  const auto it = keywords().find(keyword);
  if (it == keywords().end()) return {};
  if (it->second.arity == Arity::one && args.size() > 1)
    return std::unexpected("keyword " + std::string(keyword) + " extra arguments at end of line");
  for (const auto& a : args)
    if (a.empty()) return std::unexpected("keyword " + std::string(keyword) + " empty argument");
  return check_value(keyword, it->second.check, args);
}

bool match_pattern(std::string_view s, std::string_view p) {
  // Iterative '*' backtracking: linear in practice, no recursion on hostile patterns.
  std::size_t si = 0, pi = 0, star = std::string_view::npos, mark = 0;
  while (si < s.size()) {
    if (pi < p.size() && (p[pi] == '?' || p[pi] == s[si])) {
      ++si;
      ++pi;
    } else if (pi < p.size() && p[pi] == '*') {
      star = pi++;
      mark = si;
    } else if (star != std::string_view::npos) {
      pi = star + 1;
      si = ++mark;
    } else {
      return false;
    }
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

int match_pattern_list(std::string_view text, std::string_view list, bool lower) {
  bool positive = false;
  std::size_t i = 0;
  while (i < list.size()) {
    const bool negated = list[i] == '!';
    if (negated) ++i;
    const std::size_t comma = std::min(list.find(',', i), list.size());
    std::string sub(list.substr(i, comma - i));
    i = comma + (comma < list.size() ? 1 : 0);
    if (sub.size() >= 1023) return 0;  // match.c: an over-long subpattern never matches
    if (lower) sub = ascii_lower(sub);
    if (match_pattern(text, sub)) {
      if (negated) return -1;
      positive = true;
    }
  }
  return positive ? 1 : 0;
}

std::expected<std::string, std::string> expand_tokens(std::string_view text, const Tokens& values) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    if (++i == text.size()) return std::unexpected("invalid format: '%' at the end");
    if (text[i] == '%') {
      out += '%';
      continue;
    }
    const auto it = std::find_if(values.begin(), values.end(),
                                 [&](const auto& v) { return v.first == text[i]; });
    if (it == values.end()) return std::unexpected(std::string("unknown key %") + text[i]);
    out += it->second;
  }
  return out;
}

std::expected<std::string, std::string> expand_env(std::string_view text, const Context& context) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '$' || i + 1 >= text.size() || text[i + 1] != '{') {
      out += text[i];
      continue;
    }
    const std::size_t close = text.find('}', i + 2);
    if (close == std::string_view::npos)
      return std::unexpected("unterminated ${ in '" + std::string(text) + "'");
    const std::string name(text.substr(i + 2, close - i - 2));
    const auto value = context.env ? context.env(name) : std::nullopt;
    if (!value) return std::unexpected("env var ${" + name + "} has no value");
    out += *value;
    i = close;
  }
  return out;
}

std::optional<long> parse_time(std::string_view text) {
  if (text.empty()) return std::nullopt;
  long total = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    long n = 0;
    std::size_t digits = 0;
    for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i, ++digits) {
      if (digits == 9) return std::nullopt;
      n = n * 10 + (text[i] - '0');
    }
    if (digits == 0) return std::nullopt;
    long unit = 1;
    if (i < text.size()) {
      switch (ascii_lower(text[i++])) {
        case 's': break;
        case 'm': unit = 60; break;
        case 'h': unit = 3600; break;
        case 'd': unit = 86400; break;
        case 'w': unit = 7 * 86400; break;
        default: return std::nullopt;
      }
    }
    total += n * unit;
    if (total > 366L * 86400) return std::nullopt;
  }
  return total;
}

std::expected<RekeyLimit, std::string> parse_rekey_limit(const std::vector<std::string>& args) {
  if (args.empty() || args.size() > 2) return std::unexpected(std::string("RekeyLimit takes a size and a time."));
  RekeyLimit out;
  const std::string& size = args[0];
  if (ascii_lower(size) != "default") {
    std::uint64_t n = 0;
    std::size_t i = 0;
    for (; i < size.size() && size[i] >= '0' && size[i] <= '9'; ++i) {
      if (i == 15) return std::unexpected("Bad RekeyLimit size '" + size + "'.");
      n = n * 10 + static_cast<std::uint64_t>(size[i] - '0');
    }
    if (i == 0 || size.size() - i > 1) return std::unexpected("Bad RekeyLimit size '" + size + "'.");
    if (i < size.size()) {
      const std::string_view units = "kmgt";
      const auto u = units.find(ascii_lower(size[i]));
      if (u == std::string_view::npos) return std::unexpected("Bad RekeyLimit size '" + size + "'.");
      for (std::size_t k = 0; k <= u; ++k) n *= 1024;
    }
    if (n != 0 && n < 16) return std::unexpected(std::string("RekeyLimit too small."));
    out.bytes = n;
  }
  if (args.size() == 2) {
    const std::string t = ascii_lower(args[1]);
    if (t == "none") {
      out.no_time = true;
    } else {
      const auto seconds = parse_time(t);
      if (!seconds) return std::unexpected("invalid time value '" + args[1] + "'.");
      out.seconds = *seconds;
    }
  }
  return out;
}

std::string expand_tilde(std::string_view path, const Context& context) {
  if (path == "~") return context.home;
  if (path.starts_with("~/")) return context.home + std::string(path.substr(1));
  return std::string(path);
}

std::string canonical_keyword(std::string_view keyword) {
  const std::string k = ascii_lower(keyword);
  const auto it = aliases().find(k);
  return it == aliases().end() ? k : it->second;
}

Kind kind_of(std::string_view keyword) {
  const auto it = keywords().find(canonical_keyword(keyword));
  return it == keywords().end() ? Kind::unknown : it->second.kind;
}

bool accumulates(std::string_view keyword) {
  return keyword == "identityfile" || keyword == "sendenv" || keyword == "certificatefile" ||
         keyword == "localforward" || keyword == "remoteforward" || keyword == "dynamicforward";
}

}  // namespace parley::client::ssh_config

// parley's command line, parsed once into ClientOptions. The checks and their
// messages are ssh's where ssh has them ("Bad configuration option", ...).
#include "options.hpp"

#include <pwd.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <charconv>
#include <cstdlib>
#include <set>
#include <sstream>
#include <utility>

#include "parley/userauth/client_auth.hpp"
#include "parley/wire/bytes.hpp"

namespace parley::app {
namespace {

constexpr int exit_failure = 255;  // as ssh: connection or authentication error

using Checked = std::expected<void, std::string>;

/// The flags and positionals as CLI11 parses them.
struct CommandLine {
  std::optional<std::uint16_t> port;
  std::optional<std::string> login;
  std::vector<std::string> identities;
  std::vector<std::string> options;
  int verbose = 0;
  bool force_tty = false;
  bool no_tty = false;
  std::string destination;
  std::vector<std::string> command;
};

std::expected<CommandLine, OptionsError> parse_command_line(int argc, const char* const* argv) {
  CLI::App app{"parley: the parley SSH client"};
  CommandLine a;
  app.add_option("-p", a.port, "Port on the server");
  app.add_option("-l", a.login, "User to log in as");
  app.add_option("-i", a.identities, "Private key file (unencrypted OpenSSH format; repeatable)")
      ->allow_extra_args(false);
  app.add_option("-o", a.options, "Option=value, as ssh_config(5): see docs/client.md for the list")
      ->allow_extra_args(false);
  app.add_flag("-v", a.verbose, "More log output (repeatable); never secrets");
  app.add_flag("-t", a.force_tty, "Request a terminal");
  app.add_flag("-T", a.no_tty, "Do not request a terminal");
  app.add_option("destination", a.destination, "[user@]host")->required();
  app.add_option("command", a.command, "Command to run (default: a shell)");
  app.positionals_at_end();
  app.prefix_command(false);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return std::unexpected(OptionsError{{}, app.exit(e) == 0 ? 0 : exit_failure});
  }
  return a;
}

// ---- -o options, as ssh_config(5) names them (case-insensitive)

// clang-format off
/// Options parley reads.
const std::set<std::string>& read_options() {
  static const std::set<std::string> names = {
      "batchmode", "challengeresponseauthentication", "ciphers", "connecttimeout",
      "globalknownhostsfile", "hashknownhosts", "hostkeyalgorithms", "identitiesonly",
      "identityagent", "identityfile", "kbdinteractiveauthentication", "kexalgorithms",
      "loglevel", "macs", "numberofpasswordprompts", "passwordauthentication",
      "passwordpromptrule" /* parley's own */, "port", "preferredauthentications",
      "pubkeyauthentication", "requesttty", "sendenv", "setenv", "stricthostkeychecking",
      "user", "userknownhostsfile", "warnweakcrypto"};
  return names;
}

/// Options ssh knows that parley accepts and ignores (a debug line says so): each
/// one either has no effect here or only asks for something parley never does.
const std::set<std::string>& ignored_options() {
  static const std::set<std::string> names = {
      "addkeystoagent", "addressfamily", "canonicalizefallbacklocal", "canonicalizehostname",
      "canonicalizemaxdots", "canonicalizepermittedcnames", "canonicaldomains",
      "casignaturealgorithms", "certificatefile", "checkhostip", "clearallforwardings",
      "compression", "connectionattempts", "controlmaster", "controlpath", "controlpersist",
      "enablesshkeysign", "escapechar", "exitonforwardfailure", "fingerprinthash",
      "forwardagent", "forwardx11", "forwardx11timeout", "forwardx11trusted", "gatewayports",
      "gssapiauthentication", "gssapidelegatecredentials", "hostbasedacceptedalgorithms",
      "hostbasedauthentication", "ipqos", "kbdinteractivedevices", "logverbose",
      "nohostauthenticationforlocalhost", "obscurekeystroketiming", "pkcs11provider",
      "permitlocalcommand", "pubkeyacceptedalgorithms", "pubkeyacceptedkeytypes", "rekeylimit",
      "requiredrsasize", "securitykeyprovider", "serveralivecountmax", "serveraliveinterval",
      "streamlocalbindmask", "streamlocalbindunlink", "syslogfacility", "tcpkeepalive",
      "updatehostkeys", "verifyhostkeydns", "visualhostkey", "xauthlocation"};
  return names;
}

/// Options ssh knows whose effect parley cannot give and must not silently drop
/// (where it connects, what it runs, what it trusts): refused with their name.
const std::set<std::string>& unsupported_options() {
  static const std::set<std::string> names = {
      "bindaddress", "bindinterface", "dynamicforward", "forkafterauthentication", "host",
      "hostkeyalias", "hostname", "include", "knownhostscommand", "localcommand",
      "localforward", "match", "proxycommand", "proxyjump", "proxyusefdpass",
      "remotecommand", "remoteforward", "revokedhostkeys", "sessiontype", "stdinnull",
      "tag", "tunnel", "tunneldevice"};
  return names;
}
// clang-format on

/// The -o options given, in order; names lower-cased. As in ssh_config, the first
/// value of an option wins, except for the ones that accumulate (IdentityFile, ...).
class OptionList {
 public:
  static std::expected<OptionList, std::string> parse(const std::vector<std::string>& list) {
    OptionList out;
    for (const auto& o : list) {
      const auto eq = o.find_first_of("= \t");
      if (eq == std::string::npos || eq == 0)
        return std::unexpected("command-line line 0: missing argument in '" + o +
                               "' (write Option=value)");
      std::string name = o.substr(0, eq);
      const auto start = o.find_first_not_of("= \t", eq);
      std::string value = start == std::string::npos ? std::string() : o.substr(start);
      const std::string key = ascii_lower(name);
      if (unsupported_options().contains(key))
        return std::unexpected("option " + name + " is not supported by parley");
      if (!read_options().contains(key) && !ignored_options().contains(key))
        return std::unexpected("command-line: line 0: Bad configuration option: " +
                               key);  // ssh's words
      if (value.empty())
        return std::unexpected("command-line line 0: missing argument for " + name);
      if (ignored_options().contains(key))
        out.ignored_.push_back(std::move(name));
      else
        out.values_.emplace_back(key, std::move(value));
    }
    return out;
  }
  std::optional<std::string> first(const std::string& name) const {
    for (const auto& [k, v] : values_)
      if (k == name) return v;
    return std::nullopt;
  }
  std::vector<std::string> all(const std::string& name) const {
    std::vector<std::string> out;
    for (const auto& [k, v] : values_)
      if (k == name) out.push_back(v);
    return out;
  }
  /// yes/no options (ssh also takes true/false); anything else is an error.
  std::expected<std::optional<bool>, std::string> flag(const std::string& name,
                                                       std::string_view shown) const {
    auto v = first(name);
    if (!v) return std::nullopt;
    const std::string l = ascii_lower(*v);
    if (l == "yes" || l == "true") return true;
    if (l == "no" || l == "false") return false;
    return std::unexpected("bad value for " + std::string(shown) + ": '" + *v + "' (yes or no)");
  }
  const std::vector<std::string>& ignored() const { return ignored_; }

 private:
  std::vector<std::pair<std::string, std::string>> values_;
  std::vector<std::string> ignored_;
};

/// A decimal number in [min, max], or an error naming the option.
std::expected<long, std::string> number(const std::string& text, std::string_view option, long min,
                                        long max) {
  long v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v < min || v > max)
    return std::unexpected("bad value for " + std::string(option) + ": '" + text + "'");
  return v;
}

std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> out;
  std::stringstream in(text);
  for (std::string part; std::getline(in, part, sep);)
    if (!part.empty()) out.push_back(part);
  return out;
}

std::string home_dir() {
  if (const char* h = std::getenv("HOME"); h && *h) return h;
  if (const passwd* pw = ::getpwuid(::getuid()); pw && pw->pw_dir) return pw->pw_dir;
  return "/";
}

std::string local_user() {
  if (const passwd* pw = ::getpwuid(::getuid()); pw && pw->pw_name) return pw->pw_name;
  if (const char* u = std::getenv("USER")) return u;
  return "root";
}

std::string expand_home(const std::string& path) {
  if (path.rfind("~/", 0) == 0) return home_dir() + path.substr(1);
  return path;
}

/// Where the agent is: IdentityAgent (none, SSH_AUTH_SOCK, $VAR or a path), by
/// default $SSH_AUTH_SOCK. Empty: no agent.
std::string agent_path(const std::optional<std::string>& identity_agent) {
  const std::string v = identity_agent.value_or("SSH_AUTH_SOCK");
  if (ascii_lower(v) == "none") return {};
  const char* env = nullptr;
  if (v == "SSH_AUTH_SOCK")
    env = std::getenv("SSH_AUTH_SOCK");
  else if (v.size() > 1 && v[0] == '$')
    env = std::getenv(v.c_str() + 1);
  else
    return expand_home(v);
  return env ? env : "";
}

/// An algorithm list as ssh_config takes it: "a,b" replaces the default, "+a,b"
/// appends, "-a,b" removes (names parley lacks are ignored: they are not offered
/// anyway), "^a,b" puts them first.
template <class T, class Parse>
Checked apply_algorithms(const std::optional<std::string>& value, std::string_view option,
                         Parse parse, std::vector<T>& target) {
  if (!value) return {};
  std::string bad;
  auto list = transport::apply_list_syntax(target, *value, parse, &bad);
  if (!list)
    return std::unexpected(
        std::string(option) + ": " +
        (bad.empty() ? "malformed list '" + *value + "'" : "unsupported algorithm '" + bad + "'"));
  if (list->empty())
    return std::unexpected(std::string(option) + " '" + *value + "' leaves no algorithm");
  target = std::move(*list);
  return {};
}

/// A yes/no option into `target`, left as it is when the option is absent.
Checked set_flag(const OptionList& o, const std::string& name, std::string_view shown,
                 bool& target) {
  auto v = o.flag(name, shown);
  if (!v) return std::unexpected(v.error());
  if (*v) target = **v;
  return {};
}

// ---- the steps of parse_client_options(), in the order ssh's checks ran

/// -v wins over LogLevel, as ssh's -v does.
Checked resolve_log_level(const CommandLine& a, const OptionList& o, ClientOptions& out) {
  out.ignored = o.ignored();
  if (a.verbose > 0) {
    out.log_level = a.verbose >= 3   ? spdlog::level::trace
                    : a.verbose == 2 ? spdlog::level::debug
                                     : spdlog::level::info;
    return {};
  }
  const auto l = o.first("loglevel");
  if (!l) return {};
  const std::string v = ascii_lower(*l);
  if (v == "quiet" || v == "fatal")
    out.log_level = spdlog::level::critical;
  else if (v == "error")
    out.log_level = spdlog::level::err;
  else if (v == "info")
    out.log_level = spdlog::level::warn;
  else if (v == "verbose" || v == "debug" || v == "debug1")
    out.log_level = spdlog::level::info;
  else if (v == "debug2")
    out.log_level = spdlog::level::debug;
  else if (v == "debug3")
    out.log_level = spdlog::level::trace;
  else
    return std::unexpected("bad value for LogLevel: '" + *l + "'");
  return {};
}

Checked resolve_destination(const CommandLine& a, const OptionList& o, ClientOptions& out) {
  Destination& d = out.destination;
  d.host = a.destination;
  d.user = o.first("user").value_or(local_user());
  if (const auto at = d.host.rfind('@'); at != std::string::npos) {
    d.user = d.host.substr(0, at);
    d.host = d.host.substr(at + 1);
  }
  if (a.login) d.user = *a.login;
  if (auto p = o.first("port")) {
    auto port = number(*p, "Port", 1, 65535);
    if (!port) return std::unexpected(port.error());
    d.port = static_cast<std::uint16_t>(*port);
  }
  if (a.port) d.port = *a.port;
  for (const auto& part : a.command) out.command += (out.command.empty() ? "" : " ") + part;
  return set_flag(o, "batchmode", "BatchMode", out.batch_mode);
}

Checked resolve_known_hosts(const CommandLine&, const OptionList& o, ClientOptions& out) {
  out.known_hosts_files.emplace_back(
      expand_home(o.first("userknownhostsfile").value_or("~/.ssh/known_hosts")));
  // GlobalKnownHostsFile, by default ssh's two system files (missing ones are empty).
  auto global_files = o.all("globalknownhostsfile");
  if (global_files.empty())
    global_files.push_back("/etc/ssh/ssh_known_hosts /etc/ssh/ssh_known_hosts2");
  for (const auto& g : global_files)
    for (const auto& f : split(g, ' ')) out.known_hosts_files.emplace_back(expand_home(f));
  if (auto r = set_flag(o, "hashknownhosts", "HashKnownHosts", out.hash_known_hosts); !r) return r;
  using S = client::StrictHostKeyChecking;
  const std::string strict = ascii_lower(o.first("stricthostkeychecking").value_or("ask"));
  if (strict == "yes")
    out.strict_host_key_checking = S::yes;
  else if (strict == "ask")
    out.strict_host_key_checking = S::ask;
  else if (strict == "accept-new")
    out.strict_host_key_checking = S::accept_new;
  else if (strict == "no" || strict == "off")
    out.strict_host_key_checking = S::no;
  else
    return std::unexpected("bad StrictHostKeyChecking '" + strict + "'");
  return {};
}

Checked resolve_algorithms(const CommandLine&, const OptionList& o, ClientOptions& out) {
  using P = transport::AlgorithmPreferences;
  transport::AlgorithmPreferences& algorithms = out.algorithms;
  const auto host_key = o.first("hostkeyalgorithms");
  // As ssh: unless the user chose the order, the key types known_hosts holds for
  // the host come first (the session's setup does that: it reads the files).
  out.host_key_order_chosen = host_key && (*host_key)[0] != '+' && (*host_key)[0] != '-';
  Checked r =
      apply_algorithms(o.first("kexalgorithms"), "KexAlgorithms", &P::parse_kex, algorithms.kex);
  if (r)
    r = apply_algorithms(host_key, "HostKeyAlgorithms", &P::parse_host_key, algorithms.host_key);
  if (r) r = apply_algorithms(o.first("ciphers"), "Ciphers", &P::parse_ciphers, algorithms.ciphers);
  if (r) r = apply_algorithms(o.first("macs"), "MACs", &P::parse_macs, algorithms.macs);
  return r;
}

Checked resolve_authentication(const CommandLine&, const OptionList& o, ClientOptions& out) {
  if (auto n = o.first("numberofpasswordprompts")) {
    auto attempts = number(*n, "NumberOfPasswordPrompts", 0, 100);
    if (!attempts) return std::unexpected(attempts.error());
    out.max_attempts = static_cast<std::size_t>(*attempts);
  }
  out.auth_methods = userauth::ClientAuthConfig{}.methods;
  if (auto list = o.first("preferredauthentications")) out.auth_methods = split(*list, ',');
  struct MethodSwitch {
    const char* option;
    const char* shown;
    const char* method;
  };
  for (const MethodSwitch& m :
       {MethodSwitch{"pubkeyauthentication", "PubkeyAuthentication", "publickey"},
        MethodSwitch{"passwordauthentication", "PasswordAuthentication", "password"},
        MethodSwitch{"kbdinteractiveauthentication", "KbdInteractiveAuthentication",
                     "keyboard-interactive"},
        MethodSwitch{"challengeresponseauthentication", "ChallengeResponseAuthentication",
                     "keyboard-interactive"}}) {
    auto on = o.flag(m.option, m.shown);
    if (!on) return std::unexpected(on.error());
    if (*on == false) std::erase(out.auth_methods, std::string(m.method));
  }
  return {};
}

Checked resolve_identities(const CommandLine& a, const OptionList& o, ClientOptions& out) {
  std::vector<std::string> key_files = a.identities;
  for (const auto& f : o.all("identityfile")) key_files.push_back(f);
  out.identity_files_named = !key_files.empty();
  if (!out.identity_files_named)
    for (const char* name : {"id_ed25519", "id_ecdsa", "id_rsa"})
      key_files.push_back("~/.ssh/" + std::string(name));
  for (const auto& f : key_files) out.identity_files.emplace_back(expand_home(f));
  if (auto r = set_flag(o, "identitiesonly", "IdentitiesOnly", out.identities_only); !r) return r;
  out.agent_socket = agent_path(o.first("identityagent"));
  return {};
}

Checked resolve_prompting(const CommandLine&, const OptionList& o, ClientOptions& out) {
  const std::string rule = o.first("passwordpromptrule").value_or("saved");
  if (rule != "saved" && rule != "seed")
    return std::unexpected("bad value for PasswordPromptRule: '" + rule + "' (saved or seed)");
  out.password_prompt_rule = rule == "seed" ? PasswordPromptRule::seed : PasswordPromptRule::saved;
  // As OpenSSH 10.1's WarnWeakCrypto (yes or no only).
  if (auto w = o.first("warnweakcrypto")) {
    const std::string v = ascii_lower(*w);
    if (v != "yes" && v != "no")
      return std::unexpected("bad value for WarnWeakCrypto: '" + *w + "' (yes or no)");
    out.warn_weak_crypto = v == "yes";
  }
  return {};
}

Checked resolve_session(const CommandLine& a, const OptionList& o, ClientOptions& out) {
  if (auto r = o.first("requesttty")) {
    const std::string v = ascii_lower(*r);
    if (v == "no")
      out.request_tty = false;
    else if (v == "yes" || v == "force")
      out.request_tty = true;
    else if (v != "auto")
      return std::unexpected("bad value for RequestTTY: '" + *r + "' (no, yes, force or auto)");
  }
  if (a.force_tty) out.request_tty = true;
  if (a.no_tty) out.request_tty = false;
  // SendEnv patterns pick variables from our environment; SetEnv sets them outright.
  // (LANG as before when neither names anything.)
  for (const auto& v : o.all("sendenv"))
    for (const auto& pattern : split(v, ' ')) out.send_env.push_back(pattern);
  if (out.send_env.empty()) out.send_env.push_back("LANG");
  for (const auto& v : o.all("setenv"))
    for (const auto& assignment : split(v, ' ')) {
      const auto eq = assignment.find('=');
      if (eq == std::string::npos || eq == 0)
        return std::unexpected("bad SetEnv '" + assignment + "' (write NAME=value)");
      out.set_env.push_back({assignment.substr(0, eq), assignment.substr(eq + 1)});
    }
  if (auto t = o.first("connecttimeout"); t && ascii_lower(*t) != "none") {
    const auto seconds = number(*t, "ConnectTimeout", 0, 24 * 3600);
    if (!seconds) return std::unexpected(seconds.error());
    if (*seconds > 0) out.connect_timeout = std::chrono::seconds(*seconds);
  }
  return {};
}

}  // namespace

std::expected<ClientOptions, OptionsError> parse_client_options(int argc, const char* const* argv) {
  auto command_line = parse_command_line(argc, argv);
  if (!command_line) return std::unexpected(command_line.error());
  auto list = OptionList::parse(command_line->options);
  if (!list) return std::unexpected(OptionsError{list.error()});
  ClientOptions out;
  using Step = Checked (*)(const CommandLine&, const OptionList&, ClientOptions&);
  for (Step step : {resolve_log_level, resolve_destination, resolve_known_hosts, resolve_algorithms,
                    resolve_authentication, resolve_identities, resolve_prompting, resolve_session})
    if (auto r = step(*command_line, *list, out); !r)
      return std::unexpected(OptionsError{r.error()});
  return out;
}

}  // namespace parley::app

// parley's command line, parsed once into ClientOptions. The checks and their
// messages are ssh's where ssh has them ("Bad configuration option", ...).
#include "options.hpp"

#include <pwd.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
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
  std::optional<std::string> config_file;  // -F
  bool dump_config = false;                // -G
  bool allow_match_exec = false;
  std::optional<std::string> stdio_forward;  // -W host:port
  std::optional<std::string> jump;           // -J
  std::vector<std::string> local, remote, dynamic;  // -L, -R, -D
  bool no_session = false;                          // -N
};

std::expected<CommandLine, OptionsError> parse_command_line(int argc, const char* const* argv) {
  CLI::App app{"parley: the parley SSH client (to copy files: parley cp --help)"};
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
  app.add_option("-F", a.config_file, "Configuration file instead of ~/.ssh/config and "
                 "/etc/ssh/ssh_config (none: no file)");
  app.add_option("-W", a.stdio_forward, "Forward standard input and output to host:port through the "
                 "server (direct-tcpip), as ssh -W; for ProxyCommand");
  app.add_option("-J", a.jump, "Jump hosts, [user@]host[:port] comma-separated, as ssh -J (ProxyJump)");
  app.add_option("-L", a.local, "[bind_address:]port:host:hostport: listen here, connect there through "
                 "the server, as ssh -L (repeatable)")->allow_extra_args(false);
  app.add_option("-R", a.remote, "[bind_address:]port:host:hostport: the server listens, parley "
                 "connects to host:hostport, as ssh -R (repeatable)")->allow_extra_args(false);
  app.add_option("-D", a.dynamic, "[bind_address:]port: a SOCKS 4/5 proxy here whose connections the "
                 "server makes, as ssh -D (repeatable)")->allow_extra_args(false);
  app.add_flag("-N", a.no_session, "No command and no shell: forwarding only (SessionType none)");
  app.add_flag("-G", a.dump_config, "Print the configuration for the host as ssh -G does, and exit");
  app.add_flag("--allow-match-exec", a.allow_match_exec,
               "Let the configuration's Match exec run its commands (refused otherwise)");
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

// ---- the options that apply (command line first, then the files), as ssh reads them

namespace cfg = client::ssh_config;

/// The settings as the resolve_* steps read them: the first value of an option,
/// every value of one that adds up, and where a value came from for errors.
class OptionList {
 public:
  explicit OptionList(const cfg::Settings& s) : settings_(s) {}
  std::optional<std::string> first(std::string_view name) const {
    const cfg::Setting* v = settings_.first(name);
    if (!v) return std::nullopt;
    std::string joined;
    for (const auto& a : v->args) joined += (joined.empty() ? "" : " ") + a;
    return joined;
  }
  /// The arguments of the first line of `name` (empty when absent).
  std::vector<std::string> first_args(std::string_view name) const {
    const cfg::Setting* v = settings_.first(name);
    return v ? v->args : std::vector<std::string>{};
  }
  /// Every argument of every line of `name`, in order.
  std::vector<std::string> all(std::string_view name) const {
    std::vector<std::string> out;
    for (const cfg::Setting* s : settings_.all(name))
      out.insert(out.end(), s->args.begin(), s->args.end());
    return out;
  }
  /// "FILE line N: " for the line `name`'s first value came from.
  std::string where(std::string_view name) const {
    const cfg::Setting* v = settings_.first(name);
    return v ? v->origin.file + " line " + std::to_string(v->origin.line) + ": " : "";
  }
  /// yes/no options (ssh also takes true/false); anything else is an error.
  std::expected<std::optional<bool>, std::string> flag(std::string_view name,
                                                       std::string_view shown) const {
    auto v = first(name);
    if (!v) return std::nullopt;
    const std::string l = ascii_lower(*v);
    if (l == "yes" || l == "true") return true;
    if (l == "no" || l == "false") return false;
    return std::unexpected(where(name) + "bad value for " + std::string(shown) + ": '" + *v +
                           "' (yes or no)");
  }
  const cfg::Settings& settings() const { return settings_; }

 private:
  const cfg::Settings& settings_;
};

/// The command line's options as settings, in ssh's order: the user (-l, then
/// user@, before any -o User) and -p first, so they win; then -o in order.
std::expected<cfg::Settings, std::string> command_line_settings(const CommandLine& a) {
  cfg::Settings s;
  const cfg::Origin here{"command-line", 0};
  if (const auto at = a.destination.rfind('@'); a.login || at != std::string::npos)
    s.add({"user", {a.login ? *a.login : a.destination.substr(0, at)}, here});
  if (a.port) s.add({"port", {std::to_string(*a.port)}, here});
  if (a.jump) s.add({"proxyjump", {*a.jump}, here});  // as ssh: -J is -o ProxyJump
  // -L/-R/-D add forwards before any file's; -N and -W say SessionType none, and -W
  // clears every forward (as ssh -G shows them).
  for (const auto& [keyword, specs] : {std::pair{"localforward", &a.local}, std::pair{"remoteforward", &a.remote},
                                       std::pair{"dynamicforward", &a.dynamic}})
    for (const auto& spec : *specs) s.add({keyword, {spec}, here});
  if (a.no_session || a.stdio_forward) s.add({"sessiontype", {"none"}, here});
  if (a.force_tty)
    s.add({"requesttty", {"yes"}, here});
  else if (a.no_tty || a.no_session || a.stdio_forward)
    s.add({"requesttty", {"no"}, here});
  for (const auto& text : a.options) {
    auto option = cfg::command_line_option(text);
    if (!option) return std::unexpected(option.error().message());
    const std::string& key = option->keyword;
    if (cfg::kind_of(key) == cfg::Kind::unknown) {
      const cfg::Setting* ignore = s.first("ignoreunknown");
      if (ignore && cfg::match_pattern_list(key, ignore->args.front(), true) == 1) continue;
      return std::unexpected("command-line: line 0: Bad configuration option: " + key);
    }
    if (auto ok = cfg::check_arguments(key, option->args); !ok)
      return std::unexpected("command-line line 0: " + ok.error());
    s.add(std::move(*option));
  }
  return s;
}

/// ~/.ssh/config then the system file, or -F's file alone (-F none: no file).
std::vector<cfg::Source> config_sources(const CommandLine& a, const ConfigEnvironment& env) {
  if (a.config_file) {
    if (ascii_lower(*a.config_file) == "none") return {};
    return {{*a.config_file, cfg::Scope::user, false}};
  }
  return {{env.home + "/.ssh/config", cfg::Scope::user, true},
          {env.system_config, cfg::Scope::system, false}};
}

/// An option that takes effect and that parley cannot honour stops the run.
Checked refuse_unsupported(const OptionList& o) {
  for (const auto& s : o.settings().list())
    if (cfg::kind_of(s.keyword) == cfg::Kind::unsupported && o.settings().first(s.keyword) == &s)
      return std::unexpected(o.where(s.keyword) + "option " + s.keyword +
                             " is not supported by parley");
  return {};
}

/// A decimal number in [min, max], or an error naming the option.
std::expected<long, std::string> number(const std::string& text, std::string_view option, long min,
                                        long max) {
  long v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v < min || v > max)
    return std::unexpected("bad value for " + std::string(option) + ": '" + text + "'");
  return v;
}

/// ProxyJump: "[user@]host[:port],..." (the last hop is the one the proxy
/// command logs in to, the ones before it its own -J), as ssh's parse_jump().
/// Names only of the characters a host or user name has: they go to a shell.
std::expected<Jump, std::string> parse_jump(const std::string& text) {
  Jump out;
  std::string last = text;
  if (const auto comma = text.rfind(','); comma != std::string::npos) {
    out.earlier = text.substr(0, comma);
    last = text.substr(comma + 1);
  }
  const auto safe = [](const std::string& s) {
    return !s.empty() && s.front() != '-' && std::all_of(s.begin(), s.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || std::string_view("._-@:[],%").find(c) != std::string_view::npos;
    });
  };
  if (!safe(last) || (!out.earlier.empty() && !safe(out.earlier)))
    return std::unexpected("bad ProxyJump '" + text + "'");
  if (const auto at = last.rfind('@'); at != std::string::npos) {
    out.user = last.substr(0, at);
    last = last.substr(at + 1);
  }
  auto host_port = client::split_host_port(last);
  if (!host_port) return std::unexpected("bad ProxyJump '" + text + "'");
  out.host = host_port->host;
  out.port = host_port->port;
  if (out.host.empty() || (!out.port.empty() && !number(out.port, "ProxyJump", 1, 65535)))
    return std::unexpected("bad ProxyJump '" + text + "'");
  return out;
}

std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> out;
  std::stringstream in(text);
  for (std::string part; std::getline(in, part, sep);)
    if (!part.empty()) out.push_back(part);
  return out;
}

/// What the resolve_* steps read: the command line, the settings that apply and
/// the context their %-tokens and '~' come from.
struct Input {
  const CommandLine& line;
  const OptionList& o;
  cfg::Context context;
  std::string host;  // resolved (HostName), for %h
  std::string user;  // resolved, for %r
  std::string port;  // resolved, for %p
};

/// ssh's default token set (sshconnect.h): %C is not offered (it needs SHA-1).
cfg::Tokens client_tokens(const Input& in) {
  const cfg::Context& c = in.context;
  return {{'L', c.local_host.substr(0, c.local_host.find('.'))}, {'i', c.uid}, {'k', c.host},
          {'l', c.local_host}, {'n', c.host}, {'p', in.port}, {'d', c.home}, {'h', in.host},
          {'r', in.user}, {'u', c.local_user}};
}

/// '~', %-tokens and, when `dollar`, ${VAR}: the expansion ssh gives the option.
std::expected<std::string, std::string> expand_path(const Input& in, std::string_view option,
                                                    const std::string& value, bool dollar) {
  auto tokens = cfg::expand_tokens(cfg::expand_tilde(value, in.context), client_tokens(in));
  if (tokens && dollar) tokens = cfg::expand_env(*tokens, in.context);
  if (!tokens) return std::unexpected(in.o.where(option) + std::string(option) + ": " + tokens.error());
  return *tokens;
}

/// Where the agent is: IdentityAgent (none, SSH_AUTH_SOCK, $VAR or a path, '~',
/// %-tokens and ${VAR} expanded as ssh does), by default $SSH_AUTH_SOCK. Empty: no agent.
std::expected<std::string, std::string> agent_path(const Input& in) {
  const std::string v = in.o.first("identityagent").value_or("SSH_AUTH_SOCK");
  if (ascii_lower(v) == "none") return std::string();
  const char* env = nullptr;
  if (v == "SSH_AUTH_SOCK")
    env = std::getenv("SSH_AUTH_SOCK");
  else if (v.size() > 1 && v[0] == '$' && v[1] != '{')
    env = std::getenv(v.c_str() + 1);
  else
    return expand_path(in, "identityagent", v, true);
  return std::string(env ? env : "");
}

/// An algorithm list as ssh_config takes it: "a,b" replaces the default, "+a,b"
/// appends, "-a,b" removes (names parley lacks are ignored: they are not offered
/// anyway), "^a,b" puts them first.
template <class T, class Parse>
Checked apply_algorithms(const OptionList& o, std::string_view option, std::string_view shown,
                         Parse parse, std::vector<T>& target) {
  const auto value = o.first(option);
  if (!value) return {};
  std::string bad;
  auto list = transport::apply_list_syntax(target, *value, parse, &bad);
  if (!list)
    return std::unexpected(
        o.where(option) + std::string(shown) + ": " +
        (bad.empty() ? "malformed list '" + *value + "'" : "unsupported algorithm '" + bad + "'"));
  if (list->empty())
    return std::unexpected(o.where(option) + std::string(shown) + " '" + *value +
                           "' leaves no algorithm");
  target = std::move(*list);
  return {};
}

/// A yes/no option into `target`, left as it is when the option is absent.
Checked set_flag(const OptionList& o, std::string_view name, std::string_view shown,
                 bool& target) {
  auto v = o.flag(name, shown);
  if (!v) return std::unexpected(v.error());
  if (*v) target = **v;
  return {};
}

// ---- the steps of parse_client_options(), in the order ssh's checks ran

/// -v wins over LogLevel, as ssh's -v does.
Checked resolve_log_level(const Input& in, ClientOptions& out) {
  out.verbose = in.line.verbose;
  if (in.line.verbose > 0) {
    out.log_level = in.line.verbose >= 3   ? spdlog::level::trace
                    : in.line.verbose == 2 ? spdlog::level::debug
                                           : spdlog::level::info;
    return {};
  }
  const auto l = in.o.first("loglevel");
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
    return std::unexpected(in.o.where("loglevel") + "bad value for LogLevel: '" + *l + "'");
  return {};
}

Checked resolve_destination(const Input& in, ClientOptions& out) {
  Destination& d = out.destination;
  d.host_arg = in.context.host;
  d.host = in.host;
  d.user = in.user;
  if (auto p = in.o.first("port")) {
    auto port = number(*p, "Port", 1, 65535);
    if (!port) return std::unexpected(in.o.where("port") + port.error());
    d.port = static_cast<std::uint16_t>(*port);
  }
  for (const auto& part : in.line.command) out.command += (out.command.empty() ? "" : " ") + part;
  return set_flag(in.o, "batchmode", "BatchMode", out.batch_mode);
}

Checked resolve_known_hosts(const Input& in, ClientOptions& out) {
  // As ssh: the first line of each wins, and names several files; "none": no file.
  std::vector<std::string> user_files = in.o.first_args("userknownhostsfile");
  if (user_files.empty()) user_files.push_back("~/.ssh/known_hosts");
  for (const auto& f : user_files) {
    if (ascii_lower(f) == "none") break;
    auto path = expand_path(in, "userknownhostsfile", f, true);
    if (!path) return std::unexpected(path.error());
    out.known_hosts_files.emplace_back(*path);
  }
  // GlobalKnownHostsFile, by default ssh's two system files (missing ones are empty).
  std::vector<std::string> global_files = in.o.first_args("globalknownhostsfile");
  if (global_files.empty()) global_files = {"/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2"};
  for (const auto& f : global_files)
    if (ascii_lower(f) != "none") out.known_hosts_files.emplace_back(cfg::expand_tilde(f, in.context));
  if (auto r = set_flag(in.o, "hashknownhosts", "HashKnownHosts", out.hash_known_hosts); !r)
    return r;
  using S = client::StrictHostKeyChecking;
  const std::string strict = ascii_lower(in.o.first("stricthostkeychecking").value_or("ask"));
  if (strict == "yes" || strict == "true")
    out.strict_host_key_checking = S::yes;
  else if (strict == "ask")
    out.strict_host_key_checking = S::ask;
  else if (strict == "accept-new")
    out.strict_host_key_checking = S::accept_new;
  else if (strict == "no" || strict == "off" || strict == "false")
    out.strict_host_key_checking = S::no;
  else
    return std::unexpected(in.o.where("stricthostkeychecking") + "bad StrictHostKeyChecking '" +
                           strict + "'");
  return {};
}

Checked resolve_algorithms(const Input& in, ClientOptions& out) {
  using P = transport::AlgorithmPreferences;
  transport::AlgorithmPreferences& algorithms = out.algorithms;
  const auto host_key = in.o.first("hostkeyalgorithms");
  // As ssh: unless the user chose the order, the key types known_hosts holds for
  // the host come first (the session's setup does that: it reads the files).
  out.host_key_order_chosen = host_key && (*host_key)[0] != '+' && (*host_key)[0] != '-';
  Checked r = apply_algorithms(in.o, "kexalgorithms", "KexAlgorithms", &P::parse_kex, algorithms.kex);
  if (r)
    r = apply_algorithms(in.o, "hostkeyalgorithms", "HostKeyAlgorithms", &P::parse_host_key,
                         algorithms.host_key);
  if (r) r = apply_algorithms(in.o, "ciphers", "Ciphers", &P::parse_ciphers, algorithms.ciphers);
  if (r) r = apply_algorithms(in.o, "macs", "MACs", &P::parse_macs, algorithms.macs);
  return r;
}

Checked resolve_authentication(const Input& in, ClientOptions& out) {
  const OptionList& o = in.o;
  if (auto n = o.first("numberofpasswordprompts")) {
    auto attempts = number(*n, "NumberOfPasswordPrompts", 0, 100);
    if (!attempts) return std::unexpected(o.where("numberofpasswordprompts") + attempts.error());
    out.max_attempts = static_cast<std::size_t>(*attempts);
  }
  out.auth_methods = userauth::ClientAuthConfig{}.methods;
  if (auto list = o.first("preferredauthentications")) out.auth_methods = split(*list, ',');
  // unbound/host-bound are ssh's ways of saying yes (which signature to ask for).
  if (auto p = o.first("pubkeyauthentication"); p && (ascii_lower(*p) == "no" || ascii_lower(*p) == "false"))
    std::erase(out.auth_methods, std::string("publickey"));
  auto password = o.flag("passwordauthentication", "PasswordAuthentication");
  if (!password) return std::unexpected(password.error());
  if (*password == false) std::erase(out.auth_methods, std::string("password"));
  // ChallengeResponseAuthentication is the same option (folded into this name).
  auto kbd = o.flag("kbdinteractiveauthentication", "KbdInteractiveAuthentication");
  if (!kbd) return std::unexpected(kbd.error());
  if (*kbd == false) std::erase(out.auth_methods, std::string("keyboard-interactive"));
  return {};
}

Checked resolve_identities(const Input& in, ClientOptions& out) {
  // As ssh: -i files first ('~' expanded there), then IdentityFile lines as
  // written, each kind without repeats (-G shows them so); a key is loaded once.
  const auto add_once = [](std::vector<std::string>& list, std::string f) {
    if (std::find(list.begin(), list.end(), f) == list.end()) list.push_back(std::move(f));
  };
  std::vector<std::string> key_files;
  for (const auto& f : in.line.identities) add_once(key_files, cfg::expand_tilde(f, in.context));
  std::vector<std::string> configured;
  for (const auto& f : in.o.all("identityfile")) add_once(configured, f);
  out.identity_files_written = key_files;
  out.identity_files_written.insert(out.identity_files_written.end(), configured.begin(),
                                    configured.end());
  for (const auto& f : configured) add_once(key_files, f);
  out.identity_files_named = !key_files.empty();
  if (!out.identity_files_named)
    for (const char* name : {"id_ed25519", "id_ecdsa", "id_rsa"})
      key_files.push_back("~/.ssh/" + std::string(name));
  // As ssh when it loads them: '~' and %-tokens (no ${VAR}).
  for (const auto& f : key_files) {
    auto path = expand_path(in, "identityfile", f, false);
    if (!path) return std::unexpected(path.error());
    out.identity_files.emplace_back(*path);
  }
  if (auto r = set_flag(in.o, "identitiesonly", "IdentitiesOnly", out.identities_only); !r) return r;
  auto agent = agent_path(in);
  if (!agent) return std::unexpected(agent.error());
  out.agent_socket = *agent;
  return {};
}

Checked resolve_prompting(const Input& in, ClientOptions& out) {
  const std::string rule = in.o.first("passwordpromptrule").value_or("saved");
  if (rule != "saved" && rule != "seed")
    return std::unexpected(in.o.where("passwordpromptrule") + "bad value for PasswordPromptRule: '" +
                           rule + "' (saved or seed)");
  out.password_prompt_rule = rule == "seed" ? PasswordPromptRule::seed : PasswordPromptRule::saved;
  // As OpenSSH 10.1's WarnWeakCrypto (yes or no only).
  if (auto w = in.o.first("warnweakcrypto")) {
    const std::string v = ascii_lower(*w);
    if (v != "yes" && v != "no")
      return std::unexpected(in.o.where("warnweakcrypto") + "bad value for WarnWeakCrypto: '" + *w +
                             "' (yes or no)");
    out.warn_weak_crypto = v == "yes";
  }
  return {};
}

Checked resolve_session(const Input& in, ClientOptions& out) {
  const OptionList& o = in.o;
  if (auto r = resolve_forwarding(o.settings(), out); !r) return r;
  if (out.session_type == SessionType::none && !out.command.empty() && !in.line.stdio_forward)
    return std::unexpected(std::string("-N (SessionType none) cannot run a command too"));
  if (auto r = o.first("requesttty")) {
    const std::string v = ascii_lower(*r);
    if (v == "no" || v == "false")
      out.request_tty = false;
    else if (v == "yes" || v == "true" || v == "force")
      out.request_tty = true;
    else if (v != "auto")
      return std::unexpected(o.where("requesttty") + "bad value for RequestTTY: '" + *r +
                             "' (no, yes, force or auto)");
  }
  if (in.line.force_tty) out.request_tty = true;
  if (in.line.no_tty) out.request_tty = false;
  if (const auto& w = in.line.stdio_forward) {
    // host:port or [host]:port, as ssh -W (and ProxyJump's "-W [%h]:%p").
    const auto hp = client::split_host_port(*w);
    auto number_port = hp ? number(hp->port, "-W", 1, 65535) : std::unexpected(std::string());
    if (!hp || hp->host.empty() || !number_port)
      return std::unexpected("bad stdio forwarding specification '" + *w + "'");
    if (!out.command.empty()) return std::unexpected(std::string("-W cannot run a command too"));
    out.stdio_forward = StdioForward{hp->host, static_cast<std::uint16_t>(*number_port)};
    out.request_tty = false;  // as ssh: a byte stream, never a terminal
  }
  // SendEnv patterns pick variables from our environment ("-PATTERN" takes back
  // earlier ones, as ssh); SetEnv sets them outright (its first line wins).
  // (LANG as before when neither names anything.)
  for (const auto& pattern : o.all("sendenv")) {
    if (pattern.starts_with('-'))
      std::erase_if(out.send_env,
                    [&](const std::string& p) { return cfg::match_pattern(p, pattern.substr(1)); });
    else
      out.send_env.push_back(pattern);
  }
  if (o.all("sendenv").empty()) out.send_env.push_back("LANG");
  for (const auto& assignment : o.first_args("setenv")) {
    const auto eq = assignment.find('=');
    if (eq == std::string::npos || eq == 0)
      return std::unexpected(o.where("setenv") + "bad SetEnv '" + assignment + "' (write NAME=value)");
    out.set_env.push_back({assignment.substr(0, eq), assignment.substr(eq + 1)});
  }
  return {};
}

/// How parley reaches the server and keeps the connection: ConnectTimeout,
/// ServerAlive*, RekeyLimit, TCPKeepAlive, ConnectionAttempts, ProxyJump, ProxyCommand.
Checked resolve_connection(const Input& in, ClientOptions& out) {
  const OptionList& o = in.o;
  if (auto t = o.first("connecttimeout"); t && ascii_lower(*t) != "none") {
    const auto seconds = cfg::parse_time(*t);
    if (!seconds || *seconds > 24 * 3600)
      return std::unexpected(o.where("connecttimeout") + "bad value for ConnectTimeout: '" + *t + "'");
    if (*seconds > 0) out.connect_timeout = std::chrono::seconds(*seconds);
  }
  if (auto t = o.first("serveraliveinterval")) {
    const auto seconds = ascii_lower(*t) == "none" ? std::optional<long>(0) : cfg::parse_time(*t);
    if (!seconds || *seconds > 24 * 3600)
      return std::unexpected(o.where("serveraliveinterval") + "bad value for ServerAliveInterval: '" + *t + "'");
    out.server_alive.interval = std::chrono::seconds(*seconds);
  } else if (out.batch_mode) {
    out.server_alive.interval = std::chrono::seconds(300);  // as ssh: batch mode's default
  }
  if (auto args = o.first_args("rekeylimit"); !args.empty()) {
    auto limit = cfg::parse_rekey_limit(args);
    if (!limit) return std::unexpected(o.where("rekeylimit") + limit.error());
    out.rekey_limit = *limit;
  }
  if (auto r = set_flag(o, "tcpkeepalive", "TCPKeepAlive", out.tcp_keepalive); !r) return r;
  // ProxyJump and ProxyCommand: whichever comes first counts, as in ssh.
  const cfg::Setting* proxy = nullptr;
  for (const auto& s : o.settings().list())
    if (s.keyword == "proxyjump" || s.keyword == "proxycommand") {
      proxy = &s;
      break;
    }
  if (proxy && proxy->keyword == "proxyjump" && ascii_lower(proxy->args.front()) != "none") {
    auto jump = parse_jump(proxy->args.front());
    if (!jump) return std::unexpected(o.where("proxyjump") + jump.error());
    out.jump = *jump;
    out.jump_written = proxy->args.front();
  }
  if (auto c = o.first("proxycommand"); proxy && proxy->keyword == "proxycommand" && c && ascii_lower(*c) != "none") {
    out.proxy_command_written = *c;
    // %h, %p, %r, %n, ... as ssh expands them (no ~ and no ${VAR}: the shell does that).
    auto expanded = cfg::expand_tokens(*c, client_tokens(in));
    if (!expanded) return std::unexpected(o.where("proxycommand") + "proxycommand: " + expanded.error());
    out.proxy_command = *expanded;
  }
  if (auto n = o.first("connectionattempts")) {
    const auto attempts = number(*n, "ConnectionAttempts", 1, 1000);
    if (!attempts) return std::unexpected(o.where("connectionattempts") + attempts.error());
    out.connection_attempts = static_cast<unsigned>(*attempts);
  }
  if (auto n = o.first("serveralivecountmax")) {
    const auto count = number(*n, "ServerAliveCountMax", 0, 1000000);
    if (!count) return std::unexpected(o.where("serveralivecountmax") + count.error());
    out.server_alive.count_max = static_cast<unsigned>(*count);
  }
  return {};
}

/// The ssh options parley accepts without acting on them, for the debug line.
std::vector<std::string> ignored_names(const cfg::Settings& settings) {
  std::vector<std::string> out;
  for (const auto& s : settings.list())
    if (cfg::kind_of(s.keyword) == cfg::Kind::ignored &&
        std::find(out.begin(), out.end(), s.keyword) == out.end())
      out.push_back(s.keyword);
  return out;
}

/// The settings that apply: the command line's, then the files' (Match exec only
/// when the command line allowed it).
std::expected<cfg::Settings, std::string> gather_settings(const CommandLine& a,
                                                          const ConfigEnvironment& env,
                                                          const cfg::Context& context) {
  auto settings = command_line_settings(a);
  if (!settings) return std::unexpected(settings.error());
  cfg::Files files = env.files;
  files.exec = a.allow_match_exec ? env.shell : nullptr;
  const bool required = a.config_file.has_value();
  if (auto r = cfg::apply(config_sources(a, env), context, files, *settings, required); !r)
    return std::unexpected(r.error().message());
  // As ssh: -W clears the forwards and exits on their failure unless a file said otherwise.
  for (const char* keyword : {"clearallforwardings", "exitonforwardfailure"})
    if (a.stdio_forward && !settings->first(keyword)) settings->add({keyword, {"yes"}, {"command-line", 0}});
  return settings;
}

}  // namespace

std::expected<ClientOptions, OptionsError> parse_client_options(int argc, const char* const* argv,
                                                                const ConfigEnvironment& env) {
  auto command_line = parse_command_line(argc, argv);
  if (!command_line) return std::unexpected(command_line.error());
  const CommandLine& a = *command_line;
  const auto at = a.destination.rfind('@');
  cfg::Context context{at == std::string::npos ? a.destination : a.destination.substr(at + 1),
                       env.local_user, env.home, env.local_host, env.uid,
                       [](const std::string& name) -> std::optional<std::string> {
                         const char* v = std::getenv(name.c_str());
                         return v ? std::optional<std::string>(v) : std::nullopt;
                       }};
  auto settings = gather_settings(a, env, context);
  if (!settings) return std::unexpected(OptionsError{settings.error()});
  ClientOptions out;
  out.settings = std::move(*settings);
  out.dump_config = a.dump_config;
  out.config_file = a.config_file;
  out.ignored = ignored_names(out.settings);
  const OptionList list(out.settings);
  if (auto r = refuse_unsupported(list); !r) return std::unexpected(OptionsError{r.error()});
  auto host = cfg::resolved_host(out.settings, context);
  if (!host) return std::unexpected(OptionsError{host.error().message()});
  const std::string user = list.first("user").value_or(env.local_user);
  const Input in{a, list, context, *host, user, list.first("port").value_or("22")};
  using Step = Checked (*)(const Input&, ClientOptions&);
  for (Step step : {resolve_log_level, resolve_destination, resolve_known_hosts, resolve_algorithms,
                    resolve_authentication, resolve_identities, resolve_prompting, resolve_session,
                    resolve_connection})
    if (auto r = step(in, out); !r) return std::unexpected(OptionsError{r.error()});
  return out;
}

}  // namespace parley::app

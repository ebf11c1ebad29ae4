// parley: the parley SSH client, with ssh's options where it has them.
//
//   parley [-p port] [-l user] [-i key]... [-o Option=value]... [-v] [-t|-T] [user@]host [command...]
//
// Secrets never come from the command line: the password from $PARLEY_PASSWORD
// or the file named by $PARLEY_PASSWORD_FILE, the TOTP secret (base32 or an
// otpauth:// URI) from $PARLEY_TOTP or $PARLEY_TOTP_FILE. Prompts nobody
// answers go to the terminal, or, without one (batch), get the seed's empty
// answer, and the failure says so. Keys come from -i / IdentityFile, ~/.ssh/id_*
// and the ssh-agent at $SSH_AUTH_SOCK (or IdentityAgent), in OpenSSH's order.
#include <fnmatch.h>
#include <pwd.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "agent_socket.hpp"
#include "raw_terminal.hpp"
#include "parley/session/client_connection.hpp"
#include "parley/client/known_hosts.hpp"
#include "parley/client/responders.hpp"
#include "parley/userauth/server_text.hpp"
#include "parley/crypto/key_file.hpp"
#include "parley/crypto/random.hpp"
#include "parley/driver/client_session.hpp"

namespace {

namespace client = parley::client;
namespace otp = parley::otp;
namespace session = parley::session;
namespace userauth = parley::userauth;
namespace crypto = parley::crypto;
namespace driver = parley::driver;
namespace transport = parley::transport;
using parley::ascii_lower;
namespace connection = parley::connection;
namespace app = parley::app;

constexpr int exit_failure = 255;  // as ssh: connection or authentication error

struct Args {
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

[[noreturn]] void fail(const std::string& reason) {
  std::cerr << "parley: " << reason << "\n";
  std::exit(exit_failure);
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

/// A secret from $NAME or the file named by $NAME_FILE (its first line). The
/// variables are removed from our environment so no child inherits them.
std::optional<crypto::SecretBytes> secret_from_environment(const char* name) {
  std::optional<crypto::SecretBytes> secret;
  if (const char* v = std::getenv(name); v && *v) {
    secret = crypto::SecretBytes(parley::as_bytes(std::string_view(v)));
    ::unsetenv(name);
  }
  const std::string file_var = std::string(name) + "_FILE";
  if (const char* f = std::getenv(file_var.c_str()); !secret && f && *f) {
    std::ifstream in(f, std::ios::binary);
    if (!in) fail("cannot read " + std::string(f) + " (named by $" + file_var + ")");
    std::string line;
    std::getline(in, line);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    secret = crypto::SecretBytes(parley::as_bytes(line));
    crypto::secure_wipe(line.data(), line.size());
  }
  return secret;
}

// ---- -o options, as ssh_config(5) names them (case-insensitive)

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

/// The -o options given, in order; names lower-cased. As in ssh_config, the first
/// value of an option wins, except for the ones that accumulate (IdentityFile, ...).
class Options {
 public:
  explicit Options(const std::vector<std::string>& list) {
    for (const auto& o : list) {
      const auto eq = o.find_first_of("= \t");
      if (eq == std::string::npos || eq == 0) fail("command-line line 0: missing argument in '" + o + "' (write Option=value)");
      std::string name = o.substr(0, eq);
      const auto start = o.find_first_not_of("= \t", eq);
      std::string value = start == std::string::npos ? std::string() : o.substr(start);
      const std::string key = ascii_lower(name);
      if (unsupported_options().contains(key)) fail("option " + name + " is not supported by parley");
      if (!read_options().contains(key) && !ignored_options().contains(key))
        fail("command-line: line 0: Bad configuration option: " + key);  // ssh's words
      if (value.empty()) fail("command-line line 0: missing argument for " + name);
      if (ignored_options().contains(key)) {
        ignored_.push_back(name);
        continue;
      }
      values_.emplace_back(key, std::move(value));
    }
  }
  std::optional<std::string> get(const std::string& name) const {
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
  std::optional<bool> flag(const std::string& name, std::string_view shown) const {
    auto v = get(name);
    if (!v) return std::nullopt;
    const std::string l = ascii_lower(*v);
    if (l == "yes" || l == "true") return true;
    if (l == "no" || l == "false") return false;
    fail("bad value for " + std::string(shown) + ": '" + *v + "' (yes or no)");
  }
  const std::vector<std::string>& ignored() const { return ignored_; }

 private:
  std::vector<std::pair<std::string, std::string>> values_;
  std::vector<std::string> ignored_;
};

/// A decimal number in [min, max], or a fatal error naming the option.
long number(const std::string& text, std::string_view option, long min, long max) {
  long v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v < min || v > max)
    fail("bad value for " + std::string(option) + ": '" + text + "'");
  return v;
}

std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> out;
  std::stringstream in(text);
  for (std::string part; std::getline(in, part, sep);)
    if (!part.empty()) out.push_back(part);
  return out;
}

/// An algorithm list as ssh_config takes it: "a,b" replaces the default, "+a,b"
/// appends, "-a,b" removes (names parley lacks are ignored: they are not offered
/// anyway), "^a,b" puts them first.
template <class T, class Parse>
void apply_algorithms(const std::optional<std::string>& value, std::string_view option, Parse parse,
                      std::vector<T>& target) {
  if (!value) return;
  std::string bad;
  auto list = transport::apply_list_syntax(target, *value, parse, &bad);
  if (!list)
    fail(std::string(option) + ": " + (bad.empty() ? "malformed list '" + *value + "'" : "unsupported algorithm '" + bad + "'"));
  if (list->empty()) fail(std::string(option) + " '" + *value + "' leaves no algorithm");
  target = std::move(*list);
}

/// Where the agent is: IdentityAgent (none, SSH_AUTH_SOCK, $VAR or a path), by
/// default $SSH_AUTH_SOCK. Empty: no agent.
std::string agent_path(const std::optional<std::string>& identity_agent) {
  const std::string v = identity_agent.value_or("SSH_AUTH_SOCK");
  if (ascii_lower(v) == "none") return {};
  const char* env = nullptr;
  if (v == "SSH_AUTH_SOCK") env = std::getenv("SSH_AUTH_SOCK");
  else if (v.size() > 1 && v[0] == '$') env = std::getenv(v.c_str() + 1);
  else return expand_home(v);
  return env ? env : "";
}

/// An identity file: its private key if parley can load it, its public key (from
/// the private key or FILE.pub, so an encrypted key held by the agent still counts).
struct IdentityFile {
  std::string path;
  std::optional<crypto::PrivateKey> private_key;
  std::optional<crypto::PublicKey> public_key;
  std::string load_error;
};

IdentityFile load_identity(const std::string& path) {
  IdentityFile f{path, std::nullopt, std::nullopt, {}};
  if (auto key = crypto::load_private_key(path)) {
    f.public_key = key->public_key();
    f.private_key = std::move(*key);
    return f;
  } else {
    f.load_error = key.error().message;
  }
  std::ifstream pub(path + ".pub");
  std::string line;
  if (pub && std::getline(pub, line))
    if (auto key = crypto::PublicKey::from_openssh(line)) f.public_key = std::move(*key);
  return f;
}

std::string describe(const crypto::PublicKey& key) {
  return key.fingerprint() + " (" + std::string(crypto::key_type_name(key.type())) + ")";
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"parley: the parley SSH client"};
  Args a;
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
    return app.exit(e) == 0 ? 0 : exit_failure;
  }

  // Multi-threaded sink: nothing logs from another thread today, but a callback may.
  spdlog::set_default_logger(spdlog::stderr_color_mt("parley"));
  const Options options(a.options);
  // -v wins over LogLevel, as ssh's -v does.
  spdlog::level::level_enum level = spdlog::level::warn;
  if (auto l = options.get("loglevel"); l && a.verbose == 0) {
    const std::string v = ascii_lower(*l);
    if (v == "quiet" || v == "fatal") level = spdlog::level::critical;
    else if (v == "error") level = spdlog::level::err;
    else if (v == "info") level = spdlog::level::warn;
    else if (v == "verbose" || v == "debug" || v == "debug1") level = spdlog::level::info;
    else if (v == "debug2") level = spdlog::level::debug;
    else if (v == "debug3") level = spdlog::level::trace;
    else fail("bad value for LogLevel: '" + *l + "'");
  }
  if (a.verbose > 0)
    level = a.verbose >= 3 ? spdlog::level::trace : a.verbose == 2 ? spdlog::level::debug : spdlog::level::info;
  spdlog::set_level(level);
  for (const auto& name : options.ignored()) spdlog::debug("option {} is not implemented by parley: ignored", name);

  std::string host = a.destination;
  std::string user = options.get("user").value_or(local_user());
  if (const auto at = host.rfind('@'); at != std::string::npos) {
    user = host.substr(0, at);
    host = host.substr(at + 1);
  }
  if (a.login) user = *a.login;
  std::uint16_t port = 22;
  if (auto p = options.get("port")) port = static_cast<std::uint16_t>(number(*p, "Port", 1, 65535));
  if (a.port) port = *a.port;
  std::string command;
  for (const auto& part : a.command) command += (command.empty() ? "" : " ") + part;

  const bool batch = options.flag("batchmode", "BatchMode").value_or(false);
  const bool tty_in = ::isatty(0) != 0;
  // From here on the terminal is put back as it is now on every way out (a
  // signal included), also while a password is read without echo.
  app::RawTerminal terminal(0);
  const bool can_ask = !batch && ::access("/dev/tty", R_OK | W_OK) == 0;

  static crypto::SystemRandom rng;

  // ---- the server's host key, before anything else
  const std::string known_hosts = expand_home(options.get("userknownhostsfile").value_or("~/.ssh/known_hosts"));
  std::vector<std::filesystem::path> known_hosts_files{known_hosts};
  // GlobalKnownHostsFile, by default ssh's two system files (missing ones are empty).
  auto global_files = options.all("globalknownhostsfile");
  if (global_files.empty()) global_files.push_back("/etc/ssh/ssh_known_hosts /etc/ssh/ssh_known_hosts2");
  for (const auto& g : global_files)
    for (const auto& f : split(g, ' ')) known_hosts_files.emplace_back(expand_home(f));
  const bool hash_known_hosts = options.flag("hashknownhosts", "HashKnownHosts").value_or(false);
  const std::string strict = ascii_lower(options.get("stricthostkeychecking").value_or("ask"));
  client::HostKeyPolicy policy;
  if (strict == "yes") policy.strict = client::StrictHostKeyChecking::yes;
  else if (strict == "ask") policy.strict = client::StrictHostKeyChecking::ask;
  else if (strict == "accept-new") policy.strict = client::StrictHostKeyChecking::accept_new;
  else if (strict == "no" || strict == "off") policy.strict = client::StrictHostKeyChecking::no;
  else fail("bad StrictHostKeyChecking '" + strict + "'");
  policy.hash_new_entries = hash_known_hosts;
  policy.report = [](std::string_view line) { std::cerr << line << "\n"; };
  if (can_ask) {
    // OpenSSH's question, asked only about a host no file knows any key for.
    policy.ask = [](std::string_view question) -> std::optional<std::string> {
      client::TtyTerminal tty;
      tty.write(question);
      auto answer = tty.read_line(true);
      if (!answer) return std::nullopt;
      return std::string(parley::as_chars(answer->view()));
    };
  }
  // Under StrictHostKeyChecking=no a changed key is accepted, but, as in ssh, no
  // password or keyboard-interactive answer may go to whoever holds it. The
  // verifier runs during the key exchange, before authentication reads `aconfig`.
  auto aconfig = std::make_shared<userauth::ClientAuthConfig>();
  policy.on_changed_key_accepted = [aconfig] {
    std::erase(aconfig->methods, std::string("password"));
    std::erase(aconfig->methods, std::string("keyboard-interactive"));
  };
  transport::HostKeyVerifier verify =
      client::known_hosts_verifier(known_hosts_files, host, port, std::move(policy), rng);
  auto tconfig = std::make_shared<transport::TransportConfig>();
  tconfig->role = transport::Role::client;
  tconfig->verify_host_key = verify;
  {
    using P = transport::AlgorithmPreferences;
    apply_algorithms(options.get("kexalgorithms"), "KexAlgorithms", &P::parse_kex, tconfig->algorithms.kex);
    const auto host_key_algorithms = options.get("hostkeyalgorithms");
    apply_algorithms(host_key_algorithms, "HostKeyAlgorithms", &P::parse_host_key,
                     tconfig->algorithms.host_key);
    // As ssh: unless the user chose the order, the key types known_hosts holds
    // for this host come first, so the server shows the key we can check.
    if (!host_key_algorithms || (*host_key_algorithms)[0] == '+' || (*host_key_algorithms)[0] == '-')
      tconfig->algorithms.host_key = client::order_host_key_algorithms(
          known_hosts_files, host, port, std::move(tconfig->algorithms.host_key));
    apply_algorithms(options.get("ciphers"), "Ciphers", &P::parse_ciphers, tconfig->algorithms.ciphers);
    apply_algorithms(options.get("macs"), "MACs", &P::parse_macs, tconfig->algorithms.macs);
  }

  // ---- authentication
  aconfig->user = user;
  if (auto n = options.get("numberofpasswordprompts"))
    aconfig->max_attempts = static_cast<std::size_t>(number(*n, "NumberOfPasswordPrompts", 0, 100));
  // Without a terminal nothing can change between attempts (the saved password is
  // never replayed), so a second try could only fail again, slowly (a TOTP retry
  // waits for the next time step) and towards a lockout: one attempt each.
  if (!can_ask) aconfig->max_attempts = std::min<std::size_t>(aconfig->max_attempts, 1);
  if (auto list = options.get("preferredauthentications")) aconfig->methods = split(*list, ',');
  struct MethodSwitch {
    const char* option;
    const char* shown;
    const char* method;
  };
  for (const MethodSwitch& m : {MethodSwitch{"pubkeyauthentication", "PubkeyAuthentication", "publickey"},
                                MethodSwitch{"passwordauthentication", "PasswordAuthentication", "password"},
                                MethodSwitch{"kbdinteractiveauthentication", "KbdInteractiveAuthentication",
                                             "keyboard-interactive"},
                                MethodSwitch{"challengeresponseauthentication", "ChallengeResponseAuthentication",
                                             "keyboard-interactive"}})
    if (options.flag(m.option, m.shown) == false) std::erase(aconfig->methods, std::string(m.method));

  // Keys, in OpenSSH's order: agent keys that are also identity files (in the
  // files' order; the agent signs), the agent's other keys (unless IdentitiesOnly),
  // then the identity files the agent does not hold.
  std::vector<std::string> key_files = a.identities;
  for (const auto& f : options.all("identityfile")) key_files.push_back(f);
  const bool explicit_keys = !key_files.empty();
  if (!explicit_keys)
    for (const char* name : {"id_ed25519", "id_ecdsa", "id_rsa"}) key_files.push_back("~/.ssh/" + std::string(name));
  std::vector<IdentityFile> files;
  for (const auto& f : key_files) {
    const std::string path = expand_home(f);
    if (!explicit_keys && !std::filesystem::exists(path) && !std::filesystem::exists(path + ".pub")) continue;
    files.push_back(load_identity(path));
  }
  const bool identities_only = options.flag("identitiesonly", "IdentitiesOnly").value_or(false);
  std::shared_ptr<app::AgentSocket> agent;
  std::vector<parley::client::agent::Identity> agent_ids;
  const bool publickey = std::find(aconfig->methods.begin(), aconfig->methods.end(), "publickey") != aconfig->methods.end();
  if (const std::string sock = agent_path(options.get("identityagent")); publickey && !sock.empty()) {
    if (auto connected = app::AgentSocket::connect(sock); !connected) {
      spdlog::debug("no ssh-agent: {}", connected.error());
    } else {
      agent = std::make_shared<app::AgentSocket>(std::move(*connected));
      if (auto ids = agent->identities(std::chrono::seconds(10)); !ids) {
        spdlog::debug("ssh-agent at {}: {}", sock, ids.error());
        agent.reset();
      } else {
        agent_ids = std::move(*ids);
        spdlog::debug("ssh-agent at {} holds {} key(s)", sock, agent_ids.size());
      }
    }
  }
  std::vector<bool> agent_used(agent_ids.size(), false);
  auto add_agent_key = [&](std::size_t i) {
    const auto& id = agent_ids[i];
    agent_used[i] = true;
    userauth::ExternalKey external{*id.key, id.comment, nullptr};
    // The agent is asked on the connection's thread, as ssh does, within 60 s.
    external.sign = [agent, blob = id.blob, fp = describe(*id.key)](
                        parley::Bytes data, crypto::SignatureAlg alg, userauth::ReplyTo<userauth::SignReply> reply) {
      auto signature = agent->sign(blob, data, alg, std::chrono::seconds(60));
      crypto::secure_wipe(data.data(), data.size());
      if (!signature) {
        spdlog::info("ssh-agent did not sign with {}: {}", fp, signature.error());
        return reply(userauth::Decline{});
      }
      spdlog::debug("ssh-agent signed with {} using {}", fp, crypto::name(alg));
      reply(std::move(*signature));
    };
    spdlog::info("will offer {} from the agent ('{}')", describe(*id.key), userauth::printable_for_log(id.comment, 64));
    aconfig->agent_keys.push_back(std::move(external));
  };
  std::vector<bool> file_in_agent(files.size(), false);
  for (std::size_t f = 0; f < files.size(); ++f) {
    if (!files[f].public_key) continue;
    for (std::size_t i = 0; i < agent_ids.size(); ++i) {
      if (!agent_ids[i].key || *agent_ids[i].key != *files[f].public_key) continue;
      file_in_agent[f] = true;
      if (!agent_used[i]) add_agent_key(i);
    }
  }
  for (std::size_t i = 0; i < agent_ids.size(); ++i) {
    if (agent_used[i]) continue;
    if (!agent_ids[i].key) {
      spdlog::debug("ssh-agent key '{}' is of a type parley does not use: skipped",
                    userauth::printable_for_log(agent_ids[i].comment, 64));
      continue;
    }
    if (identities_only) continue;
    add_agent_key(i);
  }
  for (std::size_t f = 0; f < files.size(); ++f) {
    if (file_in_agent[f]) continue;
    if (files[f].private_key) {
      spdlog::info("will offer {} from {}", describe(*files[f].public_key), files[f].path);
      aconfig->keys.push_back(*files[f].private_key);
    } else if (explicit_keys) {
      std::cerr << "parley: cannot use " << files[f].path << ": " << files[f].load_error << "\n";
    }
  }

  auto password = secret_from_environment("PARLEY_PASSWORD");
  std::optional<otp::TotpSecret> totp;
  if (auto t = secret_from_environment("PARLEY_TOTP")) {
    auto parsed = otp::parse_totp_secret(parley::as_chars(t->view()));
    if (!parsed) fail("$PARLEY_TOTP: " + parsed.error());
    totp = std::move(*parsed);
  }
  const std::string prompt_rule = options.get("passwordpromptrule").value_or("saved");
  if (prompt_rule != "saved" && prompt_rule != "seed")
    fail("bad value for PasswordPromptRule: '" + prompt_rule + "' (saved or seed)");
  const bool seed_rule = prompt_rule == "seed";
  std::vector<userauth::ResponderPtr> chain;
  if (password) chain.push_back(seed_rule ? client::seed_password(*password) : client::saved_password(*password));
  if (totp) chain.push_back(client::totp(std::move(*totp)));
  if (can_ask) chain.push_back(client::terminal());
  auto unanswered = std::make_shared<std::size_t>(0);
  auto last_round_prompts = std::make_shared<std::size_t>(0);
  auto answer = userauth::user_info_callback(userauth::first_of(chain), unanswered);
  aconfig->on_user_info_request = [answer, last_round_prompts](const userauth::UserInfoRequest& request,
                                                              userauth::ReplyTo<userauth::InfoReply> reply) {
    // Logged: the request's name and prompt count, never prompt text or answers.
    spdlog::debug("keyboard-interactive round {} ('{}'): {} prompt(s)", request.round,
                  userauth::sanitize_server_text(request.name, 64, false), request.prompts.size());
    *last_round_prompts = request.prompts.size();
    answer(request, std::move(reply));
  };
  bool password_used = false;
  aconfig->on_password_request = [&, can_ask](const userauth::PasswordRequest& request,
                                              userauth::ReplyTo<userauth::PasswordReply> reply) {
    if (password && !password_used) {  // once: a rejected password is not replayed
      password_used = true;
      return reply(crypto::SecretBytes(password->view()));
    }
    if (!can_ask || request.attempt > 3) return reply(userauth::Decline{});
    client::TtyTerminal tty;
    tty.write(request.user + "@" + request.host.host + "'s password: ");
    auto typed = tty.read_line(false);
    tty.write("\n");
    if (!typed) return reply(userauth::Decline{});
    reply(std::move(*typed));
  };
  aconfig->on_banner = [](std::string_view banner) {
    std::cerr << userauth::mark_server_text(userauth::sanitize_server_text(banner, 8192, true));
    if (!banner.empty() && banner.back() != '\n') std::cerr << "\n";
  };

  // As OpenSSH 10.1's WarnWeakCrypto: say so when the server could not agree a
  // post-quantum key exchange (shown at the default LogLevel, not under -q).
  bool warn_weak_crypto = true;
  if (auto w = options.get("warnweakcrypto")) {
    const std::string v = ascii_lower(*w);
    if (v == "no") warn_weak_crypto = false;
    else if (v != "yes") fail("bad value for WarnWeakCrypto: '" + *w + "' (yes or no)");
  }
  session::ClientConnection conn(tconfig, aconfig, host, port, rng, transport::Clock::now());
  conn.on_transport = [warn_weak_crypto](const transport::Event& e) {
    auto* k = std::get_if<transport::KexDone>(&e);
    if (k == nullptr) return;
    spdlog::info("key exchange done: {}", transport::name(k->algorithms.kex));
    if (k->first && warn_weak_crypto && k->algorithms.kex != transport::KexAlg::mlkem768x25519_sha256 &&
        spdlog::should_log(spdlog::level::warn)) {
      std::cerr << "** WARNING: connection is not using a post-quantum key exchange algorithm.\n"
                   "** This session may be vulnerable to \"store now, decrypt later\" attacks.\n"
                   "** The server may need to be upgraded. See https://openssh.com/pq.html\n";
    }
  };

  // ---- the session
  driver::ClientSessionOptions session;
  session.command = command;
  bool want_tty = command.empty() && tty_in;
  if (auto r = options.get("requesttty")) {
    const std::string v = ascii_lower(*r);
    if (v == "no") want_tty = false;
    else if (v == "yes" || v == "force") want_tty = true;
    else if (v != "auto") fail("bad value for RequestTTY: '" + *r + "' (no, yes, force or auto)");
  }
  if (a.force_tty) want_tty = true;
  if (a.no_tty) want_tty = false;
  if (want_tty) {
    connection::PtyRequest pty;
    const char* term = std::getenv("TERM");
    pty.term = term ? term : "dumb";
    winsize ws{};
    if (::ioctl(0, TIOCGWINSZ, &ws) == 0 || ::ioctl(1, TIOCGWINSZ, &ws) == 0) {
      pty.cols = ws.ws_col;
      pty.rows = ws.ws_row;
      pty.width_px = ws.ws_xpixel;
      pty.height_px = ws.ws_ypixel;
    }
    session.pty = pty;
  }
  // SendEnv patterns pick variables from our environment; SetEnv sets them outright.
  // (LANG as before when neither names anything.)
  std::vector<std::string> send_env;
  for (const auto& v : options.all("sendenv"))
    for (const auto& pattern : split(v, ' ')) send_env.push_back(pattern);
  if (send_env.empty()) send_env.push_back("LANG");
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry(*e);
    const auto eq = entry.find('=');
    if (eq == std::string::npos || eq == 0) continue;
    const std::string name = entry.substr(0, eq);
    for (const auto& pattern : send_env)
      if (::fnmatch(pattern.c_str(), name.c_str(), 0) == 0) {
        session.env.push_back({name, entry.substr(eq + 1)});
        break;
      }
  }
  for (const auto& v : options.all("setenv"))
    for (const auto& assignment : split(v, ' ')) {
      const auto eq = assignment.find('=');
      if (eq == std::string::npos || eq == 0) fail("bad SetEnv '" + assignment + "' (write NAME=value)");
      session.env.push_back({assignment.substr(0, eq), assignment.substr(eq + 1)});
    }

  std::chrono::milliseconds connect_timeout = std::chrono::seconds(60);
  if (auto t = options.get("connecttimeout"); t && ascii_lower(*t) != "none") {
    const long seconds = number(*t, "ConnectTimeout", 0, 24 * 3600);
    if (seconds > 0) connect_timeout = std::chrono::seconds(seconds);
  }

  // Keystrokes go to the remote terminal as typed, but only once the session
  // starts: authentication prompts are read in the terminal's own mode.
  if (want_tty && tty_in) session.on_session_start = [&terminal] { terminal.make_raw(); };
  auto result = driver::run_session(host, port, conn, session, connect_timeout);
  terminal.restore();
  if (!result.error.empty()) {
    std::string reason = result.error;
    if (*unanswered > 0)
      reason += " (server asked " + std::to_string(*last_round_prompts) + " question" +
                (*last_round_prompts == 1 ? "" : "s") + "; " + std::to_string(*unanswered) +
                " had no answer" + (can_ask ? "" : " (batch mode)") + ")";
    fail(reason);
  }
  if (result.exit_signal) {
    std::cerr << "parley: remote command killed by signal " << result.exit_signal->name << "\n";
    return exit_failure;
  }
  return result.exit_status ? static_cast<int>(*result.exit_status) : exit_failure;
}

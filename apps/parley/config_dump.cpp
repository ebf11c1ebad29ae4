// parley -G, in ssh -G's words: flags as yes/no, StrictHostKeyChecking and
// RequestTTY as ssh's multistate names (true/false/ask/accept-new, ...), the log
// level in upper case, UserKnownHostsFile and IdentityAgent expanded (as ssh
// expands them before -G prints), IdentityFile as written (ssh expands those
// only when it loads them).
#include "config_dump.hpp"

#include "parley/crypto/keys.hpp"
#include "parley/crypto/packet_cipher.hpp"
#include "parley/wire/bytes.hpp"

namespace parley::app {
namespace {

namespace cfg = client::ssh_config;

std::string first_or(const cfg::Settings& s, std::string_view keyword, std::string fallback) {
  const cfg::Setting* v = s.first(keyword);
  if (!v) return fallback;
  std::string joined;
  for (const auto& a : v->args) joined += (joined.empty() ? "" : " ") + a;
  return joined;
}

/// ssh's multistate names: the first name of the value's group, as fmt_intarg.
std::string multistate(const std::string& value) {
  const std::string v = ascii_lower(value);
  if (v == "yes" || v == "true") return "true";
  if (v == "no" || v == "false" || v == "off") return "false";
  return v;
}

std::string yes_no(bool v) {
  return v ? "yes" : "no";
}

std::string flag(const cfg::Settings& s, std::string_view keyword, bool fallback) {
  const std::string v = ascii_lower(first_or(s, keyword, fallback ? "yes" : "no"));
  return yes_no(v == "yes" || v == "true");
}

std::string log_level(const ClientOptions& o) {
  if (o.verbose > 0) return o.verbose == 1 ? "DEBUG1" : o.verbose == 2 ? "DEBUG2" : "DEBUG3";
  std::string v = ascii_lower(first_or(o.settings, "loglevel", "info"));
  if (v == "debug1") v = "debug";  // log_level_name() prints DEBUG1's first name
  for (char& c : v) c = static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
  return v;
}

template <class T, class Name>
std::string names(const std::vector<T>& list, Name name) {
  std::string out;
  for (const T& a : list) out += (out.empty() ? "" : ",") + std::string(name(a));
  return out;
}

void print_lists(const ClientOptions& o, std::ostream& out) {
  const auto& a = o.algorithms;
  out << "ciphers " << names(a.ciphers, [](auto x) { return crypto::name(x); }) << "\n";
  out << "hostkeyalgorithms " << names(a.host_key, [](auto x) { return crypto::name(x); }) << "\n";
  out << "kexalgorithms " << names(a.kex, [](auto x) { return transport::name(x); }) << "\n";
  out << "macs " << names(a.macs, [](auto x) { return crypto::name(x); }) << "\n";
  // IdentityAgent only when set (ssh prints nothing for its default).
  if (o.settings.first("identityagent")) {
    // ssh keeps none, SSH_AUTH_SOCK and $VAR as written and expands paths.
    const std::string raw = first_or(o.settings, "identityagent", "");
    const bool kept = ascii_lower(raw) == "none" || raw == "SSH_AUTH_SOCK" ||
                      (raw.starts_with('$') && !raw.starts_with("${"));
    out << "identityagent " << (kept ? raw : o.agent_socket) << "\n";
  }
  if (o.settings.first("preferredauthentications"))
    out << "preferredauthentications " << first_or(o.settings, "preferredauthentications", "")
        << "\n";
}

void print_files(const ClientOptions& o, std::ostream& out) {
  std::vector<std::string> written = o.identity_files_written;
  if (written.empty()) written = {"~/.ssh/id_ed25519", "~/.ssh/id_ecdsa", "~/.ssh/id_rsa"};
  for (const auto& f : written) out << "identityfile " << f << "\n";
  out << "globalknownhostsfile "
      << first_or(o.settings, "globalknownhostsfile",
                  "/etc/ssh/ssh_known_hosts /etc/ssh/ssh_known_hosts2")
      << "\n";
  // The user files lead known_hosts_files; the global ones follow.
  const std::size_t global = o.settings.first("globalknownhostsfile")
                                 ? o.settings.first("globalknownhostsfile")->args.size()
                                 : 2;
  std::string user;
  for (std::size_t i = 0; i + global < o.known_hosts_files.size(); ++i)
    user += (user.empty() ? "" : " ") + o.known_hosts_files[i].string();
  out << "userknownhostsfile " << (user.empty() ? "none" : user) << "\n";
  for (const auto& e : o.send_env) out << "sendenv " << e << "\n";
  for (const auto& e : o.set_env) out << "setenv " << e.name << "=" << e.value << "\n";
}

void print_forwarding(const ClientOptions& o, std::ostream& out) {
  const Forwarding& f = o.forwarding;
  out << "clearallforwardings " << yes_no(f.cleared) << "\n";
  out << "exitonforwardfailure " << yes_no(f.exit_on_failure) << "\n";
  out << "gatewayports " << yes_no(f.gateway_ports) << "\n";
  out << "sessiontype "
      << (o.session_type == SessionType::none        ? "none"
          : o.session_type == SessionType::subsystem ? "subsystem"
                                                     : "default")
      << "\n";
  using client::ForwardKind;
  for (const auto& d : f.dynamic) out << "dynamicforward " << client::describe(d, ForwardKind::dynamic) << "\n";
  for (const auto& l : f.local) out << "localforward " << client::describe(l, ForwardKind::local) << "\n";
  for (const auto& r : f.remote) out << "remoteforward " << client::describe(r, ForwardKind::remote) << "\n";
}

}  // namespace

void print_config(const ClientOptions& o, std::ostream& out) {
  const cfg::Settings& s = o.settings;
  out << "host " << o.destination.host_arg << "\n";
  out << "user " << o.destination.user << "\n";
  out << "hostname " << o.destination.host << "\n";
  out << "port " << o.destination.port << "\n";
  out << "batchmode " << yes_no(o.batch_mode) << "\n";
  out << "hashknownhosts " << yes_no(o.hash_known_hosts) << "\n";
  out << "identitiesonly " << yes_no(o.identities_only) << "\n";
  out << "kbdinteractiveauthentication " << flag(s, "kbdinteractiveauthentication", true) << "\n";
  out << "passwordauthentication " << flag(s, "passwordauthentication", true) << "\n";
  out << "pubkeyauthentication " << multistate(first_or(s, "pubkeyauthentication", "yes")) << "\n";
  out << "requesttty " << multistate(first_or(s, "requesttty", "auto")) << "\n";
  out << "stricthostkeychecking " << multistate(first_or(s, "stricthostkeychecking", "ask"))
      << "\n";
  out << "numberofpasswordprompts " << (o.max_attempts ? *o.max_attempts : 3) << "\n";
  print_lists(o, out);
  out << "loglevel " << log_level(o) << "\n";
  print_files(o, out);
  const auto timeout = cfg::parse_time(first_or(s, "connecttimeout", "none"));
  out << "connecttimeout " << (timeout ? std::to_string(*timeout) : "none") << "\n";
  out << "serveraliveinterval " << o.server_alive.interval.count() << "\n";
  out << "rekeylimit " << o.rekey_limit.bytes << " " << o.rekey_limit.seconds << "\n";
  out << "serveralivecountmax " << o.server_alive.count_max << "\n";
  out << "tcpkeepalive " << yes_no(o.tcp_keepalive) << "\n";
  out << "connectionattempts " << o.connection_attempts << "\n";
  if (!o.proxy_command_written.empty()) out << "proxycommand " << o.proxy_command_written << "\n";
  if (!o.jump_written.empty()) out << "proxyjump " << o.jump_written << "\n";
  out << "passwordpromptrule " << first_or(s, "passwordpromptrule", "saved") << "\n";
  out << "warnweakcrypto " << yes_no(o.warn_weak_crypto) << "\n";
  print_forwarding(o, out);
}

}  // namespace parley::app

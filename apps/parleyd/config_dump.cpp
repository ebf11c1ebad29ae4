// parleyd -T, written with toml++'s own formatter (quoting and escaping are
// the library's), from the one Config every part of parleyd reads.
#include "config_dump.hpp"

#include <sstream>
#include <string_view>
#include <vector>

#include "parley/driver/services.hpp"
#include "parley/driver/source_limiter.hpp"
#include "parley/driver/redis_state.hpp"
#include "parley/otp/provider.hpp"
#include "parley/otp/store.hpp"
#include "parley/pam/pam_provider.hpp"
#include "parley/session/server_connection.hpp"
#include "settings.hpp"

// As config.cpp: errors are values, not exceptions (header-only toml++).
#define TOML_EXCEPTIONS 0
#include <toml++/toml.h>

namespace parleyd {

namespace {

/// Built-in values the Config leaves unset, from the layers that hold them.
const parley::driver::ProcessOptions process_defaults;
const parley::session::ChannelPolicy policy_defaults;
const parley::pam::PamConfig pam_defaults;
const parley::otp::Policy totp_defaults;
// TotpProviderConfig's own defaults, which auth_setup.cpp keeps where [totp] is silent.
const parley::otp::TotpProviderConfig totp_provider_defaults;

template <class T>
toml::array strings(const std::vector<T>& items, auto to_name) {
  toml::array out;
  for (const auto& item : items) out.push_back(std::string(to_name(item)));
  return out;
}

toml::array strings(const std::vector<std::string>& items) {
  return strings(items, [](const std::string& s) -> const std::string& { return s; });
}

std::int64_t number(std::size_t n) { return static_cast<std::int64_t>(n); }

/// Puts `value` under `key`, or names the key among the unset ones.
template <class T, class Make>
void put(toml::table& t, std::string_view key, const std::optional<T>& value, Make make,
         std::vector<std::string>& unset, std::string_view section, std::string_view meaning) {
  if (value) {
    t.insert_or_assign(key, make(*value));
    return;
  }
  unset.push_back((section.empty() ? "" : std::string(section) + ".") + std::string(key) + " (" +
                  std::string(meaning) + ")");
}

toml::table algorithms(const Config& c) {
  const parley::transport::AlgorithmPreferences builtin;
  toml::table t;
  t.insert("kex", strings(c.kex.value_or(builtin.kex), [](auto a) { return parley::transport::name(a); }));
  t.insert("host_key_algorithms",
           strings(c.host_key_algorithms.value_or(builtin.host_key), [](auto a) { return parley::crypto::name(a); }));
  t.insert("ciphers", strings(c.ciphers.value_or(builtin.ciphers), [](auto a) { return parley::crypto::name(a); }));
  t.insert("macs", strings(c.macs.value_or(builtin.macs), [](auto a) { return parley::crypto::name(a); }));
  return t;
}

std::string_view root_login_name(parley::login::RootLogin r) {
  switch (r) {
    case parley::login::RootLogin::no: return "no";
    case parley::login::RootLogin::yes: return "yes";
    case parley::login::RootLogin::prohibit_password: break;
  }
  return "prohibit-password";
}

toml::table auth(const Config& c, std::vector<std::string>& unset) {
  toml::table t;
  auto str = [](const std::string& s) { return s; };
  put(t, "password_file", c.password_file, str, unset, "auth", "no password file");
  put(t, "authorized_keys", c.authorized_keys, str, unset, "auth", "no publickey logins");
  if (c.methods.empty()) {
    unset.push_back("auth.methods (each configured method alone)");
  } else {
    toml::array chains;
    for (const auto& chain : c.methods) {
      std::string text;
      for (const auto& step : chain) text += (text.empty() ? "" : ",") + name(step);
      chains.push_back(text);
    }
    t.insert("methods", std::move(chains));
  }
  if (c.users.empty())
    unset.push_back("auth.users (none)");
  else
    t.insert("users", strings(c.users));
  t.insert("permit_root_login",
           std::string(root_login_name(c.permit_root_login.value_or(parley::login::RootLogin::prohibit_password))));
  return t;
}

toml::table limits(const Limits& l) {
  toml::table t;
  t.insert("max_auth_tries", number(l.max_auth_tries));
  t.insert("login_grace_time", static_cast<std::int64_t>(l.login_grace_time.count()));
  t.insert("max_prompts", number(l.max_prompts));
  t.insert("max_answer_bytes", number(l.max_answer_bytes));
  t.insert("max_rounds", number(l.max_rounds));
  t.insert("max_requests", number(l.max_requests));
  t.insert("failure_delay_ms", static_cast<std::int64_t>(l.failure_delay.count()));
  t.insert("max_startups", parley::driver::to_text(l.max_startups));
  if (l.per_source_max_startups) t.insert("per_source_max_startups", number(*l.per_source_max_startups));
  t.insert("per_source_netblock_size",
           std::to_string(l.per_source_netblock4) + ":" + std::to_string(l.per_source_netblock6));
  t.insert("per_source_penalties", parley::driver::to_text(l.per_source_penalties));
  t.insert("max_checks_per_connection", number(l.max_checks_per_connection));
  t.insert("max_queued_checks", number(l.max_queued_checks));
  return t;
}

toml::table session(const Config& c, std::vector<std::string>& unset) {
  const SessionSettings& s = c.session;
  toml::table t;
  auto str = [](const std::string& v) { return v; };
  put(t, "shell", s.shell, str, unset, "session", "the login shell of the user");
  t.insert("sftp_server", s.sftp_server.value_or(process_defaults.sftp_server));
  put(t, "session_user", s.session_user, str, unset, "session", "virtual users cannot log in as root");
  t.insert("accept_env", strings(s.accept_env.value_or(policy_defaults.env_allow)));
  t.insert("max_sessions", number(s.max_sessions.value_or(policy_defaults.max_sessions)));
  return t;
}

toml::table forwarding(const Config& c, std::vector<std::string>& unset) {
  const ForwardingSettings& f = c.forwarding;
  toml::table t;
  t.insert("local", f.local.value_or(false));
  t.insert("remote", f.remote.value_or(false));
  auto list = [](const std::vector<std::string>& v) { return strings(v); };
  put(t, "permit_open", f.permit_open, list, unset, "forwarding", "any destination, when local is on");
  put(t, "permit_listen", f.permit_listen, list, unset, "forwarding", "any address, when remote is on");
  t.insert("gateway_ports", f.gateway_ports.value_or(false));
  return t;
}

toml::table totp(const Config& c, std::vector<std::string>& unset) {
  const TotpSettings& s = c.totp;
  toml::table t;
  auto str = [](const std::string& v) { return v; };
  put(t, "users_oath", s.users_oath, str, unset, "totp", "none");
  put(t, "google_authenticator", s.google_authenticator, str, unset, "totp", "none");
  t.insert("window", static_cast<std::int64_t>(s.window.value_or(totp_defaults.window)));
  t.insert("max_failures", number(s.max_failures.value_or(totp_provider_defaults.max_failures)));
  t.insert("failure_period",
           static_cast<std::int64_t>(s.failure_period.value_or(totp_provider_defaults.failure_period).count()));
  return t;
}

/// [state]: the backend, and with Redis every setting (a secret's file, never the secret).
toml::table state(const Config& c, std::vector<std::string>& unset) {
  const StateSettings& s = c.state;
  toml::table t;
  t.insert("backend", s.backend.value_or("local"));
  t.insert("on_state_error", s.on_state_error.value_or("deny-second-factor"));
  if (s.backend != "redis") return t;
  const parley::driver::RedisOptions redis;
  auto str = [](const std::string& v) { return v; };
  t.insert("address", *s.address);
  t.insert("tls", s.tls.value_or(redis.tls));
  put(t, "tls_ca_file", s.tls_ca_file, str, unset, "state", "none");
  put(t, "tls_cert_file", s.tls_cert_file, str, unset, "state", "no client certificate");
  put(t, "tls_key_file", s.tls_key_file, str, unset, "state", "no client certificate");
  put(t, "tls_server_name", s.tls_server_name, str, unset, "state", "the address's host");
  put(t, "username", s.username, str, unset, "state", "Redis's default user");
  put(t, "password_file", s.password_file, str, unset, "state", "no AUTH");
  t.insert("key_prefix", s.key_prefix.value_or(redis.key_prefix));
  t.insert("timeout_ms", static_cast<std::int64_t>(s.timeout.value_or(redis.timeout).count()));
  t.insert("connect_timeout_ms",
           static_cast<std::int64_t>(s.connect_timeout.value_or(redis.connect_timeout).count()));
  t.insert("pool_size", number(s.pool_size.value_or(redis.pool_size)));
  return t;
}

}  // namespace

std::string dump_config(const Config& c) {
  std::vector<std::string> unset;
  toml::table top;
  top.insert("listen", c.listen.value_or(std::string(default_listen)));
  top.insert("port", static_cast<std::int64_t>(c.port.value_or(default_port)));
  if (c.host_keys.empty())
    unset.push_back("host_keys (the state directory's ssh_host_ed25519_key, made on first start)");
  else
    top.insert("host_keys", strings(c.host_keys));
  auto str = [](const std::string& v) { return v; };
  put(top, "state_dir", c.state_dir, str, unset, "",
      "$STATE_DIRECTORY, $XDG_STATE_HOME/parleyd or ~/.local/state/parleyd");
  top.insert("log_level", c.log_level.value_or(std::string(default_log_level)));
  top.insert("threads", static_cast<std::int64_t>(c.threads.value_or(0)));
  put(top, "banner", c.banner, str, unset, "", "none");
  top.insert("demo", c.demo.value_or(false));
  put(top, "privilege_separation", c.privilege_separation, [](bool b) { return b; }, unset, "",
      "on when parleyd starts as root");
  top.insert("proxy_protocol", c.proxy_protocol.value_or(false));
  if (c.proxy_from.empty())
    unset.push_back("proxy_from (no balancers)");
  else
    top.insert("proxy_from", strings(c.proxy_from));
  top.insert("algorithms", algorithms(c));
  top.insert("auth", auth(c, unset));
  top.insert("limits", limits(c.limits));
  top.insert("session", session(c, unset));
  top.insert("forwarding", forwarding(c, unset));
  top.insert("totp", totp(c, unset));
  toml::table pam;
  // Setting the service turns PAM on, so its default is only named.
  put(pam, "service", c.pam.service, str, unset, "pam",
      "no PAM unless a method asks for it; then '" + pam_defaults.service + "'");
  pam.insert("max_conversations", number(c.pam.max_conversations.value_or(pam_defaults.max_conversations)));
  top.insert("pam", std::move(pam));
  top.insert("state", state(c, unset));

  std::ostringstream out;
  out << "# parleyd -T: the effective configuration (the file and the command line\n"
         "# merged, built-in defaults filled in).\n";
  if (!unset.empty()) {
    out << "# Not set, so parleyd does as shown:\n";
    for (const auto& line : unset) out << "#   " << line << "\n";
  }
  out << "\n" << toml::toml_formatter(top, toml::toml_formatter::default_flags & ~toml::format_flags::indentation)
      << "\n";
  return out.str();
}

}  // namespace parleyd

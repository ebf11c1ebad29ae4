// parleyd's configuration file: toml++ parses the text, then Loader checks every
// key against what parleyd knows and turns each value into the type parleyd uses.
#include "config.hpp"

#include <algorithm>
#include <ranges>
#include <span>
#include <system_error>
#include <type_traits>
#include <utility>

// Parse errors come back as values (toml::parse_result) rather than exceptions:
// no exception leaves this file, and the result carries the error's line. This
// needs toml++ in its header-only mode, so config.cmake must not link the
// shared library that find_package(tomlplusplus) offers (it is built with
// exceptions, a different ABI namespace).
#define TOML_EXCEPTIONS 0
#include <toml++/toml.h>

namespace parleyd {

namespace {

namespace fs = std::filesystem;
namespace transport = parley::transport;

// RFC 4253 §6.1 only promises that packets of 35000 bytes get through, and the
// banner travels in one SSH_MSG_USERAUTH_BANNER; refuse one that could not.
constexpr std::size_t max_banner_bytes = 16384;

constexpr std::string_view log_levels[] = {"trace", "debug", "info", "warn", "error"};

/// The number type of a setting that is a number or an optional one.
template <class T>
struct NumberOf {
  using type = T;
};
template <class T>
struct NumberOf<std::optional<T>> {
  using type = T;
};

/// One key's value, with everything a message about it needs.
struct Item {
  std::string name;  // as messages show it: "port", "limits.max_auth_tries"
  const toml::node& node;
  std::size_t line;  // of the value, or of the key when toml++ has no position for it
};

/// A string from the file and the line it is on (array elements may each have their own).
struct Text {
  std::string value;
  std::size_t line;
};

std::size_t line_of(const toml::source_region& region) {
  return static_cast<std::size_t>(region.begin.line);
}

/// Checks a document key by key into a Config. It keeps going after a problem
/// and reports the one nearest the top of the file: toml++ visits a table's
/// keys in name order, which would otherwise decide which of two typos the
/// user hears about first.
class Loader {
 public:
  Loader(std::string file, fs::path base) : file_(std::move(file)), base_(std::move(base)) {}

  std::expected<Config, ConfigError> load(const toml::table& root) {
    walk(root, "", top_keys());
    if (!error_ && config_.proxy_protocol.value_or(false) && config_.proxy_from.empty())
      fail(proxy_line_, "proxy_protocol = true needs proxy_from, the balancers' addresses or CIDR blocks");
    if (auto problem = state_settings_problem(config_.state); problem && !error_)
      fail(config_.state.line, *problem);
    if (error_) return std::unexpected(std::move(*error_));
    return std::move(config_);
  }

 private:
  using Apply = void (*)(Loader&, const Item&);
  struct Key {
    std::string_view name;
    Apply apply;
  };
  struct Section {
    std::string_view name;  // "" for the top level
    std::span<const Key> keys;
  };

  // The schema. Each key's handler checks the value and stores it in config_.

  static std::span<const Key> top_keys() {
    static const Key keys[] = {
        {"listen", [](Loader& l, const Item& i) { l.config_.listen = l.nonempty_string(i); }},
        {"port", [](Loader& l, const Item& i) { l.count(i, 0, 65535, l.config_.port); }},
        {"host_keys",
         [](Loader& l, const Item& i) {
           auto paths = l.string_array(i);
           if (!paths) return;
           for (const auto& p : *paths)
             if (auto resolved = l.path(i, p)) l.config_.host_keys.push_back(*resolved);
         }},
        {"state_dir",
         [](Loader& l, const Item& i) {
           if (auto s = l.string(i)) l.config_.state_dir = l.path(i, Text{*s, i.line});
         }},
        {"log_level", [](Loader& l, const Item& i) { l.log_level(i); }},
        {"threads",
         [](Loader& l, const Item& i) {
           // 0 asks for one thread per CPU; more than 1024 is a typo, not a machine.
           l.count(i, 0, 1024, l.config_.threads);
         }},
        {"banner", [](Loader& l, const Item& i) { l.banner(i); }},
        {"demo", [](Loader& l, const Item& i) { l.config_.demo = l.boolean(i); }},
        {"privilege_separation",
         [](Loader& l, const Item& i) { l.config_.privilege_separation = l.boolean(i); }},
        {"proxy_protocol",
         [](Loader& l, const Item& i) { l.config_.proxy_protocol = l.boolean(i); l.proxy_line_ = i.line; }},
        {"proxy_from",
         [](Loader& l, const Item& i) {
           auto list = l.checked(i, l.string_array(i), proxy_block_problem);
           if (list && list->empty()) return l.fail(i.line, i.name + " must list at least one address or CIDR block");
           if (list) l.config_.proxy_from = std::move(*list);
         }},
        {"algorithms", [](Loader& l, const Item& i) { l.section(i, algorithms_keys()); }},
        {"auth", [](Loader& l, const Item& i) { l.section(i, auth_keys()); }},
        {"limits", [](Loader& l, const Item& i) { l.section(i, limits_keys()); }},
        {"session", [](Loader& l, const Item& i) { l.section(i, session_keys()); }},
        {"forwarding", [](Loader& l, const Item& i) { l.section(i, forwarding_keys()); }},
        {"totp", [](Loader& l, const Item& i) { l.section(i, totp_keys()); }},
        {"pam", [](Loader& l, const Item& i) { l.section(i, pam_keys()); }},
        {"state", [](Loader& l, const Item& i) { l.config_.state.line = i.line, l.section(i, state_keys()); }},
    };
    return keys;
  }

  static std::span<const Key> algorithms_keys() {
    using P = transport::AlgorithmPreferences;
    static const Key keys[] = {
        {"kex",
         [](Loader& l, const Item& i) {
           l.algorithms(i, "key exchange algorithm", &P::parse_kex, P::supported().kex, P{}.kex, l.config_.kex);
         }},
        {"host_key_algorithms",
         [](Loader& l, const Item& i) {
           l.algorithms(i, "host key algorithm", &P::parse_host_key, P::supported().host_key, P{}.host_key,
                        l.config_.host_key_algorithms);
         }},
        {"ciphers",
         [](Loader& l, const Item& i) {
           l.algorithms(i, "cipher", &P::parse_ciphers, P::supported().ciphers, P{}.ciphers, l.config_.ciphers);
         }},
        {"macs",
         [](Loader& l, const Item& i) {
           l.algorithms(i, "MAC", &P::parse_macs, P::supported().macs, P{}.macs, l.config_.macs);
         }},
    };
    return keys;
  }

  static std::span<const Key> auth_keys() {
    static const Key keys[] = {
        {"password_file",
         [](Loader& l, const Item& i) {
           if (auto s = l.string(i)) l.config_.password_file = l.path(i, Text{*s, i.line});
         }},
        {"authorized_keys", [](Loader& l, const Item& i) { l.authorized_keys(i); }},
        {"methods", [](Loader& l, const Item& i) { l.methods(i); }},
        {"users", [](Loader& l, const Item& i) { l.users(i); }},
        {"permit_root_login",
         [](Loader& l, const Item& i) {
           auto s = l.string(i);
           if (!s) return;
           l.config_.permit_root_login = parley::login::parse_root_login(*s);
           if (!l.config_.permit_root_login)
             l.fail(i.line, i.name + ": must be \"no\", \"prohibit-password\" or \"yes\"");
         }},
    };
    return keys;
  }

  /// The handler of a key that is a count in low..high, stored in
  /// config_.*section.*field.
  template <auto section, auto field, std::int64_t low, std::int64_t high>
  static void count_in(Loader& l, const Item& i) {
    l.count(i, low, high, l.config_.*section.*field);
  }
  template <auto field, std::int64_t low, std::int64_t high>
  static constexpr Apply limit = count_in<&Config::limits, field, low, high>;

  static std::span<const Key> limits_keys() {
    static const Key keys[] = {
        {"max_auth_tries", limit<&Limits::max_auth_tries, 1, 100>},
        {"login_grace_time", limit<&Limits::login_grace_time, 1, 3600>},
        {"max_prompts", limit<&Limits::max_prompts, 1, 256>},
        {"max_answer_bytes", limit<&Limits::max_answer_bytes, 64, 65536>},
        {"max_rounds", limit<&Limits::max_rounds, 1, 64>},
        {"max_requests", limit<&Limits::max_requests, 1, 10000>},
        {"failure_delay_ms", limit<&Limits::failure_delay, 0, 10000>},
        {"max_startups",
         [](Loader& l, const Item& i) {
           if (auto m = l.sshd_syntax(i, &parley::driver::parse_max_startups))
             l.config_.limits.max_startups = *m;
         }},
        {"per_source_max_startups", limit<&Limits::per_source_max_startups, 1, 1000000>},
        {"per_source_netblock_size",
         [](Loader& l, const Item& i) {
           auto n = l.sshd_syntax(i, &parley::driver::parse_netblock_size);
           if (!n) return;
           l.config_.limits.per_source_netblock4 = n->first;
           l.config_.limits.per_source_netblock6 = n->second;
         }},
        {"per_source_penalties",
         [](Loader& l, const Item& i) {
           // Keys the text does not name keep their defaults.
           auto parse = [](std::string_view s) { return parley::driver::parse_penalties(s); };
           if (auto p = l.sshd_syntax(i, parse)) l.config_.limits.per_source_penalties = *p;
         }},
        {"max_checks_per_connection", limit<&Limits::max_checks_per_connection, 1, 16>},
        {"max_queued_checks", limit<&Limits::max_queued_checks, 1, 1000000>},
    };
    return keys;
  }

  static std::span<const Key> session_keys() {
    static const Key keys[] = {
        {"max_sessions", count_in<&Config::session, &SessionSettings::max_sessions, 1, 1000>},
        {"shell",
         [](Loader& l, const Item& i) {
           auto s = l.nonempty_string(i);
           if (s && l.absolute(i, *s, "")) l.config_.session.shell = std::move(*s);
         }},
        {"sftp_server",
         [](Loader& l, const Item& i) {
           // "" is a choice, not a slip: no sftp subsystem at all.
           auto s = l.string(i);
           if (s && (s->empty() || l.absolute(i, *s, ", or '' to turn sftp off")))
             l.config_.session.sftp_server = std::move(*s);
         }},
        {"accept_env", [](Loader& l, const Item& i) { l.accept_env(i); }},
        {"session_user",
         [](Loader& l, const Item& i) { l.config_.session.session_user = l.nonempty_string(i); }},
    };
    return keys;
  }

  static std::span<const Key> forwarding_keys() {
    static const Key keys[] = {
        {"local", [](Loader& l, const Item& i) { l.config_.forwarding.local = l.boolean(i); }},
        {"remote", [](Loader& l, const Item& i) { l.config_.forwarding.remote = l.boolean(i); }},
        {"permit_open",
         [](Loader& l, const Item& i) { l.permits(i, 1, l.config_.forwarding.permit_open); }},
        {"permit_listen",
         // Port 0 asks the server to pick one, as ssh -R 0:host:port does.
         [](Loader& l, const Item& i) { l.permits(i, 0, l.config_.forwarding.permit_listen); }},
        {"gateway_ports",
         [](Loader& l, const Item& i) { l.config_.forwarding.gateway_ports = l.boolean(i); }},
    };
    return keys;
  }

  static std::span<const Key> totp_keys() {
    static const Key keys[] = {
        {"users_oath",
         [](Loader& l, const Item& i) {
           if (!l.one_totp_store(i)) return;
           if (auto s = l.nonempty_string(i)) l.config_.totp.users_oath = l.path(i, Text{*s, i.line});
         }},
        {"google_authenticator",
         [](Loader& l, const Item& i) {
           if (!l.one_totp_store(i)) return;
           auto s = l.nonempty_string(i);
           if (s && l.pattern_ok(i, *s)) l.config_.totp.google_authenticator = std::move(*s);
         }},
        {"window", count_in<&Config::totp, &TotpSettings::window, 0, 10>},
        {"max_failures", count_in<&Config::totp, &TotpSettings::max_failures, 1, 1000>},
        {"failure_period", count_in<&Config::totp, &TotpSettings::failure_period, 1, 86400>},
    };
    return keys;
  }

  static std::span<const Key> pam_keys() {
    static const Key keys[] = {
        {"service",
         [](Loader& l, const Item& i) {
           auto s = l.nonempty_string(i);
           if (s && (s->find('/') != std::string::npos || *s == "." || *s == ".."))
             return l.fail(i.line, i.name + ": a PAM service is a name in /etc/pam.d, not a path");
           if (s) l.config_.pam.service = std::move(*s);
         }},
        {"max_conversations",
         [](Loader& l, const Item& i) { l.count(i, 1, 100000, l.config_.pam.max_conversations); }},
    };
    return keys;
  }

  /// A file name in [state], resolved like host_keys.
  template <auto field>
  static void state_file(Loader& l, const Item& i) {
    if (auto s = l.string(i)) l.config_.state.*field = l.path(i, Text{*s, i.line});
  }

  static std::span<const Key> state_keys() {
    static const Key keys[] = {
        {"backend", [](Loader& l, const Item& i) { l.one_of(i, "local redis", l.config_.state.backend); }},
        {"address",
         [](Loader& l, const Item& i) {
           auto a = l.sshd_syntax(i, &parse_host_port);
           if (!a) return;
           l.config_.state.address = *l.string(i);
           std::tie(l.config_.state.host, l.config_.state.port) = std::move(*a);
         }},
        {"tls", [](Loader& l, const Item& i) { l.config_.state.tls = l.boolean(i); }},
        {"tls_ca_file", state_file<&StateSettings::tls_ca_file>},
        {"tls_cert_file", state_file<&StateSettings::tls_cert_file>},
        {"tls_key_file", state_file<&StateSettings::tls_key_file>},
        {"tls_server_name",
         [](Loader& l, const Item& i) { l.config_.state.tls_server_name = l.nonempty_string(i); }},
        {"username", [](Loader& l, const Item& i) { l.config_.state.username = l.nonempty_string(i); }},
        {"password_file", state_file<&StateSettings::password_file>},
        {"key_prefix", [](Loader& l, const Item& i) { l.config_.state.key_prefix = l.string(i); }},
        {"timeout_ms", count_in<&Config::state, &StateSettings::timeout, 1, 60000>},
        {"connect_timeout_ms", count_in<&Config::state, &StateSettings::connect_timeout, 1, 60000>},
        {"pool_size", count_in<&Config::state, &StateSettings::pool_size, 1, 256>},
        {"on_state_error",
         [](Loader& l, const Item& i) {
           l.one_of(i, "deny-second-factor deny-all", l.config_.state.on_state_error);
         }},
    };
    return keys;
  }

  static std::span<const Section> sections() {
    static const Section all[] = {{"", top_keys()},
                                  {"algorithms", algorithms_keys()},
                                  {"auth", auth_keys()},
                                  {"limits", limits_keys()},
                                  {"session", session_keys()},
                                  {"forwarding", forwarding_keys()},
                                  {"totp", totp_keys()},
                                  {"pam", pam_keys()},
                                  {"state", state_keys()}};
    return all;
  }

  // Walking tables

  void walk(const toml::table& table, std::string_view section, std::span<const Key> keys) {
    for (auto&& [key, node] : table) {
      const std::string_view name = key.str();
      const std::size_t key_line = line_of(key.source());
      const std::size_t value_line = line_of(node.source());
      Item item{
          section.empty() ? std::string(name) : std::string(section) + "." + std::string(name),
          node, value_line != 0 ? value_line : key_line};
      auto known = std::ranges::find(keys, name, &Key::name);
      if (known == keys.end()) {
        fail(key_line, unknown(section, name, node.is_table()));
        continue;
      }
      known->apply(*this, item);
    }
  }

  void section(const Item& item, std::span<const Key> keys) {
    const auto* table = item.node.as_table();
    if (!table) return fail(item.line, item.name + " must be a table ([" + item.name + "])");
    walk(*table, item.name, keys);
  }

  /// The message for a key the schema lacks, with a "did you mean" hint.
  static std::string unknown(std::string_view section, std::string_view name, bool is_table) {
    std::vector<SchemaSection> schema;
    for (const auto& s : sections()) {
      schema.push_back({s.name, {}});
      for (const auto& k : s.keys) schema.back().keys.push_back(k.name);
    }
    return unknown_key_message(section, name, is_table, schema);
  }

  // Values of each type. Each reports a wrong value and returns nullopt.

  std::optional<std::string> string(const Item& item) {
    const auto* s = item.node.as_string();
    if (!s) {
      fail(item.line, item.name + " must be a string");
      return std::nullopt;
    }
    return s->get();
  }

  std::optional<std::string> nonempty_string(const Item& item) {
    auto s = string(item);
    if (s && s->empty()) {
      fail(item.line, item.name + " must not be empty");
      return std::nullopt;
    }
    return s;
  }

  std::optional<std::int64_t> integer(const Item& item, std::int64_t low, std::int64_t high) {
    const auto* v = item.node.as_integer();
    if (!v) {
      fail(item.line, item.name + " must be an integer");
      return std::nullopt;
    }
    const std::int64_t n = v->get();
    if (n < low || n > high) {
      fail(item.line, item.name + " must be " + std::to_string(low) + ".." + std::to_string(high) +
                          " (got " + std::to_string(n) + ")");
      return std::nullopt;
    }
    return n;
  }

  /// An integer in low..high into a number or duration, or an optional one.
  template <class Out>
  void count(const Item& item, std::int64_t low, std::int64_t high, Out& out) {
    if (auto v = integer(item, low, high)) out = static_cast<typename NumberOf<Out>::type>(*v);
  }

  std::optional<bool> boolean(const Item& item) {
    const auto* b = item.node.as_boolean();
    if (!b) {
      fail(item.line, item.name + " must be true or false");
      return std::nullopt;
    }
    return b->get();
  }

  /// A string that must be one of the words of `allowed` ("local redis").
  void one_of(const Item& item, std::string_view allowed, std::optional<std::string>& out) {
    auto s = string(item);
    if (!s) return;
    std::string names;
    for (const auto word : std::views::split(allowed, ' ')) {
      const std::string_view a(word.begin(), word.end());
      if (a == *s) {
        out = std::move(*s);
        return;
      }
      names += (names.empty() ? "\"" : " or \"") + std::string(a) + "\"";
    }
    fail(item.line, item.name + ": must be " + names + " (got \"" + *s + "\")");
  }

  /// A string in one of sshd_config's own syntaxes, parsed by `parse` (whose
  /// error says what is wrong).
  template <class Parse>
  auto sshd_syntax(const Item& item, Parse parse)
      -> std::optional<typename std::invoke_result_t<Parse, const std::string&>::value_type> {
    auto text = string(item);
    if (!text) return std::nullopt;
    auto parsed = parse(*text);
    if (!parsed) {
      fail(item.line, item.name + ": " + parsed.error());
      return std::nullopt;
    }
    return std::move(*parsed);
  }

  /// An array whose elements are all strings.
  std::optional<std::vector<Text>> string_array(const Item& item) {
    const auto* array = item.node.as_array();
    if (!array) {
      fail(item.line, item.name + " must be an array of strings");
      return std::nullopt;
    }
    return elements(item, *array);
  }

  /// A string, or an array of strings (each element its own list entry).
  std::optional<std::vector<Text>> string_or_array(const Item& item) {
    if (const auto* s = item.node.as_string()) return std::vector<Text>{Text{s->get(), item.line}};
    if (const auto* array = item.node.as_array()) return elements(item, *array);
    fail(item.line, item.name + " must be a string or an array of strings");
    return std::nullopt;
  }

  std::optional<std::vector<Text>> elements(const Item& item, const toml::array& array) {
    std::vector<Text> out;
    for (const auto& element : array) {
      const std::size_t line =
          line_of(element.source()) != 0 ? line_of(element.source()) : item.line;
      const auto* s = element.as_string();
      if (!s) {
        fail(line, item.name + " must be an array of strings");
        return std::nullopt;
      }
      out.push_back(Text{s->get(), line});
    }
    return out;
  }

  /// A path from the file, made independent of the server's working directory.
  std::optional<std::string> path(const Item& item, const Text& text) {
    if (text.value.empty()) {
      fail(text.line, item.name + ": empty path");
      return std::nullopt;
    }
    return resolve(text.value);
  }

  /// A program to run: it must not depend on a working directory or $PATH.
  /// `alternative` completes the message ("" when there is none).
  bool absolute(const Item& item, const std::string& p, std::string_view alternative) {
    if (fs::path(p).is_absolute()) return true;
    fail(item.line,
         item.name + " must be an absolute path" + std::string(alternative) + " (got '" + p + "')");
    return false;
  }

  std::string resolve(const std::string& p) const {
    const fs::path as_given(p);
    if (as_given.is_absolute()) return p;
    return (base_ / as_given).lexically_normal().string();
  }

  // Keys with rules of their own

  void log_level(const Item& item) {
    auto level = string(item);
    if (!level) return;
    if (std::ranges::find(log_levels, *level) == std::end(log_levels))
      return fail(item.line, item.name + " must be one of " + join_names(log_levels, ", ") + " (got '" +
                                 *level + "')");
    config_.log_level = *level;
  }

  void banner(const Item& item) {
    auto text = string(item);
    if (!text) return;
    if (text->size() > max_banner_bytes)
      return fail(item.line,
                  item.name + " must be at most " + std::to_string(max_banner_bytes) + " bytes");
    config_.banner = std::move(*text);
  }

  /// An algorithm list: names, or one string in sshd_config's syntax against
  /// the defaults ("+a" adds, "-a" removes, "^a" puts first).
  template <class T, class Parse>
  void algorithms(const Item& item, std::string_view what, Parse parse, const std::vector<T>& known,
                  const std::vector<T>& defaults, std::optional<std::vector<T>>& out) {
    auto texts = string_or_array(item);
    if (!texts) return;
    const bool relative = texts->size() == 1 && !(*texts)[0].value.empty() &&
                          std::string_view("+-^").find((*texts)[0].value[0]) != std::string_view::npos;
    std::vector<T> list;
    for (const auto& text : *texts) {
      std::string bad;
      auto parsed = relative ? transport::apply_list_syntax(defaults, text.value, parse, &bad)
                             : parse(text.value, &bad);
      if (!parsed) {
        if (bad.empty())
          return fail(text.line, item.name + ": empty algorithm name in '" + text.value + "'");
        std::vector<std::string_view> names;
        for (auto alg : known) names.push_back(name(alg));
        return fail(text.line, item.name + ": unknown " + std::string(what) + " '" + bad +
                                   "' (known: " + join_names(names, ", ") + ")");
      }
      for (auto alg : *parsed) {
        // The list becomes a KEXINIT name-list; a name twice is a mistake there too.
        if (std::ranges::find(list, alg) != list.end())
          return fail(text.line, item.name + " names '" + std::string(name(alg)) + "' twice");
        list.push_back(alg);
      }
    }
    if (list.empty()) return fail(item.line, item.name + " must name at least one algorithm");
    out = std::move(list);
  }

  /// At most one TOTP store; the error goes on the later of the two lines.
  bool one_totp_store(const Item& item) {
    if (totp_store_line_ == 0) {
      totp_store_line_ = item.line;
      return true;
    }
    fail(std::max(item.line, totp_store_line_),
         "totp: give users_oath or google_authenticator, not both");
    return false;
  }

  /// Checks a path pattern's '%' sequences now, so expand_path_pattern() never
  /// meets one it does not know.
  bool pattern_ok(const Item& item, std::string_view pattern) {
    auto problem = path_pattern_problem(pattern);
    if (problem) fail(item.line, item.name + ": " + *problem);
    return !problem;
  }

  void authorized_keys(const Item& item) {
    auto pattern = string(item);
    if (!pattern) return;
    if (pattern->empty()) return fail(item.line, item.name + ": empty path");
    if (!pattern_ok(item, *pattern)) return;
    // A pattern with %h is anchored at the user's home, whatever else it says.
    config_.authorized_keys = pattern_uses_home(*pattern) ? *pattern : resolve(*pattern);
  }

  void methods(const Item& item) {
    auto chains = string_array(item);
    if (!chains) return;
    if (chains->empty())
      return fail(item.line,
                  item.name + " must list at least one chain (leave it out for the default)");
    std::vector<AuthChain> out;
    for (const auto& chain : *chains) {
      if (chain.value.empty()) return fail(chain.line, item.name + ": empty chain");
      auto parsed = parse_chain(chain.value);
      if (!parsed)
        return fail(chain.line, item.name + ": " + parsed.error() + " in '" + chain.value + "'");
      out.push_back(std::move(*parsed));
    }
    config_.methods = std::move(out);
  }

  void users(const Item& item) {
    if (auto names = checked(item, string_array(item), user_name_problem))
      config_.users = std::move(*names);
  }

  void accept_env(const Item& item) {
    if (auto patterns = checked(item, string_or_array(item), env_pattern_problem))
      config_.session.accept_env = std::move(*patterns);
  }

  /// permit_open and permit_listen: "host:port" entries or "any". The lowest
  /// port accepted is `low_port`.
  void permits(const Item& item, std::uint32_t low_port,
               std::optional<std::vector<std::string>>& out) {
    auto entries = string_array(item);
    // The server reads an empty list as "anywhere", the opposite of what it looks like.
    if (entries && entries->empty())
      return fail(item.line, item.name +
                                 " must list at least one entry (write ['any'] for anywhere, "
                                 "or leave it out)");
    auto problem = [low_port](std::string_view entry) -> std::optional<std::string> {
      if (entry.empty()) return "empty entry";
      auto parsed = parse_permit(entry, low_port);
      if (parsed) return std::nullopt;
      return parsed.error() + " in '" + std::string(entry) + "' " + permit_syntax(low_port);
    };
    if (auto list = checked(item, std::move(entries), problem)) out = std::move(*list);
  }

  /// The strings of `texts`, or nullopt once `problem` (what is wrong with
  /// one, if anything) has found one wrong, reported on its own line.
  template <class Problem>
  std::optional<std::vector<std::string>> checked(const Item& item,
                                                  std::optional<std::vector<Text>> texts,
                                                  Problem problem) {
    if (!texts) return std::nullopt;
    std::vector<std::string> out;
    for (auto& text : *texts) {
      if (auto wrong = problem(text.value)) {
        fail(text.line, item.name + ": " + *wrong);
        return std::nullopt;
      }
      out.push_back(std::move(text.value));
    }
    return out;
  }

  /// Records a problem unless one nearer the top of the file is already known.
  void fail(std::size_t line, std::string reason) {
    if (error_ && error_->line <= line) return;
    error_ = ConfigError{file_, line, std::move(reason)};
  }

  std::string file_;
  fs::path base_;
  Config config_;
  std::optional<ConfigError> error_;
  std::size_t totp_store_line_ = 0;
  std::size_t proxy_line_ = 0;
};

/// The directory relative paths in the file are taken from. Absolute, so the
/// result does not change if the server later changes directory.
fs::path base_directory(const fs::path& file) {
  std::error_code ec;
  fs::path absolute = fs::absolute(file, ec);
  if (ec) return file.parent_path();
  return absolute.parent_path();
}

}  // namespace

std::expected<Config, ConfigError> parse_config(std::string_view text,
                                                const fs::path& path_for_errors) {
  const std::string file = path_for_errors.string();
  toml::parse_result parsed = toml::parse(text, file);
  if (!parsed) {
    const auto& error = parsed.error();
    return std::unexpected(
        ConfigError{file, line_of(error.source()), std::string(error.description())});
  }
  return Loader(file, base_directory(path_for_errors)).load(parsed.table());
}

}  // namespace parleyd

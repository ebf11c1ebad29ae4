#include "setting_values.hpp"

#include <algorithm>
#include <charconv>
#include <system_error>

#include "parley/driver/proxy_protocol.hpp"

namespace parleyd {

namespace {

/// A value and its name, for tables that map one to the other.
template <class E>
struct Named {
  E value;
  std::string_view name;
};

constexpr Named<AuthMethod> method_names[] = {{AuthMethod::publickey, "publickey"},
                                              {AuthMethod::password, "password"},
                                              {AuthMethod::keyboard_interactive, "keyboard-interactive"}};
constexpr Named<KbdSubmethod> submethod_names[] = {{KbdSubmethod::higher_or_lower, "higher-or-lower"},
                                                   {KbdSubmethod::password, "password"},
                                                   {KbdSubmethod::totp, "totp"},
                                                   {KbdSubmethod::pam, "pam"}};

template <class E, std::size_t N>
std::string_view name_in(const Named<E> (&table)[N], E value) {
  for (const auto& n : table)
    if (n.value == value) return n.name;
  return "?";
}

/// "a, b, c": every name of `table`, for "known: ..." hints.
template <class E, std::size_t N>
std::string names_of(const Named<E> (&table)[N]) {
  std::string out;
  for (const auto& n : table) {
    if (!out.empty()) out += ", ";
    out += n.name;
  }
  return out;
}

/// The value of `table` whose name is `text`.
template <class E, std::size_t N>
std::optional<E> find_named(const Named<E> (&table)[N], std::string_view text) {
  for (const auto& n : table)
    if (n.name == text) return n.value;
  return std::nullopt;
}

std::expected<AuthStep, std::string> parse_step(std::string_view text) {
  if (text.empty()) return std::unexpected("empty method name");
  const std::size_t colon = text.find(':');
  const std::string_view base = text.substr(0, colon);
  const auto method = find_named(method_names, base);
  if (!method)
    return std::unexpected("unknown method '" + std::string(base) + "' (known: " +
                           names_of(method_names) + ")");
  if (colon == std::string_view::npos) return AuthStep{*method, std::nullopt};
  if (*method != AuthMethod::keyboard_interactive)
    return std::unexpected("method '" + std::string(base) + "' takes no submethod");
  const std::string_view sub = text.substr(colon + 1);
  const auto submethod = find_named(submethod_names, sub);
  if (!submethod)
    return std::unexpected("unknown keyboard-interactive submethod '" + std::string(sub) +
                           "' (known: " + names_of(submethod_names) + ")");
  return AuthStep{*method, submethod};
}

/// Walks a path pattern: each literal character goes to `literal`, each
/// "%c" to `token(c)`. A '%' at the very end is a literal; stops at the first
/// token() that returns false and says so.
template <class Literal, class Token>
bool scan_pattern(std::string_view pattern, Literal literal, Token token) {
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] != '%' || i + 1 == pattern.size()) {
      literal(pattern[i]);
      continue;
    }
    if (!token(pattern[++i])) return false;
  }
  return true;
}

std::optional<std::uint16_t> parse_port(std::string_view text, std::uint32_t low_port) {
  std::uint32_t port = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || port < low_port ||
      port > 65535)
    return std::nullopt;
  return static_cast<std::uint16_t>(port);
}

}  // namespace

std::string_view name(AuthMethod method) { return name_in(method_names, method); }

std::string_view name(KbdSubmethod submethod) { return name_in(submethod_names, submethod); }

std::string name(const AuthStep& step) { return parley::userauth::to_string(chain_step(step)); }

parley::userauth::ChainStep chain_step(const AuthStep& step) {
  return {step.method, step.submethod ? std::string(name(*step.submethod)) : std::string()};
}

std::expected<AuthChain, std::string> parse_chain(std::string_view text) {
  AuthChain chain;
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = text.find(',', start);
    auto step = parse_step(text.substr(start, comma == std::string_view::npos ? std::string_view::npos
                                                                              : comma - start));
    if (!step) return std::unexpected(step.error());
    chain.push_back(*step);
    if (comma == std::string_view::npos) return chain;
    start = comma + 1;
  }
}

bool names_step(const std::vector<AuthChain>& chains, const AuthStep& step) {
  return std::ranges::any_of(chains, [&](const AuthChain& c) { return std::ranges::find(c, step) != c.end(); });
}

std::optional<std::string> path_pattern_problem(std::string_view pattern) {
  // The first problem from the left: scan_pattern hands a '%' to `literal`
  // only when it ends the pattern.
  std::optional<std::string> problem;
  scan_pattern(
      pattern,
      [&](char c) {
        if (c == '%') problem = "'%' at the end (write %% for a literal '%')";
      },
      [&](char c) {
        if (c == 'u' || c == 'h' || c == '%') return true;
        problem = "unknown token '%" + std::string(1, c) +
                  "' (known: %u user name, %h home directory, %% a '%')";
        return false;
      });
  return problem;
}

bool pattern_uses_home(std::string_view pattern) {
  return !scan_pattern(pattern, [](char) {}, [](char c) { return c != 'h'; });
}

std::expected<std::string, std::string> expand_path_pattern(std::string_view pattern,
                                                            std::string_view user,
                                                            const HomeLookup& home) {
  std::string out;
  std::optional<std::string> home_dir;
  std::string error;
  const bool expanded = scan_pattern(
      pattern, [&](char c) { out += c; },
      [&](char c) {
        switch (c) {
          case 'u':
            out += user;
            return true;
          case 'h':
            if (!home_dir) {
              auto found = home();
              if (!found) {
                error = found.error();
                return false;
              }
              home_dir = std::move(*found);
            }
            out += *home_dir;
            return true;
          case '%':
            out += '%';
            return true;
          default:  // refused when the pattern was read
            out += '%';
            out += c;
            return true;
        }
      });
  if (!expanded) return std::unexpected(error);
  return out;
}

std::string expand_path_pattern(std::string_view pattern, std::string_view user,
                                std::string_view home) {
  auto known = [home]() -> std::expected<std::string, std::string> { return std::string(home); };
  return *expand_path_pattern(pattern, user, known);
}

std::optional<std::string> user_name_problem(std::string_view user) {
  constexpr std::size_t max_user_name = 64;
  const bool valid = !user.empty() && user.size() <= max_user_name &&
                     std::ranges::all_of(user, [](char c) {
                       return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                              (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
                     });
  if (valid) return std::nullopt;
  return "bad user name '" + std::string(user) + "' (use 1.." + std::to_string(max_user_name) +
         " of A-Z a-z 0-9 . _ -)";
}

std::optional<std::string> env_pattern_problem(std::string_view pattern) {
  if (pattern.empty()) return "empty pattern";
  if (pattern.find('=') != std::string_view::npos)
    return "'=' in '" + std::string(pattern) + "' (name the variable, not its value)";
  // Algorithm lists here may be comma-separated and sshd's AcceptEnv is
  // space-separated; either way such a pattern would silently match nothing.
  if (pattern.find_first_of(", \t") != std::string_view::npos)
    return "'" + std::string(pattern) + "' is more than one pattern (give each its own string)";
  return std::nullopt;
}

std::optional<std::string> proxy_block_problem(std::string_view entry) {
  auto block = parley::driver::AddressBlock::parse(entry);
  if (block) return std::nullopt;
  return block.error() + " (write an address, e.g. \"10.0.0.5\", or a CIDR block, e.g. \"10.0.0.0/8\")";
}

std::expected<PermitEntry, std::string> parse_permit(std::string_view entry, std::uint32_t low_port) {
  if (entry == "any") return PermitEntry{true, {}, std::nullopt};
  if (entry.empty()) return std::unexpected("empty entry");
  std::string_view host;
  std::string_view rest;
  if (entry.front() == '[') {
    const std::size_t close = entry.find(']');
    if (close == std::string_view::npos) return std::unexpected("no ']' after '['");
    host = entry.substr(1, close - 1);
    rest = entry.substr(close + 1);
    if (rest.empty() || rest.front() != ':') return std::unexpected("no ':port' after ']'");
    rest.remove_prefix(1);
  } else {
    const std::size_t colon = entry.find(':');
    if (colon == std::string_view::npos) return std::unexpected("no port");
    host = entry.substr(0, colon);
    rest = entry.substr(colon + 1);
    if (rest.find(':') != std::string_view::npos) return std::unexpected("more than one ':'");
  }
  if (host.empty()) return std::unexpected("empty host");
  if (host.find_first_of("[] \t") != std::string_view::npos)
    return std::unexpected("bad host '" + std::string(host) + "'");
  if (rest == "*") return PermitEntry{false, std::string(host), std::nullopt};
  const auto port = parse_port(rest, low_port);
  if (!port) return std::unexpected("bad port '" + std::string(rest) + "'");
  return PermitEntry{false, std::string(host), port};
}

std::string permit_syntax(std::uint32_t low_port) {
  return "(write host:port, [address]:port or any; port " + std::to_string(low_port) +
         "..65535 or *)";
}

namespace {

/// Optimal string alignment distance (Levenshtein plus adjacent swaps), for
/// "did you mean" hints: "prot" is one swap away from "port".
std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.size()][b.size()];
}

}  // namespace

std::string join_names(std::span<const std::string_view> names, std::string_view separator) {
  std::string out;
  for (auto n : names) {
    if (!out.empty()) out += separator;
    out += n;
  }
  return out;
}

std::string unknown_key_message(std::string_view section, std::string_view name, bool is_table,
                                const std::vector<SchemaSection>& schema) {
  std::string message;
  if (is_table)
    message = "unknown table '" + (section.empty() ? "" : std::string(section) + ".") + std::string(name) + "'";
  else
    message = "unknown key '" + std::string(name) + "'" + (section.empty() ? "" : " in [" + std::string(section) + "]");

  std::string_view closest;
  std::size_t best = 3;
  for (const auto& s : schema) {
    if (s.name != section) continue;
    for (const auto k : s.keys) {
      const std::size_t d = edit_distance(name, k);
      const std::size_t allowed = k.size() <= 4 ? 1 : 2;
      if (d <= allowed && d < best) {
        best = d;
        closest = k;
      }
    }
  }
  if (!closest.empty()) return message + " (did you mean '" + std::string(closest) + "'?)";

  for (const auto& s : schema) {
    if (s.name == section || std::ranges::find(s.keys, name) == s.keys.end()) continue;
    if (s.name.empty()) return message + " (it belongs at the top level, before the first [table])";
    return message + " (it belongs in [" + std::string(s.name) + "])";
  }
  return message;
}

std::expected<std::pair<std::string, std::uint16_t>, std::string> parse_host_port(std::string_view a) {
  const auto colon = a.rfind(':');
  std::string_view host = colon == std::string_view::npos ? std::string_view() : a.substr(0, colon);
  const bool bracketed = host.size() >= 2 && host.front() == '[' && host.back() == ']';
  if (bracketed) host = host.substr(1, host.size() - 2);
  const std::string_view port = colon == std::string_view::npos ? std::string_view() : a.substr(colon + 1);
  int number = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), number);
  if (host.empty() || host.find_first_of("[]") != std::string_view::npos ||
      (host.find(':') != std::string_view::npos && !bracketed) || port.empty() || ec != std::errc() ||
      end != port.data() + port.size() || number < 1 || number > 65535)
    return std::unexpected("must be HOST:PORT or [IPv6]:PORT with a port 1..65535 (got '" + std::string(a) + "')");
  return std::pair{std::string(host), static_cast<std::uint16_t>(number)};
}

}  // namespace parleyd

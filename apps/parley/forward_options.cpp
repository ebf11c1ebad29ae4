// -L, -R, -D, LocalForward, RemoteForward, DynamicForward, ExitOnForwardFailure,
// GatewayPorts, ClearAllForwardings and SessionType, from the settings that apply
// (the command line's -L/-R/-D are settings of one argument, the files' lines of
// one or two: both are the specification ssh's parse_forward() reads, joined by ':').
#include <netdb.h>

#include <algorithm>

#include "options.hpp"
#include "parley/wire/bytes.hpp"

namespace parley::app {
namespace {

namespace cfg = client::ssh_config;

std::string where(const cfg::Setting& s) {
  return s.origin.file + " line " + std::to_string(s.origin.line) + ": ";
}

std::optional<std::uint16_t> service_port(std::string_view name) {
  const servent* e = ::getservbyname(std::string(name).c_str(), "tcp");
  if (e == nullptr) return std::nullopt;
  return static_cast<std::uint16_t>(ntohs(static_cast<std::uint16_t>(e->s_port)));
}

std::expected<bool, std::string> flag(const cfg::Settings& settings, std::string_view keyword) {
  const cfg::Setting* s = settings.first(keyword);
  if (s == nullptr) return false;
  const std::string v = ascii_lower(s->args.front());
  if (v == "yes" || v == "true") return true;
  if (v == "no" || v == "false") return false;
  return std::unexpected(where(*s) + "bad value for " + std::string(keyword) + ": '" + s->args.front() + "'");
}

/// Every line of `keyword`, parsed, in order, repeats once (as ssh's add_*_forward).
std::expected<void, std::string> collect(const cfg::Settings& settings, std::string_view keyword,
                                         client::ForwardKind kind, std::vector<client::Forward>& out) {
  for (const cfg::Setting* s : settings.all(keyword)) {
    std::string spec;
    for (const auto& a : s->args) spec += (spec.empty() ? "" : ":") + a;
    auto f = client::parse_forward(spec, kind, service_port);
    if (!f) {
      const bool command_line = s->origin.line == 0;
      const char* what = kind == client::ForwardKind::local    ? "local"
                         : kind == client::ForwardKind::remote ? "remote"
                                                               : "dynamic";
      if (f.error() != "bad specification")
        return std::unexpected((command_line ? "" : where(*s)) + f.error() + " ('" + spec + "')");
      return std::unexpected(command_line ? "Bad " + std::string(what) + " forwarding specification '" + spec + "'"
                                          : where(*s) + "Bad forwarding specification.");
    }
    if (std::find(out.begin(), out.end(), *f) == out.end()) out.push_back(std::move(*f));
  }
  return {};
}

}  // namespace

std::expected<void, std::string> resolve_forwarding(const cfg::Settings& settings, ClientOptions& out) {
  Forwarding& fw = out.forwarding;
  for (auto [keyword, flag_out] : {std::pair{"exitonforwardfailure", &fw.exit_on_failure},
                                   std::pair{"gatewayports", &fw.gateway_ports},
                                   std::pair{"clearallforwardings", &fw.cleared}}) {
    auto v = flag(settings, keyword);
    if (!v) return std::unexpected(v.error());
    *flag_out = *v;
  }
  using client::ForwardKind;
  for (auto [keyword, kind, list] : {std::tuple{"localforward", ForwardKind::local, &fw.local},
                                     std::tuple{"remoteforward", ForwardKind::remote, &fw.remote},
                                     std::tuple{"dynamicforward", ForwardKind::dynamic, &fw.dynamic}})
    if (auto r = collect(settings, keyword, kind, *list); !r) return r;
  if (fw.cleared) fw.local.clear(), fw.remote.clear(), fw.dynamic.clear();
  for (const auto& f : fw.remote)
    if (f.connect_host == "socks" && f.connect_port == 0)
      return std::unexpected("remote dynamic forwarding (-R [address:]port with no target) is not supported by parley");
  if (const cfg::Setting* s = settings.first("sessiontype")) {
    const std::string v = ascii_lower(s->args.front());
    out.session_type = v == "none" ? SessionType::none : v == "subsystem" ? SessionType::subsystem : SessionType::session;
  }
  return {};
}

}  // namespace parley::app

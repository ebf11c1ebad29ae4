// ssh_config evaluated as OpenSSH 9.2's readconf.c evaluates it: Host and Match
// switch the lines after them on or off, Include reads other files (through the
// injected Files) in the including line's state, and a second pass runs when a
// Match final or CanonicalizeHostname asks for it. The files are read through
// Files; nothing here opens, globs or runs anything itself.
#include "parley/client/ssh_config.hpp"

#include <arpa/inet.h>

#include <array>

#include "parley/wire/bytes.hpp"

namespace parley::client::ssh_config {
namespace {

/// One pass over the files: what Host compares with and what it found.
struct Pass {
  const Context& context;
  const Files& files;
  Settings& settings;
  bool final_pass = false;
  std::string host;  // Host's name: as typed, or the resolved name in the final pass
  bool want_final = false;
  std::size_t files_read = 0;
  std::size_t bytes_read = 0;
};

/// The file being read: where relative Includes go, and whether its blocks can
/// apply at all (an Include inside a block that does not apply is only parsed).
struct FileState {
  std::string path;
  Scope scope;
  bool never_match;
  int depth;
};

using Done = std::expected<void, Error>;

Done read_file(Pass& pass, const Source& source, bool& active, bool never_match, int depth,
               bool must_exist);

std::string first_or(const Settings& s, std::string_view keyword, const std::string& fallback) {
  const Setting* v = s.first(keyword);
  return v ? v->args.front() : fallback;
}

/// The host Match host compares with: HostName (its %h expanded) once set.
std::expected<std::string, Error> match_host(const Pass& pass) {
  if (pass.final_pass) return pass.host;
  const Setting* name = pass.settings.first("hostname");
  if (!name) return pass.context.host;
  auto expanded = expand_tokens(name->args.front(), {{'h', pass.context.host}});
  if (!expanded) return std::unexpected(Error{name->origin, "HostName: " + expanded.error()});
  return *expanded;
}

/// Match exec: the command with its tokens, run by Files::exec (refused without it).
std::expected<bool, Error> match_exec(const Pass& pass, const Origin& at, const std::string& arg,
                                      const std::string& host) {
  if (!pass.files.exec)
    return std::unexpected(Error{at,
                                 "Match exec refused: parley runs no command from a "
                                 "configuration file unless started with --allow-match-exec"});
  const Context& c = pass.context;
  const std::string local_short = c.local_host.substr(0, c.local_host.find('.'));
  auto command = expand_tokens(arg, {{'L', local_short},
                                     {'d', c.home},
                                     {'h', host},
                                     {'k', host},
                                     {'l', c.local_host},
                                     {'n', c.host},
                                     {'p', first_or(pass.settings, "port", "22")},
                                     {'r', first_or(pass.settings, "user", c.local_user)},
                                     {'u', c.local_user},
                                     {'i', c.uid}});
  if (!command) return std::unexpected(Error{at, "Match exec: " + command.error()});
  auto status = pass.files.exec(*command);
  if (!status)
    return std::unexpected(Error{at, "match exec '" + *command + "' error: " + status.error()});
  return *status == 0;
}

/// match_cfg_line(): every criterion must hold; "all" stands alone.
std::expected<bool, Error> match_line(Pass& pass, const Origin& at,
                                      const std::vector<std::string>& args) {
  auto host = match_host(pass);
  if (!host) return std::unexpected(host.error());
  const std::string user = first_or(pass.settings, "user", pass.context.local_user);
  bool result = true;
  int attributes = 0;
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string attribute = ascii_lower(args[i]);
    const bool negate = attribute.starts_with('!');
    if (negate) attribute.erase(0, 1);
    if (attribute == "all") {
      if (attributes > 1 || i + 1 < args.size())
        return std::unexpected(
            Error{at, "'" + args[i] + "' cannot be combined with other Match attributes"});
      return result ? !negate : false;
    }
    ++attributes;
    if (attribute == "canonical" || attribute == "final") {
      if (attribute == "final") pass.want_final = true;
      if (pass.final_pass == negate) result = false;
      continue;
    }
    if (i + 1 == args.size())
      return std::unexpected(Error{at, "Missing Match criteria for " + attribute});
    const std::string& arg = args[++i];
    bool r = false;
    if (attribute == "host")
      r = match_pattern_list(ascii_lower(*host), arg, true) == 1;
    else if (attribute == "originalhost")
      r = match_pattern_list(ascii_lower(pass.context.host), arg, true) == 1;
    else if (attribute == "user")
      r = match_pattern_list(user, arg, false) == 1;
    else if (attribute == "localuser")
      r = match_pattern_list(pass.context.local_user, arg, false) == 1;
    else if (attribute == "exec") {
      if (!pass.files.exec || result) {  // refused on sight; run only if still matching
        auto e = match_exec(pass, at, arg, *host);
        if (!e) return std::unexpected(e.error());
        r = *e;
      } else {
        continue;
      }
    } else {
      return std::unexpected(Error{at, "Unsupported Match attribute " + attribute});
    }
    if (r == negate) result = false;
  }
  if (attributes == 0)
    return std::unexpected(Error{at, "One or more attributes required for Match"});
  return result;
}

/// Host: on if a pattern matches and no negated one does.
bool host_line(const Pass& pass, const std::vector<std::string>& args) {
  bool active = false;
  for (const auto& arg : args) {
    const bool negated = arg.starts_with('!');
    if (!match_pattern(pass.host, negated ? std::string_view(arg).substr(1) : arg)) continue;
    if (negated) return false;
    active = true;
  }
  return active;
}

/// Include: each argument a glob(3) pattern, relative ones under ~/.ssh (user
/// files) or /etc/ssh (system files); each file read in the current state,
/// which the included file's Host and Match lines do not change for us.
Done include(Pass& pass, const FileState& file, const Origin& at,
             const std::vector<std::string>& args, bool& active) {
  for (const auto& arg : args) {
    if (arg.starts_with('~') && file.scope == Scope::system)
      return std::unexpected(Error{at, "bad include path " + arg + "."});
    std::string pattern = arg;
    if (!arg.starts_with('/') && !arg.starts_with('~'))
      pattern = (file.scope == Scope::user ? "~/.ssh/" : "/etc/ssh/") + arg;
    auto paths = pass.files.glob(expand_tilde(pattern, pass.context));
    if (!paths)
      return std::unexpected(Error{at, "glob failed for " + pattern + ": " + paths.error()});
    const bool outer = active;
    for (const auto& path : *paths) {
      if (auto r = read_file(pass, Source{path, file.scope, true}, active,
                             file.never_match || !outer, file.depth + 1, false);
          !r) {
        // A file that cannot be read is the Include line's error.
        if (r.error().origin.file == path && r.error().origin.line == 0)
          return std::unexpected(Error{at, "Include " + path + ": " + r.error().what});
        return r;
      }
      active = outer;
    }
  }
  return {};
}

Done process_line(Pass& pass, const FileState& file, int number, std::string_view text,
                  bool& active) {
  const Origin at{file.path, number};
  auto line = split_line(text);
  if (!line) return std::unexpected(Error{at, line.error()});
  if (!*line) return {};
  const std::string keyword = canonical_keyword((*line)->keyword);
  const std::vector<std::string>& args = (*line)->args;
  if (kind_of(keyword) == Kind::unknown) {
    const Setting* ignore = pass.settings.first("ignoreunknown");
    if (ignore && match_pattern_list(keyword, ignore->args.front(), true) == 1) return {};
    return std::unexpected(Error{at, "Bad configuration option: " + (*line)->keyword});
  }
  if (auto ok = check_arguments(keyword, args); !ok) return std::unexpected(Error{at, ok.error()});
  if (keyword == "host") {
    active = !file.never_match && host_line(pass, args);
  } else if (keyword == "match") {
    auto m = match_line(pass, at, args);
    if (!m) return std::unexpected(m.error());
    active = !file.never_match && *m;
  } else if (keyword == "include") {
    return include(pass, file, at, args, active);
  } else if (active) {
    pass.settings.add(Setting{keyword, args, at});
  }
  return {};
}

Done read_file(Pass& pass, const Source& source, bool& active, bool never_match, int depth,
               bool must_exist) {
  const std::string& path = source.path;
  const Origin at{path, 0};
  if (depth > max_include_depth)
    return std::unexpected(Error{at, "Too many recursive configuration includes"});
  if (++pass.files_read > max_files_read)
    return std::unexpected(Error{
        at, "too many configuration files read (over " + std::to_string(max_files_read) + ")"});
  auto text = pass.files.read(path, source.check_permissions);
  if (!text && text.error().unopened && depth == 0 && !must_exist) return {};
  if (!text) return std::unexpected(Error{at, text.error().message});
  if (!*text) {
    if (must_exist) return std::unexpected(Error{at, "Can't open user config file: not found"});
    return {};
  }
  if ((*text)->size() > max_file_size)
    return std::unexpected(
        Error{at, "file larger than " + std::to_string(max_file_size) + " bytes"});
  pass.bytes_read += (*text)->size();
  if (pass.bytes_read > max_total_size)
    return std::unexpected(Error{at, "configuration files larger than " +
                                         std::to_string(max_total_size) + " bytes together"});
  const FileState file{path, source.scope, never_match, depth};
  std::string_view rest = **text;
  for (int number = 1; !rest.empty(); ++number) {
    const std::size_t end = rest.find('\n');
    const std::string_view line = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
    if (auto r = process_line(pass, file, number, line, active); !r) return r;
  }
  return {};
}

Done run_pass(Pass& pass, const std::vector<Source>& sources, bool required) {
  for (const auto& source : sources) {
    bool active = true;  // a file starts as if under "Host *"
    if (auto r = read_file(pass, source, active, false, 0, required); !r) return r;
  }
  return {};
}

bool is_address(const std::string& host) {
  std::array<unsigned char, 16> buffer{};
  return ::inet_pton(AF_INET, host.c_str(), buffer.data()) == 1 ||
         ::inet_pton(AF_INET6, host.c_str(), buffer.data()) == 1;
}

}  // namespace

std::expected<std::string, Error> resolved_host(const Settings& settings, const Context& context) {
  std::string host = context.host;
  if (const Setting* name = settings.first("hostname")) {
    auto expanded = expand_tokens(name->args.front(), {{'h', context.host}});
    if (!expanded) return std::unexpected(Error{name->origin, "HostName: " + expanded.error()});
    host = *expanded;
  }
  // ssh.c: names are lower-cased, addresses kept as written.
  return is_address(host) ? host : ascii_lower(host);
}

std::expected<void, Error> apply(const std::vector<Source>& sources, const Context& context,
                                 const Files& files, Settings& settings, bool required) {
  Pass first{context, files, settings, false, context.host};
  if (auto r = run_pass(first, sources, required); !r) return r;
  const Setting* canonicalize = settings.first("canonicalizehostname");
  const bool canonical = canonicalize && ascii_lower(canonicalize->args.front()) != "no" &&
                         ascii_lower(canonicalize->args.front()) != "false";
  if (!first.want_final && !canonical) return {};
  // ssh re-reads everything with the resolved name; first values stay first.
  auto host = resolved_host(settings, context);
  if (!host) return std::unexpected(host.error());
  Pass final_pass{context, files, settings, true, *host};
  return run_pass(final_pass, sources, required);
}

}  // namespace parley::client::ssh_config

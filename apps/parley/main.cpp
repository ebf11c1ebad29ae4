// parley: the parley SSH client, with ssh's options where it has them.
//
//   parley [-p port] [-l user] [-i key]... [-o Option=value]... [-v] [-t|-T] [user@]host [command...]
//
// Secrets never come from the command line: the password from $PARLEY_PASSWORD
// or the file named by $PARLEY_PASSWORD_FILE, the TOTP secret (base32 or an
// otpauth:// URI) from $PARLEY_TOTP or $PARLEY_TOTP_FILE. Prompts nobody
// answers go to the terminal, or, without one (batch), get the seed's empty
// answer, and the failure says so.
#include <pwd.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "parley/auth/client_connection.hpp"
#include "parley/auth/known_hosts.hpp"
#include "parley/auth/responders.hpp"
#include "parley/auth/server_text.hpp"
#include "parley/crypto/key_file.hpp"
#include "parley/crypto/random.hpp"
#include "parley/driver/client_session.hpp"

namespace {

namespace auth = parley::auth;
namespace crypto = parley::crypto;
namespace driver = parley::driver;
namespace transport = parley::transport;
namespace connection = parley::connection;

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

/// ssh_config-style -o options, names case-insensitive.
std::map<std::string, std::string> parse_options(const std::vector<std::string>& list) {
  std::map<std::string, std::string> out;
  for (const auto& o : list) {
    const auto eq = o.find_first_of("= ");
    if (eq == std::string::npos) fail("bad option '" + o + "' (write Option=value)");
    std::string name = o.substr(0, eq);
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    if (!out.contains(name)) out[name] = o.substr(eq + 1);  // as ssh: the first one wins
  }
  return out;
}

bool yes(const std::string& v) { return v == "yes" || v == "true"; }

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"parley: the parley SSH client"};
  Args a;
  app.add_option("-p", a.port, "Port on the server");
  app.add_option("-l", a.login, "User to log in as");
  app.add_option("-i", a.identities, "Private key file (unencrypted OpenSSH format; repeatable)")
      ->allow_extra_args(false);
  app.add_option("-o", a.options, "Option=value: StrictHostKeyChecking, UserKnownHostsFile, BatchMode, "
                                  "Port, User, IdentityFile, PreferredAuthentications, "
                                  "PasswordPromptRule (saved|seed)")
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

  spdlog::set_default_logger(spdlog::stderr_color_st("parley"));
  spdlog::set_level(a.verbose >= 3 ? spdlog::level::trace
                    : a.verbose == 2 ? spdlog::level::debug
                    : a.verbose == 1 ? spdlog::level::info
                                     : spdlog::level::warn);
  auto options = parse_options(a.options);

  std::string host = a.destination;
  std::string user = options.contains("user") ? options["user"] : local_user();
  if (const auto at = host.rfind('@'); at != std::string::npos) {
    user = host.substr(0, at);
    host = host.substr(at + 1);
  }
  if (a.login) user = *a.login;
  std::uint16_t port = 22;
  if (options.contains("port")) port = static_cast<std::uint16_t>(std::stoi(options["port"]));
  if (a.port) port = *a.port;
  std::string command;
  for (const auto& part : a.command) command += (command.empty() ? "" : " ") + part;

  const bool batch = options.contains("batchmode") && yes(options["batchmode"]);
  const bool tty_in = ::isatty(0) != 0;
  const bool can_ask = !batch && ::access("/dev/tty", R_OK | W_OK) == 0;

  static crypto::SystemRandom rng;

  // ---- the server's host key, before anything else
  const std::string known_hosts = expand_home(
      options.contains("userknownhostsfile") ? options["userknownhostsfile"] : "~/.ssh/known_hosts");
  const std::string strict = options.contains("stricthostkeychecking") ? options["stricthostkeychecking"] : "ask";
  auth::StrictHostKeyChecking policy = auth::StrictHostKeyChecking::yes;
  if (strict == "accept-new") policy = auth::StrictHostKeyChecking::accept_new;
  else if (strict == "no" || strict == "off") policy = auth::StrictHostKeyChecking::no;
  else if (strict != "yes" && strict != "ask") fail("bad StrictHostKeyChecking '" + strict + "'");
  auto report = [](std::string_view line) { std::cerr << line << "\n"; };
  auto strict_verifier =
      auth::known_hosts_verifier({known_hosts}, host, port, policy, false, rng, report);
  transport::HostKeyVerifier verify = strict_verifier;
  if (strict == "ask" && can_ask) {
    // OpenSSH's question for a host we have never seen; everything else as "yes".
    verify = [=](const crypto::PublicKey& key) {
      auto file = auth::KnownHosts::load(known_hosts);
      if (file && file->check(host, port, key).status == auth::HostKeyStatus::unknown) {
        auth::TtyTerminal tty;
        tty.write("The authenticity of host '" + auth::known_hosts_name(host, port) +
                  "' can't be established.\n" + std::string(crypto::key_type_name(key.type())) +
                  " key fingerprint is " + key.fingerprint() + ".\n" +
                  "Are you sure you want to continue connecting (yes/no/[fingerprint])? ");
        auto answer = tty.read_line(true);
        const std::string text = answer ? std::string(parley::as_chars(answer->view())) : "";
        if (text != "yes" && text != key.fingerprint()) {
          report("Host key verification failed.");
          return false;
        }
        if (auto added = auth::add_known_host(known_hosts, host, port, key, false, rng); !added)
          report("Failed to add the host to the list of known hosts (" + known_hosts + ").");
        else
          report("Warning: Permanently added '" + auth::known_hosts_name(host, port) + "' (" +
                 std::string(crypto::key_type_name(key.type())) + ") to the list of known hosts.");
        return true;
      }
      return strict_verifier(key);
    };
  }
  auto tconfig = std::make_shared<transport::TransportConfig>();
  tconfig->role = transport::Role::client;
  tconfig->verify_host_key = verify;

  // ---- authentication
  auto aconfig = std::make_shared<auth::ClientAuthConfig>();
  aconfig->user = user;
  // Without a terminal nothing can change between attempts (the saved password is
  // never replayed), so a second try could only fail again, slowly (a TOTP retry
  // waits for the next time step) and towards a lockout: one attempt each.
  if (!can_ask) aconfig->max_attempts = 1;
  if (options.contains("preferredauthentications")) {
    aconfig->methods.clear();
    std::stringstream list(options["preferredauthentications"]);
    for (std::string m; std::getline(list, m, ',');) aconfig->methods.push_back(m);
  }
  std::vector<std::string> key_files = a.identities;
  if (options.contains("identityfile")) key_files.push_back(options["identityfile"]);
  const bool explicit_keys = !key_files.empty();
  if (!explicit_keys)
    for (const char* name : {"id_ed25519", "id_ecdsa", "id_rsa"}) key_files.push_back("~/.ssh/" + std::string(name));
  for (const auto& f : key_files) {
    const std::string path = expand_home(f);
    if (!explicit_keys && !std::filesystem::exists(path)) continue;
    auto key = crypto::load_private_key(path);
    if (!key) {
      if (explicit_keys) std::cerr << "parley: cannot use " << path << ": " << key.error().message << "\n";
      continue;
    }
    aconfig->keys.push_back(std::move(*key));
  }

  auto password = secret_from_environment("PARLEY_PASSWORD");
  std::optional<auth::TotpSecret> totp;
  if (auto t = secret_from_environment("PARLEY_TOTP")) {
    auto parsed = auth::parse_totp_secret(parley::as_chars(t->view()));
    if (!parsed) fail("$PARLEY_TOTP: " + parsed.error());
    totp = std::move(*parsed);
  }
  const bool seed_rule = options.contains("passwordpromptrule") && options["passwordpromptrule"] == "seed";
  std::vector<auth::ResponderPtr> chain;
  if (password) chain.push_back(seed_rule ? auth::seed_password(*password) : auth::saved_password(*password));
  if (totp) chain.push_back(auth::totp(std::move(*totp)));
  if (can_ask) chain.push_back(auth::terminal());
  auto unanswered = std::make_shared<std::size_t>(0);
  auto last_round_prompts = std::make_shared<std::size_t>(0);
  auto answer = auth::user_info_callback(auth::first_of(chain), unanswered);
  aconfig->on_user_info_request = [answer, last_round_prompts](const auth::UserInfoRequest& request,
                                                              auth::ReplyTo<auth::InfoReply> reply) {
    // Logged: the request's name and prompt count, never prompt text or answers.
    spdlog::debug("keyboard-interactive round {} ('{}'): {} prompt(s)", request.round,
                  auth::sanitize_server_text(request.name, 64, false), request.prompts.size());
    *last_round_prompts = request.prompts.size();
    answer(request, std::move(reply));
  };
  bool password_used = false;
  aconfig->on_password_request = [&, can_ask](const auth::PasswordRequest& request,
                                              auth::ReplyTo<auth::PasswordReply> reply) {
    if (password && !password_used) {  // once: a rejected password is not replayed
      password_used = true;
      return reply(crypto::SecretBytes(password->view()));
    }
    if (!can_ask || request.attempt > 3) return reply(auth::Decline{});
    auth::TtyTerminal tty;
    tty.write(request.user + "@" + request.host.host + "'s password: ");
    auto typed = tty.read_line(false);
    tty.write("\n");
    if (!typed) return reply(auth::Decline{});
    reply(std::move(*typed));
  };
  aconfig->on_banner = [](std::string_view banner) {
    std::cerr << auth::mark_server_text(auth::sanitize_server_text(banner, 8192, true));
    if (!banner.empty() && banner.back() != '\n') std::cerr << "\n";
  };

  auth::ClientConnection conn(tconfig, aconfig, host, port, rng, transport::Clock::now());
  conn.on_transport = [](const transport::Event& e) {
    if (auto* k = std::get_if<transport::KexDone>(&e))
      spdlog::debug("key exchange done: {}", transport::name(k->algorithms.kex));
  };

  // ---- the session
  driver::ClientSessionOptions session;
  session.command = command;
  const bool want_tty = !a.no_tty && (a.force_tty || (command.empty() && tty_in));
  std::optional<termios> saved_termios;
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
  if (const char* lang = std::getenv("LANG")) session.env.push_back({"LANG", lang});

  if (want_tty && tty_in) {  // keystrokes go to the remote terminal as typed
    termios t{};
    if (::tcgetattr(0, &t) == 0) {
      saved_termios = t;
      ::cfmakeraw(&t);
      ::tcsetattr(0, TCSADRAIN, &t);
    }
  }
  auto result = driver::run_session(host, port, conn, session, std::chrono::seconds(60));
  if (saved_termios) ::tcsetattr(0, TCSADRAIN, &*saved_termios);
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

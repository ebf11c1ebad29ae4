// parley-load: a load generator for SSH servers built on parley's own client
// core; one thread drives thousands of connections. See docs/load-tool.md.
//
//   parley-load rate  127.0.0.1:2222 --count 1000 --concurrency 50 --insecure-accept-any-host-key
//   parley-load hold  127.0.0.1:2222 --count 18000 --hold-seconds 30 --host-key-fingerprint
//   SHA256:... parley-load flood 127.0.0.1:2222 --count 500 --hold-seconds 5
//   --insecure-accept-any-host-key
//   parley-load rate 127.0.0.1:2222 --auth kbd-totp --totp-key-file key.hex --user u
//   --users 300 --count 300 --insecure-accept-any-host-key
//
// Secrets never come from the command line: the password from --password-file
// (its first line), keys from --identity files, the TOTP key from --totp-key-file
// (hex, its first line). None is ever printed.
#include <arpa/inet.h>
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>

#include "load.hpp"
#include "parley/crypto/key_file.hpp"
#include "parley/crypto/secret.hpp"
#include "parley/otp/totp.hpp"
#include "parley/transport/algorithms.hpp"
#include "parley/wire/bytes.hpp"

namespace {

namespace load = parley::load;
namespace crypto = parley::crypto;
namespace transport = parley::transport;
namespace userauth = parley::userauth;

constexpr int exit_failures = 1;  // more failures than --max-failures
constexpr int exit_usage = 2;

[[noreturn]] void usage_error(const std::string& what) {
  std::cerr << "parley-load: " << what << "\n";
  std::exit(exit_usage);
}

/// parleyd's demo question (src/userauth/higher_or_lower.cpp): "What is the
/// highest number: 88 or 26? ". The answer is the larger number.
std::optional<std::uint64_t> higher_or_lower_answer(std::string_view text) {
  constexpr std::string_view lead = "What is the highest number: ";
  const auto at = text.find(lead);
  if (at == std::string_view::npos) return std::nullopt;
  const char* p = text.data() + at + lead.size();
  const char* end = text.data() + text.size();
  std::uint64_t a = 0, b = 0;
  auto r = std::from_chars(p, end, a);
  if (r.ec != std::errc{}) return std::nullopt;
  const std::string_view sep = " or ";
  if (std::string_view(r.ptr, static_cast<std::size_t>(end - r.ptr)).substr(0, sep.size()) != sep)
    return std::nullopt;
  r = std::from_chars(r.ptr + sep.size(), end, b);
  if (r.ec != std::errc{}) return std::nullopt;
  return std::max(a, b);
}

/// The first line of `path`, as a secret.
crypto::SecretBytes read_password(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) usage_error("cannot read the password file " + path);
  std::string line;
  std::getline(in, line);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  crypto::SecretBytes secret(parley::as_bytes(line));
  crypto::secure_wipe(line.data(), line.size());
  return secret;
}

/// The TOTP key of --totp-key-file: hex (as in users.oath), its first line.
parley::otp::TotpSecret read_totp_key(const std::string& path) {
  const crypto::SecretBytes text = read_password(path);
  const auto hex = text.view();
  auto nibble = [](std::uint8_t c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  if (hex.empty() || hex.size() % 2 != 0)
    usage_error("--totp-key-file: the first line must be a hex key");
  parley::otp::TotpSecret secret;  // SHA-1, 6 digits, 30 s: users.oath's HOTP/T30/6
  secret.key = crypto::SecretBytes(hex.size() / 2);
  auto key = secret.key.mutable_view();
  for (std::size_t i = 0; i < key.size(); ++i) {
    const int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) usage_error("--totp-key-file: the first line must be a hex key");
    key[i] = static_cast<std::uint8_t>(hi * 16 + lo);
  }
  return secret;
}

/// "127.0.0.1:2222" (IPv4 only: the source spreading is over 127.0.0.0/8).
void parse_target(const std::string& text, load::Options& o) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos) usage_error("the target must be host:port, got " + text);
  const std::string host = text.substr(0, colon);
  unsigned port = 0;
  const auto* pe = text.data() + text.size();
  auto r = std::from_chars(text.data() + colon + 1, pe, port);
  if (r.ec != std::errc{} || r.ptr != pe || port == 0 || port > 65535)
    usage_error("bad port in " + text);
  in_addr address{};
  if (::inet_pton(AF_INET, host.c_str(), &address) != 1)
    usage_error("the target's host must be an IPv4 address (127.x.y.z), got " + host);
  o.target_address = ntohl(address.s_addr);
  o.port = static_cast<std::uint16_t>(port);
  o.target = text;
}

}  // namespace

int main(int argc, char** argv) {
  load::Options o;
  std::string mode, target, kex = "curve25519-sha256", fingerprint, auth = "kbd-hol",
                            user = "admin";
  std::string password_file, identity, totp_key_file;
  std::size_t users = 0;
  bool insecure = false;
  double duration = 0, rate = 0, hold_seconds = 0;

  CLI::App app{
      "parley-load: SSH load from one thread, on parley's client core.\n"
      "Modes: rate (full logins: connect, key exchange, authenticate, disconnect), hold (N\n"
      "authenticated idle connections, each asked to answer at the end), flood (N\n"
      "unauthenticated connections: version exchange, optionally KEXINIT, then idle).\n"
      "Sources rotate over 127.0.0.0/8, so the target must be on loopback.\n"
      "This is a load tool: --insecure-accept-any-host-key accepts any server key (no\n"
      "protection against a man in the middle); give --host-key-fingerprint otherwise."};
  app.add_option("mode", mode, "rate, hold or flood")
      ->required()
      ->check(CLI::IsMember({"rate", "hold", "flood"}));
  app.add_option("target", target, "HOST:PORT, an IPv4 loopback address")->required();
  app.add_option("-n,--count", o.count,
                 "Connections to make (rate: logins; with --duration, at most)");
  app.add_option("--duration", duration, "rate: keep starting logins for this many seconds");
  app.add_option("-c,--concurrency", o.concurrency, "Connections logging in at once (default 100)")
      ->check(CLI::Range(1, 1000000));
  app.add_option("--rate", rate,
                 "rate: start this many logins per second (bounded by --concurrency)");
  app.add_option("--timeout", o.timeout, "Hard limit on the whole run, seconds (default 600)")
      ->check(CLI::PositiveNumber);
  app.add_option("--login-timeout", o.login_timeout,
                 "A login (flood: the server's version) or the final check taking longer fails "
                 "(default 30 s)")
      ->check(CLI::PositiveNumber);
  app.add_option("--hold-seconds", hold_seconds,
                 "hold, flood: how long to hold (default: until SIGINT or the end of stdin)");
  app.add_option("--keepalive", o.keepalive,
                 "hold: while held, send a keepalive@openssh.com global request every S seconds, as "
                 "ssh's ServerAliveInterval (counted: keepalives_sent, keepalives_answered)")
      ->check(CLI::PositiveNumber);
  app.add_option("--sources", o.sources,
                 "Source addresses to rotate over in 127.0.0.0/8 (default 65536; 0: no bind)");
  app.add_option("--kex", kex,
                 "Key exchange algorithms, OpenSSH-style list (default curve25519-sha256)");
  app.add_option("--host-key-fingerprint", fingerprint,
                 "The server's host key, SHA256:... as ssh-keygen -l shows it");
  app.add_flag("--insecure-accept-any-host-key", insecure,
               "Accept any host key (a load tool's shortcut: insecure)");
  app.add_option("--auth", auth,
                 "kbd-hol (parleyd --demo's Higher or Lower), password, publickey or kbd-totp "
                 "(keyboard-interactive: a TOTP code for each \"...code...\" prompt)")
      ->check(CLI::IsMember({"kbd-hol", "password", "publickey", "kbd-totp"}));
  app.add_option("--user", user, "User name (default admin); with --users, the names' prefix");
  app.add_option("--users", users,
                 "Rotate over N users: login i is user <--user><i % N> (a TOTP code is accepted "
                 "once per user and 30 s step)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{10000000}));
  app.add_option("--password-file", password_file,
                 "password: file whose first line is the password");
  app.add_option("--identity", identity, "publickey: an unencrypted OpenSSH private key file");
  app.add_option("--totp-key-file", totp_key_file,
                 "kbd-totp: file whose first line is the TOTP key in hex (RFC 6238, SHA-1, 6 "
                 "digits, 30 s: users.oath's HOTP/T30/6)");
  app.add_option("--check", o.check,
                 "hold: what must be answered at the end: channel (a session's "
                 "keepalive request; default) or global (a keepalive global request)")
      ->check(CLI::IsMember({"channel", "global"}));
  app.add_flag("--kexinit", o.send_kexinit, "flood: also send KEXINIT after the version exchange");
  app.add_option("--max-failures", o.max_failures,
                 "Exit 1 if more connections than this fail (default 0)");
  app.add_flag("--json", o.json, "Print one JSON line instead of the human report");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : exit_usage;
  }

  o.mode = mode == "rate"   ? load::Mode::rate
           : mode == "hold" ? load::Mode::hold
                            : load::Mode::flood;
  parse_target(target, o);
  if (o.sources > 0 && (o.target_address >> 24) != 127)
    usage_error("the source addresses are in 127.0.0.0/8: the target must be too (or --sources 0)");
  if (duration > 0) o.duration = duration;
  if (rate > 0) o.rate = rate;
  if (hold_seconds > 0) o.hold_seconds = hold_seconds;
  if (o.count == 0 && !(o.mode == load::Mode::rate && o.duration))
    usage_error("give --count" + std::string(o.mode == load::Mode::rate ? " or --duration" : ""));

  auto tconfig = std::make_shared<transport::TransportConfig>();
  tconfig->role = transport::Role::client;
  tconfig->software_version = "parley_load";
  std::string bad;
  auto kexes = transport::AlgorithmPreferences::parse_kex(kex, &bad);
  if (!kexes) usage_error("--kex: unknown algorithm " + bad);
  tconfig->algorithms.kex = std::move(*kexes);
  if (!fingerprint.empty()) {
    tconfig->verify_host_key = [fingerprint](const crypto::PublicKey& key) {
      return key.fingerprint() == fingerprint;
    };
  } else if (insecure) {
    tconfig->verify_host_key = transport::danger_accept_any_host_key();
  } else if (o.mode != load::Mode::flood || o.send_kexinit) {
    usage_error("give --host-key-fingerprint, or --insecure-accept-any-host-key");
  }
  o.transport = tconfig;

  auto aconfig = std::make_shared<userauth::ClientAuthConfig>();
  aconfig->max_attempts = 1;  // a load tool never retries: a failure is counted
  if (auth == "kbd-hol") {
    aconfig->methods = {"keyboard-interactive"};
    aconfig->on_user_info_request = [](const userauth::UserInfoRequest& request,
                                       userauth::ReplyTo<userauth::InfoReply> reply) {
      userauth::Answers answers;
      for (const auto& prompt : request.prompts) {
        const auto n = higher_or_lower_answer(prompt.text);
        if (!n) return reply(userauth::Decline{});  // not the demo's question
        const std::string text = std::to_string(*n);
        answers.values.emplace_back(parley::as_bytes(text));
      }
      reply(std::move(answers));
    };
  } else if (auth == "password") {
    if (password_file.empty()) usage_error("--auth password needs --password-file");
    auto password = std::make_shared<const crypto::SecretBytes>(read_password(password_file));
    aconfig->methods = {"password"};
    aconfig->on_password_request = [password](const userauth::PasswordRequest&,
                                              userauth::ReplyTo<userauth::PasswordReply> reply) {
      reply(crypto::SecretBytes(*password));
    };
  } else if (auth == "kbd-totp") {
    if (totp_key_file.empty()) usage_error("--auth kbd-totp needs --totp-key-file");
    auto secret = std::make_shared<const parley::otp::TotpSecret>(read_totp_key(totp_key_file));
    if (!parley::otp::totp_usable(*secret)) usage_error("--totp-key-file: not a usable TOTP key");
    aconfig->methods = {"keyboard-interactive"};
    aconfig->on_user_info_request = [secret](const userauth::UserInfoRequest& request,
                                             userauth::ReplyTo<userauth::InfoReply> reply) {
      userauth::Answers answers;
      for (const auto& prompt : request.prompts) {
        // parleyd's TOTP prompt is "Verification code: "; anything else is declined.
        if (prompt.text.find("code") == std::string::npos) return reply(userauth::Decline{});
        // The code of the step the prompt arrived in, computed now.
        const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
        auto code = parley::otp::totp_code(*secret, static_cast<std::int64_t>(now));
        if (!code) return reply(userauth::Decline{});
        answers.values.push_back(std::move(*code));
      }
      reply(std::move(answers));
    };
  } else {
    if (identity.empty()) usage_error("--auth publickey needs --identity");
    auto key = crypto::load_private_key(identity);
    if (!key) usage_error("--identity: " + key.error().message);
    aconfig->methods = {"publickey"};
    aconfig->keys.push_back(std::move(*key));
  }
  // One configuration per user name (--users), the same in all else.
  if (users == 0) {
    aconfig->user = user;
    o.auths.push_back(aconfig);
  } else {
    o.auths.reserve(users);
    for (std::size_t i = 0; i < users; ++i) {
      auto one = std::make_shared<userauth::ClientAuthConfig>(*aconfig);
      one->user = user + std::to_string(i);
      o.auths.push_back(std::move(one));
    }
  }

  // Each connection is a descriptor: take every one the hard limit allows.
  rlimit nofile{};
  if (::getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
    nofile.rlim_cur = nofile.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &nofile);
  }

  load::Tally tally = load::run_load(o);
  rusage usage{};
  if (::getrusage(RUSAGE_SELF, &usage) == 0)
    tally.max_rss_kib = static_cast<std::size_t>(usage.ru_maxrss);
  std::cout << load::report(o, tally) << std::flush;
  return tally.failed() > o.max_failures ? exit_failures : 0;
}

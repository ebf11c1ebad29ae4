// parleyd's configuration file: the shipped example loads with the values it
// shows, an empty file means every default, and each kind of mistake (syntax,
// unknown key or table, wrong type, out of range, unknown algorithm or method)
// is refused with the file, the line it is on and what is wrong.
#include <gtest/gtest.h>
#include <unistd.h>

#include <expected>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "config.hpp"

namespace parleyd {
namespace {

namespace fs = std::filesystem;
namespace crypto = parley::crypto;
namespace transport = parley::transport;

// Where errors say the text came from; its directory is the base for relative paths.
constexpr std::string_view conf_path = "/etc/parley/parleyd.conf";

/// Lines joined with '\n', so a test's line numbers are the list positions (from 1).
std::string lines(std::initializer_list<std::string_view> list) {
  std::string out;
  for (auto l : list) {
    out += l;
    out += '\n';
  }
  return out;
}

Config accepted(std::string_view text) {
  auto config = parse_config(text, conf_path);
  EXPECT_TRUE(config.has_value()) << config.error().message();
  return config ? *config : Config{};
}

ConfigError refused(std::string_view text) {
  auto config = parse_config(text, conf_path);
  EXPECT_FALSE(config.has_value()) << "accepted:\n" << text;
  return config ? ConfigError{} : config.error();
}

/// The full message for a one-line document whose only line is `line`.
std::string refusal(std::string_view line) {
  return refused(lines({line})).message();
}

/// Chains as OpenSSH writes their steps.
std::vector<std::vector<std::string>> names(const std::vector<AuthChain>& chains) {
  std::vector<std::vector<std::string>> out;
  for (const auto& chain : chains) {
    out.emplace_back();
    for (const auto& step : chain) out.back().push_back(name(step));
  }
  return out;
}

// ---------------------------------------------------------------------------
// Good files

TEST(ParleydConfig, ExampleFileLoadsWithTheValuesItShows) {
  const fs::path docs = fs::path(PARLEY_SOURCE_DIR) / "docs";
  auto config = load_config(docs / "parleyd.conf.example");
  ASSERT_TRUE(config.has_value()) << config.error().message();

  EXPECT_EQ(config->listen, "0.0.0.0");
  EXPECT_EQ(config->port, 2222);
  EXPECT_EQ(config->host_keys, (std::vector<std::string>{
                                   (docs / "keys/ssh_host_ed25519_key").lexically_normal().string(),
                                   "/etc/parley/ssh_host_ecdsa_key"}));
  EXPECT_EQ(config->state_dir, "/var/lib/parleyd");
  EXPECT_EQ(config->log_level, "info");
  EXPECT_EQ(config->threads, 4u);
  EXPECT_EQ(config->banner, "Authorized use only. Connections are logged.\n");

  using transport::KexAlg;
  EXPECT_EQ(config->kex,
            (std::vector<KexAlg>{KexAlg::mlkem768x25519_sha256, KexAlg::curve25519_sha256,
                                 KexAlg::curve25519_sha256_libssh, KexAlg::dh_group16_sha512}));
  using crypto::SignatureAlg;
  EXPECT_EQ(config->host_key_algorithms,
            (std::vector<SignatureAlg>{SignatureAlg::ssh_ed25519, SignatureAlg::ecdsa_sha2_nistp256,
                                       SignatureAlg::rsa_sha2_512, SignatureAlg::rsa_sha2_256}));
  using crypto::CipherAlg;
  EXPECT_EQ(config->ciphers,
            (std::vector<CipherAlg>{CipherAlg::chacha20_poly1305, CipherAlg::aes128_gcm,
                                    CipherAlg::aes256_gcm, CipherAlg::aes128_ctr,
                                    CipherAlg::aes256_ctr}));
  using crypto::MacAlg;
  EXPECT_EQ(config->macs,
            (std::vector<MacAlg>{MacAlg::hmac_sha2_256_etm, MacAlg::hmac_sha2_512_etm}));

  EXPECT_EQ(config->password_file, (docs / "passwd").lexically_normal().string());
  EXPECT_EQ(config->authorized_keys, "%h/.ssh/authorized_keys");
  EXPECT_EQ(names(config->methods),
            (std::vector<std::vector<std::string>>{
                {"publickey"}, {"password", "keyboard-interactive:higher-or-lower"}}));
  EXPECT_EQ(config->users, std::vector<std::string>{"admin"});
  EXPECT_EQ(config->permit_root_login, parley::login::RootLogin::prohibit_password);
  EXPECT_EQ(config->demo, false);
  EXPECT_EQ(config->privilege_separation, true);
  EXPECT_EQ(config->session.session_user, "parley-guest");

  EXPECT_EQ(config->limits.max_auth_tries, 6u);
  EXPECT_EQ(config->limits.login_grace_time, std::chrono::seconds(120));
  EXPECT_EQ(config->limits.max_prompts, 32u);
  EXPECT_EQ(config->limits.max_answer_bytes, 4096u);
  EXPECT_EQ(config->limits.max_rounds, 16u);
  EXPECT_EQ(config->limits.max_requests, 128u);
  EXPECT_EQ(config->limits.failure_delay, std::chrono::milliseconds(300));

  EXPECT_EQ(config->session.shell, "/bin/bash");
  EXPECT_EQ(config->session.sftp_server, "/usr/lib/openssh/sftp-server");
  EXPECT_EQ(config->session.accept_env, (std::vector<std::string>{"LANG", "LC_*"}));
  EXPECT_EQ(config->session.max_sessions, 10u);

  EXPECT_EQ(config->forwarding.local, false);
  EXPECT_EQ(config->forwarding.remote, false);
  EXPECT_EQ(
      config->forwarding.permit_open,
      (std::vector<std::string>{"127.0.0.1:8080", "[::1]:8080", "db.example.com:5432", "*:443"}));
  EXPECT_EQ(config->forwarding.permit_listen,
            (std::vector<std::string>{"localhost:8080", "localhost:0"}));
  EXPECT_EQ(config->forwarding.gateway_ports, false);

  EXPECT_EQ(config->totp.users_oath, "/etc/users.oath");
  EXPECT_FALSE(config->totp.google_authenticator);
  EXPECT_EQ(config->totp.window, 1u);
  EXPECT_EQ(config->totp.max_failures, 5u);
  EXPECT_EQ(config->totp.failure_period, std::chrono::seconds(300));
  EXPECT_EQ(config->state.backend, "local");
  EXPECT_EQ(config->state.on_state_error, "deny-second-factor");
  EXPECT_EQ(config->pam.service, "parley");
  EXPECT_EQ(config->pam.max_conversations, 64u);
}

void expect_all_defaults(const Config& config) {
  EXPECT_FALSE(config.listen);
  EXPECT_FALSE(config.port);
  EXPECT_TRUE(config.host_keys.empty());
  EXPECT_FALSE(config.state_dir);
  EXPECT_FALSE(config.log_level);
  EXPECT_FALSE(config.threads);
  EXPECT_FALSE(config.banner);
  EXPECT_FALSE(config.kex);
  EXPECT_FALSE(config.host_key_algorithms);
  EXPECT_FALSE(config.ciphers);
  EXPECT_FALSE(config.macs);
  EXPECT_FALSE(config.password_file);
  EXPECT_FALSE(config.authorized_keys);
  EXPECT_TRUE(config.methods.empty());
  EXPECT_TRUE(config.users.empty());
  const Limits defaults;
  EXPECT_EQ(config.limits.max_auth_tries, defaults.max_auth_tries);
  EXPECT_EQ(config.limits.login_grace_time, defaults.login_grace_time);
  EXPECT_EQ(config.limits.max_prompts, defaults.max_prompts);
  EXPECT_EQ(config.limits.max_answer_bytes, defaults.max_answer_bytes);
  EXPECT_EQ(config.limits.max_rounds, defaults.max_rounds);
  EXPECT_EQ(config.limits.max_requests, defaults.max_requests);
  EXPECT_EQ(config.limits.failure_delay, defaults.failure_delay);
  EXPECT_FALSE(config.session.shell);
  EXPECT_FALSE(config.session.session_user);
  EXPECT_FALSE(config.permit_root_login);
  EXPECT_FALSE(config.demo);
  EXPECT_FALSE(config.session.sftp_server);
  EXPECT_FALSE(config.session.accept_env);
  EXPECT_FALSE(config.session.max_sessions);
  EXPECT_FALSE(config.forwarding.local);
  EXPECT_FALSE(config.forwarding.remote);
  EXPECT_FALSE(config.forwarding.permit_open);
  EXPECT_FALSE(config.forwarding.permit_listen);
  EXPECT_FALSE(config.forwarding.gateway_ports);
  EXPECT_FALSE(config.totp.users_oath);
  EXPECT_FALSE(config.totp.google_authenticator);
  EXPECT_FALSE(config.totp.window);
  EXPECT_FALSE(config.totp.max_failures);
  EXPECT_FALSE(config.totp.failure_period);
  EXPECT_FALSE(config.pam.service);
  EXPECT_FALSE(config.pam.max_conversations);
}

TEST(ParleydConfig, EmptyFileMeansEveryDefault) {
  expect_all_defaults(accepted(""));
  expect_all_defaults(accepted(lines({"# only a comment", "", "   "})));
  // Empty tables set nothing either.
  expect_all_defaults(
      accepted(lines({"[algorithms]", "[auth]", "[limits]", "[session]", "[forwarding]"})));
}

TEST(ParleydConfig, LimitsAreRead) {
  auto config = accepted(lines({
      "[limits]",
      "max_auth_tries = 3",
      "login_grace_time = 30",
      "max_prompts = 4",
      "max_answer_bytes = 128",
      "max_rounds = 2",
      "max_requests = 20",
      "failure_delay_ms = 0",
  }));
  EXPECT_EQ(config.limits.max_auth_tries, 3u);
  EXPECT_EQ(config.limits.login_grace_time, std::chrono::seconds(30));
  EXPECT_EQ(config.limits.max_prompts, 4u);
  EXPECT_EQ(config.limits.max_answer_bytes, 128u);
  EXPECT_EQ(config.limits.max_rounds, 2u);
  EXPECT_EQ(config.limits.max_requests, 20u);
  EXPECT_EQ(config.limits.failure_delay, std::chrono::milliseconds(0));
}

TEST(ParleydConfig, SessionSettingsAreRead) {
  auto config = accepted(lines({
      "[session]",
      "shell = '/usr/bin/zsh'",
      "sftp_server = '/usr/libexec/sftp-server'",
      "accept_env = ['LANG', 'LC_*', 'TZ', 'GIT_?UTHOR_*']",
      "max_sessions = 3",
  }));
  EXPECT_EQ(config.session.shell, "/usr/bin/zsh");
  EXPECT_EQ(config.session.sftp_server, "/usr/libexec/sftp-server");
  EXPECT_EQ(config.session.accept_env,
            (std::vector<std::string>{"LANG", "LC_*", "TZ", "GIT_?UTHOR_*"}));
  EXPECT_EQ(config.session.max_sessions, 3u);
  EXPECT_FALSE(config.forwarding.local);

  // "" turns sftp off; it is kept, not taken for "not set".
  EXPECT_EQ(accepted("session.sftp_server = ''").session.sftp_server, "");
  // One pattern may be a string; [] lets no variable through.
  EXPECT_EQ(accepted("session.accept_env = 'LC_*'").session.accept_env,
            std::vector<std::string>{"LC_*"});
  EXPECT_EQ(accepted("session.accept_env = []").session.accept_env, std::vector<std::string>{});
  EXPECT_EQ(accepted("session.max_sessions = 1").session.max_sessions, 1u);
  EXPECT_EQ(accepted("session.max_sessions = 1000").session.max_sessions, 1000u);
}

TEST(ParleydConfig, ForwardingSettingsAreRead) {
  auto config = accepted(lines({
      "[forwarding]",
      "local = true",
      "remote = true",
      "permit_open = ['127.0.0.1:8080', '*:443', 'db.example:*', '[::1]:22', '[fe80::*]:*',",
      "               'web?.example:1', 'h:65535']",
      "permit_listen = ['localhost:8080', '*:*', '0.0.0.0:0']",
      "gateway_ports = true",
  }));
  EXPECT_EQ(config.forwarding.local, true);
  EXPECT_EQ(config.forwarding.remote, true);
  EXPECT_EQ(config.forwarding.permit_open,
            (std::vector<std::string>{"127.0.0.1:8080", "*:443", "db.example:*", "[::1]:22",
                                      "[fe80::*]:*", "web?.example:1", "h:65535"}));
  EXPECT_EQ(config.forwarding.permit_listen,
            (std::vector<std::string>{"localhost:8080", "*:*", "0.0.0.0:0"}));
  EXPECT_EQ(config.forwarding.gateway_ports, true);
  EXPECT_FALSE(config.session.shell);

  // false is kept as said, not taken for "not set".
  auto off =
      accepted(lines({"[forwarding]", "local = false", "remote = false", "gateway_ports = false"}));
  EXPECT_EQ(off.forwarding.local, false);
  EXPECT_EQ(off.forwarding.remote, false);
  EXPECT_EQ(off.forwarding.gateway_ports, false);

  auto any = accepted(lines({"[forwarding]", "permit_open = ['any']", "permit_listen = ['any']"}));
  EXPECT_EQ(any.forwarding.permit_open, std::vector<std::string>{"any"});
  EXPECT_EQ(any.forwarding.permit_listen, std::vector<std::string>{"any"});
}

TEST(ParleydConfig, TablesMayBeWrittenAsDottedKeysOrInlineTables) {
  auto config = accepted(lines({
      "auth.users = ['alice', 'bob']",
      "limits = { max_rounds = 5 }",
  }));
  EXPECT_EQ(config.users, (std::vector<std::string>{"alice", "bob"}));
  EXPECT_EQ(config.limits.max_rounds, 5u);
  EXPECT_EQ(config.limits.max_prompts, Limits{}.max_prompts);
}

TEST(ParleydConfig, AlgorithmsAreAStringOrAnArrayInTheOrderGiven) {
  auto config = accepted(lines({
      "[algorithms]",
      "ciphers = 'aes256-ctr,chacha20-poly1305@openssh.com'",
      "macs = ['hmac-sha2-512', 'hmac-sha2-256-etm@openssh.com']",
  }));
  EXPECT_EQ(config.ciphers, (std::vector<crypto::CipherAlg>{crypto::CipherAlg::aes256_ctr,
                                                            crypto::CipherAlg::chacha20_poly1305}));
  EXPECT_EQ(config.macs, (std::vector<crypto::MacAlg>{crypto::MacAlg::hmac_sha2_512,
                                                      crypto::MacAlg::hmac_sha2_256_etm}));
  EXPECT_FALSE(config.kex);
}

// sshd_config's syntax: "+" adds to the defaults, "-" removes, "^" puts first.
TEST(ParleydConfig, AlgorithmsRelativeToTheDefaults) {
  using transport::KexAlg;
  using crypto::MacAlg;
  auto config = accepted(lines({
      "[algorithms]",
      "kex = '+ecdh-sha2-nistp256,diffie-hellman-group14-sha256'",
      "macs = '-hmac-sha2-512-etm@openssh.com'",
      "ciphers = '^aes256-ctr'",
  }));
  EXPECT_EQ(config.kex, (std::vector<KexAlg>{KexAlg::mlkem768x25519_sha256,
                                             KexAlg::curve25519_sha256,
                                             KexAlg::curve25519_sha256_libssh,
                                             KexAlg::dh_group16_sha512, KexAlg::ecdh_sha2_nistp256,
                                             KexAlg::dh_group14_sha256}));
  EXPECT_EQ(config.macs, (std::vector<MacAlg>{MacAlg::hmac_sha2_256_etm}));
  ASSERT_TRUE(config.ciphers);
  EXPECT_EQ(config.ciphers->front(), crypto::CipherAlg::aes256_ctr);
  EXPECT_EQ(config.ciphers->size(), transport::AlgorithmPreferences{}.ciphers.size());

  EXPECT_TRUE(refusal("algorithms.kex = '+nope'")
                  .find("unknown key exchange algorithm 'nope'") != std::string::npos)
      << refusal("algorithms.kex = '+nope'");
  EXPECT_EQ(refusal("algorithms.macs = '-hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com'"),
            "/etc/parley/parleyd.conf:1: algorithms.macs must name at least one algorithm");
}

TEST(ParleydConfig, EveryMethodAndSubmethodIsAccepted) {
  auto config = accepted(lines({
      "[auth]",
      "methods = ['publickey', 'password', 'keyboard-interactive',",
      "           'keyboard-interactive:password,keyboard-interactive:higher-or-lower',",
      "           'publickey,publickey']",
  }));
  EXPECT_EQ(names(config.methods),
            (std::vector<std::vector<std::string>>{
                {"publickey"},
                {"password"},
                {"keyboard-interactive"},
                {"keyboard-interactive:password", "keyboard-interactive:higher-or-lower"},
                {"publickey", "publickey"}}));
}

TEST(ParleydConfig, ScalarsAtTheirBounds) {
  auto low = accepted(lines({"port = 0", "threads = 0"}));
  EXPECT_EQ(low.port, 0);
  EXPECT_EQ(low.threads, 0u);
  auto high = accepted(lines({"port = 65535", "threads = 1024"}));
  EXPECT_EQ(high.port, 65535);
  EXPECT_EQ(high.threads, 1024u);
  for (auto level : {"trace", "debug", "info", "warn", "error"})
    EXPECT_EQ(accepted("log_level = '" + std::string(level) + "'").log_level, level);
}

// ---------------------------------------------------------------------------
// Paths

TEST(ParleydConfig, RelativePathsAreTakenFromTheFilesDirectory) {
  auto config = accepted(lines({
      "host_keys = ['keys/host_ed25519', '../shared/host_rsa', '/abs/host_ecdsa', './k']",
      "state_dir = 'state'",
      "[auth]",
      "password_file = 'passwd'",
      "authorized_keys = 'keys/%u.pub'",
  }));
  EXPECT_EQ(config.host_keys,
            (std::vector<std::string>{"/etc/parley/keys/host_ed25519", "/etc/shared/host_rsa",
                                      "/abs/host_ecdsa", "/etc/parley/k"}));
  EXPECT_EQ(config.state_dir, "/etc/parley/state");
  EXPECT_EQ(config.password_file, "/etc/parley/passwd");
  EXPECT_EQ(config.authorized_keys, "/etc/parley/keys/%u.pub");
}

TEST(ParleydConfig, AuthorizedKeysUnderHomeOrAbsoluteStaysAsWritten) {
  EXPECT_EQ(accepted("auth.authorized_keys = '%h/.ssh/authorized_keys'").authorized_keys,
            "%h/.ssh/authorized_keys");
  EXPECT_EQ(accepted("auth.authorized_keys = '/etc/ssh/keys/%u'").authorized_keys,
            "/etc/ssh/keys/%u");
  EXPECT_EQ(accepted("auth.authorized_keys = '/srv/100%%/%u'").authorized_keys, "/srv/100%%/%u");
}

TEST(ParleydConfig, LoadConfigResolvesAgainstTheRealFilesDirectory) {
  const fs::path dir =
      fs::temp_directory_path() / ("parleyd_config_test." + std::to_string(::getpid()));
  fs::create_directories(dir / "sub");
  const fs::path file = dir / "sub" / "parleyd.conf";
  std::ofstream(file) << "host_keys = ['hostkey']\n[auth]\npassword_file = '../passwd'\n";
  auto config = load_config(file);
  ASSERT_TRUE(config.has_value()) << config.error().message();
  EXPECT_EQ(config->host_keys, std::vector<std::string>{(dir / "sub" / "hostkey").string()});
  EXPECT_EQ(config->password_file, (dir / "passwd").string());

  std::ofstream(file) << "\n\nport = 'x'\n";
  auto bad = load_config(file);
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().message(), file.string() + ":3: port must be an integer");

  auto directory = load_config(dir);
  ASSERT_FALSE(directory.has_value());
  EXPECT_EQ(directory.error().line, 0u);
  EXPECT_EQ(directory.error().message(), dir.string() + ": not a regular file");
  fs::remove_all(dir);
}

TEST(ParleydConfig, ExpandPathPattern) {
  EXPECT_EQ(expand_path_pattern("%h/.ssh/authorized_keys", "alice", "/home/alice"),
            "/home/alice/.ssh/authorized_keys");
  EXPECT_EQ(expand_path_pattern("/etc/keys/%u/%u.pub", "bob", "/home/bob"),
            "/etc/keys/bob/bob.pub");
  EXPECT_EQ(expand_path_pattern("/srv/100%%/%u", "carol", "/"), "/srv/100%/carol");
  EXPECT_EQ(expand_path_pattern("/plain", "dave", "/home/dave"), "/plain");
}

TEST(ParleydConfig, ChainsAreTypedStepsParsedOnce) {
  using M = AuthMethod;
  using K = KbdSubmethod;
  auto config = accepted(lines({
      "[auth]",
      "methods = ['publickey,keyboard-interactive:totp', 'keyboard-interactive',",
      "           'password,keyboard-interactive:pam,keyboard-interactive:higher-or-lower']",
  }));
  EXPECT_EQ(config.methods,
            (std::vector<AuthChain>{
                {{M::publickey, std::nullopt}, {M::keyboard_interactive, K::totp}},
                {{M::keyboard_interactive, std::nullopt}},
                {{M::password, std::nullopt},
                 {M::keyboard_interactive, K::pam},
                 {M::keyboard_interactive, K::higher_or_lower}}}));
  EXPECT_TRUE(names_step(config.methods, {M::keyboard_interactive, K::pam}));
  EXPECT_FALSE(names_step(config.methods, {M::keyboard_interactive, K::password}));

  // The one parser serves flags too: its error names the step, not a place.
  EXPECT_EQ(parse_chain("password,keyboard-interactive:password"),
            (AuthChain{{M::password, std::nullopt}, {M::keyboard_interactive, K::password}}));
  EXPECT_EQ(parse_chain("publickey,keyboard-interactive:nonsense").error(),
            "unknown keyboard-interactive submethod 'nonsense' (known: higher-or-lower, "
            "password, totp, pam)");
  EXPECT_EQ(parse_chain("publickey,").error(), "empty method name");
  for (const char* text : {"publickey", "password", "keyboard-interactive",
                           "keyboard-interactive:higher-or-lower", "keyboard-interactive:password",
                           "keyboard-interactive:totp", "keyboard-interactive:pam"}) {
    auto chain = parse_chain(text);
    ASSERT_TRUE(chain.has_value()) << text;
    ASSERT_EQ(chain->size(), 1u);
    EXPECT_EQ(name(chain->front()), text);
  }
}

TEST(ParleydConfig, ExpandPathPatternAsksForTheHomeOnlyWhenNeeded) {
  int asked = 0;
  auto home = [&asked]() -> std::expected<std::string, std::string> {
    ++asked;
    return std::string("/home/erin");
  };
  EXPECT_EQ(expand_path_pattern("%h/.ssh/%u.keys:%h", "erin", home), "/home/erin/.ssh/erin.keys:/home/erin");
  EXPECT_EQ(asked, 1);  // once, however many %h
  EXPECT_EQ(expand_path_pattern("/srv/keys/%u/%%h", "erin", home), "/srv/keys/erin/%h");
  EXPECT_EQ(asked, 1);  // "%%h" is a '%' and an 'h', not the home
  auto homeless = []() -> std::expected<std::string, std::string> {
    return std::unexpected("no such user frank");
  };
  EXPECT_EQ(expand_path_pattern("%h/.google_authenticator", "frank", homeless).error(),
            "no such user frank");
  EXPECT_EQ(expand_path_pattern("/etc/oath/%u", "frank", homeless), "/etc/oath/frank");

  EXPECT_TRUE(pattern_uses_home("%h/x"));
  EXPECT_FALSE(pattern_uses_home("/srv/100%%h/%u"));
  EXPECT_FALSE(path_pattern_problem("/srv/100%%/%u/%h%%"));
  EXPECT_EQ(path_pattern_problem("/k/%x/%"),
            "unknown token '%x' (known: %u user name, %h home directory, %% a '%')");
  EXPECT_EQ(path_pattern_problem("/k/%%%"), "'%' at the end (write %% for a literal '%')");
}

TEST(ParleydConfig, PermitEntriesParseIntoHostAndPort) {
  auto entry = parse_permit("[::1]:22", 1);
  ASSERT_TRUE(entry.has_value());
  EXPECT_FALSE(entry->any);
  EXPECT_EQ(entry->host, "::1");
  EXPECT_EQ(entry->port, 22);
  auto star = parse_permit("db.example:*", 1);
  ASSERT_TRUE(star.has_value());
  EXPECT_EQ(star->host, "db.example");
  EXPECT_FALSE(star->port);
  EXPECT_TRUE(parse_permit("any", 1)->any);
  EXPECT_EQ(parse_permit("host:0", 1).error(), "bad port '0'");
  EXPECT_EQ(parse_permit("host:0", 0)->port, 0);
}

// ---------------------------------------------------------------------------
// Whole-file errors

TEST(ParleydConfig, MissingFileIsAnErrorWithoutALine) {
  auto config = load_config("/nonexistent/parleyd.conf");
  ASSERT_FALSE(config.has_value());
  EXPECT_EQ(config.error().file, "/nonexistent/parleyd.conf");
  EXPECT_EQ(config.error().line, 0u);
  EXPECT_EQ(config.error().message(),
            "/nonexistent/parleyd.conf: cannot open: No such file or directory");
}

TEST(ParleydConfig, MessageFormat) {
  EXPECT_EQ((ConfigError{"a.conf", 4, "bad"}).message(), "a.conf:4: bad");
  EXPECT_EQ((ConfigError{"a.conf", 0, "bad"}).message(), "a.conf: bad");
}

// ---------------------------------------------------------------------------
// Errors with lines

TEST(ParleydConfig, SyntaxErrorNamesItsLine) {
  auto error = refused(lines({
      "# comment",
      "listen = '::'",
      "port = ",
      "threads = 2",
  }));
  EXPECT_EQ(error.file, conf_path);
  EXPECT_EQ(error.line, 3u) << error.message();
  EXPECT_TRUE(error.message().starts_with("/etc/parley/parleyd.conf:3: ")) << error.message();

  EXPECT_EQ(refused(lines({"port = 1", "", "[auth", "users = []"})).line, 3u);
  EXPECT_EQ(refused(lines({"port = 1", "port = 2"})).line, 2u);  // duplicate key
  EXPECT_EQ(refused(lines({"listen = 'unterminated", "port = 2"})).line, 1u);
}

TEST(ParleydConfig, TypoKeyNamesItsLineAndTheLikelyKey) {
  auto error = refused(lines({
      "# parleyd",
      "",
      "listen = '127.0.0.1'",
      "",
      "# the port",
      "",
      "prot = 22",
  }));
  EXPECT_EQ(error.line, 7u);
  EXPECT_EQ(error.reason, "unknown key 'prot' (did you mean 'port'?)");
  EXPECT_EQ(error.message(),
            "/etc/parley/parleyd.conf:7: unknown key 'prot' (did you mean 'port'?)");
}

TEST(ParleydConfig, UnknownKeysAndTables) {
  EXPECT_EQ(refused(lines({"[algorithms]", "kex = 'curve25519-sha256'", "cipher = 'aes128-ctr'"}))
                .message(),
            "/etc/parley/parleyd.conf:3: unknown key 'cipher' in [algorithms] (did you mean "
            "'ciphers'?)");
  EXPECT_EQ(refused(lines({"port = 1", "[algoritms]", "kex = 'curve25519-sha256'"})).message(),
            "/etc/parley/parleyd.conf:2: unknown table 'algoritms' (did you mean 'algorithms'?)");
  EXPECT_EQ(refusal("color = 'blue'"), "/etc/parley/parleyd.conf:1: unknown key 'color'");
  EXPECT_EQ(refused(lines({"[auth.extra]", "x = 1"})).message(),
            "/etc/parley/parleyd.conf:1: unknown table 'auth.extra'");
  // A top-level key after a table header lands in that table.
  EXPECT_EQ(refused(lines({"[limits]", "max_rounds = 3", "port = 2022"})).message(),
            "/etc/parley/parleyd.conf:3: unknown key 'port' in [limits] (it belongs at the top "
            "level, before the first [table])");
  EXPECT_EQ(refusal("kex = 'curve25519-sha256'"),
            "/etc/parley/parleyd.conf:1: unknown key 'kex' (it belongs in [algorithms])");
  EXPECT_EQ(refused(lines({"[auth]", "max_auth_tries = 3"})).message(),
            "/etc/parley/parleyd.conf:2: unknown key 'max_auth_tries' in [auth] (it belongs in "
            "[limits])");
}

TEST(ParleydConfig, UnknownKeysInSessionAndForwarding) {
  EXPECT_EQ(refused(lines({"[forwarding]", "local = true", "x11 = true"})).message(),
            "/etc/parley/parleyd.conf:3: unknown key 'x11' in [forwarding]");
  EXPECT_EQ(refused(lines({"[forwarding]", "permit_opne = ['any']"})).message(),
            "/etc/parley/parleyd.conf:2: unknown key 'permit_opne' in [forwarding] (did you mean "
            "'permit_open'?)");
  EXPECT_EQ(refused(lines({"[session]", "subsystem = 'sftp'"})).message(),
            "/etc/parley/parleyd.conf:2: unknown key 'subsystem' in [session]");
  EXPECT_EQ(refused(lines({"[sesion]", "shell = '/bin/sh'"})).message(),
            "/etc/parley/parleyd.conf:1: unknown table 'sesion' (did you mean 'session'?)");
  EXPECT_EQ(refused(lines({"[forwarding.extra]", "x = 1"})).message(),
            "/etc/parley/parleyd.conf:1: unknown table 'forwarding.extra'");
  // A [forwarding] key written after the [session] header, and the other way round.
  EXPECT_EQ(
      refused(lines({"[session]", "shell = '/bin/sh'", "", "gateway_ports = true"})).message(),
      "/etc/parley/parleyd.conf:4: unknown key 'gateway_ports' in [session] (it belongs in "
      "[forwarding])");
  EXPECT_EQ(refused(lines({"[session]", "permit_open = ['any']"})).message(),
            "/etc/parley/parleyd.conf:2: unknown key 'permit_open' in [session] (it belongs in "
            "[forwarding])");
  EXPECT_EQ(refused(lines({"[forwarding]", "max_sessions = 2"})).message(),
            "/etc/parley/parleyd.conf:2: unknown key 'max_sessions' in [forwarding] (it belongs "
            "in [session])");
  EXPECT_EQ(refused(lines({"[limits]", "max_sessions = 2"})).message(),
            "/etc/parley/parleyd.conf:2: unknown key 'max_sessions' in [limits] (it belongs in "
            "[session])");
  EXPECT_EQ(refusal("local = true"),
            "/etc/parley/parleyd.conf:1: unknown key 'local' (it belongs in [forwarding])");
}

TEST(ParleydConfig, TheErrorNearestTheTopIsReported) {
  // toml++ visits keys in name order ("aaa" before "port"); the report follows the file.
  auto error = refused(lines({"port = 'x'", "", "", "aaa = 1"}));
  EXPECT_EQ(error.line, 1u);
  EXPECT_EQ(error.reason, "port must be an integer");
  error = refused(lines({"[limits]", "max_rounds = 0", "[algorithms]", "kex = 'nope'"}));
  EXPECT_EQ(error.line, 2u);
}

TEST(ParleydConfig, WrongTypes) {
  const std::string file = "/etc/parley/parleyd.conf:1: ";
  EXPECT_EQ(refusal("port = '22'"), file + "port must be an integer");
  EXPECT_EQ(refusal("port = 22.0"), file + "port must be an integer");
  EXPECT_EQ(refusal("listen = 127"), file + "listen must be a string");
  EXPECT_EQ(refusal("listen = ''"), file + "listen must not be empty");
  EXPECT_EQ(refusal("host_keys = 'key'"), file + "host_keys must be an array of strings");
  EXPECT_EQ(refusal("state_dir = true"), file + "state_dir must be a string");
  EXPECT_EQ(refusal("log_level = 1"), file + "log_level must be a string");
  EXPECT_EQ(refusal("threads = '4'"), file + "threads must be an integer");
  EXPECT_EQ(refusal("banner = ['hi']"), file + "banner must be a string");
  EXPECT_EQ(refusal("algorithms = 'x'"), file + "algorithms must be a table ([algorithms])");
  EXPECT_EQ(refusal("auth = []"), file + "auth must be a table ([auth])");
  EXPECT_EQ(refusal("algorithms.kex = 5"),
            file + "algorithms.kex must be a string or an array of strings");
  EXPECT_EQ(refusal("auth.methods = 'publickey'"),
            file + "auth.methods must be an array of strings");
  EXPECT_EQ(refusal("auth.users = 'admin'"), file + "auth.users must be an array of strings");
  EXPECT_EQ(refusal("auth.password_file = 1"), file + "auth.password_file must be a string");
  EXPECT_EQ(refusal("auth.authorized_keys = {}"), file + "auth.authorized_keys must be a string");
  EXPECT_EQ(refusal("limits.max_rounds = 1.5"), file + "limits.max_rounds must be an integer");
  EXPECT_EQ(refusal("limits.login_grace_time = '2m'"),
            file + "limits.login_grace_time must be an integer");
  EXPECT_EQ(refused(lines({"[[auth]]", "users = []"})).message(),
            file + "auth must be a table ([auth])");

  EXPECT_EQ(refusal("session = 1"), file + "session must be a table ([session])");
  EXPECT_EQ(refusal("forwarding = true"), file + "forwarding must be a table ([forwarding])");
  EXPECT_EQ(refusal("session.shell = 1"), file + "session.shell must be a string");
  EXPECT_EQ(refusal("session.sftp_server = false"), file + "session.sftp_server must be a string");
  EXPECT_EQ(refusal("session.accept_env = 1"),
            file + "session.accept_env must be a string or an array of strings");
  EXPECT_EQ(refusal("session.accept_env = ['LANG', 1]"),
            file + "session.accept_env must be an array of strings");
  EXPECT_EQ(refusal("session.max_sessions = '10'"),
            file + "session.max_sessions must be an integer");
  EXPECT_EQ(refusal("forwarding.local = 'yes'"), file + "forwarding.local must be true or false");
  EXPECT_EQ(refusal("forwarding.remote = 1"), file + "forwarding.remote must be true or false");
  EXPECT_EQ(refusal("forwarding.gateway_ports = 'no'"),
            file + "forwarding.gateway_ports must be true or false");
  EXPECT_EQ(refusal("forwarding.permit_open = 'any'"),
            file + "forwarding.permit_open must be an array of strings");
  EXPECT_EQ(refusal("forwarding.permit_listen = [8080]"),
            file + "forwarding.permit_listen must be an array of strings");
}

TEST(ParleydConfig, ABadArrayElementNamesItsOwnLine) {
  auto error = refused(lines({
      "host_keys = [",
      "  'a',",
      "  2,",
      "]",
  }));
  EXPECT_EQ(error.message(), "/etc/parley/parleyd.conf:3: host_keys must be an array of strings");
  EXPECT_EQ(refused(lines({"host_keys = [", "  'a',", "  '',", "]"})).message(),
            "/etc/parley/parleyd.conf:3: host_keys: empty path");
}

TEST(ParleydConfig, OutOfRange) {
  const std::string file = "/etc/parley/parleyd.conf:1: ";
  EXPECT_EQ(refusal("port = 65536"), file + "port must be 0..65535 (got 65536)");
  EXPECT_EQ(refusal("port = -1"), file + "port must be 0..65535 (got -1)");
  EXPECT_EQ(refusal("threads = 1025"), file + "threads must be 0..1024 (got 1025)");

  struct Bound {
    std::string_view key;
    long long low, high;
  };
  const Bound bounds[] = {
      {"max_auth_tries", 1, 100},      {"login_grace_time", 1, 3600}, {"max_prompts", 1, 256},
      {"max_answer_bytes", 64, 65536}, {"max_rounds", 1, 64},         {"max_requests", 1, 10000},
      {"failure_delay_ms", 0, 10000},
  };
  for (const auto& b : bounds) {
    SCOPED_TRACE(b.key);
    const std::string key = "limits." + std::string(b.key);
    const std::string range = std::to_string(b.low) + ".." + std::to_string(b.high);
    accepted(key + " = " + std::to_string(b.low));
    accepted(key + " = " + std::to_string(b.high));
    EXPECT_EQ(refusal(key + " = " + std::to_string(b.low - 1)),
              file + key + " must be " + range + " (got " + std::to_string(b.low - 1) + ")");
    EXPECT_EQ(refusal(key + " = " + std::to_string(b.high + 1)),
              file + key + " must be " + range + " (got " + std::to_string(b.high + 1) + ")");
  }
}

TEST(ParleydConfig, BadSessionValues) {
  const std::string file = "/etc/parley/parleyd.conf:";
  EXPECT_EQ(refused(lines({"[session]", "max_sessions = 2", "shell = 'bash'"})).message(),
            file + "3: session.shell must be an absolute path (got 'bash')");
  EXPECT_EQ(refused(lines({"[session]", "shell = ''"})).message(),
            file + "2: session.shell must not be empty");
  EXPECT_EQ(refused(lines({"[session]", "", "sftp_server = 'sftp-server'"})).message(),
            file +
                "3: session.sftp_server must be an absolute path, or '' to turn sftp off (got "
                "'sftp-server')");
  EXPECT_EQ(refusal("session.sftp_server = './sftp-server'"),
            file +
                "1: session.sftp_server must be an absolute path, or '' to turn sftp off (got "
                "'./sftp-server')");
  EXPECT_EQ(refused(lines({"[session]", "max_sessions = 0"})).message(),
            file + "2: session.max_sessions must be 1..1000 (got 0)");
  EXPECT_EQ(refusal("session.max_sessions = 1001"),
            file + "1: session.max_sessions must be 1..1000 (got 1001)");

  // A bad pattern names its own line.
  EXPECT_EQ(refused(lines({"[session]", "accept_env = [", "  'LANG',", "  '',", "]"})).message(),
            file + "4: session.accept_env: empty pattern");
  EXPECT_EQ(refused(lines({"[session]", "accept_env = ['LANG',", "  'LC_ALL=C']"})).message(),
            file + "3: session.accept_env: '=' in 'LC_ALL=C' (name the variable, not its value)");
  EXPECT_EQ(refusal("session.accept_env = ''"), file + "1: session.accept_env: empty pattern");
  EXPECT_EQ(refusal("session.accept_env = 'LANG,LC_*'"),
            file +
                "1: session.accept_env: 'LANG,LC_*' is more than one pattern (give each its "
                "own string)");
  EXPECT_EQ(refusal("session.accept_env = ['LANG LC_*']"),
            file +
                "1: session.accept_env: 'LANG LC_*' is more than one pattern (give each its "
                "own string)");
}

TEST(ParleydConfig, BadPermitEntries) {
  const std::string open_hint = " (write host:port, [address]:port or any; port 1..65535 or *)";
  const std::string listen_hint = " (write host:port, [address]:port or any; port 0..65535 or *)";
  const std::string file = "/etc/parley/parleyd.conf:1: ";

  // In a multi-line array the entry's own line is named.
  auto error = refused(lines({
      "[forwarding]",
      "local = true",
      "permit_open = [",
      "  '127.0.0.1:8080',",
      "  'db.example',",
      "]",
  }));
  EXPECT_EQ(error.line, 5u);
  EXPECT_EQ(error.message(),
            "/etc/parley/parleyd.conf:5: forwarding.permit_open: no port in "
            "'db.example'" +
                open_hint);

  struct Bad {
    std::string_view entry, problem;
  };
  const Bad bad_open[] = {
      {"db.example", "no port"},
      {"db.example:", "bad port ''"},
      {":22", "empty host"},
      {"[]:22", "empty host"},
      {"host:0", "bad port '0'"},
      {"host:65536", "bad port '65536'"},
      {"host:99999999999", "bad port '99999999999'"},
      {"host:-1", "bad port '-1'"},
      {"host:+22", "bad port '+22'"},
      {"host:ssh", "bad port 'ssh'"},
      {"host:2*", "bad port '2*'"},
      {"host: 22", "bad port ' 22'"},
      {"::1:22", "more than one ':'"},
      {"[::1]", "no ':port' after ']'"},
      {"[::1]22", "no ':port' after ']'"},
      {"[::1:22", "no ']' after '['"},
      {"a]:22", "bad host 'a]'"},
      {"my host:22", "bad host 'my host'"},
      {"*", "no port"},
      {"none", "no port"},
      {"ANY", "no port"},
  };
  for (const auto& b : bad_open) {
    SCOPED_TRACE(b.entry);
    const std::string entry(b.entry);
    EXPECT_EQ(refusal("forwarding.permit_open = ['" + entry + "']"),
              file + "forwarding.permit_open: " + std::string(b.problem) + " in '" + entry + "'" +
                  open_hint);
    if (entry != "host:0") {
      EXPECT_EQ(refusal("forwarding.permit_listen = ['" + entry + "']"),
                file + "forwarding.permit_listen: " + std::string(b.problem) + " in '" + entry +
                    "'" + listen_hint);
    }
  }
  // Port 0 is only for listening: the server picks the port.
  EXPECT_EQ(accepted("forwarding.permit_listen = ['host:0']").forwarding.permit_listen,
            std::vector<std::string>{"host:0"});

  EXPECT_EQ(refusal("forwarding.permit_open = ['']"), file + "forwarding.permit_open: empty entry");
  // The server takes an empty list for "anywhere"; say so rather than let [] mean it.
  EXPECT_EQ(refused(lines({"[forwarding]", "permit_listen = []"})).message(),
            "/etc/parley/parleyd.conf:2: forwarding.permit_listen must list at least one entry "
            "(write ['any'] for anywhere, or leave it out)");
  EXPECT_EQ(refusal("forwarding.permit_open = []"),
            file +
                "forwarding.permit_open must list at least one entry (write ['any'] for "
                "anywhere, or leave it out)");
}

TEST(ParleydConfig, LogLevelOutsideTheList) {
  EXPECT_EQ(refused(lines({"port = 1", "log_level = 'verbose'"})).message(),
            "/etc/parley/parleyd.conf:2: log_level must be one of trace, debug, info, warn, error "
            "(got 'verbose')");
  EXPECT_EQ(refusal("log_level = 'INFO'").substr(0, 40),
            "/etc/parley/parleyd.conf:1: log_level mu");
}

TEST(ParleydConfig, BannerTooLong) {
  EXPECT_EQ(refusal("banner = '" + std::string(16385, 'x') + "'"),
            "/etc/parley/parleyd.conf:1: banner must be at most 16384 bytes");
  EXPECT_EQ(accepted("banner = '" + std::string(16384, 'x') + "'").banner->size(), 16384u);
}

TEST(ParleydConfig, UnknownAlgorithm) {
  auto error = refused(lines({
      "[algorithms]",
      "ciphers = 'aes128-ctr,aes192-ctr'",
  }));
  EXPECT_EQ(error.line, 2u);
  EXPECT_EQ(
      error.reason,
      "algorithms.ciphers: unknown cipher 'aes192-ctr' (known: chacha20-poly1305@openssh.com, "
      "aes128-gcm@openssh.com, aes256-gcm@openssh.com, aes128-ctr, aes256-ctr)");

  // In a multi-line array the element's own line is named.
  error = refused(lines({
      "[algorithms]",
      "kex = [",
      "  'curve25519-sha256',",
      "  'diffie-hellman-group1-sha1',",
      "]",
  }));
  EXPECT_EQ(error.line, 4u);
  EXPECT_TRUE(error.reason.starts_with(
      "algorithms.kex: unknown key exchange algorithm 'diffie-hellman-group1-sha1' (known: "))
      << error.reason;
  // "known" names what may be configured, not just the defaults.
  EXPECT_NE(error.reason.find("mlkem768x25519-sha256"), std::string::npos) << error.reason;
  EXPECT_NE(error.reason.find("ecdh-sha2-nistp256"), std::string::npos) << error.reason;

  EXPECT_TRUE(refusal("algorithms.host_key_algorithms = 'ssh-dss'")
                  .starts_with("/etc/parley/parleyd.conf:1: algorithms.host_key_algorithms: "
                               "unknown host key algorithm 'ssh-dss' (known: ssh-ed25519, "));
  EXPECT_TRUE(refusal("algorithms.macs = ['hmac-md5']")
                  .starts_with("/etc/parley/parleyd.conf:1: algorithms.macs: unknown MAC "
                               "'hmac-md5' (known: "));
}

TEST(ParleydConfig, AlgorithmListsMustBeWellFormed) {
  const std::string file = "/etc/parley/parleyd.conf:1: ";
  EXPECT_EQ(refusal("algorithms.kex = ''"), file + "algorithms.kex: empty algorithm name in ''");
  EXPECT_EQ(refusal("algorithms.ciphers = 'aes128-ctr,'"),
            file + "algorithms.ciphers: empty algorithm name in 'aes128-ctr,'");
  EXPECT_EQ(refusal("algorithms.macs = []"),
            file + "algorithms.macs must name at least one algorithm");
  EXPECT_EQ(refusal("algorithms.ciphers = ['aes128-ctr', 'aes256-ctr', 'aes128-ctr']"),
            file + "algorithms.ciphers names 'aes128-ctr' twice");
}

TEST(ParleydConfig, UnknownMethodOrSubmethod) {
  auto error = refused(lines({
      "[auth]",
      "methods = [",
      "  'publickey',",
      "  'publickey,pasword',",
      "]",
  }));
  EXPECT_EQ(error.message(),
            "/etc/parley/parleyd.conf:4: auth.methods: unknown method 'pasword' (known: publickey, "
            "password, keyboard-interactive) in 'publickey,pasword'");

  const std::string file = "/etc/parley/parleyd.conf:1: ";
  EXPECT_EQ(refusal("auth.methods = ['keyboard-interactive:sms']"),
            file +
                "auth.methods: unknown keyboard-interactive submethod 'sms' (known: "
                "higher-or-lower, password, totp, pam) in 'keyboard-interactive:sms'");
  EXPECT_EQ(refusal("auth.methods = ['keyboard-interactive:']"),
            file +
                "auth.methods: unknown keyboard-interactive submethod '' (known: "
                "higher-or-lower, password, totp, pam) in 'keyboard-interactive:'");
  EXPECT_EQ(
      refusal("auth.methods = ['password:higher-or-lower']"),
      file + "auth.methods: method 'password' takes no submethod in 'password:higher-or-lower'");
  EXPECT_EQ(refusal("auth.methods = ['publickey,,password']"),
            file + "auth.methods: empty method name in 'publickey,,password'");
  EXPECT_EQ(refusal("auth.methods = ['publickey,']"),
            file + "auth.methods: empty method name in 'publickey,'");
  EXPECT_EQ(refusal("auth.methods = ['']"), file + "auth.methods: empty chain");
  EXPECT_EQ(refusal("auth.methods = []"),
            file + "auth.methods must list at least one chain (leave it out for the default)");
  EXPECT_EQ(refusal("auth.methods = ['none']"),
            file +
                "auth.methods: unknown method 'none' (known: publickey, password, "
                "keyboard-interactive) in 'none'");
}

TEST(ParleydConfig, BadUserNames) {
  auto error = refused(lines({"[auth]", "users = ['admin',", "  'bad user']"}));
  EXPECT_EQ(error.message(),
            "/etc/parley/parleyd.conf:3: auth.users: bad user name 'bad user' "
            "(use 1..64 of A-Z a-z 0-9 . _ -)");
  EXPECT_EQ(refused("auth.users = ['']").line, 1u);
  EXPECT_EQ(refused("auth.users = ['" + std::string(65, 'a') + "']").line, 1u);
  EXPECT_EQ(accepted("auth.users = ['" + std::string(64, 'a') + "']").users.size(), 1u);
}

TEST(ParleydConfig, TotpAndPamSettingsAreRead) {
  auto config = accepted(lines({
      "[auth]",
      "methods = ['password,keyboard-interactive:totp', 'keyboard-interactive:pam']",
      "[totp]",
      "users_oath = 'users.oath'",
      "window = 0",
      "max_failures = 2",
      "failure_period = 60",
      "[pam]",
      "service = 'sshd'",
      "max_conversations = 8",
  }));
  EXPECT_EQ(config.methods.size(), 2u);
  EXPECT_EQ(config.totp.users_oath, "/etc/parley/users.oath");
  EXPECT_FALSE(config.totp.google_authenticator.has_value());
  EXPECT_EQ(config.totp.window, 0u);
  EXPECT_EQ(config.totp.max_failures, 2u);
  EXPECT_EQ(config.totp.failure_period, std::chrono::seconds(60));
  EXPECT_EQ(config.pam.service, "sshd");
  EXPECT_EQ(config.pam.max_conversations, 8u);
  auto ga = accepted("totp.google_authenticator = '%h/.google_authenticator'");
  EXPECT_EQ(ga.totp.google_authenticator, "%h/.google_authenticator");
}

TEST(ParleydConfig, BadTotpAndPamValues) {
  const std::string file = "/etc/parley/parleyd.conf:";
  EXPECT_EQ(refused(lines({"[totp]", "users_oath = 'a'", "google_authenticator = '%h/x'"})).message(),
            file + "3: totp: give users_oath or google_authenticator, not both");
  EXPECT_EQ(refusal("totp.google_authenticator = '%h/%x'"),
            file +
                "1: totp.google_authenticator: unknown token '%x' (known: %u user name, %h home "
                "directory, %% a '%')");
  EXPECT_EQ(refused("totp.window = 11").line, 1u);
  EXPECT_EQ(refused("totp.max_failures = 0").line, 1u);
  EXPECT_EQ(refused(lines({"[pam]", "service = '/etc/pam.d/x'"})).message(),
            file + "2: pam.service: a PAM service is a name in /etc/pam.d, not a path");
  EXPECT_EQ(refused(lines({"[pam]", "sevrice = 'x'"})).line, 2u);
  EXPECT_EQ(refused("auth.methods = ['keyboard-interactive:otp']").line, 1u);
}

TEST(ParleydConfig, StateSettingsAreRead) {
  EXPECT_FALSE(accepted("").state.backend) << "unset: the local backend";
  EXPECT_EQ(accepted("state.backend = 'local'").state.backend, "local");
  auto config = accepted(lines({
      "[state]",
      "backend = 'redis'",
      "address = '[::1]:6380'",
      "tls = true",
      "tls_ca_file = 'redis-ca.pem'",
      "tls_cert_file = '/etc/parley/client.pem'",
      "tls_key_file = 'client.key'",
      "tls_server_name = 'redis.example'",
      "username = 'parleyd'",
      "password_file = 'redis.password'",
      "key_prefix = 'bastion:'",
      "timeout_ms = 250",
      "connect_timeout_ms = 2000",
      "pool_size = 8",
      "on_state_error = 'deny-all'",
  }));
  const StateSettings& st = config.state;
  EXPECT_EQ(st.backend, "redis");
  EXPECT_EQ(st.address, "[::1]:6380");
  EXPECT_EQ(st.tls, true);
  EXPECT_EQ(st.tls_ca_file, "/etc/parley/redis-ca.pem") << "resolved against the file's directory";
  EXPECT_EQ(st.tls_cert_file, "/etc/parley/client.pem");
  EXPECT_EQ(st.tls_key_file, "/etc/parley/client.key");
  EXPECT_EQ(st.tls_server_name, "redis.example");
  EXPECT_EQ(st.username, "parleyd");
  EXPECT_EQ(st.password_file, "/etc/parley/redis.password");
  EXPECT_EQ(st.key_prefix, "bastion:");
  EXPECT_EQ(st.timeout, std::chrono::milliseconds(250));
  EXPECT_EQ(st.connect_timeout, std::chrono::milliseconds(2000));
  EXPECT_EQ(st.pool_size, 8u);
  EXPECT_EQ(st.on_state_error, "deny-all");
}

TEST(ParleydConfig, BadStateSettings) {
  const std::string file = "/etc/parley/parleyd.conf:";
  EXPECT_EQ(refused(lines({"[auth]", "[state]", "backend = 'memcached'"})).message(),
            file + "3: state.backend: must be \"local\" or \"redis\" (got \"memcached\")");
  EXPECT_EQ(refused(lines({"", "[state]", "backend = 'redis'"})).message(),
            file + "2: state: backend = \"redis\" needs address = \"HOST:PORT\"");
  EXPECT_EQ(refused(lines({"[state]", "address = '127.0.0.1:6379'"})).message(),
            file + "1: state: the Redis settings need backend = \"redis\" (the local backend has none)");
  EXPECT_EQ(refused(lines({"[state]", "backend = 'redis'", "address = 'r:6379'", "tls_ca_file = 'ca.pem'"}))
                .message(),
            file + "1: state: tls_* settings need tls = true");
  EXPECT_EQ(refused(lines({"[state]", "backend = 'redis'", "address = 'r:6379'", "tls = true"})).message(),
            file + "1: state: tls = true needs tls_ca_file (the CA that signed Redis's certificate)");
  EXPECT_EQ(refused(lines({"[state]", "backend = 'redis'", "address = 'r:6379'", "tls = true",
                           "tls_ca_file = 'ca.pem'", "tls_cert_file = 'c.pem'"}))
                .message(),
            file + "1: state: tls_cert_file and tls_key_file go together (a client certificate and its key)");
  EXPECT_EQ(refused(lines({"[state]", "backend = 'redis'", "address = 'r:6379'", "on_state_error = 'allow'"}))
                .message(),
            file + "4: state.on_state_error: must be \"deny-second-factor\" or \"deny-all\" (got \"allow\")");
  EXPECT_EQ(refused(lines({"[state]", "backend = 'redis'", "address = 'r:6379'", "timeout_ms = 0"})).line, 4u);
  EXPECT_EQ(refused(lines({"[state]", "backend = 'redis'", "adress = 'r:6379'"})).line, 3u) << "a typo";
  for (std::string_view bad : {"redis", "redis:", ":6379", "redis:0", "redis:65536", "::1:6379", "[::1]",
                               "redis:63x9"})
    EXPECT_EQ(refusal("state.address = '" + std::string(bad) + "'"),
              file + "1: state.address: must be HOST:PORT or [IPv6]:PORT with a port 1..65535 (got '" +
                  std::string(bad) + "')");
  const auto v6 = accepted(lines({"[state]", "backend = 'redis'", "address = '[::1]:6380'"})).state;
  EXPECT_EQ(v6.host, "::1");
  EXPECT_EQ(v6.port, 6380);
}

TEST(ParleydConfig, BadPaths) {
  const std::string file = "/etc/parley/parleyd.conf:1: ";
  EXPECT_EQ(refusal("state_dir = ''"), file + "state_dir: empty path");
  EXPECT_EQ(refusal("auth.password_file = ''"), file + "auth.password_file: empty path");
  EXPECT_EQ(refusal("auth.authorized_keys = ''"), file + "auth.authorized_keys: empty path");
  EXPECT_EQ(refusal("auth.authorized_keys = '/keys/%d'"),
            file +
                "auth.authorized_keys: unknown token '%d' (known: %u user name, %h home "
                "directory, %% a '%')");
  EXPECT_EQ(refusal("auth.authorized_keys = '/keys/%'"),
            file + "auth.authorized_keys: '%' at the end (write %% for a literal '%')");
}

TEST(ParleydConfig, PreauthenticationBounds) {
  const Config defaults = accepted("");
  EXPECT_EQ(defaults.limits.max_startups.start, 10u);
  EXPECT_EQ(defaults.limits.max_startups.rate, 30u);
  EXPECT_EQ(defaults.limits.max_startups.full, 100u);
  EXPECT_FALSE(defaults.limits.per_source_max_startups);
  EXPECT_EQ(defaults.limits.per_source_netblock4, 32u);
  EXPECT_EQ(defaults.limits.per_source_netblock6, 128u);
  EXPECT_TRUE(defaults.limits.per_source_penalties.enabled);
  EXPECT_DOUBLE_EQ(defaults.limits.per_source_penalties.noauth.count(), 1.0);
  EXPECT_EQ(defaults.limits.max_checks_per_connection, 1u);
  EXPECT_EQ(defaults.limits.max_queued_checks, 1024u);

  const Config c =
      accepted(lines({"[limits]", "max_startups = '5:50:20'", "per_source_max_startups = 3",
                      "per_source_netblock_size = '24:64'",
                      "per_source_penalties = 'noauth:2 min:30s overflow6:deny-all'",
                      "max_checks_per_connection = 2", "max_queued_checks = 64"}));
  EXPECT_EQ(c.limits.max_startups.start, 5u);
  EXPECT_EQ(c.limits.max_startups.rate, 50u);
  EXPECT_EQ(c.limits.max_startups.full, 20u);
  EXPECT_EQ(c.limits.per_source_max_startups, 3u);
  EXPECT_EQ(c.limits.per_source_netblock4, 24u);
  EXPECT_EQ(c.limits.per_source_netblock6, 64u);
  EXPECT_DOUBLE_EQ(c.limits.per_source_penalties.noauth.count(), 2.0);
  EXPECT_DOUBLE_EQ(c.limits.per_source_penalties.min.count(), 30.0);
  EXPECT_DOUBLE_EQ(c.limits.per_source_penalties.authfail.count(), 5.0);
  EXPECT_EQ(c.limits.per_source_penalties.overflow6, parley::driver::PenaltyOverflow::deny_all);
  EXPECT_EQ(c.limits.max_checks_per_connection, 2u);
  EXPECT_EQ(c.limits.max_queued_checks, 64u);

  EXPECT_FALSE(accepted("limits.per_source_penalties = 'no'").limits.per_source_penalties.enabled);
  EXPECT_EQ(refused("limits.max_startups = '30:10:20'").line, 1u);
  EXPECT_EQ(refused("limits.max_startups = 10").line, 1u);
  EXPECT_EQ(refused("limits.per_source_netblock_size = '33'").line, 1u);
  EXPECT_EQ(refused("limits.per_source_penalties = 'noauth'").line, 1u);
  EXPECT_EQ(refused("limits.max_checks_per_connection = 0").line, 1u);
}

}  // namespace
}  // namespace parleyd

// parleyd's settings merged once: the command line parsed by parleyd's own
// option table, put over a configuration file by merge_settings(). A flag wins
// where both say something; chains, path patterns and permit entries given as
// flags are parsed into the same typed values, and refused the same way, as
// the file's; a file's problem keeps its "file:line: reason".
#include <gtest/gtest.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <string>
#include <vector>

#include "settings.hpp"

namespace parleyd {
namespace {

namespace fs = std::filesystem;
using M = AuthMethod;
using K = KbdSubmethod;

/// A configuration file in a directory of its own, removed at the end.
class SettingsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("parleyd-settings-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  /// Writes `lines` (one per element, so line numbers are positions from 1) and returns the path.
  std::string file(std::initializer_list<std::string_view> lines) {
    const fs::path path = dir_ / "parleyd.conf";
    std::ofstream out(path);
    for (auto l : lines) out << l << '\n';
    return path.string();
  }

  /// parleyd's command line (without the program name), parsed and merged.
  static std::expected<Config, std::string> merged(std::vector<std::string> args) {
    CLI::App app;
    CommandLine line;
    add_options(app, line);
    args.insert(args.begin(), "parleyd");
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    app.parse(static_cast<int>(argv.size()), argv.data());
    return merge_settings(line);
  }

  static Config accepted(std::vector<std::string> args) {
    auto config = merged(std::move(args));
    EXPECT_TRUE(config.has_value()) << config.error();
    return config ? *config : Config{};
  }

  static std::string refused(std::vector<std::string> args) {
    auto config = merged(std::move(args));
    EXPECT_FALSE(config.has_value());
    return config ? std::string() : config.error();
  }

  fs::path dir_;
};

TEST_F(SettingsTest, AFlagWinsOverTheFileAndTheFileFillsTheRest) {
  const std::string conf = file({
      "listen = '0.0.0.0'",
      "port = 2200",
      "banner = 'from the file'",
      "[auth]",
      "password_file = 'passwd'",
      "users = ['alice']",
      "permit_root_login = 'no'",
      "[limits]",
      "max_auth_tries = 4",
      "login_grace_time = 30",
      "max_startups = '5:50:20'",
  });
  auto c = accepted({"--config", conf, "--port", "2022", "--max-auth-tries", "3", "--user", "bob",
                     "--permit-root-login", "yes"});
  EXPECT_EQ(c.port, 2022);                       // flag
  EXPECT_EQ(c.listen, "0.0.0.0");                // file
  EXPECT_EQ(c.banner, "from the file");          // file
  EXPECT_EQ(c.limits.max_auth_tries, 3u);        // flag
  EXPECT_EQ(c.limits.login_grace_time.count(), 30);  // file
  EXPECT_EQ(c.limits.max_startups.start, 5u);    // file
  EXPECT_EQ(c.users, std::vector<std::string>{"bob"});  // a list flag replaces the file's list
  EXPECT_EQ(c.permit_root_login, parley::login::RootLogin::yes);
  EXPECT_EQ(c.password_file, (dir_ / "passwd").string());  // resolved against the file's directory

  // Without a file, only what the flags say is set; the rest is the built-in default.
  auto bare = accepted({"--listen", "::1", "--max-startups", "3:20:9"});
  EXPECT_EQ(bare.listen, "::1");
  EXPECT_FALSE(bare.port);
  EXPECT_EQ(bare.limits.max_startups.full, 9u);
  EXPECT_EQ(bare.limits.max_auth_tries, Limits{}.max_auth_tries);
}

// Privilege separation is the default as root: unset unless something says
// so, and either the file or a flag (which wins) can say off or on.
TEST_F(SettingsTest, PrivilegeSeparationIsUnsetUnlessTheFileOrAFlagSaysOnOrOff) {
  EXPECT_FALSE(accepted({}).privilege_separation);
  EXPECT_EQ(accepted({"--privilege-separation"}).privilege_separation, true);
  EXPECT_EQ(accepted({"--no-privilege-separation"}).privilege_separation, false);
  const std::string off = file({"privilege_separation = false"});
  EXPECT_EQ(accepted({"--config", off}).privilege_separation, false);
  EXPECT_EQ(accepted({"--config", off, "--privilege-separation"}).privilege_separation, true);
  const std::string on = file({"privilege_separation = true"});
  EXPECT_EQ(accepted({"--config", on, "--no-privilege-separation"}).privilege_separation, false);
}

TEST_F(SettingsTest, AlgorithmFlagsAreRelativeToTheFilesList) {
  using parley::crypto::CipherAlg;
  const std::string conf = file({"[algorithms]", "ciphers = ['aes256-gcm@openssh.com']"});
  auto c = accepted({"--config", conf, "--ciphers", "+aes128-ctr"});
  EXPECT_EQ(c.ciphers, (std::vector<CipherAlg>{CipherAlg::aes256_gcm, CipherAlg::aes128_ctr}));
  EXPECT_EQ(refused({"--ciphers", "nope"}), "unknown cipher 'nope' in --ciphers");
}

TEST_F(SettingsTest, ChainFlagsBecomeTypedStepsAndReplaceTheFilesChains) {
  const std::string conf = file({"[auth]", "methods = ['password']"});
  auto c = accepted({"--config", conf, "--auth-methods", "publickey,keyboard-interactive:totp",
                     "--auth-methods", "keyboard-interactive"});
  EXPECT_EQ(c.methods, (std::vector<AuthChain>{
                           {{M::publickey, std::nullopt}, {M::keyboard_interactive, K::totp}},
                           {{M::keyboard_interactive, std::nullopt}}}));
  EXPECT_EQ(accepted({"--config", conf}).methods,
            (std::vector<AuthChain>{{{M::password, std::nullopt}}}));
}

TEST_F(SettingsTest, ABadChainIsReportedWhereItWasWritten) {
  const std::string conf = file({
      "# parleyd",
      "[auth]",
      "methods = ['publickey',",
      "           'password,keyboard-interactive:sms']",
  });
  EXPECT_EQ(refused({"--config", conf}),
            conf + ":4: auth.methods: unknown keyboard-interactive submethod 'sms' (known: "
                   "higher-or-lower, password, totp, pam) in 'password,keyboard-interactive:sms'");
  EXPECT_EQ(refused({"--auth-methods", "publickey,keyboard-interactive:nonsense"}),
            "--auth-methods: unknown keyboard-interactive submethod 'nonsense' (known: "
            "higher-or-lower, password, totp, pam) in 'publickey,keyboard-interactive:nonsense'");
  EXPECT_EQ(refused({"--auth-methods", "pasword"}),
            "--auth-methods: unknown method 'pasword' (known: publickey, password, "
            "keyboard-interactive) in 'pasword'");
}

TEST_F(SettingsTest, PathPatternFlagsAreCheckedAndExpandedAsTheFilesAre) {
  auto c = accepted({"--authorized-keys", "%h/.ssh/keys-%u", "--totp-google-authenticator",
                     "/var/lib/ga/%u"});
  ASSERT_TRUE(c.authorized_keys);
  EXPECT_EQ(expand_path_pattern(*c.authorized_keys, "alice", "/home/alice"),
            "/home/alice/.ssh/keys-alice");
  EXPECT_EQ(expand_path_pattern(*c.totp.google_authenticator, "bob", "/home/bob"), "/var/lib/ga/bob");
  EXPECT_EQ(refused({"--authorized-keys", "/keys/%d"}),
            "--authorized-keys: unknown token '%d' (known: %u user name, %h home directory, %% a "
            "'%')");
  EXPECT_EQ(refused({"--totp-google-authenticator", "/ga/%"}),
            "--totp-google-authenticator: '%' at the end (write %% for a literal '%')");
}

TEST_F(SettingsTest, TotpFlagsReplaceBothOfTheFilesStores) {
  const std::string conf = file({"[totp]", "google_authenticator = '%h/.google_authenticator'",
                                 "window = 2"});
  auto c = accepted({"--config", conf, "--totp-users-oath", "/etc/users.oath"});
  EXPECT_EQ(c.totp.users_oath, "/etc/users.oath");
  EXPECT_FALSE(c.totp.google_authenticator);
  EXPECT_EQ(c.totp.window, 2u);
  EXPECT_EQ(accepted({"--config", conf, "--totp-window", "0"}).totp.window, 0u);
}

TEST_F(SettingsTest, ForwardingFlags) {
  const std::string conf = file({"[forwarding]", "local = true", "remote = true",
                                 "permit_open = ['db:5432']"});
  auto from_file = accepted({"--config", conf});
  EXPECT_EQ(from_file.forwarding.local, true);
  EXPECT_EQ(from_file.forwarding.remote, true);
  auto only_remote = accepted({"--config", conf, "--allow-tcp-forwarding", "remote",
                               "--permit-open", "[::1]:22"});
  EXPECT_EQ(only_remote.forwarding.local, false);
  EXPECT_EQ(only_remote.forwarding.remote, true);
  EXPECT_EQ(only_remote.forwarding.permit_open, std::vector<std::string>{"[::1]:22"});
  EXPECT_EQ(accepted({"--config", conf, "--allow-tcp-forwarding", "config"}).forwarding.local, true);
  EXPECT_EQ(refused({"--permit-listen", "host:x"}),
            "--permit-listen: bad port 'x' in 'host:x' (write host:port, [address]:port or any; "
            "port 0..65535 or *)");
}

TEST_F(SettingsTest, AFilesProblemKeepsItsFileAndLine) {
  const std::string conf = file({"port = 22", "[auth]", "method = ['password']"});
  EXPECT_EQ(refused({"--config", conf, "--port", "2022"}),
            conf + ":3: unknown key 'method' in [auth] (did you mean 'methods'?)");
  EXPECT_EQ(refused({"--config", (dir_ / "missing.conf").string()}),
            (dir_ / "missing.conf").string() + ": cannot open: No such file or directory");
}

TEST_F(SettingsTest, ProxyProtocolAndItsBalancers) {
  const Config off = accepted({"--config", file({"port = 22"})});
  EXPECT_FALSE(off.proxy_protocol.value_or(false));
  EXPECT_TRUE(off.proxy_from.empty());
  const Config on = accepted(
      {"--config", file({"proxy_protocol = true", "proxy_from = ['127.0.0.1', '10.0.0.0/8', '2001:db8::/32']"})});
  EXPECT_EQ(on.proxy_protocol, true);
  EXPECT_EQ(on.proxy_from, (std::vector<std::string>{"127.0.0.1", "10.0.0.0/8", "2001:db8::/32"}));
  // Balancers listed while it is off: kept, and nothing is proxied.
  EXPECT_EQ(accepted({"--config", file({"proxy_protocol = false", "proxy_from = ['10.0.0.1']"})}).proxy_from.size(), 1u);
}

TEST_F(SettingsTest, ProxyProtocolWithoutBalancersIsRefusedOnItsLine) {
  std::string conf = file({"port = 22", "proxy_protocol = true"});
  EXPECT_EQ(refused({"--config", conf}),
            conf + ":2: proxy_protocol = true needs proxy_from, the balancers' addresses or CIDR blocks");
  conf = file({"proxy_protocol = true", "proxy_from = []"});
  EXPECT_EQ(refused({"--config", conf}), conf + ":2: proxy_from must list at least one address or CIDR block");
  conf = file({"proxy_protocol = 'yes'", "proxy_from = ['10.0.0.1']"});
  EXPECT_EQ(refused({"--config", conf}), conf + ":1: proxy_protocol must be true or false");
}

TEST_F(SettingsTest, ABadBalancerNamesItsLine) {
  std::string conf = file({"proxy_protocol = true", "proxy_from = [", "  '127.0.0.1',", "  '10.0.0.0/33',", "]"});
  EXPECT_EQ(refused({"--config", conf}),
            conf + ":4: proxy_from: '10.0.0.0/33': IPv4 prefix length must be 0..32 (write an address, e.g. "
                   "\"10.0.0.5\", or a CIDR block, e.g. \"10.0.0.0/8\")");
  conf = file({"proxy_from = ['lb.example']"});
  EXPECT_NE(refused({"--config", conf}).find(":1: proxy_from: 'lb.example': not an IPv4 or IPv6 address"),
            std::string::npos);
  conf = file({"proxy_from = ['10.0.0.1/8']"});
  EXPECT_NE(refused({"--config", conf}).find("host bits set after the prefix (write 10.0.0.0/8)"), std::string::npos);
  conf = file({"proxy_from = '10.0.0.1'"});
  EXPECT_EQ(refused({"--config", conf}), conf + ":1: proxy_from must be an array of strings");
}

}  // namespace
}  // namespace parleyd

// parley's command line parsed once into ClientOptions: where it connects and as
// whom (ssh's precedence: -p over the first -o Port, -l over user@ over -o User),
// what each -o option becomes, and each kind of mistake refused with ssh's words
// (or parley's, where ssh has none) before anything connects.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <initializer_list>
#include <map>
#include <string>
#include <vector>

#include "options.hpp"
#include "secrets.hpp"

namespace parley::app {
namespace {

namespace transport = parley::transport;
using crypto::CipherAlg;
using transport::KexAlg;

/// No configuration file exists: only the command line counts.
ConfigEnvironment no_files() {
  ConfigEnvironment env;
  env.files.read = [](const std::string&, bool) -> client::ssh_config::Files::ReadResult {
    return std::nullopt;
  };
  env.files.glob = [](const std::string&) -> client::ssh_config::Files::GlobResult {
    return std::vector<std::string>{};
  };
  env.local_user = "tester";
  env.home = "/home/tester";
  return env;
}

/// Configuration files in memory (path → text); every read recorded.
struct Disk {
  std::map<std::string, std::string> files;
  std::vector<std::pair<std::string, bool>> reads;
  ConfigEnvironment environment() {
    ConfigEnvironment env = no_files();
    env.files.read = [this](const std::string& path,
                            bool check) -> client::ssh_config::Files::ReadResult {
      reads.emplace_back(path, check);
      const auto it = files.find(path);
      if (it == files.end()) return std::nullopt;
      return it->second;
    };
    env.local_host = "box.example";
    return env;
  }
  std::expected<ClientOptions, OptionsError> parse(std::initializer_list<const char*> args) {
    std::vector<const char*> argv{"parley"};
    argv.insert(argv.end(), args.begin(), args.end());
    return parse_client_options(static_cast<int>(argv.size()), argv.data(), environment());
  }
};

std::expected<ClientOptions, OptionsError> parse(std::initializer_list<const char*> args) {
  std::vector<const char*> argv{"parley"};
  argv.insert(argv.end(), args.begin(), args.end());
  return parse_client_options(static_cast<int>(argv.size()), argv.data(), no_files());
}

ClientOptions accepted(std::initializer_list<const char*> args) {
  auto options = parse(args);
  EXPECT_TRUE(options.has_value()) << options.error().message;
  return options ? *options : ClientOptions{};
}

/// The message a refused command line gives (after "parley: ").
std::string refused(std::initializer_list<const char*> args) {
  auto options = parse(args);
  EXPECT_FALSE(options.has_value());
  if (options) return {};
  EXPECT_EQ(options.error().exit_code, 255);
  return options.error().message;
}

class ParleyOptions : public ::testing::Test {
 protected:
  void SetUp() override {
    ::setenv("HOME", "/home/tester", 1);
    ::setenv("SSH_AUTH_SOCK", "/run/agent.sock", 1);
  }
};

TEST_F(ParleyOptions, UserAtHostSplitsAtTheLastAt) {
  const auto o = accepted({"alice@example.com"});
  EXPECT_EQ(o.destination.user, "alice");
  EXPECT_EQ(o.destination.host, "example.com");
  EXPECT_EQ(o.destination.port, 22);
  const auto odd = accepted({"a@b@host"});
  EXPECT_EQ(odd.destination.user, "a@b");
  EXPECT_EQ(odd.destination.host, "host");
}

TEST_F(ParleyOptions, LoginFlagBeatsUserAtWhichBeatsUserOption) {
  EXPECT_EQ(accepted({"-o", "User=carol", "host"}).destination.user, "carol");
  EXPECT_EQ(accepted({"-o", "User=carol", "bob@host"}).destination.user, "bob");
  EXPECT_EQ(accepted({"-l", "dave", "-o", "User=carol", "bob@host"}).destination.user, "dave");
  EXPECT_FALSE(accepted({"host"}).destination.user.empty());  // the local user
}

TEST_F(ParleyOptions, FirstPortOptionWinsAndDashPBeatsIt) {
  EXPECT_EQ(accepted({"-o", "Port=2200", "-o", "port=2300", "host"}).destination.port, 2200);
  EXPECT_EQ(accepted({"-p", "2222", "-o", "Port=2200", "host"}).destination.port, 2222);
  EXPECT_EQ(accepted({"-o", "Port=2200", "-p", "2222", "host"}).destination.port, 2222);
}

TEST_F(ParleyOptions, CommandWordsAreJoined) {
  EXPECT_EQ(accepted({"host", "echo", "a b", "c"}).command, "echo a b c");
  EXPECT_EQ(accepted({"host"}).command, "");
}

TEST_F(ParleyOptions, OptionSpellings) {
  // Name and value split at '=', blanks or both; names in any case.
  EXPECT_EQ(accepted({"-o", "PORT 2201", "host"}).destination.port, 2201);
  EXPECT_EQ(accepted({"-o", "Port = 2202", "host"}).destination.port, 2202);
  EXPECT_TRUE(accepted({"-o", "batchmode=YES", "host"}).batch_mode);
  EXPECT_FALSE(accepted({"-o", "BatchMode=false", "host"}).batch_mode);
}

TEST_F(ParleyOptions, BadOptionsAreRefusedWithTheirName) {
  struct Case {
    const char* option;
    const char* message;
  };
  // As ssh: "command-line line 0: " and what is wrong (ssh's words where it has them).
  const Case cases[] = {
      {"Port=notaport", "command-line line 0: Bad port 'notaport'."},
      {"Port=0", "command-line line 0: Bad port '0'."},
      {"BatchMode=maybe", "command-line line 0: bad value for batchmode: 'maybe' (yes or no)"},
      {"NoSuchOption=1", "command-line: line 0: Bad configuration option: nosuchoption"},
      {"LocalCommand=true", "command-line line 0: option localcommand is not supported by parley"},
      {"LocalForward=0 h:2", "command-line line 0: Bad forwarding specification."},
      {"ProxyJump=a;b", "command-line line 0: bad ProxyJump 'a;b'"},
      {"Port", "command-line line 0: no argument after keyword \"port\""},
      {"Port=", "command-line line 0: no argument after keyword \"port\""},
      {"Port='2", "command-line line 0: invalid quotes"},
      {"Host=x", "command-line line 0: host directive not supported as a command-line option"},
      {"StrictHostKeyChecking=Maybe",
       "command-line line 0: bad value for stricthostkeychecking: 'Maybe' (yes, no, ask or "
       "accept-new)"},
      {"LogLevel=loud", "command-line line 0: bad value for loglevel: 'loud'"},
      {"RequestTTY=sometimes",
       "command-line line 0: bad value for requesttty: 'sometimes' (no, yes, force or auto)"},
      {"SetEnv=NOVALUE", "command-line line 0: Invalid SetEnv 'NOVALUE' (write NAME=value)."},
      {"ConnectTimeout=-1", "command-line line 0: invalid time value '-1'."},
      {"NumberOfPasswordPrompts=101",
       "command-line line 0: bad value for NumberOfPasswordPrompts: '101'"},
      {"PasswordPromptRule=always",
       "command-line line 0: bad value for PasswordPromptRule: 'always' (saved or seed)"},
      {"WarnWeakCrypto=true", "command-line line 0: bad value for WarnWeakCrypto: 'true' (yes or no)"},
      {"PubkeyAuthentication=0",
       "command-line line 0: bad value for pubkeyauthentication: '0' (yes, no, unbound or "
       "host-bound)"},
      {"IdentitiesOnly=1", "command-line line 0: bad value for identitiesonly: '1' (yes or no)"},
      {"HashKnownHosts=on", "command-line line 0: bad value for hashknownhosts: 'on' (yes or no)"},
      {"Port=22 23", "command-line line 0: keyword port extra arguments at end of line"},
      {"Ciphers=aes256-cbc", "command-line line 0: Ciphers: unsupported algorithm 'aes256-cbc'"},
      {"KexAlgorithms=,", "command-line line 0: KexAlgorithms: malformed list ','"},
      {"MACs=-hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com",
       "command-line line 0: MACs '-hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com' "
       "leaves no algorithm"},
  };
  for (const Case& c : cases) EXPECT_EQ(refused({"-o", c.option, "host"}), c.message) << c.option;
}

TEST_F(ParleyOptions, EveryValueIsCheckedButTheFirstWins) {
  // As ssh: a later value never counts, but a malformed one is still an error.
  EXPECT_EQ(accepted({"-o", "Port=2200", "-o", "Port=2300", "host"}).destination.port, 2200);
  EXPECT_EQ(refused({"-o", "Port=2200", "-o", "Port=notaport", "host"}),
            "command-line line 0: Bad port 'notaport'.");
  // A refused option counts only where it takes effect: after IgnoreUnknown, an
  // unknown name is skipped.
  EXPECT_EQ(accepted({"-o", "IgnoreUnknown=Foo*", "-o", "FooBar=1", "host"}).destination.port, 22);
}

TEST_F(ParleyOptions, IgnoredOptionsAreListedOnce) {
  const auto o = accepted(
      {"-o", "ForwardAgent=yes", "-o", "compression=no", "-o", "ForwardAgent=no", "host"});
  EXPECT_EQ(o.ignored, (std::vector<std::string>{"forwardagent", "compression"}));
}

TEST_F(ParleyOptions, CommandLineErrorsAreCli11s) {
  auto missing = parse({});
  ASSERT_FALSE(missing.has_value());
  EXPECT_TRUE(missing.error().message.empty());  // CLI11 printed the usage error
  EXPECT_EQ(missing.error().exit_code, 255);
  auto help = parse({"--help"});
  ASSERT_FALSE(help.has_value());
  EXPECT_EQ(help.error().exit_code, 0);
}

TEST_F(ParleyOptions, VerboseBeatsLogLevel) {
  EXPECT_EQ(accepted({"host"}).log_level, spdlog::level::warn);
  EXPECT_EQ(accepted({"-o", "LogLevel=DEBUG2", "host"}).log_level, spdlog::level::debug);
  EXPECT_EQ(accepted({"-o", "LogLevel=quiet", "host"}).log_level, spdlog::level::critical);
  EXPECT_EQ(accepted({"-v", "-o", "LogLevel=quiet", "host"}).log_level, spdlog::level::info);
  EXPECT_EQ(accepted({"-vvv", "host"}).log_level, spdlog::level::trace);
}

TEST_F(ParleyOptions, AlgorithmListsApplyToTheDefaults) {
  const auto o = accepted({"-o", "KexAlgorithms=-mlkem768x25519-sha256", "-o",
                           "Ciphers=aes256-ctr,aes128-ctr", "host"});
  EXPECT_EQ(o.algorithms.kex.front(), KexAlg::curve25519_sha256);
  EXPECT_EQ(o.algorithms.ciphers,
            (std::vector<CipherAlg>{CipherAlg::aes256_ctr, CipherAlg::aes128_ctr}));
  EXPECT_FALSE(o.host_key_order_chosen);
  EXPECT_TRUE(accepted({"-o", "HostKeyAlgorithms=ssh-ed25519", "host"}).host_key_order_chosen);
  EXPECT_TRUE(accepted({"-o", "HostKeyAlgorithms=^rsa-sha2-512", "host"}).host_key_order_chosen);
  EXPECT_FALSE(accepted({"-o", "HostKeyAlgorithms=+rsa-sha2-256", "host"}).host_key_order_chosen);
}

TEST_F(ParleyOptions, MethodsArePreferredLessThoseSwitchedOff) {
  EXPECT_EQ(accepted({"host"}).auth_methods,
            (std::vector<std::string>{"publickey", "keyboard-interactive", "password"}));
  const auto o =
      accepted({"-o", "PreferredAuthentications=password,keyboard-interactive,publickey", "-o",
                "PubkeyAuthentication=no", "-o", "ChallengeResponseAuthentication=no", "host"});
  EXPECT_EQ(o.auth_methods, (std::vector<std::string>{"password"}));
  EXPECT_EQ(accepted({"-o", "NumberOfPasswordPrompts=1", "host"}).max_attempts, 1u);
  EXPECT_FALSE(accepted({"host"}).max_attempts.has_value());
}

TEST_F(ParleyOptions, IdentitiesAndAgent) {
  const auto defaults = accepted({"host"});
  EXPECT_FALSE(defaults.identity_files_named);
  EXPECT_EQ(defaults.identity_files.front(), "/home/tester/.ssh/id_ed25519");
  EXPECT_EQ(defaults.agent_socket, "/run/agent.sock");
  const auto named = accepted({"-i", "~/k1", "-o", "IdentityFile=/k2", "-i", "k3", "host"});
  EXPECT_TRUE(named.identity_files_named);
  // -i files first, then IdentityFile ones, as ssh.
  EXPECT_EQ(named.identity_files,
            (std::vector<std::filesystem::path>{"/home/tester/k1", "k3", "/k2"}));
  EXPECT_EQ(accepted({"-o", "IdentityAgent=none", "host"}).agent_socket, "");
  EXPECT_EQ(accepted({"-o", "IdentityAgent=~/agent", "host"}).agent_socket, "/home/tester/agent");
  ::setenv("PARLEY_TEST_AGENT", "/tmp/other.sock", 1);
  EXPECT_EQ(accepted({"-o", "IdentityAgent=$PARLEY_TEST_AGENT", "host"}).agent_socket,
            "/tmp/other.sock");
  ::unsetenv("PARLEY_TEST_AGENT");
  EXPECT_EQ(accepted({"-o", "IdentityAgent=$PARLEY_TEST_AGENT", "host"}).agent_socket, "");
  EXPECT_TRUE(accepted({"-o", "IdentitiesOnly=yes", "host"}).identities_only);
}

TEST_F(ParleyOptions, KnownHostsFilesUserFirstThenGlobal) {
  EXPECT_EQ(accepted({"host"}).known_hosts_files,
            (std::vector<std::filesystem::path>{"/home/tester/.ssh/known_hosts",
                                                "/etc/ssh/ssh_known_hosts",
                                                "/etc/ssh/ssh_known_hosts2"}));
  const auto o =
      accepted({"-o", "UserKnownHostsFile=~/kh", "-o", "GlobalKnownHostsFile=/g1 ~/g2", "-o",
                "StrictHostKeyChecking=accept-new", "-o", "HashKnownHosts=yes", "host"});
  EXPECT_EQ(o.known_hosts_files,
            (std::vector<std::filesystem::path>{"/home/tester/kh", "/g1", "/home/tester/g2"}));
  EXPECT_EQ(o.strict_host_key_checking, client::StrictHostKeyChecking::accept_new);
  EXPECT_TRUE(o.hash_known_hosts);
  EXPECT_EQ(accepted({"host"}).strict_host_key_checking, client::StrictHostKeyChecking::ask);
  EXPECT_EQ(accepted({"-o", "StrictHostKeyChecking=off", "host"}).strict_host_key_checking,
            client::StrictHostKeyChecking::no);
}

TEST_F(ParleyOptions, TerminalRequest) {
  EXPECT_FALSE(accepted({"host"}).request_tty.has_value());  // auto
  EXPECT_EQ(accepted({"-o", "RequestTTY=force", "host"}).request_tty, true);
  EXPECT_EQ(accepted({"-o", "RequestTTY=yes", "-T", "host"}).request_tty, false);
  EXPECT_EQ(accepted({"-o", "RequestTTY=no", "-t", "host"}).request_tty, true);
  EXPECT_FALSE(accepted({"-o", "RequestTTY=auto", "host"}).request_tty.has_value());
}

TEST_F(ParleyOptions, SessionSettings) {
  EXPECT_EQ(accepted({"host"}).send_env, (std::vector<std::string>{"LANG"}));
  const auto o =
      accepted({"-o", "SendEnv=LC_* FOO", "-o", "SetEnv=A=1 B=x=y", "-o", "ConnectTimeout=5", "-o",
                "PasswordPromptRule=seed", "-o", "WarnWeakCrypto=no", "host"});
  EXPECT_EQ(o.send_env, (std::vector<std::string>{"LC_*", "FOO"}));
  ASSERT_EQ(o.set_env.size(), 2u);
  EXPECT_EQ(o.set_env[1].name, "B");
  EXPECT_EQ(o.set_env[1].value, "x=y");
  EXPECT_EQ(o.connect_timeout, std::chrono::seconds(5));
  EXPECT_EQ(o.password_prompt_rule, PasswordPromptRule::seed);
  EXPECT_FALSE(o.warn_weak_crypto);
  EXPECT_EQ(accepted({"-o", "ConnectTimeout=none", "host"}).connect_timeout,
            std::chrono::seconds(60));
  EXPECT_EQ(accepted({"-o", "ConnectTimeout=0", "host"}).connect_timeout, std::chrono::seconds(60));
}

TEST_F(ParleyOptions, ReadsTheUserThenTheSystemFile) {
  Disk disk;
  disk.files["/home/tester/.ssh/config"] = "Host alias\n  HostName Real.Example\n  Port 2200\n";
  disk.files["/etc/ssh/ssh_config"] = "Host *\n  User sys\n  Port 1\n  HashKnownHosts yes\n";
  auto o = disk.parse({"alias"});
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_EQ(o->destination.host, "real.example");  // where parley connects
  EXPECT_EQ(o->destination.host_arg, "alias");
  EXPECT_EQ(o->destination.port, 2200);
  EXPECT_EQ(o->destination.user, "sys");
  EXPECT_TRUE(o->hash_known_hosts);
  // ~/.ssh/config is checked for its owner and mode, the system file is not.
  EXPECT_EQ(disk.reads, (std::vector<std::pair<std::string, bool>>{
                            {"/home/tester/.ssh/config", true}, {"/etc/ssh/ssh_config", false}}));
  // Command-line options win over both.
  o = disk.parse({"-p", "2", "-l", "cli", "-o", "HostName=direct", "alias"});
  ASSERT_TRUE(o);
  EXPECT_EQ(o->destination.port, 2);
  EXPECT_EQ(o->destination.user, "cli");
  EXPECT_EQ(o->destination.host, "direct");
}

TEST_F(ParleyOptions, DashFReplacesBothFilesAndNoneReadsNothing) {
  Disk disk;
  disk.files["/tmp/only"] = "Port 2300\n";
  disk.files["/etc/ssh/ssh_config"] = "Port 1\n";
  auto o = disk.parse({"-F", "/tmp/only", "-G", "host"});
  ASSERT_TRUE(o);
  EXPECT_EQ(o->destination.port, 2300);
  EXPECT_TRUE(o->dump_config);
  EXPECT_EQ(disk.reads.size(), 1u);
  disk.reads.clear();
  EXPECT_EQ(disk.parse({"-F", "none", "host"})->destination.port, 22);
  EXPECT_TRUE(disk.reads.empty());
  auto missing = disk.parse({"-F", "/tmp/missing", "host"});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message, "/tmp/missing line 0: Can't open user config file: not found");
}

TEST_F(ParleyOptions, ConfigErrorsNameFileAndLine) {
  Disk disk;
  disk.files["/c"] = "Host other\n  LocalCommand true\nHost *\n  Port 2\n  BatchMode perhaps\n";
  EXPECT_EQ(disk.parse({"-F", "/c", "host"}).error().message,
            "/c line 5: bad value for batchmode: 'perhaps' (yes or no)");
  // A refused option only counts where it applies.
  disk.files["/c"] = "Host other\n  LocalCommand true\n";
  EXPECT_TRUE(disk.parse({"-F", "/c", "host"}).has_value());
  disk.files["/c"] = "\nHost host\n  LocalCommand true\n";
  EXPECT_EQ(disk.parse({"-F", "/c", "host"}).error().message,
            "/c line 3: option localcommand is not supported by parley");
  disk.files["/c"] = "IdentityFile ~/.ssh/%h.%Z\n";
  EXPECT_EQ(disk.parse({"-F", "/c", "host"}).error().message,
            "/c line 1: identityfile: unknown key %Z");
}

TEST_F(ParleyOptions, TokensInTheOptionsSshExpandsThemIn) {
  Disk disk;
  disk.files["/c"] =
      "Host web\n  HostName %h.example\n  User deploy\n  Port 2222\n"
      "  IdentityFile ~/.ssh/%r@%h\n  IdentityFile %d/%n_%p\n  IdentityFile ~/.ssh/%r@%h\n"
      "  UserKnownHostsFile ~/kh/%L %u\n  IdentityAgent ~/agent.%h\n";
  auto o = disk.parse({"-F", "/c", "web"});
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_EQ(o->identity_files,
            (std::vector<std::filesystem::path>{"/home/tester/.ssh/deploy@web.example",
                                                "/home/tester/web_2222"}));
  EXPECT_EQ(o->known_hosts_files[0], "/home/tester/kh/box");
  EXPECT_EQ(o->known_hosts_files[1], "tester");
  EXPECT_EQ(o->agent_socket, "/home/tester/agent.web.example");
}

TEST_F(ParleyOptions, ForwardsFromTheCommandLineThenTheFiles) {
  Disk disk;
  disk.files["/c"] = "LocalForward 8080 db:5432\nHost host\n  RemoteForward 9000 localhost:http\n"
                     "  DynamicForward 1080\n  LocalForward 7 a:8\n  ExitOnForwardFailure yes\n";
  auto o = disk.parse({"-F", "/c", "-L", "7:a:8", "-D", "*:1090", "-N", "host"});
  ASSERT_TRUE(o) << o.error().message;
  using client::Forward;
  EXPECT_EQ(o->forwarding.local, (std::vector<Forward>{{std::nullopt, 7, "a", 8}, {std::nullopt, 8080, "db", 5432}}))
      << "the command line's first; a repeat counts once";
  EXPECT_EQ(o->forwarding.remote, (std::vector<Forward>{{std::nullopt, 9000, "localhost", 80}}))
      << "a service name as ssh takes it";
  EXPECT_EQ(o->forwarding.dynamic,
            (std::vector<Forward>{{std::string("*"), 1090, "socks", 0}, {std::nullopt, 1080, "socks", 0}}));
  EXPECT_TRUE(o->forwarding.exit_on_failure);
  EXPECT_EQ(o->session_type, SessionType::none);
  disk.files["/c"] = "ClearAllForwardings yes\nLocalForward 8080 db:5432\n";
  o = disk.parse({"-F", "/c", "-L", "7:a:8", "host"});
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_TRUE(o->forwarding.local.empty()) << "ClearAllForwardings drops the command line's too";
}

TEST_F(ParleyOptions, ForwardsParleyCannotRunAreRefused) {
  EXPECT_EQ(refused({"-L", "0:h:80", "host"}), "Bad local forwarding specification '0:h:80'");
  EXPECT_EQ(refused({"-D", "x", "host"}), "Bad dynamic forwarding specification 'x'");
  EXPECT_EQ(refused({"-R", "9000", "host"}),
            "remote dynamic forwarding (-R [address:]port with no target) is not supported by parley");
  EXPECT_EQ(refused({"-L", "/tmp/s:h:80", "host"}), "forwarding Unix-domain sockets is not supported ('/tmp/s:h:80')");
  EXPECT_EQ(refused({"-N", "host", "uptime"}), "-N (SessionType none) cannot run a command too");
  Disk disk;
  disk.files["/c"] = "\nLocalForward 80 h:nosuchservice\n";
  EXPECT_EQ(disk.parse({"-F", "/c", "host"}).error().message, "/c line 2: Bad forwarding specification.");
}

TEST_F(ParleyOptions, MatchExecNeedsTheCommandLinesPermission) {
  Disk disk;
  disk.files["/c"] = "Match exec true\n  Port 7\n";
  EXPECT_NE(disk.parse({"-F", "/c", "host"}).error().message.find("--allow-match-exec"),
            std::string::npos);
  std::vector<std::string> ran;
  ConfigEnvironment env = disk.environment();
  env.shell = [&](const std::string& command) -> std::expected<int, std::string> {
    ran.push_back(command);
    return 0;
  };
  const char* argv[] = {"parley", "--allow-match-exec", "-F", "/c", "host"};
  auto o = parse_client_options(5, argv, env);
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_EQ(o->destination.port, 7);
  EXPECT_EQ(ran, std::vector<std::string>{"true"});
}

// ---- the secrets file (issue 16): what a host gets
TEST(ParleySecrets, EachHostGetsItsOwnFirstValueWins) {
  const std::string_view text =
      "# comment\n"
      "Host bastion bastion.example.org\n"
      "  Password correct horse battery staple\n"
      "  TOTP JBSWY3DPEHPK3PXP\n"
      "  Password ignored: the first counts\n"
      "Host *.internal !db.internal\n"
      "\tpassword  spaced out  \n"
      "Host *\n"
      "  Password fallback\n";
  auto text_of = [](const std::optional<crypto::SecretBytes>& s) {
    return s ? std::string(parley::as_chars(s->view())) : std::string("<none>");
  };
  auto b = parse_secrets(text, "Bastion.example.org", "f");
  ASSERT_TRUE(b);
  EXPECT_EQ(text_of(b->password), "correct horse battery staple") << "patterns match without case";
  EXPECT_EQ(text_of(b->totp), "JBSWY3DPEHPK3PXP");
  auto web = parse_secrets(text, "web.internal", "f");
  EXPECT_EQ(text_of(web->password), "spaced out");
  EXPECT_EQ(text_of(web->totp), "<none>");
  EXPECT_EQ(text_of(parse_secrets(text, "db.internal", "f")->password), "fallback") << "a negated pattern";
  // Lines before the first Host apply to every host.
  EXPECT_EQ(text_of(parse_secrets("TOTP X\nHost a\n  TOTP Y\n", "a", "f")->totp), "X");
  EXPECT_EQ(parse_secrets("Host a\nPasswd s3cret\n", "a", "f").error(),
            "f line 2: unknown keyword 'passwd' (Host, Password or TOTP)");
  EXPECT_EQ(parse_secrets("Host a\nPassword\n", "a", "f").error(), "f line 2: no value after password");
}

}  // namespace
}  // namespace parley::app

// client::ssh_config without I/O: files in memory, glob and Match exec faked.
// How lines split (quotes, '=', comments), Host and Match, Include (relative
// paths, globs in order, the including block kept, parse-only inside a block
// that does not apply), the final pass, tokens, and hostile input: long lines,
// unbounded and fanned-out Include recursion, bad quoting, over-long patterns.
#include "parley/client/ssh_config.hpp"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace parley::client::ssh_config {
namespace {

/// A file system in memory: path → text; globs list the paths with the prefix
/// before '*' (sorted, as glob(3)); every read and exec is recorded.
struct FakeWorld {
  std::map<std::string, std::string> files;
  std::vector<std::string> reads;
  std::vector<std::pair<std::string, bool>> permission_checks;
  std::vector<std::string> commands;
  bool allow_exec = false;
  int exec_status = 0;

  Files bind() {
    Files f;
    f.read = [this](const std::string& path, bool check) -> Files::ReadResult {
      reads.push_back(path);
      permission_checks.emplace_back(path, check);
      const auto it = files.find(path);
      if (it == files.end()) return std::nullopt;
      return it->second;
    };
    f.glob = [this](const std::string& pattern) -> Files::GlobResult {
      std::vector<std::string> out;
      for (const auto& [path, text] : files)
        if (match_pattern(path, pattern)) out.push_back(path);
      return out;
    };
    if (allow_exec)
      f.exec = [this](const std::string& command) -> std::expected<int, std::string> {
        commands.push_back(command);
        return exec_status;
      };
    return f;
  }
};

Context context(std::string host = "foo") {
  Context c;
  c.host = std::move(host);
  c.local_user = "me";
  c.home = "/home/me";
  c.local_host = "box.example.org";
  c.uid = "1000";
  c.env = [](const std::string& name) -> std::optional<std::string> {
    if (name == "XDG") return "/run/xdg";
    return std::nullopt;
  };
  return c;
}

/// Evaluates /cfg (a user file) for `host`; the first value of each option read.
struct Result {
  std::expected<void, Error> status;
  Settings settings;
  std::string first(std::string_view keyword) const {
    const Setting* s = settings.first(keyword);
    return s ? s->args.front() : "";
  }
};

Result evaluate(FakeWorld& world, const std::string& host = "foo", Settings settings = {}) {
  Result r{{}, std::move(settings)};
  r.status = apply({{"/cfg", Scope::user, true}}, context(host), world.bind(), r.settings, true);
  return r;
}

std::string error_of(FakeWorld& world, const std::string& host = "foo") {
  auto r = evaluate(world, host);
  EXPECT_FALSE(r.status.has_value());
  return r.status ? "" : r.status.error().message();
}

TEST(SshConfigLines, SplitAsReadconf) {
  auto l = split_line("  Port = 22");
  ASSERT_TRUE(l && *l);
  EXPECT_EQ((*l)->keyword, "port");
  EXPECT_EQ((*l)->args, std::vector<std::string>{"22"});
  l = split_line("SendEnv=\"A B\" 'C D' E\\ F G#H # comment");
  ASSERT_TRUE(l && *l);
  EXPECT_EQ((*l)->args, (std::vector<std::string>{"A B", "C D", "E F", "G#H"}));
  l = split_line("User \"a\\\"b\"");
  ASSERT_TRUE(l && *l);
  EXPECT_EQ((*l)->args.front(), "a\"b");
  EXPECT_FALSE(*split_line("   # only a comment"));
  EXPECT_FALSE(*split_line(""));
  EXPECT_FALSE(*split_line(" \t\r\f"));
  EXPECT_EQ(split_line("User \"open").error(), "invalid quotes");
  EXPECT_EQ(split_line("User 'open").error(), "invalid quotes");
  EXPECT_EQ(split_line("User").error(), "no argument after keyword \"user\"");
  EXPECT_EQ(split_line("User=").error(), "no argument after keyword \"user\"");
  EXPECT_EQ(split_line("User # nothing").error(), "no argument after keyword \"user\"");
}

TEST(SshConfigLines, PatternsAsMatchC) {
  EXPECT_TRUE(match_pattern("db1", "db?"));
  EXPECT_FALSE(match_pattern("db12", "db?"));
  EXPECT_TRUE(match_pattern("a.example.com", "*.example.com"));
  EXPECT_FALSE(match_pattern("Foo", "foo"));  // Host is case-sensitive
  EXPECT_EQ(match_pattern_list("foo", "!foo,*", true), -1);
  EXPECT_EQ(match_pattern_list("bar", "!foo,*", true), 1);
  EXPECT_EQ(match_pattern_list("foo", "FOO", true), 1);
  EXPECT_EQ(match_pattern_list("foo", "FOO", false), 0);
  EXPECT_EQ(match_pattern_list("x", std::string(2000, '*'), false), 0);  // over-long: no match
  // A hostile pattern does not take exponential time: many stars against a long miss.
  EXPECT_FALSE(match_pattern(std::string(5000, 'a'), std::string(200, '*') + "b"));
}

TEST(SshConfigLines, TokensAndEnvironment) {
  EXPECT_EQ(*expand_tokens("%h-%%-%p", {{'h', "host"}, {'p', "22"}}), "host-%-22");
  EXPECT_EQ(expand_tokens("%z", {{'h', "x"}}).error(), "unknown key %z");
  EXPECT_FALSE(expand_tokens("trailing %", {}).has_value());
  const Context c = context();
  EXPECT_EQ(*expand_env("${XDG}/agent", c), "/run/xdg/agent");
  EXPECT_EQ(*expand_env("$XDG", c), "$XDG");  // ssh expands only ${NAME}
  EXPECT_EQ(expand_env("${NOPE}", c).error(), "env var ${NOPE} has no value");
  EXPECT_FALSE(expand_env("${XDG", c).has_value());
  EXPECT_EQ(expand_tilde("~/x", c), "/home/me/x");
  EXPECT_EQ(expand_tilde("/~/x", c), "/~/x");
}

TEST(SshConfigLines, TimesAsConvtime) {
  EXPECT_EQ(parse_time("90"), 90);
  EXPECT_EQ(parse_time("1m30s"), 90);
  EXPECT_EQ(parse_time("1H2m"), 3720);
  EXPECT_EQ(parse_time("0"), 0);
  EXPECT_FALSE(parse_time("-1"));
  EXPECT_FALSE(parse_time("1x"));
  EXPECT_FALSE(parse_time("m"));
  EXPECT_FALSE(parse_time(""));
  EXPECT_FALSE(parse_time("9999999999999999999"));  // no overflow
  EXPECT_FALSE(parse_time("53w"));                  // over a year
}

TEST(SshConfig, HostBlocksAndFirstValueWins) {
  FakeWorld w;
  w.files["/cfg"] =
      "Port 2200\n"
      "Host foo bar\n  User first\n  Port 9\n"
      "Host * !foo\n  User negated\n"
      "Host *\n  User second\n  IdentityFile /a\n  IdentityFile /b\n";
  auto r = evaluate(w);
  ASSERT_TRUE(r.status) << r.status.error().message();
  EXPECT_EQ(r.first("port"), "2200");
  EXPECT_EQ(r.first("user"), "first");
  EXPECT_EQ(r.settings.all("identityfile").size(), 2u);
  EXPECT_EQ(r.settings.first("user")->origin.line, 3);
  auto other = evaluate(w, "baz");
  EXPECT_EQ(other.first("user"), "negated");
}

TEST(SshConfig, CommandLineSettingsWinAndCountForMatch) {
  FakeWorld w;
  w.files["/cfg"] = "Match user cli\n  Port 2024\nUser cfg\n";
  Settings cli;
  cli.add({"user", {"cli"}, {"command-line", 0}});
  auto r = evaluate(w, "foo", cli);
  ASSERT_TRUE(r.status);
  EXPECT_EQ(r.first("user"), "cli");
  EXPECT_EQ(r.first("port"), "2024");
}

TEST(SshConfig, MatchCriteria) {
  FakeWorld w;
  w.files["/cfg"] =
      "Host foo\n  HostName Real.Example\n"
      "Match host real.example originalhost foo localuser me\n  Port 1001\n"
      "Match user me\n  User matched-local-user\n"
      "Match !host real.example\n  Port 1\n"
      "Match all\n  Compression yes\n";
  auto r = evaluate(w);
  ASSERT_TRUE(r.status) << r.status.error().message();
  EXPECT_EQ(r.first("port"), "1001");
  EXPECT_EQ(r.first("user"), "matched-local-user");
  EXPECT_EQ(r.first("compression"), "yes");
}

TEST(SshConfig, MatchErrorsNameTheLine) {
  FakeWorld w;
  w.files["/cfg"] = "Port 1\nMatch host\n";
  EXPECT_EQ(error_of(w), "/cfg line 2: Missing Match criteria for host");
  w.files["/cfg"] = "Match color blue\n";
  EXPECT_EQ(error_of(w), "/cfg line 1: Unsupported Match attribute color");
  w.files["/cfg"] = "Match all host foo\n";
  EXPECT_EQ(error_of(w), "/cfg line 1: 'all' cannot be combined with other Match attributes");
  w.files["/cfg"] = "\n\nMatch !final\n  Port x\n";
  EXPECT_EQ(error_of(w), "/cfg line 4: Bad port 'x'.");
}

TEST(SshConfig, MatchExecIsRefusedUnlessAllowed) {
  FakeWorld w;
  w.files["/cfg"] = "Host nomatch\nMatch host nomatch exec \"test %h = %n\"\n  Port 1\n";
  // Refused on sight, even where ssh would not reach it: nothing runs.
  EXPECT_EQ(error_of(w),
            "/cfg line 2: Match exec refused: parley runs no command from a configuration file "
            "unless started with --allow-match-exec");
  w.allow_exec = true;
  w.files["/cfg"] = "Match exec \"test %h = %n -a %r = me -a %u = me -a %L = box\"\n  Port 7\n";
  auto r = evaluate(w);
  ASSERT_TRUE(r.status) << r.status.error().message();
  EXPECT_EQ(r.first("port"), "7");
  EXPECT_EQ(w.commands,
            std::vector<std::string>{"test foo = foo -a me = me -a me = me -a box = box"});
  w.exec_status = 1;
  w.commands.clear();
  w.files["/cfg"] = "Match exec false\n  Port 7\nMatch host nomatch exec skipped\n";
  r = evaluate(w);
  EXPECT_EQ(r.first("port"), "");
  EXPECT_EQ(w.commands, std::vector<std::string>{"false"});  // a failed criterion skips exec
}

TEST(SshConfig, FinalPassRereadsWithTheResolvedName) {
  FakeWorld w;
  w.files["/cfg"] =
      "Host foo\n  HostName Bar.Example\n"
      "Host bar.example\n  User via-final\n"
      "Match canonical\n  Port 4\n"
      "Match final\n  IdentitiesOnly yes\n";
  auto r = evaluate(w);
  ASSERT_TRUE(r.status);
  EXPECT_EQ(r.first("user"), "via-final");
  EXPECT_EQ(r.first("port"), "4");
  EXPECT_EQ(r.first("identitiesonly"), "yes");
  w.files["/cfg"] = "Match canonical\n  Port 4\n";  // no "final": one pass only
  EXPECT_EQ(evaluate(w).first("port"), "");
  EXPECT_EQ(*resolved_host(r.settings, context()), "bar.example");
}

TEST(SshConfig, IncludeRelativeGlobbedInOrderKeepingTheBlock) {
  FakeWorld w;
  w.files["/cfg"] =
      "Host foo\n  Include conf.d/*.conf\n  Port 3700\n"
      "Host other\n  Include /etc/never\n";
  w.files["/home/me/.ssh/conf.d/b.conf"] = "User bee\n";
  w.files["/home/me/.ssh/conf.d/a.conf"] = "User ay\nHost zzz\n  Port 1\n";
  w.files["/etc/never"] = "User never\nHost *\n  Port 2\n";
  auto r = evaluate(w);
  ASSERT_TRUE(r.status) << r.status.error().message();
  EXPECT_EQ(r.first("user"), "ay");
  EXPECT_EQ(r.first("port"), "3700");  // the included Host zzz did not switch Host foo off
  // Included files are checked for ownership and mode, as ssh checks them; the
  // file in the block that does not apply is parsed but contributes nothing.
  EXPECT_EQ(w.permission_checks.back(), (std::pair<std::string, bool>{"/etc/never", true}));
}

TEST(SshConfig, IncludeFromTheSystemFileIsUnderEtcSsh) {
  FakeWorld w;
  w.files["/etc/ssh/ssh_config"] = "Include ssh_config.d/*.conf\n";
  w.files["/etc/ssh/ssh_config.d/x.conf"] = "Port 5\n";
  Settings s;
  ASSERT_TRUE(apply({{"/etc/ssh/ssh_config", Scope::system}}, context(), w.bind(), s));
  EXPECT_EQ(s.first("port")->args.front(), "5");
  w.files["/etc/ssh/ssh_config"] = "Include ~/x\n";
  EXPECT_EQ(
      apply({{"/etc/ssh/ssh_config", Scope::system}}, context(), w.bind(), s).error().message(),
      "/etc/ssh/ssh_config line 1: bad include path ~/x.");
}

TEST(SshConfig, UnknownOptionsNameFileAndLineUnlessIgnored) {
  FakeWorld w;
  w.files["/cfg"] = "Include /inc\n";
  w.files["/inc"] = "\n\nHost other\n  Bogus 1\n";
  EXPECT_EQ(error_of(w), "/inc line 4: Bad configuration option: bogus");
  w.files["/inc"] = "IgnoreUnknown bog*,Other\nBogus 1\nother x\nPort 2\n";
  auto r = evaluate(w);
  ASSERT_TRUE(r.status) << r.status.error().message();
  EXPECT_EQ(r.first("port"), "2");
  w.files["/cfg"] = "Port 22 23\n";
  EXPECT_EQ(error_of(w), "/cfg line 1: keyword port extra arguments at end of line");
  w.files["/cfg"] = "Host \"\"\n";
  EXPECT_EQ(error_of(w), "/cfg line 1: keyword host empty argument");
}

TEST(SshConfig, MissingFilesAndRequiredOnes) {
  FakeWorld w;
  Settings s;
  EXPECT_TRUE(apply({{"/nope", Scope::user}}, context(), w.bind(), s));
  EXPECT_EQ(apply({{"/nope", Scope::user}}, context(), w.bind(), s, true).error().message(),
            "/nope line 0: Can't open user config file: not found");
}

TEST(SshConfig, UnopenableFilesAreSkippedOnlyAtTheTop) {
  // As ssh: an unreadable ~/.ssh/config or system file is as good as missing,
  // but not a -F file, an included file, or a file with bad permissions.
  Files files;
  files.read = [](const std::string& path, bool) -> Files::ReadResult {
    if (path == "/bad-mode")
      return std::unexpected(ReadError{"Bad owner or permissions on /bad-mode"});
    if (path == "/top") return std::string("Include /locked\n");
    return std::unexpected(ReadError{"Can't open " + path + ": Permission denied", true});
  };
  files.glob = [](const std::string& p) -> Files::GlobResult {
    return std::vector<std::string>{p};
  };
  Settings s;
  EXPECT_TRUE(apply({{"/locked", Scope::user, true}}, context(), files, s));
  EXPECT_EQ(apply({{"/locked", Scope::user}}, context(), files, s, true).error().message(),
            "/locked line 0: Can't open /locked: Permission denied");
  EXPECT_EQ(apply({{"/top", Scope::user}}, context(), files, s).error().message(),
            "/top line 1: Include /locked: Can't open /locked: Permission denied");
  EXPECT_EQ(apply({{"/bad-mode", Scope::user, true}}, context(), files, s).error().message(),
            "/bad-mode line 0: Bad owner or permissions on /bad-mode");
}

TEST(SshConfigHostile, IncludeRecursionIsBounded) {
  FakeWorld w;
  w.files["/cfg"] = "Include /cfg\n";
  EXPECT_EQ(error_of(w), "/cfg line 1: Include /cfg: Too many recursive configuration includes");
  EXPECT_EQ(w.reads.size(), static_cast<std::size_t>(max_include_depth + 1));
  // Fan-out within the depth bound: 30 files each including 30 others (931 reads).
  FakeWorld fan;
  fan.files["/cfg"] = "Include /f/*\n";
  for (int i = 0; i < 30; ++i) {
    fan.files["/f/" + std::to_string(i)] = "Include /g/*\n";
    fan.files["/g/" + std::to_string(i)] = "Port 1\n";
  }
  const std::string message = error_of(fan);
  EXPECT_NE(message.find("too many configuration files read"), std::string::npos) << message;
  EXPECT_LE(fan.reads.size(), max_files_read);
}

TEST(SshConfigHostile, AllFilesTogetherAreBounded) {
  // 20 files of almost 1 MiB each, every one under the per-file bound.
  FakeWorld w;
  w.files["/cfg"] = "Include /big/*\n";
  for (int i = 0; i < 20; ++i)
    w.files["/big/" + std::to_string(i)] = std::string(max_file_size - 10, '#');
  EXPECT_EQ(error_of(w),
            "/cfg line 1: Include /big/16: configuration files larger than 8388608 bytes together");
}

TEST(SshConfigHostile, LongLinesHugeFilesAndBadQuoting) {
  FakeWorld w;
  w.files["/cfg"] = "User " + std::string(200000, 'u') + "\nPort 3\n";
  auto r = evaluate(w);
  ASSERT_TRUE(r.status);
  EXPECT_EQ(r.first("user").size(), 200000u);
  w.files["/cfg"] = "Host " + std::string(100000, '*') + "x\n  Port 4\n";
  EXPECT_TRUE(evaluate(w).status);
  w.files["/cfg"] = std::string(max_file_size + 1, '#');
  EXPECT_EQ(error_of(w), "/cfg line 0: file larger than 1048576 bytes");
  w.files["/cfg"] = "Port 1\nUser \"a\\\"\n";
  EXPECT_EQ(error_of(w), "/cfg line 2: invalid quotes");
  w.files["/cfg"] = std::string("User a\0b\nPort \xff\n", 15);
  EXPECT_EQ(error_of(w), "/cfg line 2: Bad port '\xff'.");
}

TEST(SshConfig, CommandLineOption) {
  auto s = command_line_option("ChallengeResponseAuthentication no");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->keyword, "kbdinteractiveauthentication");
  EXPECT_EQ(command_line_option("Include /x").error().message(),
            "command-line line 0: include directive not supported as a command-line option");
  EXPECT_EQ(kind_of("ProxyJump"), Kind::read);
  EXPECT_EQ(kind_of("LocalForward"), Kind::read);
  EXPECT_EQ(kind_of("LocalCommand"), Kind::unsupported);
  EXPECT_EQ(kind_of("ServerAliveInterval"), Kind::read);
  EXPECT_EQ(kind_of("TCPKeepAlive"), Kind::read);
  EXPECT_EQ(kind_of("VisualHostKey"), Kind::ignored);
  EXPECT_EQ(kind_of("HostName"), Kind::read);
  EXPECT_EQ(kind_of("Nonsense"), Kind::unknown);
  EXPECT_TRUE(accumulates("identityfile"));
  EXPECT_FALSE(accumulates("setenv"));
}

}  // namespace
}  // namespace parley::client::ssh_config

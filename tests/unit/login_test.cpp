// The login library: PermitRootLogin, why an account may not log in, and
// spawn() (pipes, cwd fallback, errors from the child, dropping to another uid).
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <string>

#include "parley/login/account.hpp"
#include "parley/login/session_start.hpp"
#include "parley/login/spawn.hpp"
#include "parley/wire/unique_fd.hpp"

namespace parley::login {
namespace {

TEST(RootLogin, ParsesOpenSshsWords) {
  EXPECT_EQ(parse_root_login("no"), RootLogin::no);
  EXPECT_EQ(parse_root_login("prohibit-password"), RootLogin::prohibit_password);
  EXPECT_EQ(parse_root_login("without-password"), RootLogin::prohibit_password);
  EXPECT_EQ(parse_root_login("yes"), RootLogin::yes);
  EXPECT_FALSE(parse_root_login("forced-commands-only"));  // not supported: refused, not guessed
  EXPECT_FALSE(parse_root_login("Yes"));
}

TEST(RootLogin, OnlyUidZeroIsRestricted) {
  for (auto rule : {RootLogin::no, RootLogin::prohibit_password, RootLogin::yes})
    for (auto method : {"publickey", "password", "keyboard-interactive"})
      EXPECT_TRUE(root_login_allowed(rule, 1000, method));
  EXPECT_TRUE(root_login_allowed(RootLogin::yes, 0, "password"));
  EXPECT_TRUE(root_login_allowed(RootLogin::prohibit_password, 0, "publickey"));
  EXPECT_FALSE(root_login_allowed(RootLogin::prohibit_password, 0, "password"));
  EXPECT_FALSE(root_login_allowed(RootLogin::prohibit_password, 0, "keyboard-interactive"));
  EXPECT_FALSE(root_login_allowed(RootLogin::no, 0, "publickey"));
}

Account with_shell(std::string shell) {
  Account a;
  a.name = "parley-no-such-user-for-shadow";  // no shadow entry: only the shell counts
  a.shell = std::move(shell);
  return a;
}

TEST(LoginRefusal, ShellsThatDoNotExistOrRefuseLoginsAreRefused) {
  EXPECT_FALSE(login_refusal(with_shell("/bin/sh"), days_since_epoch()));
  EXPECT_EQ(login_refusal(with_shell("/nonexistent/shell"), days_since_epoch()),
            "shell /nonexistent/shell does not exist");
  EXPECT_EQ(login_refusal(with_shell("/etc/passwd"), days_since_epoch()),
            "shell /etc/passwd is not executable");
  EXPECT_EQ(login_refusal(with_shell("/usr/sbin/nologin"), days_since_epoch()),
            "shell /usr/sbin/nologin refuses logins");
  EXPECT_EQ(login_refusal(with_shell("/bin/false"), days_since_epoch()),
            "shell /bin/false refuses logins");
}

TEST(FindAccount, ResolvesRootAndKnowsNoSuchUser) {
  auto root = find_account("root");
  ASSERT_TRUE(root && *root);
  EXPECT_EQ((*root)->uid, 0u);
  EXPECT_FALSE((*root)->home.empty());
  auto none = find_account("parley-no-such-user-xyz");
  ASSERT_TRUE(none);
  EXPECT_FALSE(*none);
  auto empty = find_account("");
  ASSERT_TRUE(empty);
  EXPECT_FALSE(*empty);
}

/// Runs `argv` through spawn() with stdout on a pipe; returns (exit status, output).
std::pair<int, std::string> run(SpawnSpec spec) {
  int out[2];
  EXPECT_EQ(::pipe2(out, O_CLOEXEC), 0);
  UniqueFd r(out[0]), w(out[1]);
  UniqueFd null(::open("/dev/null", O_RDWR | O_CLOEXEC));
  spec.stdin_fd = null.get();
  spec.stdout_fd = w.get();
  spec.stderr_fd = w.get();
  auto pid = spawn(spec);
  w.reset();
  if (!pid) return {-1, pid.error()};
  std::string text;
  char buf[256];
  ssize_t n;
  while ((n = ::read(r.get(), buf, sizeof buf)) > 0) text.append(buf, static_cast<std::size_t>(n));
  int status = 0;
  ::waitpid(*pid, &status, 0);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), text};
}

TEST(Assignments, PamsEnvironmentEntriesBecomeNamesAndValues) {
  using Pairs = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(assignments({"LANG=C.UTF-8", "EMPTY=", "EQ=a=b"}),
            (Pairs{{"LANG", "C.UTF-8"}, {"EMPTY", ""}, {"EQ", "a=b"}}));
  EXPECT_EQ(assignments({"NOVALUE", "=nameless", "OK=1"}), (Pairs{{"OK", "1"}})) << "nothing named: left out";
}

TEST(Spawn, RunsInTheDirectoryWithTheEnvironmentAndOnlyDescriptorsZeroToTwo) {
  SpawnSpec spec;
  spec.program = "/bin/sh";
  spec.argv = {"sh", "-c", "pwd; echo \"$GREETING\"; ls /proc/self/fd | wc -l; exit 7"};
  spec.env = {"GREETING=hello"};
  spec.cwd = "/usr";
  auto [status, out] = run(spec);
  EXPECT_EQ(status, 7);
  // 0, 1, 2 and the directory ls reads: nothing of ours leaks in.
  EXPECT_EQ(out, "/usr\nhello\n4\n");
}

TEST(Spawn, AHomeThatCannotBeEnteredFallsBackToRootWithSshdsMessage) {
  SpawnSpec spec;
  spec.program = "/bin/sh";
  spec.argv = {"sh", "-c", "pwd"};
  spec.cwd = "/nonexistent/home";
  auto [status, out] = run(spec);
  EXPECT_EQ(status, 0);
  EXPECT_EQ(out, "Could not chdir to home directory /nonexistent/home\n/\n");
}

TEST(Spawn, AProgramThatCannotRunIsAnErrorNotAChild) {
  SpawnSpec spec;
  spec.program = "/nonexistent/program";
  spec.argv = {"program"};
  auto [status, out] = run(spec);
  EXPECT_EQ(status, -1);
  EXPECT_EQ(out, "cannot exec: No such file or directory");
}

TEST(Spawn, AsRootTheChildTakesTheAccountsCredentialsForGood) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (CI runs as root)";
  auto found = find_account("nobody");
  ASSERT_TRUE(found && *found);
  auto nobody = with_groups(**found);
  ASSERT_TRUE(nobody) << nobody.error();
  EXPECT_FALSE(nobody->groups.empty());  // at least its primary group
  SpawnSpec spec;
  spec.program = "/bin/sh";
  // id, then an attempt to get root back (su/sudo are not there to help: a raw setuid).
  spec.argv = {"sh", "-c", "id -u; id -g; id -G; cat /etc/shadow >/dev/null 2>&1; echo shadow=$?"};
  spec.cwd = "/";
  spec.as = Credentials{nobody->uid, nobody->gid, nobody->groups};
  auto [status, out] = run(spec);
  EXPECT_EQ(status, 0);
  const std::string uid = std::to_string(nobody->uid), gid = std::to_string(nobody->gid);
  EXPECT_EQ(out, uid + "\n" + gid + "\n" + gid + "\nshadow=1\n");
}

}  // namespace
}  // namespace parley::login

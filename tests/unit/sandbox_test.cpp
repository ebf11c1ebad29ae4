// The network process's sandbox: a Plan's checks, the empty directory's checks,
// not_root as an ordinary user, and, as root (CI), a confined child's identity,
// root directory, NoNewPrivs and seccomp mode as /proc shows them, and the
// outbound_connect opt-in. tests/acceptance/sandbox_probe_test.py attempts the
// forbidden things themselves.
#include "parley/sandbox/sandbox.hpp"

#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <optional>
#include <string>
#include <thread>

#include "confined_child.hpp"
#include "parley/wire/unique_fd.hpp"

namespace parley::sandbox {
namespace {

namespace fs = std::filesystem;
using test::ChildOutcome;
using test::run_confined;

TEST(SandboxPlan, TheDefaultPlanIsValid) {
  Plan plan;
  EXPECT_EQ(plan.account, "parleyd");
  EXPECT_EQ(plan.empty_dir, "/run/parleyd/empty");
  EXPECT_FALSE(plan.allow.outbound_connect);
  EXPECT_TRUE(validate(plan));
}

// validate()'s verdict on the default plan changed by `change`.
template <class Change>
std::optional<SandboxError> refusal_of(Change change) {
  Plan plan;
  change(plan);
  auto valid = validate(plan);
  return valid ? std::nullopt : std::optional(valid.error().error);
}

TEST(SandboxPlan, OddAccountsAndDirectoriesAreRefused) {
  for (const char* account : {"", "a:b", "a/b", "-x", "a\nb"})
    EXPECT_EQ(refusal_of([&](Plan& p) { p.account = account; }), SandboxError::invalid_plan)
        << account;
  for (const char* dir : {"run/parleyd/empty", "/", "", "/run/../etc", "/run/./x"})
    EXPECT_EQ(refusal_of([&](Plan& p) { p.empty_dir = dir; }), SandboxError::invalid_plan) << dir;
  EXPECT_EQ(refusal_of([](Plan& p) { p.account = "parley-session-test"; }), std::nullopt);
}

TEST(SandboxError, NamesTheStepAndTheErrno) {
  EXPECT_EQ(to_string(SandboxError::setresuid), "setresuid");
  EXPECT_EQ(to_string(Failure{SandboxError::chroot, EPERM}), "chroot: Operation not permitted");
  EXPECT_EQ(to_string(Failure{SandboxError::not_root}), "not_root");
}

// A fresh temporary directory, removed at the end, for tests that need root (for
// a root-owned directory): skipped as an ordinary user (CI runs as root).
class EmptyDir : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "a root-owned directory needs root (CI runs as root)";
    char tmpl[] = "/tmp/parley-sandbox-XXXXXX";
    ASSERT_TRUE(::mkdtemp(tmpl));
    base_ = tmpl;
    ::chmod(base_.c_str(), 0755);
  }
  void TearDown() override {
    if (!base_.empty()) fs::remove_all(base_);
  }
  SandboxError refusal(const fs::path& dir) {
    auto opened = open_empty_dir(dir);
    return opened ? SandboxError{} : opened.error().error;
  }
  fs::path base_;
};

TEST_F(EmptyDir, IsCreatedRootOwned0755WithItsParents) {
  ::umask(077);  // the mode must not depend on it
  auto dir = base_ / "run" / "empty";
  auto opened = open_empty_dir(dir);
  ::umask(022);
  ASSERT_TRUE(opened) << to_string(opened.error());
  for (const auto& p : {base_ / "run", dir}) {
    struct stat st {};
    ASSERT_EQ(::stat(p.c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, 0u);
    EXPECT_EQ(st.st_mode & 07777, 0755u) << p;
  }
}

TEST_F(EmptyDir, RefusesAGroupOrWorldWritableDirectory) {
  auto dir = base_ / "empty";
  ASSERT_TRUE(open_empty_dir(dir));
  ::chmod(dir.c_str(), 0775);
  EXPECT_EQ(refusal(dir), SandboxError::empty_dir_unsafe);
  ::chmod(dir.c_str(), 0757);
  EXPECT_EQ(refusal(dir), SandboxError::empty_dir_unsafe);
  ::chmod(dir.c_str(), 0755);
  EXPECT_TRUE(open_empty_dir(dir));
}

TEST_F(EmptyDir, RefusesADirectoryNotOwnedByRoot) {
  auto dir = base_ / "empty";
  ASSERT_TRUE(open_empty_dir(dir));
  ASSERT_EQ(::chown(dir.c_str(), 65534, 65534), 0);
  EXPECT_EQ(refusal(dir), SandboxError::empty_dir_unsafe);
}

TEST_F(EmptyDir, RefusesADirectoryWithSomethingInside) {
  auto dir = base_ / "empty";
  ASSERT_TRUE(open_empty_dir(dir));
  std::ofstream(dir / ".hidden") << "x";
  EXPECT_EQ(refusal(dir), SandboxError::empty_dir_not_empty);
}

TEST_F(EmptyDir, RefusesASymlinkAndAFile) {
  auto dir = base_ / "empty";
  ASSERT_TRUE(open_empty_dir(dir));
  fs::create_directory_symlink(dir, base_ / "link");
  auto opened = open_empty_dir(base_ / "link");
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().error, SandboxError::empty_dir_open);
  EXPECT_EQ(opened.error().sys_errno, ENOTDIR);  // O_NOFOLLOW with O_DIRECTORY on a link
  std::ofstream(base_ / "file") << "x";
  EXPECT_EQ(refusal(base_ / "file"), SandboxError::empty_dir_open);
}

// As an ordinary user confine() refuses before changing anything: the child
// (dropped to nobody first when the test runs as root) still sees the real root
// directory afterwards.
TEST(Confine, AsAnOrdinaryUserIsNotRootAndChangesNothing) {
  int report[2];
  ASSERT_EQ(::pipe(report), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (::geteuid() == 0 &&
        (::setgroups(0, nullptr) != 0 || ::setresgid(65534, 65534, 65534) != 0 ||
         ::setresuid(65534, 65534, 65534) != 0))
      ::_exit(3);
    Plan plan;
    plan.empty_dir = "/tmp/parley-sandbox-never-made";
    auto confined = confine(plan);
    std::string text = confined ? "confined" : to_string(confined.error());
    struct stat st {};
    text += ::stat("/etc/passwd", &st) == 0 ? " /etc/passwd" : " no /etc/passwd";
    text += ::stat("/tmp/parley-sandbox-never-made", &st) == 0 ? " made" : "";
    (void)!::write(report[1], text.data(), text.size());
    ::_exit(0);
  }
  ::close(report[1]);
  char buf[256];
  ssize_t n = ::read(report[0], buf, sizeof buf);
  ::close(report[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(std::string(buf, n > 0 ? static_cast<size_t>(n) : 0), "not_root /etc/passwd");
}

// What confine() needs as root: the parleyd account (scripts/install-deps.sh).
struct Account {
  uid_t uid;
  gid_t gid;
};
Account parleyd_account() {
  const passwd* pw = ::getpwnam("parleyd");
  if (!pw) {
    ADD_FAILURE() << "no parleyd account: run scripts/install-deps.sh";
    return {0, 0};
  }
  return {pw->pw_uid, pw->pw_gid};
}

class ConfineAsRoot : public EmptyDir {
 protected:
  void SetUp() override {
    if (IsSkipped()) return;
    EmptyDir::SetUp();
    plan_.empty_dir = base_ / "empty";
    account_ = parleyd_account();
  }
  Plan plan_;
  Account account_{};
};

std::string status_field(pid_t pid, const std::string& name) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind(name + ":", 0) == 0) {
      std::string value = line.substr(name.size() + 1);
      value.erase(0, value.find_first_not_of(" \t"));
      return value;
    }
  return "";
}

TEST_F(ConfineAsRoot, TheChildRunsAsTheAccountInTheEmptyRootUnderSeccomp) {
  int go[2];
  ASSERT_EQ(::pipe(go), 0);
  std::string uid, gid, groups, no_new_privs, seccomp, root;
  auto outcome = run_confined(
      plan_,
      [&] {
        char c;
        return ::read(go[0], &c, 1) == 1 ? 0 : 1;
      },
      [&](pid_t pid) {
        uid = status_field(pid, "Uid");
        gid = status_field(pid, "Gid");
        groups = status_field(pid, "Groups");
        no_new_privs = status_field(pid, "NoNewPrivs");
        seccomp = status_field(pid, "Seccomp");
        root = fs::read_symlink("/proc/" + std::to_string(pid) + "/root");
        (void)!::write(go[1], "g", 1);
      });
  ::close(go[0]);
  ::close(go[1]);
  ASSERT_TRUE(outcome.confined) << outcome.confine_error;
  EXPECT_EQ(outcome.exit_code, 0);
  const std::string u = std::to_string(account_.uid), g = std::to_string(account_.gid);
  EXPECT_EQ(uid, u + "\t" + u + "\t" + u + "\t" + u);
  EXPECT_EQ(gid, g + "\t" + g + "\t" + g + "\t" + g);
  EXPECT_EQ(groups, "");
  EXPECT_EQ(no_new_privs, "1");
  EXPECT_EQ(seccomp, "2");  // SECCOMP_MODE_FILTER
  EXPECT_EQ(root, plan_.empty_dir);
}

TEST_F(ConfineAsRoot, AnUnknownAccountOrARootAccountIsRefused) {
  plan_.account = "parley-no-such-account";
  auto outcome = run_confined(plan_, [] { return 0; });
  EXPECT_EQ(outcome.confine_error, "no_such_account");
  plan_.account = "root";
  outcome = run_confined(plan_, [] { return 0; });
  EXPECT_EQ(outcome.confine_error, "account_is_root");
}

TEST_F(ConfineAsRoot, OutboundConnectIsOffByDefaultAndTcpOnlyWhenOptedIn) {
  auto [fd, port] = test::loopback_listener();
  ASSERT_GE(fd.get(), 0);
  auto connect = [port = port] { return test::connect_loopback(port); };
  auto outcome = run_confined(plan_, connect);
  ASSERT_TRUE(outcome.confined) << outcome.confine_error;
  EXPECT_TRUE(outcome.killed_by_sigsys());

  plan_.allow.outbound_connect = true;
  outcome = run_confined(plan_, connect);
  ASSERT_TRUE(outcome.confined) << outcome.confine_error;
  EXPECT_EQ(outcome.exit_code, 0) << outcome.signal;
  outcome =
      run_confined(plan_, [] { return test::attempt_result(::socket(AF_UNIX, SOCK_STREAM, 0)); });
  EXPECT_TRUE(outcome.killed_by_sigsys());
  outcome =
      run_confined(plan_, [] { return test::attempt_result(::socket(AF_INET, SOCK_DGRAM, 0)); });
  EXPECT_TRUE(outcome.killed_by_sigsys());
}

// The filter is synchronised to every thread (TSYNC): a thread that was running
// before confine() (as Asio's pool may be) is filtered too, not only the caller.
TEST_F(ConfineAsRoot, AThreadStartedBeforeConfineIsFilteredToo) {
  std::promise<void> go;
  std::thread earlier;
  int earlier_result = -1;
  auto outcome = run_confined(
      plan_,
      [&] {
        go.set_value();
        earlier.join();
        return earlier_result;
      },
      [](pid_t) {},
      [&] {
        earlier = std::thread([&, started = go.get_future()]() mutable {
          started.wait();
          earlier_result = test::attempt_result(::socket(AF_UNIX, SOCK_STREAM, 0));
        });
      });
  ASSERT_TRUE(outcome.confined) << outcome.confine_error;
  EXPECT_TRUE(outcome.killed_by_sigsys()) << "exit " << outcome.exit_code;
}

// Opening or looking at a file is refused, not killed: glibc does it on its
// own (malloc trimming a thread's heap reads /proc/sys/vm/overcommit_memory)
// and copes with the refusal; the process must live on.
TEST_F(ConfineAsRoot, FilesAreRefusedNotKilled) {
  for (const char* path : {"/proc/sys/vm/overcommit_memory", "/etc/shadow", "/"}) {
    auto outcome = run_confined(plan_, [path] { return test::attempt_result(::open(path, O_RDONLY | O_CLOEXEC)); });
    ASSERT_TRUE(outcome.confined) << outcome.confine_error;
    EXPECT_EQ(outcome.exit_code, EPERM) << path << (outcome.killed_by_sigsys() ? ": killed" : "");
  }
  struct stat st {};
  auto outcome = run_confined(plan_, [&st] { return test::attempt_result(::stat("/etc/shadow", &st)); });
  EXPECT_EQ(outcome.exit_code, EPERM);
  outcome = run_confined(plan_, [] { return test::attempt_result(::access("/etc/shadow", R_OK)); });
  EXPECT_EQ(outcome.exit_code, EPERM);
}

TEST_F(ConfineAsRoot, Clone3IsAnsweredEnosysAndForkIsKilled) {
  auto outcome =
      run_confined(plan_, [] { return test::attempt_result(::syscall(435, nullptr, 0)); });
  EXPECT_EQ(outcome.exit_code, ENOSYS);
  outcome = run_confined(plan_, [] {
    pid_t pid = ::fork();
    if (pid == 0) ::_exit(0);
    return test::attempt_result(pid);
  });
  EXPECT_TRUE(outcome.killed_by_sigsys());
}

// The monitor hands the network process a session's terminal master: it may
// set the window size on it (window-change), and nothing else terminal-wise.
TEST_F(ConfineAsRoot, WindowSizeOnAHandedTerminalIsAllowedTypingIntoItIsKilled) {
  UniqueFd master(::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
  ASSERT_GE(master.get(), 0);
  ASSERT_EQ(::grantpt(master.get()), 0);
  ASSERT_EQ(::unlockpt(master.get()), 0);
  const int fd = master.get();
  auto outcome = run_confined(plan_, [fd] {
    winsize ws{};
    ws.ws_row = 50;
    ws.ws_col = 132;
    return test::attempt_result(::ioctl(fd, TIOCSWINSZ, &ws));
  });
  ASSERT_TRUE(outcome.confined) << outcome.confine_error;
  EXPECT_EQ(outcome.exit_code, 0) << outcome.signal;
  winsize seen{};
  ASSERT_EQ(::ioctl(fd, TIOCGWINSZ, &seen), 0);
  EXPECT_EQ(seen.ws_row, 50);
  EXPECT_EQ(seen.ws_col, 132);
  outcome = run_confined(plan_, [fd] {
    char c = 'x';
    return test::attempt_result(::ioctl(fd, TIOCSTI, &c));
  });
  EXPECT_TRUE(outcome.killed_by_sigsys());
}

}  // namespace
}  // namespace parley::sandbox

#include "parley/userauth/authorized_keys.hpp"
#include "parley/login/authorized_keys_file.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "transport_pair.hpp"

namespace parley::userauth {
namespace {

using login::KeyFileOwner;
using login::max_authorized_keys_bytes;

/// What parleyd makes of a user's file: read as StrictModes asks (login), then
/// parsed (userauth), a refusal being the one problem.
AuthorizedKeys load_authorized_keys(const std::filesystem::path& path, const KeyFileOwner& owner) {
  auto text = login::read_authorized_keys_file(path, owner);
  if (!text) return {{}, {text.error()}};
  return parse_authorized_keys(*text, path.string());
}

std::string pub(const std::string& type) {
  return test::read_text_file(std::filesystem::path(PARLEY_TEST_DATA_DIR) / ("test_" + type + ".pub"));
}

TEST(AuthorizedKeys, ReadsKeysAsSshKeygenWritesThem) {
  std::string text = "# keys\n\n" + pub("ed25519") + pub("ecdsa") + "  " + pub("rsa");
  AuthorizedKeys k = parse_authorized_keys(text);
  EXPECT_TRUE(k.problems.empty()) << k.problems.front();
  ASSERT_EQ(k.keys.size(), 3u);
  EXPECT_EQ(k.keys[0], test::test_host_key("ed25519").public_key());
  EXPECT_EQ(k.keys[1], test::test_host_key("ecdsa").public_key());
  EXPECT_EQ(k.keys[2], test::test_host_key("rsa").public_key());
}

TEST(AuthorizedKeys, LinesWithOptionsOrGarbageAreReportedNotUsed) {
  std::string text = "restrict,command=\"true\" " + pub("ed25519") + "ssh-ed25519 AAAA-not-base64\n" +
                     "ssh-dss AAAAB3NzaC1kc3M= old\n" + pub("ecdsa");
  AuthorizedKeys k = parse_authorized_keys(text);
  ASSERT_EQ(k.keys.size(), 1u);
  EXPECT_EQ(k.keys[0], test::test_host_key("ecdsa").public_key());
  ASSERT_EQ(k.problems.size(), 3u);
  EXPECT_EQ(k.problems[0].substr(0, 2), "1:");
  EXPECT_EQ(k.problems[1].substr(0, 2), "2:");
  EXPECT_EQ(k.problems[2].substr(0, 2), "3:");
}

TEST(AuthorizedKeys, ProblemsNameTheSourceTheCallerReadTheTextFrom) {
  AuthorizedKeys k = parse_authorized_keys("# ok\nssh-dss AAAAB3NzaC1kc3M= old\n", "/home/u/.ssh/authorized_keys");
  ASSERT_EQ(k.problems.size(), 1u);
  EXPECT_EQ(k.problems[0].rfind("/home/u/.ssh/authorized_keys:2: ", 0), 0u) << k.problems[0];
}

TEST(AuthorizedKeys, MissingFileIsAProblemNotACrash) {
  AuthorizedKeys k =
      load_authorized_keys("/nonexistent/authorized_keys", KeyFileOwner{::geteuid(), {}});
  EXPECT_TRUE(k.keys.empty());
  ASSERT_EQ(k.problems.size(), 1u);
}

namespace fs = std::filesystem;

/// A user's home as sshd expects it: HOME/.ssh/authorized_keys, 0755/0700/0600,
/// owned by the user (the test's own account).
struct Home {
  test::TempDir tmp;
  fs::path home = tmp / "home";
  fs::path ssh = home / ".ssh";
  fs::path file = ssh / "authorized_keys";
  KeyFileOwner owner{::geteuid(), home};
  Home() {
    fs::create_directory(home);
    fs::create_directory(ssh);
    fs::permissions(tmp.path(), fs::perms(0755));
    fs::permissions(home, fs::perms(0755));
    fs::permissions(ssh, fs::perms(0700));
    std::ofstream(file) << pub("ed25519");
    fs::permissions(file, fs::perms(0600));
  }
  AuthorizedKeys load() const { return load_authorized_keys(file, owner); }
};

/// The load was refused with one problem containing `why`.
void expect_refused(const AuthorizedKeys& k, std::string_view why) {
  EXPECT_TRUE(k.keys.empty());
  ASSERT_EQ(k.problems.size(), 1u);
  EXPECT_NE(k.problems[0].find(why), std::string::npos) << k.problems[0];
}

TEST(AuthorizedKeysFile, ReadWithStrictModesWhenAllIsInOrder) {
  Home h;
  AuthorizedKeys k = h.load();
  EXPECT_TRUE(k.problems.empty()) << k.problems.front();
  ASSERT_EQ(k.keys.size(), 1u);
  EXPECT_EQ(k.keys[0], test::test_host_key("ed25519").public_key());
  // Above the home directory nothing is checked (as sshd): a group-writable parent is fine.
  fs::permissions(h.tmp.path(), fs::perms(0775));
  EXPECT_EQ(h.load().keys.size(), 1u);
}

TEST(AuthorizedKeysFile, GroupOrWorldWritableFileOrDirectoryUpToHomeIsRefused) {
  for (unsigned mode : {0620u, 0602u}) {
    Home h;
    fs::permissions(h.file, fs::perms(mode));
    expect_refused(h.load(), "bad ownership or modes for file");
  }
  for (unsigned mode : {0770u, 0707u}) {
    Home h;
    fs::permissions(h.ssh, fs::perms(mode));
    expect_refused(h.load(), "bad ownership or modes for directory " + h.ssh.string());
  }
  Home h;
  fs::permissions(h.home, fs::perms(0775));
  expect_refused(h.load(), "bad ownership or modes for directory " + h.home.string());
}

TEST(AuthorizedKeysFile, FileOrDirectoryOwnedBySomeoneElseIsRefused) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to give files away";
  const uid_t stranger = 54321;
  {
    Home h;
    h.owner.uid = 1000;  // the user the keys are for: root-owned files are still fine
    EXPECT_EQ(h.load().keys.size(), 1u);
    ASSERT_EQ(::chown(h.file.c_str(), stranger, static_cast<gid_t>(-1)), 0);
    expect_refused(h.load(), "bad ownership or modes for file");
  }
  {
    Home h;
    h.owner.uid = 1000;
    ASSERT_EQ(::chown(h.ssh.c_str(), stranger, static_cast<gid_t>(-1)), 0);
    expect_refused(h.load(), "bad ownership or modes for directory " + h.ssh.string());
  }
  {
    Home h;
    h.owner.uid = stranger;  // the user's own files are fine
    ASSERT_EQ(::chown(h.file.c_str(), stranger, static_cast<gid_t>(-1)), 0);
    ASSERT_EQ(::chown(h.ssh.c_str(), stranger, static_cast<gid_t>(-1)), 0);
    EXPECT_EQ(h.load().keys.size(), 1u);
  }
}

TEST(AuthorizedKeysFile, SymlinkFifoDirectoryAndOversizedFileAreRefused) {
  {
    Home h;
    fs::rename(h.file, h.ssh / "real");
    fs::create_symlink(h.ssh / "real", h.file);
    expect_refused(h.load(), "symbolic link");
  }
  {
    Home h;
    fs::remove(h.file);
    ASSERT_EQ(::mkfifo(h.file.c_str(), 0600), 0);
    // No writer ever opens the FIFO: without O_NONBLOCK this would hang.
    expect_refused(h.load(), "not a regular file");
  }
  {
    Home h;
    fs::remove(h.file);
    fs::create_directory(h.file);
    fs::permissions(h.file, fs::perms(0700));
    expect_refused(h.load(), "not a regular file");
  }
  {
    Home h;
    {
      std::ofstream out(h.file, std::ios::app);
      const std::string comment = "# " + std::string(1000, 'x') + "\n";
      for (std::size_t n = 0; n <= max_authorized_keys_bytes / comment.size(); ++n) out << comment;
    }
    expect_refused(h.load(), "larger than");
  }
}

TEST(AuthorizedKeysFile, OutsideHomeEveryDirectoryUpToRootIsChecked) {
  Home h;
  const fs::path elsewhere = h.tmp / "keys";
  fs::create_directory(elsewhere);
  fs::permissions(elsewhere, fs::perms(0755));
  fs::copy_file(h.file, elsewhere / "alice");
  fs::permissions(elsewhere / "alice", fs::perms(0600));
  EXPECT_EQ(load_authorized_keys(elsewhere / "alice", h.owner).keys.size(), 1u)
      << "the temporary directory's parents (/tmp is root's and sticky) pass";
  fs::permissions(h.tmp.path(), fs::perms(0777));
  expect_refused(load_authorized_keys(elsewhere / "alice", h.owner),
                 "bad ownership or modes for directory " + h.tmp.path().string());
}

}  // namespace
}  // namespace parley::userauth

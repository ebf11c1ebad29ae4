// Password files against the reference hasher: hashes made by mkpasswd(1)
// (Debian package whois) at test time verify with PasswordFile, wrong passwords
// and unknown users do not, and every kind of bad line or unsafe file is
// refused with the file and line, without quoting a password or hash.
#include "parley/passwd/password_file.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <expected>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace parley::passwd {
namespace {

namespace fs = std::filesystem;

// ---------------------------------------------------------------------------
// Helpers

crypto::SecretBytes secret(std::string_view s) {
  return crypto::SecretBytes(as_bytes(s));
}

/// Runs `mkpasswd -m METHOD -s` and returns the hash it prints. The password
/// goes in on stdin, never in argv where ps(1) would show it. A missing
/// mkpasswd is an error, so the tests fail rather than skip without it.
std::expected<std::string, std::string> mkpasswd(std::string_view method,
                                                 std::string_view password) {
  int in[2];
  int out[2];
  if (::pipe2(in, O_CLOEXEC) != 0) return std::unexpected("pipe2 failed");
  if (::pipe2(out, O_CLOEXEC) != 0) {
    ::close(in[0]);
    ::close(in[1]);
    return std::unexpected("pipe2 failed");
  }
  // The password is written before the child exists: it fits in the pipe
  // buffer, and with our read end still open the write cannot raise SIGPIPE.
  const bool written =
      ::write(in[1], password.data(), password.size()) == static_cast<ssize_t>(password.size());
  ::close(in[1]);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in[0], STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  std::string method_arg(method);
  std::vector<char*> argv = {const_cast<char*>("mkpasswd"), const_cast<char*>("-m"),
                             method_arg.data(), const_cast<char*>("-s"), nullptr};
  pid_t pid = -1;
  const int spawn_rc = ::posix_spawnp(&pid, "mkpasswd", &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(in[0]);
  ::close(out[1]);
  if (spawn_rc != 0) {
    ::close(out[0]);
    return std::unexpected("cannot run mkpasswd (" + std::string(std::strerror(spawn_rc)) +
                           "); install the Debian package whois");
  }

  std::string hash;
  char chunk[512];
  for (;;) {
    const ssize_t n = ::read(out[0], chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    hash.append(chunk, static_cast<std::size_t>(n));
  }
  ::close(out[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!written) return std::unexpected("could not write the password to mkpasswd");
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return std::unexpected("mkpasswd -m " + method_arg + " failed");
  }
  while (!hash.empty() && (hash.back() == '\n' || hash.back() == '\r')) hash.pop_back();
  if (hash.empty()) return std::unexpected("mkpasswd printed nothing");
  return hash;
}

/// A fresh directory under $TMPDIR, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "parley-passwd-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  fs::path operator/(std::string_view name) const { return path_ / name; }

 private:
  fs::path path_;
};

/// Writes `text` to `path` and sets exactly `mode` (whatever the umask).
void write_file(const fs::path& path, const std::string& text, fs::perms mode) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
  fs::permissions(path, mode, fs::perm_options::replace);
}

/// The error parsing `text` as "users" gives; a test failure if it parses.
PasswordFileError parse_error(const std::string& text) {
  auto file = PasswordFile::parse(text, "users");
  EXPECT_FALSE(file.has_value()) << "parsed, but should have been refused";
  if (file.has_value()) return {};
  return file.error();
}

// Passwords for the test users, and hashes made by mkpasswd for each scheme.
constexpr std::string_view alice_password = "correct horse battery staple";
constexpr std::string_view bob_password = "Tr0ub4dor&3";

struct Hashes {
  std::string yescrypt;     // alice
  std::string sha512crypt;  // bob
};

/// Hashes for alice (yescrypt) and bob (sha512crypt), or why they could not be made.
std::expected<Hashes, std::string> make_hashes() {
  auto y = mkpasswd("yescrypt", alice_password);
  if (!y) return std::unexpected(y.error());
  auto six = mkpasswd("sha512crypt", bob_password);
  if (!six) return std::unexpected(six.error());
  EXPECT_TRUE(y->starts_with("$y$"));
  EXPECT_TRUE(six->starts_with("$6$"));
  return Hashes{*y, *six};
}

// ---------------------------------------------------------------------------
// Verification

TEST(PasswordFile, AcceptsTheRightPasswordForYescryptAndSha512crypt) {
  const auto hashes = make_hashes();
  ASSERT_TRUE(hashes.has_value()) << hashes.error();
  const auto file = PasswordFile::parse(
      "alice:" + hashes->yescrypt + "\nbob:" + hashes->sha512crypt + "\n", "users");
  ASSERT_TRUE(file.has_value()) << file.error().message();
  EXPECT_TRUE(file->has_user("alice"));
  EXPECT_TRUE(file->has_user("bob"));
  EXPECT_TRUE(file->verify("alice", secret(alice_password)));
  EXPECT_TRUE(file->verify("bob", secret(bob_password)));
}

TEST(PasswordFile, AcceptsSha256cryptAndBcrypt) {
  const auto five = mkpasswd("sha256crypt", "five");
  ASSERT_TRUE(five.has_value()) << five.error();
  const auto two_b = mkpasswd("bcrypt", "blowfish");
  ASSERT_TRUE(two_b.has_value()) << two_b.error();
  ASSERT_TRUE(five->starts_with("$5$"));
  ASSERT_TRUE(two_b->starts_with("$2b$"));
  const auto file = PasswordFile::parse("carol:" + *five + "\ndave:" + *two_b + "\n", "users");
  ASSERT_TRUE(file.has_value()) << file.error().message();
  EXPECT_TRUE(file->verify("carol", secret("five")));
  EXPECT_TRUE(file->verify("dave", secret("blowfish")));
  EXPECT_FALSE(file->verify("carol", secret("blowfish")));
  EXPECT_FALSE(file->verify("dave", secret("five")));
}

TEST(PasswordFile, RefusesWrongPasswords) {
  const auto hashes = make_hashes();
  ASSERT_TRUE(hashes.has_value()) << hashes.error();
  const auto file = PasswordFile::parse(
      "alice:" + hashes->yescrypt + "\nbob:" + hashes->sha512crypt + "\n", "users");
  ASSERT_TRUE(file.has_value()) << file.error().message();

  const std::string right(alice_password);
  EXPECT_FALSE(file->verify("alice", secret(bob_password)));  // another user's password
  EXPECT_FALSE(file->verify("alice", secret("")));
  EXPECT_FALSE(file->verify("alice", secret(right.substr(0, right.size() - 1))));
  EXPECT_FALSE(file->verify("alice", secret(right + "!")));
  EXPECT_FALSE(file->verify("alice", secret("CORRECT HORSE BATTERY STAPLE")));
  EXPECT_FALSE(file->verify("bob", secret(alice_password)));
  EXPECT_FALSE(file->verify("Alice", secret(alice_password)));  // user names are case-sensitive
  // crypt(3) stops at a NUL, so "right password, NUL, anything" would hash like
  // the right password; verify must not accept it.
  EXPECT_FALSE(file->verify("alice", secret(right + std::string(1, '\0') + "junk")));
  // Still accepted afterwards (verify keeps no state).
  EXPECT_TRUE(file->verify("alice", secret(alice_password)));
}

TEST(PasswordFile, RefusesUnknownUsersWhateverTheFirstEntrysScheme) {
  const auto hashes = make_hashes();
  ASSERT_TRUE(hashes.has_value()) << hashes.error();
  const auto two_b = mkpasswd("bcrypt", "blowfish");
  ASSERT_TRUE(two_b.has_value()) << two_b.error();
  // The dummy hashed for an unknown user follows the first entry's scheme; an
  // empty file falls back to yescrypt. None may accept anything.
  for (const std::string& text :
       {"alice:" + hashes->yescrypt + "\n", "bob:" + hashes->sha512crypt + "\n",
        "dave:" + *two_b + "\n", std::string("# nobody yet\n"), std::string()}) {
    const auto file = PasswordFile::parse(text, "users");
    ASSERT_TRUE(file.has_value()) << file.error().message();
    EXPECT_FALSE(file->has_user("mallory"));
    EXPECT_FALSE(file->verify("mallory", secret(alice_password)));
    EXPECT_FALSE(file->verify("mallory", secret("")));
    EXPECT_FALSE(file->verify("", secret(alice_password)));
  }
}

TEST(PasswordFile, VerifiesFromSeveralThreadsAtOnce) {
  const auto hashes = make_hashes();
  ASSERT_TRUE(hashes.has_value()) << hashes.error();
  const auto file = PasswordFile::parse(
      "alice:" + hashes->yescrypt + "\nbob:" + hashes->sha512crypt + "\n", "users");
  ASSERT_TRUE(file.has_value()) << file.error().message();
  // crypt_rn keeps its state in the caller's crypt_data, so concurrent calls
  // on one PasswordFile must not disturb each other.
  std::vector<int> results(4, -1);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < results.size(); ++i) {
    threads.emplace_back([&, i] {
      const bool even = i % 2 == 0;
      const bool right =
          file->verify(even ? "alice" : "bob", secret(even ? alice_password : bob_password));
      const bool wrong =
          file->verify(even ? "alice" : "bob", secret(even ? bob_password : alice_password));
      results[i] = right && !wrong ? 1 : 0;
    });
  }
  for (auto& t : threads) t.join();
  for (const int r : results) EXPECT_EQ(r, 1);
}

// ---------------------------------------------------------------------------
// Refused contents

TEST(PasswordFile, RefusesPlainTextNamingTheFileAndLine) {
  const auto hashes = make_hashes();
  ASSERT_TRUE(hashes.has_value()) << hashes.error();
  const auto error = parse_error("alice:" + hashes->yescrypt + "\n\nbob:hunter2\n");
  EXPECT_EQ(error.file, "users");
  EXPECT_EQ(error.line, 3u);
  EXPECT_TRUE(error.message().starts_with("users:3: ")) << error.message();
  EXPECT_NE(error.reason.find("plain text passwords are refused"), std::string::npos)
      << error.reason;
  EXPECT_EQ(error.message().find("hunter2"), std::string::npos) << "the password was quoted";

  // Also with spaces, and when it happens to look like a DES hash.
  for (const std::string password : {"my secret pass", "Password12345"}) {
    SCOPED_TRACE(password);
    const auto e = parse_error("bob:" + password + "\n");
    EXPECT_EQ(e.line, 1u);
    EXPECT_NE(e.reason.find("plain text password"), std::string::npos) << e.reason;
    EXPECT_EQ(e.message().find(password), std::string::npos) << "the password was quoted";
  }
}

TEST(PasswordFile, RefusesObsoleteSchemes) {
  // Each hashes "hunter2"; crypt(5) lists the schemes as unfit for new hashes.
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"$1$9nLOfd3c$3yVD/OIhpqOjlkHUSmF0E/", "MD5-crypt ($1$)"},
      {"8Wng6mk/xvvVQ", "DES"},
      {"_J9..abcdEFGH1234567", "DES"},  // BSDI extended DES shape
      {"$2a$05$KmYCzLmjjCaxJIKUJnG4DOSZTEv.crD3CoOLQNhGNwX0TGjgTINmW", "$2a$"},
      {"$3$$5835048ce94ad0564e29a924a03510ef", "NT hash"},
      {"$md5,rounds=5000$GUBv0xjJ$$mSwgIswdjlTY0YxV7HBVm0", "SunMD5"},
  };
  for (const auto& [hash, name] : cases) {
    SCOPED_TRACE(hash);
    const auto error = parse_error("alice:" + hash + "\n");
    EXPECT_EQ(error.line, 1u);
    EXPECT_NE(error.reason.find(name), std::string::npos) << error.reason;
    EXPECT_NE(error.reason.find("refused"), std::string::npos) << error.reason;
    EXPECT_EQ(error.message().find(hash), std::string::npos) << "the hash was quoted";
  }
}

TEST(PasswordFile, RefusesCostsThatWouldStallEveryLogin) {
  const std::string b64_53(53, 'a'), b64_86(86, 'a');
  const auto bcrypt = parse_error("alice:$2b$31$" + b64_53 + "\n");
  EXPECT_EQ(bcrypt.line, 1u);
  EXPECT_NE(bcrypt.reason.find("bcrypt cost 31 would stall every login"), std::string::npos)
      << bcrypt.reason;
  const auto sha = parse_error("alice:$6$rounds=999999999$salt$" + b64_86 + "\n");
  EXPECT_EQ(sha.line, 1u);
  EXPECT_NE(sha.reason.find("rounds 999999999 would stall every login"), std::string::npos)
      << sha.reason;
  // Strong but sane settings still load.
  EXPECT_TRUE(PasswordFile::parse("alice:$6$rounds=5000000$salt$" + b64_86 + "\n", "users").has_value());
  EXPECT_TRUE(PasswordFile::parse("alice:$2b$15$" + b64_53 + "\n", "users").has_value());
}

TEST(PasswordFile, RefusesADuplicateUser) {
  const auto hashes = make_hashes();
  ASSERT_TRUE(hashes.has_value()) << hashes.error();
  const auto error = parse_error("alice:" + hashes->yescrypt + "\nbob:" + hashes->sha512crypt +
                                 "\nalice:" + hashes->sha512crypt + "\n");
  EXPECT_EQ(error.line, 3u);
  EXPECT_EQ(error.reason, "duplicate user 'alice' (first on line 1)");
}

TEST(PasswordFile, RefusesMalformedLines) {
  const auto hashes = make_hashes();
  ASSERT_TRUE(hashes.has_value()) << hashes.error();
  const std::string& y = hashes->yescrypt;
  const std::string& six = hashes->sha512crypt;
  const std::string six_tail = six.substr(six.rfind('$'));  // "$" and the 86-character hash
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"carol", "no ':'"},
      {":" + y, "empty user name"},
      {"car ol:" + y, "outside [A-Za-z0-9._-]"},
      {" carol:" + y, "outside [A-Za-z0-9._-]"},
      {"car\x1bol:" + y, "outside [A-Za-z0-9._-]"},
      {"carol@example:" + y, "outside [A-Za-z0-9._-]"},
      {std::string(65, 'c') + ":" + y, "longer than 64"},
      {"carol:", "empty hash"},
      {"carol:" + y + ":19000:0:99999:7:::", "more than one ':'"},
      {"carol:" + y + " ", "whitespace"},
      {"carol:" + y + "\t# comment", "whitespace"},
      {"carol:" + y.substr(0, y.size() - 1), "yescrypt hash is malformed or truncated"},
      {"carol:" + y + "x", "yescrypt hash is malformed or truncated"},
      {"carol:" + six.substr(0, six.size() - 5), "sha512crypt hash is malformed or truncated"},
      {"carol:$6$rounds=999$saltsalt" + six_tail, "sha512crypt hash is malformed"},
      {"carol:$6$rounds=01000$saltsalt" + six_tail, "sha512crypt hash is malformed"},
      {"carol:$6$$" + six_tail.substr(1), "sha512crypt hash is malformed"},  // empty salt
      {"carol:$2b$03$KmYCzLmjjCaxJIKUJnG4DOSZTEv.crD3CoOLQNhGNwX0TGjgTINmW",
       "bcrypt hash is malformed"},
      {"carol:$2b$05$KmYCzLmjjCaxJIKUJnG4DOSZTEv.crD3CoOLQNhGNwX0TGjgTIN",
       "bcrypt hash is malformed"},
      {"carol:$7$CU..../....abcdefghijklmn$0123456789abcdefghijklmnopqrstuvwxyzABCDEFG",
       "unsupported hash scheme"},
      {"carol:$gy$j9T$abc$0123456789abcdefghijklmnopqrstuvwxyzABCDEFG", "unsupported hash scheme"},
      {"carol:!" + y, "locked-account marker"},
      {"carol:*", "locked-account marker"},
  };
  for (const auto& [line, reason] : cases) {
    SCOPED_TRACE(line);
    const auto error = parse_error("alice:" + y + "\n" + line + "\nbob:" + six + "\n");
    EXPECT_EQ(error.line, 2u);
    EXPECT_NE(error.reason.find(reason), std::string::npos) << error.reason;
    EXPECT_EQ(error.message().find(y.substr(y.rfind('$'))), std::string::npos)
        << "a hash was quoted";
  }
}

TEST(PasswordFile, AcceptsCommentsBlankLinesAndCrlf) {
  const auto hashes = make_hashes();
  ASSERT_TRUE(hashes.has_value()) << hashes.error();
  const std::string text =
      "# parley users\n\n   \n\t# an indented comment\nalice:" + hashes->yescrypt +
      "\r\n\n# bob:" + hashes->sha512crypt + "\nbob:" + hashes->sha512crypt;  // no final newline
  const auto file = PasswordFile::parse(text, "users");
  ASSERT_TRUE(file.has_value()) << file.error().message();
  EXPECT_TRUE(file->verify("alice", secret(alice_password)));
  EXPECT_TRUE(file->verify("bob", secret(bob_password)));
  EXPECT_FALSE(file->has_user("# bob"));

  // Comments and blank lines still count when an error names its line.
  const auto error = parse_error("# users\n\nalice:" + hashes->yescrypt + "\n# next\nbob\n");
  EXPECT_EQ(error.line, 5u);
}

TEST(PasswordFile, AcceptsUserNamesOfAllowedCharactersUpTo64) {
  const auto hashes = make_hashes();
  ASSERT_TRUE(hashes.has_value()) << hashes.error();
  const std::string longest(64, 'u');
  const auto file = PasswordFile::parse(
      "A.b_c-9:" + hashes->yescrypt + "\n" + longest + ":" + hashes->yescrypt + "\n", "users");
  ASSERT_TRUE(file.has_value()) << file.error().message();
  EXPECT_TRUE(file->verify("A.b_c-9", secret(alice_password)));
  EXPECT_TRUE(file->verify(longest, secret(alice_password)));
}

TEST(PasswordFile, ErrorMessageNamesFileAndLine) {
  EXPECT_EQ((PasswordFileError{"/etc/parley/users", 7, "empty hash"}.message()),
            "/etc/parley/users:7: empty hash");
  EXPECT_EQ((PasswordFileError{"/etc/parley/users", 0, "not a regular file"}.message()),
            "/etc/parley/users: not a regular file");
}

// ---------------------------------------------------------------------------
// Files on disk

TEST(PasswordFile, LoadsAPrivateFile) {
  const auto hashes = make_hashes();
  ASSERT_TRUE(hashes.has_value()) << hashes.error();
  TempDir dir;
  const fs::path path = dir / "users";
  for (const fs::perms mode : {fs::perms::owner_read | fs::perms::owner_write,
                               fs::perms::owner_read | fs::perms::owner_write |
                                   fs::perms::group_read | fs::perms::others_read}) {
    write_file(path, "alice:" + hashes->yescrypt + "\n", mode);
    const auto file = PasswordFile::load(path);
    ASSERT_TRUE(file.has_value()) << file.error().message();
    EXPECT_TRUE(file->verify("alice", secret(alice_password)));
    EXPECT_FALSE(file->verify("alice", secret(bob_password)));
  }
  // Errors in a loaded file carry its path.
  write_file(path, "alice:" + hashes->yescrypt + "\nbob:hunter2\n",
             fs::perms::owner_read | fs::perms::owner_write);
  const auto error = PasswordFile::load(path);
  ASSERT_FALSE(error.has_value());
  EXPECT_EQ(error.error().message().rfind(path.string() + ":2: ", 0), 0u)
      << error.error().message();
}

TEST(PasswordFile, RefusesAGroupOrWorldWritableFile) {
  const auto hashes = make_hashes();
  ASSERT_TRUE(hashes.has_value()) << hashes.error();
  TempDir dir;
  const fs::path path = dir / "users";
  const auto owner = fs::perms::owner_read | fs::perms::owner_write;
  for (const fs::perms mode :
       {owner | fs::perms::others_write, owner | fs::perms::group_write, fs::perms::all}) {
    write_file(path, "alice:" + hashes->yescrypt + "\n", mode);
    const auto file = PasswordFile::load(path);
    ASSERT_FALSE(file.has_value()) << "a writable file was loaded";
    EXPECT_EQ(file.error().file, path.string());
    EXPECT_EQ(file.error().line, 0u);
    EXPECT_NE(file.error().reason.find("group- or world-writable"), std::string::npos)
        << file.error().reason;
  }
}

TEST(PasswordFile, RefusesAMissingFileAndADirectory) {
  TempDir dir;
  const auto missing = PasswordFile::load(dir / "absent");
  ASSERT_FALSE(missing.has_value());
  EXPECT_NE(missing.error().reason.find("cannot open"), std::string::npos);
  fs::create_directory(dir / "sub");
  fs::permissions(dir / "sub", fs::perms::owner_all, fs::perm_options::replace);
  const auto directory = PasswordFile::load(dir / "sub");
  ASSERT_FALSE(directory.has_value());
  EXPECT_NE(directory.error().reason.find("not a regular file"), std::string::npos);
}

}  // namespace
}  // namespace parley::passwd

// known_hosts against files made and read by OpenSSH's own tools (ssh-keygen -H,
// ssh-keygen -F), the host-key policies, atomic appends, and HMAC-SHA1 (RFC 2202).
#include "parley/client/known_hosts.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <algorithm>
// g++ 12 reports a false maybe-uninitialized inside libstdc++'s std::regex when
// optimising with ASan (GCC bug 105562); -Werror would make it fatal.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <regex>
#include <set>
#include <sstream>

#include "parley/crypto/hmac.hpp"
#include "test_support.hpp"

namespace parley::client {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using crypto::PublicKey;

const std::string ssh_keygen = "/usr/bin/ssh-keygen";

// ---------------------------------------------------------------------------
// HMAC-SHA1: RFC 2202 §3 test cases 1-7.

struct HmacCase {
  Bytes key;
  Bytes data;
  std::string digest;
};

TEST(HmacSha1, Rfc2202TestCases) {
  Bytes key4;
  for (std::uint8_t i = 1; i <= 25; ++i) key4.push_back(i);
  const std::vector<HmacCase> cases{
      {Bytes(20, 0x0b), to_bytes("Hi There"), "b617318655057264e28bc0b6fb378c8ef146be00"},
      {to_bytes("Jefe"), to_bytes("what do ya want for nothing?"),
       "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"},
      {Bytes(20, 0xaa), Bytes(50, 0xdd), "125d7342b9ac11cd91a39af48aa17b4f63f175d3"},
      {key4, Bytes(50, 0xcd), "4c9007f4026250c6bc8414f9bf50c86c2d7235da"},
      {Bytes(20, 0x0c), to_bytes("Test With Truncation"),
       "4c1a03424b55e07fe7f27be1d58bb9324a9a5a04"},
      {Bytes(80, 0xaa), to_bytes("Test Using Larger Than Block-Size Key - Hash Key First"),
       "aa4ae5e15272d00e95705637ce8a3b55ed402112"},
      {Bytes(80, 0xaa),
       to_bytes("Test Using Larger Than Block-Size Key and Larger Than One Block-Size Data"),
       "e8e99d0f45237d786d6bbaa7965c7808bbff1a91"},
  };
  for (std::size_t i = 0; i < cases.size(); ++i) {
    EXPECT_EQ(to_hex(crypto::hmac_sha1(cases[i].key, cases[i].data)), cases[i].digest)
        << "RFC 2202 test case " << i + 1;
  }
  // An empty key is a key (RFC 2104 pads it with zeros), not "keep the last one".
  EXPECT_EQ(to_hex(crypto::hmac_sha1({}, {})), "fbdb1d1b18aa6c08324b7d64b71fb76370690e1d");
  EXPECT_EQ(to_hex(crypto::hmac_sha1(Bytes(20, 0x0b), to_bytes("Hi There"))), cases[0].digest);
}

// ---------------------------------------------------------------------------
// Helpers

PublicKey load_pub(const fs::path& pub_file) {
  auto key = PublicKey::from_openssh(test::read_text_file(pub_file));
  if (!key) throw std::runtime_error("cannot parse " + pub_file.string());
  return *key;
}

/// "type base64" of a key, as it goes into known_hosts.
std::string key_field(const PublicKey& k) {
  return k.to_openssh();
}

/// The line numbers `ssh-keygen -F name -f file` reports (empty if not found).
std::vector<std::size_t> keygen_find(const fs::path& file, const std::string& name) {
  auto r = test::run_command({ssh_keygen, "-F", name, "-f", file.string()}, 10s);
  std::vector<std::size_t> lines;
  static const std::regex found(R"(^# Host .* found: line (\d+))");
  std::istringstream in(r.out);
  for (std::string line; std::getline(in, line);) {
    std::smatch m;
    if (std::regex_search(line, m, found)) lines.push_back(std::stoul(m[1].str()));
  }
  return lines;
}

std::vector<std::size_t> lines(std::initializer_list<std::size_t> l) {
  return l;
}

/// Always the same bytes: makes the temporary file names predictable.
class ZeroRandom final : public crypto::Random {
 public:
  void fill(std::span<std::uint8_t> out) override { std::fill(out.begin(), out.end(), 0); }
};

mode_t mode_of(const fs::path& p) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) return 0;
  return st.st_mode & 07777;
}

std::set<std::string> dir_entries(const fs::path& dir) {
  std::set<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.insert(e.path().filename().string());
  return out;
}

bool contains(const std::vector<std::string>& said, std::string_view line) {
  return std::find(said.begin(), said.end(), line) != said.end();
}

class KnownHostsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    keys_dir_ = new test::TempDir;
    for (const char* name : {"ed_a", "ed_b", "ed_c"}) {
      if (auto err = test::ssh_keygen_generate("ed25519", *keys_dir_ / name)) {
        throw std::runtime_error(*err);
      }
    }
    // A key type OpenSSH has and parley does not.
    auto r = test::run_command({ssh_keygen, "-q", "-t", "ecdsa", "-b", "384", "-N", "", "-C", "",
                                "-f", (*keys_dir_ / "p384").string()},
                               30s);
    if (r.exit_code != 0) throw std::runtime_error("ssh-keygen -t ecdsa -b 384: " + r.err);
  }
  static void TearDownTestSuite() {
    delete keys_dir_;
    keys_dir_ = nullptr;
  }

  static std::string p384_field() {
    const std::string text = test::read_text_file(*keys_dir_ / "p384.pub");
    return text.substr(0, text.find_first_of(" \n", text.find(' ') + 1));
  }

  static PublicKey key(const std::string& name) {
    if (name == "ecdsa" || name == "rsa") {
      return load_pub(fs::path(PARLEY_TEST_DATA_DIR) / ("test_" + name + ".pub"));
    }
    return load_pub(*keys_dir_ / (name + ".pub"));
  }

  fs::path write(const std::string& name, const std::string& text) {
    const fs::path p = dir_ / name;
    if (!test::write_text_file(p, text)) throw std::runtime_error("cannot write " + p.string());
    return p;
  }

  KnownHosts load(const fs::path& p) {
    auto kh = KnownHosts::load(p);
    if (!kh) throw std::runtime_error(kh.error());
    return std::move(*kh);
  }

  test::TempDir dir_;
  crypto::DeterministicRandom rng_{42};
  const PublicKey ed_a_ = key("ed_a"), ed_b_ = key("ed_b"), ed_c_ = key("ed_c");
  const PublicKey ecdsa_ = key("ecdsa"), rsa_ = key("rsa");

 private:
  static test::TempDir* keys_dir_;
};

test::TempDir* KnownHostsTest::keys_dir_ = nullptr;

// ---------------------------------------------------------------------------
// Lookup

TEST_F(KnownHostsTest, PlainEntriesAgreeWithSshKeygenF) {
  const fs::path f = write("known_hosts",
                           "# written by hand\n"
                           "\n"
                           "example.com " +
                               key_field(ed_a_) + "\n" + "[example.com]:2222 " + key_field(ed_b_) +
                               " a comment\n" + "other.org,10.0.0.1 " + key_field(ecdsa_) + "\n");
  const KnownHosts kh = load(f);
  EXPECT_TRUE(kh.problems().empty());

  auto c = kh.check("example.com", 22, ed_a_);
  EXPECT_EQ(c.status, HostKeyStatus::known);
  EXPECT_EQ(c.lines, lines({3}));
  EXPECT_EQ(c.lines, keygen_find(f, "example.com"));

  c = kh.check("example.com", 2222, ed_b_);
  EXPECT_EQ(c.status, HostKeyStatus::known);
  EXPECT_EQ(c.lines, keygen_find(f, "[example.com]:2222"));

  for (const char* host : {"other.org", "10.0.0.1"}) {
    c = kh.check(host, 22, ecdsa_);
    EXPECT_EQ(c.status, HostKeyStatus::known) << host;
    EXPECT_EQ(c.lines, keygen_find(f, host)) << host;
  }
  // The port is part of the name: port 2222's key is not port 22's.
  EXPECT_EQ(kh.check("example.com", 22, ed_b_).status, HostKeyStatus::changed);
  EXPECT_EQ(kh.check("example.com", 2200, ed_a_).status, HostKeyStatus::unknown);
  EXPECT_TRUE(keygen_find(f, "[example.com]:2200").empty());
  // Host names are compared without regard to case, as ssh lower-cases them.
  EXPECT_EQ(kh.check("EXAMPLE.Com", 22, ed_a_).status, HostKeyStatus::known);
}

TEST_F(KnownHostsTest, HashedBySshKeygenHAreFoundForBareAndPortForms) {
  const fs::path f = write("known_hosts", "example.com " + key_field(ed_a_) + "\n" +
                                              "[example.com]:2222 " + key_field(ed_b_) + "\n" +
                                              "other.org,10.0.0.1 " + key_field(rsa_) + "\n");
  auto r = test::run_command({ssh_keygen, "-H", "-f", f.string()}, 10s);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string text = test::read_text_file(f);
  EXPECT_EQ(text.find("example.com"), std::string::npos) << text;
  EXPECT_EQ(text.find("other.org"), std::string::npos) << text;

  const KnownHosts kh = load(f);
  EXPECT_TRUE(kh.problems().empty());
  auto c = kh.check("example.com", 22, ed_a_);
  EXPECT_EQ(c.status, HostKeyStatus::known);
  EXPECT_EQ(c.lines, keygen_find(f, "example.com"));
  ASSERT_EQ(c.lines.size(), 1u);

  c = kh.check("example.com", 2222, ed_b_);
  EXPECT_EQ(c.status, HostKeyStatus::known);
  EXPECT_EQ(c.lines, keygen_find(f, "[example.com]:2222"));
  ASSERT_EQ(c.lines.size(), 1u);

  // ssh-keygen -H writes one line per name of "other.org,10.0.0.1".
  for (const char* host : {"other.org", "10.0.0.1"}) {
    c = kh.check(host, 22, rsa_);
    EXPECT_EQ(c.status, HostKeyStatus::known) << host;
    EXPECT_EQ(c.lines, keygen_find(f, host)) << host;
  }
  c = kh.check("example.com", 2222, ed_a_);
  EXPECT_EQ(c.status, HostKeyStatus::changed);
  EXPECT_EQ(c.lines, keygen_find(f, "[example.com]:2222"));
  EXPECT_EQ(kh.check("example.org", 22, ed_a_).status, HostKeyStatus::unknown);
  EXPECT_EQ(kh.check("EXAMPLE.COM", 22, ed_a_).status, HostKeyStatus::known);
}

TEST_F(KnownHostsTest, WildcardsAndNegationMatchAsInOpenSsh) {
  const fs::path f =
      write("known_hosts", "*.example.com,!bad.example.com " + key_field(ed_a_) + "\n" +
                               "host?.lan " + key_field(ed_a_) + "\n" + "[*.example.com]:2222 " +
                               key_field(ed_a_) + "\n" + "10.1.*.* " + key_field(ed_a_) + "\n");
  const KnownHosts kh = load(f);
  struct Case {
    std::string host;
    std::uint16_t port;
    std::vector<std::size_t> want;
  };
  const std::vector<Case> cases{
      {"a.example.com", 22, {1}},     {"deep.sub.example.com", 22, {1}},
      {"bad.example.com", 22, {}},    {"example.com", 22, {}},
      {"host1.lan", 22, {2}},         {"host12.lan", 22, {}},
      {"host.lan", 22, {}},           {"a.example.com", 2222, {3}},
      {"bad.example.com", 2222, {3}}, {"a.example.com", 2223, {}},
      {"10.1.2.3", 22, {4}},          {"10.2.2.3", 22, {}},
      {"A.EXAMPLE.COM", 22, {1}},
  };
  for (const Case& c : cases) {
    const HostKeyCheck got = kh.check(c.host, c.port, ed_a_);
    const std::string name = known_hosts_name(c.host, c.port);
    EXPECT_EQ(got.status, c.want.empty() ? HostKeyStatus::unknown : HostKeyStatus::known) << name;
    EXPECT_EQ(got.lines, c.want) << name;
    // ssh lower-cases the name before ssh-keygen would see it.
    EXPECT_EQ(got.lines, keygen_find(f, name)) << name;
  }
}

TEST_F(KnownHostsTest, RevokedBeatsKnownAndCertAuthorityLinesAreSkipped) {
  const fs::path f = write("known_hosts",
                           "host.example " + key_field(ed_a_) + "\n" +                   // 1
                               "@revoked * " + key_field(ed_a_) + "\n" +                 // 2
                               "@cert-authority *.example " + key_field(ed_c_) + "\n" +  // 3
                               "other.example " + key_field(ed_b_) + "\n" +              // 4
                               "@revoked\tother.example " + key_field(rsa_) + "\n");     // 5
  const KnownHosts kh = load(f);
  ASSERT_EQ(kh.problems().size(), 1u);
  EXPECT_TRUE(kh.problems()[0].starts_with(f.string() + ":3: @cert-authority")) << kh.problems()[0];

  auto c = kh.check("host.example", 22, ed_a_);
  EXPECT_EQ(c.status, HostKeyStatus::revoked);
  EXPECT_EQ(c.lines, lines({2}));
  // Revoked for every host the @revoked line names, known or not.
  EXPECT_EQ(kh.check("new.example", 22, ed_a_).status, HostKeyStatus::revoked);
  EXPECT_EQ(kh.check("other.example", 22, rsa_).status, HostKeyStatus::revoked);
  // A CA key is not a host key: the host is not known by it.
  c = kh.check("www.example", 22, ed_c_);
  EXPECT_EQ(c.status, HostKeyStatus::unknown);
  ASSERT_EQ(c.problems.size(), 1u);
  EXPECT_TRUE(c.problems[0].starts_with(f.string() + ":3: ")) << c.problems[0];
  EXPECT_EQ(kh.check("other.example", 22, ed_b_).status, HostKeyStatus::known);
}

TEST_F(KnownHostsTest, KeyTypesAreKeptApart) {
  const fs::path f = write("known_hosts", "multi " + key_field(rsa_) + "\n" +        // 1
                                              "multi " + key_field(ed_a_) + "\n" +   // 2
                                              "multi " + key_field(ecdsa_) + "\n" +  // 3
                                              "rsaonly " + key_field(rsa_) + "\n");  // 4
  const KnownHosts kh = load(f);
  EXPECT_EQ(kh.check("multi", 22, rsa_).lines, lines({1}));
  EXPECT_EQ(kh.check("multi", 22, ed_a_).lines, lines({2}));
  EXPECT_EQ(kh.check("multi", 22, ecdsa_).lines, lines({3}));
  for (const PublicKey* k : {&rsa_, &ed_a_, &ecdsa_}) {
    EXPECT_EQ(kh.check("multi", 22, *k).status, HostKeyStatus::known);
  }
  // A different Ed25519 key where one is known: changed, naming the offending line.
  auto c = kh.check("multi", 22, ed_b_);
  EXPECT_EQ(c.status, HostKeyStatus::changed);
  EXPECT_EQ(c.lines, lines({2}));
  // No Ed25519 line at all: unknown, with the lines of the other types.
  c = kh.check("rsaonly", 22, ed_a_);
  EXPECT_EQ(c.status, HostKeyStatus::unknown);
  EXPECT_EQ(c.lines, lines({4}));
  c = kh.check("nowhere", 22, ed_a_);
  EXPECT_EQ(c.status, HostKeyStatus::unknown);
  EXPECT_TRUE(c.lines.empty());
}

TEST_F(KnownHostsTest, MalformedLinesAreReportedWithLineNumbersAndTheRestStillCounts) {
  const std::string text = "@bogus host " + key_field(ed_a_) + "\n" +      // 1 unknown marker
                           "lonely.host\n" +                               // 2 no key
                           "broken.host ssh-ed25519 AAAA!!!notbase64\n" +  // 3 bad base64
                           "p384.host " + p384_field() + "\n" +            // 4 unsupported type
                           "|1|c2FsdA==|aGFzaA== " + key_field(ed_a_) +
                           "\n" +  // 5 salt not 20 bytes
                           "@revoked @revoked host " + key_field(ed_a_) + "\n" +  // 6 two markers
                           "good.host " + key_field(ed_a_) + "\r\n" +             // 7 CRLF, fine
                           "   # indented comment\n" +                            // 8
                           "bad.host " + key_field(ed_b_).substr(0, 30) + "\n" +  // 9 truncated key
                           "good.host,bad.host " + key_field(ecdsa_) + " trailing comment\n";  // 10
  const fs::path f = write("known_hosts", text);
  const KnownHosts kh = load(f);
  std::vector<std::size_t> reported;
  for (const std::string& p : kh.problems()) {
    std::smatch m;
    ASSERT_TRUE(std::regex_search(p, m, std::regex("^" + f.string() + R"(:(\d+): .+)"))) << p;
    reported.push_back(std::stoul(m[1].str()));
  }
  EXPECT_EQ(reported, lines({1, 2, 3, 4, 5, 6, 9}));
  EXPECT_NE(kh.problems()[3].find("unsupported key type \"ecdsa-sha2-nistp384\""),
            std::string::npos)
      << kh.problems()[3];
  EXPECT_EQ(kh.check("good.host", 22, ed_a_).status, HostKeyStatus::known);
  EXPECT_EQ(kh.check("good.host", 22, ecdsa_).lines, lines({10}));
  // A bad line that names the host is part of that host's check.
  const HostKeyCheck c = kh.check("bad.host", 22, ed_b_);
  EXPECT_EQ(c.status, HostKeyStatus::unknown);
  ASSERT_EQ(c.problems.size(), 1u);
  EXPECT_TRUE(c.problems[0].starts_with(f.string() + ":9: ")) << c.problems[0];
  // ssh-keygen also reads past the bad lines.
  EXPECT_EQ(keygen_find(f, "good.host"), lines({7, 10}));
}

TEST_F(KnownHostsTest, LoadingMissingFileIsEmptyButUnreadableIsAnError) {
  auto missing = KnownHosts::load(dir_ / "nope");
  ASSERT_TRUE(missing.has_value());
  EXPECT_EQ(missing->check("h", 22, ed_a_).status, HostKeyStatus::unknown);
  fs::create_directory(dir_ / "adir");
  auto dir = KnownHosts::load(dir_ / "adir");
  ASSERT_FALSE(dir.has_value());
  EXPECT_NE(dir.error().find("adir"), std::string::npos) << dir.error();
}

// ---------------------------------------------------------------------------
// Writing

TEST_F(KnownHostsTest, FormatLineWritesWhatSshWritesAndRefusesHostsThatWouldBePatterns) {
  auto plain = KnownHosts::format_line("127.0.0.1", 2222, ed_a_, false, rng_);
  ASSERT_TRUE(plain.has_value());
  EXPECT_EQ(*plain, "[127.0.0.1]:2222 " + key_field(ed_a_));
  EXPECT_EQ(*KnownHosts::format_line("Host.Example", 22, ed_a_, false, rng_),
            "host.example " + key_field(ed_a_));

  auto hashed = KnownHosts::format_line("127.0.0.1", 2222, ed_a_, true, rng_);
  ASSERT_TRUE(hashed.has_value());
  EXPECT_TRUE(
      std::regex_match(*hashed, std::regex(R"(\|1\|[A-Za-z0-9+/]{27}=\|[A-Za-z0-9+/]{27}= )" +
                                           std::string("ssh-ed25519 .*"))))
      << *hashed;
  const KnownHosts kh = KnownHosts::parse(*hashed + "\n", "mem");
  EXPECT_EQ(kh.check("127.0.0.1", 2222, ed_a_).status, HostKeyStatus::known);
  EXPECT_EQ(kh.check("127.0.0.1", 22, ed_a_).status, HostKeyStatus::unknown);
  // A fresh salt per line.
  EXPECT_NE(*KnownHosts::format_line("127.0.0.1", 2222, ed_a_, true, rng_), *hashed);

  for (const char* bad :
       {"", "a,b", "*", "?x", "!x", "|1|x", "#x", "@revoked", "a b", "a\nb", "[a]:22"}) {
    EXPECT_FALSE(KnownHosts::format_line(bad, 22, ed_a_, false, rng_).has_value()) << bad;
  }
}

TEST_F(KnownHostsTest, AddCreatesPrivateDirectoryAndFileThatSshKeygenReads) {
  const fs::path ssh_dir = dir_ / "home" / ".ssh";
  fs::create_directory(dir_ / "home");
  const fs::path f = ssh_dir / "known_hosts";
  ASSERT_TRUE(add_known_host(f, "127.0.0.1", 2222, ed_a_, false, rng_).has_value());
  EXPECT_EQ(mode_of(ssh_dir), 0700u);
  EXPECT_EQ(mode_of(f), 0600u);
  EXPECT_EQ(test::read_text_file(f), "[127.0.0.1]:2222 " + key_field(ed_a_) + "\n");
  EXPECT_EQ(keygen_find(f, "[127.0.0.1]:2222"), lines({1}));

  ASSERT_TRUE(add_known_host(f, "example.com", 22, ecdsa_, true, rng_).has_value());
  EXPECT_EQ(keygen_find(f, "example.com"), lines({2}));
  EXPECT_EQ(dir_entries(ssh_dir), std::set<std::string>{"known_hosts"});
}

TEST_F(KnownHostsTest, AddKeepsExistingLinesAndMode) {
  const std::string old = "# mine\nexample.com " + key_field(ed_a_);  // no final newline
  const fs::path f = write("known_hosts", old);
  ::chmod(f.c_str(), 0644);
  ASSERT_TRUE(add_known_host(f, "127.0.0.1", 22, ed_b_, false, rng_).has_value());
  EXPECT_EQ(test::read_text_file(f), old + "\n127.0.0.1 " + key_field(ed_b_) + "\n");
  EXPECT_EQ(mode_of(f), 0644u);
  const KnownHosts kh = load(f);
  EXPECT_EQ(kh.check("example.com", 22, ed_a_).lines, lines({2}));
  EXPECT_EQ(kh.check("127.0.0.1", 22, ed_b_).lines, lines({3}));
}

TEST_F(KnownHostsTest, FailedAddLeavesTheOldFileUntouched_NoTemporaryName) {
  // Root ignores directory permissions, so block the temporary file itself: with
  // a fixed random source every temporary name is the same, and a directory
  // sits there, so the exclusive create fails on each attempt.
  const std::string old = "example.com " + key_field(ed_a_) + "\n";
  const fs::path f = write("known_hosts", old);
  ZeroRandom zeros;
  const std::string temp_name = ".known_hosts.tmp-000000000000";
  fs::create_directory(dir_ / temp_name);
  auto r = add_known_host(f, "127.0.0.1", 2222, ed_b_, false, zeros);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().find("temporary"), std::string::npos) << r.error();
  EXPECT_EQ(test::read_text_file(f), old);
  EXPECT_EQ(dir_entries(dir_.path()), (std::set<std::string>{"known_hosts", temp_name}));
}

TEST_F(KnownHostsTest, FailedAddLeavesTheOldFileUntouched_WriteFails) {
  // A file size limit makes the write of the new file fail (EFBIG) even for root.
  const std::string old = "example.com " + key_field(ed_a_) + "\n";
  const fs::path f = write("known_hosts", old);
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &saved), 0);
  auto* old_handler = ::signal(SIGXFSZ, SIG_IGN);
  rlimit small{static_cast<rlim_t>(old.size()), saved.rlim_max};
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  auto r = add_known_host(f, "127.0.0.1", 2222, ed_b_, false, rng_);
  ::setrlimit(RLIMIT_FSIZE, &saved);
  ::signal(SIGXFSZ, old_handler);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().find("cannot write temporary file"), std::string::npos) << r.error();
  EXPECT_EQ(test::read_text_file(f), old);
  EXPECT_EQ(dir_entries(dir_.path()), std::set<std::string>{"known_hosts"});
}

// ---------------------------------------------------------------------------
// The verifier

struct Said {
  std::vector<std::string> lines;
  std::function<void(std::string_view)> sink() {
    return [this](std::string_view s) { lines.emplace_back(s); };
  }
};

TEST_F(KnownHostsTest, AcceptNewAddsUnknownHostThenKnowsIt) {
  for (const bool hashed : {false, true}) {
    SCOPED_TRACE(hashed ? "hashed" : "plain");
    const fs::path f = dir_ / (hashed ? "kh_hashed" : "kh_plain");
    Said said;
    auto verify = known_hosts_verifier({f}, "127.0.0.1", 2222, StrictHostKeyChecking::accept_new,
                                       hashed, rng_, said.sink());
    EXPECT_TRUE(verify(ed_a_));
    EXPECT_EQ(said.lines, std::vector<std::string>{"Warning: Permanently added '[127.0.0.1]:2222' "
                                                   "(ED25519) to the list of known hosts."});
    EXPECT_EQ(keygen_find(f, "[127.0.0.1]:2222"), lines({1}));
    const std::string text = test::read_text_file(f);
    EXPECT_EQ(text.starts_with("|1|"), hashed) << text;
    EXPECT_EQ(text.find("127.0.0.1") == std::string::npos, hashed) << text;

    said.lines.clear();
    EXPECT_TRUE(verify(ed_a_));  // now known: silent, nothing added
    EXPECT_TRUE(said.lines.empty());
    EXPECT_EQ(test::read_text_file(f), text);

    // A changed key is refused under accept-new, naming the offending line.
    EXPECT_FALSE(verify(ed_b_));
    EXPECT_TRUE(
        contains(said.lines, "@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @"));
    EXPECT_TRUE(contains(said.lines, ed_b_.fingerprint() + "."));
    EXPECT_TRUE(contains(said.lines, "Offending ED25519 key in " + f.string() + ":1"));
    EXPECT_TRUE(contains(said.lines,
                         "Host key for [127.0.0.1]:2222 has changed and you have "
                         "requested strict checking."));
    EXPECT_EQ(said.lines.back(), "Host key verification failed.");
    EXPECT_EQ(test::read_text_file(f), text);
  }
}

// Issue 11: a server at a known address showing a key type not known for it is
// a substituted host until proven otherwise (stricter than OpenSSH's accept-new).
TEST_F(KnownHostsTest, TypeSubstitutionIsRefusedAsChangedUnderYesAskAndAcceptNew) {
  const std::string text = "[127.0.0.1]:2222 " + key_field(ed_a_) + "\n";
  const fs::path f = write("known_hosts", text);
  for (auto strict : {StrictHostKeyChecking::yes, StrictHostKeyChecking::ask,
                      StrictHostKeyChecking::accept_new}) {
    Said said;
    int asked = 0;
    bool secrets_off = false;
    HostKeyPolicy policy;
    policy.strict = strict;
    policy.report = said.sink();
    policy.ask = [&](std::string_view) -> std::optional<std::string> {
      ++asked;
      return "yes";
    };
    policy.on_changed_key_accepted = [&] { secrets_off = true; };
    auto verify = known_hosts_verifier({f}, "127.0.0.1", 2222, policy, rng_);
    EXPECT_FALSE(verify(ecdsa_)) << "an ECDSA key where only an Ed25519 key is known";
    EXPECT_EQ(asked, 0) << "nobody is asked about a host we know";
    EXPECT_TRUE(
        contains(said.lines, "@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @"));
    EXPECT_TRUE(contains(said.lines, ecdsa_.fingerprint() + "."));
    EXPECT_TRUE(contains(said.lines, "Offending key in " + f.string() + ":1"));
    EXPECT_TRUE(contains(said.lines,
                         "Host key for [127.0.0.1]:2222 has changed and you have "
                         "requested strict checking."));
    EXPECT_EQ(said.lines.back(), "Host key verification failed.");
    EXPECT_EQ(test::read_text_file(f), text) << "nothing is added";
    EXPECT_FALSE(secrets_off);
    // The key that is known still is.
    EXPECT_TRUE(verify(ed_a_));
  }
}

TEST_F(KnownHostsTest, NoWithAChangedKeyTurnsOffPasswordAndKeyboardInteractive) {
  const std::string text = "[127.0.0.1]:2222 " + key_field(ed_a_) + "\n";
  const fs::path f = write("known_hosts", text);
  const std::string line =
      "Password and keyboard-interactive authentication are disabled to avoid man-in-the-middle "
      "attacks.";
  for (const PublicKey* changed : {&ed_b_, &ecdsa_}) {  // same type, and substituted type
    Said said;
    int calls = 0;
    HostKeyPolicy policy;
    policy.strict = StrictHostKeyChecking::no;
    policy.report = said.sink();
    policy.on_changed_key_accepted = [&] { ++calls; };
    auto verify = known_hosts_verifier({f}, "127.0.0.1", 2222, policy, rng_);
    EXPECT_TRUE(verify(*changed)) << "`no` goes on with a changed key";
    EXPECT_EQ(calls, 1) << "and tells the caller to send no password or answer";
    EXPECT_EQ(std::count(said.lines.begin(), said.lines.end(), line), 1) << "one line says so";
    EXPECT_EQ(test::read_text_file(f), text);
    said.lines.clear();
    EXPECT_TRUE(verify(ed_a_));
    EXPECT_EQ(calls, 1) << "the known key turns nothing off";
    EXPECT_TRUE(said.lines.empty());
  }
}

TEST_F(KnownHostsTest, AskCountsTheGlobalFileAndRevokedLines) {
  const fs::path user = dir_ / "user_known_hosts";  // missing
  const fs::path global =
      write("global_known_hosts", "@revoked [127.0.0.1]:2222 " + key_field(ed_a_) + "\n" +
                                      "known.example " + key_field(ed_b_) + "\n");
  std::vector<std::string> questions;
  std::optional<std::string> answer = "yes";
  Said said;
  HostKeyPolicy policy;
  policy.strict = StrictHostKeyChecking::ask;
  policy.report = said.sink();
  policy.ask = [&](std::string_view q) {
    questions.emplace_back(q);
    return answer;
  };
  // Revoked in the global file: refused, never asked, nothing written.
  EXPECT_FALSE(known_hosts_verifier({user, global}, "127.0.0.1", 2222, policy, rng_)(ed_a_));
  EXPECT_TRUE(questions.empty());
  EXPECT_TRUE(contains(said.lines, "@       WARNING: REVOKED HOST KEY DETECTED!               @"));
  EXPECT_EQ(said.lines.back(), "Host key verification failed.");
  EXPECT_FALSE(fs::exists(user));
  // Known in the global file: accepted without a question.
  EXPECT_TRUE(known_hosts_verifier({user, global}, "known.example", 22, policy, rng_)(ed_b_));
  EXPECT_TRUE(questions.empty());
  // A type substitution against the global file: refused without a question.
  EXPECT_FALSE(known_hosts_verifier({user, global}, "known.example", 22, policy, rng_)(ecdsa_));
  EXPECT_TRUE(questions.empty());
  // Unknown everywhere: asked; "no" refuses and writes nothing.
  answer = "no";
  EXPECT_FALSE(known_hosts_verifier({user, global}, "new.example", 22, policy, rng_)(ed_c_));
  ASSERT_EQ(questions.size(), 1u);
  EXPECT_TRUE(
      questions[0].starts_with("The authenticity of host 'new.example' can't be established.\n"
                               "ED25519 key fingerprint is " +
                               ed_c_.fingerprint() + ".\n"))
      << questions[0];
  EXPECT_TRUE(questions[0].ends_with(
      "Are you sure you want to continue connecting (yes/no/[fingerprint])? "));
  EXPECT_FALSE(fs::exists(user));
  // The fingerprint as the answer accepts and adds to the user's file only.
  answer = ed_c_.fingerprint();
  EXPECT_TRUE(known_hosts_verifier({user, global}, "new.example", 22, policy, rng_)(ed_c_));
  EXPECT_EQ(keygen_find(user, "new.example"), lines({1}));
  EXPECT_TRUE(keygen_find(global, "new.example").empty());
  // Without anyone to ask, `ask` is `yes`.
  policy.ask = nullptr;
  said.lines.clear();
  EXPECT_FALSE(known_hosts_verifier({user, global}, "other.example", 22, policy, rng_)(ed_c_));
  EXPECT_EQ(said.lines.back(), "Host key verification failed.");
}

TEST_F(KnownHostsTest, HostKeyAlgorithmsPutTheKnownTypesFirst) {
  using crypto::SignatureAlg;
  const fs::path user =
      write("user_known_hosts", "@revoked [127.0.0.1]:2222 " + key_field(ed_c_) + "\n" +
                                    "[127.0.0.1]:2222 " + key_field(rsa_) + "\n");
  const fs::path global =
      write("global_known_hosts", "[127.0.0.1]:2222 " + key_field(ecdsa_) + "\n");
  const std::vector<SignatureAlg> defaults{SignatureAlg::ssh_ed25519,
                                           SignatureAlg::ecdsa_sha2_nistp256,
                                           SignatureAlg::rsa_sha2_512, SignatureAlg::rsa_sha2_256};
  // Known types first (revoked lines do not count), each part in its own order.
  EXPECT_EQ(
      order_host_key_algorithms({user, global}, "127.0.0.1", 2222, defaults),
      (std::vector<SignatureAlg>{SignatureAlg::ecdsa_sha2_nistp256, SignatureAlg::rsa_sha2_512,
                                 SignatureAlg::rsa_sha2_256, SignatureAlg::ssh_ed25519}));
  EXPECT_EQ(order_host_key_algorithms({global}, "127.0.0.1", 2222, defaults),
            (std::vector<SignatureAlg>{SignatureAlg::ecdsa_sha2_nistp256, SignatureAlg::ssh_ed25519,
                                       SignatureAlg::rsa_sha2_512, SignatureAlg::rsa_sha2_256}));
  EXPECT_EQ(order_host_key_algorithms({user, global}, "unknown.example", 22, defaults), defaults);
  EXPECT_EQ(order_host_key_algorithms({user, global}, "127.0.0.1", 22, defaults), defaults)
      << "another port is another host";
}

TEST_F(KnownHostsTest, YesRefusesUnknownAndWritesNothing) {
  const fs::path f = dir_ / "known_hosts";
  Said said;
  auto verify = known_hosts_verifier({f}, "127.0.0.1", 2222, StrictHostKeyChecking::yes, false,
                                     rng_, said.sink());
  EXPECT_FALSE(verify(ed_a_));
  EXPECT_EQ(said.lines, (std::vector<std::string>{
                            "No ED25519 host key is known for [127.0.0.1]:2222 and you have "
                            "requested strict checking.",
                            "Host key verification failed."}));
  EXPECT_FALSE(fs::exists(f));

  ASSERT_TRUE(add_known_host(f, "127.0.0.1", 2222, ed_a_, true, rng_).has_value());
  said.lines.clear();
  EXPECT_TRUE(verify(ed_a_));
  EXPECT_TRUE(said.lines.empty());
  EXPECT_FALSE(verify(ed_b_));
  EXPECT_EQ(said.lines.back(), "Host key verification failed.");
}

TEST_F(KnownHostsTest, NoAcceptsChangedWithTheWarningButNeverRevoked) {
  const std::string text = "[127.0.0.1]:2222 " + key_field(ed_a_) + "\n" +
                           "@revoked [127.0.0.1]:2222 " + key_field(ed_c_) + "\n";
  const fs::path f = write("known_hosts", text);
  Said said;
  auto verify = known_hosts_verifier({f}, "127.0.0.1", 2222, StrictHostKeyChecking::no, false, rng_,
                                     said.sink());
  EXPECT_TRUE(verify(ed_b_));
  EXPECT_TRUE(contains(said.lines, "@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @"));
  EXPECT_TRUE(contains(said.lines, "Offending ED25519 key in " + f.string() + ":1"));
  EXPECT_TRUE(
      contains(said.lines, "  ssh-keygen -f \"" + f.string() + "\" -R \"[127.0.0.1]:2222\""));
  EXPECT_FALSE(contains(said.lines, "Host key verification failed."));
  EXPECT_EQ(test::read_text_file(f), text);  // a changed key is not written

  said.lines.clear();
  EXPECT_FALSE(verify(ed_c_));
  EXPECT_TRUE(contains(said.lines, "@       WARNING: REVOKED HOST KEY DETECTED!               @"));
  EXPECT_TRUE(
      contains(said.lines, "The ED25519 host key for [127.0.0.1]:2222 is marked as revoked."));
  EXPECT_EQ(said.lines.back(), "Host key verification failed.");

  // Unknown hosts are added under `no` too.
  said.lines.clear();
  auto other = known_hosts_verifier({f}, "other.example", 22, StrictHostKeyChecking::no, false,
                                    rng_, said.sink());
  EXPECT_TRUE(other(rsa_));
  EXPECT_TRUE(contains(said.lines,
                       "Warning: Permanently added 'other.example' (RSA) to the list "
                       "of known hosts."));
  EXPECT_EQ(keygen_find(f, "other.example"), lines({3}));
}

TEST_F(KnownHostsTest, RevokedIsRefusedUnderEveryPolicyWhicheverFileSaysSo) {
  const fs::path user = write("user_known_hosts", "h " + key_field(ed_a_) + "\n");
  const fs::path global = write("global_known_hosts", "@revoked * " + key_field(ed_a_) + "\n");
  for (auto policy :
       {StrictHostKeyChecking::yes, StrictHostKeyChecking::accept_new, StrictHostKeyChecking::no}) {
    Said said;
    EXPECT_FALSE(
        known_hosts_verifier({user, global}, "h", 22, policy, false, rng_, said.sink())(ed_a_));
    EXPECT_EQ(said.lines.back(), "Host key verification failed.");
  }
}

TEST_F(KnownHostsTest, AnyFileMayKnowTheKeyAndOnlyTheFirstIsWritten) {
  const fs::path user = dir_ / "user_known_hosts";  // missing
  const fs::path global = write("global_known_hosts", "*.corp " + key_field(ed_a_) + "\n");
  Said said;
  EXPECT_TRUE(known_hosts_verifier({user, global}, "db.corp", 22, StrictHostKeyChecking::yes, false,
                                   rng_, said.sink())(ed_a_));
  EXPECT_TRUE(said.lines.empty());
  EXPECT_TRUE(known_hosts_verifier({user, global}, "new.host", 22,
                                   StrictHostKeyChecking::accept_new, false, rng_,
                                   said.sink())(ed_b_));
  EXPECT_EQ(keygen_find(user, "new.host"), lines({1}));
  EXPECT_TRUE(keygen_find(global, "new.host").empty());
}

TEST_F(KnownHostsTest, UnreadableFileRefusesAndFailedAddStillAccepts) {
  fs::create_directory(dir_ / "not_a_file");
  Said said;
  EXPECT_FALSE(known_hosts_verifier({dir_ / "not_a_file"}, "h", 22,
                                    StrictHostKeyChecking::accept_new, false, rng_,
                                    said.sink())(ed_a_));
  EXPECT_EQ(said.lines.back(), "Host key verification failed.");

  // OpenSSH connects anyway when accept-new cannot record the key; so do we.
  const fs::path f = write("known_hosts", "");
  ZeroRandom zeros;
  fs::create_directory(dir_ / ".known_hosts.tmp-000000000000");
  said.lines.clear();
  EXPECT_TRUE(known_hosts_verifier({f}, "h", 22, StrictHostKeyChecking::accept_new, false, zeros,
                                   said.sink())(ed_a_));
  EXPECT_EQ(said.lines.back(),
            "Failed to add the host to the list of known hosts (" + f.string() + ").");
}

}  // namespace
}  // namespace parley::client

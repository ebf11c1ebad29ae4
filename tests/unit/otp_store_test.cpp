// The TOTP secret stores (store.hpp) against their real counterparts.
//
// users.oath: fixed-clock checks (right code, one step either way, two steps,
// replays, earlier-after-later, scratch codes once), concurrency (threads on
// one store, two stores on one file, processes), corrupt and truncated files
// (error naming file and line, bytes untouched), state that cannot be saved
// (fail closed, old file intact), enrolment, and interop with real liboath:
// oath_authenticate_usersfile() refuses what the store accepted and the store
// refuses what liboath accepted; liboath's lock (a classic fcntl lock on
// users.oath.lock, removed afterwards) makes the store wait. Codes come from
// oathtool(1), so the store is not only checked against itself.
//
// ~/.google_authenticator: the same fixed-clock and failure checks, the
// module's options (WINDOW_SIZE, STEP_SIZE, TIME_SKEW, DISALLOW_REUSE,
// RATE_LIMIT, scratch codes), its refusals (owner, permissions, symbolic
// links, unsafe user names), files made by the real google-authenticator
// binary, and the real pam_google_authenticator.so (through pam_wrapper)
// agreeing with the store's updates, byte for byte. As root (CI), a real
// temporary user shows the store reads and writes with that user's identity.
//
// Missing tools (oathtool, google-authenticator, pam_wrapper, pypamtest,
// useradd) fail the tests that need them; only the real-user test is skipped,
// loudly, when not root outside CI.
#include "parley/otp/store.hpp"

#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <liboath/oath.h>
#include <pwd.h>
#include <signal.h>
#include <sys/fsuid.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <functional>
#include <latch>
#include <map>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include "parley/otp/enroll.hpp"
#include "parley/state/shared_state.hpp"
#include "unreachable_state.hpp"
#include "test_support.hpp"

namespace parley::otp {

void PrintTo(Verdict v, std::ostream* os) {
  switch (v) {
    case Verdict::accepted: *os << "accepted"; break;
    case Verdict::accepted_scratch: *os << "accepted_scratch"; break;
    case Verdict::wrong: *os << "wrong"; break;
    case Verdict::replayed: *os << "replayed"; break;
    case Verdict::rate_limited: *os << "rate_limited"; break;
    case Verdict::no_secret: *os << "no_secret"; break;
  }
}

namespace {

namespace fs = std::filesystem;
using crypto::SecretBytes;
using std::chrono::seconds;

// ---------------------------------------------------------------------------
// Helpers

SecretBytes bytes(std::string_view s) { return SecretBytes(as_bytes(s)); }

/// "accepted", "wrong", ... or "error: FILE:LINE: REASON".
std::string outcome(const std::expected<Verdict, StoreError>& r) {
  if (!r) return "error: " + r.error().message();
  std::ostringstream os;
  PrintTo(*r, &os);
  return os.str();
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

void put(const fs::path& p, std::string_view content, mode_t mode) {
  ::unlink(p.c_str());
  std::ofstream out(p, std::ios::binary);
  out << content;
  out.close();
  ASSERT_TRUE(out.good()) << p;
  ASSERT_EQ(::chmod(p.c_str(), mode), 0) << p;
}

mode_t mode_of(const fs::path& p) {
  struct stat st {};
  if (::lstat(p.c_str(), &st) != 0) return 0;
  return st.st_mode & 07777;
}

uid_t owner_of(const fs::path& p) {
  struct stat st {};
  if (::lstat(p.c_str(), &st) != 0) return static_cast<uid_t>(-1);
  return st.st_uid;
}

std::set<std::string> listing(const fs::path& dir) {
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.insert(e.path().filename().string());
  return names;
}

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

bool is_root() { return ::geteuid() == 0; }

std::string my_name() {
  struct passwd* pw = ::getpwuid(::geteuid());
  return pw ? pw->pw_name : "";
}

const fs::path oathtool_path = "/usr/bin/oathtool";
const fs::path google_authenticator_path = "/usr/bin/google-authenticator";
const fs::path pam_module = "/usr/lib/x86_64-linux-gnu/security/pam_google_authenticator.so";
const fs::path python = "/usr/bin/python3";

void require_tool(const fs::path& p, std::string_view package) {
  ASSERT_TRUE(fs::exists(p)) << p << " is missing: apt-get install " << package;
}

/// oathtool --totp with the given options; "" (and a test failure) if it fails.
std::string oathtool(std::vector<std::string> args) {
  args.insert(args.begin(), oathtool_path.string());
  const auto r = test::run_command(args, seconds(10));
  EXPECT_EQ(r.exit_code, 0) << "oathtool failed: " << r.err;
  std::string out = r.out;
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

/// The RFC 6238 test key, as users.oath (hex) and google-authenticator (base32) hold it.
constexpr std::string_view key_hex = "3132333435363738393031323334353637383930";
constexpr std::string_view key_b32 = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
/// A fixed clock: 15 s into step 56666667.
constexpr std::int64_t t0 = 1700000025;
constexpr std::int64_t step0 = t0 / 30;

std::string totp_hex(std::string_view hex, std::int64_t t, unsigned digits = 6, int period = 30) {
  return oathtool({"--totp", "-d", std::to_string(digits), "-s", std::to_string(period) + "s", "-N",
                   "@" + std::to_string(t), std::string(hex)});
}

std::string totp_b32(std::string_view b32, std::int64_t t, int period = 30) {
  return oathtool({"--totp", "-b", "-s", std::to_string(period) + "s", "-N", "@" + std::to_string(t),
                   std::string(b32)});
}

/// liboath's TIMESTAMP column for `t` (local time, as liboath writes it).
std::string oath_time(std::int64_t t) {
  const std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  ::localtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SL", &tm);
  return buf;
}

/// Runs `fn` in `n` processes released at once; their exit codes.
std::vector<int> in_processes(int n, const std::function<int()>& fn) {
  int go[2];
  if (::pipe(go) != 0) return {};
  std::vector<pid_t> pids;
  for (int i = 0; i < n; ++i) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::close(go[1]);
      char c;
      while (::read(go[0], &c, 1) < 0 && errno == EINTR) {
      }
      ::_exit(fn());
    }
    pids.push_back(pid);
  }
  ::close(go[0]);
  ::close(go[1]);  // end of file: everyone starts
  std::vector<int> codes;
  for (pid_t pid : pids) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    codes.push_back(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
  }
  return codes;
}

/// Runs `n` threads released at once; each returns an outcome string.
std::map<std::string, int> in_threads(int n, const std::function<std::string(int)>& fn) {
  std::latch start(n);
  std::vector<std::string> results(static_cast<std::size_t>(n));
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      results[static_cast<std::size_t>(i)] = fn(i);
    });
  }
  for (auto& t : threads) t.join();
  std::map<std::string, int> counts;
  for (const auto& r : results) ++counts[r];
  return counts;
}

/// Files cannot grow beyond `limit` bytes while this lives (a full disk for
/// the writer, even for root); SIGXFSZ is ignored so write() fails with EFBIG.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t limit) {
    ::getrlimit(RLIMIT_FSIZE, &old_);
    old_handler_ = ::signal(SIGXFSZ, SIG_IGN);
    rlimit r = old_;
    r.rlim_cur = limit;
    ok_ = ::setrlimit(RLIMIT_FSIZE, &r) == 0;
  }
  ~FileSizeLimit() {
    ::setrlimit(RLIMIT_FSIZE, &old_);
    ::signal(SIGXFSZ, old_handler_);
  }
  bool ok() const { return ok_; }

 private:
  rlimit old_{};
  sighandler_t old_handler_{};
  bool ok_ = false;
};

// ---------------------------------------------------------------------------
// users.oath

constexpr std::string_view users_oath_text =
    "# pam_oath users, as an administrator writes them\n"
    "HOTP bob - 3132333435363738393031323334353637383930 3\n"
    "\n"
    "HOTP/T30/6 alice - 3132333435363738393031323334353637383930\n"
    "HOTP/T60/8\tcarol\t+\t3837363534333231303938373635343332313039\t0\t12345678\t2023-01-02T03:04:05L\n";

class UsersOath : public ::testing::Test {
 protected:
  void SetUp() override {
    require_tool(oathtool_path, "oathtool");
    path_ = dir_ / "users.oath";
    put(path_, users_oath_text, 0600);
    store_ = users_oath_store(path_, rng_);
  }

  std::expected<Verdict, StoreError> redeem(std::string_view user, std::string_view code, std::int64_t t,
                                            unsigned window = 1) {
    return store_->redeem(user, bytes(code), t, Policy{window, nullptr});
  }

  /// The line liboath writes after accepting `code` at `t` (counter 0 + offset).
  static std::string alice_line(std::string_view code, std::int64_t t, int counter) {
    return "HOTP/T30/6\talice\t-\t" + std::string(key_hex) + "\t" + std::to_string(counter) + "\t" +
           std::string(code) + "\t" + oath_time(t);
  }

  test::TempDir dir_;
  fs::path path_;
  crypto::SystemRandom rng_;
  std::unique_ptr<TotpStore> store_;
};

TEST_F(UsersOath, RightCodeFromOathtoolPassesAndIsRecordedAsLiboathWould) {
  ASSERT_EQ(::chmod(path_.c_str(), 0640), 0);
  const std::string code = totp_hex(key_hex, t0);
  EXPECT_EQ(outcome(redeem("alice", code, t0)), "accepted");
  const auto after = lines_of(slurp(path_));
  const auto before = lines_of(std::string(users_oath_text));
  ASSERT_EQ(after.size(), before.size());
  for (std::size_t i = 0; i < before.size(); ++i) {
    if (i == 3)
      EXPECT_EQ(after[i], alice_line(code, t0, 0));
    else
      EXPECT_EQ(after[i], before[i]) << "line " << i + 1 << " must be kept byte for byte";
  }
  EXPECT_EQ(mode_of(path_), 0640u) << "the file's mode is kept";
  EXPECT_EQ(listing(dir_.path()), std::set<std::string>{"users.oath"})
      << "no temporary file is left behind";
}

TEST_F(UsersOath, OneStepOldOrAheadPassesTwoStepsFail) {
  for (int offset : {-1, 1}) {
    put(path_, users_oath_text, 0600);
    const std::string code = totp_hex(key_hex, t0 + offset * 30);
    EXPECT_EQ(outcome(redeem("alice", code, t0)), "accepted") << offset;
    // liboath's counter column grows by the position in the window.
    EXPECT_EQ(lines_of(slurp(path_))[3], alice_line(code, t0, 1));
  }
  for (int offset : {-2, 2}) {
    put(path_, users_oath_text, 0600);
    EXPECT_EQ(outcome(redeem("alice", totp_hex(key_hex, t0 + offset * 30), t0)), "wrong") << offset;
    EXPECT_EQ(slurp(path_), users_oath_text) << "a wrong code changes nothing";
  }
  // The window is the policy's.
  put(path_, users_oath_text, 0600);
  EXPECT_EQ(outcome(redeem("alice", totp_hex(key_hex, t0 + 60), t0, 2)), "accepted");
}

TEST_F(UsersOath, EightDigitAndSixtySecondTokens) {
  // carol: HOTP/T60/8 with a '+' password column (checked elsewhere).
  const std::string code = totp_hex("3837363534333231303938373635343332313039", t0, 8, 60);
  EXPECT_EQ(outcome(redeem("carol", code, t0)), "accepted");
  EXPECT_EQ(lines_of(slurp(path_))[4], "HOTP/T60/8\tcarol\t+\t3837363534333231303938373635343332313039\t0\t" + code +
                                           "\t" + oath_time(t0));
  EXPECT_EQ(outcome(redeem("carol", totp_hex("3837363534333231303938373635343332313039", t0, 8, 30), t0)), "wrong");
}

TEST_F(UsersOath, SameCodeTwiceIsReplayed) {
  const std::string code = totp_hex(key_hex, t0);
  ASSERT_EQ(outcome(redeem("alice", code, t0)), "accepted");
  const std::string once = slurp(path_);
  EXPECT_EQ(outcome(redeem("alice", code, t0)), "replayed");
  EXPECT_EQ(outcome(redeem("alice", code, t0 + 20)), "replayed");
  EXPECT_EQ(slurp(path_), once);
}

TEST_F(UsersOath, AnEarlierStepAfterALaterOneIsReplayed) {
  ASSERT_EQ(outcome(redeem("alice", totp_hex(key_hex, t0 + 30), t0)), "accepted");
  EXPECT_EQ(outcome(redeem("alice", totp_hex(key_hex, t0), t0)), "replayed");
  EXPECT_EQ(outcome(redeem("alice", totp_hex(key_hex, t0 - 30), t0)), "replayed");
  // Later steps still pass, and each becomes the new mark.
  EXPECT_EQ(outcome(redeem("alice", totp_hex(key_hex, t0 + 60), t0 + 30)), "accepted");
  EXPECT_EQ(outcome(redeem("alice", totp_hex(key_hex, t0 + 30), t0 + 30)), "replayed");
}

TEST_F(UsersOath, HotpOnlyAndUnknownUsersHaveNoSecret) {
  EXPECT_EQ(outcome(redeem("bob", "755224", t0)), "no_secret");  // event-based HOTP only
  EXPECT_EQ(outcome(redeem("zed", "755224", t0)), "no_secret");
  EXPECT_EQ(outcome(redeem("", "755224", t0)), "no_secret");
  EXPECT_EQ(outcome(redeem("al ice", "755224", t0)), "no_secret");
  EXPECT_EQ(slurp(path_), users_oath_text);
}

TEST_F(UsersOath, MalformedCodesAreWrong) {
  const std::string code = totp_hex(key_hex, t0);
  EXPECT_EQ(outcome(redeem("alice", code + "0", t0)), "wrong");
  EXPECT_EQ(outcome(redeem("alice", code.substr(1), t0)), "wrong");
  EXPECT_EQ(outcome(redeem("alice", "12345a", t0)), "wrong");
  EXPECT_EQ(outcome(redeem("alice", "", t0)), "wrong");
  EXPECT_EQ(slurp(path_), users_oath_text);
}

TEST_F(UsersOath, APasswordColumnIsRefusedNotIgnored) {
  put(path_, "HOTP/T30/6 alice 1234 3132333435363738393031323334353637383930\n", 0600);
  const auto r = redeem("alice", totp_hex(key_hex, t0), t0);
  ASSERT_FALSE(r) << outcome(r);
  EXPECT_EQ(r.error().line, 1u);
  EXPECT_NE(r.error().reason.find("password"), std::string::npos);
}

TEST_F(UsersOath, ScratchCodesWorkOnceAndAreNotStoredInPlainText) {
  Enrollment e;
  e.secret.key = bytes("12345678901234567890");
  e.scratch_codes = {"12345678", "87654321"};
  ASSERT_TRUE(store_->enroll("alice", e));
  const fs::path sidecar = dir_ / "users.oath.scratch";
  const std::string stored = slurp(sidecar);
  EXPECT_EQ(stored.find("12345678"), std::string::npos);
  EXPECT_EQ(stored.find("87654321"), std::string::npos);
  EXPECT_EQ(mode_of(sidecar), 0600u);
  EXPECT_EQ(outcome(redeem("alice", "12345678", t0)), "accepted_scratch");
  EXPECT_EQ(outcome(redeem("alice", "12345678", t0)), "wrong");
  EXPECT_EQ(outcome(redeem("alice", "87654321", t0 + 1)), "accepted_scratch");
  EXPECT_EQ(outcome(redeem("alice", "87654321", t0 + 2)), "wrong");
  EXPECT_EQ(outcome(redeem("bob", "12345678", t0)), "no_secret") << "bob has no TOTP secret";
}

TEST_F(UsersOath, ConcurrentLoginsWithTheSameCodeExactlyOneSucceeds) {
  const std::string code = totp_hex(key_hex, t0);
  auto counts = in_threads(8, [&](int) { return outcome(redeem("alice", code, t0)); });
  EXPECT_EQ(counts, (std::map<std::string, int>{{"accepted", 1}, {"replayed", 7}}));
}

TEST_F(UsersOath, TwoStoresOnOneFileExactlyOneSucceeds) {
  auto other = users_oath_store(path_, rng_);
  const std::string code = totp_hex(key_hex, t0);
  auto counts = in_threads(8, [&](int i) {
    auto& s = i % 2 ? *other : *store_;
    return outcome(s.redeem("alice", bytes(code), t0, Policy{}));
  });
  EXPECT_EQ(counts, (std::map<std::string, int>{{"accepted", 1}, {"replayed", 7}}));
}

// Two instances behind a load balancer: each has its own copy of users.oath,
// and they share the replay state (Policy::shared; Redis in production).
TEST_F(UsersOath, InstancesSharingStateAcceptACodeOnceAcrossTheirFiles) {
  test::TempDir other_dir;
  const fs::path other_path = other_dir / "users.oath";
  put(other_path, users_oath_text, 0600);
  auto other = users_oath_store(other_path, rng_);
  Policy shared{1, nullptr};
  shared.shared = state::memory_state();
  const std::string code = totp_hex(key_hex, t0);
  EXPECT_EQ(outcome(store_->redeem("alice", bytes(code), t0, shared)), "accepted");
  EXPECT_EQ(outcome(other->redeem("alice", bytes(code), t0 + 1, shared)), "replayed")
      << "the other instance's file never saw the code";
  EXPECT_EQ(slurp(other_path), users_oath_text) << "a refused code changes nothing";
  EXPECT_EQ(outcome(other->redeem("alice", bytes(totp_hex(key_hex, t0 - 30)), t0 + 1, shared)), "replayed")
      << "an earlier step after a later one, on another instance";
  const std::string next = totp_hex(key_hex, t0 + 30);
  auto counts = in_threads(8, [&](int i) {
    auto& s = i % 2 ? *other : *store_;
    return outcome(s.redeem("alice", bytes(next), t0 + 30, shared));
  });
  EXPECT_EQ(counts, (std::map<std::string, int>{{"accepted", 1}, {"replayed", 7}}));

  Enrollment e;  // the same scratch codes enrolled on both instances
  e.secret.key = bytes("12345678901234567890");
  e.scratch_codes = {"12345678"};
  ASSERT_TRUE(store_->enroll("alice", e));
  ASSERT_TRUE(other->enroll("alice", e));
  EXPECT_EQ(outcome(store_->redeem("alice", bytes("12345678"), t0 + 60, shared)), "accepted_scratch");
  EXPECT_EQ(outcome(other->redeem("alice", bytes("12345678"), t0 + 61, shared)), "replayed");
  EXPECT_EQ(outcome(other->redeem("alice", bytes("12345678"), t0 + 62, shared)), "wrong")
      << "the spent code was removed from the other file too";
}

TEST_F(UsersOath, AnUnreachableSharedStateFailsClosedAndRecordsNothing) {
  Policy shared{1, nullptr};
  shared.shared = std::make_shared<test::UnreachableState>();
  const std::string code = totp_hex(key_hex, t0);
  const auto r = store_->redeem("alice", bytes(code), t0, shared);
  ASSERT_FALSE(r) << outcome(r);
  EXPECT_EQ(r.error().message(), std::string("shared state: ") + test::UnreachableState::error_text);
  EXPECT_EQ(slurp(path_), users_oath_text) << "nothing recorded";
  EXPECT_EQ(outcome(redeem("alice", code, t0)), "accepted") << "the code is still good once it can be checked";
}

TEST_F(UsersOath, ConcurrentProcessesExactlyOneSucceeds) {
  const std::string code = totp_hex(key_hex, t0);
  const fs::path path = path_;
  const auto codes = in_processes(6, [&]() {
    crypto::SystemRandom rng;
    auto s = users_oath_store(path, rng);
    const auto r = s->redeem("alice", bytes(code), t0, Policy{});
    return !r ? 3 : *r == Verdict::accepted ? 0 : *r == Verdict::replayed ? 1 : 2;
  });
  std::map<int, int> counts;
  for (int c : codes) ++counts[c];
  EXPECT_EQ(counts, (std::map<int, int>{{0, 1}, {1, 5}})) << "exit 0: accepted, 1: replayed";
}

TEST_F(UsersOath, CorruptOrTruncatedFilesAreRefusedNamingTheLineAndLeftUntouched) {
  const std::string good = std::string(users_oath_text);
  struct Case {
    std::string name;
    std::string content;
    std::size_t line;
  };
  const std::vector<Case> cases = {
      {"bad hex", good + "HOTP/T30/6 dave - 31323334353637383930313233343536373839zz\n", 6},
      {"odd hex", good + "HOTP/T30/6 dave - 3132333435363738393031323334353637383930313\n", 6},
      {"missing columns", good + "HOTP/T30/6 dave -\n", 6},
      {"truncated mid-line", good + "HOTP/T30/6 dave - 31323334353637", 6},
      {"truncated in the time", good.substr(0, good.size() - 5), 5},
      {"unknown token type", "TOTP/T30/6 alice - 3132333435363738393031323334353637383930\n" + good, 1},
      {"bad counter", good + "HOTP/T30/6 dave - 3132333435363738393031323334353637383930 x1\n", 6},
      {"bad last code", good + "HOTP/T30/6 dave - 3132333435363738393031323334353637383930 0 12a456\n", 6},
      {"bad time", good + "HOTP/T30/6 dave - 3132333435363738393031323334353637383930 0 123456 2023-13-01T00:00:00L\n", 6},
      {"too many columns",
       good + "HOTP/T30/6 dave - 3132333435363738393031323334353637383930 0 123456 2023-01-01T00:00:00L x\n", 6},
      {"secret too long", good + "HOTP/T30/6 dave - " + std::string(66, 'a') + "\n", 6},
      {"NUL byte", good + std::string("HOTP/T30/6 dave - 31\0 32\n", 25), 6},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    put(path_, c.content, 0600);
    const auto r = redeem("alice", totp_hex(key_hex, t0), t0);
    ASSERT_FALSE(r) << outcome(r);
    EXPECT_EQ(r.error().file, path_.string());
    EXPECT_EQ(r.error().line, c.line) << r.error().message();
    EXPECT_TRUE(r.error().message().starts_with(path_.string() + ":" + std::to_string(c.line) + ": "))
        << r.error().message();
    EXPECT_EQ(slurp(path_), c.content) << "the file must be left as it was";
    EXPECT_EQ(listing(dir_.path()), std::set<std::string>{"users.oath"});
    // enroll() refuses it too, for the same line.
    Enrollment e;
    e.secret.key = bytes("12345678901234567890");
    const auto en = store_->enroll("erin", e);
    ASSERT_FALSE(en);
    EXPECT_EQ(en.error().line, c.line);
    EXPECT_EQ(slurp(path_), c.content);
  }
}

TEST_F(UsersOath, ACorruptScratchFileIsRefusedNamingItsLine) {
  const fs::path sidecar = dir_ / "users.oath.scratch";
  const std::string bad = "# comment\nalice 00112233445566778899aabbccddeeff 0011\n";
  put(sidecar, bad, 0600);
  const auto r = redeem("alice", "12345678", t0);
  ASSERT_FALSE(r) << outcome(r);
  EXPECT_EQ(r.error().file, sidecar.string());
  EXPECT_EQ(r.error().line, 2u);
  EXPECT_EQ(slurp(sidecar), bad);
  EXPECT_EQ(slurp(path_), users_oath_text);
}

TEST_F(UsersOath, StateThatCannotBeSavedFailsClosed) {
  const std::string code = totp_hex(key_hex, t0);
  {
    FileSizeLimit full(16);  // the new file cannot be written: a full disk
    ASSERT_TRUE(full.ok());
    const auto r = redeem("alice", code, t0);
    ASSERT_FALSE(r) << outcome(r);
    EXPECT_NE(r.error().reason.find("cannot write"), std::string::npos) << r.error().message();
  }
  EXPECT_EQ(slurp(path_), users_oath_text) << "the old file is intact";
  EXPECT_EQ(listing(dir_.path()), std::set<std::string>{"users.oath"});
  // Nothing was recorded, so the code still works once it can be.
  EXPECT_EQ(outcome(redeem("alice", code, t0)), "accepted");
}

TEST_F(UsersOath, ALockFileOrUsersFileThatIsNotAFileFailsClosed) {
  const std::string code = totp_hex(key_hex, t0);
  const fs::path lock = dir_ / "users.oath.lock";
  fs::create_directory(lock);
  auto r = redeem("alice", code, t0);
  ASSERT_FALSE(r) << outcome(r);
  EXPECT_EQ(r.error().file, lock.string());
  EXPECT_EQ(slurp(path_), users_oath_text);
  fs::remove(lock);

  fs::remove(path_);
  fs::create_directory(path_);
  r = redeem("alice", code, t0);
  ASSERT_FALSE(r) << outcome(r);
  EXPECT_NE(r.error().reason.find("not a regular file"), std::string::npos) << r.error().message();
  fs::remove(path_);
  r = redeem("alice", code, t0);
  ASSERT_FALSE(r) << "a missing users.oath is an error, not 'no secret'";
}

TEST_F(UsersOath, AReadOnlyDirectoryFailsClosed) {
  // The lock file cannot be created there either (liboath's lock is a file
  // beside users.oath), so that is where it fails.
  const std::string code = totp_hex(key_hex, t0);
  if (!is_root()) {
    ASSERT_EQ(::chmod(dir_.path().c_str(), 0500), 0);
    const auto r = redeem("alice", code, t0);
    ::chmod(dir_.path().c_str(), 0700);
    ASSERT_FALSE(r) << outcome(r);
    EXPECT_NE(r.error().reason.find("cannot create the lock file"), std::string::npos) << r.error().message();
  } else {
    // Root writes anywhere; the same as an ordinary user (nobody) in a child.
    struct passwd* nobody = ::getpwnam("nobody");
    ASSERT_NE(nobody, nullptr);
    ASSERT_EQ(::chmod(dir_.path().c_str(), 0755), 0);  // root-owned: nobody cannot create files here
    ASSERT_EQ(::chown(path_.c_str(), nobody->pw_uid, nobody->pw_gid), 0);
    const fs::path path = path_;
    const uid_t uid = nobody->pw_uid;
    const gid_t gid = nobody->pw_gid;
    const auto codes = in_processes(1, [&]() {
      if (::setgroups(0, nullptr) != 0 || ::setgid(gid) != 0 || ::setuid(uid) != 0) return 9;
      crypto::SystemRandom rng;
      auto s = users_oath_store(path, rng);
      const auto r = s->redeem("alice", bytes(code), t0, Policy{});
      if (r) return 1;  // must not be accepted, nor anything else
      return r.error().reason.find("cannot create the lock file") != std::string::npos ? 0 : 2;
    });
    EXPECT_EQ(codes, std::vector<int>{0}) << "0: refused because nothing could be created there";
  }
  EXPECT_EQ(slurp(path_), users_oath_text);
}

TEST_F(UsersOath, EnrollWritesALiboathLineAndKeepsTheOthers) {
  Enrollment e;
  e.secret.key = bytes("abcdefghijklmnopqrst");  // 20 bytes
  ASSERT_TRUE(store_->enroll("erin", e));
  const std::string erin_hex = to_hex(as_bytes("abcdefghijklmnopqrst"));
  EXPECT_EQ(slurp(path_), std::string(users_oath_text) + "HOTP/T30/6\terin\t-\t" + erin_hex + "\n");
  // A code from oathtool for the new secret passes.
  EXPECT_EQ(outcome(redeem("erin", totp_hex(erin_hex, t0), t0)), "accepted");

  // Re-enrolling alice replaces her line in place, 8 digits and 60 s steps.
  Enrollment a;
  a.secret.key = bytes("ABCDEFGHIJKLMNOPQRST");
  a.secret.digits = 8;
  a.secret.period = seconds(60);
  ASSERT_TRUE(store_->enroll("alice", a));
  const auto after = lines_of(slurp(path_));
  const std::string alice_hex = to_hex(as_bytes("ABCDEFGHIJKLMNOPQRST"));
  EXPECT_EQ(after[3], "HOTP/T60/8\talice\t-\t" + alice_hex);
  EXPECT_EQ(after[1], "HOTP bob - 3132333435363738393031323334353637383930 3");
  EXPECT_EQ(outcome(redeem("alice", totp_hex(alice_hex, t0, 8, 60), t0)), "accepted");
  EXPECT_EQ(outcome(redeem("alice", totp_hex(key_hex, t0), t0)), "wrong") << "the old secret is gone";
}

TEST_F(UsersOath, EnrollRefusesWhatTheFormatCannotHold) {
  const std::string before = slurp(path_);
  Enrollment e;
  e.secret.key = bytes("12345678901234567890123456789012");
  e.secret.algorithm = TotpAlgorithm::sha256;
  auto r = store_->enroll("erin", e);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().reason.find("SHA1"), std::string::npos) << r.error().message();
  e.secret.algorithm = TotpAlgorithm::sha1;
  e.secret.period = seconds(45);
  EXPECT_FALSE(store_->enroll("erin", e));
  e.secret.period = seconds(30);
  e.scratch_codes = {"1234567"};
  r = store_->enroll("erin", e);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason.find("1234567"), std::string::npos) << "no code in an error";
  e.scratch_codes.clear();
  EXPECT_FALSE(store_->enroll("#erin", e));
  EXPECT_FALSE(store_->enroll("er in", e));
  e.secret.key = SecretBytes(33);
  EXPECT_FALSE(store_->enroll("erin", e));
  EXPECT_EQ(slurp(path_), before);
}

TEST_F(UsersOath, EnrollCreatesAMissingFilePrivately) {
  fs::remove(path_);
  Enrollment e;
  e.secret.key = bytes("12345678901234567890");
  ASSERT_TRUE(store_->enroll("alice", e));
  EXPECT_EQ(slurp(path_), "HOTP/T30/6\talice\t-\t" + std::string(key_hex) + "\n");
  EXPECT_EQ(mode_of(path_), 0600u);
}

/// Waits until at least `margin` seconds are left in the current 30 s step,
/// so that a test using the real clock (as liboath and the PAM module do)
/// does not straddle a step boundary; returns the time.
std::int64_t settled_now(int margin = 8) {
  while (true) {
    const std::int64_t now = std::time(nullptr);
    if (30 - now % 30 >= margin) return now;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
}

TEST_F(UsersOath, LiboathRefusesWhatTheStoreAccepted) {
  ASSERT_EQ(oath_init(), OATH_OK);
  const std::int64_t now = settled_now();
  const std::string code = totp_hex(key_hex, now);
  ASSERT_EQ(outcome(redeem("alice", code, now)), "accepted");
  time_t last = 0;
  EXPECT_EQ(oath_authenticate_usersfile(path_.c_str(), "alice", code.c_str(), 1, nullptr, &last), OATH_REPLAYED_OTP);
  const std::string previous = totp_hex(key_hex, now - 30);
  EXPECT_EQ(oath_authenticate_usersfile(path_.c_str(), "alice", previous.c_str(), 1, nullptr, &last),
            OATH_REPLAYED_OTP);
  // liboath reads the store's line: the next step is accepted, and recorded.
  const std::string next = totp_hex(key_hex, now + 30);
  EXPECT_EQ(oath_authenticate_usersfile(path_.c_str(), "alice", next.c_str(), 1, nullptr, &last), OATH_OK);
  EXPECT_EQ(outcome(redeem("alice", next, now)), "replayed");
  EXPECT_EQ(lines_of(slurp(path_))[1], "HOTP bob - 3132333435363738393031323334353637383930 3");
}

TEST_F(UsersOath, TheStoreRefusesWhatLiboathAccepted) {
  ASSERT_EQ(oath_init(), OATH_OK);
  const std::int64_t now = settled_now();
  const std::string code = totp_hex(key_hex, now);
  time_t last = 0;
  ASSERT_EQ(oath_authenticate_usersfile(path_.c_str(), "alice", code.c_str(), 1, nullptr, &last), OATH_OK);
  const std::string by_liboath = lines_of(slurp(path_))[3];
  EXPECT_EQ(outcome(redeem("alice", code, now)), "replayed");
  EXPECT_EQ(outcome(redeem("alice", totp_hex(key_hex, now - 30), now)), "replayed");
  const std::string next = totp_hex(key_hex, now + 30);
  EXPECT_EQ(outcome(redeem("alice", next, now)), "accepted");
  // The store's line has liboath's shape: tab-separated, the same seven columns.
  const std::string by_store = lines_of(slurp(path_))[3];
  auto columns = [](const std::string& l) {
    std::vector<std::string> c;
    std::istringstream in(l);
    for (std::string w; std::getline(in, w, '\t');) c.push_back(w);
    return c;
  };
  const auto a = columns(by_liboath), b = columns(by_store);
  ASSERT_EQ(a.size(), 7u) << by_liboath;
  ASSERT_EQ(b.size(), 7u) << by_store;
  for (int i : {0, 1, 2, 3}) EXPECT_EQ(a[static_cast<std::size_t>(i)], b[static_cast<std::size_t>(i)]);
  EXPECT_EQ(b[5], next);
  EXPECT_EQ(b[6], oath_time(now));
  EXPECT_EQ(oath_authenticate_usersfile(path_.c_str(), "alice", next.c_str(), 1, nullptr, &last), OATH_REPLAYED_OTP);
}

/// Takes the lock Debian's liboath takes: the lock file created exclusively,
/// then a classic (process-associated) fcntl write lock on it.
int liboath_style_lock(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_TRUNC | O_CLOEXEC, 0600);
  struct flock l {};
  l.l_type = F_WRLCK;
  l.l_whence = SEEK_SET;
  if (fd < 0 || ::fcntl(fd, F_SETLKW, &l) != 0) return -1;
  return fd;
}

TEST_F(UsersOath, WaitsWhileLiboathHoldsItsLockAndLeavesNoLockFile) {
  const fs::path lock = dir_ / "users.oath.lock";
  const int held = liboath_style_lock(lock);
  ASSERT_GE(held, 0);
  const std::string code = totp_hex(key_hex, t0);
  std::atomic<bool> done{false};
  std::string result;
  std::thread login([&] {
    result = outcome(redeem("alice", code, t0));
    done = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_FALSE(done) << "the store must wait for liboath's update";
  EXPECT_EQ(slurp(path_), users_oath_text);
  // As liboath finishes: it closes (dropping the fcntl lock), then removes the file.
  ::close(held);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_FALSE(done) << "the lock file still exists: still locked";
  ASSERT_EQ(::unlink(lock.c_str()), 0);
  login.join();
  EXPECT_EQ(result, "accepted");
  EXPECT_FALSE(fs::exists(lock)) << "a lock file left behind would make liboath fail";
}

TEST_F(UsersOath, TheStoresLockMakesLiboathBackOff) {
  // The other way round: while a store holds the lock file, liboath cannot
  // update (Debian's liboath fails at once when the lock file exists).
  ASSERT_EQ(oath_init(), OATH_OK);
  const std::int64_t now = settled_now();
  const fs::path lock = dir_ / "users.oath.lock";
  const int held = ::open(lock.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);  // as the store holds it
  ASSERT_GE(held, 0);
  time_t last = 0;
  const std::string code = totp_hex(key_hex, now);
  EXPECT_EQ(oath_authenticate_usersfile(path_.c_str(), "alice", code.c_str(), 1, nullptr, &last), OATH_FILE_LOCK_ERROR);
  EXPECT_EQ(slurp(path_), users_oath_text);
  ::close(held);
  ::unlink(lock.c_str());
  EXPECT_EQ(oath_authenticate_usersfile(path_.c_str(), "alice", code.c_str(), 1, nullptr, &last), OATH_OK);
}

TEST_F(UsersOath, AStaleLockFileIsAnErrorNotRemoved) {
  const fs::path lock = dir_ / "users.oath.lock";
  put(lock, "", 0600);
  const auto started = std::chrono::steady_clock::now();
  const auto r = redeem("alice", totp_hex(key_hex, t0), t0);
  ASSERT_FALSE(r) << outcome(r);
  EXPECT_EQ(r.error().file, lock.string());
  EXPECT_GE(std::chrono::steady_clock::now() - started, std::chrono::seconds(5)) << "it waited first";
  EXPECT_TRUE(fs::exists(lock));
  EXPECT_EQ(slurp(path_), users_oath_text);
}

// ---------------------------------------------------------------------------
// ~/.google_authenticator

std::string ga_text(std::string_view options) {
  return std::string(key_b32) + "\n" + std::string(options) + "11111111\n22222222\n";
}

const std::string ga_default = ga_text("\" RATE_LIMIT 3 30\n\" WINDOW_SIZE 3\n\" DISALLOW_REUSE\n\" TOTP_AUTH\n");

class Google : public ::testing::Test {
 protected:
  void SetUp() override {
    require_tool(oathtool_path, "oathtool");
    me_ = my_name();
    ASSERT_FALSE(me_.empty());
    fs::create_directory(dir_ / me_);
    path_ = dir_ / me_ / ".google_authenticator";
    put(path_, ga_default, 0400);
    store_ = google_authenticator_store(dir_.path().string() + "/%u/.google_authenticator", rng_);
  }

  std::expected<Verdict, StoreError> redeem(std::string_view code, std::int64_t t, unsigned window = 1) {
    return store_->redeem(me_, bytes(code), t, Policy{window, nullptr});
  }

  test::TempDir dir_;
  std::string me_;
  fs::path path_;
  crypto::SystemRandom rng_;
  std::unique_ptr<TotpStore> store_;
};

TEST_F(Google, RightCodeFromOathtoolPassesAndIsRecordedAsTheModuleWould) {
  const uid_t owner = owner_of(path_);
  EXPECT_EQ(outcome(redeem(totp_b32(key_b32, t0), t0)), "accepted");
  EXPECT_EQ(slurp(path_), ga_text("\" RATE_LIMIT 3 30 " + std::to_string(t0) + "\n\" WINDOW_SIZE 3\n\" DISALLOW_REUSE " +
                                  std::to_string(step0) + "\n\" TOTP_AUTH\n"));
  EXPECT_EQ(mode_of(path_), 0400u);
  EXPECT_EQ(owner_of(path_), owner);
  EXPECT_EQ(listing(dir_ / me_), std::set<std::string>{".google_authenticator"}) << "no temporary file left";
  EXPECT_EQ(store_->describe(), "google-authenticator " + dir_.path().string() + "/%u/.google_authenticator");
}

TEST_F(Google, OneStepOldOrAheadPassesTwoStepsFail) {
  for (int offset : {-1, 1}) {
    put(path_, ga_default, 0400);
    EXPECT_EQ(outcome(redeem(totp_b32(key_b32, t0 + 30 * offset), t0)), "accepted") << offset;
  }
  for (int offset : {-2, 2}) {
    put(path_, ga_default, 0400);
    EXPECT_EQ(outcome(redeem(totp_b32(key_b32, t0 + 30 * offset), t0)), "wrong") << offset;
  }
}

TEST_F(Google, WindowSizeStepSizeAndTimeSkewAreTheFiles) {
  // WINDOW_SIZE 5: two steps each way (the policy's window does not apply).
  const std::string w5 = ga_text("\" WINDOW_SIZE 5\n\" DISALLOW_REUSE\n\" TOTP_AUTH\n");
  for (int offset : {-2, 2}) {
    put(path_, w5, 0400);
    EXPECT_EQ(outcome(redeem(totp_b32(key_b32, t0 + 30 * offset), t0, 1)), "accepted") << offset;
  }
  for (int offset : {-3, 3}) {
    put(path_, w5, 0400);
    EXPECT_EQ(outcome(redeem(totp_b32(key_b32, t0 + 30 * offset), t0, 10)), "wrong") << offset;
  }
  // WINDOW_SIZE 4: the module's loop runs from -1 to +2.
  const std::string w4 = ga_text("\" WINDOW_SIZE 4\n\" TOTP_AUTH\n");
  put(path_, w4, 0400);
  EXPECT_EQ(outcome(redeem(totp_b32(key_b32, t0 - 60), t0)), "wrong");
  put(path_, w4, 0400);
  EXPECT_EQ(outcome(redeem(totp_b32(key_b32, t0 + 60), t0)), "accepted");
  // No WINDOW_SIZE: the policy's window.
  const std::string none = ga_text("\" TOTP_AUTH\n");
  put(path_, none, 0400);
  EXPECT_EQ(outcome(redeem(totp_b32(key_b32, t0 + 60), t0, 1)), "wrong");
  put(path_, none, 0400);
  EXPECT_EQ(outcome(redeem(totp_b32(key_b32, t0 + 60), t0, 2)), "accepted");
  // STEP_SIZE 60: codes of 60 s steps.
  const std::string s60 = ga_text("\" STEP_SIZE 60\n\" TOTP_AUTH\n");
  put(path_, s60, 0400);
  EXPECT_EQ(outcome(redeem(totp_b32(key_b32, t0 + 120, 30), t0)), "wrong");
  put(path_, s60, 0400);
  EXPECT_EQ(outcome(redeem(totp_b32(key_b32, t0, 60), t0)), "accepted");
  EXPECT_NE(slurp(path_).find("\" DISALLOW_REUSE " + std::to_string(t0 / 60) + "\n"), std::string::npos);
  // TIME_SKEW 5: the module's learnt clock offset, in steps.
  put(path_, ga_text("\" TIME_SKEW 5\n\" TOTP_AUTH\n"), 0400);
  EXPECT_EQ(outcome(redeem(totp_b32(key_b32, t0), t0)), "wrong");
  EXPECT_EQ(outcome(redeem(totp_b32(key_b32, t0 + 150), t0)), "accepted");
}

TEST_F(Google, SameCodeTwiceAndEarlierStepsAreReplayed) {
  put(path_, ga_text("\" DISALLOW_REUSE\n\" TOTP_AUTH\n"), 0400);
  const std::string code = totp_b32(key_b32, t0);
  ASSERT_EQ(outcome(redeem(code, t0)), "accepted");
  EXPECT_EQ(outcome(redeem(code, t0 + 1)), "replayed");
  EXPECT_EQ(outcome(redeem(totp_b32(key_b32, t0 - 30), t0 + 2)), "replayed");
  EXPECT_EQ(outcome(redeem(totp_b32(key_b32, t0 + 30), t0 + 30)), "accepted");
  EXPECT_EQ(outcome(redeem(code, t0 + 30)), "replayed");
}

TEST_F(Google, AFileWithoutDisallowReuseGetsItAfterTheSecret) {
  // parley never accepts a code twice; the option records it where the module reads it.
  put(path_, ga_text("\" WINDOW_SIZE 3\n\" TOTP_AUTH\n"), 0400);
  const std::string code = totp_b32(key_b32, t0);
  ASSERT_EQ(outcome(redeem(code, t0)), "accepted");
  EXPECT_EQ(slurp(path_), ga_text("\" DISALLOW_REUSE " + std::to_string(step0) + "\n\" WINDOW_SIZE 3\n\" TOTP_AUTH\n"));
  EXPECT_EQ(outcome(redeem(code, t0)), "replayed");
}

TEST_F(Google, DisallowReuseKeepsOnlyStepsWithinTheWindow) {
  put(path_, ga_text("\" WINDOW_SIZE 3\n\" DISALLOW_REUSE 100 " + std::to_string(step0 - 2) + " " +
                     std::to_string(step0 - 1) + "\n\" TOTP_AUTH\n"),
      0400);
  ASSERT_EQ(outcome(redeem(totp_b32(key_b32, t0), t0)), "accepted");
  EXPECT_NE(slurp(path_).find("\" DISALLOW_REUSE " + std::to_string(step0 - 2) + " " + std::to_string(step0 - 1) +
                              " " + std::to_string(step0) + "\n"),
            std::string::npos)
      << slurp(path_);
}

TEST_F(Google, ScratchCodesWorkOnceAndAreRemoved) {
  EXPECT_EQ(outcome(redeem("11111111", t0)), "accepted_scratch");
  EXPECT_EQ(slurp(path_), std::string(key_b32) + "\n\" RATE_LIMIT 3 30 " + std::to_string(t0) +
                              "\n\" WINDOW_SIZE 3\n\" DISALLOW_REUSE\n\" TOTP_AUTH\n22222222\n");
  EXPECT_EQ(outcome(redeem("11111111", t0 + 30)), "wrong");
  EXPECT_EQ(outcome(redeem("22222222", t0 + 60)), "accepted_scratch");
  EXPECT_EQ(outcome(redeem("22222222", t0 + 90)), "wrong");
  EXPECT_EQ(outcome(redeem("1111111", t0 + 120)), "wrong");
}

TEST_F(Google, InstancesSharingStateAcceptACodeOnceAcrossTheirFiles) {
  // The other instance's copy of the user's file (its own home directories).
  test::TempDir other_dir;
  fs::create_directory(other_dir / me_);
  const fs::path other_path = other_dir / me_ / ".google_authenticator";
  put(other_path, ga_default, 0400);
  auto other = google_authenticator_store(other_dir.path().string() + "/%u/.google_authenticator", rng_);
  Policy shared{1, nullptr};
  shared.shared = state::memory_state();
  const std::string code = totp_b32(key_b32, t0);
  EXPECT_EQ(outcome(store_->redeem(me_, bytes(code), t0, shared)), "accepted");
  EXPECT_EQ(outcome(other->redeem(me_, bytes(code), t0 + 1, shared)), "replayed");
  EXPECT_EQ(outcome(store_->redeem(me_, bytes("11111111"), t0 + 2, shared)), "accepted_scratch");
  EXPECT_EQ(outcome(other->redeem(me_, bytes("11111111"), t0 + 3, shared)), "replayed");
  EXPECT_EQ(outcome(other->redeem(me_, bytes("22222222"), t0 + 90, shared)), "accepted_scratch")
      << "an unused scratch code still works on the other instance";

  Policy down{1, nullptr};
  down.shared = std::make_shared<test::UnreachableState>();
  const auto r = other->redeem(me_, bytes(totp_b32(key_b32, t0 + 60)), t0 + 60, down);
  ASSERT_FALSE(r) << outcome(r);
  EXPECT_NE(r.error().message().find(test::UnreachableState::error_text), std::string::npos) << r.error().message();
}

TEST_F(Google, RateLimitCountsEveryAttemptAsTheModuleDoes) {
  const std::string code = totp_b32(key_b32, t0 + 3);
  EXPECT_EQ(outcome(redeem("000000", t0)), "wrong");
  EXPECT_EQ(outcome(redeem("000001", t0 + 1)), "wrong");
  EXPECT_EQ(outcome(redeem("000002", t0 + 2)), "wrong");
  EXPECT_EQ(outcome(redeem(code, t0 + 3)), "rate_limited") << "a right code too, once the limit is reached";
  const auto lines = lines_of(slurp(path_));
  EXPECT_EQ(lines[1], "\" RATE_LIMIT 3 30 " + std::to_string(t0 + 1) + " " + std::to_string(t0 + 2) + " " +
                          std::to_string(t0 + 3));
  EXPECT_EQ(lines[3], "\" DISALLOW_REUSE") << "a rate-limited code is not recorded";
  EXPECT_EQ(outcome(redeem(totp_b32(key_b32, t0 + 40), t0 + 40)), "accepted");
}

TEST_F(Google, ConcurrentLoginsWithTheSameCodeExactlyOneSucceeds) {
  put(path_, ga_text("\" RATE_LIMIT 20 30\n\" DISALLOW_REUSE\n\" TOTP_AUTH\n"), 0400);
  const std::string code = totp_b32(key_b32, t0);
  auto counts = in_threads(8, [&](int) { return outcome(redeem(code, t0)); });
  EXPECT_EQ(counts, (std::map<std::string, int>{{"accepted", 1}, {"replayed", 7}}));
  // Every attempt was counted, none lost to a race.
  EXPECT_EQ(lines_of(slurp(path_))[1].size(), std::string("\" RATE_LIMIT 20 30").size() + 8 * 11);
}

TEST_F(Google, TwoStoresAndProcessesExactlyOneSucceeds) {
  const std::string code = totp_b32(key_b32, t0);
  auto other = google_authenticator_store(dir_.path().string() + "/%u/.google_authenticator", rng_);
  auto counts = in_threads(8, [&](int i) {
    auto& s = i % 2 ? *other : *store_;
    return outcome(s.redeem(me_, bytes(code), t0, Policy{}));
  });
  // RATE_LIMIT 3 30 in the default file: 3 get through to the check.
  EXPECT_EQ(counts, (std::map<std::string, int>{{"accepted", 1}, {"replayed", 2}, {"rate_limited", 5}}));

  put(path_, ga_text("\" DISALLOW_REUSE\n\" TOTP_AUTH\n"), 0400);
  const std::string pattern = dir_.path().string() + "/%u/.google_authenticator";
  const std::string me = me_;
  const auto codes = in_processes(6, [&]() {
    crypto::SystemRandom rng;
    auto s = google_authenticator_store(pattern, rng);
    const auto r = s->redeem(me, bytes(code), t0, Policy{});
    return !r ? 3 : *r == Verdict::accepted ? 0 : *r == Verdict::replayed ? 1 : 2;
  });
  std::map<int, int> by_code;
  for (int c : codes) ++by_code[c];
  EXPECT_EQ(by_code, (std::map<int, int>{{0, 1}, {1, 5}})) << "exit 0: accepted, 1: replayed";
}

TEST_F(Google, CorruptOrTruncatedFilesAreRefusedNamingTheLineAndLeftUntouched) {
  struct Case {
    std::string name;
    std::string content;
    std::size_t line;
  };
  const std::string b32 = std::string(key_b32);
  const std::vector<Case> cases = {
      {"bad base32", "GEZDGNBVGY3TQOJ1GEZDGNBVGY3TQOJQ\n\" TOTP_AUTH\n", 1},
      {"secret too short", "GEZDGNBVGY3TQOJ\n\" TOTP_AUTH\n", 1},
      {"unknown option", b32 + "\n\" TOTP_AUTH\n\" FROBNICATE 3\n11111111\n", 3},
      {"scratch code of the wrong length", b32 + "\n\" TOTP_AUTH\n11111111\n2222222\n", 4},
      {"scratch code with a leading zero", b32 + "\n\" TOTP_AUTH\n01111111\n", 3},
      {"truncated mid-line", b32 + "\n\" TOTP_AUTH\n11111111\n2222", 4},
      {"truncated option", b32 + "\n\" TOTP_AUTH\n\" RATE_LIM", 3},
      {"bad WINDOW_SIZE", b32 + "\n\" WINDOW_SIZE 0\n\" TOTP_AUTH\n", 2},
      {"bad RATE_LIMIT", b32 + "\n\" RATE_LIMIT 3\n\" TOTP_AUTH\n", 2},
      {"bad DISALLOW_REUSE", b32 + "\n\" DISALLOW_REUSE 12 x\n\" TOTP_AUTH\n", 2},
      {"option twice", b32 + "\n\" TOTP_AUTH\n\" TOTP_AUTH\n", 3},
      {"option without a name", b32 + "\n\"\n\" TOTP_AUTH\n", 2},
      {"NUL byte", b32 + "\n\" TOTP_AUTH\n" + std::string("1111\0" "1111\n", 10), 3},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    put(path_, c.content, 0400);
    const auto r = redeem(totp_b32(key_b32, t0), t0);
    ASSERT_FALSE(r) << outcome(r);
    EXPECT_EQ(r.error().file, path_.string());
    EXPECT_EQ(r.error().line, c.line) << r.error().message();
    EXPECT_TRUE(r.error().message().starts_with(path_.string() + ":" + std::to_string(c.line) + ": "))
        << r.error().message();
    EXPECT_EQ(r.error().message().find(b32), std::string::npos) << "never the secret";
    EXPECT_EQ(slurp(path_), c.content) << "the file must be left as it was";
    EXPECT_EQ(listing(dir_ / me_), std::set<std::string>{".google_authenticator"});
  }
}

TEST_F(Google, StateThatCannotBeSavedFailsClosed) {
  const std::string code = totp_b32(key_b32, t0);
  {
    FileSizeLimit full(16);
    ASSERT_TRUE(full.ok());
    const auto r = redeem(code, t0);
    ASSERT_FALSE(r) << outcome(r);
    EXPECT_NE(r.error().reason.find("cannot write"), std::string::npos) << r.error().message();
  }
  EXPECT_EQ(slurp(path_), ga_default);
  EXPECT_EQ(listing(dir_ / me_), std::set<std::string>{".google_authenticator"});
  // A wrong code with RATE_LIMIT must be counted: if that cannot be saved, an error too.
  {
    FileSizeLimit full(16);
    EXPECT_FALSE(redeem("000000", t0));
  }
  if (!is_root()) {
    ASSERT_EQ(::chmod((dir_ / me_).c_str(), 0500), 0);
    const auto r = redeem(code, t0);
    ::chmod((dir_ / me_).c_str(), 0700);
    ASSERT_FALSE(r) << outcome(r);
    EXPECT_NE(r.error().reason.find("cannot create temporary file"), std::string::npos) << r.error().message();
  }  // as root: GoogleRealUser.ReadsAndWritesAsTheUser
  EXPECT_EQ(slurp(path_), ga_default);
  EXPECT_EQ(outcome(redeem(code, t0)), "accepted");

  fs::remove(path_);
  fs::create_directory(path_);
  const auto r = redeem(code, t0);
  ASSERT_FALSE(r) << outcome(r);
  EXPECT_NE(r.error().reason.find("not a regular file"), std::string::npos) << r.error().message();
}

TEST_F(Google, FilesTheModuleWouldRefuseAreRefused) {
  ASSERT_EQ(::chmod(path_.c_str(), 0620), 0);
  auto r = redeem(totp_b32(key_b32, t0), t0);
  ASSERT_FALSE(r) << outcome(r);
  EXPECT_NE(r.error().reason.find("0600"), std::string::npos) << r.error().message();
  ASSERT_EQ(::chmod(path_.c_str(), 0644), 0);
  EXPECT_FALSE(redeem(totp_b32(key_b32, t0), t0)) << "group- or world-readable too, as the module";
  ASSERT_EQ(::chmod(path_.c_str(), 0600), 0);
  EXPECT_EQ(outcome(redeem(totp_b32(key_b32, t0), t0)), "accepted") << "0600 is fine";

  // A symbolic link is never followed.
  const fs::path real = dir_ / "elsewhere";
  put(real, ga_default, 0400);
  fs::remove(path_);
  fs::create_symlink(real, path_);
  r = redeem(totp_b32(key_b32, t0 + 30), t0 + 30);
  ASSERT_FALSE(r) << outcome(r);
  EXPECT_NE(r.error().reason.find("symbolic link"), std::string::npos) << r.error().message();
  EXPECT_EQ(slurp(real), ga_default);
  fs::remove(path_);

  if (is_root()) {
    // Not the user's own file (here root is the user): refused.
    put(path_, ga_default, 0400);
    struct passwd* nobody = ::getpwnam("nobody");
    ASSERT_NE(nobody, nullptr);
    ASSERT_EQ(::chown(path_.c_str(), nobody->pw_uid, nobody->pw_gid), 0);
    r = redeem(totp_b32(key_b32, t0), t0);
    ASSERT_FALSE(r) << outcome(r);
    EXPECT_NE(r.error().reason.find("owned"), std::string::npos) << r.error().message();
  }
}

TEST_F(Google, NoSecretAndUnsafeNames) {
  EXPECT_EQ(outcome(store_->redeem("nosuchuser-parley", bytes("123456"), t0, Policy{})), "no_secret")
      << "no file: no secret (as root: no such user)";
  put(path_, std::string(key_b32) + "\n\" WINDOW_SIZE 5\n\" HOTP_COUNTER 1\n11111111\n", 0400);
  EXPECT_EQ(outcome(redeem("11111111", t0)), "no_secret") << "counter-based (HOTP) files are not TOTP";
  put(path_, std::string(key_b32) + "\n\" TOTP_AUTH\n\" HOTP_COUNTER 1\n", 0400);
  EXPECT_EQ(outcome(redeem(totp_b32(key_b32, t0), t0)), "no_secret") << "HOTP_COUNTER wins (FILEFORMAT)";
  put(path_, std::string(key_b32) + "\n\" DISALLOW_REUSE\n", 0400);
  EXPECT_EQ(outcome(redeem(totp_b32(key_b32, t0), t0)), "no_secret") << "no TOTP_AUTH";
  for (const std::string& name : std::vector<std::string>{"", ".", "..", "../etc", "a/b", "-x", "a b", std::string("a\0b", 3), "a\nb"}) {
    const auto r = store_->redeem(name, bytes("123456"), t0, Policy{});
    ASSERT_FALSE(r) << "'" << name << "': " << outcome(r);
    EXPECT_NE(r.error().reason.find("not safe"), std::string::npos);
  }
  // %h of a user that does not exist: no secret.
  auto by_home = google_authenticator_store("%h/.google_authenticator", rng_);
  EXPECT_EQ(outcome(by_home->redeem("nosuchuser-parley", bytes("123456"), t0, Policy{})), "no_secret");
  auto bad = google_authenticator_store(dir_.path().string() + "/%x", rng_);
  EXPECT_FALSE(bad->redeem(me_, bytes("123456"), t0, Policy{}));
}

TEST_F(Google, EnrollWritesWhatGoogleAuthenticatorWrites) {
  Enrollment e;
  e.secret.key = bytes("12345678901234567890");
  e.scratch_codes = {"12345678", "23456789"};
  fs::remove(path_);
  ASSERT_TRUE(store_->enroll(me_, e));
  EXPECT_EQ(slurp(path_), std::string(key_b32) +
                              "\n\" RATE_LIMIT 3 30\n\" WINDOW_SIZE 3\n\" DISALLOW_REUSE\n\" TOTP_AUTH\n12345678\n23456789\n");
  EXPECT_EQ(mode_of(path_), 0400u);
  EXPECT_EQ(owner_of(path_), ::geteuid());
  EXPECT_EQ(outcome(redeem(totp_b32(key_b32, t0), t0)), "accepted");
  EXPECT_EQ(outcome(redeem("23456789", t0 + 1)), "accepted_scratch");

  e.secret.period = seconds(60);
  e.scratch_codes.clear();
  ASSERT_TRUE(store_->enroll(me_, e));  // replaces the file
  EXPECT_EQ(slurp(path_), std::string(key_b32) +
                              "\n\" RATE_LIMIT 3 30\n\" WINDOW_SIZE 3\n\" STEP_SIZE 60\n\" DISALLOW_REUSE\n\" TOTP_AUTH\n");
  EXPECT_EQ(outcome(redeem(totp_b32(key_b32, t0, 60), t0)), "accepted");

  const std::string before = slurp(path_);
  e.secret.algorithm = TotpAlgorithm::sha256;
  EXPECT_FALSE(store_->enroll(me_, e));
  e.secret.algorithm = TotpAlgorithm::sha1;
  e.secret.digits = 8;
  EXPECT_FALSE(store_->enroll(me_, e));
  e.secret.digits = 6;
  e.scratch_codes = {"02345678"};
  EXPECT_FALSE(store_->enroll(me_, e));
  EXPECT_EQ(slurp(path_), before);
}

// ---------------------------------------------------------------------------
// The real google-authenticator binary and PAM module

/// pam_google_authenticator.so through pam_wrapper: "success" or "refused 7".
class Pam {
 public:
  explicit Pam(const fs::path& dir) : services_(dir / "pam.d") { fs::create_directories(services_); }
  /// A service running the module with these arguments.
  void service(const std::string& name, const std::string& args) {
    std::ofstream out(services_ / name);
    out << "auth required " << pam_module.string() << " " << args << "\n";
  }
  std::string authenticate(const std::string& service, const std::string& user, const std::string& code) {
    const auto r = test::run_command({"/usr/bin/env", "LD_PRELOAD=libpam_wrapper.so", "PAM_WRAPPER=1",
                                      "PAM_WRAPPER_SERVICE_DIR=" + services_.string(), python.string(),
                                      std::string(PARLEY_TEST_DATA_DIR) + "/otp/pam_authenticate.py", service, user,
                                      code},
                                     seconds(30));
    EXPECT_TRUE(r.exit_code == 0 || r.exit_code == 1) << "pam_wrapper run failed: " << r.out << r.err;
    std::string out = r.out;
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
  }

 private:
  fs::path services_;
};

void require_pam_tools() {
  require_tool(google_authenticator_path, "libpam-google-authenticator");
  require_tool(pam_module, "libpam-google-authenticator");
  require_tool("/usr/lib/x86_64-linux-gnu/libpam_wrapper.so", "libpam-wrapper");
  require_tool(python, "python3");
  const auto r = test::run_command({python.string(), "-c", "import pypamtest"}, seconds(10));
  ASSERT_EQ(r.exit_code, 0) << "pypamtest is missing: apt-get install python3-pypamtest\n" << r.err;
}

/// google-authenticator's own non-interactive setup, as `args` ask.
void make_with_binary(const fs::path& file, std::vector<std::string> args) {
  args.insert(args.begin(), google_authenticator_path.string());
  args.insert(args.end(), {"-f", "-q", "-s", file.string()});
  const auto r = test::run_command(args, seconds(30));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
}

TEST_F(Google, FilesFromTheBinaryAreRedeemedAndTheModuleAgrees) {
  require_pam_tools();
  fs::remove(path_);
  make_with_binary(path_, {"-t", "-d", "-r", "10", "-R", "30", "-w", "3", "-e", "5"});
  const auto made = lines_of(slurp(path_));
  ASSERT_EQ(made.size(), 10u) << slurp(path_);
  const std::string secret = made[0];
  const std::vector<std::string> scratch(made.begin() + 5, made.end());
  Pam pam(dir_.path());
  pam.service("ga", "secret=" + path_.string());

  const std::int64_t now = settled_now(12);
  const std::string code = totp_b32(secret, now);
  ASSERT_EQ(outcome(redeem(code, now)), "accepted");
  EXPECT_EQ(pam.authenticate("ga", me_, code), "refused 7") << "the module must see the code as used";
  EXPECT_EQ(outcome(redeem(scratch[0], now)), "accepted_scratch");
  EXPECT_EQ(pam.authenticate("ga", me_, scratch[0]), "refused 7") << "the scratch code we used is gone";
  EXPECT_EQ(pam.authenticate("ga", me_, scratch[1]), "success") << "the ones we did not use still work";
  EXPECT_EQ(outcome(redeem(scratch[1], now)), "wrong") << "and the one the module used is gone for us";
  // The module accepts the next step's code and records it: we refuse it.
  const std::string next = totp_b32(secret, now + 30);
  EXPECT_EQ(pam.authenticate("ga", me_, next), "success");
  EXPECT_EQ(outcome(redeem(next, now)), "replayed");
  // The module still reads the file we wrote: RATE_LIMIT with 6 attempts in it.
  const auto lines = lines_of(slurp(path_));
  ASSERT_GE(lines.size(), 2u);
  EXPECT_TRUE(lines[1].starts_with("\" RATE_LIMIT 10 30 ")) << lines[1];
}

TEST_F(Google, TheStoreWritesTheBytesTheModuleWrites) {
  require_pam_tools();
  // Without RATE_LIMIT (its time stamps would be a second apart at times).
  fs::remove(path_);
  make_with_binary(path_, {"-t", "-d", "-u", "-w", "3", "-e", "4"});
  const std::string original = slurp(path_);
  const auto made = lines_of(original);
  const std::string secret = made[0];
  const fs::path theirs_dir = dir_ / "theirs";
  fs::create_directory(theirs_dir);
  const fs::path theirs = theirs_dir / ".google_authenticator";
  Pam pam(dir_.path());
  pam.service("theirs", "secret=" + theirs.string());

  const std::int64_t now = settled_now(10);
  // A TOTP code.
  const std::string code = totp_b32(secret, now);
  put(theirs, original, 0400);
  ASSERT_EQ(pam.authenticate("theirs", me_, code), "success");
  ASSERT_EQ(outcome(redeem(code, now)), "accepted");
  EXPECT_EQ(slurp(path_), slurp(theirs));
  // A scratch code, and a TOTP code after it.
  put(path_, original, 0400);
  put(theirs, original, 0400);
  ASSERT_EQ(pam.authenticate("theirs", me_, made[5]), "success");
  ASSERT_EQ(outcome(redeem(made[5], now)), "accepted_scratch");
  EXPECT_EQ(slurp(path_), slurp(theirs));
  const std::string next = totp_b32(secret, now + 30);
  ASSERT_EQ(pam.authenticate("theirs", me_, next), "success");
  ASSERT_EQ(outcome(redeem(next, now)), "accepted");
  EXPECT_EQ(slurp(path_), slurp(theirs));
}

// ---------------------------------------------------------------------------
// As root, with a real user: the store takes the user's file-system identity.

/// A temporary user (useradd -m), removed (userdel -r) on destruction.
class TemporaryUser {
 public:
  TemporaryUser(const fs::path& home) : name_("parleyotp" + std::to_string(::getpid())) {
    const auto r = test::run_command(
        {"/usr/sbin/useradd", "-m", "-d", home.string(), "-s", "/usr/sbin/nologin", "-U", name_}, seconds(60));
    created_ = r.exit_code == 0;
    error_ = r.err;
    if (struct passwd* pw = ::getpwnam(name_.c_str())) {
      uid_ = pw->pw_uid;
      gid_ = pw->pw_gid;
    }
  }
  ~TemporaryUser() {
    if (created_) test::run_command({"/usr/sbin/userdel", "-r", "-f", name_}, seconds(60));
  }
  bool created() const { return created_; }
  const std::string& error() const { return error_; }
  const std::string& name() const { return name_; }
  uid_t uid() const { return uid_; }
  gid_t gid() const { return gid_; }

 private:
  std::string name_;
  bool created_ = false;
  std::string error_;
  uid_t uid_ = 0;
  gid_t gid_ = 0;
};

TEST(GoogleRealUser, ReadsAndWritesAsTheUser) {
  if (!is_root()) {
    const char* ci = std::getenv("CI");
    if (ci && std::string(ci) == "true") FAIL() << "CI runs the tests as root: this test must run there";
    GTEST_SKIP() << "*** NOT RUN: needs root (it adds a temporary user); CI runs it ***";
  }
  require_tool(oathtool_path, "oathtool");
  require_pam_tools();
  require_tool("/usr/sbin/useradd", "passwd");
  require_tool("/usr/bin/setpriv", "util-linux");
  test::TempDir dir;
  ASSERT_EQ(::chmod(dir.path().c_str(), 0755), 0);  // the user must reach the home inside
  const fs::path home = dir / "home";
  TemporaryUser user(home);
  ASSERT_TRUE(user.created()) << "useradd failed: " << user.error();
  ASSERT_NE(user.uid(), 0u);
  const fs::path file = home / ".google_authenticator";

  // The user runs google-authenticator in their own home, as they would.
  const auto made_by_user =
      test::run_command({"/usr/bin/setpriv", "--reuid=" + std::to_string(user.uid()),
                         "--regid=" + std::to_string(user.gid()), "--clear-groups", google_authenticator_path.string(),
                         "-t", "-d", "-r", "10", "-R", "30", "-w", "3", "-e", "5", "-f", "-q", "-s", file.string()},
                        seconds(30));
  ASSERT_EQ(made_by_user.exit_code, 0) << made_by_user.err;
  ASSERT_EQ(owner_of(file), user.uid());
  const auto made = lines_of(slurp(file));
  ASSERT_EQ(made.size(), 10u);
  const std::string secret = made[0];

  crypto::SystemRandom rng;
  auto store = google_authenticator_store("%h/.google_authenticator", rng);
  const auto before = listing(home);
  const std::int64_t now = settled_now(12);
  const std::string code = totp_b32(secret, now);
  EXPECT_EQ(outcome(store->redeem(user.name(), bytes(code), now, Policy{})), "accepted");
  EXPECT_EQ(owner_of(file), user.uid()) << "the new file is the user's";
  EXPECT_EQ(mode_of(file), 0400u);
  EXPECT_EQ(listing(home), before) << "nothing else was created or left in the home";
  EXPECT_EQ(::setfsuid(static_cast<uid_t>(-1)), 0) << "the thread's file-system uid is root's again";
  EXPECT_EQ(::setfsgid(static_cast<gid_t>(-1)), 0);

  // The module (as root, dropping to the user as it does) agrees.
  Pam pam(dir.path());
  pam.service("ga", "");
  EXPECT_EQ(pam.authenticate("ga", user.name(), code), "refused 7");
  EXPECT_EQ(pam.authenticate("ga", user.name(), made[5]), "success");

  // A home the user cannot write: root could, the user cannot, so the store cannot.
  const std::string unsaved = slurp(file);
  ASSERT_EQ(::chmod(home.c_str(), 0500), 0);
  auto r = store->redeem(user.name(), bytes(made[6]), now, Policy{});
  ASSERT_EQ(::chmod(home.c_str(), 0700), 0);
  ASSERT_FALSE(r) << outcome(r);
  EXPECT_NE(r.error().reason.find("cannot create temporary file"), std::string::npos) << r.error().message();
  EXPECT_EQ(slurp(file), unsaved);
  EXPECT_EQ(outcome(store->redeem(user.name(), bytes(made[6]), now, Policy{})), "accepted_scratch");

  // A file the user does not own (root's, in the user's home): refused.
  ASSERT_EQ(::chown(file.c_str(), 0, 0), 0);
  r = store->redeem(user.name(), bytes(made[7]), now, Policy{});
  ASSERT_FALSE(r) << outcome(r);
  EXPECT_NE(r.error().reason.find("owned"), std::string::npos) << r.error().message();
  ASSERT_EQ(::chown(file.c_str(), user.uid(), user.gid()), 0);

  // Writable by the group: refused.
  ASSERT_EQ(::chmod(file.c_str(), 0620), 0);
  EXPECT_FALSE(store->redeem(user.name(), bytes(made[7]), now, Policy{}));
  ASSERT_EQ(::chmod(file.c_str(), 0400), 0);

  // A symbolic link the user planted, to a file root can read but the user cannot.
  const fs::path target = dir / "root-only";
  put(target, ga_default, 0600);
  ASSERT_EQ(::chown(target.c_str(), user.uid(), user.gid()), 0);
  ASSERT_EQ(::chmod(dir.path().c_str(), 0700), 0);  // the user cannot reach it
  fs::rename(file, home / "saved");
  fs::create_symlink(target, file);
  r = store->redeem(user.name(), bytes(totp_b32(key_b32, now)), now, Policy{});
  ASSERT_FALSE(r) << outcome(r);
  EXPECT_EQ(slurp(target), ga_default);
  ASSERT_EQ(::chmod(dir.path().c_str(), 0755), 0);
  fs::remove(file);
  fs::rename(home / "saved", file);

  // Enrolment as root writes the user's file, mode 0400, owned by the user.
  Enrollment e;
  e.secret.key = bytes("12345678901234567890");
  e.scratch_codes = {"34567890"};
  ASSERT_TRUE(store->enroll(user.name(), e));
  EXPECT_EQ(owner_of(file), user.uid());
  EXPECT_EQ(mode_of(file), 0400u);
  EXPECT_EQ(outcome(store->redeem(user.name(), bytes(totp_b32(key_b32, now)), now, Policy{})), "accepted");
  EXPECT_EQ(outcome(store->redeem(user.name(), bytes("34567890"), now, Policy{})), "accepted_scratch");
  EXPECT_EQ(::setfsuid(static_cast<uid_t>(-1)), 0);
}

}  // namespace
}  // namespace parley::otp

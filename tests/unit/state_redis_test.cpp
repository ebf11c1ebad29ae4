// redis_state() against a real redis-server (started here on a free loopback
// port, in a temporary directory): the SharedState contract, one winner among
// concurrent claims, expiry, AUTH, TLS, Redis going away and coming back, and
// servers that never answer or answer garbage. redis-server missing is a
// failure, not a skip.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "parley/driver/redis_state.hpp"
#include "shared_state_contract.hpp"
#include "test_support.hpp"

namespace parley::driver {
namespace {

using namespace std::chrono_literals;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

std::int64_t unix_now() {
  return std::chrono::duration_cast<seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

bool port_open(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

// One redis-server process; killed on destruction.
class RedisServer {
 public:
  RedisServer(std::string dir, int port, std::vector<std::string> extra = {}) : dir_(std::move(dir)), port_(port) {
    EXPECT_TRUE(std::filesystem::exists("/usr/bin/redis-server")) << "redis-server is missing: apt-get install redis-server";
    std::vector<std::string> args{"/usr/bin/redis-server", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                                  "--dir", dir_, "--logfile", dir_ + "/redis.log"};
    bool tls = false;
    for (const auto& e : extra) tls = tls || e == "--tls-port";
    if (!tls) {
      args.push_back("--port");
      args.push_back(std::to_string(port_));
    }
    args.insert(args.end(), extra.begin(), extra.end());
    pid_ = ::fork();
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // no redis-server left behind by a crashed test
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    const auto until = Clock::now() + 5s;
    while (!port_open(port_) && Clock::now() < until) std::this_thread::sleep_for(20ms);
    EXPECT_TRUE(port_open(port_)) << "redis-server did not start; see " << dir_ << "/redis.log";
  }
  ~RedisServer() { kill(); }
  void kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  std::string dir_;
  int port_;
  pid_t pid_ = -1;
};

RedisOptions options_for(const std::string& address) {
  RedisOptions o;
  o.address = address;
  o.timeout = 300ms;
  o.connect_timeout = 1000ms;
  o.pool_size = 4;
  return o;
}

std::shared_ptr<state::SharedState> connect(RedisOptions o) {
  auto s = redis_state(std::move(o));
  EXPECT_TRUE(s.has_value()) << (s ? "" : s.error());
  return s ? *s : nullptr;
}

crypto::SecretBytes secret(std::string_view s) {
  return crypto::SecretBytes(BytesView(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()));
}

std::string run(const std::string& command) {
  std::string out;
  if (FILE* p = ::popen(command.c_str(), "r")) {
    char buf[256];
    while (std::fgets(buf, sizeof buf, p)) out += buf;
    ::pclose(p);
  }
  return out;
}

class RedisStateTest : public ::testing::Test {
 protected:
  test::TempDir tmp_;  // removed with everything in it
  std::string dir_ = tmp_.path().string();
};

TEST_F(RedisStateTest, KeepsTheContract) {
  RedisServer redis(dir_, free_port());
  auto s = connect(options_for(redis.address()));
  ASSERT_TRUE(s);
  EXPECT_EQ(s->describe(), "redis " + redis.address());
  const std::int64_t t0 = unix_now();
  state::contract::totp_steps(*s, t0);
  state::contract::scratch_codes(*s);
  state::contract::failures(*s, t0);
  state::contract::penalties(*s, t0);
  // The key shapes of redis_protocol.hpp.
  const std::string cli = "redis-cli -p " + std::to_string(redis.port()) + " ";
  EXPECT_EQ(run(cli + "GET parley:totp:alice"), std::to_string(t0 + 30) + "\n");
  EXPECT_EQ(run(cli + "EXISTS parley:scratch:0123abcd:alice"), "1\n");
}

TEST_F(RedisStateTest, TwentyConcurrentClaimsHaveOneWinner) {
  RedisServer redis(dir_, free_port());
  auto o = options_for(redis.address());
  o.timeout = 2000ms;
  auto s = connect(std::move(o));
  ASSERT_TRUE(s);
  const std::int64_t t0 = unix_now();
  for (int round = 0; round < 5; ++round)
    EXPECT_EQ(state::contract::concurrent_winners(*s, "alice", t0 + 30 * round), 1) << round;
  // Two clients (as two parleyds) share the state.
  auto other = connect(options_for(redis.address()));
  EXPECT_EQ(other->claim_totp_step("alice", t0 + 120, seconds(90)), false);
}

TEST_F(RedisStateTest, RecordsExpire) {
  RedisServer redis(dir_, free_port());
  auto s = connect(options_for(redis.address()));
  ASSERT_TRUE(s);
  const std::int64_t t0 = unix_now();
  const std::string cli = "redis-cli -p " + std::to_string(redis.port()) + " ";
  EXPECT_EQ(s->claim_totp_step("alice", t0, seconds(1)), true);
  EXPECT_EQ(s->try_acquire("bob", t0, 1, seconds(1)), true);
  EXPECT_EQ(s->try_acquire("bob", t0, 1, seconds(1)), false);
  EXPECT_EQ(run(cli + "TTL parley:totp:alice"), "1\n");
  EXPECT_EQ(run(cli + "TTL parley:fail:bob"), "1\n");
  EXPECT_EQ(run(cli + "TTL parley:scratch:0a:x"), "-2\n");
  EXPECT_EQ(s->add_penalty("192.0.2.0/24", t0, seconds(100), seconds(100)), t0 + 100);
  const auto ttl = std::stoi(run(cli + "TTL parley:penalty:192.0.2.0/24"));
  EXPECT_GE(ttl, 98);
  EXPECT_LE(ttl, 100);
  std::this_thread::sleep_for(2100ms);
  EXPECT_EQ(s->claim_totp_step("alice", t0, seconds(1)), true);  // forgotten: its keep is over
  EXPECT_EQ(s->try_acquire("bob", t0, 1, seconds(1)), true);
}

TEST_F(RedisStateTest, AuthenticatesAsAnAclUserAndNeverShowsThePassword) {
  RedisServer redis(dir_, free_port(), {"--requirepass", "defaultpw", "--user", "parley", "on", ">s3cret-pw", "~parley:*", "+@all"});
  auto o = options_for(redis.address());
  o.username = "parley";
  o.password = secret("s3cret-pw");
  auto good = connect(std::move(o));
  EXPECT_EQ(good->claim_scratch_code("alice", "ab"), true);

  auto plain = options_for(redis.address());
  plain.password = secret("defaultpw");
  EXPECT_EQ(connect(std::move(plain))->claim_scratch_code("alice", "ab"), false);

  auto wrong = options_for(redis.address());
  wrong.username = "parley";
  wrong.password = secret("wrong-pw-123");
  auto r = connect(std::move(wrong))->claim_scratch_code("alice", "cd");
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().what.find("redis " + redis.address() + ": AUTH failed: WRONGPASS"), std::string::npos)
      << r.error().what;
  EXPECT_EQ(r.error().what.find("wrong-pw-123"), std::string::npos);

  auto none = connect(options_for(redis.address()))->claim_scratch_code("alice", "cd");
  ASSERT_FALSE(none.has_value());
  EXPECT_NE(none.error().what.find("NOAUTH"), std::string::npos) << none.error().what;
}

void make_ca(const std::string& dir, const std::string& name) {
  ASSERT_EQ(std::system(("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=" +
                         name + " -keyout " + dir + "/" + name + ".key -out " + dir + "/" + name + ".crt 2>/dev/null")
                            .c_str()),
            0);
}

TEST_F(RedisStateTest, SpeaksTlsAndVerifiesTheServer) {
  make_ca(dir_, "ca");
  make_ca(dir_, "otherca");
  const std::string d = dir_ + "/";
  ASSERT_EQ(std::system(("openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=redis -keyout " + d +
                         "server.key -out " + d + "server.csr 2>/dev/null && printf 'subjectAltName=IP:127.0.0.1,DNS:redis.test\\n' > " +
                         d + "ext && openssl x509 -req -in " + d + "server.csr -CA " + d + "ca.crt -CAkey " + d +
                         "ca.key -CAcreateserial -days 2 -extfile " + d + "ext -out " + d + "server.crt 2>/dev/null")
                            .c_str()),
            0);
  const int port = free_port();
  RedisServer redis(dir_, port, {"--port", "0", "--tls-port", std::to_string(port), "--tls-cert-file", d + "server.crt",
                                 "--tls-key-file", d + "server.key", "--tls-ca-cert-file", d + "ca.crt",
                                 "--tls-auth-clients", "no"});
  auto o = options_for(redis.address());
  o.tls = true;
  o.tls_ca_file = d + "ca.crt";
  auto s = connect(o);
  EXPECT_EQ(s->describe(), "redis " + redis.address() + " (tls)");
  EXPECT_EQ(s->claim_totp_step("alice", unix_now(), seconds(90)), true);

  auto named = o;
  named.tls_server_name = "redis.test";
  EXPECT_TRUE(connect(named)->clear_failures("alice").has_value());
  auto misnamed = o;
  misnamed.tls_server_name = "other.test";
  auto r1 = connect(misnamed)->clear_failures("alice");
  ASSERT_FALSE(r1.has_value());
  EXPECT_NE(r1.error().what.find("TLS handshake failed"), std::string::npos) << r1.error().what;

  auto wrong = o;
  wrong.tls_ca_file = d + "otherca.crt";
  auto r2 = connect(wrong)->clear_failures("alice");
  ASSERT_FALSE(r2.has_value());
  EXPECT_NE(r2.error().what.find("TLS handshake failed"), std::string::npos) << r2.error().what;

  auto missing = o;
  missing.tls_ca_file = d + "nope.crt";
  EXPECT_FALSE(redis_state(missing).has_value());
}

TEST_F(RedisStateTest, FailsFastWhileRedisIsDownAndRecoversWhenItIsBack) {
  const int port = free_port();
  auto redis = std::make_unique<RedisServer>(dir_, port);
  auto s = connect(options_for(redis->address()));
  const std::int64_t t0 = unix_now();
  EXPECT_EQ(s->claim_totp_step("alice", t0, seconds(90)), true);
  redis->kill();
  for (int i = 0; i < 5; ++i) {
    const auto start = Clock::now();
    auto r = s->claim_totp_step("alice", t0 + 30, seconds(90));
    const auto took = Clock::now() - start;
    ASSERT_FALSE(r.has_value());
    EXPECT_LT(took, 450ms) << r.error().what;
    EXPECT_EQ(r.error().what.find("redis 127.0.0.1:" + std::to_string(port) + ": "), 0u) << r.error().what;
    std::this_thread::sleep_for(100ms);
  }
  auto r = s->claim_totp_step("alice", t0 + 30, seconds(90));
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().what.find("connection refused"), std::string::npos) << r.error().what;

  redis = std::make_unique<RedisServer>(dir_, port);  // back, empty
  std::expected<bool, state::StateError> again = std::unexpected(state::StateError{"not tried"});
  for (int i = 0; i < 20 && !again; ++i) {
    again = s->claim_totp_step("alice", t0 + 30, seconds(90));
    if (!again) std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(again, true) << (again ? "" : again.error().what);
  EXPECT_EQ(s->claim_totp_step("alice", t0 + 30, seconds(90)), false);
}

// A listening socket that accepts and says nothing (or `says` once).
class FakeServer {
 public:
  explicit FakeServer(std::string says = {}) : says_(std::move(says)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(fd_, 16);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] {
      for (;;) {
        const int c = ::accept(fd_, nullptr, nullptr);
        if (c < 0 || stop_) break;
        if (!says_.empty()) (void)!::write(c, says_.data(), says_.size());
        clients_.push_back(c);
      }
    });
  }
  ~FakeServer() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
    for (int c : clients_) ::close(c);
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  std::string says_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::vector<int> clients_;
  std::thread thread_;
};

TEST_F(RedisStateTest, TimesOutOnAServerThatNeverAnswers) {
  FakeServer silent;
  auto s = connect(options_for(silent.address()));
  for (int i = 0; i < 3; ++i) {
    const auto start = Clock::now();
    auto r = s->claim_scratch_code("alice", "ab");
    const auto took = Clock::now() - start;
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().what, "redis " + silent.address() + ": timed out after 300 ms");
    EXPECT_GE(took, 290ms);
    EXPECT_LT(took, 600ms);
  }
}

TEST_F(RedisStateTest, GarbageIsAnError) {
  FakeServer garbage("HTTP/1.1 400 Bad Request\r\n\r\n");
  auto s = connect(options_for(garbage.address()));
  auto r = s->try_acquire("alice", unix_now(), 3, seconds(60));
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().what.find("protocol error"), std::string::npos) << r.error().what;

  FakeServer huge("$999999999\r\n");
  auto h = connect(options_for(huge.address()))->try_acquire("alice", unix_now(), 3, seconds(60));
  ASSERT_FALSE(h.has_value());

  FakeServer wide("*-7\r\n");
  auto w = connect(options_for(wide.address()))->try_acquire("alice", unix_now(), 3, seconds(60));
  ASSERT_FALSE(w.has_value());
  EXPECT_NE(w.error().what.find("protocol error"), std::string::npos) << w.error().what;
}

TEST(RedisOptions, RefusesAddressesThatDoNotParse) {
  RedisOptions o;
  for (const char* bad : {"", "host:", "host:0", "host:99999", "[::1", "[::1]x", ":6379"}) {
    o.address = bad;
    EXPECT_FALSE(redis_state(o).has_value()) << bad;
  }
  o.address = "[::1]:6390";
  auto v6 = redis_state(o);
  ASSERT_TRUE(v6.has_value());
  EXPECT_EQ((*v6)->describe(), "redis [::1]:6390");
}

}  // namespace
}  // namespace parley::driver

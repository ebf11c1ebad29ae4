// Our client side of the connection layer (connection::Channels over a client
// Transport, through tests/support/ssh_test_client) against the real OpenSSH
// server: exec with stdout, stderr and exit status; 8 MiB through `cat` with a
// small window of ours (flow control both ways against sshd's windows); a
// terminal and a login shell; the sftp subsystem's first exchange; and a
// command that ends by a signal.
#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>

#include "parley/connection/session.hpp"
#include "parley/crypto/keys.hpp"
#include "parley/crypto/random.hpp"
#include "parley/wire/reader.hpp"
#include "ssh_test_client.hpp"
#include "sshd.hpp"
#include "test_support.hpp"

namespace parley::test {
namespace {

using namespace std::chrono_literals;

/// One sshd for the whole binary, with the sftp subsystem.
Sshd& sshd() {
  static Sshd instance(SshdOptions{{"ed25519"}, "VERBOSE",
                                   "Subsystem sftp /usr/lib/openssh/sftp-server\n"
                                   "PermitRootLogin prohibit-password\nPrintMotd no\nPrintLastLog no\n"});
  return instance;
}

std::string sshd_log_tail() { return sshd().log_tail(); }

class SessionAgainstSshd : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(sshd().error(), "") << "sshd could not be started"; }
  void TearDown() override {
    if (HasFailure()) std::printf("%s\n", sshd_log_tail().c_str());
  }

  /// A logged-in client (nullptr, with a failure recorded, if login failed).
  static std::unique_ptr<SshTestClient> login(SshClientOptions options = {}) {
    auto c = std::make_unique<SshTestClient>(std::move(options));
    const std::string error =
        c->login("127.0.0.1", sshd().port(), sshd().user(), sshd().user_key());
    EXPECT_EQ(error, "");
    if (!error.empty()) return nullptr;
    return c;
  }

  static ExecResult run(const std::string& command, std::string_view input = {}) {
    return exec("127.0.0.1", sshd().port(), sshd().user(),
                sshd().user_key(), command, input);
  }
};

TEST_F(SessionAgainstSshd, ExecStdoutStderrAndExitStatus) {
  const ExecResult r = run("echo hi; echo err >&2; exit 3");
  EXPECT_EQ(r.error, "") << describe(r);
  EXPECT_EQ(r.out, "hi\n");
  EXPECT_EQ(r.err, "err\n");
  EXPECT_EQ(r.exit_status, std::optional<std::uint32_t>(3));
  EXPECT_FALSE(r.exit_signal.has_value());
  ASSERT_TRUE(r.disconnected.has_value());
  EXPECT_EQ(r.disconnected->error, transport::TransportError::local_disconnect)
      << r.disconnected->description;
  EXPECT_TRUE(sshd().running());
}

// 8 MiB through `cat`: sshd's window (2 MiB) makes us wait for its adjusts, and
// our 64 KiB window (32 KiB packets) makes sshd wait for ours, hundreds of times.
TEST_F(SessionAgainstSshd, CatEightMiBWithSmallWindow) {
  SshClientOptions options;
  options.limits.window = 64 * 1024;
  options.limits.max_packet = 32 * 1024;
  options.timeout = 120s;
  auto c = login(options);
  ASSERT_TRUE(c);
  auto id = c->open_session();
  ASSERT_TRUE(id);
  const std::uint32_t sshd_window = c->channel(*id).remote_window;
  ASSERT_EQ(c->exec(*id, "cat"), std::optional<bool>(true));

  constexpr std::size_t size = 8 * 1024 * 1024;
  Bytes data(size);
  crypto::SystemRandom rng;
  rng.fill(data);
  c->write(*id, data);
  c->write_eof(*id);
  ASSERT_TRUE(c->wait_closed(*id)) << "received " << c->channel(*id).out_bytes << " of " << size;
  const auto& rec = c->channel(*id);
  ASSERT_EQ(rec.out.size(), size);
  EXPECT_TRUE(rec.out == as_chars(data)) << "the bytes came back changed";
  EXPECT_EQ(rec.err, "");
  EXPECT_EQ(rec.exit_status, std::optional<std::uint32_t>(0));

  // Flow control really happened both ways.
  const std::size_t ours = c->sent_count[connection::msg_channel_window_adjust];
  const std::size_t theirs = c->received_count[connection::msg_channel_window_adjust];
  std::printf("sshd's initial window %u; WINDOW_ADJUSTs sent %zu, received %zu\n", sshd_window, ours, theirs);
  EXPECT_GE(ours, size / options.limits.window);  // one per half window consumed, less the last
  // sshd opens sessions with a zero window and grants 2 MiB once the command
  // runs, then more as it consumes: at least once per 2 MiB of the 8.
  EXPECT_GE(theirs, 4u);
  EXPECT_GT(c->received_count[connection::msg_channel_data], size / options.limits.max_packet - 1);
  c->disconnect();
  EXPECT_EQ(c->disconnected()->error, transport::TransportError::local_disconnect);
}

TEST_F(SessionAgainstSshd, PtyAndShell) {
  auto c = login();
  ASSERT_TRUE(c);
  auto id = c->open_session();
  ASSERT_TRUE(id);
  connection::PtyRequest pty;
  pty.term = "xterm";
  pty.cols = 80;
  pty.rows = 24;
  pty.modes = {0};  // TTY_OP_END
  ASSERT_EQ(c->pty(*id, pty), std::optional<bool>(true));
  ASSERT_EQ(c->shell(*id), std::optional<bool>(true));
  c->write(*id, "echo $((6*7)); exit\n");
  ASSERT_TRUE(c->wait_closed(*id)) << "output so far: " << c->channel(*id).out;
  const auto& rec = c->channel(*id);
  EXPECT_NE(rec.out.find("42"), std::string::npos) << rec.out;
  EXPECT_EQ(rec.exit_status, std::optional<std::uint32_t>(0)) << rec.out;
  EXPECT_EQ(rec.err, "");  // a terminal has one stream
  c->disconnect();
}

TEST_F(SessionAgainstSshd, SftpSubsystemInitAndVersion) {
  auto c = login();
  ASSERT_TRUE(c);
  auto id = c->open_session();
  ASSERT_TRUE(id);
  ASSERT_EQ(c->subsystem(*id, "sftp"), std::optional<bool>(true));
  // SSH_FXP_INIT: uint32 length 5, byte 1, uint32 version 3.
  const Bytes init{0, 0, 0, 5, 1, 0, 0, 0, 3};
  c->write(*id, init);
  const auto& rec = c->channel(*id);
  auto whole_packet = [&] {
    if (rec.out.size() < 4) return false;
    wire::Reader r(as_bytes(rec.out));
    return rec.out.size() >= 4 + std::size_t{r.uint32()};
  };
  ASSERT_TRUE(c->pump_until(whole_packet)) << "got " << rec.out.size() << " bytes";
  wire::Reader r(as_bytes(rec.out));
  const std::uint32_t length = r.uint32();
  EXPECT_EQ(r.byte(), 2) << "SSH_FXP_VERSION";
  EXPECT_EQ(r.uint32(), 3u) << "version";
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(rec.out.size(), 4 + std::size_t{length}) << "nothing but the VERSION packet";
  // EOF on stdin ends sftp-server, and with it the channel.
  c->write_eof(*id);
  ASSERT_TRUE(c->wait_closed(*id));
  EXPECT_EQ(rec.exit_status, std::optional<std::uint32_t>(0));
  c->disconnect();
}

TEST_F(SessionAgainstSshd, ExitSignal) {
  const ExecResult r = run("kill -TERM $$");
  EXPECT_EQ(r.error, "") << describe(r);
  ASSERT_TRUE(r.exit_signal.has_value()) << describe(r);
  EXPECT_EQ(r.exit_signal->name, "TERM");
  EXPECT_FALSE(r.exit_signal->core_dumped);
  EXPECT_FALSE(r.exit_status.has_value());
}

}  // namespace
}  // namespace parley::test

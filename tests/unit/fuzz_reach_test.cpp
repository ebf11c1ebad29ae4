// The whole-connection fuzz harness (tests/fuzz/session_harness.cpp, the code
// fuzz_session runs) gets past key exchange into userauth and channels: each
// committed seed under tests/fuzz/seeds/session is run as the fuzzer runs it,
// and what the server did is checked (a userauth success, channels its services
// opened, answers the client received). The counters are printed, as issue 13
// asks. Control inputs show the counters stay at zero when nothing is reached.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "parley/connection/channels.hpp"
#include "parley/wire/writer.hpp"
#include "session_harness.hpp"

namespace parley {
namespace {

using fuzz::Login;
using fuzz::SessionReach;

const std::filesystem::path seeds_dir = std::filesystem::path(PARLEY_FUZZ_SEEDS_DIR) / "session";

Bytes read_seed(const std::string& name) {
  std::ifstream in(seeds_dir / name, std::ios::binary);
  EXPECT_TRUE(in.good()) << "no seed " << (seeds_dir / name);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

SessionReach run_seed(const std::string& name) {
  const SessionReach r = fuzz::run_session(read_seed(name));
  std::printf("%s: key exchange %d, userauth decisions %zu, userauth replies %zu, authenticated %d, "
              "sessions %zu, direct-tcpip %zu, listeners %zu, open confirmations %zu, "
              "channel replies %zu, channel data %zu, channel notes %zu, disconnected %d\n",
              name.c_str(), r.key_exchange, r.audit_records, r.userauth_replies, r.authenticated,
              r.sessions, r.tcpip_connects, r.listeners, r.open_confirmations, r.channel_replies,
              r.channel_data, r.channel_notes, r.disconnected);
  return r;
}

Bytes open_session_message() {
  Bytes p;
  wire::Writer(p)
      .byte(connection::msg_channel_open)
      .string(std::string_view("session"))
      .uint32(0)
      .uint32(65536)
      .uint32(32768);
  return p;
}

TEST(FuzzReach, PasswordLoginSeedRunsACommandInASession) {
  const SessionReach r = run_seed("password_exec");
  EXPECT_TRUE(r.key_exchange);
  EXPECT_TRUE(r.authenticated);
  EXPECT_EQ(r.sessions, 1u);
  EXPECT_GE(r.open_confirmations, 1u);
  // env and exec answered. The built-in shell runs the command and closes the
  // channel inside on_start(): exec's CHANNEL_SUCCESS must still go out, before
  // the CLOSE (this harness found it lost).
  EXPECT_EQ(r.channel_replies, 2u);
  EXPECT_GE(r.channel_data, 1u);  // the command shell's output
}

TEST(FuzzReach, KeyboardInteractiveSeedGetsAShellWithATerminal) {
  const SessionReach r = run_seed("keyboard_interactive_shell");
  EXPECT_TRUE(r.authenticated);
  EXPECT_EQ(r.sessions, 1u);
  EXPECT_GE(r.open_confirmations, 1u);
  EXPECT_GE(r.channel_replies, 2u);  // pty-req and shell answered
  EXPECT_GE(r.channel_data, 1u);
}

TEST(FuzzReach, PublickeySeedReachesForwarding) {
  const SessionReach r = run_seed("publickey_forwarding");
  EXPECT_TRUE(r.authenticated);
  EXPECT_EQ(r.tcpip_connects, 1u);
  EXPECT_EQ(r.listeners, 1u);
  EXPECT_GE(r.open_confirmations, 1u);
  EXPECT_GE(r.channel_data, 1u);  // the echo
  EXPECT_EQ(r.sessions, 0u);      // refused after no-more-sessions@openssh.com
}

// The fuzz input itself, not the harness, logs in: the records reach every
// userauth path on the way (none, a wrong password, a wrong answer count).
TEST(FuzzReach, UserauthFromTheRecordsLogsInAndOpensASession) {
  const SessionReach r = run_seed("userauth_in_records");
  EXPECT_GE(r.audit_records, 3u);
  EXPECT_GE(r.userauth_replies, 4u);
  EXPECT_TRUE(r.authenticated);
  EXPECT_EQ(r.sessions, 1u);
  EXPECT_GE(r.open_confirmations, 1u);
  EXPECT_EQ(r.channel_replies, 2u);  // the subsystem refused, exec done
  EXPECT_GE(r.channel_notes, 2u);
}

TEST(FuzzReach, EveryCommittedSeedGetsPastKeyExchange) {
  std::size_t seeds = 0;
  for (const auto& entry : std::filesystem::directory_iterator(seeds_dir)) {
    ++seeds;
    EXPECT_TRUE(run_seed(entry.path().filename().string()).key_exchange) << entry.path();
  }
  EXPECT_GE(seeds, 5u);
}

// Controls: the counters are not always set.
TEST(FuzzReach, WithoutALoginNothingIsAuthenticatedOrOpened) {
  const SessionReach r = fuzz::run_session(fuzz::session_input(Login::none, false, {}));
  EXPECT_TRUE(r.key_exchange);
  EXPECT_FALSE(r.authenticated);
  EXPECT_EQ(r.audit_records, 0u);
  EXPECT_EQ(r.sessions, 0u);
  EXPECT_EQ(r.open_confirmations, 0u);
}

TEST(FuzzReach, AChannelOpenBeforeLoginEndsTheConnection) {
  const SessionReach r =
      fuzz::run_session(fuzz::session_input(Login::none, false, {open_session_message()}));
  EXPECT_TRUE(r.disconnected);
  EXPECT_FALSE(r.authenticated);
  EXPECT_EQ(r.sessions, 0u);
  EXPECT_EQ(r.open_confirmations, 0u);
}

TEST(FuzzReach, EmptyInputIsNotRun) {
  const SessionReach r = fuzz::run_session({});
  EXPECT_FALSE(r.key_exchange);
}

}  // namespace
}  // namespace parley

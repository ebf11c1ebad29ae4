// The monitor's decisions on sessions and forwarding, driven through the
// codec as a fake network process would: a program starts only after the
// connection's SessionStart was granted, for that user; forwarding only for
// an authenticated connection and only where the channel policy permits.
// What is allowed comes out as an action for the executor, nothing else does.
#include "parley/privsep/monitor.hpp"

#include <gtest/gtest.h>

#include "privsep_network.hpp"

namespace parley::privsep {
namespace {

using namespace monitor_test;

/// Logs alice in on `conn` and has her session granted.
void granted(Network& n, std::uint64_t conn) {
  expect_served(n, conn);
  ASSERT_TRUE(only<SessionGranted>(n.send(SessionStart{{conn, n.next_req++}, "alice"}.encode())));
}

SessionSpawn spawn(std::uint64_t conn, std::uint64_t req, std::string user) {
  SessionSpawn m;
  m.conn = conn;
  m.req = req;
  m.user = std::move(user);
  m.kind = SessionKind::exec;
  m.command = "id -u";
  return m;
}

TEST(PrivsepServicesMonitor, SpawnOnlyAfterSessionStartWasGrantedForThatUser) {
  Network n;
  n.open(1);
  expect_refused(n, spawn(1, 1, "alice").encode(), RefusalReason::session_not_granted, 1);
  // Authenticated but SessionStart not yet asked for: still refused.
  n.kex(1);
  ASSERT_EQ(only<AuthReply>(n.send(n.password(1, "alice", good_password).encode())).value().status,
            AuthStatus::success);
  expect_refused(n, spawn(1, 2, "alice").encode(), RefusalReason::session_not_granted, 1);
  ASSERT_TRUE(only<SessionGranted>(n.send(SessionStart{{1, 3}, "alice"}.encode())));
  // For another user than the one authenticated.
  expect_refused(n, spawn(1, 4, "root").encode(), RefusalReason::wrong_user, 1);
  // Another connection's grant does not count for this one, nor this one's for it.
  n.open(2);
  expect_refused(n, spawn(2, 5, "alice").encode(), RefusalReason::session_not_granted, 2);
  EXPECT_TRUE(n.monitor->take_actions().empty());

  SessionSpawn allowed = spawn(1, 6, "alice");
  allowed.env = {{"LANG", "C"}, {"LD_PRELOAD", "/tmp/x.so"}, {"LC_ALL", "C"}};
  EXPECT_TRUE(n.send(allowed.encode()).empty());  // the executor answers
  auto actions = n.monitor->take_actions();
  ASSERT_EQ(actions.size(), 1u);
  const auto* a = std::get_if<SpawnAction>(&actions[0]);
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->conn, 1u);
  EXPECT_EQ(a->req, 6u);
  EXPECT_EQ(a->user, "alice");
  EXPECT_EQ(a->request.command, "id -u");
  EXPECT_EQ(a->peer_address, "192.0.2.7");
  // Only what the policy's env_allow admits ({"LANG", "LC_*"} by default).
  ASSERT_EQ(a->request.env.size(), 2u);
  EXPECT_EQ(a->request.env[0].name, "LANG");
  EXPECT_EQ(a->request.env[1].name, "LC_ALL");
  expect_served(n, 3);
}

TEST(PrivsepServicesMonitor, SignalsOnlyToThisConnectionsRunningPrograms) {
  Network n;
  granted(n, 1);
  granted(n, 2);
  n.send(spawn(1, 10, "alice").encode());
  auto actions = n.monitor->take_actions();
  ASSERT_EQ(actions.size(), 1u);
  const std::uint64_t handle = std::get<SpawnAction>(actions[0]).handle;
  // Not from another connection, not an unknown name.
  expect_refused(n, SessionSignal{2, handle, "KILL"}.encode(), RefusalReason::unknown_session, 2);
  expect_refused(n, SessionSignal{1, handle, "STOP"}.encode(), RefusalReason::unknown_signal, 1);
  EXPECT_TRUE(n.send(SessionSignal{1, handle, "TERM"}.encode()).empty());
  actions = n.monitor->take_actions();
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(std::get<SignalAction>(actions[0]).signal, SIGTERM);
  // Once it has exited, no more.
  n.monitor->session_ended(1, handle);
  expect_refused(n, SessionSignal{1, handle, "TERM"}.encode(), RefusalReason::unknown_session, 1);
}

TEST(PrivsepServicesMonitor, RunningProgramsPerConnectionAreBounded) {
  MonitorLimits limits;
  limits.max_sessions = 2;
  Network n(limits);
  granted(n, 1);
  n.send(spawn(1, 10, "alice").encode());
  n.send(spawn(1, 11, "alice").encode());
  expect_refused(n, spawn(1, 12, "alice").encode(), RefusalReason::too_many_sessions, 1);
  auto actions = n.monitor->take_actions();
  ASSERT_EQ(actions.size(), 2u);
  n.monitor->session_ended(1, std::get<SpawnAction>(actions[0]).handle);
  EXPECT_TRUE(n.send(spawn(1, 13, "alice").encode()).empty());
  // Closing the connection hangs its programs up.
  n.send(ConnectionClosed{1}.encode());
  actions = n.monitor->take_actions();
  ASSERT_EQ(actions.size(), 2u);
  EXPECT_EQ(std::get<HangUpAction>(actions[1]).conn, 1u);
}

TEST(PrivsepServicesMonitor, ForwardingOnlyAuthenticatedAndAsThePolicyPermits) {
  Network n;
  n.backend.policy.allow_local_forwarding = true;
  n.backend.policy.permit_open = {"127.0.0.1:8080"};
  n.open(1);
  n.kex(1);
  expect_refused(n, ForwardConnect{{1, 1}, "127.0.0.1", 8080}.encode(), RefusalReason::not_authenticated, 1);
  ASSERT_EQ(only<AuthReply>(n.send(n.password(1, "alice", good_password).encode())).value().status,
            AuthStatus::success);
  // A destination permit_open refuses.
  expect_refused(n, ForwardConnect{{1, 2}, "127.0.0.1", 22}.encode(), RefusalReason::forward_not_permitted, 1);
  expect_refused(n, ForwardConnect{{1, 3}, "10.0.0.1", 8080}.encode(), RefusalReason::forward_not_permitted, 1);
  EXPECT_TRUE(n.monitor->take_actions().empty());
  EXPECT_TRUE(n.send(ForwardConnect{{1, 4}, "127.0.0.1", 8080}.encode()).empty());
  auto actions = n.monitor->take_actions();
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(std::get<ConnectAction>(actions[0]).port, 8080);
  // Listening is off by default.
  expect_refused(n, ForwardListen{{1, 5}, "", 9000}.encode(), RefusalReason::forward_not_permitted, 1);
  n.backend.policy.allow_local_forwarding = false;
  expect_refused(n, ForwardConnect{{1, 6}, "127.0.0.1", 8080}.encode(), RefusalReason::forward_not_permitted, 1);
}

TEST(PrivsepServicesMonitor, PrivilegedListenOnlyForWhomThePolicyAllows) {
  Network n;
  n.backend.policy.allow_remote_forwarding = true;
  n.backend.policy.may_bind_privileged_port = [](std::string_view user) { return user == "root"; };
  expect_served(n, 1);
  expect_refused(n, ForwardListen{{1, 1}, "", 80}.encode(), RefusalReason::privileged_port, 1);
  EXPECT_TRUE(n.monitor->take_actions().empty());
  // An unprivileged port is fine, and without gateway_ports it is on loopback.
  EXPECT_TRUE(n.send(ForwardListen{{1, 2}, "0.0.0.0", 8080}.encode()).empty());
  auto actions = n.monitor->take_actions();
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(std::get<ListenAction>(actions[0]).address, "127.0.0.1");
  EXPECT_EQ(std::get<ListenAction>(actions[0]).port, 8080);
  n.backend.policy.permit_listen = {"localhost:9000"};
  expect_refused(n, ForwardListen{{1, 3}, "", 8080}.encode(), RefusalReason::forward_not_permitted, 1);
  expect_served(n, 2);
}

}  // namespace
}  // namespace parley::privsep

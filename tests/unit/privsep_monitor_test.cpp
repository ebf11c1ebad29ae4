// The monitor's decisions, driven as a fake network process would drive it:
// every request goes through the real codec. Each hostile request is refused,
// logged, and another connection is still served afterwards.
#include "parley/privsep/monitor.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <thread>

#include "parley/crypto/kex.hpp"
#include "parley/transport/exchange_hash.hpp"
#include "parley/userauth/messages.hpp"
#include "privsep_network.hpp"

namespace parley::privsep {
namespace {

using namespace monitor_test;
using namespace std::chrono_literals;

TEST(PrivsepMonitor, LoginThroughTheCodecKexPasswordSession) {
  Network n;
  n.open(1);
  std::unique_ptr<crypto::KexKeyPair> client;
  const KexSign request = n.kex_request(1, &client);
  auto replies = n.send(request.encode());
  auto s = only<KexSigned>(replies);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->req, request.req);
  EXPECT_EQ(s->k_s, n.backend.host_keys()[0].public_key().blob());
  // The client derives the same K and the same H, and the signature verifies over H.
  auto k = client->derive(s->q_s);
  ASSERT_TRUE(k);
  EXPECT_TRUE(*k == s->k);
  const auto kex = transport::KexAlg::curve25519_sha256;
  const Bytes h = transport::exchange_hash({kex, client_version, server_version, request.i_c, request.i_s,
                                            s->k_s, request.q_c, s->q_s},
                                           transport::encode_shared_secret(kex, *k).view());
  EXPECT_EQ(s->h, h);
  EXPECT_TRUE(n.backend.host_keys()[0].public_key().verify(crypto::SignatureAlg::ssh_ed25519, s->signature, h));

  // A wrong password fails; the right one succeeds; the session is granted once.
  auto bad = n.password(1, "alice", "wrong");
  auto failure = only<AuthReply>(n.send(bad.encode()));
  ASSERT_TRUE(failure);
  EXPECT_EQ(failure->req, bad.req);
  EXPECT_EQ(failure->status, AuthStatus::in_progress);
  ASSERT_EQ(failure->packets.size(), 1u);
  EXPECT_EQ(failure->packets[0][0], userauth::msg::userauth_failure);

  auto good = n.password(1, "alice", good_password);
  auto success = only<AuthReply>(n.send(good.encode()));
  ASSERT_TRUE(success);
  EXPECT_EQ(success->req, good.req);
  EXPECT_EQ(success->status, AuthStatus::success);
  EXPECT_EQ(success->user, "alice");
  EXPECT_EQ(success->service, "ssh-connection");
  ASSERT_EQ(success->packets.size(), 1u);
  EXPECT_EQ(success->packets[0][0], userauth::msg::userauth_success);

  auto granted = only<SessionGranted>(n.send(SessionStart{1, 50, "alice"}.encode()));
  ASSERT_TRUE(granted);
  EXPECT_EQ(granted->user, "alice");
  EXPECT_EQ(granted->req, 50u);

  // No password reached the log, at any point.
  for (const auto& e : n.log()) {
    EXPECT_EQ(e.text.find(good_password), std::string::npos) << e.text;
    EXPECT_EQ(e.text.find("wrong"), std::string::npos) << e.text;
  }
}

TEST(PrivsepMonitor, AReloadedBackendServesNewConnectionsAndEstablishedOnesKeepTheirs) {
  Network n;
  n.open(1);
  auto first = only<KexSigned>(n.send(n.kex_request(1).encode()));
  ASSERT_TRUE(first);
  const Bytes old_key = n.backend.host_keys()[0].public_key().blob();
  EXPECT_EQ(first->k_s, old_key);

  // The reload: another host key, and a password only bob has.
  auto reloaded = std::make_shared<TestBackend>(2);
  reloaded->config->password = std::make_shared<const userauth::PasswordVerifier>(
      [](std::string_view user, const crypto::SecretBytes& pw) { return user == "bob" && pw == secret(good_password); });
  const Bytes new_key = reloaded->host_keys()[0].public_key().blob();
  ASSERT_NE(new_key, old_key);
  n.monitor->replace_backend(reloaded);

  // A connection opened after it is signed for with the new key and checked with the new passwords.
  n.open(2);
  auto second = only<KexSigned>(n.send(n.kex_request(2).encode()));
  ASSERT_TRUE(second);
  EXPECT_EQ(second->k_s, new_key);
  auto alice_refused = only<AuthReply>(n.send(n.password(2, "alice", good_password).encode()));
  ASSERT_TRUE(alice_refused);
  EXPECT_EQ(alice_refused->status, AuthStatus::in_progress);  // a failure: alice has no password now
  n.open(3);  // a user change in one connection ends it (as sshd): bob has his own
  ASSERT_TRUE(only<KexSigned>(n.send(n.kex_request(3).encode())));
  auto bob = only<AuthReply>(n.send(n.password(3, "bob", good_password).encode()));
  ASSERT_TRUE(bob);
  EXPECT_EQ(bob->status, AuthStatus::success);

  // The established connection re-keys with the key it started with and logs in as before.
  auto rekey = only<KexSigned>(n.send(n.kex_request(1).encode()));
  ASSERT_TRUE(rekey);
  EXPECT_EQ(rekey->k_s, old_key);
  auto alice = only<AuthReply>(n.send(n.password(1, "alice", good_password).encode()));
  ASSERT_TRUE(alice);
  EXPECT_EQ(alice->status, AuthStatus::success);
}

TEST(PrivsepMonitor, KeyboardInteractiveAnswersGoThroughTheMonitorsServerAuth) {
  Network n;
  n.open(1);
  ASSERT_FALSE(n.kex(1).empty());
  AuthRequest start{1, 10, {"alice", "ssh-connection", userauth::KeyboardInteractiveFields{"", ""}}};
  auto challenge = only<AuthReply>(n.send(start.encode()));
  ASSERT_TRUE(challenge);
  EXPECT_EQ(challenge->req, 10u);
  ASSERT_EQ(challenge->packets.size(), 1u);
  auto request = userauth::InfoRequest::decode(challenge->packets[0]);
  ASSERT_TRUE(request);
  ASSERT_EQ(request->prompts.size(), 1u);  // "Password: "
  std::vector<crypto::SecretBytes> answers;
  answers.push_back(secret(good_password));
  auto done = only<AuthReply>(n.send(InfoResponse{1, 11, answers}.encode()));
  ASSERT_TRUE(done);
  EXPECT_EQ(done->req, 11u);
  EXPECT_EQ(done->status, AuthStatus::success);
  EXPECT_EQ(done->user, "alice");
  for (const auto& e : n.log()) EXPECT_EQ(e.text.find(good_password), std::string::npos) << e.text;
}

struct BadKex {
  const char* name;
  void (*spoil)(KexSign&);
  RefusalReason reason;
};

class PrivsepMonitorBadKex : public testing::TestWithParam<BadKex> {};

// "Sign these bytes" cannot be expressed: what is signed is an exchange hash
// the monitor computes from a transcript, and a transcript that is not one of
// a key exchange (a KEXINIT that is not one, another server's version, a method
// or key the monitor does not have) is refused.
TEST_P(PrivsepMonitorBadKex, IsRefusedLoggedAndOthersStillServed) {
  Network n;
  n.open(1);
  KexSign m = n.kex_request(1);
  GetParam().spoil(m);
  expect_refused(n, m.encode(), GetParam().reason, 1);
  // That connection has no session id: authentication on it is refused too.
  expect_refused(n, n.password(1, "alice", good_password).encode(),
                 RefusalReason::no_key_exchange, 1);
  expect_served(n, 2);
}

INSTANTIATE_TEST_SUITE_P(
    Transcripts, PrivsepMonitorBadKex,
    testing::Values(
        BadKex{"arbitrary_data_as_server_kexinit",
               [](KexSign& m) { m.i_s = Bytes{'s', 'i', 'g', 'n', ' ', 'm', 'e'}; }, RefusalReason::bad_kexinit},
        BadKex{"arbitrary_data_as_client_kexinit", [](KexSign& m) { m.i_c = Bytes(64, 0x14); },
               RefusalReason::bad_kexinit},
        BadKex{"kexinit_without_the_method",
               [](KexSign& m) { m.i_c = test::kexinit_payload({.kex = "diffie-hellman-group16-sha512"}); },
               RefusalReason::bad_kexinit},
        BadKex{"other_server_version", [](KexSign& m) { m.v_s = "SSH-2.0-OpenSSH_9.9"; },
               RefusalReason::wrong_server_version},
        BadKex{"not_ssh2_client", [](KexSign& m) { m.v_c = "SSH-1.5-old"; }, RefusalReason::bad_client_version},
        BadKex{"host_key_not_held",
               [](KexSign& m) {
                 m.host_key_alg = "ecdsa-sha2-nistp256";
                 m.i_c = m.i_s = test::kexinit_payload({.host_key = "ecdsa-sha2-nistp256"});
               },
               RefusalReason::host_key_not_held},
        BadKex{"unknown_method", [](KexSign& m) { m.kex = "sign-anything@example.com"; }, RefusalReason::unknown_kex},
        BadKex{"invalid_client_value", [](KexSign& m) { m.q_c = Bytes(32, 0); }, RefusalReason::invalid_kex_value}),
    [](const testing::TestParamInfo<BadKex>& p) { return std::string(p.param.name); });

TEST(PrivsepMonitor, SessionOnlyForACompletedChainForThatUserOnce) {
  Network n;
  n.open(1);
  // Before any key exchange, and before authentication completes.
  expect_refused(n, SessionStart{1, 1, "alice"}.encode(), RefusalReason::not_authenticated, 1);
  ASSERT_FALSE(n.kex(1).empty());
  expect_refused(n, SessionStart{1, 2, "alice"}.encode(), RefusalReason::not_authenticated, 1);
  // A failed attempt does not complete the chain.
  n.send(n.password(1, "alice", "wrong").encode());
  expect_refused(n, SessionStart{1, 3, "alice"}.encode(), RefusalReason::not_authenticated, 1);
  // Another connection's authentication does not count for this one.
  expect_served(n, 2);
  expect_refused(n, SessionStart{1, 4, "alice"}.encode(), RefusalReason::not_authenticated, 1);
  // Once alice is in on connection 1: not for another user, and only once.
  ASSERT_EQ(only<AuthReply>(n.send(n.password(1, "alice", good_password).encode())).value().status,
            AuthStatus::success);
  expect_refused(n, SessionStart{1, 5, "root"}.encode(), RefusalReason::wrong_user, 1);
  ASSERT_TRUE(only<SessionGranted>(n.send(SessionStart{1, 6, "alice"}.encode())));
  expect_refused(n, SessionStart{1, 7, "alice"}.encode(), RefusalReason::session_already_started, 1);
  // And authentication is over on it: a further request is refused, not run.
  expect_refused(n, n.password(1, "alice", good_password).encode(),
                 RefusalReason::authentication_over, 1);
  ASSERT_TRUE(only<SessionGranted>(n.send(SessionStart{2, 8, "alice"}.encode())));
}

AuthRequest signed_publickey(Network& n, std::uint64_t conn, BytesView session_id) {
  const crypto::PrivateKey& key = *n.backend.user_key;
  const Bytes& blob = key.public_key().blob();
  const Bytes data =
      userauth::publickey_signed_data(session_id, "alice", "ssh-connection", "ssh-ed25519", blob);
  return AuthRequest{conn, n.next_req++, {"alice", "ssh-connection",
                                           userauth::PublickeyFields{"ssh-ed25519", blob,
                                                                     key.sign(crypto::SignatureAlg::ssh_ed25519,
                                                                              data)}}};
}

TEST(PrivsepMonitor, PublickeySignatureOverAnotherConnectionsSessionIdIsRefused) {
  Network n;
  n.open(1);
  n.open(2);
  const Bytes sid1 = n.kex(1), sid2 = n.kex(2);
  ASSERT_FALSE(sid1.empty());
  ASSERT_NE(sid1, sid2);
  n.log();
  // alice's signature was made for connection 1; the network process replays it on 2.
  auto replayed = only<AuthReply>(n.send(signed_publickey(n, 2, sid1).encode()));
  ASSERT_TRUE(replayed);
  EXPECT_EQ(replayed->status, AuthStatus::in_progress);
  ASSERT_EQ(replayed->packets.size(), 1u);
  EXPECT_EQ(replayed->packets[0][0], userauth::msg::userauth_failure);
  auto log = n.log();
  EXPECT_TRUE(std::any_of(log.begin(), log.end(), [](const LogEvent& e) {
    return e.conn == 2 && e.text.find("method=publickey") != std::string::npos &&
           e.text.find("accept") == std::string::npos;
  }));
  expect_refused(n, SessionStart{2, 99, "alice"}.encode(), RefusalReason::not_authenticated, 2);
  // On connection 1, the same signature is alice's login.
  auto ok = only<AuthReply>(n.send(signed_publickey(n, 1, sid1).encode()));
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, AuthStatus::success);
  // And connection 2 still serves a signature made over its own session id.
  EXPECT_EQ(only<AuthReply>(n.send(signed_publickey(n, 2, sid2).encode())).value().status, AuthStatus::success);
}

TEST(PrivsepMonitor, AKexinitWithAStrayCommaIsSignedAsTheTransportReadsIt) {
  // libssh 0.10's default cipher list ends in a comma: the transport reads the
  // empty name as one nothing matches (as OpenSSH), and so must the monitor.
  Network n;
  n.open(1);
  KexSign m = n.kex_request(1);
  m.i_c = test::kexinit_payload({.kex = "curve25519-sha256,", .cipher = "chacha20-poly1305@openssh.com,aes256-ctr,"});
  auto signed_ = only<KexSigned>(n.send(m.encode()));
  ASSERT_TRUE(signed_);
  EXPECT_FALSE(signed_->none_reply.empty()) << "the first exchange says what a first \"none\" gets";
  // Any other malformed name is still refused.
  m = n.kex_request(1);
  m.i_c = test::kexinit_payload({.kex = "curve25519-sha256,bad name"});
  expect_refused(n, m.encode(), RefusalReason::bad_kexinit, 1);
}

TEST(PrivsepMonitor, ReplayedSessionIdIsRefused) {
  // With randomness that repeats, the same transcript gives the same H: the
  // second connection to present it is refused, as is a re-exchange on the
  // first that would hash to its own session id.
  FixedRandom fixed;
  Network n({}, &fixed);
  n.open(1);
  n.open(2);
  const KexSign first = n.kex_request(1);
  ASSERT_TRUE(only<KexSigned>(n.send(first.encode())));
  KexSign replay = first;
  replay.conn = 2;
  expect_refused(n, replay.encode(), RefusalReason::session_id_replayed, 2);
  replay.conn = 1;
  expect_refused(n, replay.encode(), RefusalReason::session_id_replayed, 1);
  // Connection 2 has no session id: it cannot authenticate.
  expect_refused(n, n.password(2, "alice", good_password).encode(),
                 RefusalReason::no_key_exchange, 2);
  expect_served(n, 3);
}

TEST(PrivsepMonitor, RecordedTranscriptGivesAnotherConnectionAFreshSessionId) {
  // With real randomness, the monitor's own ephemeral value makes each H new.
  Network n;
  n.open(1);
  n.open(2);
  const KexSign first = n.kex_request(1);
  auto a = only<KexSigned>(n.send(first.encode()));
  ASSERT_TRUE(a);
  const Bytes h1 = a->h;
  KexSign replay = first;
  replay.conn = 2;
  auto b = only<KexSigned>(n.send(replay.encode()));
  ASSERT_TRUE(b);
  EXPECT_NE(b->h, h1);
}

TEST(PrivsepMonitor, OversizedTruncatedAndMisdirectedFramesAreRefused) {
  Network n;
  n.open(1);
  const Bytes sid = n.kex(1);
  Bytes oversized;
  wire::Writer(oversized).uint32(max_frame + 1).byte(std::to_underlying(MsgType::auth_request));
  oversized.resize(frame_header + max_frame + 1);
  Bytes truncated = n.password(1, "alice", good_password).encode();
  truncated.resize(truncated.size() - 3);
  for (const Bytes& frame : {oversized, truncated}) {
    auto replies = n.send(frame);
    auto log = n.log();
    check_refused(replies, log, RefusalReason::malformed_frame, 0);
    ASSERT_FALSE(log.empty());
    EXPECT_TRUE(log.back().protocol_error.has_value());
    // The log names what was wrong, never the frame's content.
    EXPECT_EQ(log.back().text.find(good_password), std::string::npos);
  }
  expect_refused(n, KexSigned{1, 1, {}, {}, {}, {}, {}, {}}.encode(), RefusalReason::not_a_request, 0);
  // Requests for connections the monitor was not told of.
  expect_refused(n, n.password(42, "alice", good_password).encode(),
                 RefusalReason::unknown_connection, 42);
  expect_refused(n, ConnectionClosed{42}.encode(), RefusalReason::unknown_connection, 42);
  expect_refused(n, ConnectionOpened{1, "192.0.2.9", 1}.encode(), RefusalReason::connection_exists, 1);
  // Connection 1 is untouched and still logs in.
  EXPECT_EQ(only<AuthReply>(n.send(n.password(1, "alice", good_password).encode())).value().status,
            AuthStatus::success);
  expect_served(n, 2);
}

TEST(PrivsepMonitor, TenThousandOutstandingRequestsAreBoundedPerConnection) {
  Network n;
  n.backend.config->limits.failure_delay = 300ms;  // failures are held: requests stay outstanding
  n.backend.config->limits.max_failures = 100000;
  n.open(1);
  ASSERT_FALSE(n.kex(1).empty());
  std::size_t refused = 0, answered = 0;
  for (int i = 0; i < 10000; ++i) {
    for (const auto& r : n.send(n.password(1, "alice", "wrong").encode())) {
      if (auto* x = std::get_if<Refused>(&r)) {
        EXPECT_EQ(x->reason, RefusalReason::too_many_outstanding);
        ++refused;
      } else {
        ++answered;
      }
    }
    ASSERT_LE(n.monitor->outstanding(1), MonitorLimits{}.max_outstanding);
  }
  EXPECT_EQ(answered, 0u);
  EXPECT_EQ(refused, 10000 - MonitorLimits{}.max_outstanding);
  auto log = n.log();
  EXPECT_EQ(std::count_if(log.begin(), log.end(),
                          [](const LogEvent& e) { return e.refusal == RefusalReason::too_many_outstanding; }),
            static_cast<std::ptrdiff_t>(refused));
  // Another connection is served meanwhile...
  n.backend.config->limits.failure_delay = 0ms;
  expect_served(n, 2);
  // ... and, as time passes, connection 1's held requests are answered, which frees room.
  for (int i = 0; i < 40 && n.monitor->outstanding(1) > 0; ++i) {
    n.now += 301ms;
    n.monitor->on_time(n.now);
    n.replies();
  }
  EXPECT_EQ(n.monitor->outstanding(1), 0u);
}

TEST(PrivsepMonitor, DuplicateRequestIdsAndTheConnectionCapAreRefused) {
  Network n({.max_connections = 2});
  n.backend.config->limits.failure_delay = 300ms;
  n.open(1);
  n.open(2);
  expect_refused(n, ConnectionOpened{3, "192.0.2.9", 1}.encode(),
                 RefusalReason::too_many_connections, 3);
  ASSERT_FALSE(n.kex(1).empty());
  AuthRequest held = n.password(1, "alice", "wrong");
  EXPECT_TRUE(n.send(held.encode()).empty());  // its failure is held back
  expect_refused(n, held.encode(), RefusalReason::duplicate_request, 1);
  // Closing a connection makes room for another.
  EXPECT_TRUE(n.send(ConnectionClosed{2}.encode()).empty());
  n.backend.config->limits.failure_delay = 0ms;
  expect_served(n, 3);
}

TEST(PrivsepMonitor, TheNextDeadlineIsTheEarliestOfAllConnectionsAndGoesWithThem) {
  Network n;
  n.backend.config->limits.failure_delay = 300ms;  // a failure is answered only then
  n.open(1);
  n.open(2);
  ASSERT_FALSE(n.kex(1).empty());
  ASSERT_FALSE(n.kex(2).empty());
  const auto start = n.now;
  EXPECT_TRUE(n.send(n.password(1, "alice", "wrong").encode()).empty());
  n.now += 100ms;
  EXPECT_TRUE(n.send(n.password(2, "alice", "wrong").encode()).empty());
  ASSERT_TRUE(n.monitor->next_deadline());
  EXPECT_LE(*n.monitor->next_deadline(), start + 300ms) << "connection 1's held failure comes first";
  // Connection 1 goes: its deadline with it; connection 2's is next.
  EXPECT_TRUE(n.send(ConnectionClosed{1}.encode()).empty());
  ASSERT_TRUE(n.monitor->next_deadline());
  EXPECT_GT(*n.monitor->next_deadline(), start + 300ms);
  n.now = *n.monitor->next_deadline();
  n.monitor->on_time(n.now);
  ASSERT_EQ(n.replies().size(), 1u) << "connection 2's failure, answered at its deadline";
  EXPECT_EQ(n.monitor->outstanding(2), 0u);
}

// Asynchronous providers (PAM, a worker pool) answer from other threads. Their
// wakes before the owner's on_time() are one wake, and on_time() collects the
// answers of the connections woken, whoever else is connected.
TEST(PrivsepMonitor, AsynchronousAnswersWakeOnceAndOnTimeCollectsTheWokenOnes) {
  Network n;
  std::vector<userauth::Responder> held;
  struct Holder final : userauth::KeyboardInteractiveProvider {
    std::vector<userauth::Responder>& held;
    explicit Holder(std::vector<userauth::Responder>& h) : held(h) {}
    std::string_view name() const override { return "holder"; }
    void start(const userauth::AttemptInfo&, userauth::Responder r) override { held.push_back(r); }
    void answer(std::vector<crypto::SecretBytes>, userauth::Responder r) override { held.push_back(r); }
  };
  n.backend.config->keyboard_interactive = [&](const userauth::AttemptInfo&) {
    return std::make_unique<Holder>(held);
  };
  int wakes = 0;
  n.monitor->set_wake([&wakes] { ++wakes; });
  constexpr std::uint64_t conns = 50;
  for (std::uint64_t c = 1; c <= conns; ++c) {
    n.open(c);
    ASSERT_FALSE(n.kex(c).empty());
    AuthRequest start{c, 1000 + c, {"alice", "ssh-connection", userauth::KeyboardInteractiveFields{"", ""}}};
    EXPECT_TRUE(n.send(start.encode()).empty()) << "the provider has not answered yet";
  }
  ASSERT_EQ(held.size(), conns);
  // Connections 3 and 7 are answered, from two threads.
  std::thread a([&] { held[2](userauth::Accept{}); });
  std::thread b([&] { held[6](userauth::Accept{}); });
  a.join();
  b.join();
  EXPECT_EQ(wakes, 1) << "two answers before on_time() are one wake";
  n.monitor->on_time(n.now);
  auto replies = n.replies();
  ASSERT_EQ(replies.size(), 2u);
  std::vector<std::uint64_t> answered;
  for (const auto& r : replies) {
    ASSERT_TRUE(std::holds_alternative<AuthReply>(r));
    EXPECT_EQ(std::get<AuthReply>(r).status, AuthStatus::success);
    answered.push_back(std::get<AuthReply>(r).conn);
  }
  std::sort(answered.begin(), answered.end());
  EXPECT_EQ(answered, (std::vector<std::uint64_t>{3, 7}));
  // The next answer wakes again; one for a connection that has gone is dropped.
  held[9](userauth::Accept{});
  EXPECT_EQ(wakes, 2);
  EXPECT_TRUE(n.send(ConnectionClosed{11}.encode()).empty());
  held[10](userauth::Accept{});
  n.monitor->on_time(n.now);
  auto more = n.replies();
  ASSERT_EQ(more.size(), 1u);
  EXPECT_EQ(std::get<AuthReply>(more[0]).conn, 10u);
}

}  // namespace
}  // namespace parley::privsep

// A fake network process for the monitor's tests: a Backend with one host
// key, a password and a key for "alice" and a channel policy the test sets,
// and a Network that sends requests through the real codec and decodes what
// the monitor answers.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <vector>

#include "parley/crypto/kex.hpp"
#include "parley/privsep/monitor.hpp"
#include "kexinit.hpp"
#include "transport_pair.hpp"

namespace parley::privsep::monitor_test {

using namespace std::chrono_literals;

inline constexpr std::string_view server_version = "SSH-2.0-parley_test";
inline constexpr std::string_view client_version = "SSH-2.0-OpenSSH_9.2p1";
inline constexpr std::string_view good_password = "correct horse battery";

inline crypto::SecretBytes secret(std::string_view s) {
  return crypto::SecretBytes(BytesView(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()));
}

/// Always the same bytes: two exchanges with the same client value give the same H.
class FixedRandom final : public crypto::Random {
 public:
  void fill(std::span<std::uint8_t> out) override { std::fill(out.begin(), out.end(), 0x5a); }
};

class TestBackend final : public Backend {
 public:
  /// `seed` makes the host key: another seed, another key (a reloaded backend).
  explicit TestBackend(std::uint64_t seed = 1) {
    crypto::DeterministicRandom rng(seed);
    keys_.push_back(crypto::PrivateKey::generate_ed25519(rng));
    user_key = crypto::PrivateKey::generate_ed25519(rng);
    config = std::make_shared<userauth::ServerAuthConfig>();
    config->password = std::make_shared<const userauth::PasswordVerifier>(
        [](std::string_view user, const crypto::SecretBytes& pw) {
          return user == "alice" && pw == secret(good_password);
        });
    config->authorized_keys = [this](std::string_view user) {
      return user == "alice" ? std::vector<crypto::PublicKey>{user_key->public_key()}
                             : std::vector<crypto::PublicKey>{};
    };
    config->limits.failure_delay = 0ms;
  }
  const std::vector<crypto::PrivateKey>& host_keys() const override { return keys_; }
  std::string_view server_version() const override { return monitor_test::server_version; }
  std::shared_ptr<const userauth::ServerAuthConfig> auth_config(std::string_view, std::uint16_t) override {
    return config;
  }
  const session::ChannelPolicy& channel_policy() const override { return policy; }

  std::optional<crypto::PrivateKey> user_key;
  std::shared_ptr<userauth::ServerAuthConfig> config;
  session::ChannelPolicy policy;  // no forwarding unless a test allows it

 private:
  std::vector<crypto::PrivateKey> keys_;
};

/// The fake network process: builds requests, sends them through the codec,
/// decodes what the monitor answers.
struct Network {
  TestBackend backend;
  crypto::DeterministicRandom monitor_rng{7};
  crypto::DeterministicRandom client_rng{9};
  std::unique_ptr<Monitor> monitor;
  transport::Instant now = test::test_epoch();
  std::uint64_t next_req = 1;

  explicit Network(MonitorLimits limits = {}, crypto::Random* rng = nullptr) {
    monitor = std::make_unique<Monitor>(backend, rng ? *rng : monitor_rng, limits);
  }

  std::vector<Reply> send(const Bytes& frame) {
    monitor->handle(frame, now);
    return replies();
  }
  std::vector<Reply> replies() {
    std::vector<Reply> out;
    for (auto& f : monitor->take_frames()) {
      auto r = decode_reply(f);
      EXPECT_TRUE(r) << "the monitor sent a frame that does not decode: " << (r ? "" : to_string(r.error()));
      if (r) out.push_back(std::move(*r));
    }
    return out;
  }
  void open(std::uint64_t conn) {
    EXPECT_TRUE(send(ConnectionOpened{conn, "192.0.2.7", 40000}.encode()).empty());
  }

  /// A well-formed KexSign for a curve25519 exchange; `client_key` receives the
  /// client's ephemeral pair so the test can derive K as a real client would.
  KexSign kex_request(std::uint64_t conn, std::unique_ptr<crypto::KexKeyPair>* client_key = nullptr) {
    auto pair = crypto::KexKeyPair::generate(crypto::KexGroup::x25519, client_rng);
    EXPECT_TRUE(pair);
    KexSign m{conn,
              next_req++,
              "curve25519-sha256",
              "ssh-ed25519",
              std::string(client_version),
              std::string(server_version),
              test::kexinit_payload({.cookie = 0x01}),
              test::kexinit_payload({.cookie = 0x02}),
              Bytes((*pair)->public_value().begin(), (*pair)->public_value().end())};
    if (client_key) *client_key = std::move(*pair);
    return m;
  }
  /// Runs a key exchange on `conn`; returns the session id (H).
  Bytes kex(std::uint64_t conn) {
    auto replies_ = send(kex_request(conn).encode());
    EXPECT_EQ(replies_.size(), 1u);
    if (replies_.size() != 1 || !std::holds_alternative<KexSigned>(replies_[0])) return {};
    return std::get<KexSigned>(replies_[0]).h;
  }

  AuthRequest password(std::uint64_t conn, std::string_view user, std::string_view pw) {
    return AuthRequest{conn, next_req++, {std::string(user), "ssh-connection",
                                          userauth::PasswordFields{secret(pw), std::nullopt}}};
  }

  std::vector<LogEvent> log() { return monitor->take_log(); }
};

/// The one reply, if it is a T.
template <class T>
std::optional<T> only(std::vector<Reply> replies) {
  EXPECT_EQ(replies.size(), 1u);
  if (replies.size() != 1 || !std::holds_alternative<T>(replies[0])) return std::nullopt;
  return std::get<T>(std::move(replies[0]));
}

/// The refusal in `replies` and the log line that says so.
inline void check_refused(const std::vector<Reply>& replies, const std::vector<LogEvent>& log, RefusalReason reason,
                   std::uint64_t conn) {
  auto r = only<Refused>(replies);
  ASSERT_TRUE(r) << "expected a refusal " << to_string(reason);
  EXPECT_EQ(r->reason, reason) << to_string(r->reason);
  EXPECT_EQ(r->conn, conn);
  const bool logged = std::any_of(log.begin(), log.end(), [&](const LogEvent& e) {
    return e.refusal == reason && e.conn == conn && e.text.find(to_string(reason)) != std::string::npos;
  });
  EXPECT_TRUE(logged) << "no log event for " << to_string(reason);
}

/// Sends `frame`: it is refused for `reason`, and logged.
inline void expect_refused(Network& n, const Bytes& frame, RefusalReason reason, std::uint64_t conn) {
  auto replies = n.send(frame);
  check_refused(replies, n.log(), reason, conn);
}

/// Another connection gets a full login: the monitor still serves.
inline void expect_served(Network& n, std::uint64_t conn) {
  n.open(conn);
  ASSERT_FALSE(n.kex(conn).empty());
  auto replies = n.send(n.password(conn, "alice", good_password).encode());
  auto ok = only<AuthReply>(replies);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, AuthStatus::success);
  EXPECT_EQ(ok->conn, conn);
}


}  // namespace parley::privsep::monitor_test

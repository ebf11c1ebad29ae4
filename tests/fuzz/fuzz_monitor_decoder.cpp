// Fuzzes the monitor protocol's decoders and the Monitor behind them, as a
// compromised network process would drive them. A monitor is set up with two
// connections, the first past a real key exchange so authentication requests
// reach its ServerAuth; then the input is a sequence of records
//   byte action || string frame (uint32 length + bytes)
// where an even action hands the frame to Monitor::handle and an odd one
// advances the clock by (action / 2) * 50 ms and calls on_time. Every frame is
// also decoded as a reply. Checked: a request that decodes re-encodes to a
// frame that decodes to the same encoding, and every frame the monitor sends
// decodes as a reply; a PenaltyAccrued reaches the monitor's penalty listener
// only within its bounds, and a SharedPenalties reply round-trips. The backend
// allows forwarding, so SessionSpawn and Forward* requests reach their checks. Seeds: tests/fuzz/seeds/monitor.
#include <cstdint>
#include <memory>

#include "parley/crypto/kex.hpp"
#include "parley/privsep/monitor.hpp"
#include "parley/wire/reader.hpp"
#include "kexinit.hpp"

using namespace parley;
using namespace std::chrono_literals;

namespace {

class FuzzBackend final : public privsep::Backend {
 public:
  FuzzBackend() {
    crypto::DeterministicRandom rng(1);
    keys_.push_back(crypto::PrivateKey::generate_ed25519(rng));
    auto c = std::make_shared<userauth::ServerAuthConfig>();
    c->password = std::make_shared<const userauth::PasswordVerifier>(
        [](std::string_view user, const crypto::SecretBytes& pw) { return user == "alice" && pw.size() == 3; });
    c->authorized_keys = [key = keys_[0].public_key()](std::string_view) {
      return std::vector<crypto::PublicKey>{key};
    };
    c->limits.failure_delay = 100ms;
    config_ = std::move(c);
  }
  const std::vector<crypto::PrivateKey>& host_keys() const override { return keys_; }
  std::string_view server_version() const override { return "SSH-2.0-parley_fuzz"; }
  std::shared_ptr<const userauth::ServerAuthConfig> auth_config(std::string_view, std::uint16_t) override {
    return config_;
  }
  const session::ChannelPolicy& channel_policy() const override {
    // Forwarding on, so its requests reach the policy checks and become actions.
    static const session::ChannelPolicy policy = [] {
      session::ChannelPolicy p;
      p.allow_local_forwarding = p.allow_remote_forwarding = true;
      p.permit_open = {"127.0.0.1:8080"};
      return p;
    }();
    return policy;
  }

 private:
  std::vector<crypto::PrivateKey> keys_;
  std::shared_ptr<const userauth::ServerAuthConfig> config_;
};

[[noreturn]] void fail() { __builtin_trap(); }

/// A decoded request's encoding must decode again, to the same encoding.
void check_round_trip(BytesView frame) {
  auto request = privsep::decode_request(frame);
  if (!request) return;
  const Bytes once = std::visit([](const auto& m) { return m.encode(); }, *request);
  auto again = privsep::decode_request(once);
  if (!again) fail();
  if (std::visit([](const auto& m) { return m.encode(); }, *again) != once) fail();
}

/// A SharedPenalties that decodes is bounded and re-encodes to what decodes again
/// (the network process's side of the shared penalties).
void check_shared_penalties(BytesView frame) {
  auto reply = privsep::decode_reply(frame);
  if (!reply) return;
  const auto* shared = std::get_if<privsep::SharedPenalties>(&*reply);
  if (shared == nullptr) return;
  if (shared->penalties.size() > privsep::max_shared_penalties) fail();
  auto again = privsep::SharedPenalties::decode(shared->encode());
  if (!again || again->penalties != shared->penalties) fail();
}

/// What reaches the monitor's penalty listener is bounded as the decoder says.
void check_accrual(const privsep::PenaltyAccrued& a) {
  if (a.netblock.empty() || a.netblock.size() > privsep::max_netblock || a.conn != 0 || a.req != 0) fail();
  if (a.seconds == 0 || a.seconds > privsep::max_penalty_seconds) fail();
  if (a.max == 0 || a.max > privsep::max_penalty_seconds) fail();
}

void check_sent(privsep::Monitor& monitor) {
  for (const auto& f : monitor.take_frames())
    if (!privsep::decode_reply(f)) fail();
  (void)monitor.take_log();
  // What an executor would do: spawned programs end at once, so handles are reused.
  for (const auto& action : monitor.take_actions())
    if (const auto* spawn = std::get_if<privsep::SpawnAction>(&action)) monitor.session_ended(spawn->conn, spawn->handle);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static FuzzBackend backend;
  crypto::DeterministicRandom rng(2);
  privsep::Monitor monitor(backend, rng, {.max_connections = 4, .max_outstanding = 4});
  monitor.set_penalty_listener(check_accrual);
  transport::Instant now{};
  monitor.handle(privsep::ConnectionOpened{1, "192.0.2.1", 1}.encode(), now);
  monitor.handle(privsep::ConnectionOpened{2, "192.0.2.2", 2}.encode(), now);
  auto client = crypto::KexKeyPair::generate(crypto::KexGroup::x25519, rng);
  if (!client) fail();
  const BytesView q_c = (*client)->public_value();
  monitor.handle(privsep::KexSign{{1, 1}, "curve25519-sha256", "ssh-ed25519", "SSH-2.0-fuzz",
                                  "SSH-2.0-parley_fuzz", test::kexinit_payload({}), test::kexinit_payload({}),
                                  Bytes(q_c.begin(), q_c.end())}
                     .encode(),
                 now);
  check_sent(monitor);

  wire::Reader r(BytesView(data, size));
  while (r.remaining() > 0) {
    const std::uint8_t action = r.byte();
    const BytesView frame = r.string(privsep::frame_header + privsep::max_frame + 16);
    if (!r.ok()) break;
    check_shared_penalties(frame);
    if (action % 2 == 0) {
      check_round_trip(frame);
      monitor.handle(frame, now);
    } else {
      now += (action / 2) * 50ms;
      monitor.on_time(now);
    }
    check_sent(monitor);
  }
  return 0;
}

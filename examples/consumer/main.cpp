// A Higher or Lower SSH server built against the installed parley:
// `higher_or_lower [PORT]`, then `ssh -p PORT admin@127.0.0.1`.
#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "parley/crypto/random.hpp"
#include "parley/driver/server.hpp"
#include "parley/session/server_connection.hpp"
#include "parley/version.hpp"

using namespace parley;

class Question final : public userauth::SyncProvider {  // one per attempt
 public:
  explicit Question(crypto::Random& rng) : rng_(rng) {}
  std::string_view name() const override { return "higher-or-lower"; }
  userauth::Outcome begin(const userauth::AttemptInfo&) override {
    unsigned a = rng_.uniform(100), b;
    do b = rng_.uniform(100); while (b == a);
    highest_ = std::max(a, b);
    return userauth::Challenge{"Higher or Lower", "Answer the question to show me you are human.",
        {{"What is the highest number: " + std::to_string(a) + " or " + std::to_string(b) + "? ", true}}};
  }
  userauth::Outcome check(const std::vector<crypto::SecretBytes>& answers) override {
    if (answers.size() == 1 && userauth::answer_text(answers[0]) == std::to_string(highest_))
      return userauth::Accept{};
    return userauth::Reject{};
  }

 private:
  crypto::Random& rng_;
  unsigned highest_ = 0;
};

int main(int argc, char** argv) {
  static crypto::SystemRandom rng;
  auto transport = std::make_shared<transport::TransportConfig>();
  transport->role = transport::Role::server;
  transport->host_keys = {crypto::PrivateKey::generate_ed25519(rng)};
  auto auth = std::make_shared<userauth::ServerAuthConfig>();
  auth->keyboard_interactive = [](const userauth::AttemptInfo&) { return std::make_unique<Question>(rng); };
  auth->look_up_user = [](std::string_view user) { return userauth::UserVerdict{user == "admin", {}}; };
  driver::ServerOptions options;
  options.port = static_cast<std::uint16_t>(argc > 1 ? std::stoi(argv[1]) : 2222);
  driver::Server server(options, [&](const driver::PeerInfo& peer, transport::Instant now) {
    return std::make_unique<session::ServerConnection>(transport, auth, rng, peer.address, now);
  });
  if (auto started = server.start(); !started) return std::fprintf(stderr, "%s\n", started.error().c_str()), 1;
  std::printf("listening on 127.0.0.1:%u (libparley %s)\n", server.port(), parley::library_version().data());
  std::fflush(stdout);
  server.wait();
}

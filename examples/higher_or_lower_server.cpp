// Seed 004's "Higher or Lower" provider written against parley's API, in a
// complete server: `example_higher_or_lower_server [PORT]`, then
// `ssh -p PORT admin@127.0.0.1`.
//
// The provider is the seed's KeyboardInteractiveProvider in C++: one instance
// per attempt, state kept inside it, begin() returns the first challenge and
// check() returns Accept, Reject or another Challenge (here: a new question).
#include <cstdio>
#include <string>

#include "parley/userauth/provider.hpp"
#include "parley/session/server_connection.hpp"
#include "parley/crypto/keys.hpp"
#include "parley/crypto/random.hpp"
#include "parley/driver/server.hpp"

using namespace parley;

class MyKeyboardInteractiveProvider final : public userauth::SyncProvider {
 public:
  explicit MyKeyboardInteractiveProvider(crypto::Random& rng) : rng_(rng) {}
  std::string_view name() const override { return "higher-or-lower"; }

  userauth::Outcome begin(const userauth::AttemptInfo&) override { return question(); }

  userauth::Outcome check(const std::vector<crypto::SecretBytes>& answers) override {
    if (answers.size() == 1 && userauth::answer_text(answers[0]) == std::to_string(highest_))
      return userauth::Accept{};
    return question();  // wrong: ask again (the core bounds the rounds)
  }

 private:
  userauth::Challenge question() {
    unsigned a = rng_.uniform(100), b;
    do b = rng_.uniform(100); while (b == a);
    highest_ = a > b ? a : b;
    return {"Higher or Lower", "Answer the question to show me you are human.",
            {{"What is the highest number: " + std::to_string(a) + " or " + std::to_string(b) + "? ",
              /*echo=*/true}}};
  }
  crypto::Random& rng_;
  unsigned highest_ = 0;
};

int main(int argc, char** argv) {
  static crypto::SystemRandom rng;
  auto transport_config = std::make_shared<transport::TransportConfig>();
  transport_config->role = transport::Role::server;
  transport_config->host_keys = {crypto::PrivateKey::generate_ed25519(rng)};  // a fresh key per run

  auto auth_config = std::make_shared<userauth::ServerAuthConfig>();
  auth_config->keyboard_interactive = [](const userauth::AttemptInfo&) {
    return std::make_unique<MyKeyboardInteractiveProvider>(rng);
  };
  auth_config->look_up_user = [](std::string_view user) {
    return userauth::UserVerdict{user == "admin", {}};  // every other name fails the same way
  };

  driver::ServerOptions options;
  options.port = static_cast<std::uint16_t>(argc > 1 ? std::stoi(argv[1]) : 2222);
  driver::Server server(options, [&](const driver::PeerInfo& peer, transport::Instant now) {
    return std::make_unique<session::ServerConnection>(
        transport_config, auth_config, rng, peer.address + ":" + std::to_string(peer.port), now);
  });
  if (auto started = server.start(); !started) {
    std::fprintf(stderr, "%s\n", started.error().c_str());
    return 1;
  }
  std::printf("listening on 127.0.0.1:%u\n", server.port());
  std::fflush(stdout);
  server.wait();  // until the process is killed
}

// A server whose sessions are served by the application itself, not by a
// process: a tiny built-in command shell, the way Maverick Synergy users plug
// in their own shells. `example_command_shell_server [PORT]`, then
// `ssh -p PORT admin@127.0.0.1` (answer the Higher or Lower question; any
// password-less account name works) and type `help`.
//
// A ChannelHandler sees the session's requests (pty-req, shell, exec, ...)
// and its input, and writes output through its ChannelIo. With a terminal the
// client sends raw keystrokes, so the shell echoes them and edits the line.
#include <cstdio>
#include <string>
#include <vector>

#include "parley/userauth/higher_or_lower.hpp"
#include "parley/session/server_connection.hpp"
#include "parley/connection/command_shell.hpp"
#include "parley/crypto/random.hpp"
#include "parley/driver/server.hpp"
#include "parley/driver/services.hpp"

using namespace parley;

int main(int argc, char** argv) {
  static crypto::SystemRandom rng;
  auto transport_config = std::make_shared<transport::TransportConfig>();
  transport_config->role = transport::Role::server;
  transport_config->host_keys = {crypto::PrivateKey::generate_ed25519(rng)};

  auto auth_config = std::make_shared<userauth::ServerAuthConfig>();
  auth_config->keyboard_interactive = [](const userauth::AttemptInfo&) {
    return std::make_unique<userauth::HigherOrLower>(rng);
  };
  auto policy = std::make_shared<session::ChannelPolicy>();  // no forwarding

  driver::ServerOptions options;
  options.port = static_cast<std::uint16_t>(argc > 1 ? std::stoi(argv[1]) : 2222);
  driver::Server server(options, driver::ConnectionFactory([&](driver::ConnectionContext& context,
                                                               transport::Instant now) {
    auto conn = std::make_unique<session::ServerConnection>(
        transport_config, auth_config, rng,
        context.peer().address + ":" + std::to_string(context.peer().port), now);
    // Sessions are CommandShells; the standard services still provide the rest.
    conn->set_channel_services(
        policy, driver::make_channel_services(
                    context, driver::ProcessOptions{},
                    [](driver::ConnectionContext&, const std::string& user) {
                      return connection::make_command_shell(user);
                    }));
    return conn;
  }));
  if (auto started = server.start(); !started) {
    std::fprintf(stderr, "%s\n", started.error().c_str());
    return 1;
  }
  std::printf("listening on 127.0.0.1:%u\n", server.port());
  std::fflush(stdout);
  server.wait();
}

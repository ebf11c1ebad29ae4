// A real OpenSSH sshd for interop tests: its own config, host keys and
// authorized key in a temporary directory, on a free 127.0.0.1 port.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "parley/crypto/keys.hpp"
#include "parley/crypto/random.hpp"
#include "test_support.hpp"

namespace parley::test {

struct SshdOptions {
  /// ssh-keygen -t names of the host keys to give it.
  std::vector<std::string> host_key_types = {"ed25519"};
  /// LogLevel. With -e a session's DEBUG lines would reach the client's stderr.
  std::string log_level = "VERBOSE";
  /// Further sshd_config lines.
  std::string extra_config;
};

class Sshd {
 public:
  /// Starts sshd; error() says why if it could not.
  explicit Sshd(SshdOptions options = {});

  /// "" once sshd accepts connections.
  const std::string& error() const { return error_; }
  std::uint16_t port() const { return port_; }
  bool running() { return process_ && process_->running(); }
  std::string log() const;
  /// The last `max` bytes of the log, for a failing test's output.
  std::string log_tail(std::size_t max = 6000) const;
  /// Its host key of a type (from ssh-keygen's .pub file), or nullptr.
  const crypto::PublicKey* key(crypto::KeyType type) const;
  /// A user key sshd accepts for user() (its AuthorizedKeysFile).
  const crypto::PrivateKey& user_key() const { return *user_key_; }
  /// The account to log in as: the one running the tests (sshd runs as it too).
  const std::string& user() const { return user_; }

 private:
  std::string start(const SshdOptions& options);
  std::string wait_listening();

  TempDir dir_;
  std::uint16_t port_ = 0;
  std::map<crypto::KeyType, crypto::PublicKey> keys_;
  std::optional<ChildProcess> process_;
  crypto::SystemRandom rng_;
  std::optional<crypto::PrivateKey> user_key_;
  std::string user_;
  std::string error_;
};

}  // namespace parley::test

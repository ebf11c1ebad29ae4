// parley's connection to an ssh-agent: a unix socket with blocking I/O, each
// round trip bounded in time, over the sans-I/O protocol of parley/client/agent.hpp.
#pragma once

#include <chrono>
#include <expected>
#include <mutex>
#include <string>
#include <vector>

#include "parley/client/agent.hpp"
#include "parley/wire/unique_fd.hpp"

namespace parley::app {

class AgentSocket {
 public:
  /// Connects to the agent listening at `path`; the error is one line for a debug log.
  static std::expected<AgentSocket, std::string> connect(const std::string& path);

  AgentSocket(AgentSocket&& other) noexcept : fd_(std::move(other.fd_)) {}
  AgentSocket& operator=(AgentSocket&&) = delete;
  AgentSocket(const AgentSocket&) = delete;
  AgentSocket& operator=(const AgentSocket&) = delete;

  /// SSH_AGENTC_REQUEST_IDENTITIES (answered within `timeout`).
  std::expected<std::vector<client::agent::Identity>, std::string> identities(std::chrono::milliseconds timeout);
  /// SSH_AGENTC_SIGN_REQUEST: the signature blob, or why there is none (the agent
  /// refused, broke the protocol, went away, or took longer than `timeout`). The
  /// request carrying `data` is wiped once written.
  std::expected<Bytes, std::string> sign(BytesView key_blob, BytesView data, crypto::SignatureAlg alg,
                                         std::chrono::milliseconds timeout);
  /// Ends the connection: a round trip in progress on another thread returns at once.
  void shutdown();

 private:
  explicit AgentSocket(UniqueFd fd) : fd_(std::move(fd)) {}
  /// Writes `request` and reads one message; once a round trip fails the socket is
  /// out of step with the agent and every later call fails too.
  std::expected<Bytes, std::string> round_trip(const Bytes& request, std::chrono::milliseconds timeout);

  std::mutex mutex_;  // one round trip at a time
  UniqueFd fd_;
  bool broken_ = false;
};

}  // namespace parley::app

// SharedState kept in Redis (RESP2, Redis 6 or later for ACL users), so that
// several parleyd instances behind one load balancer agree on used TOTP steps
// and scratch codes, second-factor failures and source penalties. The key
// shapes and the Lua scripts that make each call atomic are in
// parley/state/redis_protocol.hpp.
//
// The client runs its own event loop on its own thread (started by
// redis_state(), stopped and joined when the last reference goes) with a pool
// of connections. Each SharedState call hands its request to that loop and
// blocks its caller until the answer or `timeout`: call it from a worker
// thread, never from one of parleyd's I/O threads. When Redis is down a call
// fails at once with the last connection error ("redis 127.0.0.1:6379:
// connection refused"); the next call after a short back-off tries again, so
// the same object works again once Redis is back.
#pragma once

#include <chrono>
#include <cstddef>
#include <expected>
#include <memory>
#include <string>

#include "parley/crypto/secret.hpp"
#include "parley/state/shared_state.hpp"

namespace parley::driver {

struct RedisOptions {
  /// "host:port", "[v6-address]:port", or a host alone (port 6379).
  std::string address = "127.0.0.1:6379";
  /// TLS (OpenSSL): the server's certificate must chain to `tls_ca_file` and
  /// name `tls_server_name` (else the host of `address`). A client
  /// certificate is sent when `tls_cert_file` and `tls_key_file` are set.
  bool tls = false;
  std::string tls_ca_file;
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string tls_server_name;
  /// AUTH on every new connection: `AUTH username password` (an ACL user), or
  /// `AUTH password` when `username` is empty; none when `password` is empty.
  /// The password comes from a credentials file the caller reads; it is never
  /// logged nor put in an error.
  std::string username;
  crypto::SecretBytes password;
  std::string key_prefix = "parley:";
  /// Per call: from the call until its answer (waiting for a free connection
  /// included). A connection whose call timed out is closed and replaced.
  std::chrono::milliseconds timeout{500};
  /// Per connection attempt: TCP, TLS, AUTH and loading the scripts.
  std::chrono::milliseconds connect_timeout{1000};
  /// Connections, each carrying one call at a time.
  std::size_t pool_size = 4;
  /// Calls waiting for a connection; beyond this a call fails at once.
  std::size_t max_waiting = 256;
  /// Pause between failed connection attempts; during it calls fail at once
  /// with the last error.
  std::chrono::milliseconds reconnect_backoff{200};
};

/// A SharedState in the Redis at `options.address`. Connects in the background
/// (Redis may be down now: calls fail until it is up). Errors: an address that
/// does not parse, or TLS files that cannot be loaded.
std::expected<std::shared_ptr<state::SharedState>, std::string> redis_state(RedisOptions options);

}  // namespace parley::driver

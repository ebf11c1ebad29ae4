// The Redis side of SharedState, sans-I/O: the commands each call sends (RESP2
// arrays of bulk strings), the Lua scripts that make each call one atomic step
// on the server, and an incremental, bounded reader of the replies. The driver's
// Redis client (parley/driver/redis_state.hpp) moves these bytes over its
// connections; nothing here opens a socket or reads a clock.
//
// Keys, each starting with the configured prefix (default "parley:"); user
// names and netblocks are put in as they are (Redis keys are binary-safe):
//   <prefix>totp:<user>              string: the last claimed step's start (Unix s), EX keep
//   <prefix>scratch:<digest>:<user>  string "1", EX 400 days; <digest> is hex, so
//                                    the first ':' after it ends it
//   <prefix>fail:<user>              sorted set: one member per counted try, scored by
//                                    its time; EXPIRE period
//   <prefix>penalty:<netblock>       string: the penalty's end (Unix s), EXAT that end
//   <prefix>penalties                sorted set: netblock -> end, the index penalties() reads
// The penalty scripts touch two keys, so they need one Redis (or one hash slot):
// Redis Cluster is not supported.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "parley/state/shared_state.hpp"

namespace parley::state::redis {

/// One RESP2 reply.
struct Reply {
  enum class Kind { string, status, error, integer, nil, array };
  Kind kind = Kind::nil;
  std::string text;           // string, status, error
  std::int64_t integer = 0;   // integer
  std::vector<Reply> elements;  // array
};

/// `args` as a RESP array of bulk strings, ready to write.
std::string encode_command(std::span<const std::string> args);

/// Limits on one reply, so that a hostile or broken server cannot make the
/// reader allocate without bound.
struct ReaderLimits {
  std::size_t max_reply_bytes = 1 << 20;  // bytes fed while one reply is incomplete
  std::size_t max_elements = 100000;      // array elements in one reply, nested ones included
};

/// Reads replies from the bytes of one connection, incrementally (hiredis's
/// redisReader, with parley's own reply objects). After an error the
/// connection's byte stream is unusable: close it.
class ReplyReader {
 public:
  explicit ReplyReader(ReaderLimits limits = {});
  ~ReplyReader();
  ReplyReader(const ReplyReader&) = delete;
  ReplyReader& operator=(const ReplyReader&) = delete;

  /// Hands in bytes read from the connection.
  std::expected<void, std::string> feed(std::string_view bytes);
  /// The next complete reply, std::nullopt if more bytes are needed, or why the
  /// bytes are not RESP2 within the limits ("protocol error: ...").
  std::expected<std::optional<Reply>, std::string> next();

  struct Impl;  // opaque: hiredis's reader and the counts against the limits

 private:
  std::unique_ptr<Impl> impl_;
};

/// A Lua script run with EVALSHA (EVAL when the server answers NOSCRIPT).
struct Script {
  std::string_view name;
  std::string_view source;
};

/// One SharedState call in Redis terms: either a plain command (`script` null,
/// `args` the whole command) or a script with its KEYS and ARGV.
struct Call {
  const Script* script = nullptr;
  std::vector<std::string> keys;
  std::vector<std::string> args;

  /// The bytes to send: the plain command, or EVALSHA `sha1` when it is known
  /// (non-empty), else EVAL with the script's source.
  std::string encode(std::string_view sha1 = {}) const;
};

/// The scripts, for SCRIPT LOAD when a connection opens.
std::span<const Script* const> scripts();
/// True if `reply` is the server saying it does not know the script (NOSCRIPT):
/// send the call again with encode() (EVAL), which also caches the script.
bool is_noscript(const Reply& reply);

/// How long a claimed scratch code is remembered.
inline constexpr std::chrono::seconds scratch_keep = std::chrono::days(400);

/// The calls of SharedState, with the keys under one prefix, and the readers
/// of their replies (an error reply or an unexpected shape is an error value
/// naming what came back, never a key's value).
class Commands {
 public:
  explicit Commands(std::string key_prefix = "parley:") : prefix_(std::move(key_prefix)) {}
  const std::string& prefix() const { return prefix_; }

  Call claim_totp_step(std::string_view user, std::int64_t step_time, std::chrono::seconds keep) const;
  /// The digest must be hex (is_hex_digest); an error otherwise.
  std::expected<Call, std::string> claim_scratch_code(std::string_view user, std::string_view digest) const;
  Call try_acquire(std::string_view user, std::int64_t now, std::size_t max_failures,
                   std::chrono::seconds period) const;
  Call clear_failures(std::string_view user) const;
  Call add_penalty(std::string_view netblock, std::int64_t now, std::chrono::seconds seconds,
                   std::chrono::seconds max) const;
  Call penalties(std::int64_t now, std::size_t limit) const;

  /// claim_totp_step, try_acquire: integer 1 or 0.
  static std::expected<bool, std::string> read_flag(const Reply& reply);
  /// claim_scratch_code: OK (claimed) or nil (already used).
  static std::expected<bool, std::string> read_set_nx(const Reply& reply);
  /// clear_failures: any integer.
  static std::expected<void, std::string> read_done(const Reply& reply);
  /// add_penalty: the new end.
  static std::expected<std::int64_t, std::string> read_end(const Reply& reply);
  /// penalties: netblock, end, netblock, end, ...
  static std::expected<std::vector<Penalty>, std::string> read_penalties(const Reply& reply);

 private:
  std::string prefix_;
};

/// A reply's error text as it may be shown: at most 200 bytes, printable ASCII.
std::string printable(std::string_view text);

}  // namespace parley::state::redis

// The SharedState calls as Redis commands and Lua scripts (the key shapes are
// in redis_protocol.hpp), and the readers of their replies.
//
// Lua numbers are doubles: exact for the Unix times and durations used here
// (well below 2^53). Each script runs atomically on the server, which is what
// makes a claim one compare-and-set across every parleyd instance.
#include <algorithm>
#include <charconv>

#include "digest.hpp"
#include "parley/state/redis_protocol.hpp"

namespace parley::state::redis {
namespace {

// KEYS[1] the user's step; ARGV[1] the step's start, ARGV[2] keep (s, >= 1).
constexpr Script totp_step{"totp_step", R"lua(
local cur = tonumber(redis.call('GET', KEYS[1]))
local step = tonumber(ARGV[1])
if cur and cur >= step then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1
)lua"};

// KEYS[1] the user's tries; ARGV[1] now, ARGV[2] max failures (>= 1),
// ARGV[3] period (s, >= 1). As parley::otp::RateLimiter::try_acquire: tries
// older than the period are dropped, then a full set refuses (and counts
// nothing), else this try is counted (a unique member at score now).
constexpr Script try_acquire_script{"try_acquire", R"lua(
local now = tonumber(ARGV[1])
local max = tonumber(ARGV[2])
local period = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - period)
if redis.call('ZCARD', KEYS[1]) >= max then return 0 end
local i = 0
while redis.call('ZADD', KEYS[1], 'NX', now, ARGV[1] .. ':' .. i) == 0 do i = i + 1 end
redis.call('EXPIRE', KEYS[1], period)
return 1
)lua"};

// KEYS[1] the netblock's penalty, KEYS[2] the index; ARGV[1] now,
// ARGV[2] seconds to add, ARGV[3] max (s), ARGV[4] the netblock.
constexpr Script add_penalty_script{"add_penalty", R"lua(
local now = tonumber(ARGV[1])
local cur = tonumber(redis.call('GET', KEYS[1]))
local base = now
if cur and cur > now then base = cur end
local e = math.min(base + tonumber(ARGV[2]), now + tonumber(ARGV[3]))
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if e > now then
  redis.call('SET', KEYS[1], string.format('%d', e), 'EXAT', string.format('%d', e))
  redis.call('ZADD', KEYS[2], string.format('%d', e), ARGV[4])
else
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[4])
end
return e
)lua"};

constexpr const Script* all_scripts[] = {&totp_step, &try_acquire_script, &add_penalty_script};

std::string number(std::int64_t v) { return std::to_string(v); }

std::string unexpected_reply(const Reply& reply) {
  switch (reply.kind) {
    case Reply::Kind::error: return "error reply: " + printable(reply.text);
    case Reply::Kind::string: return "unexpected reply: a string";
    case Reply::Kind::status: return "unexpected reply: +" + printable(reply.text);
    case Reply::Kind::integer: return "unexpected reply: " + std::to_string(reply.integer);
    case Reply::Kind::nil: return "unexpected reply: nil";
    case Reply::Kind::array: return "unexpected reply: an array";
  }
  return "unexpected reply";
}

std::optional<std::int64_t> parse_int(std::string_view text) {
  std::int64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return v;
}

}  // namespace

std::string Call::encode(std::string_view sha1) const {
  std::vector<std::string> argv;
  if (script == nullptr) return encode_command(args);
  argv.reserve(3 + keys.size() + args.size());
  argv.emplace_back(sha1.empty() ? "EVAL" : "EVALSHA");
  argv.emplace_back(sha1.empty() ? script->source : sha1);
  argv.push_back(std::to_string(keys.size()));
  argv.insert(argv.end(), keys.begin(), keys.end());
  argv.insert(argv.end(), args.begin(), args.end());
  return encode_command(argv);
}

std::span<const Script* const> scripts() { return all_scripts; }

bool is_noscript(const Reply& reply) {
  return reply.kind == Reply::Kind::error && reply.text.starts_with("NOSCRIPT");
}

Call Commands::claim_totp_step(std::string_view user, std::int64_t step_time, std::chrono::seconds keep) const {
  return Call{&totp_step, {prefix_ + "totp:" + std::string(user)},
              {number(step_time), number(std::max<std::int64_t>(keep.count(), 1))}};
}

std::expected<Call, std::string> Commands::claim_scratch_code(std::string_view user, std::string_view digest) const {
  if (!is_hex_digest(digest)) return std::unexpected(std::string("a scratch digest must be hex"));
  return Call{nullptr,
              {},
              {"SET", prefix_ + "scratch:" + std::string(digest) + ":" + std::string(user), "1", "NX", "EX",
               number(scratch_keep.count())}};
}

Call Commands::try_acquire(std::string_view user, std::int64_t now, std::size_t max_failures,
                           std::chrono::seconds period) const {
  return Call{&try_acquire_script,
              {prefix_ + "fail:" + std::string(user)},
              {number(now), std::to_string(std::max<std::size_t>(max_failures, 1)),
               number(std::max<std::int64_t>(period.count(), 1))}};
}

Call Commands::clear_failures(std::string_view user) const {
  return Call{nullptr, {}, {"DEL", prefix_ + "fail:" + std::string(user)}};
}

Call Commands::add_penalty(std::string_view netblock, std::int64_t now, std::chrono::seconds seconds,
                           std::chrono::seconds max) const {
  return Call{&add_penalty_script,
              {prefix_ + "penalty:" + std::string(netblock), prefix_ + "penalties"},
              {number(now), number(seconds.count()), number(max.count()), std::string(netblock)}};
}

Call Commands::penalties(std::int64_t now, std::size_t limit) const {
  std::string after = "(";  // exclusive: a penalty ending at `now` has ended
  after += number(now);
  return Call{nullptr,
              {},
              {"ZREVRANGEBYSCORE", prefix_ + "penalties", "+inf", std::move(after), "WITHSCORES", "LIMIT", "0",
               std::to_string(limit)}};
}

std::expected<bool, std::string> Commands::read_flag(const Reply& reply) {
  if (reply.kind == Reply::Kind::integer && (reply.integer == 0 || reply.integer == 1)) return reply.integer == 1;
  return std::unexpected(unexpected_reply(reply));
}

std::expected<bool, std::string> Commands::read_set_nx(const Reply& reply) {
  if (reply.kind == Reply::Kind::status && reply.text == "OK") return true;
  if (reply.kind == Reply::Kind::nil) return false;
  return std::unexpected(unexpected_reply(reply));
}

std::expected<void, std::string> Commands::read_done(const Reply& reply) {
  if (reply.kind == Reply::Kind::integer) return {};
  return std::unexpected(unexpected_reply(reply));
}

std::expected<std::int64_t, std::string> Commands::read_end(const Reply& reply) {
  if (reply.kind == Reply::Kind::integer) return reply.integer;
  return std::unexpected(unexpected_reply(reply));
}

std::expected<std::vector<Penalty>, std::string> Commands::read_penalties(const Reply& reply) {
  if (reply.kind != Reply::Kind::array || reply.elements.size() % 2 != 0)
    return std::unexpected(unexpected_reply(reply));
  std::vector<Penalty> out;
  out.reserve(reply.elements.size() / 2);
  for (std::size_t i = 0; i < reply.elements.size(); i += 2) {
    const Reply& netblock = reply.elements[i];
    const Reply& score = reply.elements[i + 1];
    const auto until = score.kind == Reply::Kind::string ? parse_int(score.text) : std::nullopt;
    if (netblock.kind != Reply::Kind::string || !until) return std::unexpected(std::string("unexpected reply: a malformed penalty"));
    out.push_back(Penalty{netblock.text, *until});
  }
  return out;
}

}  // namespace parley::state::redis

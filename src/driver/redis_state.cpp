// redis_state(): SharedState over the Redis client of redis_client.hpp, with
// the commands and reply readers of parley/state/redis_protocol.hpp.
#include "parley/driver/redis_state.hpp"

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <stop_token>
#include <thread>
#include <charconv>
#include <type_traits>

#include "redis_client.hpp"

namespace parley::driver {
namespace {

namespace redis = state::redis;

struct Address {
  std::string host;
  std::string port;
  std::string text;  // "host:port", "[v6]:port"
};

std::expected<Address, std::string> parse_address(std::string_view a) {
  std::string_view host = a;
  std::string_view port = "6379";
  if (a.starts_with('[')) {
    const auto close = a.find(']');
    if (close == std::string_view::npos) return std::unexpected("redis address '" + std::string(a) + "': no ']'");
    host = a.substr(1, close - 1);
    const std::string_view rest = a.substr(close + 1);
    if (!rest.empty()) {
      if (!rest.starts_with(':')) return std::unexpected("redis address '" + std::string(a) + "': junk after ']'");
      port = rest.substr(1);
    }
  } else if (const auto colon = a.find(':'); colon != std::string_view::npos && a.find(':', colon + 1) == a.npos) {
    host = a.substr(0, colon);
    port = a.substr(colon + 1);
  }
  unsigned number = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), number);
  if (host.empty() || ec != std::errc{} || end != port.data() + port.size() || number == 0 || number > 65535)
    return std::unexpected("redis address '" + std::string(a) + "': expected host:port or [address]:port");
  const bool v6 = host.find(':') != std::string_view::npos;
  std::string text = v6 ? "[" + std::string(host) + "]:" : std::string(host) + ":";
  text += port;
  return Address{std::string(host), std::string(port), std::move(text)};
}

std::expected<asio::ssl::context, std::string> tls_context(const RedisOptions& o) {
  asio::ssl::context ctx(asio::ssl::context::tls_client);
  ctx.set_options(asio::ssl::context::no_sslv2 | asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                  asio::ssl::context::no_tlsv1_1);
  std::error_code ec;
  if (o.tls_ca_file.empty()) return std::unexpected(std::string("redis tls: no CA file (tls_ca_file)"));
  if (ctx.load_verify_file(o.tls_ca_file, ec); ec)
    return std::unexpected("redis tls: CA file '" + o.tls_ca_file + "': " + ec.message());
  if (o.tls_cert_file.empty() != o.tls_key_file.empty())
    return std::unexpected(std::string("redis tls: a client certificate needs both tls_cert_file and tls_key_file"));
  if (!o.tls_cert_file.empty()) {
    if (ctx.use_certificate_chain_file(o.tls_cert_file, ec); ec)
      return std::unexpected("redis tls: certificate file '" + o.tls_cert_file + "': " + ec.message());
    if (ctx.use_private_key_file(o.tls_key_file, asio::ssl::context::pem, ec); ec)
      return std::unexpected("redis tls: key file '" + o.tls_key_file + "': " + ec.message());
  }
  ctx.set_verify_mode(asio::ssl::verify_peer | asio::ssl::verify_fail_if_no_peer_cert);
  return ctx;
}

class RedisState final : public state::SharedState {
 public:
  RedisState(std::string address, bool tls_on, std::string prefix, redis_client::Config config,
             std::optional<asio::ssl::context> tls)
      : address_(std::move(address)),
        label_("redis " + address_ + (tls_on ? " (tls)" : "")),
        commands_(std::move(prefix)),
        client_(std::move(config), std::move(tls)),
        prober_([this](std::stop_token stop) { probe(stop); }) {}

  std::string describe() const override { return label_; }
  // The outcome of the last call or of the last probe (a PING every second).
  bool answering() const override { return answering_.load(std::memory_order_relaxed); }

  std::expected<bool, state::StateError> claim_totp_step(std::string_view user, std::int64_t step_time,
                                                         std::chrono::seconds keep) override {
    return run(commands_.claim_totp_step(user, step_time, keep), redis::Commands::read_flag);
  }

  std::expected<bool, state::StateError> claim_scratch_code(std::string_view user, std::string_view digest) override {
    auto call = commands_.claim_scratch_code(user, digest);
    if (!call) return std::unexpected(error(call.error()));
    return run(std::move(*call), redis::Commands::read_set_nx);
  }

  std::expected<bool, state::StateError> try_acquire(std::string_view user, std::int64_t now,
                                                     std::size_t max_failures, std::chrono::seconds period) override {
    return run(commands_.try_acquire(user, now, max_failures, period), redis::Commands::read_flag);
  }

  std::expected<void, state::StateError> clear_failures(std::string_view user) override {
    return run(commands_.clear_failures(user), redis::Commands::read_done);
  }

  std::expected<std::int64_t, state::StateError> add_penalty(std::string_view netblock, std::int64_t now,
                                                             std::chrono::seconds seconds,
                                                             std::chrono::seconds max) override {
    return run(commands_.add_penalty(netblock, now, seconds, max), redis::Commands::read_end);
  }

  std::expected<std::vector<state::Penalty>, state::StateError> penalties(std::int64_t now,
                                                                          std::size_t limit) override {
    if (limit == 0) return std::vector<state::Penalty>{};
    return run(commands_.penalties(now, limit), redis::Commands::read_penalties);
  }

 private:
  state::StateError error(const std::string& what) const { return state::StateError{"redis " + address_ + ": " + what}; }

  // Runs `call` and reads its reply with `read`; every error names the server.
  template <class Read>
  auto run(redis::Call call, Read read) -> std::expected<typename decltype(read(redis::Reply{}))::value_type,
                                                         state::StateError> {
    auto reply = client_.call(std::move(call));
    answering_.store(reply.has_value(), std::memory_order_relaxed);
    if (!reply) return std::unexpected(error(reply.error()));
    auto value = read(*reply);
    if (!value) return std::unexpected(error(value.error()));
    if constexpr (std::is_void_v<typename decltype(value)::value_type>) return {};
    else return std::move(*value);
  }

  /// Every second, a PING, so that answering() is fresh even when no call is
  /// made (on_state_error = "deny-all" asks it at every login step) and a
  /// restarted Redis is reconnected to before the next login needs it.
  void probe(const std::stop_token& stop) {
    std::mutex m;
    std::condition_variable_any wake;
    while (!stop.stop_requested()) {
      {
        std::unique_lock lock(m);
        wake.wait_for(lock, stop, std::chrono::seconds(1), [] { return false; });  // a second, or the stop
      }
      if (stop.stop_requested()) break;
      auto reply = client_.call(redis::Call{nullptr, {}, {"PING"}});
      answering_.store(reply && reply->kind != redis::Reply::Kind::error, std::memory_order_relaxed);
    }
  }

  std::atomic<bool> answering_{true};
  std::string address_;
  std::string label_;
  redis::Commands commands_;
  redis_client::Client client_;
  std::jthread prober_;  // last: stopped and joined before the client goes
};

}  // namespace

std::expected<std::shared_ptr<state::SharedState>, std::string> redis_state(RedisOptions options) {
  auto address = parse_address(options.address);
  if (!address) return std::unexpected(address.error());
  std::optional<asio::ssl::context> tls;
  if (options.tls) {
    auto ctx = tls_context(options);
    if (!ctx) return std::unexpected(ctx.error());
    tls.emplace(std::move(*ctx));
  }
  redis_client::Config config;
  config.host = address->host;
  config.port = address->port;
  config.tls = options.tls;
  config.server_name = options.tls_server_name.empty() ? address->host : options.tls_server_name;
  config.username = std::move(options.username);
  config.password = std::move(options.password);
  config.timeout = std::max(options.timeout, std::chrono::milliseconds(1));
  config.connect_timeout = std::max(options.connect_timeout, std::chrono::milliseconds(1));
  config.pool_size = options.pool_size;
  config.max_waiting = options.max_waiting;
  config.backoff = options.reconnect_backoff;
  return std::make_shared<RedisState>(address->text, options.tls, std::move(options.key_prefix), std::move(config),
                                      std::move(tls));
}

}  // namespace parley::driver

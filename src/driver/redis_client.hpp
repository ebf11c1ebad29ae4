// The Redis client behind redis_state(): one event loop on its own thread, a
// pool of connections each carrying one call at a time, and callers that wait
// for their call's answer with a deadline. Private to the driver.
//
// Everything but Client::call() and the constructor/destructor runs on the
// loop's thread, so only a Request (shared with its waiting caller) is locked.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ssl/context.hpp>
#include <asio/ssl/stream.hpp>
#include <asio/steady_timer.hpp>

#include <array>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <expected>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "parley/crypto/secret.hpp"
#include "parley/state/redis_protocol.hpp"

namespace parley::driver::redis_client {

using Clock = std::chrono::steady_clock;
using Result = std::expected<state::redis::Reply, std::string>;

/// One call, shared by its caller (waiting) and the loop (answering).
struct Request {
  state::redis::Call call;
  Clock::time_point deadline;
  bool sent_eval = false;  // loop thread: the NOSCRIPT fallback was sent

  /// The first answer wins; later ones, and answers after the caller gave up, are dropped.
  void complete(Result r);
  /// The caller's side: the answer, or std::nullopt at the deadline (then the
  /// request is abandoned and the loop drops it).
  std::optional<Result> wait();
  bool abandoned();

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool done_ = false;
  bool abandoned_ = false;
  Result result_;
};

struct Config {
  std::string host;
  std::string port;
  bool tls = false;
  std::string server_name;
  std::string username;
  crypto::SecretBytes password;
  std::chrono::milliseconds timeout{500};
  std::chrono::milliseconds connect_timeout{1000};
  std::size_t pool_size = 4;
  std::size_t max_waiting = 256;
  std::chrono::milliseconds backoff{200};
};

/// One connection's socket (and TLS stream), reader and timer, for one
/// connection attempt: the coroutines working on it hold it, so it outlives
/// their cancelled operations after the connection drops it.
struct Link {
  Link(asio::io_context& io, asio::ssl::context* tls);
  asio::ip::tcp::socket& lowest();
  asio::awaitable<std::size_t> write(std::string_view bytes, std::error_code& ec);
  asio::awaitable<std::size_t> read_some(std::span<char> buffer, std::error_code& ec);
  /// The next reply, reading as needed; an error string when the stream fails.
  asio::awaitable<Result> read_reply();

  std::optional<asio::ip::tcp::socket> plain;
  std::optional<asio::ssl::stream<asio::ip::tcp::socket>> tls;
  asio::steady_timer timer;
  state::redis::ReplyReader reader;
  std::array<char, 4096> input;  // read_reply()'s
  bool timed_out = false;
  bool writing = false;
};

class Client;

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  enum class Phase { down, connecting, idle, busy };
  explicit Connection(Client& client) : client_(client) {}
  Phase phase() const { return phase_; }
  /// down -> connecting; then idle (and the client dispatches) or down (and
  /// the client hears why).
  void connect();
  /// idle -> busy: sends `request`; its answer, error or timeout completes it.
  void start(std::shared_ptr<Request> request);
  /// Drops the link (cancelling what runs on it) and fails the current call with `why`.
  void close(const std::string& why);

 private:
  asio::awaitable<void> open(std::shared_ptr<Link> link);
  asio::awaitable<std::optional<std::string>> hello(std::shared_ptr<Link> link);
  asio::awaitable<void> read_loop(std::shared_ptr<Link> link);
  asio::awaitable<void> send(std::shared_ptr<Link> link, std::string bytes);
  void on_reply(state::redis::Reply reply);
  void arm_timer(const std::shared_ptr<Link>& link, Clock::time_point deadline, std::string why);

  Client& client_;
  Phase phase_ = Phase::down;
  std::shared_ptr<Link> link_;
  std::shared_ptr<Request> current_;
};

class Client {
 public:
  Client(Config config, std::optional<asio::ssl::context> tls);
  /// Stops the loop and joins its thread; no call may be in progress.
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  /// From any thread but the loop's: runs `call` and waits at most the timeout.
  Result call(state::redis::Call call);

  // The loop's side.
  const Config& config() const { return config_; }
  asio::io_context& io() { return io_; }
  asio::ssl::context* tls_context() { return tls_ ? &*tls_ : nullptr; }
  /// The script's SHA1 from SCRIPT LOAD, empty while unknown.
  std::string sha(const state::redis::Script* script) const;
  void learned_sha(std::string_view name, std::string sha) { shas_[name] = std::move(sha); }
  /// Hands waiting calls to idle connections; starts connecting when needed.
  void dispatch();
  void connect_failed(std::string why);
  std::string timeout_text(std::chrono::milliseconds t) const;

 private:
  void submit(std::shared_ptr<Request> request);
  void fail_waiting(const std::string& why);
  std::size_t count(Connection::Phase phase) const;

  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::optional<asio::ssl::context> tls_;
  Config config_;
  std::vector<std::shared_ptr<Connection>> pool_;
  std::deque<std::shared_ptr<Request>> waiting_;
  std::map<std::string_view, std::string> shas_;
  std::string last_error_;
  std::optional<Clock::time_point> last_failure_;
  std::thread thread_;
};

}  // namespace parley::driver::redis_client

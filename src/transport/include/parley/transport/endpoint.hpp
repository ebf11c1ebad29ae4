// The seam between sans-I/O protocol cores and any driver (Asio, tests, fuzzers).
#pragma once

#include <functional>
#include <optional>

#include "parley/transport/transport.hpp"
#include "parley/wire/bytes.hpp"

namespace parley::transport {

/// Where a server connection's pre-authentication phase stands, for admission
/// control: OpenSSH's MaxStartups counts connections not yet authenticated, and
/// PerSourcePenalties looks at how that phase ended.
enum class PreauthState {
  pending,         // nothing but "none" tried yet
  attempted,       // a real authentication attempt was made
  grace_exceeded,  // the login grace time passed
  authenticated,
};

/// One connection's protocol state, as a driver sees it. A driver:
///  - writes everything take_output() yields, in order;
///  - calls receive() with bytes read, peer_closed() on EOF or a read error;
///  - calls on_time() once next_deadline() has passed;
///  - closes the socket once closed() is true and the output is written.
/// All calls for one endpoint are made from one thread at a time.
class Endpoint {
 public:
  virtual ~Endpoint() = default;
  virtual void receive(BytesView data, Instant now) = 0;
  virtual void peer_closed(Instant now) = 0;
  virtual void on_time(Instant now) = 0;
  virtual std::optional<Instant> next_deadline() const = 0;
  /// Appends pending output to `out`.
  virtual void take_output(Bytes& out) = 0;
  virtual bool closed() const = 0;
  /// False while the endpoint may take no more input (it has queued all the
  /// output it may hold: a key exchange is pending). The driver then reads
  /// nothing from the socket and waits for next_deadline() or a wake; it asks
  /// again after every call. Default: always true.
  virtual bool wants_input() const { return true; }
  /// Once closed(): whether the driver should wait (briefly) for the peer's EOF
  /// so the last packets (DISCONNECT) are read before the socket goes. False for
  /// a peer known to be gone (it stopped answering): nothing would come.
  virtual bool linger_on_close() const { return true; }
  /// Everything take_output() yielded so far has been written to the socket.
  /// Endpoints that produce output on their own (channels) use it to resume
  /// after holding back for a peer that was not reading. Default: unused.
  virtual void on_output_written(Instant now) { (void)now; }
  /// The driver's way to be woken for work that completes off its thread (an
  /// asynchronous authentication provider): `wake` may be called from any thread
  /// and leads to an on_time() call on the endpoint's own thread. Default: unused.
  virtual void set_wake(std::function<void()> wake) { (void)wake; }
  /// Asks the endpoint to report its PreauthState through `listener` (on its
  /// own thread, inside the calls above) each time it changes. Returns false
  /// if it has no pre-authentication phase (the default): a server then counts
  /// it as authenticated from the start.
  virtual bool set_preauth_listener(std::function<void(PreauthState)> listener) {
    (void)listener;
    return false;
  }
};

/// A Transport whose events go to a handler (the layer above). The handler runs
/// inside receive()/on_time() for each event, in order, and may call send() etc.
class TransportEndpoint final : public Endpoint {
 public:
  using Handler = std::function<void(Transport& transport, Event& event)>;

  TransportEndpoint(TransportConfig config, crypto::Random& rng, Instant now, Handler handler)
      : transport_(std::move(config), rng, now), handler_(std::move(handler)) {}
  TransportEndpoint(std::shared_ptr<const TransportConfig> config, crypto::Random& rng, Instant now,
                    Handler handler)
      : transport_(std::move(config), rng, now), handler_(std::move(handler)) {}

  void receive(BytesView data, Instant now) override {
    transport_.receive(data, now);
    dispatch();
  }
  void peer_closed(Instant now) override {
    transport_.peer_closed(now);
    dispatch();
  }
  void on_time(Instant now) override {
    transport_.on_time(now);
    dispatch();
  }
  std::optional<Instant> next_deadline() const override { return transport_.next_deadline(); }
  void take_output(Bytes& out) override { transport_.take_output(out); }
  bool closed() const override { return transport_.closed(); }
  bool wants_input() const override { return !transport_.input_paused(); }

  Transport& transport() { return transport_; }

 private:
  void dispatch() {
    while (auto e = transport_.poll_event())
      if (handler_) handler_(transport_, *e);
  }
  Transport transport_;
  Handler handler_;
};

}  // namespace parley::transport

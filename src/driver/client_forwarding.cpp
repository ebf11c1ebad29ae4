#include "client_forwarding.hpp"

#include <array>
#include <asio/ip/tcp.hpp>
#include <asio/ip/v6_only.hpp>
#include <asio/write.hpp>

#include "client_channel_io.hpp"
#include "context.hpp"
#include "parley/client/socks.hpp"
#include "parley/userauth/server_text.hpp"
#include "parley/wire/reader.hpp"
#include "tcp_channels.hpp"

namespace parley::driver::detail {

using asio::ip::tcp;

/// One -L or -D: the sockets it listens on (one per address), open until stop().
struct ClientForwarding::Listening {
  std::vector<std::unique_ptr<tcp::acceptor>> acceptors;
  bool closed = false;
};

/// A -D connection: the local client's socket and its SOCKS handshake, until the
/// channel is open (or failed) and the socket moves to the channel's handler.
struct ClientForwarding::Socks {
  explicit Socks(tcp::socket s) : socket(std::move(s)) {}
  tcp::socket socket;
  client::SocksHandshake handshake;
  std::array<std::uint8_t, 512> buffer{};
  bool closed = false;
};

namespace {

/// A SOCKS answer: a few bytes to a socket nobody else writes to yet.
bool write_small(tcp::socket& s, const Bytes& bytes) {
  std::error_code ec;
  return asio::write(s, asio::buffer(bytes.data(), bytes.size()), ec) == bytes.size() && !ec;
}

std::string_view reason_text(connection::OpenFailure r) {
  switch (r) {  // as ssh words them
    case connection::OpenFailure::administratively_prohibited: return "administratively prohibited";
    case connection::OpenFailure::connect_failed: return "connect failed";
    case connection::OpenFailure::unknown_channel_type: return "unknown channel type";
    case connection::OpenFailure::resource_shortage: return "resource shortage";
  }
  return "unknown reason";
}

/// Where a -L or -D without an address, or with "", "*" or "localhost", listens;
/// another address as written (a name is resolved here, as ssh does).
std::vector<tcp::endpoint> listen_endpoints(const client::Forward& f, bool gateway_ports, std::string& error) {
  const auto any = [&] { return std::vector<tcp::endpoint>{{tcp::v4(), f.listen_port}, {tcp::v6(), f.listen_port}}; };
  const auto loopback = [&] {
    return std::vector<tcp::endpoint>{{asio::ip::address_v4::loopback(), f.listen_port},
                                      {asio::ip::address_v6::loopback(), f.listen_port}};
  };
  if (!f.listen_host) return gateway_ports ? any() : loopback();
  if (f.listen_host->empty() || *f.listen_host == "*") return any();
  if (*f.listen_host == "localhost") return loopback();
  asio::io_context io;
  tcp::resolver resolver(io);
  std::error_code ec;
  auto results = resolver.resolve(*f.listen_host, std::to_string(f.listen_port), tcp::resolver::passive, ec);
  if (ec) {
    error = "bind [" + *f.listen_host + "]:" + std::to_string(f.listen_port) + ": " + ec.message();
    return {};
  }
  std::vector<tcp::endpoint> out;
  for (const auto& r : results) out.push_back(r.endpoint());
  return out;
}

std::unique_ptr<tcp::acceptor> bind_one(const asio::any_io_executor& ex, const tcp::endpoint& at, std::error_code& ec) {
  auto a = std::make_unique<tcp::acceptor>(ex);
  a->open(at.protocol(), ec);
  if (!ec) a->set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec && at.protocol() == tcp::v6()) a->set_option(asio::ip::v6_only(true), ec);
  if (!ec) a->bind(at, ec);
  if (!ec) a->listen(asio::socket_base::max_listen_connections, ec);
  return ec ? nullptr : std::move(a);
}

}  // namespace

ClientForwarding::ClientForwarding(asio::any_io_executor executor, const PortForwarding& forwarding,
                                   std::function<void(const std::string&)> report)
    : executor_(std::move(executor)),
      options_(forwarding),
      report_(std::move(report)),
      context_(std::make_unique<ConnectionContext::Impl>(ConnectionContext::Impl{executor_, {}, {}})),
      opener_(in_process_forward_opener(context_)) {}

ClientForwarding::~ClientForwarding() { stop(); }

std::expected<void, std::string> ClientForwarding::start(session::ClientConnection& c) {
  for (const auto& f : options_.local) listen(f, false, c);
  for (const auto& f : options_.dynamic) listen(f, true, c);
  if (!failure_.empty()) return std::unexpected(failure_);
  for (const auto& f : options_.remote) {
    // As ssh: no address is "localhost", "" and "*" every address.
    const std::string bind = !f.listen_host ? "localhost" : *f.listen_host == "*" ? "" : *f.listen_host;
    c.global_request("tcpip-forward", true, connection::encode(connection::ForwardRequest{bind, f.listen_port}));
    replies_due_.push_back(remote_.size());
    remote_.push_back({f});
  }
  return {};
}

void ClientForwarding::listen(const client::Forward& f, bool dynamic, session::ClientConnection& c) {
  std::string error;
  auto listening = std::make_shared<Listening>();
  std::vector<std::string> failures;
  for (const auto& at : listen_endpoints(f, options_.gateway_ports, error)) {
    std::error_code ec;
    if (auto a = bind_one(executor_, at, ec))
      listening->acceptors.push_back(std::move(a));
    else
      failures.push_back("bind [" + at.address().to_string() + "]:" + std::to_string(at.port()) + ": " + ec.message());
  }
  if (listening->acceptors.empty()) {  // as ssh: one address that works is enough
    if (!error.empty()) failures.push_back(error);
    for (const auto& line : failures) report_(line);
    const std::string what = dynamic ? "Could not request dynamic forwarding." : "Could not request local forwarding.";
    if (options_.exit_on_failure) {
      failure_ = what;
      return;
    }
    report_(what);
    return;
  }
  listening_.push_back(listening);
  for (auto& acceptor : listening->acceptors) {
    tcp::acceptor* a = acceptor.get();
    auto accept = std::make_shared<std::function<void()>>();
    *accept = [this, &c, a, listening, f, dynamic, weak = std::weak_ptr<std::function<void()>>(accept)] {
      a->async_accept([this, &c, listening, f, dynamic, next = weak.lock()](std::error_code ec, tcp::socket s) {
        if (listening->closed) return;
        if (!ec) accepted(c, f, dynamic, std::move(s));
        if (next) (*next)();
      });
    };
    (*accept)();
    // The accept loop holds itself through each pending handler's `next`.
  }
}

void ClientForwarding::accepted(session::ClientConnection& c, const client::Forward& f, bool dynamic, tcp::socket s) {
  if (!dynamic) return open_direct(c, f.connect_host, f.connect_port, std::move(s), nullptr);
  auto socks = std::make_shared<Socks>(std::move(s));
  std::erase_if(handshakes_, [](const auto& w) { return w.expired(); });
  handshakes_.push_back(socks);
  auto read = std::make_shared<std::function<void()>>();
  *read = [this, &c, socks, weak = std::weak_ptr<std::function<void()>>(read)] {
    socks->socket.async_read_some(asio::buffer(socks->buffer), [this, &c, socks, next = weak.lock()](std::error_code ec, std::size_t n) {
      if (ec || socks->closed || stopped_) return;  // the socket closes with `socks`
      Bytes answer;
      auto r = socks->handshake.feed(BytesView(socks->buffer.data(), n), answer);
      if (!answer.empty() && !write_small(socks->socket, answer)) return;
      if (!r) return;  // refused: the client has been told, the socket closes
      if (!*r) {
        if (next) (*next)();
        return;
      }
      open_direct(c, (*r)->host, (*r)->port, tcp::socket(executor_), socks);
    });
  };
  (*read)();
}

void ClientForwarding::open_direct(session::ClientConnection& c, const std::string& host, std::uint16_t port,
                                   tcp::socket s, std::shared_ptr<Socks> socks) {
  tcp::socket& local = socks ? socks->socket : s;
  std::error_code ec;
  const auto from = local.remote_endpoint(ec);
  const connection::TcpipOpen open{host, port, ec ? "127.0.0.1" : from.address().to_string(), ec ? 0u : from.port()};
  const auto id = c.channels().open("direct-tcpip", connection::encode(open));
  if (!id) {  // too many channels: this connection is refused
    if (socks) {
      Bytes answer;
      socks->handshake.reply(false, answer);
      write_small(socks->socket, answer);
    }
    return;
  }
  Channel& channel = channels_[*id];
  channel.io = std::make_unique<ClientChannelIo>(c, *id);
  if (socks) {
    channel.socks = std::move(socks);
  } else {
    channel.handler = tcp_stream_channel(std::move(s));
    channel.handler->attach(*channel.io);  // bytes move once confirmed
  }
  c.request_flush();
}

void ClientForwarding::opened(connection::ChannelId id) {
  Channel& channel = channels_.at(id);
  if (auto socks = std::move(channel.socks)) {
    Bytes answer;
    socks->handshake.reply(true, answer);
    Bytes rest = std::move(socks->handshake.rest());
    // What the client sent after its request goes first; the window just opened
    // is far larger than the few bytes a handshake may carry.
    if (!write_small(socks->socket, answer) || channel.io->writable() < rest.size()) {
      channel.io->close();
      return;
    }
    channel.handler = tcp_stream_channel(std::move(socks->socket));
    channel.handler->attach(*channel.io);
    if (!rest.empty()) channel.io->write(rest);
  }
  if (channel.handler) channel.handler->on_writable();
}

void ClientForwarding::open_failed(connection::OpenFailed& e) {
  auto it = channels_.find(e.id);
  report_("channel " + std::to_string(e.id) + ": open failed: " + std::string(reason_text(e.reason)) + ": " +
          userauth::sanitize_server_text(e.description, 256, false));
  if (it->second.socks) {
    Bytes answer;
    it->second.socks->handshake.reply(false, answer);
    write_small(it->second.socks->socket, answer);
  }
  if (it->second.handler) it->second.handler->on_closed();
  channels_.erase(it);
}

void ClientForwarding::open_requested(session::ClientConnection& c, connection::OpenRequested& e) {
  std::optional<connection::TcpipOpen> target;
  if (e.type == "forwarded-tcpip")
    if (auto t = connection::parse_tcpip_open(e.extra)) target = std::move(*t);
  const Remote* remote = nullptr;
  for (const auto& r : remote_)
    if (target && r.active && r.bound_port == target->port) remote = &r;
  if (!remote) {
    // As ssh: only the forwards we asked for; agent, X11 and the rest are refused.
    if (target) report_("WARNING: Server requests forwarding for unknown listen_port " + std::to_string(target->port));
    c.channels().reject(e.id, connection::OpenFailure::administratively_prohibited, "open failed");
    return;
  }
  const client::Forward& f = remote->forward;
  Channel& channel = channels_[e.id];
  auto io = std::make_unique<ClientChannelIo>(c, e.id);
  io->on_reject = [this, f](std::string_view) {
    report_("connect_to " + f.connect_host + " port " + std::to_string(f.connect_port) + ": failed.");
  };
  channel.io = std::move(io);
  channel.handler = tcp_connect_channel(executor_, opener_, connection::TcpipOpen{f.connect_host, f.connect_port, "", 0});
  channel.handler->attach(*channel.io);  // confirms or refuses once connected
}

void ClientForwarding::remote_reply(session::ClientConnection& c, const connection::GlobalReply& e) {
  Remote& r = remote_[replies_due_.front()];
  replies_due_.erase(replies_due_.begin());
  const client::Forward& f = r.forward;
  if (e.success) {
    r.bound_port = f.listen_port;
    if (f.listen_port == 0) {  // the server chose: its reply says which (RFC 4254 §7.1)
      wire::Reader in(e.data);
      const std::uint32_t port = in.uint32();
      r.bound_port = in.finish() && port <= 65535 ? static_cast<std::uint16_t>(port) : 0;
      report_("Allocated port " + std::to_string(r.bound_port) + " for remote forward to " + f.connect_host + ":" +
              std::to_string(f.connect_port));
    }
    r.active = r.bound_port != 0;
  } else if (options_.exit_on_failure) {
    failure_ = "Error: remote port forwarding failed for listen port " + std::to_string(f.listen_port);
  } else {
    report_("Warning: remote port forwarding failed for listen port " + std::to_string(f.listen_port));
  }
  if (on_change) on_change(c);
}

void ClientForwarding::closed(session::ClientConnection& c, connection::ChannelId id) {
  auto it = channels_.find(id);
  if (it->second.handler) it->second.handler->on_closed();
  channels_.erase(it);
  if (on_change) on_change(c);
}

bool ClientForwarding::event(session::ClientConnection& c, connection::Event& event) {
  if (auto* open = std::get_if<connection::OpenRequested>(&event)) {
    open_requested(c, *open);
    return true;
  }
  if (auto* reply = std::get_if<connection::GlobalReply>(&event)) {
    if (replies_due_.empty()) return false;
    remote_reply(c, *reply);
    return true;
  }
  if (std::holds_alternative<connection::GlobalRequest>(event)) return false;
  const connection::ChannelId id = std::visit(
      [](const auto& e) -> connection::ChannelId {
        if constexpr (requires { e.id; }) return e.id;
        return ~connection::ChannelId{0};
      },
      event);
  auto it = channels_.find(id);
  if (it == channels_.end()) return false;
  connection::ChannelHandler* h = it->second.handler.get();
  std::visit(
      [&](auto& e) {
        using E = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<E, connection::OpenConfirmed>) opened(id);
        else if constexpr (std::is_same_v<E, connection::OpenFailed>) open_failed(e);
        else if constexpr (std::is_same_v<E, connection::Closed>) closed(c, id);
        else if constexpr (std::is_same_v<E, connection::Data>) {
          if (h) h->on_data(e.bytes);
          else c.channels().consumed(id, e.bytes.size());
        } else if constexpr (std::is_same_v<E, connection::Eof>) {
          if (h) h->on_eof();
        } else if constexpr (std::is_same_v<E, connection::Writable>) {
          if (h) h->on_writable();
        } else if constexpr (std::is_same_v<E, connection::Request>) {
          if (e.want_reply) c.channels().reply(id, false);
        }
      },
      event);
  return true;
}

void ClientForwarding::stop() {
  if (stopped_) return;
  stopped_ = true;
  for (auto& l : listening_) {
    l->closed = true;
    for (auto& a : l->acceptors) {
      std::error_code ec;
      a->close(ec);
    }
  }
  listening_.clear();
  for (auto& [id, channel] : channels_) {
    if (channel.handler) channel.handler->on_closed();
    if (channel.socks) {
      std::error_code ec;
      channel.socks->socket.close(ec);
    }
  }
  channels_.clear();
  for (auto& w : handshakes_)
    if (auto socks = w.lock()) {
      socks->closed = true;
      std::error_code ec;
      socks->socket.close(ec);
    }
  handshakes_.clear();
}

}  // namespace parley::driver::detail

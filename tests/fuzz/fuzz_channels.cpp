// Fuzzes the connection core: a sequence of connection-layer messages (each a
// 2-byte big-endian length and a payload) fed to Channels, acting on every
// event as a server would (accepting or refusing opens, consuming data,
// replying to requests, parsing typed requests), with two channels of our own
// open so confirmations and replies have something to match.
#include <cstddef>
#include <cstdint>

#include "parley/connection/channels.hpp"
#include "parley/connection/session.hpp"

using namespace parley;
using namespace parley::connection;

namespace {

void parse_request(const Request& r) {
  if (r.type == "pty-req") (void)parse_pty_request(r.data);
  else if (r.type == "env") (void)parse_env(r.data);
  else if (r.type == "window-change") (void)parse_window_change(r.data);
  else if (r.type == "signal") (void)parse_signal(r.data);
  else if (r.type == "exit-status") (void)parse_exit_status(r.data);
  else if (r.type == "exit-signal") (void)parse_exit_signal(r.data);
  else if (r.type == "shell" || r.type == "exec" || r.type == "subsystem") (void)parse_start(r.type, r.data);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::size_t sent = 0;
  ChannelLimits limits;
  limits.window = 64 * 1024;
  limits.max_packet = 16 * 1024;
  limits.max_channels = 8;
  Channels channels([&](BytesView payload) { sent += payload.size(); }, limits);
  channels.open("session");
  channels.open("direct-tcpip", encode(TcpipOpen{"localhost", 80, "127.0.0.1", 1234}));
  std::size_t pos = 0;
  unsigned turn = 0;
  while (pos + 2 <= size) {
    const std::size_t len = (std::size_t{data[pos]} << 8) | data[pos + 1];
    pos += 2;
    if (len == 0 || len > size - pos) break;
    BytesView payload(data + pos, len);
    pos += len;
    if (!Channels::handles(payload[0])) continue;
    if (!channels.handle(payload)) break;  // the connection would end here
    while (auto e = channels.poll_event()) {
      ++turn;
      if (auto* o = std::get_if<OpenRequested>(&*e)) {
        if (o->type == "direct-tcpip" || o->type == "forwarded-tcpip") (void)parse_tcpip_open(o->extra);
        if (turn % 3 == 0)
          channels.reject(o->id, OpenFailure::administratively_prohibited, "no");
        else
          channels.accept(o->id);
      } else if (auto* d = std::get_if<Data>(&*e)) {
        channels.consumed(d->id, d->bytes.size());
        channels.send_data(d->id, d->bytes, turn % 2);
      } else if (auto* r = std::get_if<Request>(&*e)) {
        parse_request(*r);
        if (r->want_reply) channels.reply(r->id, turn % 2 == 0);
        if (r->type == "exec") channels.send_eof(r->id);
        if (r->type == "signal") channels.close(r->id);
      } else if (auto* g = std::get_if<GlobalRequest>(&*e)) {
        if (g->name == "tcpip-forward") (void)parse_forward_request(g->data);
        if (g->want_reply) channels.global_reply(turn % 2 == 0, BytesView{});
      } else if (auto* c = std::get_if<OpenConfirmed>(&*e)) {
        channels.request(c->id, "exec", true, encode(StartRequest{StartRequest::Kind::exec, "true"}));
        channels.global_request("keepalive@openssh.com", true);
      } else if (auto* w = std::get_if<Writable>(&*e)) {
        const std::uint8_t byte = 0;
        channels.send_data(w->id, BytesView(&byte, 1));
      }
    }
  }
  return sent == SIZE_MAX ? 1 : 0;  // keep `sent` observable
}

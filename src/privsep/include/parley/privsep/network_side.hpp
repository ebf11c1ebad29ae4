// The network process's side of the monitor protocol for one connection,
// sans-I/O: it implements a delegated ServerConnection's two seams (the key
// exchange's reply, the authentication decisions) by producing privsep frames
// (ConnectionOpened, KexSign, AuthRequest, InfoResponse, ConnectionClosed) with
// fresh request ids, and routes the monitor's replies (KexSigned, AuthReply,
// Refused) back into the connection. A refused or malformed answer ends that
// connection, with a log line; never the process.
//
// Call rules: make the NetworkSide, build the ServerConnection with
// delegates(), attach() it; send take_frames(), then take_notices(), to the
// monitor after every call into either (they may hold a password, answers: wipe each once sent); pass
// every decoded reply for this connection to on_reply(), then take the
// connection's output as after receive(). Call closed() when the connection
// ends, and detach it before destroying it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "parley/privsep/protocol.hpp"
#include "parley/wire/fifo.hpp"
#include "parley/session/server_connection.hpp"

namespace parley::privsep {

using transport::Instant;

class NetworkSide {
 public:
  /// `conn` names the connection to the monitor; ConnectionOpened (with the
  /// peer's `address` and `port`) is the first notice.
  NetworkSide(std::uint64_t conn, std::string address, std::uint16_t port);
  NetworkSide(const NetworkSide&) = delete;
  NetworkSide& operator=(const NetworkSide&) = delete;

  /// The delegates to build this connection's ServerConnection with. They
  /// refer to this object, which must outlive the connection.
  session::ServerDelegates delegates(session::DelegatedAuthLimits limits = {});
  /// The connection replies go to (nullptr: none any more).
  void attach(session::ServerConnection* connection) { connection_ = connection; }

  /// A reply the monitor sent about this connection. False if it is not an
  /// answer to anything this side asked (a SessionGranted, a Refused of another
  /// request, another connection's): the caller routes it elsewhere.
  bool on_reply(Reply reply, Instant now);
  /// The connection has ended: the monitor forgets it (once).
  void closed();

  /// A request id not used before on this connection, for its other requests
  /// (SessionStart), so every request id of a connection is distinct.
  std::uint64_t fresh_request_id() { return next_req_++; }
  std::uint64_t conn() const { return conn_; }

  /// Frames for the monitor, in order. An AuthRequest or InfoResponse frame
  /// holds a secret: the caller wipes each once sent.
  std::vector<Bytes> take_frames() { return std::exchange(frames_, {}); }
  /// Notices for the monitor (ConnectionOpened, ConnectionClosed, the
  /// AuthRequest of a "none" answered here), which nothing waits for: the
  /// caller may hold them back to go with the next frame, but sends them after
  /// the frames taken with them and before any taken later. (A notice made
  /// before a frame is taken with the frames, ahead of it.)
  std::vector<Bytes> take_notices() { return std::exchange(notices_, {}); }
  /// Lines for the log (never a secret).
  std::vector<std::string> take_log() { return std::exchange(log_, {}); }

 private:
  void ask_kex(const transport::KexSignRequest& request);
  void ask_auth(session::AuthQuestion question);
  void push_frame(Bytes frame);
  void kex_signed(KexSigned& m, Instant now);
  void auth_reply(AuthReply& m, Instant now);
  bool refused(const Refused& m, Instant now);
  /// Ends the connection on a reply it cannot use.
  void end(std::string why, Instant now);

  std::uint64_t conn_;
  std::uint64_t next_req_ = 1;
  std::optional<std::uint64_t> kex_req_;   // the KexSign out
  Fifo<std::uint64_t> auth_reqs_;  // the AuthRequests and InfoResponses out, oldest first
  bool closed_ = false;
  session::ServerConnection* connection_ = nullptr;
  std::vector<Bytes> frames_;
  std::vector<Bytes> notices_;
  std::vector<std::string> log_;
};

}  // namespace parley::privsep

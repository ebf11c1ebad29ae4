// User authentication decided elsewhere (privilege separation: parleyd's
// monitor runs the providers and the chain; the network process only parses).
// DelegatedAuth is the server connection's side of that seam: it decodes each
// userauth message and hands it to a delegate (requests pipelined behind
// requests, as a client may send them; the rest one at a time), and applies the
// decisions that come back through answered(), in order. The login grace time and the
// request bounds stay here, so a decider that never answers cannot hold a
// connection open forever.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "parley/crypto/secret.hpp"
#include "parley/transport/endpoint.hpp"
#include "parley/transport/error.hpp"
#include "parley/userauth/messages.hpp"
#include "parley/userauth/server_auth.hpp"
#include "parley/wire/fifo.hpp"

namespace parley::session {

using transport::Instant;

/// The answers of one SSH_MSG_USERAUTH_INFO_RESPONSE, decoded with the prompt
/// count of the INFO_REQUEST it answers (RFC 4256 §3.4). Secrets: never logged.
struct InfoAnswers {
  std::vector<crypto::SecretBytes> answers;
};

/// One decoded userauth message for the decider. A publickey request carries
/// only the request's fields: the decider builds the signed data from the
/// session id it knows (RFC 4252 §7), not from anything the network side says.
/// The connection's first request, a "none" already answered with the
/// decider's none reply (DelegatedAuth::set_none_reply()): the decider hears it
/// to keep its state in step, but nothing waits for its answer, which is dropped.
struct AnsweredNone {
  userauth::UserauthRequest request;
};
using AuthQuestion = std::variant<userauth::UserauthRequest, InfoAnswers, AnsweredNone>;
/// Hands a question to the decider; the answer comes back through
/// ServerConnection::auth_answered(), now (from inside the call) or later.
using AuthDelegate = std::function<void(AuthQuestion question)>;

/// The decider's verdict. A default-constructed one ends the connection.
struct AuthEnds {
  transport::DisconnectReason reason = transport::DisconnectReason::protocol_error;
  std::string description = "authentication refused";
};
struct AuthContinues {};  // send the packets; more requests may follow
struct AuthSucceeded {    // the last packet is USERAUTH_SUCCESS
  std::string user;
  std::string service;
};
using AuthVerdict = std::variant<AuthEnds, AuthContinues, AuthSucceeded>;

/// What to do about one question (or, with only BANNER packets or an ending
/// verdict, about none: a decider may end a connection on its own).
struct AuthDecision {
  /// SSH userauth messages to send in order: FAILURE, SUCCESS, PK_OK,
  /// INFO_REQUEST, a BANNER before them.
  std::vector<Bytes> packets;
  AuthVerdict verdict;
};

struct DelegatedAuthLimits {
  std::chrono::seconds login_grace{120};  // from connection start to success
  std::size_t max_requests = 128;         // USERAUTH_REQUESTs per connection
  /// Messages received while a question is out (a client may pipeline them).
  std::size_t max_held = 16;
  /// USERAUTH_REQUESTs out to the decider at once (a client's pipelined password
  /// requests go on, so the decider can abort the checks they supersede); at
  /// most the monitor's max_outstanding.
  std::size_t max_out = 8;
  userauth::DecodeLimits decode;
};

class DelegatedAuth {
 public:
  /// Held messages wipe themselves when it goes.
  DelegatedAuth(AuthDelegate delegate, DelegatedAuthLimits limits, Instant now);
  void set_preauth_listener(std::function<void(transport::PreauthState)> listener) {
    preauth_listener_ = std::move(listener);
  }

  /// A userauth message from the client (numbers 50-79). The caller wipes it.
  void handle(BytesView payload, Instant now);
  /// The decider's decision about the question out (see AuthDecision).
  void answered(AuthDecision decision, Instant now);
  /// Ends the connection once the login grace time has passed (the deadline
  /// is gone once the user is in or the connection ends).
  void on_time(Instant now);
  std::optional<Instant> next_deadline() const;

  /// Messages to send, in order; then the events (Authenticated, AuthDisconnect).
  std::vector<Bytes> take_messages() { return std::exchange(out_, {}); }
  /// What the decider answers a well-formed "none" request for "ssh-connection"
  /// that is the connection's first (ServerAuth::first_none_reply()): BANNERs,
  /// then one USERAUTH_FAILURE. Before any request, such a "none" is then
  /// answered at once and goes to the decider as AnsweredNone. Ignored once a
  /// request has come, or if the packets are not that.
  void set_none_reply(std::vector<Bytes> packets);
  std::optional<userauth::AuthEvent> poll_event();
  bool authenticated() const { return phase_ == Phase::succeeded; }
  /// True while a message waits for the questions out to be answered, or as
  /// many are out as may be: read no more from the peer until answered.
  bool awaiting() const { return !held_.empty() || asked_.size() >= limits_.max_out || kbdint_out_ > 0; }

 private:
  enum class Phase : std::uint8_t { open, succeeded, closed };
  /// What the question out was, to read the decider's message 60 (PK_OK or INFO_REQUEST).
  enum class Asked : std::uint8_t { request, keyboard_interactive, answered_here };

  void ask_next(Instant now);
  /// Whether `message` may go to the decider now, with the questions already out.
  bool may_ask(BytesView message) const;
  void ask(Asked what);
  void ask_request(BytesView payload);
  void ask_answers(BytesView payload);
  /// Checks the decision's packets; false ends the connection.
  bool accept_packets(const AuthDecision& decision);
  void end(transport::DisconnectReason reason, std::string description, userauth::AuthError error);
  void end(userauth::AuthError error);
  void preauth(transport::PreauthState state);

  AuthDelegate delegate_;
  DelegatedAuthLimits limits_;
  Instant grace_deadline_;
  Phase phase_ = Phase::open;
  /// The questions out, oldest first: each decision answers the oldest.
  Fifo<Asked> asked_;
  std::size_t kbdint_out_ = 0;  // of them, keyboard-interactive ones
  /// Messages waiting for the question out to be answered (wiped when dropped).
  Fifo<crypto::SecretBytes> held_;
  /// num-prompts of the last INFO_REQUEST sent, until its response arrives.
  std::optional<std::size_t> info_prompts_;
  std::size_t requests_ = 0;
  bool asked_any_ = false;         // a request has gone to the decider
  std::vector<Bytes> none_reply_;  // set_none_reply()'s, until the first request
  std::vector<Bytes> out_;
  Fifo<userauth::AuthEvent> events_;
  std::function<void(transport::PreauthState)> preauth_listener_;
  std::optional<transport::PreauthState> preauth_state_;
};

}  // namespace parley::session

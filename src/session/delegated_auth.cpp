// The network side of delegated user authentication: decode, ask (requests
// pipelined behind requests, the rest one at a time), check and apply the
// decider's answers in order.
#include "parley/session/delegated_auth.hpp"

#include <algorithm>
#include <utility>

namespace parley::session {
namespace {

using namespace userauth;

bool is_banner(const Bytes& packet) { return packet.front() == msg::userauth_banner; }

}  // namespace

DelegatedAuth::DelegatedAuth(AuthDelegate delegate, DelegatedAuthLimits limits, Instant now)
    : delegate_(std::move(delegate)), limits_(limits), grace_deadline_(now + limits.login_grace) {}

std::optional<AuthEvent> DelegatedAuth::poll_event() {
  if (events_.empty()) return std::nullopt;
  AuthEvent e = std::move(events_.front());
  events_.pop_front();
  return e;
}

void DelegatedAuth::handle(BytesView payload, Instant now) {
  if (phase_ != Phase::open) return;  // RFC 4252 §5.1: requests after success are ignored
  const std::uint8_t id = payload.empty() ? 0 : payload[0];
  if (id != msg::userauth_request && id != msg::userauth_info_response)
    return end(AuthError::unexpected_message);
  if (id == msg::userauth_request && ++requests_ > limits_.max_requests)
    return end(AuthError::too_many_requests);
  if (held_.size() >= limits_.max_held) return end(AuthError::too_many_pending_requests);
  held_.push_back(crypto::SecretBytes(payload));
  ask_next(now);
}

bool DelegatedAuth::may_ask(BytesView message) const {
  if (asked_.empty()) return true;
  // The decider answers in order. A USERAUTH_REQUEST goes behind other requests
  // (as in one process, the decider then aborts a queued check the next
  // request supersedes), but not behind a keyboard-interactive question, whose
  // INFO_REQUEST the next message may answer; an INFO_RESPONSE is read with the
  // prompt count of the INFO_REQUEST before it, so it waits for every answer.
  return message[0] == msg::userauth_request && kbdint_out_ == 0 && asked_.size() < limits_.max_out;
}

void DelegatedAuth::ask_next(Instant) {
  while (phase_ == Phase::open && !held_.empty() && may_ask(held_.front().view())) {
    crypto::SecretBytes message = std::move(held_.front());
    held_.pop_front();
    if (message.view()[0] == msg::userauth_request) ask_request(message.view());
    else ask_answers(message.view());
  }
}

void DelegatedAuth::set_none_reply(std::vector<Bytes> packets) {
  if (asked_any_ || packets.empty()) return;
  for (std::size_t i = 0; i + 1 < packets.size(); ++i)
    if (packets[i].empty() || !is_banner(packets[i]) || !UserauthBanner::decode(packets[i])) return;
  auto failure = UserauthFailure::decode(packets.back());
  if (!failure || failure->partial_success) return;
  none_reply_ = std::move(packets);
}

void DelegatedAuth::ask_request(BytesView payload) {
  auto request = UserauthRequest::decode(payload, limits_.decode);
  if (!request) return end(AuthError::malformed_request);
  info_prompts_.reset();  // a new request abandons a keyboard-interactive round
  const bool kbdint = std::holds_alternative<KeyboardInteractiveFields>(request->fields);
  if (request->method() != "none") preauth(transport::PreauthState::attempted);
  const bool first = !std::exchange(asked_any_, true);
  auto none_reply = std::exchange(none_reply_, {});
  if (first && !none_reply.empty() && std::holds_alternative<NoneFields>(request->fields) &&
      request->service == "ssh-connection") {
    // The usual first request: answered now, as the decider would (it said so).
    for (auto& packet : none_reply) out_.push_back(std::move(packet));
    ask(Asked::answered_here);
    delegate_(AnsweredNone{std::move(*request)});
    return;
  }
  ask(kbdint ? Asked::keyboard_interactive : Asked::request);
  delegate_(std::move(*request));
}

void DelegatedAuth::ask_answers(BytesView payload) {
  // RFC 4256 §3.4: a response answers the INFO_REQUEST before it.
  if (!info_prompts_) return end(AuthError::response_without_request);
  auto response = InfoResponse::decode(payload, *info_prompts_, limits_.decode);
  info_prompts_.reset();
  if (!response)
    return end(response.error().fault == DecodeFault::count_mismatch ? AuthError::response_count_mismatch
                                                                     : AuthError::malformed_answers);
  ask(Asked::keyboard_interactive);
  delegate_(InfoAnswers{std::move(response->answers)});
}

void DelegatedAuth::ask(Asked what) {
  asked_.push_back(what);
  if (what == Asked::keyboard_interactive) ++kbdint_out_;
}

void DelegatedAuth::answered(AuthDecision decision, Instant now) {
  if (phase_ != Phase::open) return;
  if (!accept_packets(decision))
    return end(transport::DisconnectReason::by_application, "malformed authentication answer",
               AuthError::unexpected_message);
  const bool answers = !std::holds_alternative<AuthContinues>(decision.verdict) ||
                       std::any_of(decision.packets.begin(), decision.packets.end(),
                                   [](const Bytes& p) { return !is_banner(p); });
  const bool sent_already = answers && !asked_.empty() && asked_.front() == Asked::answered_here;
  if (answers && !asked_.empty()) {  // the oldest question out is answered
    if (asked_.front() == Asked::keyboard_interactive) --kbdint_out_;
    asked_.pop_front();
  }
  // The answer to a "none" answered here went out then.
  if (!sent_already)
    for (auto& packet : decision.packets) out_.push_back(std::move(packet));
  if (auto* ok = std::get_if<AuthSucceeded>(&decision.verdict)) {
    phase_ = Phase::succeeded;
    held_.clear();
    preauth(transport::PreauthState::authenticated);
    events_.push_back(Authenticated{std::move(ok->user), std::move(ok->service)});
    return;
  }
  if (auto* ends = std::get_if<AuthEnds>(&decision.verdict))
    return end(ends->reason, std::move(ends->description), AuthError::rejected);
  ask_next(now);
}

bool DelegatedAuth::accept_packets(const AuthDecision& decision) {
  // The decider is trusted no more than it must be: only server userauth
  // messages go to the client, a reply only to a question out, SUCCESS only
  // with a success verdict, and an INFO_REQUEST only in keyboard-interactive.
  const bool success = std::holds_alternative<AuthSucceeded>(decision.verdict);
  bool replied = false;
  for (const Bytes& p : decision.packets) {
    if (p.empty() || p[0] < msg::userauth_failure || p[0] > msg::userauth_last ||
        p[0] == msg::userauth_info_response)
      return false;
    if (is_banner(p)) {
      if (!UserauthBanner::decode(p)) return false;
      continue;
    }
    if (asked_.empty() || replied) return false;  // one reply per question, the oldest
    replied = true;
    // A "none" answered here: the decider's own answer must be a FAILURE too.
    if (asked_.front() == Asked::answered_here && p[0] != msg::userauth_failure) return false;
    if ((p[0] == msg::userauth_success) != success) return false;
    if (p[0] == msg::userauth_info_request && asked_.front() == Asked::keyboard_interactive) {
      auto request = InfoRequest::decode(p, limits_.decode);
      if (!request) return false;
      info_prompts_ = request->prompts.size();
    } else if (p[0] == msg::userauth_pk_ok && !PkOk::decode(p)) {
      return false;
    }
  }
  return !success || replied;
}

void DelegatedAuth::on_time(Instant now) {
  if (phase_ != Phase::open || now < grace_deadline_) return;
  preauth(transport::PreauthState::grace_exceeded);
  end(AuthError::login_grace_exceeded);
}

std::optional<Instant> DelegatedAuth::next_deadline() const {
  if (phase_ != Phase::open) return std::nullopt;
  return grace_deadline_;
}

void DelegatedAuth::end(AuthError error) {
  end(disconnect_reason(error).value_or(transport::DisconnectReason::protocol_error),
      std::string(to_string(error)), error);
}

void DelegatedAuth::end(transport::DisconnectReason reason, std::string description, AuthError error) {
  if (phase_ == Phase::closed) return;
  phase_ = Phase::closed;
  held_.clear();
  asked_.clear();
  kbdint_out_ = 0;
  events_.push_back(AuthDisconnect{reason, std::move(description), error});
}

void DelegatedAuth::preauth(transport::PreauthState state) {
  if (preauth_state_ == state) return;
  preauth_state_ = state;
  if (preauth_listener_) preauth_listener_(state);
}

}  // namespace parley::session

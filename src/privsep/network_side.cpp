// One connection's seam to the monitor, in the network process: the
// delegates' questions become frames, the monitor's replies become answers.
#include "parley/privsep/network_side.hpp"

#include <algorithm>
#include <utility>

#include "parley/crypto/keys.hpp"
#include "parley/transport/algorithms.hpp"

namespace parley::privsep {
namespace {

transport::DisconnectReason reason_from_code(std::uint32_t code) {
  return code >= 1 && code <= 15 ? static_cast<transport::DisconnectReason>(code)
                                 : transport::DisconnectReason::protocol_error;
}

session::AuthDecision decision_of(AuthReply& m) {
  session::AuthDecision d{std::move(m.packets), session::AuthContinues{}};
  if (m.status == AuthStatus::success) d.verdict = session::AuthSucceeded{std::move(m.user), std::move(m.service)};
  else if (m.status == AuthStatus::disconnect)
    d.verdict = session::AuthEnds{reason_from_code(m.reason), std::move(m.description)};
  return d;
}

}  // namespace

NetworkSide::NetworkSide(std::uint64_t conn, std::string address, std::uint16_t port) : conn_(conn) {
  notices_.push_back(ConnectionOpened{conn, std::move(address), port}.encode());
}

session::ServerDelegates NetworkSide::delegates(session::DelegatedAuthLimits limits) {
  return session::ServerDelegates{
      [this](transport::KexSignRequest request) { ask_kex(request); },
      [this](session::AuthQuestion question) { ask_auth(std::move(question)); }, limits};
}

void NetworkSide::ask_kex(const transport::KexSignRequest& r) {
  kex_req_ = fresh_request_id();
  KexSign m;
  m.conn = conn_;
  m.req = *kex_req_;
  m.kex = std::string(transport::name(r.kex));
  m.host_key_alg = std::string(crypto::name(r.host_key_alg));
  m.v_c = r.v_c;
  m.v_s = r.v_s;
  m.i_c = r.i_c;
  m.i_s = r.i_s;
  m.q_c = r.q_c;
  push_frame(m.encode());
}

void NetworkSide::ask_auth(session::AuthQuestion question) {
  const std::uint64_t req = fresh_request_id();
  auth_reqs_.push_back(req);
  auto* answered = std::get_if<session::AnsweredNone>(&question);
  if (auto* request = std::get_if<userauth::UserauthRequest>(&question); request || answered) {
    AuthRequest m;
    m.conn = conn_;
    m.req = req;
    m.request = std::move(answered ? answered->request : *request);
    if (answered)
      notices_.push_back(m.encode());  // already answered: the monitor hears it with the next frame
    else
      push_frame(m.encode());
  } else {
    InfoResponse m;
    m.conn = conn_;
    m.req = req;
    m.answers = std::move(std::get<session::InfoAnswers>(question).answers);
    push_frame(m.encode());
  }
}

void NetworkSide::push_frame(Bytes frame) {
  // The monitor reads in order: notices held back go before any later frame.
  for (auto& notice : notices_) frames_.push_back(std::move(notice));
  notices_.clear();
  frames_.push_back(std::move(frame));
}

bool NetworkSide::on_reply(Reply reply, Instant now) {
  if (closed_ || !connection_) return false;
  return std::visit(
      [&](auto& m) -> bool {
        using T = std::decay_t<decltype(m)>;
        if (m.conn != conn_) return false;
        if constexpr (std::is_same_v<T, KexSigned>) kex_signed(m, now);
        else if constexpr (std::is_same_v<T, AuthReply>) auth_reply(m, now);
        else if constexpr (std::is_same_v<T, Refused>) return refused(m, now);
        else return false;  // SessionGranted: another part's request
        return true;
      },
      reply);
}

void NetworkSide::kex_signed(KexSigned& m, Instant now) {
  if (kex_req_ != m.req) return end("a key exchange answer to no request", now);
  kex_req_.reset();
  connection_->set_none_reply(std::move(m.none_reply));
  connection_->kex_answered(
      transport::KexAnswer{std::move(m.k_s), std::move(m.q_s), std::move(m.k), std::move(m.signature),
                           std::move(m.h)},
      now);
}

void NetworkSide::auth_reply(AuthReply& m, Instant now) {
  // req 0 is what the monitor says on its own (a banner, the login grace time).
  // The monitor answers a connection's requests in order: the oldest out.
  if (m.req != 0 && (auth_reqs_.empty() || auth_reqs_.front() != m.req))
    return end("an authentication answer to no request", now);
  if (m.req != 0) auth_reqs_.pop_front();
  if (m.status == AuthStatus::disconnect)
    log_.push_back("conn " + std::to_string(conn_) + ": the monitor ends the connection");
  connection_->auth_answered(decision_of(m), now);
}

bool NetworkSide::refused(const Refused& m, Instant now) {
  const std::string why(to_string(m.reason));
  if (m.req != 0 && kex_req_ == m.req) {
    kex_req_.reset();
    log_.push_back("conn " + std::to_string(conn_) + ": the monitor refused the key exchange: " + why);
    connection_->kex_answered(std::unexpected(transport::TransportError::kex_signer_refused), now);
    return true;
  }
  if (m.req == 0 || std::find(auth_reqs_.begin(), auth_reqs_.end(), m.req) != auth_reqs_.end()) {
    auth_reqs_.clear();
    end("the monitor refused: " + why, now);
    return true;
  }
  return false;
}

void NetworkSide::end(std::string why, Instant now) {
  log_.push_back("conn " + std::to_string(conn_) + ": " + why + "; ending the connection");
  connection_->disconnect(transport::DisconnectReason::by_application, "internal error", now);
}

void NetworkSide::closed() {
  if (closed_) return;
  closed_ = true;
  notices_.push_back(ConnectionClosed{conn_}.encode());
}

}  // namespace parley::privsep

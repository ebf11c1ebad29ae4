#include "parley/client/agent.hpp"

#include <utility>

#include "parley/wire/reader.hpp"
#include "parley/wire/writer.hpp"

namespace parley::client::agent {

std::string_view to_string(AgentError e) {
  switch (e) {
    case AgentError::message_too_long: return "the agent sent a message over 256 KiB";
    case AgentError::empty_message: return "the agent sent an empty message";
    case AgentError::malformed_message: return "the agent sent a malformed message";
    case AgentError::too_many_identities: return "the agent listed more than 1000 keys";
    case AgentError::unexpected_message: return "the agent sent an unexpected message";
    case AgentError::refused: return "the agent refused";
    case AgentError::overfed: return "more agent bytes than the deframer asked for";
  }
  return "agent error";
}

Bytes frame(BytesView payload) {
  Bytes out;
  out.reserve(4 + payload.size());
  wire::Writer(out).uint32(static_cast<std::uint32_t>(payload.size())).raw(payload);
  return out;
}

Bytes request_identities() {
  const auto type = std::to_underlying(AgentMsg::request_identities);
  return frame(BytesView(&type, 1));
}

std::uint32_t sign_flags(crypto::SignatureAlg alg) {
  switch (alg) {
    case crypto::SignatureAlg::rsa_sha2_256: return flag_rsa_sha2_256;
    case crypto::SignatureAlg::rsa_sha2_512: return flag_rsa_sha2_512;
    default: return 0;
  }
}

Bytes sign_request(BytesView key_blob, BytesView data, crypto::SignatureAlg alg) {
  // Framed in place: one buffer holds the data to sign, so one wipe clears it.
  Bytes out;
  out.reserve(4 + 1 + 4 + key_blob.size() + 4 + data.size() + 4);
  wire::Writer(out).uint32(0).byte(std::to_underlying(AgentMsg::sign_request)).string(key_blob).string(data).uint32(sign_flags(alg));
  const auto length = static_cast<std::uint32_t>(out.size() - 4);
  store_be32(out.data(), length);
  return out;
}

namespace {

/// The message type, or the error a failure / an unexpected type means.
std::expected<void, AgentError> expect_type(wire::Reader& r, AgentMsg wanted) {
  const auto type = AgentMsg{r.byte()};
  if (!r.ok()) return std::unexpected(AgentError::empty_message);
  if (type == wanted) return {};
  // SSH_AGENT_FAILURE is a bare byte; anything after it is malformed but still a refusal.
  if (type == AgentMsg::failure) return std::unexpected(AgentError::refused);
  return std::unexpected(AgentError::unexpected_message);
}

}  // namespace

std::expected<std::vector<Identity>, AgentError> parse_identities_answer(BytesView message) {
  if (message.size() > max_message) return std::unexpected(AgentError::message_too_long);
  wire::Reader r(message);
  if (auto t = expect_type(r, AgentMsg::identities_answer); !t) return std::unexpected(t.error());
  const std::uint32_t count = r.uint32();
  if (!r.ok()) return std::unexpected(AgentError::malformed_message);
  if (count > max_identities) return std::unexpected(AgentError::too_many_identities);
  // Each identity takes at least 8 bytes: a count the message cannot hold is malformed
  // before anything is reserved for it.
  if (count > r.remaining() / 8) return std::unexpected(AgentError::malformed_message);
  std::vector<Identity> out;
  out.reserve(count);
  for (std::uint32_t i = 0; i < count; ++i) {
    const BytesView blob = r.string();
    const std::string_view comment = r.text();
    if (!r.ok()) return std::unexpected(AgentError::malformed_message);
    Identity id;
    id.blob.assign(blob.begin(), blob.end());
    id.comment = std::string(comment);
    if (auto key = crypto::PublicKey::from_blob(blob)) id.key = std::move(*key);
    out.push_back(std::move(id));
  }
  if (auto done = r.finish(); !done) return std::unexpected(AgentError::malformed_message);
  return out;
}

std::expected<Bytes, AgentError> parse_sign_response(BytesView message) {
  if (message.size() > max_message) return std::unexpected(AgentError::message_too_long);
  wire::Reader r(message);
  if (auto t = expect_type(r, AgentMsg::sign_response); !t) return std::unexpected(t.error());
  const BytesView signature = r.string();
  if (auto done = r.finish(); !done || signature.empty()) return std::unexpected(AgentError::malformed_message);
  return Bytes(signature.begin(), signature.end());
}

std::size_t Deframer::wanted() const {
  if (error_ || ready_) return 0;
  if (!have_length_) return 4 - buffer_.size();
  return length_ - buffer_.size();
}

std::expected<void, AgentError> Deframer::feed(BytesView bytes) {
  if (error_) return std::unexpected(*error_);
  if (bytes.size() > wanted()) {
    error_ = AgentError::overfed;
    return std::unexpected(*error_);
  }
  buffer_.insert(buffer_.end(), bytes.begin(), bytes.end());
  if (!have_length_ && buffer_.size() == 4) {
    length_ = (std::uint32_t{buffer_[0]} << 24) | (std::uint32_t{buffer_[1]} << 16) |
              (std::uint32_t{buffer_[2]} << 8) | std::uint32_t{buffer_[3]};
    buffer_.clear();
    if (length_ > max_message) error_ = AgentError::message_too_long;
    else if (length_ == 0) error_ = AgentError::empty_message;
    if (error_) return std::unexpected(*error_);
    have_length_ = true;
    buffer_.reserve(length_);
  }
  if (have_length_ && buffer_.size() == length_) ready_ = true;
  return {};
}

std::optional<Bytes> Deframer::take() {
  if (!ready_) return std::nullopt;
  Bytes out = std::exchange(buffer_, {});
  have_length_ = false;
  ready_ = false;
  length_ = 0;
  return out;
}

}  // namespace parley::client::agent

#include "reject_all_auth.hpp"

#include <string_view>

#include "parley/transport/messages.hpp"
#include "parley/wire/writer.hpp"

namespace parleyd {

namespace msg = parley::transport::msg;

void RejectAllAuth::on_message(parley::transport::Transport& transport,
                               const parley::transport::Message& message) {
  if (message.payload.empty() || message.payload[0] != msg::userauth_request) {
    transport.send_unimplemented(message.seq);
    return;
  }
  // RFC 4252 §5.1: byte SSH_MSG_USERAUTH_FAILURE, name-list authentications
  // that can continue (none), boolean partial success (false).
  parley::Bytes failure;
  parley::wire::Writer(failure)
      .byte(msg::userauth_failure)
      .string(std::string_view{})
      .boolean(false);
  transport.send(failure);
  ++rejected_;
}

}  // namespace parleyd

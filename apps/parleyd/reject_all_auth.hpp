// A placeholder for the user-authentication layer (RFC 4252) that refuses everyone.
#pragma once

#include "parley/transport/transport.hpp"

namespace parleyd {

/// Stands in for the userauth core until it exists: this milestone's server
/// completes key exchange and starts "ssh-userauth", then lets nobody in.
/// Replaced by the userauth core in the next milestone.
///
/// Every SSH_MSG_USERAUTH_REQUEST (50) is answered with SSH_MSG_USERAUTH_FAILURE
/// (51) listing no methods that can continue and partial success false (RFC 4252
/// §5.1), so a client gives up with "Permission denied". Any other message
/// numbered 50 or more is answered with SSH_MSG_UNIMPLEMENTED (RFC 4253 §11.4).
class RejectAllAuth {
 public:
  /// Handles one message of the layer above the transport.
  void on_message(parley::transport::Transport& transport,
                  const parley::transport::Message& message);
  /// USERAUTH_REQUESTs refused so far.
  unsigned rejected() const { return rejected_; }

 private:
  unsigned rejected_ = 0;
};

}  // namespace parleyd

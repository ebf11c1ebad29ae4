#include "parley/userauth/provider.hpp"

namespace parley::userauth {

void Responder::operator()(Outcome outcome) const {
  // The wake runs under the mailbox's lock: the attempt cancels under the same
  // lock (~Attempt, when the connection goes), so once it has, no wake is still
  // running on a worker or PAM thread to reach a driver the server has freed.
  // A wake only posts to the driver's executor; it never takes this lock.
  std::lock_guard lock(mailbox_->mutex);
  if (mailbox_->cancelled || mailbox_->outcome) return;
  mailbox_->outcome = std::move(outcome);
  if (mailbox_->wake) mailbox_->wake();
}

}  // namespace parley::userauth

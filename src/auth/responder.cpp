#include "parley/auth/provider.hpp"

namespace parley::auth {

void Responder::operator()(Outcome outcome) const {
  std::function<void()> wake;
  {
    std::lock_guard lock(mailbox_->mutex);
    if (mailbox_->cancelled || mailbox_->outcome) return;
    mailbox_->outcome = std::move(outcome);
    wake = mailbox_->wake;
  }
  if (wake) wake();
}

}  // namespace parley::auth

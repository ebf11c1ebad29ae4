#include "parley/userauth/password.hpp"

namespace parley::userauth {

void PasswordProvider::start(const AttemptInfo& attempt, Responder respond) {
  user_ = attempt.user;
  respond(Challenge{"", "", {Prompt{"Password: ", false}}});
}

void PasswordProvider::answer(std::vector<crypto::SecretBytes> answers, Responder respond) {
  if (answers.size() != 1) return respond(Reject{});
  check(verify_, run_, user_, std::move(answers[0]), std::move(respond));
}

void PasswordProvider::check(std::shared_ptr<const PasswordVerifier> verify,
                             const BlockingRunner& run, std::string user,
                             crypto::SecretBytes password, Responder respond) {
  auto secret = std::make_shared<crypto::SecretBytes>(std::move(password));
  auto job = [verify, user = std::move(user), secret, respond] {
    respond((*verify)(user, *secret) ? Outcome{Accept{}} : Outcome{Reject{}});
  };
  if (!run) return job();  // no pool configured: verify in place (tests, tools)
  if (!run(job)) respond(Reject{});  // overloaded: fail closed
}

}  // namespace parley::userauth

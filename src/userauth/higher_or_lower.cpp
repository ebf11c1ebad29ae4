#include "parley/userauth/higher_or_lower.hpp"

#include <algorithm>
#include <string>

namespace parley::userauth {

Outcome HigherOrLower::begin(const AttemptInfo&) { return ask(); }

Challenge HigherOrLower::ask() {
  ++asked_;
  numbers_[0] = rng_.uniform(100);
  do {
    numbers_[1] = rng_.uniform(100);
  } while (numbers_[1] == numbers_[0]);
  // As the seed: "What is the highest number: 88 or 26? ", echo on.
  std::string text = "What is the highest number: " + std::to_string(numbers_[0]) + " or " +
                     std::to_string(numbers_[1]) + "? ";
  return Challenge{std::string(challenge_name), std::string(instruction), {Prompt{text, true}}};
}

Outcome HigherOrLower::check(const std::vector<crypto::SecretBytes>& answers) {
  const std::string highest = std::to_string(std::max(numbers_[0], numbers_[1]));
  if (answers.size() == 1 && crypto::constant_time_equal(answers[0].view(), as_bytes(highest)))
    return Accept{};
  if (asked_ >= max_questions_) return Reject{};
  return ask();
}

}  // namespace parley::userauth

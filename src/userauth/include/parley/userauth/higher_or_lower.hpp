// "Higher or Lower": the challenge of seed 004. Two distinct numbers 0-99 from
// the injected CSPRNG; the highest must be typed back. A wrong answer gets a new
// question, up to a limit, then the attempt is rejected.
#pragma once

#include <array>

#include "parley/userauth/provider.hpp"
#include "parley/crypto/random.hpp"

namespace parley::userauth {

class HigherOrLower final : public SyncProvider {
 public:
  static constexpr std::string_view challenge_name = "Higher or Lower";
  static constexpr std::string_view instruction = "Answer the question to show me you are human.";

  /// `rng` must outlive the provider (the server's SystemRandom).
  explicit HigherOrLower(crypto::Random& rng, std::size_t max_questions = 3)
      : rng_(rng), max_questions_(max_questions) {}

  std::string_view name() const override { return "higher-or-lower"; }
  Outcome begin(const AttemptInfo& attempt) override;
  Outcome check(const std::vector<crypto::SecretBytes>& answers) override;

 private:
  Challenge ask();
  crypto::Random& rng_;
  std::size_t max_questions_;
  std::size_t asked_ = 0;
  std::array<std::uint32_t, 2> numbers_{};
};

}  // namespace parley::userauth

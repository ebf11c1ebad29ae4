#include "parley/userauth/prompt_responder.hpp"

#include <utility>

namespace parley::userauth {
namespace {

using crypto::SecretBytes;
using Slots = std::vector<std::optional<SecretBytes>>;

class FirstOf final : public PromptResponder {
 public:
  explicit FirstOf(std::vector<ResponderPtr> responders) : responders_(std::move(responders)) {}

  void answer(const UserInfoRequest& request, Slots& answers) override {
    for (const auto& responder : responders_) {
      if (!responder) continue;
      // Each responder sees answered prompts as engaged empty slots: it knows
      // not to answer them but never sees (or replaces) another's secret.
      Slots scratch(answers.size());
      for (std::size_t i = 0; i < answers.size(); ++i) {
        if (answers[i]) scratch[i].emplace();
      }
      responder->answer(request, scratch);
      for (std::size_t i = 0; i < answers.size() && i < scratch.size(); ++i) {
        if (!answers[i] && scratch[i]) answers[i] = std::move(scratch[i]);
      }
    }
  }
  void on_verdict(Verdict verdict) override {
    for (const auto& responder : responders_) {
      if (responder) responder->on_verdict(verdict);
    }
  }
  std::string_view name() const override { return "first-of"; }

 private:
  std::vector<ResponderPtr> responders_;
};

}  // namespace

ResponderPtr first_of(std::vector<ResponderPtr> responders) {
  return std::make_shared<FirstOf>(std::move(responders));
}

std::function<void(const UserInfoRequest&, ReplyTo<InfoReply>)> user_info_callback(
    ResponderPtr responder, std::shared_ptr<std::size_t> unanswered) {
  return [responder = std::move(responder), unanswered = std::move(unanswered)](
             const UserInfoRequest& request, ReplyTo<InfoReply> reply) {
    const std::size_t count = request.prompts.size();
    Slots slots(count);
    if (responder) responder->answer(request, slots);
    slots.resize(count);  // RFC 4256 §3.4: exactly one answer per prompt
    Answers answers;
    answers.values.reserve(count);
    std::size_t missing = 0;
    for (auto& slot : slots) {
      if (slot) {
        answers.values.push_back(std::move(*slot));
      } else {
        answers.values.emplace_back();
        ++missing;
      }
    }
    if (unanswered) *unanswered = missing;
    reply(InfoReply(std::move(answers)));
  };
}

}  // namespace parley::userauth

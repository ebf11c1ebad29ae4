#include "parley/pam/pam_provider.hpp"

#include "parley/login/system_user.hpp"

#include <security/pam_appl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "parley/crypto/secret.hpp"

namespace parley::pam {

struct PamService::Shared {
  explicit Shared(PamConfig c) : config(std::move(c)) {}
  const PamConfig config;
  mutable std::mutex mutex;
  mutable std::condition_variable idle;
  std::size_t running = 0;  // conversation threads alive
};

namespace {

bool system_user_exists(std::string_view user) {
  auto found = login::find_system_user(user);
  return found && found->has_value();
}

/// "address:port" or "[v6-address]:port" -> the address.
std::string address_of(std::string_view peer) {
  if (!peer.empty() && peer.front() == '[') {
    const std::size_t close = peer.find(']');
    if (close != std::string_view::npos) return std::string(peer.substr(1, close - 1));
  }
  const std::size_t colon = peer.rfind(':');
  return std::string(colon == std::string_view::npos ? peer : peer.substr(0, colon));
}

std::string describe(std::string_view function, int rc) {
  return std::string(function) + ": " + ::pam_strerror(nullptr, rc);
}

/// A malloc'd, NUL-terminated copy of `text` for PAM (which frees it).
char* pam_copy(std::string_view text) {
  auto* out = static_cast<char*>(std::malloc(text.size() + 1));
  if (out == nullptr) return nullptr;
  if (!text.empty()) std::memcpy(out, text.data(), text.size());
  out[text.size()] = '\0';
  return out;
}

void free_responses(pam_response* responses, int count) {
  if (responses == nullptr) return;
  for (int i = 0; i < count; ++i) {
    if (responses[i].resp != nullptr) {
      crypto::secure_wipe(responses[i].resp, std::strlen(responses[i].resp));
      std::free(responses[i].resp);
    }
  }
  std::free(responses);
}

/// One attempt's conversation, shared by its provider (the connection's side)
/// and its PAM thread; whichever lets go last frees it.
struct Conversation {
  Conversation(std::shared_ptr<PamService::Shared> s, std::string u, std::string p)
      : service(std::move(s)), user(std::move(u)), peer(std::move(p)) {}

  const std::shared_ptr<PamService::Shared> service;
  const std::string user;
  const std::string peer;
  bool fake = false;  // unknown user; written and read on the PAM thread only

  std::mutex mutex;
  std::condition_variable arrived;
  std::optional<userauth::Responder> responder;  // where the next Outcome goes
  std::optional<std::size_t> expected;       // answers the round in flight waits for
  std::optional<std::vector<crypto::SecretBytes>> answers;
  bool aborted = false;  // the provider is gone (or broke the protocol): stop

  /// Sends one round and waits for its answers; nullopt if the attempt ended.
  std::optional<std::vector<crypto::SecretBytes>> ask(userauth::Challenge challenge) {
    std::optional<userauth::Responder> respond;
    const std::size_t prompts = challenge.prompts.size();
    {
      std::lock_guard lock(mutex);
      if (aborted || !responder) return std::nullopt;
      respond.swap(responder);
      expected = prompts;  // before the round leaves: the answer may come at once
      answers.reset();
    }
    (*respond)(std::move(challenge));
    std::unique_lock lock(mutex);
    // Capped so that a huge setting cannot overflow the clock arithmetic.
    const auto timeout = std::min<std::chrono::milliseconds>(service->config.answer_timeout,
                                                             std::chrono::hours(24 * 365));
    const bool ready = arrived.wait_for(lock, timeout, [&] { return aborted || answers.has_value(); });
    expected.reset();  // a late answer now gets a Reject
    if (!ready || aborted || !answers) return std::nullopt;
    std::vector<crypto::SecretBytes> out = std::move(*answers);
    answers.reset();
    if (out.size() != prompts) return std::nullopt;
    return out;
  }

  /// The final Outcome, through the last Responder (dropped if the attempt ended).
  void finish(userauth::Outcome outcome) {
    std::optional<userauth::Responder> respond;
    {
      std::lock_guard lock(mutex);
      if (aborted) return;
      respond.swap(responder);
    }
    if (respond) (*respond)(std::move(outcome));
  }

  bool is_aborted() {
    std::lock_guard lock(mutex);
    return aborted;
  }
};

struct FreeResponses {
  int count;
  void operator()(pam_response* responses) const { free_responses(responses, count); }
};
using Responses = std::unique_ptr<pam_response, FreeResponses>;

bool is_text(const pam_message* m) {
  return m != nullptr && (m->msg_style == PAM_TEXT_INFO || m->msg_style == PAM_ERROR_MSG);
}

/// Each prompt is one round, each run of consecutive texts one zero-prompt
/// round; answers go to `responses` (null when the module wants none).
int converse_rounds(Conversation& c, int count, const pam_message** messages, pam_response* responses) {
  for (int i = 0; i < count;) {
    const pam_message* m = messages[i];
    if (m == nullptr) return PAM_CONV_ERR;
    if (m->msg_style == PAM_PROMPT_ECHO_OFF || m->msg_style == PAM_PROMPT_ECHO_ON) {
      if (responses == nullptr) return PAM_CONV_ERR;  // nowhere to put the answer
      const bool echo = m->msg_style == PAM_PROMPT_ECHO_ON;
      auto answers = c.ask(userauth::Challenge{"", "", {userauth::Prompt{m->msg ? m->msg : "", echo}}});
      if (!answers) return PAM_CONV_ERR;
      const std::string_view typed = userauth::answer_text(answers->front());
      responses[i].resp = !echo && c.fake ? pam_copy(fake_password(typed.size())) : pam_copy(typed);
      if (responses[i].resp == nullptr) return PAM_BUF_ERR;
      ++i;
    } else if (is_text(m)) {
      std::string text;
      for (; i < count && is_text(messages[i]); ++i) {
        if (!text.empty()) text += '\n';
        text += messages[i]->msg ? messages[i]->msg : "";
      }
      if (!c.ask(userauth::Challenge{"", std::move(text), {}})) return PAM_CONV_ERR;
    } else {
      return PAM_CONV_ERR;  // PAM_BINARY_PROMPT and the like: not over SSH
    }
  }
  return PAM_SUCCESS;
}

/// PAM's conversation function; runs on the PAM thread. Some modules
/// (pam_matrix) pass no response pointer with texts only: allowed. Nothing
/// may unwind through PAM's C frames.
int converse(int count, const pam_message** messages, pam_response** out, void* data) {
  auto* c = static_cast<Conversation*>(data);
  if (c == nullptr || messages == nullptr || count <= 0 || count > PAM_MAX_NUM_MSG) return PAM_CONV_ERR;
  if (out != nullptr) *out = nullptr;
  try {
    Responses responses(nullptr, FreeResponses{count});
    if (out != nullptr) {
      responses.reset(static_cast<pam_response*>(std::calloc(static_cast<std::size_t>(count), sizeof(pam_response))));
      if (!responses) return PAM_BUF_ERR;
    }
    const int rc = converse_rounds(*c, count, messages, responses.get());
    if (rc != PAM_SUCCESS) return rc;
    if (out != nullptr) *out = responses.release();  // PAM frees it
    return PAM_SUCCESS;
  } catch (...) {
    return PAM_CONV_ERR;
  }
}

/// Runs pam_authenticate and pam_acct_mgmt (and pam_chauthtok for an expired
/// password); returns the outcome and, for the log, why.
std::pair<userauth::Outcome, std::string> authenticate(Conversation& c) {
  const PamConfig& config = c.service->config;
  c.fake = !(config.user_exists ? config.user_exists(c.user) : system_user_exists(c.user));
  if (c.is_aborted()) return {userauth::Reject{}, "rejected: attempt aborted"};

  pam_conv conv{&converse, &c};
  pam_handle_t* raw = nullptr;
  int rc = ::pam_start(config.service.c_str(), c.user.c_str(), &conv, &raw);
  // pam_end with the last status, however this function is left.
  auto end = [&rc](pam_handle_t* h) { ::pam_end(h, rc); };
  const std::unique_ptr<pam_handle_t, decltype(end)> handle(raw, end);
  if (rc != PAM_SUCCESS || !handle) return {userauth::Reject{}, "rejected: " + describe("pam_start", rc)};

  const std::string rhost = address_of(c.peer);
  std::string why;
  rc = ::pam_set_item(handle.get(), PAM_RHOST, rhost.c_str());
  if (rc == PAM_SUCCESS) rc = ::pam_set_item(handle.get(), PAM_TTY, "ssh");
  if (rc != PAM_SUCCESS) why = describe("pam_set_item", rc);
  if (rc == PAM_SUCCESS) {
    rc = ::pam_authenticate(handle.get(), PAM_DISALLOW_NULL_AUTHTOK);
    if (rc != PAM_SUCCESS) why = describe("pam_authenticate", rc);
  }
  if (rc == PAM_SUCCESS) {
    rc = ::pam_acct_mgmt(handle.get(), PAM_DISALLOW_NULL_AUTHTOK);
    if (rc == PAM_NEW_AUTHTOK_REQD && !c.fake) {
      // As sshd over keyboard-interactive: change the expired password now,
      // through the same conversation.
      rc = ::pam_chauthtok(handle.get(), PAM_CHANGE_EXPIRED_AUTHTOK);
      if (rc != PAM_SUCCESS) why = describe("pam_chauthtok", rc);
    } else if (rc != PAM_SUCCESS) {
      why = describe("pam_acct_mgmt", rc);
    }
  }
  if (rc == PAM_SUCCESS) {
    // A module may rewrite PAM_USER; as sshd, refuse a user other than the one asked for.
    const void* item = nullptr;
    const int got = ::pam_get_item(handle.get(), PAM_USER, &item);
    if (got != PAM_SUCCESS || item == nullptr || static_cast<const char*>(item) != c.user) {
      rc = PAM_USER_UNKNOWN;
      why = "PAM changed the user name";
    }
  }
  if (c.is_aborted()) return {userauth::Reject{}, "rejected: attempt aborted"};
  if (c.fake) return {userauth::Reject{}, "rejected: unknown user"};
  if (rc != PAM_SUCCESS) return {userauth::Reject{}, "rejected: " + why};
  return {userauth::Accept{}, "accepted"};
}

void run_conversation(std::shared_ptr<Conversation> c) {
  const auto service = c->service;
  try {
    auto [outcome, what] = authenticate(*c);
    c->finish(std::move(outcome));
    if (service->config.on_result) service->config.on_result(c->user, c->peer, what);
  } catch (...) {
    // A callback threw (or memory ran out): fail closed, and let the thread end.
    try {
      c->finish(userauth::Reject{});
    } catch (...) {
    }
  }
  c.reset();  // drop the answers and responders before counting the thread out
  std::lock_guard lock(service->mutex);
  --service->running;
  service->idle.notify_all();
}

class PamProvider final : public userauth::KeyboardInteractiveProvider {
 public:
  explicit PamProvider(std::shared_ptr<PamService> service, std::shared_ptr<PamService::Shared> shared)
      : service_(std::move(service)), shared_(std::move(shared)) {}

  ~PamProvider() override {
    if (!conversation_) return;
    // Never waits: the PAM thread holds the conversation and lets go of it
    // once PAM returns.
    std::lock_guard lock(conversation_->mutex);
    conversation_->aborted = true;
    conversation_->responder.reset();
    conversation_->answers.reset();
    conversation_->arrived.notify_all();
  }

  std::string_view name() const override { return "pam"; }

  void start(const userauth::AttemptInfo& attempt, userauth::Responder respond) override {
    auto reject = [&](std::string_view why) {
      if (shared_->config.on_result) shared_->config.on_result(attempt.user, attempt.peer, why);
      respond(userauth::Reject{});
    };
    if (conversation_) return reject("rejected: attempt started twice");
    // An empty name would make PAM ask for one; a NUL would cut it short.
    if (attempt.user.empty() || attempt.user.find('\0') != std::string::npos)
      return reject("rejected: unusable user name");
    auto c = std::make_shared<Conversation>(shared_, attempt.user, attempt.peer);
    c->responder = respond;
    bool full = false;
    {
      std::lock_guard lock(shared_->mutex);
      full = shared_->running >= shared_->config.max_conversations;
      if (!full) ++shared_->running;
    }
    if (full) return reject("rejected: too many PAM conversations at once");
    try {
      std::thread(run_conversation, c).detach();
    } catch (const std::system_error&) {
      {
        std::lock_guard lock(shared_->mutex);
        --shared_->running;
        shared_->idle.notify_all();
      }
      return reject("rejected: cannot start a PAM thread");
    }
    conversation_ = std::move(c);
  }

  void answer(std::vector<crypto::SecretBytes> answers, userauth::Responder respond) override {
    if (!conversation_) return respond(userauth::Reject{});
    Conversation& c = *conversation_;
    {
      std::lock_guard lock(c.mutex);
      if (!c.aborted && c.expected && !c.answers && answers.size() == *c.expected) {
        c.answers = std::move(answers);
        c.responder = std::move(respond);
        c.expected.reset();
        c.arrived.notify_all();
        return;
      }
      // No round in flight (it timed out) or a wrong count: this attempt is over.
      c.aborted = true;
      c.responder.reset();
      c.answers.reset();
      c.arrived.notify_all();
    }
    respond(userauth::Reject{});
  }

 private:
  std::shared_ptr<PamService> service_;  // keeps the configuration alive for callers
  std::shared_ptr<PamService::Shared> shared_;
  std::shared_ptr<Conversation> conversation_;
};

}  // namespace

PamService::PamService(PamConfig config) : shared_(std::make_shared<Shared>(std::move(config))) {}

PamService::~PamService() = default;

std::size_t PamService::running() const {
  std::lock_guard lock(shared_->mutex);
  return shared_->running;
}

bool PamService::wait_idle(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(shared_->mutex);
  return shared_->idle.wait_for(lock, timeout, [&] { return shared_->running == 0; });
}

std::shared_ptr<PamService> make_pam_service(PamConfig config) {
  return std::make_shared<PamService>(std::move(config));
}

std::unique_ptr<userauth::KeyboardInteractiveProvider> make_pam_provider(std::shared_ptr<PamService> service) {
  if (!service) return nullptr;
  auto shared = service->shared_;
  return std::make_unique<PamProvider>(std::move(service), std::move(shared));
}

std::string fake_password(std::size_t length) {
  static constexpr std::string_view junk = "\b\n\r\177INCORRECT";
  std::string out;
  out.reserve(length);
  while (out.size() < length) out.append(junk.substr(0, length - out.size()));
  return out;
}

}  // namespace parley::pam

// The PAM keyboard-interactive provider against real PAM stacks: pam_wrapper
// (preloaded by ctest, see pam_tests.cmake) makes libpam read our service files,
// which use pam_matrix, pam_chatty and pam_parley_test_module.c. The provider is
// driven as the connection drives it: start()/answer() with a Responder on a
// Mailbox, outcomes picked up when they arrive.
#include <dlfcn.h>
#include <security/pam_appl.h>
#include <stdlib.h>
#include <unistd.h>
extern "C" {
#include <libpamtest.h>  // a C header without extern "C"
}

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "parley/userauth/provider.hpp"
#include "parley/pam/pam_provider.hpp"

namespace parley {
namespace {

using namespace std::chrono_literals;
using userauth::Accept;
using userauth::Challenge;
using userauth::Outcome;
using userauth::Reject;

namespace fs = std::filesystem;

fs::path test_dir() { return fs::path(::getenv("PARLEY_PAM_TEST_DIR")); }

/// pam_matrix's users (user:password:service allowed by its account check).
void write_passdb() {
  std::ofstream out(::getenv("PAM_MATRIX_PASSWD"), std::ios::trunc);
  out << "alice:secret:parley-matrix\n"
         "mallet:secret:elsewhere\n"
         "bob:secret:parley-two\n"
         "carol:secret:parley-chatty\n"
         "expired-erin:oldpw:parley-expired\n";
  for (const char* blocker : {"blocker1", "blocker2", "blocker3", "blocker4"})
    out << blocker << ":secret:parley-block\n";
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

bool wait_for_file(const fs::path& path, std::chrono::milliseconds timeout = 20s) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    if (fs::exists(path)) return true;
    std::this_thread::sleep_for(2ms);
  }
  return false;
}

void release(const std::string& user) { std::ofstream(test_dir() / (user + ".release")) << "go"; }

std::string describe(const Outcome& o) {
  if (std::holds_alternative<Accept>(o)) return "Accept";
  if (std::holds_alternative<Reject>(o)) return "Reject";
  const auto& c = std::get<Challenge>(o);
  std::string s = "Challenge(name='" + c.name + "', instruction='" + c.instruction + "', prompts=[";
  for (const auto& p : c.prompts) s += "'" + p.text + "'" + (p.echo ? " echo, " : " no-echo, ");
  return s + "])";
}

testing::AssertionResult IsPrompt(const std::optional<Outcome>& o, std::string_view text, bool echo) {
  if (!o) return testing::AssertionFailure() << "no outcome (timed out)";
  const auto* c = std::get_if<Challenge>(&*o);
  if (c == nullptr || c->prompts.size() != 1 || c->prompts[0].text != text || c->prompts[0].echo != echo ||
      !c->name.empty() || !c->instruction.empty())
    return testing::AssertionFailure() << "expected one prompt '" << text << "' (echo " << echo
                                       << "), got " << describe(*o);
  return testing::AssertionSuccess();
}

testing::AssertionResult IsText(const std::optional<Outcome>& o, std::string_view instruction) {
  if (!o) return testing::AssertionFailure() << "no outcome (timed out)";
  const auto* c = std::get_if<Challenge>(&*o);
  if (c == nullptr || !c->prompts.empty() || c->instruction != instruction || !c->name.empty())
    return testing::AssertionFailure() << "expected a zero-prompt round '" << instruction << "', got "
                                       << describe(*o);
  return testing::AssertionSuccess();
}

testing::AssertionResult Is(const std::optional<Outcome>& o, std::string_view want) {
  if (!o) return testing::AssertionFailure() << "no outcome (timed out)";
  if (describe(*o) != want) return testing::AssertionFailure() << "expected " << want << ", got " << describe(*o);
  return testing::AssertionSuccess();
}

/// One keyboard-interactive attempt, driven as ServerAuth drives it.
class Exchange {
 public:
  explicit Exchange(std::shared_ptr<pam::PamService> service) : provider_(pam::make_pam_provider(std::move(service))) {
    auto wakes = wakes_;
    mailbox_->set_wake([wakes] { ++*wakes; });
  }

  void start(const std::string& user, const std::string& peer = "192.0.2.7:50022") {
    userauth::AttemptInfo info;
    info.user = user;
    info.service = "ssh-connection";
    info.peer = peer;
    timed([&] { provider_->start(info, userauth::Responder(mailbox_)); });
  }

  void answer(const std::vector<std::string>& answers) {
    std::vector<crypto::SecretBytes> secrets;
    for (const auto& a : answers) secrets.emplace_back(as_bytes(a));
    timed([&] { provider_->answer(std::move(secrets), userauth::Responder(mailbox_)); });
  }

  /// The outcome if one is there now.
  std::optional<Outcome> poll() {
    return mailbox_->take();
  }

  /// Waits for the provider's next outcome.
  std::optional<Outcome> next(std::chrono::milliseconds timeout = 20s) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (auto o = poll()) return o;
      if (std::chrono::steady_clock::now() >= end) return std::nullopt;
      std::this_thread::sleep_for(1ms);
    }
  }

  /// Answers and waits for what comes next.
  std::optional<Outcome> reply(const std::vector<std::string>& answers) {
    answer(answers);
    return next();
  }

  void destroy() { provider_.reset(); }
  int wakes() const { return wakes_->load(); }
  /// The longest a start() or answer() call took (the caller is an I/O thread).
  std::chrono::steady_clock::duration slowest_call() const { return slowest_; }

 private:
  template <typename F>
  void timed(F&& f) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    slowest_ = std::max(slowest_, std::chrono::steady_clock::now() - t0);
  }

  std::shared_ptr<userauth::detail::Mailbox> mailbox_ = std::make_shared<userauth::detail::Mailbox>();
  std::shared_ptr<std::atomic<int>> wakes_ = std::make_shared<std::atomic<int>>(0);
  std::unique_ptr<userauth::KeyboardInteractiveProvider> provider_;
  std::chrono::steady_clock::duration slowest_{};
};

class PamProvider : public testing::Test {
 protected:
  void SetUp() override {
    // A clean slate (the module's .entered/.release/.answer files), so tests
    // can also be repeated (--gtest_repeat) in one process.
    for (const auto& f : fs::directory_iterator(test_dir())) fs::remove_all(f.path());
    write_passdb();
  }

  void TearDown() override {
    // Every conversation thread has ended, and nothing typed reached the log.
    for (auto& s : services_) EXPECT_TRUE(s->wait_idle(20s));
    std::lock_guard lock(log_->mutex);
    for (const auto& line : log_->lines)
      for (const char* typed : {"secret", "wrong-password", "2468", "oldpw", "newpw", "hunter2", "blue"})
        EXPECT_EQ(line.find(typed), std::string::npos) << line;
  }

  std::shared_ptr<pam::PamService> service(const std::string& name, std::size_t max_conversations = 8,
                                           std::chrono::milliseconds answer_timeout = 10min) {
    pam::PamConfig config;
    config.service = name;
    config.max_conversations = max_conversations;
    config.answer_timeout = answer_timeout;
    config.user_exists = [](std::string_view user) { return user != "ghost"; };
    config.on_result = [log = log_](std::string_view user, std::string_view peer, std::string_view what) {
      std::lock_guard lock(log->mutex);
      log->lines.push_back(std::string(user) + " from " + std::string(peer) + ": " + std::string(what));
    };
    auto s = pam::make_pam_service(std::move(config));
    services_.push_back(s);
    return s;
  }

  std::vector<std::string> log() const {
    std::lock_guard lock(log_->mutex);
    return log_->lines;
  }

  /// The log line for `user`, waiting for it (the thread reports after answering).
  std::string result_of(const std::string& user) const {
    const auto end = std::chrono::steady_clock::now() + 20s;
    while (std::chrono::steady_clock::now() < end) {
      for (const auto& line : log())
        if (line.starts_with(user + " from ")) return line;
      std::this_thread::sleep_for(1ms);
    }
    return "(no result for " + user + ")";
  }

  struct Log {
    mutable std::mutex mutex;
    std::vector<std::string> lines;
  };
  std::shared_ptr<Log> log_ = std::make_shared<Log>();
  std::vector<std::shared_ptr<pam::PamService>> services_;
};

// The fixture itself, without the provider: libpamtest runs our service files
// (so a failure below is the provider's, not the test setup's).
TEST(PamWrapper, ServiceFilesWorkThroughLibpamtest) {
  write_passdb();
  fs::remove(test_dir() / "libpamtest-user.answer");
  char info_buffers[4][PAM_MAX_MSG_SIZE] = {};
  char* info[4] = {info_buffers[0], info_buffers[1], info_buffers[2], info_buffers[3]};
  {
    const char* echo_off[] = {"secret", nullptr};
    pamtest_conv_data conv{};
    conv.in_echo_off = echo_off;
    conv.out_info = info;
    pam_testcase tests[] = {pam_test(PAMTEST_AUTHENTICATE, PAM_SUCCESS), pam_test(PAMTEST_ACCOUNT, PAM_SUCCESS)};
    EXPECT_EQ(run_pamtest("parley-matrix", "alice", &conv, tests, nullptr), PAMTEST_ERR_OK);
    EXPECT_STREQ(info[0], "Authentication succeeded");
  }
  {
    const char* echo_off[] = {"wrong-password", nullptr};
    pamtest_conv_data conv{};
    conv.in_echo_off = echo_off;
    pam_testcase tests[] = {pam_test(PAMTEST_AUTHENTICATE, PAM_AUTH_ERR)};
    EXPECT_EQ(run_pamtest("parley-matrix", "alice", &conv, tests, nullptr), PAMTEST_ERR_OK);
  }
  {
    // Our module (libpamtest's own conversation cannot answer parley-two's
    // mixed info-and-prompts call: it numbers the answers by prompt only).
    const char* echo_off[] = {"tiger", nullptr};
    pamtest_conv_data conv{};
    conv.in_echo_off = echo_off;
    pam_testcase tests[] = {pam_test(PAMTEST_AUTHENTICATE, PAM_SUCCESS), pam_test(PAMTEST_ACCOUNT, PAM_SUCCESS)};
    EXPECT_EQ(run_pamtest("parley-record", "libpamtest-user", &conv, tests, nullptr), PAMTEST_ERR_OK);
    EXPECT_EQ(read_file(test_dir() / "libpamtest-user.answer"), "tiger");
  }
  {
    pamtest_conv_data conv{};
    pam_testcase tests[] = {pam_test(PAMTEST_AUTHENTICATE, PAM_PERM_DENIED)};
    EXPECT_EQ(run_pamtest("no-such-service", "alice", &conv, tests, nullptr), PAMTEST_ERR_OK);
  }
}

TEST(PamFake, SameLengthAsTheAnswer) {
  EXPECT_EQ(pam::fake_password(0), "");
  EXPECT_EQ(pam::fake_password(3), "\b\n\r");
  EXPECT_EQ(pam::fake_password(13), "\b\n\r\177INCORRECT");
  EXPECT_EQ(pam::fake_password(20), std::string("\b\n\r\177INCORRECT\b\n\r\177INC"));
  EXPECT_EQ(pam::fake_password(100).size(), 100u);
}

TEST_F(PamProvider, RightPasswordThenInfoThenAccept) {
  auto s = service("parley-matrix");
  Exchange e(s);
  e.start("alice");
  EXPECT_TRUE(IsPrompt(e.next(), "Password: ", false));
  EXPECT_GE(e.wakes(), 1);  // an answer from the PAM thread wakes the connection
  // pam_matrix's "verbose" info: a round with no prompt, the text as instruction.
  EXPECT_TRUE(IsText(e.reply({"secret"}), "Authentication succeeded"));
  EXPECT_TRUE(Is(e.reply({}), "Accept"));
  EXPECT_EQ(result_of("alice"), "alice from 192.0.2.7:50022: accepted");
}

TEST_F(PamProvider, WrongPasswordGetsTheErrorTextThenReject) {
  auto s = service("parley-matrix");
  Exchange e(s);
  e.start("alice");
  EXPECT_TRUE(IsPrompt(e.next(), "Password: ", false));
  EXPECT_TRUE(IsText(e.reply({"wrong-password"}), "Authentication failed"));  // PAM_ERROR_MSG
  EXPECT_TRUE(Is(e.reply({}), "Reject"));
  EXPECT_EQ(result_of("alice"), "alice from 192.0.2.7:50022: rejected: pam_authenticate: Authentication failure");
}

// pam_matrix for the password, then our module: one conversation call with an
// info, an error and two prompts becomes three rounds (the two texts in one
// zero-prompt round), echo kept per prompt.
TEST_F(PamProvider, TwoPromptStack) {
  auto s = service("parley-two");
  Exchange e(s);
  e.start("bob");
  EXPECT_TRUE(IsPrompt(e.next(), "Password: ", false));
  EXPECT_TRUE(IsText(e.reply({"secret"}), "Second factor required\nCodes expire quickly"));
  EXPECT_TRUE(IsPrompt(e.reply({}), "Colour: ", true));
  EXPECT_TRUE(IsPrompt(e.reply({"blue"}), "PIN: ", false));
  EXPECT_TRUE(Is(e.reply({"2468"}), "Accept"));
}

TEST_F(PamProvider, TwoPromptStackWrongSecondAnswerRejects) {
  auto s = service("parley-two");
  Exchange e(s);
  e.start("bob");
  EXPECT_TRUE(IsPrompt(e.next(), "Password: ", false));
  EXPECT_TRUE(IsText(e.reply({"secret"}), "Second factor required\nCodes expire quickly"));
  EXPECT_TRUE(IsPrompt(e.reply({}), "Colour: ", true));
  EXPECT_TRUE(IsPrompt(e.reply({"blue"}), "PIN: ", false));
  EXPECT_TRUE(Is(e.reply({"1357"}), "Reject"));
}

// pam_chatty sends info and error lines before pam_matrix asks.
TEST_F(PamProvider, InfoAndErrorMessagesAreZeroPromptRounds) {
  auto s = service("parley-chatty");
  Exchange e(s);
  e.start("carol");
  // pam_chatty sends each line in a conversation call of its own (3 at least).
  EXPECT_TRUE(IsText(e.next(), "Authentication succeeded"));
  EXPECT_TRUE(IsText(e.reply({}), "Authentication succeeded"));
  EXPECT_TRUE(IsText(e.reply({}), "Authentication succeeded"));
  EXPECT_TRUE(IsText(e.reply({}), "Authentication generated an error"));
  EXPECT_TRUE(IsText(e.reply({}), "Authentication generated an error"));
  EXPECT_TRUE(IsText(e.reply({}), "Authentication generated an error"));
  EXPECT_TRUE(IsPrompt(e.reply({}), "Password: ", false));
  EXPECT_TRUE(Is(e.reply({"secret"}), "Accept"));
}

// pam_matrix's account check: mallet's password is right but the service is not his.
TEST_F(PamProvider, AccountCheckFailureRejects) {
  auto s = service("parley-matrix");
  Exchange e(s);
  e.start("mallet");
  EXPECT_TRUE(IsPrompt(e.next(), "Password: ", false));
  EXPECT_TRUE(IsText(e.reply({"secret"}), "Authentication succeeded"));
  EXPECT_TRUE(Is(e.reply({}), "Reject"));
  EXPECT_EQ(result_of("mallet"), "mallet from 192.0.2.7:50022: rejected: pam_acct_mgmt: Permission denied");
}

TEST_F(PamProvider, LockedAccountRejects) {
  auto s = service("parley-record");
  Exchange e(s);
  e.start("locked-larry");
  EXPECT_TRUE(IsPrompt(e.next(), "Password: ", false));
  EXPECT_TRUE(Is(e.reply({"secret"}), "Reject"));
  EXPECT_NE(result_of("locked-larry").find("pam_acct_mgmt"), std::string::npos);
}

// The account says the password expired: it is changed through the same
// conversation (pam_matrix writes the new one to its file), then Accept.
TEST_F(PamProvider, ExpiredPasswordIsChangedInTheConversation) {
  auto s = service("parley-expired");
  Exchange e(s);
  e.start("expired-erin");
  EXPECT_TRUE(IsPrompt(e.next(), "Password: ", false));
  EXPECT_TRUE(IsPrompt(e.reply({"oldpw"}), "Old password: ", false));
  EXPECT_TRUE(IsPrompt(e.reply({"oldpw"}), "New Password :", false));
  EXPECT_TRUE(IsPrompt(e.reply({"newpw"}), "Verify New Password :", false));
  EXPECT_TRUE(Is(e.reply({"newpw"}), "Accept"));
  EXPECT_TRUE(s->wait_idle(20s));
  EXPECT_NE(read_file(::getenv("PAM_MATRIX_PASSWD")).find("expired-erin:newpw:parley-expired"), std::string::npos);
}

// A known user's answer reaches the module as typed: the control for the next test.
TEST_F(PamProvider, KnownUserAnswerReachesTheModule) {
  auto s = service("parley-record");
  Exchange e(s);
  e.start("rita");
  EXPECT_TRUE(IsPrompt(e.next(), "Password: ", false));
  EXPECT_TRUE(Is(e.reply({"hunter2hunter2hunter2"}), "Accept"));
  EXPECT_EQ(read_file(test_dir() / "rita.answer"), "hunter2hunter2hunter2");
}

// An unknown user is asked all the same; the stack gets a fake of the same
// length (and here accepts it), and the provider rejects regardless.
TEST_F(PamProvider, UnknownUserGetsAFakeOfTheSameLengthAndIsRejected) {
  auto s = service("parley-record");
  Exchange e(s);
  e.start("ghost");
  EXPECT_TRUE(IsPrompt(e.next(), "Password: ", false));
  EXPECT_TRUE(Is(e.reply({"hunter2hunter2hunter2"}), "Reject"));
  const std::string got = read_file(test_dir() / "ghost.answer");
  EXPECT_EQ(got.size(), 21u);
  EXPECT_EQ(got, pam::fake_password(21));
  EXPECT_EQ(result_of("ghost"), "ghost from 192.0.2.7:50022: rejected: unknown user");
}

TEST_F(PamProvider, ModuleChangingTheUserIsRejected) {
  auto s = service("parley-rename");
  Exchange e(s);
  e.start("victor");
  EXPECT_TRUE(Is(e.next(), "Reject"));
  EXPECT_EQ(result_of("victor"), "victor from 192.0.2.7:50022: rejected: PAM changed the user name");
}

TEST_F(PamProvider, UnusableUserNamesAreRejectedAtOnce) {
  auto s = service("parley-matrix");
  Exchange empty(s);
  empty.start("");
  EXPECT_TRUE(Is(empty.poll(), "Reject"));
  Exchange nul(s);
  nul.start(std::string("alice\0x", 7));
  EXPECT_TRUE(Is(nul.poll(), "Reject"));
  EXPECT_EQ(s->running(), 0u);
}

// While one conversation sits in a module that blocks, others complete, and
// start()/answer() never wait for PAM.
TEST_F(PamProvider, BlockingModuleDoesNotStallOtherConversations) {
  auto s = service("parley-block", 4);
  Exchange stuck(s);
  stuck.start("blocker1");
  ASSERT_TRUE(wait_for_file(test_dir() / "blocker1.entered"));
  EXPECT_FALSE(stuck.poll());
  EXPECT_EQ(s->running(), 1u);

  std::vector<std::unique_ptr<Exchange>> others;
  for (int i = 0; i < 3; ++i) {
    others.push_back(std::make_unique<Exchange>(s));
    others.back()->start("alice");
  }
  for (auto& o : others) EXPECT_TRUE(IsPrompt(o->next(), "Password: ", false));
  for (auto& o : others) o->answer({"secret"});
  for (auto& o : others) EXPECT_TRUE(Is(o->next(), "Accept"));
  EXPECT_FALSE(stuck.poll());  // still in the module

  release("blocker1");
  EXPECT_TRUE(IsPrompt(stuck.next(), "Password: ", false));
  EXPECT_TRUE(Is(stuck.reply({"secret"}), "Accept"));
  for (auto& o : others) EXPECT_LT(o->slowest_call(), 250ms);
  EXPECT_LT(stuck.slowest_call(), 250ms);
}

TEST_F(PamProvider, MaxConversationsIsEnforced) {
  auto s = service("parley-block", 1);
  Exchange stuck(s);
  stuck.start("blocker2");
  ASSERT_TRUE(wait_for_file(test_dir() / "blocker2.entered"));

  Exchange refused(s);
  refused.start("alice");
  EXPECT_TRUE(Is(refused.poll(), "Reject"));  // at once, before start() returned
  EXPECT_EQ(result_of("alice"), "alice from 192.0.2.7:50022: rejected: too many PAM conversations at once");

  release("blocker2");
  EXPECT_TRUE(IsPrompt(stuck.next(), "Password: ", false));
  EXPECT_TRUE(Is(stuck.reply({"secret"}), "Accept"));
  ASSERT_TRUE(s->wait_idle(20s));

  Exchange again(s);  // the slot is free again
  again.start("alice");
  EXPECT_TRUE(IsPrompt(again.next(), "Password: ", false));
  EXPECT_TRUE(Is(again.reply({"secret"}), "Accept"));
}

// The connection dropped while PAM waited for an answer: the conversation
// fails and its thread ends; nothing is delivered.
TEST_F(PamProvider, ProviderDestroyedWhileWaitingForAnswers) {
  auto s = service("parley-matrix");
  Exchange e(s);
  e.start("alice");
  EXPECT_TRUE(IsPrompt(e.next(), "Password: ", false));
  EXPECT_EQ(s->running(), 1u);
  const auto t0 = std::chrono::steady_clock::now();
  e.destroy();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 250ms);
  EXPECT_TRUE(s->wait_idle(20s));
  EXPECT_FALSE(e.poll());
  EXPECT_EQ(result_of("alice"), "alice from 192.0.2.7:50022: rejected: attempt aborted");
}

// The connection dropped while a module blocked: destruction does not wait;
// the thread ends once the module returns, and delivers nothing.
TEST_F(PamProvider, ProviderDestroyedWhileTheModuleBlocks) {
  auto s = service("parley-block", 1);
  Exchange e(s);
  e.start("blocker3");
  ASSERT_TRUE(wait_for_file(test_dir() / "blocker3.entered"));
  const auto t0 = std::chrono::steady_clock::now();
  e.destroy();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 250ms);
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(s->running(), 1u);  // still in the module
  release("blocker3");
  EXPECT_TRUE(s->wait_idle(20s));
  EXPECT_FALSE(e.poll());
  EXPECT_EQ(result_of("blocker3"), "blocker3 from 192.0.2.7:50022: rejected: attempt aborted");
}

// The service handle may go first: the thread keeps what it needs.
TEST_F(PamProvider, ServiceAndProviderReleasedWhileTheModuleBlocks) {
  std::weak_ptr<pam::PamService> weak;
  {
    pam::PamConfig config;
    config.service = "parley-block";
    auto s = pam::make_pam_service(std::move(config));
    weak = s;
    Exchange e(s);
    e.start("blocker4");
    ASSERT_TRUE(wait_for_file(test_dir() / "blocker4.entered"));
  }
  EXPECT_TRUE(weak.expired());
  release("blocker4");
  // Nothing to wait on any more; the thread finishes on its own (ASan/LSan
  // would report a use after free or a leak).
  std::this_thread::sleep_for(200ms);
}

TEST_F(PamProvider, ClientThatNeverAnswersTimesOut) {
  auto s = service("parley-matrix", 8, 200ms);
  Exchange e(s);
  e.start("alice");
  EXPECT_TRUE(IsPrompt(e.next(), "Password: ", false));
  EXPECT_TRUE(s->wait_idle(20s));  // the conversation gave up by itself
  EXPECT_TRUE(Is(e.reply({"secret"}), "Reject"));  // too late
}

TEST_F(PamProvider, WrongNumberOfAnswersRejects) {
  auto s = service("parley-matrix");
  Exchange e(s);
  e.start("alice");
  EXPECT_TRUE(IsPrompt(e.next(), "Password: ", false));
  EXPECT_TRUE(Is(e.reply({"secret", "extra"}), "Reject"));
  EXPECT_TRUE(s->wait_idle(20s));
}

TEST_F(PamProvider, ManyConcurrentConversations) {
  auto s = service("parley-two", 16);
  std::vector<std::unique_ptr<Exchange>> all;
  for (int i = 0; i < 16; ++i) {
    all.push_back(std::make_unique<Exchange>(s));
    all.back()->start("bob");
  }
  for (auto& e : all) EXPECT_TRUE(IsPrompt(e->next(), "Password: ", false));
  for (auto& e : all) e->answer({"secret"});
  for (auto& e : all) EXPECT_TRUE(IsText(e->next(), "Second factor required\nCodes expire quickly"));
  for (auto& e : all) e->answer({});
  for (auto& e : all) EXPECT_TRUE(IsPrompt(e->next(), "Colour: ", true));
  for (auto& e : all) e->answer({"blue"});
  for (auto& e : all) EXPECT_TRUE(IsPrompt(e->next(), "PIN: ", false));
  for (std::size_t i = 0; i < all.size(); ++i) all[i]->answer({i % 2 == 0 ? "2468" : "1357"});
  for (std::size_t i = 0; i < all.size(); ++i) EXPECT_TRUE(Is(all[i]->next(), i % 2 == 0 ? "Accept" : "Reject"));
}

}  // namespace
}  // namespace parley

int main(int argc, char** argv) {
  // Refuse to run against the system's PAM: without pam_wrapper these service
  // names would fall through to /etc/pam.d/other.
  using Enabled = bool (*)();
  const char* wrapper = ::getenv("PAM_WRAPPER");
  auto enabled = reinterpret_cast<Enabled>(::dlsym(RTLD_DEFAULT, "pam_wrapper_enabled"));
  if (wrapper == nullptr || std::string_view(wrapper) != "1" || enabled == nullptr || !enabled()) {
    std::fprintf(stderr,
                 "pam_provider_test: pam_wrapper is not active; run it through ctest "
                 "(LD_PRELOAD=libpam_wrapper.so PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR=...)\n");
    return 1;
  }
  // Kept loaded after libpam lets go of it, so that LeakSanitizer can name it
  // in the suppression of its leak (see pam_tests.cmake).
  if (::dlopen(PARLEY_PAM_CHATTY, RTLD_NOW) == nullptr) {
    std::fprintf(stderr, "pam_provider_test: cannot load %s: %s\n", PARLEY_PAM_CHATTY, ::dlerror());
    return 1;
  }
  // Files shared with the test module and pam_matrix; set before any thread starts.
  std::string dir = (std::filesystem::temp_directory_path() / "parley-pam-XXXXXX").string();
  if (::mkdtemp(dir.data()) == nullptr) {
    std::perror("pam_provider_test: mkdtemp");
    return 1;
  }
  ::setenv("PARLEY_PAM_TEST_DIR", dir.c_str(), 1);
  ::setenv("PAM_MATRIX_PASSWD", (dir + "/passdb").c_str(), 1);
  testing::InitGoogleTest(&argc, argv);
  const int rc = RUN_ALL_TESTS();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return rc;
}

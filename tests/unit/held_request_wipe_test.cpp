// Userauth requests held back during the uniform failure delay carry passwords:
// when the connection ends (the ServerAuth is destroyed, or it ends the
// connection itself) their bytes are wiped before the memory is given back.
//
// The test replaces the global operator delete of this binary (only this one:
// each tests/unit file is its own executable) so that, while a check is armed,
// every block freed is searched for the password before it is released.
#include <gtest/gtest.h>
#include <malloc.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string_view>

#include "parley/userauth/server_auth.hpp"
#include "parley/transport/messages.hpp"
#include "parley/wire/writer.hpp"
#include "transport_pair.hpp"

namespace {

constexpr std::string_view marker = "held-password-7f3a9c";
std::atomic<bool> armed{false};
std::atomic<int> found{0};

void check_freed(void* p) {
  if (p == nullptr || !armed.load(std::memory_order_relaxed)) return;
  const std::size_t n = ::malloc_usable_size(p);
  const std::string_view block(static_cast<const char*>(p), n);
  if (block.find(marker) != std::string_view::npos) ++found;
}

}  // namespace

void* operator new(std::size_t n) {
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
  check_freed(p);
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  check_freed(p);
  std::free(p);
}

namespace parley::userauth {
namespace {

using namespace std::chrono_literals;

Bytes password_request(std::string_view password) {
  Bytes p;
  wire::Writer w(p);
  w.byte(transport::msg::userauth_request).string(std::string_view("alice"));
  w.string(std::string_view("ssh-connection")).string(std::string_view("password")).boolean(false);
  w.string(password);
  return p;
}

/// A ServerAuth whose first wrong password leaves its failure held for the
/// uniform delay, so the next request (carrying the marker) is held too.
struct Held {
  std::shared_ptr<ServerAuthConfig> config = [] {
    auto c = std::make_shared<ServerAuthConfig>();
    c->password = std::make_shared<const PasswordVerifier>(
        [](std::string_view, const crypto::SecretBytes&) { return false; });
    c->limits.failure_delay = 300ms;
    c->limits.login_grace = 10s;
    return c;
  }();
  transport::Instant now = test::test_epoch();
  std::unique_ptr<ServerAuth> auth = std::make_unique<ServerAuth>(config, "127.0.0.1:1", now);
  Bytes sid{1, 2, 3};

  Held() {
    auth->handle(password_request("wrong"), sid, now);
    EXPECT_TRUE(auth->take_messages().empty()) << "the failure is held for the delay";
    Bytes second = password_request(marker);
    auth->handle(second, sid, now);                     // held behind the first
    crypto::secure_wipe(second.data(), second.size());  // as ServerConnection wipes its copy
  }
};

TEST(HeldRequests, HeldUserauthRequestsAreWipedWhenTheConnectionIsDestroyed) {
  Held h;
  found = 0;
  armed = true;
  h.auth.reset();
  armed = false;
  EXPECT_EQ(found.load(), 0) << "a held password was freed without being wiped";
}

TEST(HeldRequests, HeldUserauthRequestsAreWipedWhenAuthEndsTheConnection) {
  Held h;
  found = 0;
  armed = true;
  h.auth->on_time(h.now + 11s);  // login grace exceeded: ServerAuth ends the connection
  armed = false;
  bool ended = false;
  while (auto e = h.auth->poll_event()) ended = ended || std::holds_alternative<AuthDisconnect>(*e);
  EXPECT_TRUE(ended);
  EXPECT_EQ(found.load(), 0) << "a held password was freed without being wiped";
}

TEST(HeldRequests, TheCheckSeesAnUnwipedBlock) {
  // The detector itself works: a freed buffer holding the marker is found.
  found = 0;
  armed = true;
  { Bytes plain(marker.begin(), marker.end()); }
  armed = false;
  EXPECT_EQ(found.load(), 1);
}

}  // namespace
}  // namespace parley::userauth

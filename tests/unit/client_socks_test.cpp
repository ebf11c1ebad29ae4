// client::SocksHandshake, the server side of -D's SOCKS: the requests curl and
// browsers send (4, 4a, 5 with each address type), byte by byte as well as at
// once, the bytes a client pipelines after its request, and hostile clients:
// other versions and commands, no usable method, bad names, endless requests.
#include "parley/client/socks.hpp"

#include <gtest/gtest.h>

namespace parley::client {
namespace {

struct Outcome {
  std::optional<SocksTarget> target;
  std::string error;
  Bytes answer;
};

/// Feeds `input` in pieces of `step` bytes until there is a result.
Outcome run(SocksHandshake& h, const Bytes& input, std::size_t step) {
  Outcome o;
  for (std::size_t i = 0; i < input.size(); i += step) {
    const std::size_t n = std::min(step, input.size() - i);
    auto r = h.feed(BytesView(input.data() + i, n), o.answer);
    if (!r) {
      o.error = r.error();
      return o;
    }
    if (*r) {
      o.target = **r;
      // What is left of the input after the request is the client's stream.
      Bytes tail(input.begin() + static_cast<std::ptrdiff_t>(i + n), input.end());
      h.rest().insert(h.rest().end(), tail.begin(), tail.end());
      return o;
    }
  }
  return o;
}

Bytes bytes(std::initializer_list<int> v) {
  Bytes b;
  for (int x : v) b.push_back(static_cast<std::uint8_t>(x));
  return b;
}

Bytes operator+(Bytes a, const std::string& s) {
  a.insert(a.end(), s.begin(), s.end());
  return a;
}

Bytes operator+(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

TEST(ClientSocks, Socks5DomainNameWholeAndByteByByte) {
  for (std::size_t step : {std::size_t{1}, std::size_t{3}, std::size_t{1000}}) {
    SocksHandshake h;
    const Bytes in = bytes({5, 2, 2, 0, 5, 1, 0, 3, 9}) + "localhost" + bytes({0x1f, 0x90}) + "GET /";
    Outcome o = run(h, in, step);
    ASSERT_TRUE(o.target) << step << " " << o.error;
    EXPECT_EQ(o.target->host, "localhost");
    EXPECT_EQ(o.target->port, 8080);
    EXPECT_EQ(o.answer, bytes({5, 0}));  // no authentication chosen
    EXPECT_EQ(std::string(h.rest().begin(), h.rest().end()), "GET /");
    Bytes reply;
    h.reply(true, reply);
    EXPECT_EQ(reply, bytes({5, 0, 0, 1, 0, 0, 0, 0, 0, 0}));
    reply.clear();
    h.reply(false, reply);
    EXPECT_EQ(reply[1], 1);  // general failure
  }
}

TEST(ClientSocks, Socks5Addresses) {
  SocksHandshake v4;
  Outcome a = run(v4, bytes({5, 1, 0, 5, 1, 0, 1, 127, 0, 0, 1, 0, 22}), 100);
  ASSERT_TRUE(a.target);
  EXPECT_EQ(a.target->host, "127.0.0.1");
  EXPECT_EQ(a.target->port, 22);
  SocksHandshake v6;
  Outcome b = run(v6, bytes({5, 1, 0, 5, 1, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 80}), 100);
  ASSERT_TRUE(b.target);
  EXPECT_EQ(b.target->host, "::1");
  EXPECT_EQ(b.target->port, 80);
}

TEST(ClientSocks, Socks4And4a) {
  SocksHandshake four;
  Outcome a = run(four, bytes({4, 1, 0, 80, 10, 0, 0, 7}) + "user" + bytes({0}) + "data", 2);
  ASSERT_TRUE(a.target) << a.error;
  EXPECT_EQ(a.target->host, "10.0.0.7");
  EXPECT_EQ(a.target->port, 80);
  EXPECT_TRUE(a.answer.empty());  // SOCKS 4 is answered once the channel opened or failed
  EXPECT_EQ(std::string(four.rest().begin(), four.rest().end()), "data");
  Bytes reply;
  four.reply(true, reply);
  EXPECT_EQ(reply, bytes({0, 90, 0, 0, 0, 0, 0, 0}));
  SocksHandshake four_a;
  Outcome b = run(four_a, bytes({4, 1, 1, 187, 0, 0, 0, 1, 0}) + "example.org" + bytes({0}), 1);
  ASSERT_TRUE(b.target) << b.error;
  EXPECT_EQ(b.target->host, "example.org");
  EXPECT_EQ(b.target->port, 443);
  reply.clear();
  four_a.reply(false, reply);
  EXPECT_EQ(reply, bytes({0, 91, 0, 0, 0, 0, 0, 0}));
}

TEST(ClientSocks, HostileClientsAreRefusedWithTheirAnswer) {
  struct Case {
    const char* what;
    Bytes input;
    Bytes answer;  // what the client is told before the close
  };
  const Case cases[] = {
      {"not SOCKS", Bytes{'G', 'E', 'T', ' '}, {}},
      {"SOCKS 5 without the no-authentication method", bytes({5, 1, 2}), bytes({5, 0xff})},
      {"SOCKS 5 BIND", bytes({5, 1, 0, 5, 2, 0, 1, 1, 2, 3, 4, 0, 1}), bytes({5, 0, 5, 7, 0, 1, 0, 0, 0, 0, 0, 0})},
      {"SOCKS 5 address type 9", bytes({5, 1, 0, 5, 1, 0, 9, 1}), bytes({5, 0, 5, 8, 0, 1, 0, 0, 0, 0, 0, 0})},
      {"SOCKS 5 empty name", bytes({5, 1, 0, 5, 1, 0, 3, 0, 0, 80}), bytes({5, 0, 5, 8, 0, 1, 0, 0, 0, 0, 0, 0})},
      {"SOCKS 5 name with a control character", bytes({5, 1, 0, 5, 1, 0, 3, 2, 'a', 10, 0, 80}),
       bytes({5, 0, 5, 8, 0, 1, 0, 0, 0, 0, 0, 0})},
      {"SOCKS 5 request of version 4", bytes({5, 1, 0, 4, 1, 0, 1, 1, 2, 3, 4, 0, 1}),
       bytes({5, 0, 5, 1, 0, 1, 0, 0, 0, 0, 0, 0})},
      {"SOCKS 4 BIND", bytes({4, 2, 0, 80, 1, 2, 3, 4, 0}), bytes({0, 91, 0, 0, 0, 0, 0, 0})},
  };
  for (const auto& c : cases) {
    SocksHandshake h;
    Outcome o = run(h, c.input, 100);
    EXPECT_FALSE(o.target) << c.what;
    EXPECT_FALSE(o.error.empty()) << c.what;
    EXPECT_EQ(o.answer, c.answer) << c.what;
    Bytes more;
    EXPECT_FALSE(h.feed(bytes({5}), more)) << c.what << ": nothing after the end";
  }
}

TEST(ClientSocks, AnEndlessRequestIsCutOff) {
  SocksHandshake h;
  Bytes answer;
  auto r = h.feed(bytes({4, 1, 0, 80, 1, 2, 3, 4}), answer);
  ASSERT_TRUE(r && !*r);
  const Bytes user(600, 'u');  // no NUL ever comes
  r = h.feed(user, answer);
  ASSERT_TRUE(r && !*r);
  r = h.feed(user, answer);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), "request too long");
}

}  // namespace
}  // namespace parley::client

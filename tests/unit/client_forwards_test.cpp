// client::parse_forward and describe() against what OpenSSH 9.2's ssh -G prints for
// the same -L/-R/-D arguments (observed, and compared live by ssh_config_vs_ssh.py),
// and split_host_port() for -W and ProxyJump.
#include "parley/client/forwards.hpp"

#include <gtest/gtest.h>

namespace parley::client {
namespace {

std::string shown(std::string_view spec, ForwardKind kind) {
  auto f = parse_forward(spec, kind, [](std::string_view name) -> std::optional<std::uint16_t> {
    if (name == "http") return 80;
    return std::nullopt;
  });
  return f ? describe(*f, kind) : "error: " + f.error();
}

TEST(ClientForwards, LocalAsSshGPrintsThem) {
  EXPECT_EQ(shown("8080:localhost:80", ForwardKind::local), "8080 [localhost]:80");
  EXPECT_EQ(shown("*:8081:example.com:81", ForwardKind::local), "[*]:8081 [example.com]:81");
  EXPECT_EQ(shown("[::1]:8082:[::1]:82", ForwardKind::local), "[::1]:8082 [::1]:82");
  EXPECT_EQ(shown(":1:c:2", ForwardKind::local), "[]:1 [c]:2");
  EXPECT_EQ(shown("1::2", ForwardKind::local), "1 []:2");
  EXPECT_EQ(shown("001:c:02", ForwardKind::local), "1 [c]:2");
  EXPECT_EQ(shown(" 5:a:2", ForwardKind::local), "5 [a]:2");
  EXPECT_EQ(shown("5:a:2:", ForwardKind::local), "5 [a]:2");  // one trailing ':' ends the list
  EXPECT_EQ(shown("http:h:http", ForwardKind::local), "80 [h]:80");
  EXPECT_EQ(shown("x:1:c:2", ForwardKind::local), "[x]:1 [c]:2");
  EXPECT_EQ(shown("1:a/b:2", ForwardKind::local), "1 [a/b]:2");
}

TEST(ClientForwards, LocalRefusalsAsSsh) {
  for (const char* bad : {"0:h:80", "80:h:0", "a:b", "1:2:3:4:5", "70000:h:80", "[1.2.3.4:1:a:2", "[a]b:1:c:2",
                          "1:[c]x:2", "1:c:", "5:a:2:3:", "1:a:2/", "", "8080", "nosuchservice:h:1"})
    EXPECT_EQ(shown(bad, ForwardKind::local), "error: bad specification") << bad;
}

TEST(ClientForwards, UnixSocketPathsAreRefusedByName) {
  EXPECT_EQ(shown("/tmp/s:h:80", ForwardKind::local), "error: forwarding Unix-domain sockets is not supported");
  EXPECT_EQ(shown("8080:/run/sock", ForwardKind::local), "error: forwarding Unix-domain sockets is not supported");
}

TEST(ClientForwards, DynamicAndRemote) {
  EXPECT_EQ(shown("1080", ForwardKind::dynamic), "1080");
  EXPECT_EQ(shown("127.0.0.1:1081", ForwardKind::dynamic), "[127.0.0.1]:1081");
  EXPECT_EQ(shown("*:1080", ForwardKind::dynamic), "[*]:1080");
  EXPECT_EQ(shown(":1080", ForwardKind::dynamic), "[]:1080");
  EXPECT_EQ(shown("1080:", ForwardKind::dynamic), "1080");
  EXPECT_EQ(shown("0", ForwardKind::dynamic), "error: bad specification");
  EXPECT_EQ(shown("[::1]", ForwardKind::dynamic), "error: bad specification");
  EXPECT_EQ(shown("a:b:1", ForwardKind::dynamic), "error: bad specification");
  EXPECT_EQ(shown("9090:localhost:90", ForwardKind::remote), "9090 [localhost]:90");
  EXPECT_EQ(shown("0:h:80", ForwardKind::remote), "0 [h]:80");  // the server picks the port
  EXPECT_EQ(shown("9091", ForwardKind::remote), "9091 [socks]:0");  // remote dynamic, as ssh keeps it
  EXPECT_EQ(shown("*:0", ForwardKind::remote), "[*]:0 [socks]:0");
}

TEST(ClientForwards, BoundsHostNames) {
  const std::string long_name(1100, 'a');
  EXPECT_FALSE(parse_forward("1:" + long_name + ":2", ForwardKind::local));
  EXPECT_FALSE(parse_forward(long_name + ":1:c:2", ForwardKind::local));
}

TEST(ClientForwards, SplitHostPort) {
  auto a = split_host_port("host:22");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "host");
  EXPECT_EQ(a->port, "22");
  auto b = split_host_port("[::1]:2222");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->host, "::1");
  EXPECT_EQ(b->port, "2222");
  auto c = split_host_port("plain");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->host, "plain");
  EXPECT_EQ(c->port, "");
  auto d = split_host_port("a:b:1");  // the first colon, as ssh: the port "b:1" is then refused
  ASSERT_TRUE(d);
  EXPECT_EQ(d->port, "b:1");
  EXPECT_FALSE(split_host_port("[::1"));
  EXPECT_FALSE(split_host_port("[::1]x"));
}

}  // namespace
}  // namespace parley::client

// An in-memory client/server pair of Transports with a virtual clock, for tests.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "parley/crypto/keys.hpp"
#include "parley/crypto/random.hpp"
#include "parley/transport/messages.hpp"
#include "parley/transport/packet.hpp"
#include "parley/wire/reader.hpp"
#include "parley/wire/writer.hpp"
#include "parley/transport/transport.hpp"
#include "kexinit.hpp"
#include "test_support.hpp"

namespace parley::test {

/// The committed test host key of `type` ("ed25519", "ecdsa", "rsa").
inline crypto::PrivateKey test_host_key(const std::string& type) {
  auto key = crypto::PrivateKey::from_openssh(
      read_text_file(std::filesystem::path(PARLEY_TEST_DATA_DIR) / ("test_" + type)));
  if (!key) throw std::runtime_error("cannot load test key " + type);
  return *key;
}

inline std::vector<crypto::PrivateKey> all_test_host_keys() {
  return {test_host_key("ed25519"), test_host_key("ecdsa"), test_host_key("rsa")};
}

inline transport::Instant test_epoch() { return transport::Instant{} + std::chrono::hours(1000); }

/// Client and server Transports wired back to back. pump() moves bytes both ways
/// until neither side has anything to send; events are collected per side.
struct TransportPair {
  crypto::DeterministicRandom client_rng{1};
  crypto::DeterministicRandom server_rng{2};
  transport::Instant now = test_epoch();
  transport::Transport client;
  transport::Transport server;
  std::vector<transport::Event> client_events;
  std::vector<transport::Event> server_events;
  Bytes c2s_stream;  // every byte the client sent, in order
  Bytes s2c_stream;
  std::size_t chunk = 0;  // deliver in pieces of this size (0: whole)

  TransportPair(transport::TransportConfig client_config, transport::TransportConfig server_config)
      : client(with_role(std::move(client_config), transport::Role::client), client_rng, now),
        server(with_role(std::move(server_config), transport::Role::server), server_rng, now) {}

  static transport::TransportConfig with_role(transport::TransportConfig c, transport::Role r) {
    c.role = r;
    return c;
  }

  static void deliver(Bytes& bytes, transport::Transport& to, transport::Instant now,
                      std::size_t chunk) {
    if (chunk == 0) {
      to.receive(bytes, now);
      return;
    }
    for (std::size_t i = 0; i < bytes.size(); i += chunk)
      to.receive(BytesView(bytes).subspan(i, std::min(chunk, bytes.size() - i)), now);
  }

  void pump() {
    for (int round = 0; round < 10000; ++round) {
      Bytes c2s, s2c;
      client.take_output(c2s);
      server.take_output(s2c);
      drain();
      if (c2s.empty() && s2c.empty()) return;
      c2s_stream.insert(c2s_stream.end(), c2s.begin(), c2s.end());
      s2c_stream.insert(s2c_stream.end(), s2c.begin(), s2c.end());
      deliver(c2s, server, now, chunk);
      deliver(s2c, client, now, chunk);
      drain();
    }
    FAIL() << "pump did not settle";
  }

  void drain() {
    while (auto e = client.poll_event()) client_events.push_back(std::move(*e));
    while (auto e = server.poll_event()) server_events.push_back(std::move(*e));
  }

  template <class T>
  static std::vector<T> of_type(const std::vector<transport::Event>& events) {
    std::vector<T> out;
    for (const auto& e : events)
      if (auto* p = std::get_if<T>(&e)) out.push_back(*p);
    return out;
  }
};

/// A server config with every test host key and a client config that accepts
/// exactly the matching public keys.
inline std::pair<transport::TransportConfig, transport::TransportConfig> default_configs() {
  transport::TransportConfig server;
  server.role = transport::Role::server;
  server.host_keys = all_test_host_keys();
  transport::TransportConfig client;
  client.role = transport::Role::client;
  std::vector<crypto::PublicKey> known;
  for (const auto& k : server.host_keys) known.push_back(k.public_key());
  client.verify_host_key = [known](const crypto::PublicKey& key) {
    for (const auto& k : known)
      if (k == key) return true;
    return false;
  };
  return {client, server};
}

/// `payload` framed as an unencrypted packet (as before the first NEWKEYS).
inline Bytes plain_packet(BytesView payload) {
  crypto::DeterministicRandom rng(9);
  transport::PacketEncoder enc;
  Bytes out;
  enc.encode(payload, rng, out);
  return out;
}

/// A client KEXINIT payload; `strict` adds kex-strict-c-v00@openssh.com.
inline Bytes client_kexinit(bool strict) {
  return kexinit_payload({.kex = strict ? "curve25519-sha256,kex-strict-c-v00@openssh.com"
                                        : "curve25519-sha256"});
}

/// The reason code of the DISCONNECT in a server's unencrypted output
/// (identification line, then plaintext packets), if there is one.
inline std::optional<std::uint32_t> plaintext_disconnect_reason(const Bytes& output) {
  std::string_view text = as_chars(output);
  std::size_t eol = text.find("\r\n");
  if (eol == std::string_view::npos) return std::nullopt;
  Bytes rest(output.begin() + static_cast<std::ptrdiff_t>(eol + 2), output.end());
  transport::PacketDecoder dec;
  std::size_t pos = 0;
  while (pos < rest.size()) {
    auto r = dec.decode(std::span<std::uint8_t>(rest).subspan(pos));
    if (!r || !*r) return std::nullopt;
    pos += (*r)->consumed;
    wire::Reader reader((*r)->payload);
    if (reader.byte() == transport::msg::disconnect) return reader.uint32();
  }
  return std::nullopt;
}

}  // namespace parley::test

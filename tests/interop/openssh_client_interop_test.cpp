// The real OpenSSH client (ssh) against our parleyd: every key exchange, host
// key, cipher and MAC algorithm parley implements, each forced in turn on the
// ssh side. This milestone's parleyd stops at user authentication (RejectAllAuth),
// so each run must reach SSH2_MSG_SERVICE_ACCEPT and then be refused.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "parley/transport/algorithms.hpp"
#include "test_support.hpp"

namespace parley::test {
namespace {

using namespace std::chrono_literals;

constexpr const char* ssh_binary = "/usr/bin/ssh";
constexpr const char* ssh_keygen_binary = "/usr/bin/ssh-keygen";

/// `field` of AlgorithmPreferences::supported() as a comma-separated list.
template <class Field, class Name>
std::string supported_list(Field field, Name name) {
  std::string out;
  for (auto alg : transport::AlgorithmPreferences::supported().*field) {
    if (!out.empty()) out += ",";
    out += std::string(name(alg));
  }
  return out;
}

/// One parleyd for the whole binary, with an Ed25519, an ECDSA P-256 and an
/// RSA-3072 host key made by ssh-keygen.
class ParleydServer {
 public:
  /// The running server, or a failure message (the same for every test).
  static ParleydServer& instance() {
    static ParleydServer server;
    return server;
  }

  const std::string& error() const { return error_; }
  std::uint16_t port() const { return port_; }
  ChildProcess& process() { return *process_; }
  /// Fingerprint of our host key of an SSH key type ("ssh-ed25519", "ecdsa-sha2-nistp256",
  /// "ssh-rsa").
  std::string fingerprint(const std::string& key_type) const {
    auto it = fingerprints_.find(key_type);
    return it == fingerprints_.end() ? std::string() : it->second;
  }
  /// The "host key: ..." lines parleyd printed after its "listening" line.
  const std::vector<std::string>& printed_keys() const { return printed_keys_; }
  std::string log() const { return read_text_file(dir_ / "parleyd.log"); }

 private:
  ParleydServer() { error_ = start(); }

  std::string start() {
    for (const char* tool : {ssh_binary, ssh_keygen_binary})
      if (::access(tool, X_OK) != 0)
        return std::string(tool) + " is missing (install openssh-client)";
    if (::access(parleyd_path().c_str(), X_OK) != 0)
      return parleyd_path().string() + " is not built";

    const std::pair<const char*, const char*> keys[] = {
        {"ed25519", "ssh-ed25519"}, {"ecdsa", "ecdsa-sha2-nistp256"}, {"rsa", "ssh-rsa"}};
    // Every ssh run here leaves without logging in: no per-source penalties.
    // Every algorithm parley implements is offered, not only the defaults, so
    // each can be forced from ssh.
    std::vector<std::string> argv{parleyd_path().string(), "--demo", "--port", "0", "--log-level", "debug",
                                  "--per-source-penalties", "no", "--max-startups", "1000",
                                  "--kex", supported_list(&transport::AlgorithmPreferences::kex,
                                                          [](auto a) { return transport::name(a); }),
                                  "--macs", supported_list(&transport::AlgorithmPreferences::macs,
                                                           [](auto a) { return crypto::name(a); })};
    for (auto [type, key_type] : keys) {
      const auto path = dir_ / ("host_" + std::string(type));
      if (auto err = ssh_keygen_generate(type, path)) return *err;
      fingerprints_[key_type] = ssh_keygen_fingerprint(path);
      if (fingerprints_[key_type].empty()) return "ssh-keygen -lf " + path.string() + " failed";
      argv.insert(argv.end(), {"--host-key", path.string()});
    }
    std::string spawn_error;
    process_ = ChildProcess::spawn(argv, dir_ / "parleyd.log", &spawn_error);
    if (!process_) return spawn_error;

    auto first = process_->read_line(20s);
    if (!first) return "parleyd printed nothing; log:\n" + log();
    const std::string prefix = "parleyd listening on 127.0.0.1:";
    const std::string digits = first->starts_with(prefix) ? first->substr(prefix.size()) : "";
    if (digits.empty() || digits.size() > 5 ||
        !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return "unexpected first line: " + *first;
    port_ = static_cast<std::uint16_t>(std::stoi(digits));
    for (std::size_t i = 0; i < std::size(keys); ++i) {
      auto line = process_->read_line(5s);
      if (!line) return "parleyd printed fewer host keys than it was given";
      printed_keys_.push_back(*line);
    }
    return {};
  }

  TempDir dir_;
  std::map<std::string, std::string> fingerprints_;
  std::optional<ChildProcess> process_;
  std::uint16_t port_ = 0;
  std::vector<std::string> printed_keys_;
  std::string error_;
};

enum class Dimension { kex, host_key, cipher, mac };

struct AlgCase {
  Dimension dimension;
  std::string name;
};

void PrintTo(const AlgCase& c, std::ostream* os) {
  *os << c.name;
}

std::string case_name(const testing::TestParamInfo<AlgCase>& info) {
  static const char* prefixes[] = {"kex_", "hostkey_", "cipher_", "mac_"};
  std::string n = prefixes[static_cast<int>(info.param.dimension)] + info.param.name;
  std::replace_if(
      n.begin(), n.end(), [](char c) { return !std::isalnum(static_cast<unsigned char>(c)); }, '_');
  return n;
}

/// The key type whose fingerprint ssh prints for a host-key algorithm.
std::string key_type_of(const std::string& host_key_alg) {
  if (host_key_alg == "rsa-sha2-512" || host_key_alg == "rsa-sha2-256") return "ssh-rsa";
  return host_key_alg;
}

/// The value after `prefix` on the first line of `text` containing it ("" if none).
std::string after(const std::string& text, const std::string& prefix) {
  auto at = text.find(prefix);
  if (at == std::string::npos) return {};
  at += prefix.size();
  std::string value = text.substr(at, text.find('\n', at) - at);
  if (value.ends_with('\r')) value.pop_back();  // ssh ends its debug lines with CR LF
  return value;
}

class OpensshClient : public testing::TestWithParam<AlgCase> {
 protected:
  void SetUp() override {
    ASSERT_EQ(ParleydServer::instance().error(), "") << "parleyd could not be started";
  }

  /// Runs ssh against parleyd with the given extra -o options.
  CommandResult run_ssh(const std::vector<std::string>& options) {
    std::vector<std::string> argv{ssh_binary, "-vv", "-F", "/dev/null", "-o", "BatchMode=yes", "-o",
                                  "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                                  // Hermetic: no user keys, agent or GSSAPI; only "none" is tried.
                                  "-o", "PubkeyAuthentication=no", "-o", "GSSAPIAuthentication=no",
                                  "-o", "ConnectTimeout=20"};
    for (const auto& o : options) argv.insert(argv.end(), {"-o", o});
    argv.insert(argv.end(), {"-p", std::to_string(ParleydServer::instance().port()),
                             "tester@127.0.0.1", "true"});
    return run_command(argv, 60s);
  }
};

TEST_P(OpensshClient, NegotiatesAndReachesUserauth) {
  const AlgCase& c = GetParam();
  std::vector<std::string> options;
  switch (c.dimension) {
    case Dimension::kex:
      options.push_back("KexAlgorithms=" + c.name);
      break;
    case Dimension::host_key:
      options.push_back("HostKeyAlgorithms=" + c.name);
      break;
    case Dimension::cipher:
      options.push_back("Ciphers=" + c.name);
      break;
    case Dimension::mac:
      options.push_back("Ciphers=aes128-ctr");
      options.push_back("MACs=" + c.name);
      break;
  }
  const CommandResult r = run_ssh(options);
  const std::string& log = r.err;
  SCOPED_TRACE("ssh stderr:\n" + log);

  ASSERT_FALSE(r.timed_out);
  switch (c.dimension) {
    case Dimension::kex:
      EXPECT_EQ(after(log, "kex: algorithm: "), c.name);
      break;
    case Dimension::host_key:
      EXPECT_EQ(after(log, "kex: host key algorithm: "), c.name);
      break;
    case Dimension::cipher: {
      // AEAD ciphers have an implicit MAC; CTR ones a negotiated one.
      const bool aead = c.name.find("ctr") == std::string::npos;
      for (const char* dir : {"kex: server->client cipher: ", "kex: client->server cipher: "}) {
        const std::string line = after(log, dir);
        EXPECT_TRUE(line.starts_with(c.name + " MAC: ")) << dir << line;
        EXPECT_EQ(line.find("<implicit>") != std::string::npos, aead) << dir << line;
      }
      break;
    }
    case Dimension::mac:
      EXPECT_EQ(after(log, "kex: server->client cipher: "),
                "aes128-ctr MAC: " + c.name + " compression: none");
      EXPECT_EQ(after(log, "kex: client->server cipher: "),
                "aes128-ctr MAC: " + c.name + " compression: none");
      break;
  }

  // The host key ssh saw is ours, of the negotiated type.
  const std::string host_alg = after(log, "kex: host key algorithm: ");
  ASSERT_FALSE(host_alg.empty());
  const std::string key_type = key_type_of(host_alg);
  EXPECT_EQ(after(log, "Server host key: "),
            key_type + " " + ParleydServer::instance().fingerprint(key_type));

  EXPECT_NE(log.find("SSH2_MSG_SERVICE_ACCEPT received"), std::string::npos);
  EXPECT_EQ(r.exit_code, 255);
  EXPECT_NE(log.find("Permission denied"), std::string::npos);
  EXPECT_TRUE(ParleydServer::instance().process().running()) << ParleydServer::instance().log();
}

// parleyd prints each host key's fingerprint as ssh-keygen -l shows it.
TEST(ParleydStartup, PrintsHostKeyFingerprints) {
  auto& server = ParleydServer::instance();
  ASSERT_EQ(server.error(), "");
  EXPECT_EQ(server.printed_keys(),
            (std::vector<std::string>{
                "host key: ssh-ed25519 " + server.fingerprint("ssh-ed25519"),
                "host key: ecdsa-sha2-nistp256 " + server.fingerprint("ecdsa-sha2-nistp256"),
                "host key: ssh-rsa " + server.fingerprint("ssh-rsa")}));
}

// One ssh run, then parleyd's log: the connection, the key exchange with the
// client's version, the disconnect, and no key material.
TEST(ParleydStartup, LogsConnectionsWithoutKeyMaterial) {
  auto& server = ParleydServer::instance();
  ASSERT_EQ(server.error(), "");
  auto r = run_command(
      {ssh_binary, "-F", "/dev/null", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o",
       "UserKnownHostsFile=/dev/null", "-o", "PubkeyAuthentication=no", "-p",
       std::to_string(server.port()), "tester@127.0.0.1", "true"},
      60s);
  EXPECT_EQ(r.exit_code, 255) << r.err;
  // The disconnect is logged once parleyd sees the close; give it a moment.
  std::string log;
  for (int i = 0; i < 100; ++i) {
    log = server.log();
    if (log.find("disconnected") != std::string::npos) break;
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_NE(log.find("connection open"), std::string::npos) << log;
  EXPECT_NE(log.find("key exchange done"), std::string::npos) << log;
  EXPECT_NE(log.find("OpenSSH_9"), std::string::npos) << log;
  EXPECT_NE(log.find("disconnected"), std::string::npos) << log;
  EXPECT_EQ(log.find("PRIVATE KEY"), std::string::npos) << log;
  EXPECT_TRUE(server.process().running());
}

INSTANTIATE_TEST_SUITE_P(Kex, OpensshClient,
                         testing::Values(AlgCase{Dimension::kex, "curve25519-sha256"},
                                         AlgCase{Dimension::kex, "curve25519-sha256@libssh.org"},
                                         AlgCase{Dimension::kex, "ecdh-sha2-nistp256"},
                                         AlgCase{Dimension::kex, "diffie-hellman-group16-sha512"},
                                         AlgCase{Dimension::kex, "diffie-hellman-group14-sha256"}),
                         case_name);
INSTANTIATE_TEST_SUITE_P(HostKey, OpensshClient,
                         testing::Values(AlgCase{Dimension::host_key, "ssh-ed25519"},
                                         AlgCase{Dimension::host_key, "ecdsa-sha2-nistp256"},
                                         AlgCase{Dimension::host_key, "rsa-sha2-512"},
                                         AlgCase{Dimension::host_key, "rsa-sha2-256"}),
                         case_name);
INSTANTIATE_TEST_SUITE_P(Cipher, OpensshClient,
                         testing::Values(AlgCase{Dimension::cipher,
                                                 "chacha20-poly1305@openssh.com"},
                                         AlgCase{Dimension::cipher, "aes256-gcm@openssh.com"},
                                         AlgCase{Dimension::cipher, "aes128-gcm@openssh.com"},
                                         AlgCase{Dimension::cipher, "aes256-ctr"},
                                         AlgCase{Dimension::cipher, "aes128-ctr"}),
                         case_name);
INSTANTIATE_TEST_SUITE_P(Mac, OpensshClient,
                         testing::Values(AlgCase{Dimension::mac, "hmac-sha2-256-etm@openssh.com"},
                                         AlgCase{Dimension::mac, "hmac-sha2-512-etm@openssh.com"},
                                         AlgCase{Dimension::mac, "hmac-sha2-256"},
                                         AlgCase{Dimension::mac, "hmac-sha2-512"}),
                         case_name);

}  // namespace
}  // namespace parley::test

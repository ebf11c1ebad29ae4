#include "sshd.hpp"

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

namespace parley::test {

namespace {
constexpr const char* sshd_binary = "/usr/sbin/sshd";  // sshd insists on an absolute path
}

Sshd::Sshd(SshdOptions options) { error_ = start(options); }

std::string Sshd::log() const { return read_text_file(dir_ / "sshd.log"); }

std::string Sshd::log_tail(std::size_t max) const {
  const std::string all = log();
  return "sshd log (tail):\n" + all.substr(all.size() > max ? all.size() - max : 0);
}

const crypto::PublicKey* Sshd::key(crypto::KeyType type) const {
  auto it = keys_.find(type);
  return it == keys_.end() ? nullptr : &it->second;
}

std::string Sshd::start(const SshdOptions& options) {
  if (::access(sshd_binary, X_OK) != 0) return std::string(sshd_binary) + " is missing (install openssh-server)";
  if (::access("/usr/bin/ssh-keygen", X_OK) != 0) return "/usr/bin/ssh-keygen is missing";
  // sshd wants its privilege-separation directory.
  std::error_code ec;
  std::filesystem::create_directories("/run/sshd", ec);
  ::chmod("/run/sshd", 0755);

  std::string config;
  for (const auto& type : options.host_key_types) {
    const auto path = dir_ / ("ssh_host_" + type + "_key");
    if (auto err = ssh_keygen_generate(type, path)) return *err;
    std::string pub = read_text_file(path.string() + ".pub");
    auto key = crypto::PublicKey::from_openssh(pub.substr(0, pub.find('\n')));
    if (!key) return "cannot parse " + path.string() + ".pub";
    keys_.emplace(key->type(), *key);
    config += "HostKey " + path.string() + "\n";
  }
  user_key_ = crypto::PrivateKey::generate_ed25519(rng_);
  const auto authorized_keys = dir_ / "authorized_keys";
  if (!write_text_file(authorized_keys, user_key_->public_key().to_openssh("parley-test") + "\n"))
    return "cannot write " + authorized_keys.string();
  config += "AuthorizedKeysFile " + authorized_keys.string() + "\n";
  if (const passwd* pw = ::getpwuid(::getuid()))
    user_ = pw->pw_name;
  else
    return "no passwd entry for uid " + std::to_string(::getuid());
  config += "PidFile " + (dir_ / "sshd.pid").string() + "\n";
  config += "ListenAddress 127.0.0.1\nUsePAM no\nStrictModes no\nMaxStartups 100\n";
  config += "LogLevel " + options.log_level + "\n" + options.extra_config;
  // free_port() can race with another process taking the port: retry a few times.
  std::string failure;
  for (int attempt = 0; attempt < 3; ++attempt) {
    port_ = free_port();
    const auto config_path = dir_ / "sshd_config";
    if (!write_text_file(config_path, config + "Port " + std::to_string(port_) + "\n"))
      return "cannot write " + config_path.string();
    std::string spawn_error;
    process_ = ChildProcess::spawn({sshd_binary, "-D", "-e", "-f", config_path.string()}, dir_ / "sshd.log",
                                   &spawn_error);
    if (!process_) return spawn_error;
    failure = wait_listening();
    if (failure.empty()) return {};
  }
  return failure;
}

std::string Sshd::wait_listening() {
  using namespace std::chrono_literals;
  for (int i = 0; i < 200; ++i) {
    if (port_open(port_)) return {};
    if (!process_->running()) return "sshd exited; log:\n" + log();
    std::this_thread::sleep_for(50ms);
  }
  return "sshd did not start listening on port " + std::to_string(port_) + "; log:\n" + log();
}

}  // namespace parley::test

#include "shared_state.hpp"

#include <utility>

#include "parley/crypto/file_io.hpp"
#include "parley/crypto/secret.hpp"
#include "parley/driver/redis_state.hpp"

namespace parleyd {

namespace {

/// The Redis password: the file's first line, without its newline. Refused if
/// group or others may read it (as ssh refuses such a key file).
std::expected<parley::crypto::SecretBytes, std::string> read_password(const std::string& path) {
  auto file = parley::crypto::read_file(path, 4096);
  if (!file) return std::unexpected("state.password_file: " + file.error().describe(path));
  parley::crypto::WipeOnExit wipe(file->text);
  if (file->mode & 077)
    return std::unexpected("state.password_file: " + path +
                           ": readable by group or others (chmod 600 it): refused");
  std::string_view text = file->text;
  if (const auto nl = text.find('\n'); nl != std::string_view::npos) {
    if (text.find_first_not_of("\r\n", nl) != std::string_view::npos)
      return std::unexpected("state.password_file: " + path + ": more than one line");
    text = text.substr(0, nl);
  }
  if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
  if (text.empty()) return std::unexpected("state.password_file: " + path + ": empty");
  return parley::crypto::SecretBytes(parley::as_bytes(text));
}

}  // namespace

std::expected<StateBackend, std::string> make_state_backend(const StateSettings& s) {
  StateBackend backend;
  backend.deny_all = s.on_state_error == "deny-all";
  if (s.backend.value_or("local") != "redis") {
    backend.state = parley::state::memory_state();
    return backend;
  }
  parley::driver::RedisOptions o;
  o.address = s.address.value_or(o.address);
  o.tls = s.tls.value_or(false);
  o.tls_ca_file = s.tls_ca_file.value_or("");
  o.tls_cert_file = s.tls_cert_file.value_or("");
  o.tls_key_file = s.tls_key_file.value_or("");
  o.tls_server_name = s.tls_server_name.value_or("");
  o.username = s.username.value_or("");
  if (s.password_file) {
    auto password = read_password(*s.password_file);
    if (!password) return std::unexpected(password.error());
    o.password = std::move(*password);
  }
  o.key_prefix = s.key_prefix.value_or(o.key_prefix);
  o.timeout = s.timeout.value_or(o.timeout);
  o.connect_timeout = s.connect_timeout.value_or(o.connect_timeout);
  o.pool_size = s.pool_size.value_or(o.pool_size);
  auto redis = parley::driver::redis_state(std::move(o));
  if (!redis) return std::unexpected("state: " + redis.error());
  backend.state = std::move(*redis);
  backend.shared = true;
  return backend;
}

}  // namespace parleyd

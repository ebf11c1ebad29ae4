// Private key files: loading, atomic saving, and the host key bootstrap.
#include "parley/crypto/key_file.hpp"

#include <cerrno>
#include <cstdio>
#include <optional>
#include <utility>

#include "parley/crypto/file_io.hpp"
#include "parley/crypto/secret.hpp"

namespace parley::crypto {
namespace {

namespace fs = std::filesystem;

// Far above any real key (a 16384-bit RSA key file is about 13 KiB); it only
// stops a wrong path (a log, a device) from being read into memory whole.
constexpr std::size_t max_key_file_size = 1 << 20;
constexpr std::string_view host_key_comment = "parley host key";

KeyFileError io_failure(const fs::path& path, const FileError& e) {
  return {CryptoError::io_error, e.describe(path)};
}

KeyFileError key_failure(const fs::path& path, CryptoError e) {
  return {e, path.string() + ": " + std::string(to_string(e))};
}

/// OpenSSH's sshkey_perm_ok: a private key file that anyone but its owner may
/// read, write or run is refused ("UNPROTECTED PRIVATE KEY FILE!"), whatever it
/// holds: a key others could read is no longer only ours. (sshd checks only
/// files it owns; a group or others bit is refused here whoever owns the file.)
std::optional<KeyFileError> permissions_problem(const fs::path& path, mode_t mode) {
  if ((mode & 077) == 0) return std::nullopt;
  char octal[8];
  std::snprintf(octal, sizeof octal, "%04o", static_cast<unsigned>(mode & 07777));
  return KeyFileError{CryptoError::io_error,
                      "UNPROTECTED PRIVATE KEY FILE: permissions " + std::string(octal) + " for '" +
                          path.string() +
                          "' are too open; a private key file must not be accessible by others "
                          "(chmod 600); this key is ignored"};
}

std::expected<PrivateKey, KeyFileError> parse_key_file(const fs::path& path, std::string& text) {
  WipeOnExit wipe(text);
  auto key = PrivateKey::from_openssh(text);
  if (!key) return std::unexpected(key_failure(path, key.error()));
  return *std::move(key);
}

}  // namespace

std::expected<PrivateKey, KeyFileError> load_private_key(const fs::path& path) {
  auto file = read_file(path, max_key_file_size);
  if (!file) return std::unexpected(io_failure(path, file.error()));
  if (auto bad = permissions_problem(path, file->mode)) {
    secure_wipe(file->text.data(), file->text.size());
    return std::unexpected(*bad);
  }
  return parse_key_file(path, file->text);
}

std::expected<void, KeyFileError> save_private_key(const fs::path& path, const PrivateKey& key,
                                                   std::string_view comment, Random& rng) {
  std::string text = key.to_openssh(comment, rng);
  WipeOnExit wipe(text);
  const std::string pub_text = key.public_key().to_openssh(comment) + "\n";
  fs::path pub_path = path;
  pub_path += ".pub";

  // Both files are complete on disk before either is renamed, and the private
  // key is renamed last, so no failure leaves `path` changed (the temporaries
  // are removed by ~TempFile). The one failure that leaves anything changed is
  // the final rename failing after the .pub was replaced; the .pub is derived
  // data (ssh-keygen -y rebuilds it), the private key is not.
  auto priv_tmp = TempFile::write(path, text, 0600, rng);
  if (!priv_tmp) return std::unexpected(io_failure(path, priv_tmp.error()));
  auto pub_tmp = TempFile::write(pub_path, pub_text, 0644, rng);
  if (!pub_tmp) return std::unexpected(io_failure(pub_path, pub_tmp.error()));
  if (auto r = pub_tmp->commit(pub_path); !r) return std::unexpected(io_failure(pub_path, r.error()));
  if (auto r = priv_tmp->commit(path); !r) return std::unexpected(io_failure(path, r.error()));
  if (auto r = sync_directory(directory_of(path)); !r) return std::unexpected(io_failure(path, r.error()));
  return {};
}

std::expected<PrivateKey, KeyFileError> load_or_generate_host_key(const fs::path& path,
                                                                  Random& rng) {
  auto r = read_file(path, max_key_file_size);
  if (r) {
    if (auto bad = permissions_problem(path, r->mode)) {
      secure_wipe(r->text.data(), r->text.size());
      return std::unexpected(*bad);
    }
    return parse_key_file(path, r->text);
  }
  // Only a missing file means "first start"; any other failure (permissions, a
  // directory) must not be papered over with a fresh key.
  if (r.error().err != ENOENT) return std::unexpected(io_failure(path, r.error()));
  // Two processes starting at once may both generate; the later rename wins
  // and the earlier process serves a key that is no longer on disk until it
  // restarts. Servers start once, so this is not worth a lock file.
  PrivateKey key = PrivateKey::generate_ed25519(rng);
  if (auto saved = save_private_key(path, key, host_key_comment, rng); !saved) {
    return std::unexpected(saved.error());
  }
  return key;
}

}  // namespace parley::crypto

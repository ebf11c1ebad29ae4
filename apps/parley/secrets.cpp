#include "secrets.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "parley/client/ssh_config.hpp"
#include "parley/wire/bytes.hpp"

namespace parley::app {
namespace {

namespace cfg = client::ssh_config;

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\f'; }

/// Reads the whole file into a string the caller wipes.
std::expected<std::string, std::string> read_file(int fd, const std::string& path) {
  std::string text;
  char buffer[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      crypto::secure_wipe(text.data(), text.size());
      return std::unexpected("cannot read the secrets file " + path + ": " + std::strerror(errno));
    }
    if (n == 0) break;
    text.append(buffer, static_cast<std::size_t>(n));
    if (text.size() > 1024 * 1024) {
      crypto::secure_wipe(text.data(), text.size());
      return std::unexpected("the secrets file " + path + " is over 1 MiB");
    }
  }
  crypto::secure_wipe(buffer, sizeof buffer);
  return text;
}

}  // namespace

std::expected<HostSecrets, std::string> parse_secrets(std::string_view text, std::string_view host,
                                                      const std::string& name) {
  HostSecrets out;
  bool applies = true;  // before the first Host: every host
  std::size_t number = 0;
  while (!text.empty()) {
    const std::size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view{} : text.substr(end + 1);
    ++number;
    while (!line.empty() && is_blank(line.front())) line.remove_prefix(1);
    while (!line.empty() && is_blank(line.back())) line.remove_suffix(1);
    if (line.empty() || line.front() == '#') continue;
    std::size_t k = 0;
    while (k < line.size() && !is_blank(line[k])) ++k;
    const std::string keyword = ascii_lower(line.substr(0, k));
    std::string_view value = line.substr(k);
    while (!value.empty() && is_blank(value.front())) value.remove_prefix(1);
    const std::string where = name + " line " + std::to_string(number) + ": ";
    if (value.empty()) return std::unexpected(where + "no value after " + keyword);
    if (keyword == "host") {
      // The patterns, whitespace-separated, as one ssh pattern list.
      std::string patterns;
      for (char c : value) patterns += is_blank(c) ? ',' : c;
      applies = cfg::match_pattern_list(ascii_lower(host), patterns, true) == 1;
    } else if (keyword == "password" || keyword == "totp") {
      auto& slot = keyword == "password" ? out.password : out.totp;
      if (applies && !slot) slot = crypto::SecretBytes(parley::as_bytes(value));
    } else {
      return std::unexpected(where + "unknown keyword '" + keyword + "' (Host, Password or TOTP)");
    }
  }
  return out;
}

std::expected<HostSecrets, std::string> read_secrets(const std::string& path, std::string_view host) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return std::unexpected("cannot open the secrets file " + path + ": " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return std::unexpected("the secrets file " + path + " is not a regular file");
  }
  // As ssh for a private key: the user's alone, or refused.
  if (st.st_uid != ::getuid() || (st.st_mode & 077) != 0) {
    ::close(fd);
    return std::unexpected("bad owner or permissions on the secrets file " + path +
                           ": it must be yours and mode 0600 (chmod 600 " + path + ")");
  }
  auto text = read_file(fd, path);
  ::close(fd);
  if (!text) return std::unexpected(text.error());
  auto secrets = parse_secrets(*text, host, path);
  crypto::secure_wipe(text->data(), text->size());
  return secrets;
}

}  // namespace parley::app

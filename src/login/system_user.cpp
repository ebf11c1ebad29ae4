#include "parley/login/system_user.hpp"

#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

namespace parley::login {

std::expected<std::optional<SystemUser>, int> find_system_user(std::string_view name) {
  const std::string user(name);
  if (user.find('\0') != std::string::npos) return std::optional<SystemUser>();
  const long hint = ::sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buffer(hint > 0 ? static_cast<std::size_t>(hint) : 16384);
  for (;;) {
    passwd entry{};
    passwd* found = nullptr;
    const int rc = ::getpwnam_r(user.c_str(), &entry, buffer.data(), buffer.size(), &found);
    if (rc == ERANGE && buffer.size() < (1u << 20)) {
      buffer.resize(buffer.size() * 2);
      continue;
    }
    if (rc != 0) return std::unexpected(rc);
    if (found == nullptr) return std::optional<SystemUser>();
    return std::optional<SystemUser>(
        SystemUser{entry.pw_uid, entry.pw_gid, entry.pw_dir != nullptr ? entry.pw_dir : ""});
  }
}

}  // namespace parley::login

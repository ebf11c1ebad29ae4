// Accounts of the operating system (the password database), looked up in a
// way that is safe from several threads at once.
#pragma once

#include <sys/types.h>

#include <expected>
#include <optional>
#include <string>
#include <string_view>

namespace parley::login {

struct SystemUser {
  uid_t uid = 0;
  gid_t gid = 0;
  std::string home;  // may be empty
};

/// getpwnam_r(3), growing its buffer as needed. The value is nullopt when there
/// is no such user; the error is the errno of a failed lookup.
std::expected<std::optional<SystemUser>, int> find_system_user(std::string_view name);

}  // namespace parley::login

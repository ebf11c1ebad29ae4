// The names of confine()'s steps and the checks of a Plan that touch nothing.
#include <cstring>
#include <string>

#include "parley/sandbox/sandbox.hpp"

namespace parley::sandbox {

std::string_view to_string(SandboxError error) {
  // clang-format off
  switch (error) {
    case SandboxError::invalid_plan: return "invalid_plan";
    case SandboxError::not_root: return "not_root";
    case SandboxError::account_lookup: return "account_lookup";
    case SandboxError::no_such_account: return "no_such_account";
    case SandboxError::account_is_root: return "account_is_root";
    case SandboxError::empty_dir_create: return "empty_dir_create";
    case SandboxError::empty_dir_open: return "empty_dir_open";
    case SandboxError::empty_dir_unsafe: return "empty_dir_unsafe";
    case SandboxError::empty_dir_not_empty: return "empty_dir_not_empty";
    case SandboxError::chroot: return "chroot";
    case SandboxError::chdir: return "chdir";
    case SandboxError::setgroups: return "setgroups";
    case SandboxError::setresgid: return "setresgid";
    case SandboxError::setresuid: return "setresuid";
    case SandboxError::privileges_regainable: return "privileges_regainable";
    case SandboxError::no_new_privs: return "no_new_privs";
    case SandboxError::dumpable: return "dumpable";
    case SandboxError::seccomp_filter: return "seccomp_filter";
    case SandboxError::seccomp_load: return "seccomp_load";
  }
  // clang-format on
  return "unknown";
}

std::string to_string(const Failure& failure) {
  std::string text(to_string(failure.error));
  if (failure.sys_errno != 0) text += std::string(": ") + std::strerror(failure.sys_errno);
  return text;
}

std::expected<void, Failure> validate(const Plan& plan) {
  const Failure invalid{SandboxError::invalid_plan};
  // A name of the password database: not empty, no ':' (its separator), no '/',
  // no leading '-' (useradd's own rule), no control characters.
  if (plan.account.empty() || plan.account.front() == '-') return std::unexpected(invalid);
  for (unsigned char c : plan.account)
    if (c == ':' || c == '/' || c < 0x20 || c == 0x7f) return std::unexpected(invalid);
  // An absolute path without "." or ".." (what is checked is what becomes the
  // root), and not "/" itself, which would confine nothing.
  const auto& dir = plan.empty_dir;
  if (!dir.is_absolute() || dir == dir.root_path()) return std::unexpected(invalid);
  for (const auto& part : dir.relative_path())
    if (part == "." || part == "..") return std::unexpected(invalid);
  return {};
}

}  // namespace parley::sandbox

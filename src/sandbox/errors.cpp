// The names of confine()'s steps and the checks of a Plan that touch nothing.
#include <cstring>
#include <string>

#include "parley/sandbox/sandbox.hpp"
#include "parley/wire/enum_names.hpp"

namespace parley::sandbox {

std::string_view to_string(SandboxError error) {
  constexpr std::array<std::string_view, 19> names{
      "invalid_plan", "not_root", "account_lookup", "no_such_account", "account_is_root",
      "empty_dir_create", "empty_dir_open", "empty_dir_unsafe", "empty_dir_not_empty", "chroot",
      "chdir", "setgroups", "setresgid", "setresuid", "privileges_regainable", "no_new_privs",
      "dumpable", "seccomp_filter", "seccomp_load"};
  static_assert(names.size() ==
                wire::enum_count(SandboxError::invalid_plan, SandboxError::seccomp_load));
  return wire::enum_name(error, names);
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

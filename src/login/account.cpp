#include "parley/login/account.hpp"

#include <grp.h>
#include <pwd.h>
#include <shadow.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

namespace parley::login {
namespace {

/// Calls a *_r lookup, growing its buffer on ERANGE. Returns the errno (0: done).
template <class Lookup>
int with_buffer(std::vector<char>& buffer, Lookup lookup) {
  for (;;) {
    const int rc = lookup(buffer);
    if (rc == ERANGE && buffer.size() < (1u << 20)) {
      buffer.resize(buffer.size() * 2);
      continue;
    }
    return rc;
  }
}

Account from_passwd(const passwd& pw) {
  Account a;
  a.name = pw.pw_name ? pw.pw_name : "";
  a.uid = pw.pw_uid;
  a.gid = pw.pw_gid;
  a.home = pw.pw_dir && *pw.pw_dir ? pw.pw_dir : "/";
  a.shell = pw.pw_shell && *pw.pw_shell ? pw.pw_shell : "/bin/sh";
  return a;
}

bool refusal_shell(std::string_view shell) {
  const auto slash = shell.rfind('/');
  const std::string_view base = slash == std::string_view::npos ? shell : shell.substr(slash + 1);
  return base == "nologin" || base == "false";
}

}  // namespace

std::expected<std::optional<Account>, std::string> find_account(std::string_view name) {
  const std::string user(name);
  if (user.empty() || user.find('\0') != std::string::npos) return std::optional<Account>();
  const long hint = ::sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buffer(hint > 0 ? static_cast<std::size_t>(hint) : 16384);
  passwd entry{};
  passwd* found = nullptr;
  const int rc = with_buffer(buffer, [&](std::vector<char>& b) {
    return ::getpwnam_r(user.c_str(), &entry, b.data(), b.size(), &found);
  });
  if (rc != 0) return std::unexpected(std::string("password database: ") + std::strerror(rc));
  if (found == nullptr) return std::optional<Account>();
  return from_passwd(entry);
}

std::expected<Account, std::string> with_groups(Account a) {
  int count = 32;
  for (int tries = 0; tries < 8; ++tries) {
    a.groups.resize(static_cast<std::size_t>(count));
    int n = count;
    if (::getgrouplist(a.name.c_str(), a.gid, a.groups.data(), &n) >= 0) {
      a.groups.resize(static_cast<std::size_t>(n));
      return a;
    }
    count = n > count ? n : count * 2;  // glibc says the size it needs; grow regardless
  }
  return std::unexpected("cannot list the groups of '" + a.name + "'");
}

std::expected<Account, std::string> current_account() {
  std::vector<char> buffer(16384);
  passwd entry{};
  passwd* found = nullptr;
  const uid_t uid = ::geteuid();
  const int rc = with_buffer(buffer, [&](std::vector<char>& b) {
    return ::getpwuid_r(uid, &entry, b.data(), b.size(), &found);
  });
  if (rc != 0) return std::unexpected(std::string("password database: ") + std::strerror(rc));
  if (found == nullptr)
    return std::unexpected("uid " + std::to_string(uid) + " has no entry in the password database");
  return from_passwd(entry);
}

std::optional<std::string> login_refusal(const Account& account, long today) {
  std::vector<char> buffer(4096);
  spwd entry{};
  spwd* found = nullptr;
  const int rc = with_buffer(buffer, [&](std::vector<char>& b) {
    return ::getspnam_r(account.name.c_str(), &entry, b.data(), b.size(), &found);
  });
  if (rc == 0 && found != nullptr) {
    if (entry.sp_expire > 0 && today > entry.sp_expire) return "account has expired";
    const char* hash = entry.sp_pwdp != nullptr ? entry.sp_pwdp : "";
    // usermod -L and passwd -l put "!" before the hash; useradd's bare "!" only
    // says no password was ever set (a key-only account), which is no lock.
    if ((hash[0] == '!' && hash[1] != '\0') || std::strncmp(hash, "*LK*", 4) == 0)
      return "account is locked";
  }
  struct stat st {};
  if (::stat(account.shell.c_str(), &st) != 0) return "shell " + account.shell + " does not exist";
  if (!S_ISREG(st.st_mode) || (st.st_mode & (S_IXUSR | S_IXGRP | S_IXOTH)) == 0)
    return "shell " + account.shell + " is not executable";
  if (refusal_shell(account.shell)) return "shell " + account.shell + " refuses logins";
  return std::nullopt;
}

long days_since_epoch() { return static_cast<long>(std::time(nullptr) / 86400); }

std::optional<RootLogin> parse_root_login(std::string_view text) {
  if (text == "no") return RootLogin::no;
  if (text == "prohibit-password" || text == "without-password") return RootLogin::prohibit_password;
  if (text == "yes") return RootLogin::yes;
  return std::nullopt;
}

bool root_login_allowed(RootLogin rule, uid_t uid, std::string_view method) {
  if (uid != 0) return true;
  switch (rule) {
    case RootLogin::yes:
      return true;
    case RootLogin::prohibit_password:
      return method == "publickey";
    case RootLogin::no:
      return false;
  }
  return false;
}

}  // namespace parley::login

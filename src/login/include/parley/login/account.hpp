// OS accounts as a login sees them: who the user is (uid, groups, home, shell)
// and whether sshd would let them in at all.
#pragma once

#include <sys/types.h>

#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace parley::login {

/// An account of the password database. `groups` (what initgroups(3) would
/// set) is filled only by with_groups(), for a session about to start, so a
/// forked child can take them on without touching /etc/group.
struct Account {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
  std::string home;   // "/" when the database has none
  std::string shell;  // "/bin/sh" when the database has none (as login(1))
  std::vector<gid_t> groups;
};

/// getpwnam_r(3); thread-safe. nullopt: no such account. The error says why
/// the lookup itself failed. `groups` is left empty.
std::expected<std::optional<Account>, std::string> find_account(std::string_view name);

/// The account with its supplementary groups (getgrouplist(3)); reads the group
/// database, so only for a session about to start.
std::expected<Account, std::string> with_groups(Account account);

/// The account parleyd itself runs as (geteuid()).
std::expected<Account, std::string> current_account();

/// Why an account may not log in, as sshd refuses it (auth.c allowed_user),
/// or stricter: the account has expired (shadow's expiry date has passed), its
/// password is locked ("!" before a hash, or "*LK*"; a bare "!" is an account
/// that never had a password, as useradd leaves it), or its shell does not exist, is not an
/// executable file, or is a refusal shell (nologin, false). The shadow entry is
/// read only when readable (parleyd as root); `today` is days since 1970-01-01.
/// nullopt: nothing stands in the way.
std::optional<std::string> login_refusal(const Account& account, long today);

/// Days since 1970-01-01 of the current time (shadow's unit).
long days_since_epoch();

/// OpenSSH's PermitRootLogin.
enum class RootLogin { no, prohibit_password, yes };

/// "no", "prohibit-password" (also "without-password", its old name) or "yes".
std::optional<RootLogin> parse_root_login(std::string_view text);

/// Whether `method` ("publickey", "password", "keyboard-interactive", ...) may
/// complete a step for `account` under `rule`. Only uid 0 is restricted;
/// prohibit-password allows publickey alone, as sshd's auth_root_allowed().
bool root_login_allowed(RootLogin rule, uid_t uid, std::string_view method);

}  // namespace parley::login

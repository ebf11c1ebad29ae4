// confine(): the privilege steps in the order that leaves no way back (root is
// needed for chroot and setgroups, so they come before the uid is dropped; the
// filter comes last, so the steps before it may use any system call).
#include <grp.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "filter.hpp"
#include "parley/sandbox/sandbox.hpp"

namespace parley::sandbox {
namespace {

struct Ids {
  uid_t uid;
  gid_t gid;
};

// getpwnam_r(3), resolved while /etc/passwd is still reachable.
std::expected<Ids, Failure> resolve(const std::string& account) {
  long hint = ::sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buffer(hint > 0 ? static_cast<size_t>(hint) : 4096);
  passwd entry{};
  passwd* found = nullptr;
  int rc;
  while ((rc = ::getpwnam_r(account.c_str(), &entry, buffer.data(), buffer.size(), &found)) ==
             ERANGE &&
         buffer.size() < (1u << 20))
    buffer.resize(buffer.size() * 2);
  if (rc != 0) return std::unexpected(Failure{SandboxError::account_lookup, rc});
  if (!found) return std::unexpected(Failure{SandboxError::no_such_account});
  if (found->pw_uid == 0 || found->pw_gid == 0)
    return std::unexpected(Failure{SandboxError::account_is_root});
  return Ids{found->pw_uid, found->pw_gid};
}

// After the drop, none of these may work (as sshd's permanently_set_uid checks).
bool can_regain_root(const Ids& ids) {
  if (::setuid(0) == 0 || ::setresuid(0, 0, 0) == 0 || ::setgid(0) == 0 || ::setegid(0) == 0)
    return true;
  uid_t r, e, s;
  gid_t rg, eg, sg;
  if (::getresuid(&r, &e, &s) != 0 || ::getresgid(&rg, &eg, &sg) != 0) return true;
  return r != ids.uid || e != ids.uid || s != ids.uid || rg != ids.gid || eg != ids.gid ||
         sg != ids.gid;
}

}  // namespace

std::expected<void, Failure> confine(const Plan& plan) {
  if (auto valid = validate(plan); !valid) return valid;
  // Nothing is changed before this: as an ordinary user chroot and setres*id
  // would fail half-way, leaving a process that looks confined and is not.
  if (::geteuid() != 0) return std::unexpected(Failure{SandboxError::not_root});

  auto ids = resolve(plan.account);
  if (!ids) return std::unexpected(ids.error());
  auto dir = open_empty_dir(plan.empty_dir);
  if (!dir) return std::unexpected(dir.error());

  if (::fchdir(dir->get()) != 0 || ::chroot(".") != 0)
    return std::unexpected(Failure{SandboxError::chroot, errno});
  if (::chdir("/") != 0) return std::unexpected(Failure{SandboxError::chdir, errno});
  dir->reset();

  if (::setgroups(0, nullptr) != 0) return std::unexpected(Failure{SandboxError::setgroups, errno});
  if (::setresgid(ids->gid, ids->gid, ids->gid) != 0)
    return std::unexpected(Failure{SandboxError::setresgid, errno});
  if (::setresuid(ids->uid, ids->uid, ids->uid) != 0)
    return std::unexpected(Failure{SandboxError::setresuid, errno});
  if (can_regain_root(*ids)) return std::unexpected(Failure{SandboxError::privileges_regainable});

  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
    return std::unexpected(Failure{SandboxError::no_new_privs, errno});
  // No core dump (it would hold session keys) and no ptrace by the same uid.
  if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
    return std::unexpected(Failure{SandboxError::dumpable, errno});
  return install_filter(plan.allow);
}

}  // namespace parley::sandbox

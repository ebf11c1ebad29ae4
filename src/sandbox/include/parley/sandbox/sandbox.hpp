// The network process's confinement: once parleyd's network process has every
// socket it needs, confine() takes away everything else it could reach (the
// file system, root, other processes, most system calls), so that a memory-safety
// bug in the code that parses peer bytes reaches nothing worth having.
#pragma once

#include <sys/types.h>

#include <expected>
#include <filesystem>
#include <string>
#include <string_view>

#include "parley/wire/unique_fd.hpp"

namespace parley::sandbox {

/// System calls beyond the event loop's that the caller opts into; all are off by
/// default, so a plan says in its own words what more it needs.
struct Syscalls {
  /// socket(AF_INET or AF_INET6, SOCK_STREAM) and connect(): the network process
  /// opens direct-tcpip (local forwarding) connections itself. Name resolution is
  /// not included (no file can be read); the caller connects to addresses.
  bool outbound_connect = false;
};

/// What the confined process becomes.
struct Plan {
  /// The unprivileged account (uid and gid, no supplementary groups) the process
  /// runs as; resolved before chroot. Must not be uid 0 or gid 0.
  std::string account = "parleyd";
  /// The new root: an absolute path, created root-owned 0755 when missing, and
  /// refused unless it is a directory owned by root, not writable by group or
  /// others, and empty (as sshd checks its privsep path).
  std::filesystem::path empty_dir = "/run/parleyd/empty";
  Syscalls allow;
};

/// The step of confine() that failed; each names what could not be done.
enum class SandboxError {
  invalid_plan,           // empty or odd account name, relative or "/" empty_dir
  not_root,               // not running as root: nothing was changed
  account_lookup,         // getpwnam_r failed (errno)
  no_such_account,        // the account does not exist
  account_is_root,        // the account has uid 0 or gid 0
  empty_dir_create,       // mkdir of the directory or a parent failed (errno)
  empty_dir_open,         // it could not be opened (errno; ENOTDIR: a symlink or a file)
  empty_dir_unsafe,       // not a directory, not owned by root, or group/other-writable
  empty_dir_not_empty,    // something is inside it
  chroot,                 // fchdir/chroot into it failed (errno)
  chdir,                  // chdir("/") after chroot failed (errno)
  setgroups,              // setgroups(0) failed (errno)
  setresgid,              // (errno)
  setresuid,              // (errno)
  privileges_regainable,  // setuid(0), setresuid(0,0,0) or setgid(0) still succeed
  no_new_privs,           // prctl(PR_SET_NO_NEW_PRIVS) failed (errno)
  dumpable,               // prctl(PR_SET_DUMPABLE, 0) failed (errno)
  seccomp_filter,         // building the filter failed (errno from libseccomp)
  seccomp_load,           // the kernel refused the filter (errno from libseccomp)
};

/// "setresuid", "empty_dir_not_empty", ...: the enumerator's own name.
std::string_view to_string(SandboxError error);

/// A failed step and the errno it saw (0 when the step failed without one).
struct Failure {
  SandboxError error;
  int sys_errno = 0;
};

/// "setresuid: Operation not permitted", or the step's name alone without errno.
std::string to_string(const Failure& failure);

/// The checks of `plan` that need no privileges and touch nothing.
std::expected<void, Failure> validate(const Plan& plan);

/// Opens `dir` (creating it and missing parents root-owned 0755 first) without
/// following a symlink, and checks it as Plan::empty_dir says. The descriptor
/// returned is the one confine() chroots into, so nothing can be swapped in between.
std::expected<UniqueFd, Failure> open_empty_dir(const std::filesystem::path& dir);

/// Confines the calling process, in this order: checks the plan and that it runs
/// as root (else not_root, with nothing changed); resolves the account; opens the
/// empty directory; chroot into it and chdir("/"); setgroups(0); setresgid;
/// setresuid; checks that root cannot be regained; PR_SET_NO_NEW_PRIVS;
/// PR_SET_DUMPABLE 0; a seccomp filter for every thread (TSYNC) that allows what an
/// Asio epoll loop with threads needs and kills the process on anything else.
/// Irreversible; a failure after the first change leaves the process partly
/// confined, so the caller must exit on any error. Call it once every socket,
/// descriptor and thread the process needs exists: no file can be opened after.
/// The process cannot fork (only threads), so a sanitizer's leak check at exit
/// (which forks or ptraces) must be off in it: end it with _exit or run with
/// ASAN_OPTIONS=detect_leaks=0.
std::expected<void, Failure> confine(const Plan& plan);

}  // namespace parley::sandbox

// The network process's system calls: an allow-list of what an Asio epoll event
// loop with threads uses on descriptors it already holds. Anything else kills the
// whole process (SCMP_ACT_KILL_PROCESS): no open/openat, no execve, no socket,
// bind, listen or connect (unless opted into), no ptrace, no set*id, no fork, no
// kill of another process.
#include "filter.hpp"

#include <fcntl.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <initializer_list>
#include <memory>

namespace parley::sandbox {
namespace {

struct ReleaseFilter {
  void operator()(void* ctx) const { seccomp_release(ctx); }
};
using FilterCtx = std::unique_ptr<void, ReleaseFilter>;

// libseccomp returns -errno.
Failure filter_failure(int rc) {
  return {SandboxError::seccomp_filter, -rc};
}

// Calls allowed whatever their arguments, each with why it is there.
// clang-format off
constexpr int kAllowed[] = {
    // Moving bytes on descriptors already held (sockets, the monitor's socketpair,
    // stderr for the log). recvmsg/sendmsg also carry SCM_RIGHTS from the monitor;
    // sendmmsg sends the monitor several requests with one wake; recvfrom is
    // recv(2), which Asio uses for a single buffer.
    SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(readv), SCMP_SYS(writev), SCMP_SYS(recvfrom),
    SCMP_SYS(recvmsg), SCMP_SYS(sendmsg), SCMP_SYS(sendmmsg),
    // Asio's reactor: epoll, its eventfd interrupter, timerfd for its timers; poll
    // for Asio's synchronous waits on a non-blocking socket.
    SCMP_SYS(epoll_create), SCMP_SYS(epoll_create1), SCMP_SYS(epoll_ctl), SCMP_SYS(epoll_wait),
    SCMP_SYS(epoll_pwait), SCMP_SYS(epoll_pwait2), SCMP_SYS(eventfd2), SCMP_SYS(timerfd_create),
    SCMP_SYS(timerfd_settime), SCMP_SYS(timerfd_gettime), SCMP_SYS(poll), SCMP_SYS(ppoll),
    // Connections on sockets handed in: accepting on a listener created before
    // confine(), shutting down, options, addresses for the log. close for all.
    SCMP_SYS(accept), SCMP_SYS(accept4), SCMP_SYS(shutdown), SCMP_SYS(getsockopt),
    SCMP_SYS(setsockopt), SCMP_SYS(getsockname), SCMP_SYS(getpeername), SCMP_SYS(close),
    // Memory: malloc (brk, mmap, mremap, madvise), thread stacks and their guard
    // pages (mprotect), ASan's shadow and allocator (the same calls).
    SCMP_SYS(brk), SCMP_SYS(mmap), SCMP_SYS(munmap), SCMP_SYS(mprotect), SCMP_SYS(madvise),
    SCMP_SYS(mremap),
    // Threads: futex for every lock and condition variable, the robust-list and
    // rseq registration glibc does for each new thread, sched_yield in spin loops,
    // the signal mask and alternate stack (glibc's thread start, ASan's handlers).
    SCMP_SYS(futex), SCMP_SYS(set_robust_list), SCMP_SYS(rseq), SCMP_SYS(sched_yield),
    SCMP_SYS(rt_sigaction), SCMP_SYS(rt_sigprocmask), SCMP_SYS(rt_sigreturn),
    SCMP_SYS(sigaltstack),
    // sigwait(3): parleyd's network process takes SIGTERM on a waiting thread.
    SCMP_SYS(rt_sigtimedwait),
    // The CPU mask, read-only: pthread_getattr_np (ASan calls it as each thread
    // starts) and get_nprocs read it.
    SCMP_SYS(sched_getaffinity),
    // Time (when the vDSO falls back to the kernel) and sleeping.
    SCMP_SYS(clock_gettime), SCMP_SYS(clock_getres), SCMP_SYS(gettimeofday),
    SCMP_SYS(clock_nanosleep), SCMP_SYS(nanosleep),
    // Randomness for the transport's RNG (OpenSSL's DRBG reseeds from getrandom).
    SCMP_SYS(getrandom),
    // Identity of the process itself; ending a thread or the process.
    SCMP_SYS(getpid), SCMP_SYS(gettid), SCMP_SYS(exit), SCMP_SYS(exit_group),
    // The kernel restarts an interrupted sleep through this.
    SCMP_SYS(restart_syscall),
};
// clang-format on

// A test of argument `index`: with SCMP_CMP_EQ, that it equals `a`; with
// SCMP_CMP_MASKED_EQ, that it masked with `a` equals `b`. libseccomp's SCMP_A*_64
// macros are C compound literals, which C++ does not have.
scmp_arg_cmp arg(unsigned index, scmp_compare op, scmp_datum_t a, scmp_datum_t b = 0) {
  return scmp_arg_cmp{index, op, a, b};
}
scmp_arg_cmp arg_is(unsigned index, long value) {
  return arg(index, SCMP_CMP_EQ, static_cast<scmp_datum_t>(value));
}

// Adds rules, keeping the first failure (libseccomp's -errno) so that the list
// below reads as a list.
class Rules {
 public:
  explicit Rules(scmp_filter_ctx ctx) : ctx_(ctx) {}
  void allow(int syscall, std::initializer_list<scmp_arg_cmp> args = {}) {
    add(SCMP_ACT_ALLOW, syscall, args);
  }
  void refuse(int syscall, int error) {
    add(SCMP_ACT_ERRNO(static_cast<uint32_t>(error)), syscall, {});
  }
  int rc() const { return rc_; }

 private:
  void add(uint32_t action, int syscall, std::initializer_list<scmp_arg_cmp> args) {
    if (rc_ < 0) return;
    rc_ = seccomp_rule_add_exact_array(ctx_, action, syscall, static_cast<unsigned>(args.size()),
                                       args.begin());
  }
  scmp_filter_ctx ctx_;
  int rc_ = 0;
};

}  // namespace

std::expected<void, Failure> install_filter(const Syscalls& allow) {
  FilterCtx ctx(seccomp_init(SCMP_ACT_KILL_PROCESS));
  if (!ctx) return std::unexpected(Failure{SandboxError::seccomp_filter, ENOMEM});
  scmp_filter_ctx f = ctx.get();
  // Every thread, also those Asio started before confine(); a foreign
  // architecture's system call numbers (int 0x80, x32) kill too.
  if (int rc = seccomp_attr_set(f, SCMP_FLTATR_CTL_TSYNC, 1); rc < 0)
    return std::unexpected(filter_failure(rc));
  if (int rc = seccomp_attr_set(f, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS); rc < 0)
    return std::unexpected(filter_failure(rc));

  Rules rules(f);
  for (int syscall : kAllowed) rules.allow(syscall);
  // New threads only (std::thread, Asio's pool): clone must share the thread
  // group, so no fork and no new process. clone3 cannot be inspected (its flags
  // are behind a pointer); ENOSYS makes glibc fall back to clone.
  rules.allow(SCMP_SYS(clone), {arg(0, SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD)});
  rules.refuse(SCMP_SYS(clone3), ENOSYS);
  // Files: none may be opened or looked at (the root is an empty directory as
  // well), but glibc looks at some on its own, later: malloc reads
  // /proc/sys/vm/overcommit_memory the first time it trims a thread's heap,
  // which killed the network process in the middle of a free() under 50
  // concurrent logins. glibc copes with a refusal, so these are refused (EPERM,
  // as a sandbox refuses; OpenSSH's filter answers EACCES) rather than killed.
  for (int syscall : {SCMP_SYS(open), SCMP_SYS(openat), SCMP_SYS(openat2), SCMP_SYS(stat),
                      SCMP_SYS(lstat), SCMP_SYS(newfstatat), SCMP_SYS(statx), SCMP_SYS(access),
                      SCMP_SYS(faccessat), SCMP_SYS(faccessat2), SCMP_SYS(readlink),
                      SCMP_SYS(readlinkat)})
    rules.refuse(syscall, EPERM);
  // send(2) is sendto without an address (Asio, one buffer); with one it would
  // reach a peer of the sender's choosing on an unconnected socket.
  rules.allow(SCMP_SYS(sendto), {arg_is(4, 0)});
  // Asio sets non-blocking mode with FIONBIO and sizes reads with FIONREAD.
  // TIOCSWINSZ: a session's "window-change" (RFC 4254 §6.7) sets the size of
  // the terminal whose master the monitor handed over; the kernel then sends
  // the program SIGWINCH. No other ioctl: no TIOCSTI (typing into a
  // terminal), no device.
  rules.allow(SCMP_SYS(ioctl), {arg_is(1, FIONBIO)});
  rules.allow(SCMP_SYS(ioctl), {arg_is(1, FIONREAD)});
  rules.allow(SCMP_SYS(ioctl), {arg_is(1, TIOCSWINSZ)});
  // Descriptor flags (O_NONBLOCK, FD_CLOEXEC); not F_DUPFD or locks.
  for (int cmd : {F_GETFL, F_SETFL, F_GETFD, F_SETFD})
    rules.allow(SCMP_SYS(fcntl), {arg_is(1, cmd)});
  // abort() and raise() signal the calling thread; no other process may be signalled.
  rules.allow(SCMP_SYS(tgkill), {arg_is(0, ::getpid())});
#ifdef PARLEY_SANITIZER_RUNTIME
  // UBSan's vptr check asks whether memory is readable by write(2)ing it into a
  // pipe (IsAccessibleMemoryRange); only in sanitizer builds (PARLEY_SANITIZE).
  rules.allow(SCMP_SYS(pipe2));
#endif
  if (allow.outbound_connect) {
    // TCP sockets only (the type masked of SOCK_NONBLOCK and SOCK_CLOEXEC).
    for (int domain : {AF_INET, AF_INET6})
      rules.allow(SCMP_SYS(socket),
                  {arg_is(0, domain), arg(1, SCMP_CMP_MASKED_EQ, 0xf, SOCK_STREAM)});
    rules.allow(SCMP_SYS(connect));
  }
  if (rules.rc() < 0) return std::unexpected(filter_failure(rules.rc()));

  if (int load = seccomp_load(f); load < 0)
    return std::unexpected(Failure{SandboxError::seccomp_load, -load});
  return {};
}

}  // namespace parley::sandbox

// parleyd as two processes (issue 14, --privilege-separation): the root
// monitor, which holds the host keys and decides every authentication, and the
// network process, which parses every byte from the network as the `parleyd`
// account inside an empty chroot under a seccomp filter.
#pragma once

#include <sys/types.h>

#include <expected>
#include <functional>
#include <string>

#include "parley/privsep/channel.hpp"

namespace parleyd {

/// The network process's half, before it runs: its end of the socketpair and
/// the listening socket it was given.
struct NetworkHalf {
  parley::privsep::Channel channel;
  int listen_fd = -1;
};

/// Binds the listening socket (as root), makes the socketpair and forks. In the
/// child, `network` runs and its result is the child's exit status; in the
/// parent, `monitor` runs with the child's pid. Nothing secret has been loaded
/// when this is called: the monitor loads the host keys after the fork.
/// `ended` hears how the network process ended (its wait status), unless it
/// was only the SIGTERM sent to it here because the monitor ended first.
int split_processes(const std::string& address, std::uint16_t port,
                    const std::function<int(NetworkHalf)>& network,
                    const std::function<int(parley::privsep::Channel, pid_t)>& monitor,
                    const std::function<void(const std::string&)>& fail,
                    const std::function<void(int wait_status)>& ended);

/// "exited with status 1", "killed by signal 31 (Bad system call)".
std::string describe_wait_status(int wait_status);

}  // namespace parleyd

// How many connections parleyd can hold at once, and why: said once at start.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace parleyd {

/// Descriptors kept free beyond those open at start: a login reads the account
/// database and host files, a session opens pipes or a terminal and a pidfd.
inline constexpr std::size_t reserved_descriptors = 32;

/// What bounds the number of connections: each costs one descriptor (its socket)
/// in the process that serves it, and the server refuses more than max_connections.
struct Capacity {
  std::uint64_t soft_limit = 0;       // RLIMIT_NOFILE now (parleyd raised it to the hard limit)
  std::uint64_t hard_limit = 0;
  std::uint64_t limit_before = 0;     // the soft limit parleyd was started with
  std::size_t open_at_start = 0;      // descriptors open when the server started
  std::size_t max_connections = 0;    // driver::ServerOptions::max_connections

  /// Connections that can be open at once.
  std::size_t connections() const;
};

/// Raises the open-file soft limit to the hard limit; returns the limits then
/// (limit_before is the soft limit as started). Nothing else is filled in.
Capacity raise_descriptor_limit();

/// Descriptors this process has open now (from /proc/self/fd; 0 if unreadable).
std::size_t open_descriptors();

/// The start-up line: "can hold N connections at once: ..." naming the limit,
/// the descriptors open and reserved, and `who` ("" or "the network process ").
std::string capacity_line(const Capacity& capacity, std::string_view who);

}  // namespace parleyd

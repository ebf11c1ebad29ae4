// Admission control for unauthenticated connections, as OpenSSH's sshd does it:
// MaxStartups (random early drop), PerSourceMaxStartups grouped by
// PerSourceNetBlockSize, and PerSourcePenalties (sshd_config(5), srclimit.c).
//
// Pure logic: the caller passes the time and the limiter draws from an injected
// random source, so tests need neither sleeping nor luck. Thread-safe: the
// accept loop admits while connection threads report their ends.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "parley/transport/transport.hpp"

namespace parley::driver {

using transport::Instant;
using Seconds = std::chrono::duration<double>;

/// A peer's address: 4 bytes (IPv4, including IPv4-mapped IPv6) or 16 (IPv6).
struct SourceAddress {
  bool v6 = false;
  std::array<std::uint8_t, 16> bytes{};  // the first 4 used for IPv4

  /// "192.0.2.1", "2001:db8::1", "::ffff:192.0.2.1" (taken as IPv4); nullopt otherwise.
  static std::optional<SourceAddress> parse(std::string_view text);
  /// The address with all but its first `bits` bits cleared.
  SourceAddress masked(unsigned bits) const;
  /// "192.0.2.0/24", "2001:db8::/64".
  std::string to_string(unsigned bits) const;
  /// A netblock as to_string() writes it, "192.0.2.0/24" or "2001:db8::/64":
  /// the address masked to its prefix length (at most 32 for IPv4, 128 for
  /// IPv6), or nullopt. Host bits set are cleared.
  static std::optional<std::pair<SourceAddress, unsigned>> parse_netblock(std::string_view text);
  auto operator<=>(const SourceAddress&) const = default;
};

/// MaxStartups start:rate:full: from `start` unauthenticated connections on, a
/// new one is dropped with probability rate% rising linearly to 100% at `full`.
struct MaxStartups {
  std::size_t start = 10;
  unsigned rate = 30;
  std::size_t full = 100;
  friend bool operator==(const MaxStartups&, const MaxStartups&) = default;
};

/// What PerSourcePenalties does when its table of sources is full.
enum class PenaltyOverflow {
  permissive,  // the soonest-to-expire penalties make room
  deny_all,    // every new connection of that address family is refused until some expire
};

/// PerSourcePenalties (OpenSSH 9.8 defaults). A penalty accrues per netblock;
/// once more than `min` is outstanding the netblock is refused at accept until
/// it expires; no netblock accrues more than `max`.
struct PenaltyPolicy {
  bool enabled = true;
  Seconds crash{90};
  Seconds authfail{5};
  Seconds noauth{1};
  Seconds grace_exceeded{10};
  Seconds max{600};
  Seconds min{15};
  std::size_t max_sources4 = 65536;
  std::size_t max_sources6 = 65536;
  PenaltyOverflow overflow = PenaltyOverflow::permissive;
  PenaltyOverflow overflow6 = PenaltyOverflow::permissive;
  friend bool operator==(const PenaltyPolicy&, const PenaltyPolicy&) = default;
};

struct SourceLimits {
  MaxStartups max_startups;
  /// PerSourceMaxStartups: unauthenticated connections per netblock; none by default.
  std::optional<std::size_t> per_source_max_startups;
  /// PerSourceNetBlockSize: the prefix lengths that group addresses into a source.
  unsigned netblock4 = 32;
  unsigned netblock6 = 128;
  PenaltyPolicy penalties;
};

/// "10:30:100" or "10" (start = full). Errors name the bad part.
std::expected<MaxStartups, std::string> parse_max_startups(std::string_view text);
/// "32:128" or "24" (IPv4 only).
std::expected<std::pair<unsigned, unsigned>, std::string> parse_netblock_size(
    std::string_view text);
/// "yes", "no", or space/comma-separated "crash:90 authfail:5s max:10m overflow:deny-all ...";
/// keys not named keep their value in `base`.
std::expected<PenaltyPolicy, std::string> parse_penalties(std::string_view text,
                                                          PenaltyPolicy base = {});
/// What the parsers above read back as the same value (parleyd -T prints it):
/// "start:rate:full"; "no" or every key of PerSourcePenalties.
std::string to_text(const MaxStartups& m);
std::string to_text(const PenaltyPolicy& p);

/// Why a connection was refused at accept.
enum class Refusal {
  startups_full,         // MaxStartups: `full` unauthenticated connections
  startups_random_drop,  // MaxStartups: the random early drop
  per_source,            // PerSourceMaxStartups for its netblock
  penalised,             // its netblock has an active penalty
  penalty_table_full,    // PerSourcePenalties overflow deny-all
};
std::string_view to_string(Refusal r);

/// How a connection's pre-authentication phase ended (sshd's preauth exit status).
enum class PreauthEnd {
  authenticated,   // no penalty
  crash,           // the connection's code failed
  authfail,        // it tried to authenticate and did not succeed
  noauth,          // it left without trying
  grace_exceeded,  // LoginGraceTime passed
};

/// A netblock whose penalty just became active: one log line, rate-limited.
struct PenaltyNotice {
  std::string netblock;  // "192.0.2.1/32"
  std::string_view reason;
  Seconds duration;
  std::size_t suppressed = 0;  // notices not given since the last one (the rate limit)
};

/// One penalty accrual, for sharing it with other instances
/// (SharedState::add_penalty): `netblock` as SourceAddress::to_string writes
/// it, the seconds just added and the policy's `max`, whole seconds (rounded up).
struct PenaltyAccrual {
  std::string netblock;
  std::chrono::seconds seconds{0};
  std::chrono::seconds max{0};
};

/// A penalty another instance accrued (SharedState::penalties()): `netblock`
/// is refused until `until`, Unix seconds.
struct SharedPenalty {
  std::string netblock;
  std::int64_t until = 0;
};

/// What import() did: netblocks added, extended, and left out (a prefix
/// length this limiter does not use, text that is not a netblock, or no room
/// in a deny-all table), and notices for those whose penalty became active
/// (rate-limited with the local ones).
struct PenaltyImport {
  std::size_t added = 0;
  std::size_t extended = 0;
  std::size_t ignored = 0;
  std::vector<PenaltyNotice> notices;
};

class SourceLimiter {
 public:
  using Ticket = std::uint64_t;
  /// A uniformly random integer in [0, bound).
  using Uniform = std::function<std::uint32_t(std::uint32_t bound)>;

  SourceLimiter(SourceLimits limits, Uniform uniform);

  /// Decides on a new connection from `peer`. Admitted, it counts as
  /// unauthenticated until authenticated() or ended() with its ticket.
  std::expected<Ticket, Refusal> admit(const SourceAddress& peer, Instant now);
  /// The connection authenticated: it leaves the MaxStartups counts and ends without penalty.
  void authenticated(Ticket ticket);
  /// The connection closed. A penalty for `how` accrues unless it authenticated;
  /// returns a notice when that made its netblock's penalty active (rate-limited).
  std::optional<PenaltyNotice> ended(Ticket ticket, PreauthEnd how, Instant now);

  /// Accrues a penalty for `peer`'s netblock directly (ended() uses it).
  std::optional<PenaltyNotice> penalise(const SourceAddress& peer, PreauthEnd how, Instant now);

  /// Called with every accrual (by ended() and penalise(), on their caller's
  /// thread, outside the limiter's lock) so it can be shared with other
  /// instances; the listener must not block (queue it for a worker). Set it
  /// before the limiter is used.
  void set_accrual_listener(std::function<void(const PenaltyAccrual&)> listener);

  /// Takes penalties shared by other instances: each netblock's penalty ends
  /// at the later of its local end and the shared one (capped at the policy's
  /// `max` from now) and is active once more than `min` is outstanding, as a
  /// local one. `unix_now` and `now` are the same moment on the Unix clock and
  /// on the limiter's (steady) clock. Only netblocks of this limiter's prefix
  /// lengths are taken; new ones obey max_sources and its overflow policy.
  PenaltyImport import(std::span<const SharedPenalty> shared, std::int64_t unix_now, Instant now);

  /// Connections admitted and neither authenticated nor ended.
  std::size_t unauthenticated() const;
  /// Netblocks with a penalty (active or not) not yet expired at `now`.
  std::size_t penalised_sources(Instant now);

  /// At most this many penalty notices per notice_window; the rest are counted.
  static constexpr std::size_t notices_per_window = 5;
  static constexpr std::chrono::seconds notice_window{10};

 private:
  struct Unauthenticated {
    SourceAddress source;  // masked to its netblock
    bool authenticated = false;
  };
  struct Penalty {
    Instant expiry;
    bool active = false;
    std::string_view reason;
  };
  struct Table {
    std::map<SourceAddress, Penalty> by_source;
    std::set<std::pair<Instant, SourceAddress>> by_expiry;
  };

  SourceAddress netblock(const SourceAddress& a) const;
  std::optional<PenaltyNotice> accrue(const SourceAddress& peer, Seconds amount,
                                      std::string_view reason, Instant now);
  /// Adds `block` (a new source) to `t`, making room as the overflow policy
  /// says; false if it was not kept. Under mutex_.
  bool insert(Table& t, const SourceAddress& block, const Penalty& p);
  unsigned bits(const SourceAddress& a) const {
    return a.v6 ? limits_.netblock6 : limits_.netblock4;
  }
  bool drop_for_startups(std::size_t startups, Refusal& why);
  void expire(Table& t, Instant now);
  std::optional<PenaltyNotice> notice(const SourceAddress& source, std::string_view reason,
                                      Seconds duration, Instant now);

  const SourceLimits limits_;
  Uniform uniform_;
  std::function<void(const PenaltyAccrual&)> accrual_listener_;
  mutable std::mutex mutex_;
  Ticket next_ticket_ = 1;
  std::map<Ticket, Unauthenticated> open_;
  std::size_t unauthenticated_ = 0;
  std::map<SourceAddress, std::size_t> per_source_;
  Table v4_, v6_;
  Instant window_start_{};
  std::size_t window_notices_ = 0;
  std::size_t suppressed_ = 0;
};

}  // namespace parley::driver

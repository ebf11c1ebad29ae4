#include "parley/driver/source_limiter.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <iterator>
#include <optional>
#include <utility>
#include <vector>

namespace parley::driver {
namespace {

std::vector<std::string_view> split(std::string_view s, std::string_view separators) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (start < s.size()) {
    std::size_t end = s.find_first_of(separators, start);
    if (end == std::string_view::npos) end = s.size();
    if (end > start) out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

std::optional<std::size_t> number(std::string_view s) {
  std::size_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

// sshd_config(5) TIME FORMATS' units (either case), in seconds.
constexpr std::pair<char, double> time_units[] = {
    {'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}, {'w', 604800}};

/// sshd_config(5) TIME FORMATS: "90", "90s", "10m", "1h30m".
std::optional<Seconds> duration(std::string_view s) {
  if (s.empty()) return std::nullopt;
  double total = 0;
  std::size_t i = 0;
  while (i < s.size()) {
    std::size_t j = i;
    while (j < s.size() && s[j] >= '0' && s[j] <= '9') ++j;
    auto n = number(s.substr(i, j - i));
    if (!n) return std::nullopt;
    double unit = 1;
    if (j < s.size()) {
      const auto* found = std::find_if(std::begin(time_units), std::end(time_units),
                                       [&](const auto& u) { return u.first == (s[j] | 0x20); });
      if (found == std::end(time_units)) return std::nullopt;
      unit = found->second;
      ++j;
    }
    total += static_cast<double>(*n) * unit;
    i = j;
  }
  return Seconds(total);
}

/// A policy's seconds as whole seconds for the shared backend, rounded up so a
/// fraction still counts.
std::chrono::seconds whole_seconds(Seconds s) {
  return std::chrono::ceil<std::chrono::seconds>(s);
}

std::string_view reason_for(PreauthEnd how) {
  switch (how) {
    case PreauthEnd::crash: return "penalty: caused crash";
    case PreauthEnd::authfail: return "penalty: failed authentication";
    case PreauthEnd::noauth: return "penalty: connections without attempting authentication";
    case PreauthEnd::grace_exceeded: return "penalty: exceeded LoginGraceTime";
    case PreauthEnd::authenticated:
      break;
  }
  return "";
}

// PerSourcePenalties' key:value settings (sshd_config(5)), by the kind of value.
template <class T>
using PenaltyField = std::pair<std::string_view, T PenaltyPolicy::*>;
constexpr PenaltyField<Seconds> penalty_times[] = {
    {"crash", &PenaltyPolicy::crash},   {"authfail", &PenaltyPolicy::authfail},
    {"noauth", &PenaltyPolicy::noauth}, {"grace-exceeded", &PenaltyPolicy::grace_exceeded},
    {"max", &PenaltyPolicy::max},       {"min", &PenaltyPolicy::min}};
constexpr PenaltyField<std::size_t> penalty_counts[] = {
    {"max-sources4", &PenaltyPolicy::max_sources4}, {"max-sources6", &PenaltyPolicy::max_sources6}};
constexpr PenaltyField<PenaltyOverflow> penalty_overflows[] = {
    {"overflow", &PenaltyPolicy::overflow}, {"overflow6", &PenaltyPolicy::overflow6}};

/// Sets the field `key` names in `table` to parse(): nullopt if the table has
/// no such key, false if the value does not parse.
template <class T, std::size_t N, class Parse>
std::optional<bool> set_field(const PenaltyField<T> (&table)[N], PenaltyPolicy& p, std::string_view key,
                              Parse parse) {
  for (const auto& [name, field] : table) {
    if (key != name) continue;
    const std::optional<T> v = parse();
    if (v) p.*field = *v;
    return v.has_value();
  }
  return std::nullopt;
}

std::optional<std::size_t> positive_number(std::string_view s) {
  auto n = number(s);
  if (!n || *n == 0) return std::nullopt;
  return n;
}

std::optional<PenaltyOverflow> overflow_mode(std::string_view s) {
  if (s == "permissive") return PenaltyOverflow::permissive;
  if (s == "deny-all") return PenaltyOverflow::deny_all;
  return std::nullopt;
}

}  // namespace

std::optional<SourceAddress> SourceAddress::parse(std::string_view text) {
  const std::string s(text);
  SourceAddress a;
  if (inet_pton(AF_INET, s.c_str(), a.bytes.data()) == 1) return a;
  if (inet_pton(AF_INET6, s.c_str(), a.bytes.data()) != 1) return std::nullopt;
  // ::ffff:a.b.c.d is an IPv4 peer on a dual-stack socket: group it as IPv4.
  static constexpr std::uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::equal(std::begin(mapped), std::end(mapped), a.bytes.begin())) {
    std::copy(a.bytes.begin() + 12, a.bytes.end(), a.bytes.begin());
    std::fill(a.bytes.begin() + 4, a.bytes.end(), 0);
    return a;
  }
  a.v6 = true;
  return a;
}

SourceAddress SourceAddress::masked(unsigned bits) const {
  SourceAddress out = *this;
  const unsigned width = v6 ? 128 : 32;
  bits = std::min(bits, width);
  for (unsigned i = 0; i < width / 8; ++i) {
    const unsigned first = i * 8;
    if (first >= bits)
      out.bytes[i] = 0;
    else if (bits - first < 8)
      out.bytes[i] &= static_cast<std::uint8_t>(0xff00u >> (bits - first));
  }
  return out;
}

std::string SourceAddress::to_string(unsigned bits) const {
  char text[INET6_ADDRSTRLEN] = {};
  inet_ntop(v6 ? AF_INET6 : AF_INET, bytes.data(), text, sizeof text);
  return std::string(text) + "/" + std::to_string(bits);
}

std::optional<std::pair<SourceAddress, unsigned>> SourceAddress::parse_netblock(std::string_view text) {
  const auto slash = text.find('/');
  if (slash == std::string_view::npos || text.size() > 64) return std::nullopt;
  const std::string_view length = text.substr(slash + 1);
  unsigned bits = 0;
  auto [end, ec] = std::from_chars(length.data(), length.data() + length.size(), bits);
  if (ec != std::errc{} || end != length.data() + length.size() || length.empty()) return std::nullopt;
  auto address = parse(text.substr(0, slash));
  // "::ffff:192.0.2.0/120" is not a form to_string() writes: refuse it too.
  if (!address || address->v6 != (text.substr(0, slash).find(':') != std::string_view::npos))
    return std::nullopt;
  if (bits > (address->v6 ? 128u : 32u)) return std::nullopt;
  return std::pair{address->masked(bits), bits};
}

std::expected<MaxStartups, std::string> parse_max_startups(std::string_view text) {
  const auto parts = split(text, ":");
  const std::string bad = "MaxStartups '" + std::string(text) + "': ";
  if (parts.size() != 1 && parts.size() != 3)
    return std::unexpected(bad + "want start:rate:full or a number");
  std::vector<std::size_t> v;
  for (auto p : parts) {
    auto n = number(p);
    if (!n) return std::unexpected(bad + "'" + std::string(p) + "' is not a number");
    v.push_back(*n);
  }
  MaxStartups m;
  if (v.size() == 1) {
    m.start = m.full = v[0];
    m.rate = 100;
  } else {
    m.start = v[0];
    m.rate = static_cast<unsigned>(std::min<std::size_t>(v[1], 101));
    m.full = v[2];
  }
  // As sshd's servconf.c: start <= full, rate within 1..100, full > 0.
  if (m.full == 0) return std::unexpected(bad + "full must be at least 1");
  if (m.start > m.full) return std::unexpected(bad + "start must not exceed full");
  if (m.rate < 1 || m.rate > 100) return std::unexpected(bad + "rate must be 1 to 100");
  return m;
}

std::expected<std::pair<unsigned, unsigned>, std::string> parse_netblock_size(
    std::string_view text) {
  const auto parts = split(text, ":");
  const std::string bad = "PerSourceNetBlockSize '" + std::string(text) + "': ";
  if (parts.empty() || parts.size() > 2) return std::unexpected(bad + "want v4bits[:v6bits]");
  auto v4 = number(parts[0]);
  auto v6 = parts.size() == 2 ? number(parts[1]) : std::optional<std::size_t>(128);
  if (!v4 || *v4 > 32) return std::unexpected(bad + "IPv4 bits must be 0 to 32");
  if (!v6 || *v6 > 128) return std::unexpected(bad + "IPv6 bits must be 0 to 128");
  return std::pair<unsigned, unsigned>(static_cast<unsigned>(*v4), static_cast<unsigned>(*v6));
}

std::expected<PenaltyPolicy, std::string> parse_penalties(std::string_view text,
                                                          PenaltyPolicy base) {
  PenaltyPolicy p = base;
  const std::string bad = "PerSourcePenalties '" + std::string(text) + "': ";
  for (auto token : split(text, " ,\t")) {
    if (token == "yes") {
      p.enabled = true;
      continue;
    }
    if (token == "no") {
      p.enabled = false;
      continue;
    }
    const std::size_t colon = token.find(':');
    if (colon == std::string_view::npos)
      return std::unexpected(bad + "'" + std::string(token) + "' is not key:value");
    const std::string_view key = token.substr(0, colon);
    const std::string_view value = token.substr(colon + 1);
    std::optional<bool> ok = set_field(penalty_times, p, key, [&] { return duration(value); });
    if (!ok) ok = set_field(penalty_counts, p, key, [&] { return positive_number(value); });
    if (!ok) ok = set_field(penalty_overflows, p, key, [&] { return overflow_mode(value); });
    if (!ok) return std::unexpected(bad + "unknown key '" + std::string(key) + "'");
    if (!*ok) return std::unexpected(bad + "bad value for '" + std::string(key) + "'");
    p.enabled = true;
  }
  return p;
}

std::string to_text(const MaxStartups& m) {
  return std::to_string(m.start) + ":" + std::to_string(m.rate) + ":" + std::to_string(m.full);
}

std::string to_text(const PenaltyPolicy& p) {
  if (!p.enabled) return "no";
  std::string out;
  auto add = [&](std::string_view key, const std::string& value) {
    if (!out.empty()) out += ' ';
    out.append(key).append(":").append(value);
  };
  for (const auto& [key, field] : penalty_times) {
    char text[32];
    std::snprintf(text, sizeof text, "%g", (p.*field).count());
    add(key, text);
  }
  for (const auto& [key, field] : penalty_counts) add(key, std::to_string(p.*field));
  for (const auto& [key, field] : penalty_overflows)
    add(key, p.*field == PenaltyOverflow::deny_all ? "deny-all" : "permissive");
  return out;
}

std::string_view to_string(Refusal r) {
  switch (r) {
    case Refusal::startups_full: return "past MaxStartups (full)";
    case Refusal::startups_random_drop: return "past MaxStartups (random early drop)";
    case Refusal::per_source: return "past PerSourceMaxStartups";
    case Refusal::penalised: return "penalised source";
    case Refusal::penalty_table_full: return "too many penalised addresses";
  }
  return "?";
}

SourceLimiter::SourceLimiter(SourceLimits limits, Uniform uniform)
    : limits_(std::move(limits)), uniform_(std::move(uniform)) {}

SourceAddress SourceLimiter::netblock(const SourceAddress& a) const {
  return a.masked(bits(a));
}

bool SourceLimiter::drop_for_startups(std::size_t startups, Refusal& why) {
  // sshd.c should_drop_connection(): nothing below start; everything from full
  // on; between them rate% at start, rising linearly to 100% at full.
  const MaxStartups& m = limits_.max_startups;
  if (startups < m.start) return false;
  why = Refusal::startups_full;
  if (startups >= m.full || m.rate >= 100) return true;
  why = Refusal::startups_random_drop;
  std::size_t p = 100 - m.rate;
  p *= startups - m.start;
  p /= m.full - m.start;
  p += m.rate;
  return uniform_(100) < p;
}

std::expected<SourceLimiter::Ticket, Refusal> SourceLimiter::admit(const SourceAddress& peer,
                                                                   Instant now) {
  std::lock_guard lock(mutex_);
  const SourceAddress block = netblock(peer);
  // A penalised source is refused first, before it can take a MaxStartups slot.
  if (limits_.penalties.enabled) {
    Table& t = peer.v6 ? v6_ : v4_;
    expire(t, now);
    const std::size_t max_sources =
        peer.v6 ? limits_.penalties.max_sources6 : limits_.penalties.max_sources4;
    const PenaltyOverflow overflow =
        peer.v6 ? limits_.penalties.overflow6 : limits_.penalties.overflow;
    if (overflow == PenaltyOverflow::deny_all && t.by_source.size() >= max_sources)
      return std::unexpected(Refusal::penalty_table_full);
    if (auto it = t.by_source.find(block); it != t.by_source.end() && it->second.active)
      return std::unexpected(Refusal::penalised);
  }
  Refusal why{};
  if (drop_for_startups(unauthenticated_, why)) return std::unexpected(why);
  if (limits_.per_source_max_startups) {
    auto it = per_source_.find(block);
    if (it != per_source_.end() && it->second >= *limits_.per_source_max_startups)
      return std::unexpected(Refusal::per_source);
  }
  const Ticket ticket = next_ticket_++;
  open_.emplace(ticket, Unauthenticated{block, false});
  ++unauthenticated_;
  ++per_source_[block];
  return ticket;
}

void SourceLimiter::authenticated(Ticket ticket) {
  std::lock_guard lock(mutex_);
  auto it = open_.find(ticket);
  if (it == open_.end() || it->second.authenticated) return;
  it->second.authenticated = true;
  --unauthenticated_;
  if (auto s = per_source_.find(it->second.source); s != per_source_.end() && --s->second == 0)
    per_source_.erase(s);
}

std::optional<PenaltyNotice> SourceLimiter::ended(Ticket ticket, PreauthEnd how, Instant now) {
  SourceAddress source;
  {
    std::lock_guard lock(mutex_);
    auto it = open_.find(ticket);
    if (it == open_.end()) return std::nullopt;
    const bool was_authenticated = it->second.authenticated;
    source = it->second.source;
    open_.erase(it);
    if (was_authenticated) return std::nullopt;  // sshd penalises pre-authentication ends only
    --unauthenticated_;
    if (auto s = per_source_.find(source); s != per_source_.end() && --s->second == 0)
      per_source_.erase(s);
  }
  return penalise(source, how, now);
}

std::optional<PenaltyNotice> SourceLimiter::penalise(const SourceAddress& peer, PreauthEnd how,
                                                     Instant now) {
  const PenaltyPolicy& p = limits_.penalties;
  if (!p.enabled) return std::nullopt;
  const Seconds amount = [&] {
    switch (how) {
      case PreauthEnd::authenticated: return Seconds{0};
      case PreauthEnd::crash: return p.crash;
      case PreauthEnd::authfail: return p.authfail;
      case PreauthEnd::noauth: return p.noauth;
      case PreauthEnd::grace_exceeded: return p.grace_exceeded;
    }
    return Seconds{0};
  }();
  if (amount <= Seconds::zero()) return std::nullopt;
  auto notice = accrue(peer, amount, reason_for(how), now);
  if (accrual_listener_) {
    // Outside the lock: the listener may take its own (a queue for a worker).
    accrual_listener_(PenaltyAccrual{netblock(peer).to_string(bits(peer)), whole_seconds(amount),
                                     whole_seconds(p.max)});
  }
  return notice;
}

std::optional<PenaltyNotice> SourceLimiter::accrue(const SourceAddress& peer, Seconds amount,
                                                   std::string_view reason, Instant now) {
  const PenaltyPolicy& p = limits_.penalties;
  const auto step = std::chrono::duration_cast<Instant::duration>(amount);
  const auto cap = std::chrono::duration_cast<Instant::duration>(p.max);
  const auto threshold = std::chrono::duration_cast<Instant::duration>(p.min);

  std::lock_guard lock(mutex_);
  const SourceAddress block = netblock(peer);
  Table& t = peer.v6 ? v6_ : v4_;
  expire(t, now);

  auto it = t.by_source.find(block);
  if (it == t.by_source.end()) {
    // As srclimit.c, a first penalty is not capped by `max`; accrual is.
    Penalty fresh{now + step, step > threshold, reason};
    if (!insert(t, block, fresh) || !fresh.active) return std::nullopt;
    return notice(block, reason, amount, now);
  }
  // An existing penalty accumulates, up to `max` from now; it becomes active
  // once more than `min` is outstanding.
  Penalty& existing = it->second;
  t.by_expiry.erase({existing.expiry, block});
  existing.expiry += step;
  if (existing.expiry - now > cap) existing.expiry = now + cap;
  existing.reason = reason;
  t.by_expiry.emplace(existing.expiry, block);
  if (existing.active || existing.expiry - now <= threshold) return std::nullopt;
  existing.active = true;
  return notice(block, reason, std::chrono::duration_cast<Seconds>(existing.expiry - now), now);
}

bool SourceLimiter::insert(Table& t, const SourceAddress& block, const Penalty& p) {
  const PenaltyPolicy& policy = limits_.penalties;
  const std::size_t max_sources = block.v6 ? policy.max_sources6 : policy.max_sources4;
  const PenaltyOverflow overflow = block.v6 ? policy.overflow6 : policy.overflow;
  // deny-all: a full table takes no new sources (admit() refuses everyone instead).
  if (t.by_source.size() >= max_sources && overflow == PenaltyOverflow::deny_all) return false;
  t.by_source.emplace(block, p);
  t.by_expiry.emplace(p.expiry, block);
  // permissive: the soonest-to-expire penalties make room.
  while (t.by_source.size() > max_sources) {
    auto first = t.by_expiry.begin();
    t.by_source.erase(first->second);
    t.by_expiry.erase(first);
  }
  return t.by_source.contains(block);
}

void SourceLimiter::set_accrual_listener(std::function<void(const PenaltyAccrual&)> listener) {
  accrual_listener_ = std::move(listener);
}

PenaltyImport SourceLimiter::import(std::span<const SharedPenalty> shared, std::int64_t unix_now,
                                    Instant now) {
  PenaltyImport result;
  const PenaltyPolicy& p = limits_.penalties;
  if (!p.enabled) {
    result.ignored = shared.size();
    return result;
  }
  const auto cap = std::chrono::duration_cast<Instant::duration>(p.max);
  const auto threshold = std::chrono::duration_cast<Instant::duration>(p.min);
  static constexpr std::string_view reason = "penalty: shared by another instance";
  std::lock_guard lock(mutex_);
  expire(v4_, now);
  expire(v6_, now);
  for (const SharedPenalty& s : shared) {
    auto parsed = SourceAddress::parse_netblock(s.netblock);
    // Only blocks this limiter groups sources into (instances sharing a backend
    // must agree on PerSourceNetBlockSize), and only ends still ahead.
    if (!parsed || parsed->second != bits(parsed->first) || s.until <= unix_now) {
      ++result.ignored;
      continue;
    }
    const SourceAddress& block = parsed->first;
    // The Unix clock only says how long is left; the end is kept on the
    // limiter's steady clock, never further than `max` ahead.
    const auto left = std::min<Instant::duration>(std::chrono::seconds(s.until - unix_now), cap);
    const Instant expiry = now + left;
    Table& t = block.v6 ? v6_ : v4_;
    auto it = t.by_source.find(block);
    if (it == t.by_source.end()) {
      Penalty fresh{expiry, left > threshold, reason};
      if (!insert(t, block, fresh)) {
        ++result.ignored;
        continue;
      }
      ++result.added;
      if (fresh.active)
        if (auto n = notice(block, reason, std::chrono::duration_cast<Seconds>(left), now))
          result.notices.push_back(std::move(*n));
      continue;
    }
    Penalty& existing = it->second;
    if (expiry <= existing.expiry) continue;  // the local end is already later
    ++result.extended;
    t.by_expiry.erase({existing.expiry, block});
    existing.expiry = expiry;
    t.by_expiry.emplace(existing.expiry, block);
    if (existing.active || left <= threshold) continue;
    existing.active = true;
    existing.reason = reason;
    if (auto n = notice(block, reason, std::chrono::duration_cast<Seconds>(left), now))
      result.notices.push_back(std::move(*n));
  }
  return result;
}

void SourceLimiter::expire(Table& t, Instant now) {
  while (!t.by_expiry.empty() && t.by_expiry.begin()->first < now) {
    t.by_source.erase(t.by_expiry.begin()->second);
    t.by_expiry.erase(t.by_expiry.begin());
  }
}

std::optional<PenaltyNotice> SourceLimiter::notice(const SourceAddress& source,
                                                   std::string_view reason, Seconds duration,
                                                   Instant now) {
  if (now - window_start_ >= notice_window) {
    window_start_ = now;
    window_notices_ = 0;
  }
  if (window_notices_ >= notices_per_window) {
    ++suppressed_;
    return std::nullopt;
  }
  ++window_notices_;
  PenaltyNotice n{source.to_string(bits(source)), reason, duration, suppressed_};
  suppressed_ = 0;
  return n;
}

std::size_t SourceLimiter::unauthenticated() const {
  std::lock_guard lock(mutex_);
  return unauthenticated_;
}

std::size_t SourceLimiter::penalised_sources(Instant now) {
  std::lock_guard lock(mutex_);
  expire(v4_, now);
  expire(v6_, now);
  return v4_.by_source.size() + v6_.by_source.size();
}

}  // namespace parley::driver

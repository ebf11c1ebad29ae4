#include "shared_penalties.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <optional>
#include <string_view>
#include <vector>

#include "parley/privsep/executor.hpp"

namespace parleyd {
namespace {

namespace driver = parley::driver;
namespace privsep = parley::privsep;

/// A failing backend (at most once per 30 s), and its answering again.
void log_sharing(bool error, std::string_view line) {
  if (error) spdlog::warn("{}", line);
  else spdlog::info("{}", line);
}

bool shared_backend(const Config& c) {
  return c.state.backend == "redis" && c.limits.per_source_penalties.enabled;
}

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::uint32_t frame_seconds(std::chrono::seconds s) {
  return static_cast<std::uint32_t>(std::clamp<std::int64_t>(s.count(), 1, privsep::max_penalty_seconds));
}

}  // namespace

void share_penalties(driver::ServerOptions& options, std::shared_ptr<parley::state::SharedState> state,
                     const Config& c) {
  if (!state || !c.limits.per_source_penalties.enabled) return;
  spdlog::info("per-source penalties shared through {}", state->describe());
  options.shared_penalties = std::move(state);
  options.shared_penalties_log = log_sharing;
}

std::unique_ptr<driver::PenaltyRelay> relay_penalties(std::shared_ptr<parley::state::SharedState> state,
                                                      const Config& c, driver::MonitorLoop& loop,
                                                      privsep::Monitor& monitor) {
  if (!state || !c.limits.per_source_penalties.enabled) return nullptr;
  spdlog::info("per-source penalties shared through {}, for the network process", state->describe());
  auto relay = std::make_unique<driver::PenaltyRelay>(
      std::move(state), c.limits.per_source_netblock4, c.limits.per_source_netblock6,
      [&loop](parley::Bytes frame) {
        loop.post([frame = std::move(frame)]() mutable {
          return std::optional<privsep::Outgoing>(privsep::Outgoing{std::move(frame), {}});
        });
      },
      log_sharing);
  monitor.set_penalty_listener([r = relay.get(), refused = std::size_t{0}](const privsep::PenaltyAccrued& a) mutable {
    if (r->accrued(a)) return;
    // A network process that sends these is misbehaving: said, but not once each.
    if (std::has_single_bit(++refused))
      spdlog::warn("monitor: penalty accrual for '{}' refused: not a netblock of per_source_netblock_size ({} so far)",
                   a.netblock, refused);  // the decoder let only [0-9a-fA-F.:/] through
  });
  return relay;
}

void send_penalties_to_monitor(driver::ServerOptions& options, const Config& c, driver::MonitorLink& link) {
  if (!shared_backend(c)) return;
  options.on_penalty_accrued = [&link](const driver::PenaltyAccrual& a) {
    privsep::PenaltyAccrued frame;
    frame.netblock = a.netblock;
    frame.seconds = frame_seconds(a.seconds);
    frame.max = frame_seconds(a.max);
    link.send_later(frame.encode());  // a notice: it goes with the next frame, or within 250 ms
  };
}

void take_shared_penalties(driver::Server& server, const privsep::SharedPenalties& frame) {
  std::vector<driver::SharedPenalty> shared;
  shared.reserve(frame.penalties.size());
  for (const auto& p : frame.penalties)
    shared.push_back({p.netblock, static_cast<std::int64_t>(p.until)});  // until <= max_unix_time
  server.import_penalties(shared, unix_now());
}

}  // namespace parleyd

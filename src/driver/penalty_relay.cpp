#include "parley/driver/penalty_relay.hpp"

#include <algorithm>
#include <utility>

namespace parley::driver {

PenaltyRelay::PenaltyRelay(std::shared_ptr<state::SharedState> state, unsigned netblock4, unsigned netblock6,
                           Send send, PenaltySharing::OnLog log, PenaltySharingOptions options)
    : netblock4_(netblock4), netblock6_(netblock6), send_(std::move(send)) {
  // One frame must hold the whole list.
  options.limit = std::min(options.limit, privsep::max_shared_penalties);
  sharing_ = std::make_unique<PenaltySharing>(
      std::move(state),
      [this](std::vector<SharedPenalty> penalties, std::int64_t) { fetched(std::move(penalties)); },
      std::move(log), options);
}

bool PenaltyRelay::accrued(const privsep::PenaltyAccrued& frame) {
  auto block = SourceAddress::parse_netblock(frame.netblock);
  if (!block || block->second != (block->first.v6 ? netblock6_ : netblock4_)) return false;
  sharing_->accrued(PenaltyAccrual{block->first.to_string(block->second), std::chrono::seconds(frame.seconds),
                                   std::chrono::seconds(frame.max)});
  return true;
}

void PenaltyRelay::fetched(std::vector<SharedPenalty> penalties) {
  privsep::SharedPenalties frame;
  for (auto& p : penalties) {
    // What another instance (or anyone with the backend's keys) wrote is
    // checked as the network process's decoder will check it.
    if (frame.penalties.size() >= privsep::max_shared_penalties) break;
    if (p.until <= 0 || static_cast<std::uint64_t>(p.until) > privsep::max_unix_time) continue;
    auto block = SourceAddress::parse_netblock(p.netblock);
    if (!block) continue;
    frame.penalties.push_back({block->first.to_string(block->second), static_cast<std::uint64_t>(p.until)});
  }
  if (frame.penalties == last_) return;  // sent only when it changed
  last_ = frame.penalties;
  send_(frame.encode());
}

}  // namespace parley::driver

// Per-source penalties shared between instances when parleyd is privilege
// separated (docs/scale-out.md, docs/privilege-separation.md): the network
// process, which runs the SourceLimiter, may not reach the shared-state
// backend, so the monitor does it for it. The network process sends each
// accrual as a PenaltyAccrued frame; this relay, in the monitor, checks it
// again and has PenaltySharing add it to the backend on its own thread, and
// sends the backend's penalties back as a SharedPenalties frame whenever they
// changed. Nothing here blocks the monitor's loop.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "parley/driver/penalty_sharing.hpp"
#include "parley/privsep/protocol.hpp"

namespace parley::driver {

class PenaltyRelay {
 public:
  /// Hands a SharedPenalties frame to the monitor's loop (MonitorLoop::post);
  /// called on the relay's thread.
  using Send = std::function<void(Bytes frame)>;

  /// `netblock4`/`netblock6`: the prefix lengths the network process groups
  /// sources by (PerSourceNetBlockSize); an accrual of another length is refused.
  PenaltyRelay(std::shared_ptr<state::SharedState> state, unsigned netblock4, unsigned netblock6, Send send,
               PenaltySharing::OnLog log, PenaltySharingOptions options = {});

  /// A PenaltyAccrued from the network process, which is not trusted: its
  /// netblock must parse as an address block of the configured prefix length
  /// (the backend's key is then the block written again, never the text
  /// received) and its numbers are already bounded by the decoder. False:
  /// refused. Never blocks (the queue is bounded).
  bool accrued(const privsep::PenaltyAccrued& frame);

 private:
  void fetched(std::vector<SharedPenalty> penalties);

  const unsigned netblock4_, netblock6_;
  const Send send_;
  std::vector<privsep::SharedPenalties::Entry> last_;  // the relay thread's own
  std::unique_ptr<PenaltySharing> sharing_;             // last: its thread uses the above
};

}  // namespace parley::driver

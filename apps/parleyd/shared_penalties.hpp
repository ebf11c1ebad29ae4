// Per-source penalties shared between instances through [state]'s backend
// (docs/scale-out.md): in one process the server does it itself; separated,
// the network process relays its accruals to the monitor, which alone may
// reach the backend, and takes back the penalties the monitor sends.
#pragma once

#include <memory>

#include "config.hpp"
#include "parley/driver/monitor_link.hpp"
#include "parley/driver/penalty_relay.hpp"
#include "parley/driver/server.hpp"
#include "parley/privsep/monitor.hpp"
#include "parley/state/shared_state.hpp"

namespace parleyd {

/// One process: penalties are shared through `state` (BuiltAuth::shared_state;
/// null: not shared) when per_source_penalties are on.
void share_penalties(parley::driver::ServerOptions& options, std::shared_ptr<parley::state::SharedState> state,
                     const Config& c);

/// The monitor: relays the network process's accruals to `state` and its
/// penalties back through `loop`. Null (nothing to relay) without a shared
/// backend or with penalties off. Destroy it before `loop`.
std::unique_ptr<parley::driver::PenaltyRelay> relay_penalties(std::shared_ptr<parley::state::SharedState> state,
                                                              const Config& c, parley::driver::MonitorLoop& loop,
                                                              parley::privsep::Monitor& monitor);

/// The network process: its accruals go to the monitor through `link` when
/// [state] names a shared backend and penalties are on.
void send_penalties_to_monitor(parley::driver::ServerOptions& options, const Config& c,
                               parley::driver::MonitorLink& link);
/// The network process: the monitor's SharedPenalties, into the server's limiter.
void take_shared_penalties(parley::driver::Server& server, const parley::privsep::SharedPenalties& frame);

}  // namespace parleyd

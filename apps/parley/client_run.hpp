// The parley command's two ways in: a session (main.cpp: run_client) and file
// copies over SFTP (copy.cpp: `parley cp`), which runs the same connection with
// the sftp subsystem bridged to its own thread.
#pragma once

#include <functional>

#include "options.hpp"
#include "parley/driver/client_session.hpp"

namespace parley::app {

/// Changes the session before it starts (copy: the subsystem's local ends).
using SessionAdjust = std::function<void(driver::ClientSessionOptions&)>;

/// Connects, verifies the host key, authenticates and runs the session as
/// `options` say, granting the server `limits` (its channels' windows). Returns
/// the remote command's status, or exits 255 with one line when the connection or
/// authentication failed.
int run_client(const ClientOptions& options, const SessionAdjust& adjust,
               const connection::ChannelLimits& limits = {});

/// `parley cp [options] SOURCE... DESTINATION` (argv[0] is "cp").
int copy_main(int argc, char** argv);

}  // namespace parley::app

// A whole server connection (session::ServerConnection, composed as parleyd
// composes it: transport, userauth, channels) taken past key exchange by a real
// client Transport, so that fuzz input reaches userauth and the connection
// protocol rather than dying at the first encrypted packet. Shared by the
// fuzz_session target and tests/unit/fuzz_reach_test.cpp, which shows on the
// committed seeds that it gets there. No GoogleTest, sockets, threads or clock.
//
// Everything is fixed: an Ed25519 host key and a user key from
// DeterministicRandom, one key exchange (curve25519-sha256), user "fuzz" with
// password "fuzz-password" (password and keyboard-interactive) or the user key
// (publickey). Channel services are in memory: sessions get the built-in
// command shell, direct-tcpip an echo, tcpip-forward a listener that never
// accepts.
//
// Input: byte 0 is the control byte, then records, each a big-endian uint16
// length and that many bytes.
//   control bits 0-1: the login the harness completes first, with the client
//     it drives: 0 none (only "ssh-userauth" is requested: the records carry
//     the USERAUTH_REQUESTs), 1 password, 2 keyboard-interactive (the
//     "Password: " prompt answered), 3 publickey (a signed Ed25519 request);
//   control bit 2: then open a "session" channel (client channel 0, window
//     2 MiB), so that records reach channel requests and data at once.
// A record is the payload of one message the client sends: the client's
// Transport encrypts it (Transport::send) and its bytes go to the server. An
// empty record moves the clock 100 s on (timers: login grace, rekey). The
// clock moves 1 s between records, past the uniform failure delay.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "parley/wire/bytes.hpp"

namespace parley::fuzz {

/// Where a run got to: each counter is bumped by the server side (its events,
/// its channel services) or by what the client received from it.
struct SessionReach {
  bool key_exchange = false;       // the client finished the first key exchange
  std::size_t audit_records = 0;   // userauth attempts the server decided (AuditRecord)
  bool authenticated = false;      // the server's Authenticated event
  std::size_t userauth_replies = 0;  // userauth messages (50-79) the client received
  std::size_t sessions = 0;        // session channels the server's services created
  std::size_t tcpip_connects = 0;  // direct-tcpip channels the services created
  std::size_t listeners = 0;       // tcpip-forward listeners the services created
  std::size_t channel_notes = 0;   // lines of channel activity (ConnectionObserver::on_channel)
  std::size_t open_confirmations = 0;  // CHANNEL_OPEN_CONFIRMATIONs the client received
  std::size_t channel_replies = 0;     // CHANNEL_SUCCESS/FAILURE the client received
  std::size_t channel_data = 0;        // CHANNEL_DATA/EXTENDED_DATA the client received
  bool disconnected = false;       // the server ended the connection
};

/// The login a control byte asks for (bits 0-1).
enum class Login : std::uint8_t { none = 0, password = 1, keyboard_interactive = 2, publickey = 3 };

/// Runs one input through a fresh connection. Deterministic.
SessionReach run_session(BytesView input);

/// Builds an input: the control byte for `login` (and `open_session`), then
/// one record per payload.
Bytes session_input(Login login, bool open_session, const std::vector<Bytes>& payloads);

/// The fixed account the harness configures, for building seeds.
inline constexpr std::string_view fuzz_user = "fuzz";
inline constexpr std::string_view fuzz_password = "fuzz-password";

}  // namespace parley::fuzz

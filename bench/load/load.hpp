// parley-load: what one run is asked to do (Options), what it measured (Tally),
// and the run itself (run_load). One thread, one io_context, thousands of
// connections, each a parley ClientConnection (sans-I/O) moved by a small
// callback loop here; see docs/load-tool.md.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "parley/transport/transport.hpp"
#include "parley/userauth/client_auth.hpp"

namespace parley::load {

enum class Mode { rate, hold, flood };

struct Options {
  Mode mode = Mode::rate;
  std::uint32_t target_address = 0;  // IPv4, host order
  std::uint16_t port = 0;
  std::string target;                  // as given, for the report
  std::size_t count = 0;               // connections (0: until --duration)
  std::optional<double> duration;      // rate: seconds of launching
  std::size_t concurrency = 100;       // connections in flight at once
  std::optional<double> rate;          // rate: launches per second
  double timeout = 600;                // the whole run, hard
  double login_timeout = 30;           // one connection's login (or version, flood)
  std::optional<double> hold_seconds;  // hold, flood: how long to hold
  std::size_t sources = 65536;         // source addresses in 127.0.0.0/8 (0: no bind)
  std::size_t max_failures = 0;
  bool json = false;
  bool send_kexinit = false;      // flood: also send our KEXINIT
  std::string check = "channel";  // hold: "channel" or "global"
  /// hold: a keepalive@openssh.com global request this often, seconds.
  std::optional<double> keepalive;
  std::shared_ptr<const transport::TransportConfig> transport;
  /// How each connection authenticates: connection i uses auths[i % auths.size()]
  /// (--users N: one per user name, since a TOTP code is accepted once per user and step).
  std::vector<std::shared_ptr<const userauth::ClientAuthConfig>> auths;
};

/// What a run counted. Failures are keyed by kind ("auth_failed", ...);
/// disconnect reasons by the server's description (bounded in number).
struct Tally {
  std::size_t started = 0;
  std::size_t succeeded = 0;        // rate: logins; hold: authenticated; flood: version received
  std::size_t held = 0;             // hold, flood: open at the end of the hold
  std::size_t answered = 0;         // hold: answered the final check
  std::size_t keepalives_sent = 0;  // hold --keepalive: requests sent while held
  std::size_t keepalives_answered = 0;  // ... and the server's replies to them
  std::map<std::string, std::size_t> failures;
  std::map<std::string, std::size_t> disconnect_reasons;
  std::vector<std::uint32_t> latencies_us;  // rate, hold: connect → authenticated
  std::chrono::duration<double> elapsed{};  // launching until the last login concluded
  bool interrupted = false;                 // SIGINT, stdin EOF or the hard timeout
  std::size_t peak_open = 0;                // connections open at once, at most
  std::size_t max_rss_kib = 0;              // the tool's own peak memory (getrusage)
  std::size_t failed() const;
};

/// Runs the mode to its end and returns what it counted.
Tally run_load(const Options& options);

/// The report: a few human lines, or with `json` one JSON object on one line.
std::string report(const Options& options, const Tally& tally);

}  // namespace parley::load

// Fuzzes a whole server connection past key exchange: the input supplies the
// messages a logged-in (or logging-in) client sends, which a real client
// Transport encrypts (see session_harness.hpp for the input format). At exit it
// prints how many inputs reached userauth and channels, so a run's log shows
// the fuzzer got there (tests/unit/fuzz_reach_test.cpp checks the seeds do).
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "session_harness.hpp"

namespace {

struct Counters {
  std::size_t inputs = 0, key_exchange = 0, userauth = 0, authenticated = 0, channels = 0,
              channel_requests = 0;
};
Counters counters;

void print_counters() {
  std::printf("reach: %zu inputs, %zu past key exchange, %zu reached userauth, %zu authenticated, "
              "%zu opened channels, %zu had channel requests answered\n",
              counters.inputs, counters.key_exchange, counters.userauth, counters.authenticated,
              counters.channels, counters.channel_requests);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  std::atexit(print_counters);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const parley::fuzz::SessionReach r = parley::fuzz::run_session(parley::BytesView(data, size));
  ++counters.inputs;
  counters.key_exchange += r.key_exchange;
  counters.userauth += r.audit_records > 0 || r.userauth_replies > 0;
  counters.authenticated += r.authenticated;
  counters.channels += r.sessions + r.tcpip_connects > 0;
  counters.channel_requests += r.channel_replies > 0;
  return 0;
}

#include "raw_terminal.hpp"

#include <fcntl.h>
#include <signal.h>
#include <termios.h>
#include <unistd.h>

#include <array>

namespace parley::app {
namespace {

// What a signal handler needs, in plain globals: only async-signal-safe calls
// (tcsetattr, fcntl, sigaction, raise) touch them there.
volatile sig_atomic_t g_active = 0;
int g_fd = -1;
termios g_saved{};
int g_flags = -1;

constexpr std::array<int, 4> k_signals = {SIGTERM, SIGHUP, SIGINT, SIGQUIT};
std::array<struct sigaction, k_signals.size()> g_previous{};

void put_back() {
  ::tcsetattr(g_fd, TCSADRAIN, &g_saved);
  // The session's descriptor shares the terminal's file status: a killed parley
  // must not leave the user's shell with a non-blocking terminal.
  if (g_flags >= 0) ::fcntl(g_fd, F_SETFL, g_flags);
}

void on_signal(int sig) {
  if (g_active) {
    g_active = 0;
    put_back();
  }
  // Then what the signal would have done without us: the default (death by it,
  // so the parent sees the right status) or the handler that was there.
  for (std::size_t i = 0; i < k_signals.size(); ++i)
    if (k_signals[i] == sig) ::sigaction(sig, &g_previous[i], nullptr);
  ::raise(sig);
}

}  // namespace

RawTerminal::RawTerminal(int fd) {
  termios t{};
  if (::isatty(fd) == 0 || ::tcgetattr(fd, &t) != 0) return;
  g_fd = fd;
  g_saved = t;
  g_flags = ::fcntl(fd, F_GETFL);
  struct sigaction sa{};
  sa.sa_handler = on_signal;
  ::sigemptyset(&sa.sa_mask);
  for (std::size_t i = 0; i < k_signals.size(); ++i) ::sigaction(k_signals[i], &sa, &g_previous[i]);
  g_active = 1;
}

RawTerminal::~RawTerminal() { restore(); }

bool RawTerminal::is_terminal() const { return g_fd >= 0; }

void RawTerminal::make_raw() {
  if (!g_active) return;
  termios t = g_saved;
  ::cfmakeraw(&t);
  ::tcsetattr(g_fd, TCSADRAIN, &t);
}

void RawTerminal::restore() {
  if (!g_active) return;
  g_active = 0;
  put_back();
  for (std::size_t i = 0; i < k_signals.size(); ++i) ::sigaction(k_signals[i], &g_previous[i], nullptr);
}

}  // namespace parley::app

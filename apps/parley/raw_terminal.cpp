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
volatile sig_atomic_t active = 0;
int terminal_fd = -1;
termios saved_settings{};
int saved_flags = -1;

constexpr std::array<int, 4> handled_signals = {SIGTERM, SIGHUP, SIGINT, SIGQUIT};
std::array<struct sigaction, handled_signals.size()> previous_actions{};

void put_back() {
  ::tcsetattr(terminal_fd, TCSADRAIN, &saved_settings);
  // The session's descriptor shares the terminal's file status: a killed parley
  // must not leave the user's shell with a non-blocking terminal.
  if (saved_flags >= 0) ::fcntl(terminal_fd, F_SETFL, saved_flags);
}

void on_signal(int sig) {
  if (active) {
    active = 0;
    put_back();
  }
  // Then what the signal would have done without us: the default (death by it,
  // so the parent sees the right status) or the handler that was there.
  for (std::size_t i = 0; i < handled_signals.size(); ++i)
    if (handled_signals[i] == sig) ::sigaction(sig, &previous_actions[i], nullptr);
  ::raise(sig);
}

}  // namespace

RawTerminal::RawTerminal(int fd) {
  termios t{};
  if (::isatty(fd) == 0 || ::tcgetattr(fd, &t) != 0) return;
  terminal_fd = fd;
  saved_settings = t;
  saved_flags = ::fcntl(fd, F_GETFL);
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  ::sigemptyset(&sa.sa_mask);
  for (std::size_t i = 0; i < handled_signals.size(); ++i)
    ::sigaction(handled_signals[i], &sa, &previous_actions[i]);
  active = 1;
}

RawTerminal::~RawTerminal() {
  restore();
}

bool RawTerminal::is_terminal() const {
  return terminal_fd >= 0;
}

void RawTerminal::make_raw() {
  if (!active) return;
  termios t = saved_settings;
  ::cfmakeraw(&t);
  ::tcsetattr(terminal_fd, TCSADRAIN, &t);
}

void RawTerminal::restore() {
  if (!active) return;
  active = 0;
  put_back();
  for (std::size_t i = 0; i < handled_signals.size(); ++i)
    ::sigaction(handled_signals[i], &previous_actions[i], nullptr);
}

}  // namespace parley::app

// The local terminal for an interactive session, as ssh's enter_raw_mode() /
// leave_raw_mode(): raw only once the session starts (authentication prompts
// need the terminal as the user had it: Enter is CR, lines end in CR LF), and
// put back as it was on every way out: a normal return, an error (the
// destructor), and SIGTERM, SIGHUP, SIGINT or SIGQUIT at any moment, also while
// a password is read without echo (a handler restores the settings, then lets
// the signal do what it would have done).
#pragma once

namespace parley::app {

class RawTerminal {
 public:
  /// Saves `fd`'s terminal settings and file status flags and installs the
  /// signal handlers, if `fd` is a terminal (otherwise does nothing). One per
  /// process.
  explicit RawTerminal(int fd);
  /// restore().
  ~RawTerminal();
  RawTerminal(const RawTerminal&) = delete;
  RawTerminal& operator=(const RawTerminal&) = delete;

  /// True if `fd` was a terminal when constructed.
  bool is_terminal() const;
  /// Makes the terminal raw (cfmakeraw): when the session starts.
  void make_raw();
  /// Puts back the saved settings and flags and the previous signal handlers
  /// (idempotent).
  void restore();
};

}  // namespace parley::app

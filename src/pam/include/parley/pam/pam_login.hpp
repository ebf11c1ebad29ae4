// A PAM login session, as sshd opens one with UsePAM for the user's sessions:
// pam_acct_mgmt, pam_setcred(PAM_ESTABLISH_CRED) and pam_open_session before
// the first session, pam_getenvlist for the sessions' environment, and
// pam_close_session with pam_setcred(PAM_DELETE_CRED) after the last.
// Every call may block for as long as a module likes: call open() and destroy
// the object on a worker thread, never on an I/O thread.
#pragma once

#include <expected>
#include <memory>
#include <string>
#include <vector>

namespace parley::pam {

class PamLogin {
 public:
  /// Opens the session of `user` (already authenticated) for a client at
  /// `rhost` on `tty` ("ssh" when there is none yet). The error names the PAM
  /// call that failed and pam_strerror's text. Modules that want to converse
  /// get no answers (PAM_CONV_ERR); their info and error text is dropped.
  static std::expected<std::unique_ptr<PamLogin>, std::string> open(const std::string& service,
                                                                    const std::string& user,
                                                                    const std::string& rhost);
  /// pam_close_session, pam_setcred(PAM_DELETE_CRED), pam_end. Blocks.
  ~PamLogin();
  PamLogin(const PamLogin&) = delete;
  PamLogin& operator=(const PamLogin&) = delete;

  /// The variables the PAM stack set ("NAME=value"), read once at open.
  const std::vector<std::string>& environment() const { return environment_; }

 private:
  struct Handle;
  explicit PamLogin(std::unique_ptr<Handle> handle, std::vector<std::string> environment);
  std::unique_ptr<Handle> handle_;
  std::vector<std::string> environment_;
};

}  // namespace parley::pam

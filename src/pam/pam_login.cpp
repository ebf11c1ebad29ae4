#include "parley/pam/pam_login.hpp"

#include <security/pam_appl.h>

#include <cstdlib>
#include <cstring>

namespace parley::pam {
namespace {

/// Session modules get no answers: a prompt fails the conversation, text is taken.
int no_answers(int count, const pam_message** messages, pam_response** out, void*) {
  *out = nullptr;
  for (int i = 0; i < count; ++i) {
    const int style = messages[i]->msg_style;
    if (style != PAM_TEXT_INFO && style != PAM_ERROR_MSG) return PAM_CONV_ERR;
  }
  auto* responses = static_cast<pam_response*>(std::calloc(static_cast<std::size_t>(count), sizeof(pam_response)));
  if (responses == nullptr) return PAM_BUF_ERR;
  *out = responses;  // empty responses; PAM frees them
  return PAM_SUCCESS;
}

std::string failed(pam_handle_t* h, const char* call, int rc) {
  return std::string(call) + ": " + ::pam_strerror(h, rc);
}

}  // namespace

struct PamLogin::Handle {
  pam_conv conv{&no_answers, nullptr};
  pam_handle_t* pam = nullptr;
  bool credentials = false;
  bool session = false;
  int last = PAM_SUCCESS;
};

std::expected<std::unique_ptr<PamLogin>, std::string> PamLogin::open(const std::string& service,
                                                                    const std::string& user,
                                                                    const std::string& rhost) {
  auto h = std::make_unique<Handle>();
  int rc = ::pam_start(service.c_str(), user.c_str(), &h->conv, &h->pam);
  if (rc != PAM_SUCCESS || h->pam == nullptr) {
    std::string why = "pam_start: " + std::string(::pam_strerror(h->pam, rc));
    if (h->pam) ::pam_end(h->pam, rc);
    return std::unexpected(why);
  }
  auto fail = [&](const char* call) {
    h->last = rc;
    std::string why = failed(h->pam, call, rc);
    PamLogin cleanup(std::move(h), {});  // ends what was started, in order
    return std::unexpected(why);
  };
  rc = ::pam_set_item(h->pam, PAM_RHOST, rhost.c_str());
  if (rc == PAM_SUCCESS) rc = ::pam_set_item(h->pam, PAM_TTY, "ssh");
  if (rc != PAM_SUCCESS) return fail("pam_set_item");
  rc = ::pam_acct_mgmt(h->pam, 0);
  if (rc != PAM_SUCCESS) return fail("pam_acct_mgmt");
  // As sshd, credentials before the session. parleyd runs this on a worker
  // thread of a root process; the session's child sets its own groups from the
  // account, so what a module does to this process's groups never reaches it.
  rc = ::pam_setcred(h->pam, PAM_ESTABLISH_CRED);
  if (rc != PAM_SUCCESS) return fail("pam_setcred");
  h->credentials = true;
  rc = ::pam_open_session(h->pam, 0);
  if (rc != PAM_SUCCESS) return fail("pam_open_session");
  h->session = true;
  std::vector<std::string> env;
  if (char** list = ::pam_getenvlist(h->pam)) {
    for (char** e = list; *e != nullptr; ++e) {
      if (std::strchr(*e, '=') != nullptr && env.size() < 256) env.emplace_back(*e);
      std::free(*e);
    }
    std::free(list);
  }
  return std::unique_ptr<PamLogin>(new PamLogin(std::move(h), std::move(env)));
}

PamLogin::PamLogin(std::unique_ptr<Handle> handle, std::vector<std::string> environment)
    : handle_(std::move(handle)), environment_(std::move(environment)) {}

PamLogin::~PamLogin() {
  if (!handle_ || handle_->pam == nullptr) return;
  int rc = handle_->last;
  if (handle_->session) rc = ::pam_close_session(handle_->pam, 0);
  if (handle_->credentials) rc = ::pam_setcred(handle_->pam, PAM_DELETE_CRED);
  ::pam_end(handle_->pam, rc);
}

}  // namespace parley::pam

/* pam_parley_hol.so: a PAM module that asks parleyd --demo's Higher or Lower question (hol.h)
 * in one conversation round and accepts the larger number. It exists so that OpenSSH's sshd,
 * with UsePAM and keyboard-interactive, does the same one-question-one-answer work per login
 * as parleyd --demo and the benchmark's libssh server (bench/server_cost.py); it guards
 * nothing and belongs in no real PAM stack. */
#define PAM_SM_AUTH
#include <security/pam_appl.h>
#include <security/pam_modules.h>
#include <stdlib.h>
#include <string.h>

#include "hol.h"

PAM_EXTERN int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv) {
  (void)flags;
  (void)argc;
  (void)argv;
  const struct pam_conv *conv = NULL;
  if (pam_get_item(pamh, PAM_CONV, (const void **)&conv) != PAM_SUCCESS || conv == NULL ||
      conv->conv == NULL)
    return PAM_CONV_ERR;
  char question[96], answer[8];
  if (hol_ask(question, sizeof question, answer, sizeof answer) != 0) return PAM_AUTH_ERR;
  struct pam_message message = {.msg_style = PAM_PROMPT_ECHO_ON, .msg = question};
  const struct pam_message *messages[1] = {&message};
  struct pam_response *responses = NULL;
  int rc = conv->conv(1, messages, &responses, conv->appdata_ptr);
  if (rc != PAM_SUCCESS) return rc == PAM_CONV_AGAIN ? PAM_INCOMPLETE : PAM_CONV_ERR;
  int ok = responses != NULL && responses[0].resp != NULL && strcmp(responses[0].resp, answer) == 0;
  if (responses != NULL) {
    free(responses[0].resp);
    free(responses);
  }
  return ok ? PAM_SUCCESS : PAM_AUTH_ERR;
}

PAM_EXTERN int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv) {
  (void)pamh;
  (void)flags;
  (void)argc;
  (void)argv;
  return PAM_SUCCESS;
}

/* A PAM module for the PAM provider's tests (loaded through pam_wrapper only).
 * Its behaviour is chosen by a "mode=" argument in the service file:
 *
 *   auth mode=password [expect=X]  asks "Password: " (echo off), records what it
 *                                  was given in $PARLEY_PAM_TEST_DIR/<user>.answer,
 *                                  succeeds if it equals X (or always, without X)
 *   auth mode=ask colour=C pin=P   one conversation call with four messages: an
 *                                  info "Second factor required", an error "Codes
 *                                  expire quickly", "Colour: " (echo on) and "PIN: "
 *                                  (echo off); succeeds if both answers match
 *   auth mode=block                for users named "block...": creates
 *                                  $PARLEY_PAM_TEST_DIR/<user>.entered, then waits
 *                                  (at most 60 s) for <user>.release to exist;
 *                                  everyone else passes at once
 *   auth mode=rename               sets PAM_USER to "mallory" and succeeds
 *   auth|account mode=deny         fails (the "other" service)
 *   account mode=account           users named "expired..." need a new password
 *                                  (PAM_NEW_AUTHTOK_REQD), "locked..." fail
 *                                  (PAM_ACCT_EXPIRED), everyone else passes
 *
 * A missing PARLEY_PAM_TEST_DIR is a service error: the tests fail loudly. */
#define _POSIX_C_SOURCE 200809L  /* nanosleep, access */

#include <security/pam_appl.h>
#include <security/pam_modules.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char* option(int argc, const char** argv, const char* key) {
  size_t n = strlen(key);
  for (int i = 0; i < argc; ++i)
    if (strncmp(argv[i], key, n) == 0 && argv[i][n] == '=') return argv[i] + n + 1;
  return NULL;
}

static int test_path(pam_handle_t* pamh, const char* suffix, char* out, size_t size) {
  const char* dir = getenv("PARLEY_PAM_TEST_DIR");
  const void* user = NULL;
  if (dir == NULL || pam_get_item(pamh, PAM_USER, &user) != PAM_SUCCESS || user == NULL) return -1;
  int n = snprintf(out, size, "%s/%s.%s", dir, (const char*)user, suffix);
  return n > 0 && (size_t)n < size ? 0 : -1;
}

static void wipe_free(char* s) {
  if (s == NULL) return;
  volatile char* p = s;
  while (*p != '\0') *p++ = '\0';
  free(s);
}

/* Sends `count` messages in one conversation call; answers land in `resp`. */
static int converse(pam_handle_t* pamh, int count, const struct pam_message* messages,
                    struct pam_response** resp) {
  const struct pam_conv* conv = NULL;
  const struct pam_message* pointers[4];
  if (count > 4) return PAM_CONV_ERR;
  int rc = pam_get_item(pamh, PAM_CONV, (const void**)&conv);
  if (rc != PAM_SUCCESS || conv == NULL || conv->conv == NULL) return PAM_CONV_ERR;
  for (int i = 0; i < count; ++i) pointers[i] = &messages[i];
  *resp = NULL;
  rc = conv->conv(count, pointers, resp, conv->appdata_ptr);
  if (rc == PAM_SUCCESS && *resp == NULL) return PAM_CONV_ERR;
  return rc;
}

static void free_responses(struct pam_response* resp, int count) {
  if (resp == NULL) return;
  for (int i = 0; i < count; ++i) wipe_free(resp[i].resp);
  free(resp);
}

static int ask_password(pam_handle_t* pamh, int argc, const char** argv) {
  struct pam_message m = {PAM_PROMPT_ECHO_OFF, "Password: "};
  struct pam_response* resp = NULL;
  int rc = converse(pamh, 1, &m, &resp);
  if (rc != PAM_SUCCESS) return rc;
  const char* given = resp[0].resp != NULL ? resp[0].resp : "";
  char path[4096];
  if (test_path(pamh, "answer", path, sizeof path) != 0) {
    free_responses(resp, 1);
    return PAM_SERVICE_ERR;
  }
  FILE* f = fopen(path, "wb");
  if (f == NULL) {
    free_responses(resp, 1);
    return PAM_SERVICE_ERR;
  }
  fwrite(given, 1, strlen(given), f);
  fclose(f);
  const char* expect = option(argc, argv, "expect");
  rc = expect == NULL || strcmp(given, expect) == 0 ? PAM_SUCCESS : PAM_AUTH_ERR;
  free_responses(resp, 1);
  return rc;
}

static int ask_second_factor(pam_handle_t* pamh, int argc, const char** argv) {
  const char* colour = option(argc, argv, "colour");
  const char* pin = option(argc, argv, "pin");
  if (colour == NULL || pin == NULL) return PAM_SERVICE_ERR;
  struct pam_message m[4] = {
      {PAM_TEXT_INFO, "Second factor required"},
      {PAM_ERROR_MSG, "Codes expire quickly"},
      {PAM_PROMPT_ECHO_ON, "Colour: "},
      {PAM_PROMPT_ECHO_OFF, "PIN: "},
  };
  struct pam_response* resp = NULL;
  int rc = converse(pamh, 4, m, &resp);
  if (rc != PAM_SUCCESS) return rc;
  rc = resp[0].resp == NULL && resp[1].resp == NULL && resp[2].resp != NULL && resp[3].resp != NULL &&
               strcmp(resp[2].resp, colour) == 0 && strcmp(resp[3].resp, pin) == 0
           ? PAM_SUCCESS
           : PAM_AUTH_ERR;
  free_responses(resp, 4);
  return rc;
}

static int block(pam_handle_t* pamh) {
  const void* user = NULL;
  if (pam_get_item(pamh, PAM_USER, &user) != PAM_SUCCESS || user == NULL) return PAM_USER_UNKNOWN;
  if (strncmp((const char*)user, "block", 5) != 0) return PAM_SUCCESS;
  char entered[4096], release[4096];
  if (test_path(pamh, "entered", entered, sizeof entered) != 0 ||
      test_path(pamh, "release", release, sizeof release) != 0)
    return PAM_SERVICE_ERR;
  FILE* f = fopen(entered, "w");
  if (f == NULL) return PAM_SERVICE_ERR;
  fclose(f);
  const struct timespec step = {0, 5 * 1000 * 1000};
  for (int i = 0; i < 60 * 200; ++i) {
    if (access(release, F_OK) == 0) return PAM_SUCCESS;
    nanosleep(&step, NULL);
  }
  return PAM_AUTH_ERR;
}

PAM_EXTERN int pam_sm_authenticate(pam_handle_t* pamh, int flags, int argc, const char** argv) {
  (void)flags;
  const char* mode = option(argc, argv, "mode");
  if (mode == NULL) return PAM_SERVICE_ERR;
  if (strcmp(mode, "password") == 0) return ask_password(pamh, argc, argv);
  if (strcmp(mode, "ask") == 0) return ask_second_factor(pamh, argc, argv);
  if (strcmp(mode, "block") == 0) return block(pamh);
  if (strcmp(mode, "rename") == 0) return pam_set_item(pamh, PAM_USER, "mallory");
  if (strcmp(mode, "deny") == 0) return PAM_PERM_DENIED;
  return PAM_SERVICE_ERR;
}

PAM_EXTERN int pam_sm_setcred(pam_handle_t* pamh, int flags, int argc, const char** argv) {
  (void)pamh;
  (void)flags;
  (void)argc;
  (void)argv;
  return PAM_SUCCESS;
}

PAM_EXTERN int pam_sm_acct_mgmt(pam_handle_t* pamh, int flags, int argc, const char** argv) {
  (void)flags;
  const char* mode = option(argc, argv, "mode");
  if (mode != NULL && strcmp(mode, "deny") == 0) return PAM_PERM_DENIED;
  if (mode == NULL || strcmp(mode, "account") != 0) return PAM_SERVICE_ERR;
  const void* user = NULL;
  if (pam_get_item(pamh, PAM_USER, &user) != PAM_SUCCESS || user == NULL) return PAM_USER_UNKNOWN;
  if (strncmp((const char*)user, "expired", 7) == 0) return PAM_NEW_AUTHTOK_REQD;
  if (strncmp((const char*)user, "locked", 6) == 0) return PAM_ACCT_EXPIRED;
  return PAM_SUCCESS;
}

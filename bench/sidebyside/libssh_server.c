/* parley-libssh-server: the side-by-side benchmark's libssh server (bench/server_cost.py,
 * docs/load-tool.md). It serves what parleyd --demo serves a load test: ssh-ed25519 with
 * curve25519-sha256, keyboard-interactive asking the Higher or Lower question once (hol.h),
 * a session channel whose requests it refuses (what parley-load hold --check channel asks),
 * any user name.
 *
 * Concurrency as libssh's own server examples do it without an event loop: the listener
 * accepts with ssh_bind_accept and hands each connection to a thread of its own (detached),
 * which runs the blocking message API (ssh_message_get) until the client leaves.
 *
 *   parley-libssh-server --host-key FILE [--port P] [--listen 127.0.0.1]
 *
 * Prints "parley-libssh-server listening on 127.0.0.1:PORT" once it listens (P 0: any port). */
#include <arpa/inet.h>
#include <libssh/libssh.h>
#include <libssh/server.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "hol.h"

struct conn {
  ssh_session session;
  int authenticated;
  int asked;
  char answer[8];
};

static int usage(const char *why) {
  fprintf(stderr, "parley-libssh-server: %s\n"
          "usage: parley-libssh-server --host-key FILE [--port P] [--listen ADDRESS]\n", why);
  return 2;
}

/* One keyboard-interactive message: the question first, then its answer checked. One question
 * per connection; a wrong answer fails the attempt (the client may start over). */
static void kbdint(struct conn *c, ssh_message msg) {
  if (!ssh_message_auth_kbdint_is_response(msg)) {
    char question[96];
    const char *prompts[1] = {question};
    char echo[1] = {1};
    if (hol_ask(question, sizeof question, c->answer, sizeof c->answer) != 0) {
      ssh_message_reply_default(msg);
      return;
    }
    c->asked = 1;
    ssh_message_auth_interactive_request(msg, HOL_NAME, HOL_INSTRUCTION, 1, prompts, echo);
    return;
  }
  const int ok = c->asked && ssh_userauth_kbdint_getnanswers(c->session) == 1 &&
                 strcmp(ssh_userauth_kbdint_getanswer(c->session, 0), c->answer) == 0;
  c->asked = 0;
  if (ok) {
    c->authenticated = 1;
    ssh_message_auth_reply_success(msg, 0);
  } else {
    ssh_message_auth_set_methods(msg, SSH_AUTH_METHOD_INTERACTIVE);
    ssh_message_reply_default(msg);
  }
}

static void serve(struct conn *c) {
  ssh_message msg;
  while ((msg = ssh_message_get(c->session)) != NULL) {
    const int type = ssh_message_type(msg), subtype = ssh_message_subtype(msg);
    if (type == SSH_REQUEST_AUTH && subtype == SSH_AUTH_METHOD_INTERACTIVE && !c->authenticated) {
      kbdint(c, msg);
    } else if (type == SSH_REQUEST_CHANNEL_OPEN && subtype == SSH_CHANNEL_SESSION &&
               c->authenticated) {
      /* Kept by the session and freed with it; its requests are refused below. */
      (void)ssh_message_channel_request_open_reply_accept(msg);
    } else {
      if (type == SSH_REQUEST_AUTH) ssh_message_auth_set_methods(msg, SSH_AUTH_METHOD_INTERACTIVE);
      ssh_message_reply_default(msg);
    }
    ssh_message_free(msg);
  }
}

static void *connection(void *arg) {
  struct conn *c = arg;
  if (ssh_handle_key_exchange(c->session) == SSH_OK) {
    ssh_set_auth_methods(c->session, SSH_AUTH_METHOD_INTERACTIVE);
    serve(c);
  }
  ssh_disconnect(c->session);
  ssh_free(c->session);
  free(c);
  return NULL;
}

static int bound_port(ssh_bind bind) {
  struct sockaddr_in a;
  socklen_t len = sizeof a;
  if (getsockname(ssh_bind_get_fd(bind), (struct sockaddr *)&a, &len) != 0) return -1;
  return ntohs(a.sin_port);
}

int main(int argc, char **argv) {
  const char *key = NULL, *listen_on = "127.0.0.1";
  unsigned port = 0;
  for (int i = 1; i < argc; ++i) {
    if (i + 1 >= argc) return usage("an option lacks its value");
    if (strcmp(argv[i], "--host-key") == 0) key = argv[++i];
    else if (strcmp(argv[i], "--port") == 0) port = (unsigned)strtoul(argv[++i], NULL, 10);
    else if (strcmp(argv[i], "--listen") == 0) listen_on = argv[++i];
    else return usage("unknown option");
  }
  if (key == NULL) return usage("give --host-key");
  signal(SIGPIPE, SIG_IGN);
  ssh_init();
  ssh_bind bind = ssh_bind_new();
  int no = 0;
  ssh_bind_options_set(bind, SSH_BIND_OPTIONS_PROCESS_CONFIG, &no);
  ssh_bind_options_set(bind, SSH_BIND_OPTIONS_BINDADDR, listen_on);
  ssh_bind_options_set(bind, SSH_BIND_OPTIONS_BINDPORT, &port);
  if (ssh_bind_options_set(bind, SSH_BIND_OPTIONS_HOSTKEY, key) != SSH_OK ||
      ssh_bind_options_set(bind, SSH_BIND_OPTIONS_KEY_EXCHANGE, "curve25519-sha256") != SSH_OK ||
      /* The ciphers are libssh's defaults: 0.10.6's list ends in a comma (an empty
       * name), which parley reads as OpenSSH does. */
      ssh_bind_options_set(bind, SSH_BIND_OPTIONS_HOSTKEY_ALGORITHMS, "ssh-ed25519") != SSH_OK) {
    fprintf(stderr, "parley-libssh-server: %s\n", ssh_get_error(bind));
    return 1;
  }
  if (ssh_bind_listen(bind) != SSH_OK) {
    fprintf(stderr, "parley-libssh-server: cannot listen: %s\n", ssh_get_error(bind));
    return 1;
  }
  printf("parley-libssh-server listening on %s:%d\n", listen_on, bound_port(bind));
  fflush(stdout);
  pthread_attr_t detached;
  pthread_attr_init(&detached);
  pthread_attr_setdetachstate(&detached, PTHREAD_CREATE_DETACHED);
  for (;;) {
    struct conn *c = calloc(1, sizeof *c);
    if (c == NULL) return 1;
    c->session = ssh_new();
    if (ssh_bind_accept(bind, c->session) != SSH_OK) {
      fprintf(stderr, "parley-libssh-server: accept: %s\n", ssh_get_error(bind));
      ssh_free(c->session);
      free(c);
      continue;
    }
    pthread_t thread;
    if (pthread_create(&thread, &detached, connection, c) != 0) {
      ssh_disconnect(c->session);
      ssh_free(c->session);
      free(c);
    }
  }
}

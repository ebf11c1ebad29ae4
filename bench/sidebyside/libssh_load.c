/* parley-libssh-load: full keyboard-interactive logins with libssh's client, for the
 * side-by-side benchmark (bench/server_cost.py, docs/load-tool.md), so that a server's cost is
 * also measured against a client that is not parley's. Each login: connect (a source address
 * rotating over 127.0.0.0/8, as parley-load's), curve25519-sha256 with ssh-ed25519, the host
 * key checked against a fingerprint, keyboard-interactive answering the Higher or Lower
 * question (hol.h), disconnect. C threads each log in one after another until N are done.
 *
 *   parley-libssh-load HOST:PORT --host-key-fingerprint SHA256:... [--count N]
 *                      [--concurrency C] [--user NAME] [--json]
 *
 * Prints what parley-load rate prints (the same JSON keys it has: started, succeeded, failed,
 * elapsed_s, per_second); exits 1 if any login failed. */
#include <libssh/libssh.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hol.h"

struct options {
  char host[64];
  unsigned port;
  const char *fingerprint;
  const char *user;
  long count;
  long concurrency;
  int json;
};

static struct options opt = {.user = "admin", .count = 100, .concurrency = 10};
static atomic_long next_login, succeeded, failed;
static pthread_mutex_t errors_lock = PTHREAD_MUTEX_INITIALIZER;
static char first_error[256];

static void fail(const char *what, ssh_session s) {
  atomic_fetch_add(&failed, 1);
  pthread_mutex_lock(&errors_lock);
  if (first_error[0] == '\0')
    snprintf(first_error, sizeof first_error, "%s: %s", what, s ? ssh_get_error(s) : "");
  pthread_mutex_unlock(&errors_lock);
}

static int host_key_ok(ssh_session s) {
  ssh_key key = NULL;
  unsigned char *hash = NULL;
  size_t len = 0;
  int ok = 0;
  if (ssh_get_server_publickey(s, &key) == SSH_OK &&
      ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash, &len) == 0) {
    char *text = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, len);
    ok = text != NULL && strcmp(text, opt.fingerprint) == 0;
    ssh_string_free_char(text);
  }
  ssh_clean_pubkey_hash(&hash);
  ssh_key_free(key);
  return ok;
}

/* Answers every round of questions; one Higher or Lower round is what the servers ask. */
static int kbdint(ssh_session s) {
  int rc = ssh_userauth_kbdint(s, NULL, NULL);
  for (int rounds = 0; rc == SSH_AUTH_INFO && rounds < 4; ++rounds) {
    const int n = ssh_userauth_kbdint_getnprompts(s);
    for (int i = 0; i < n; ++i) {
      const long answer = hol_answer(ssh_userauth_kbdint_getprompt(s, (unsigned)i, NULL));
      if (answer < 0) return SSH_AUTH_DENIED;
      char text[24];
      snprintf(text, sizeof text, "%ld", answer);
      ssh_userauth_kbdint_setanswer(s, (unsigned)i, text);
    }
    rc = ssh_userauth_kbdint(s, NULL, NULL);
  }
  return rc;
}

static void login(long index) {
  ssh_session s = ssh_new();
  if (s == NULL) {
    fail("ssh_new", NULL);
    return;
  }
  char source[32];
  const long k = index % (254L * 256);
  snprintf(source, sizeof source, "127.0.%ld.%ld", k / 254, k % 254 + 1);
  int no = 0;
  ssh_options_set(s, SSH_OPTIONS_PROCESS_CONFIG, &no);
  ssh_options_set(s, SSH_OPTIONS_HOST, opt.host);
  ssh_options_set(s, SSH_OPTIONS_PORT, &opt.port);
  ssh_options_set(s, SSH_OPTIONS_USER, opt.user);
  ssh_options_set(s, SSH_OPTIONS_BINDADDR, source);
  ssh_options_set(s, SSH_OPTIONS_KEY_EXCHANGE, "curve25519-sha256");
  ssh_options_set(s, SSH_OPTIONS_HOSTKEYS, "ssh-ed25519");
  /* The ciphers are libssh's defaults: 0.10.6's list ends in a comma (an empty name),
   * which parleyd reads as OpenSSH does. */
  if (ssh_connect(s) != SSH_OK) {
    fail("connect", s);
  } else if (!host_key_ok(s)) {
    fail("host key does not match --host-key-fingerprint", NULL);
  } else if (kbdint(s) != SSH_AUTH_SUCCESS) {
    fail("keyboard-interactive", s);
  } else {
    atomic_fetch_add(&succeeded, 1);
  }
  ssh_disconnect(s);
  ssh_free(s);
}

static void *worker(void *arg) {
  (void)arg;
  for (long i; (i = atomic_fetch_add(&next_login, 1)) < opt.count;) login(i);
  return NULL;
}

static int usage(const char *why) {
  fprintf(stderr, "parley-libssh-load: %s\nusage: parley-libssh-load HOST:PORT "
          "--host-key-fingerprint SHA256:... [--count N] [--concurrency C] [--user NAME] [--json]\n",
          why);
  return 2;
}

static int parse(int argc, char **argv) {
  const char *target = NULL;
  for (int i = 1; i < argc; ++i) {
    const char *a = argv[i];
    if (strcmp(a, "--json") == 0) { opt.json = 1; continue; }
    if (a[0] != '-') { target = a; continue; }
    if (i + 1 >= argc) return usage("an option lacks its value");
    const char *v = argv[++i];
    if (strcmp(a, "--host-key-fingerprint") == 0) opt.fingerprint = v;
    else if (strcmp(a, "--user") == 0) opt.user = v;
    else if (strcmp(a, "--count") == 0 || strcmp(a, "-n") == 0) opt.count = strtol(v, NULL, 10);
    else if (strcmp(a, "--concurrency") == 0 || strcmp(a, "-c") == 0) opt.concurrency = strtol(v, NULL, 10);
    else return usage("unknown option");
  }
  if (target == NULL) return usage("give HOST:PORT");
  const char *colon = strrchr(target, ':');
  if (colon == NULL || (size_t)(colon - target) >= sizeof opt.host) return usage("bad HOST:PORT");
  memcpy(opt.host, target, (size_t)(colon - target));
  opt.port = (unsigned)strtoul(colon + 1, NULL, 10);
  if (opt.port == 0 || opt.port > 65535) return usage("bad port");
  if (opt.fingerprint == NULL) return usage("give --host-key-fingerprint");
  if (opt.count < 1 || opt.concurrency < 1 || opt.concurrency > 10000)
    return usage("--count and --concurrency must be positive (concurrency at most 10000)");
  if (opt.concurrency > opt.count) opt.concurrency = opt.count;
  return 0;
}

int main(int argc, char **argv) {
  if (parse(argc, argv) != 0) return 2;
  ssh_init();
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  pthread_t *threads = calloc((size_t)opt.concurrency, sizeof *threads);
  if (threads == NULL) return 1;
  long started = 0;
  for (long i = 0; i < opt.concurrency; ++i)
    if (pthread_create(&threads[started], NULL, worker, NULL) == 0) ++started;
  for (long i = 0; i < started; ++i) pthread_join(threads[i], NULL);
  free(threads);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  const double elapsed = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  const long ok = atomic_load(&succeeded), bad = atomic_load(&failed);
  const double rate = elapsed > 0 ? (double)ok / elapsed : 0;
  if (opt.json)
    printf("{\"mode\":\"rate\",\"client\":\"libssh\",\"target\":\"%s:%u\",\"started\":%ld,"
           "\"succeeded\":%ld,\"failed\":%ld,\"elapsed_s\":%.3f,\"per_second\":%.1f}\n",
           opt.host, opt.port, ok + bad, ok, bad, elapsed, rate);
  else
    printf("parley-libssh-load against %s:%u: %ld logged in, %ld failed in %.3f s: %.1f logins/s%s%s\n",
           opt.host, opt.port, ok, bad, elapsed, rate, first_error[0] ? "\nfirst failure: " : "",
           first_error);
  if (first_error[0] && opt.json) fprintf(stderr, "first failure: %s\n", first_error);
  ssh_finalize();
  return bad > 0 ? 1 : 0;
}

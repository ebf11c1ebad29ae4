/* The Higher or Lower question of parleyd --demo (src/userauth/higher_or_lower.cpp), for the
 * side-by-side benchmark's own peers (docs/load-tool.md, "The side-by-side benchmark"): the
 * libssh server and the PAM module ask it exactly as parleyd does, the libssh client answers it
 * as parley-load --auth kbd-hol does. Header-only C, no dependency. */
#ifndef PARLEY_BENCH_HOL_H
#define PARLEY_BENCH_HOL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define HOL_NAME "Higher or Lower"
#define HOL_INSTRUCTION "Answer the question to show me you are human."
#define HOL_LEAD "What is the highest number: "

/* Two different numbers below 100 and the question about them ("What is the highest number:
 * 88 or 26? "); `answer` gets the larger one as text. Returns 0, or -1 if the system's
 * random source fails. */
static inline int hol_ask(char *question, size_t qlen, char *answer, size_t alen) {
  unsigned char r[2];
  if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) return -1;
  unsigned a = r[0] % 100u, b = r[1] % 100u;
  if (a == b) b = (b + 1u) % 100u;
  snprintf(question, qlen, HOL_LEAD "%u or %u? ", a, b);
  snprintf(answer, alen, "%u", a > b ? a : b);
  return 0;
}

/* The answer to a question as hol_ask words it, or -1 if `text` is not one. */
static inline long hol_answer(const char *text) {
  const char *p = strstr(text, HOL_LEAD);
  if (p == NULL) return -1;
  p += strlen(HOL_LEAD);
  char *end = NULL;
  long a = strtol(p, &end, 10);
  if (end == p || strncmp(end, " or ", 4) != 0) return -1;
  p = end + 4;
  long b = strtol(p, &end, 10);
  if (end == p) return -1;
  return a > b ? a : b;
}

#endif

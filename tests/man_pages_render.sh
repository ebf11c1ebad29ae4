#!/bin/bash
# man_pages_render: every generated manual page renders without a warning.
#
#   man_pages_render.sh MAN_DIR
#
# For each of parleyd.8, parleyd.conf.5 and parley.1 in MAN_DIR (the build tree's man/),
# `MANWIDTH=80 man --warnings -l PAGE` must exit 0, print nothing on stderr (where groff's
# warnings go: an unknown macro, a bad escape, a line that cannot be adjusted) and render
# the page's NAME section. A page that is missing fails. Before the real pages, the check
# is run on a copy of the first one with a macro that does not exist, and must refuse it:
# a check that could not fail would prove nothing.
set -u

man_dir=${1:?usage: man_pages_render.sh MAN_DIR}
pages=(parleyd.8 parleyd.conf.5 parley.1)
failures=0

# check_page PAGE: 0 if it renders cleanly, else 1 with the reason on stdout.
check_page() {
  local page=$1 out err status
  if [[ ! -s $page ]]; then
    echo "$page: missing or empty (is the man_pages target built?)"
    return 1
  fi
  out=$(mktemp) err=$(mktemp)
  MANWIDTH=80 man --warnings -l "$page" >"$out" 2>"$err" </dev/null
  status=$?
  local result=0
  if [[ $status -ne 0 ]]; then
    echo "$page: man exited $status"
    result=1
  fi
  if [[ -s $err ]]; then
    echo "$page: warnings on stderr:"
    sed 's/^/    /' "$err"
    result=1
  fi
  if ! grep -q '^NAME' "$out"; then
    echo "$page: the rendered page has no NAME section"
    result=1
  fi
  rm -f "$out" "$err"
  return $result
}

# The check must be able to fail: a copy with an undefined macro is refused.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
if [[ -s $man_dir/${pages[0]} ]]; then
  broken=$scratch/${pages[0]}
  awk '{ print } /^\.SH NAME/ && !done { print ".NOSUCHMACRO deliberately undefined"; done = 1 }' \
    "$man_dir/${pages[0]}" >"$broken"
  if reason=$(check_page "$broken"); then
    echo "FAIL: self-test: a page with an undefined macro rendered as clean; the check cannot fail"
    failures=$((failures + 1))
  else
    echo "ok: self-test: a page with an undefined macro is refused ($(echo "$reason" | tail -n 1 | sed 's/^ *//'))"
  fi
fi

for page in "${pages[@]}"; do
  if reason=$(check_page "$man_dir/$page"); then
    echo "ok: $page renders at 80 columns without warnings"
  else
    echo "FAIL: $reason"
    failures=$((failures + 1))
  fi
done

if [[ $failures -ne 0 ]]; then
  echo "man_pages_render: $failures failure(s)"
  exit 1
fi
echo "man_pages_render: all pages render cleanly"

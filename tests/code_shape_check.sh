#!/usr/bin/env bash
# The size limits of issue 13: no function in src/ or apps/ longer than 80
# lines, no source file longer than 700. Functions are found by Universal
# Ctags (its end field), so a long lambda counts toward the function holding
# it. Usage: code_shape_check.sh REPO_ROOT [MAX_FUNCTION] [MAX_FILE]
set -euo pipefail
root=${1:?repository root}
max_function=${2:-80}
max_file=${3:-700}
cd "$root"
command -v ctags >/dev/null || { echo "code_shape: ctags (universal-ctags) is missing" >&2; exit 2; }
ctags --version | grep -q "Universal Ctags" || { echo "code_shape: ctags is not Universal Ctags" >&2; exit 2; }

status=0
while read -r length name file; do
  echo "code_shape: $file: function $name is $length lines (over $max_function)"
  status=1
done < <(ctags -R --languages=C++ --kinds-C++=f --fields=+ne -x \
           --_xformat='%{end} %{line} %N %F' src apps |
         awk -v max="$max_function" '{n = $1 - $2 + 1; if (n > max) print n, $3, $4}')

while read -r lines file; do
  echo "code_shape: $file is $lines lines (over $max_file)"
  status=1
done < <(find src apps \( -name '*.cpp' -o -name '*.hpp' \) -print0 | xargs -0 wc -l |
         awk -v max="$max_file" '$2 != "total" && $1 > max {print $1, $2}')

functions=$(ctags -R --languages=C++ --kinds-C++=f -x --_xformat='%N' src apps | wc -l)
if [[ $functions -lt 500 ]]; then
  echo "code_shape: only $functions functions found: ctags did not read the tree" >&2
  exit 2
fi
[[ $status -eq 0 ]] && echo "code_shape: $functions functions, none over $max_function lines; no file over $max_file lines"
exit $status

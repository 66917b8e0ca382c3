#!/bin/sh
# Style checks over every C source of the project:
#  - clang-format (the checked-in .clang-format) reports no change;
#  - no unbounded string calls (strcpy, strcat, sprintf, vsprintf, gets).
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
files=$(git ls-files '*.c' '*.h' 2>/dev/null || find common gateway sanitizer tests bench -name '*.[ch]')
fail=0
if command -v clang-format >/dev/null 2>&1; then
	# shellcheck disable=SC2086
	if ! clang-format --dry-run -Werror $files; then
		echo "style: clang-format would change the files above (run clang-format -i)" >&2
		fail=1
	fi
else
	echo "style: clang-format not installed" >&2
	fail=1
fi
# shellcheck disable=SC2086
if grep -nHE '\b(strcpy|strcat|sprintf|vsprintf|gets)[[:space:]]*\(' $files; then
	echo "style: unbounded string calls above; use strbuf or snprintf with a truncation check" >&2
	fail=1
fi
[ "$fail" -eq 0 ] && echo "style: $(echo "$files" | wc -w) files clean"
exit "$fail"

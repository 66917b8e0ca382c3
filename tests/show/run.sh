#!/bin/sh
# Golden test of `sekisho show`: every directory under cases/ is a rules
# directory; `sekisho show CASE` (run from cases/, so rule comments read
# "CASE/file.rules:N") must print exactly CASE.ok, and its diagnostics on
# stderr exactly CASE.err when that file exists.  The date is pinned
# (SEKISHO_TODAY=2026-11-22) so exception expiry is stable.
#
# usage: run.sh PATH-TO-sekisho [--update]   (--update rewrites the goldens)
set -u
sk=$1
update=${2:-}
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/cases" || exit 2
export SEKISHO_TODAY=2026-11-22
fail=0
n=0
out=$(mktemp -d /tmp/sk-show-XXXXXX)
trap 'rm -rf "$out"' EXIT
for d in */; do
	c=${d%/}
	n=$((n + 1))
	"$sk" show "$c" >"$out/$c.out" 2>"$out/$c.err"
	rc=$?
	if [ "$update" = --update ]; then
		cp "$out/$c.out" "$c.ok"
		if [ -s "$out/$c.err" ]; then cp "$out/$c.err" "$c.err"; else rm -f "$c.err"; fi
		echo "updated $c (exit $rc)"
		continue
	fi
	if [ $rc -ne 0 ]; then
		echo "FAIL $c: sekisho show exited $rc"
		sed 's/^/    | /' "$out/$c.err"
		fail=$((fail + 1))
		continue
	fi
	if ! cmp -s "$out/$c.out" "$c.ok"; then
		echo "FAIL $c: output differs from $c.ok"
		diff -u "$c.ok" "$out/$c.out" | head -40 | sed 's/^/    | /'
		fail=$((fail + 1))
		continue
	fi
	if [ -f "$c.err" ] && ! cmp -s "$out/$c.err" "$c.err"; then
		echo "FAIL $c: diagnostics differ from $c.err"
		diff -u "$c.err" "$out/$c.err" | head -20 | sed 's/^/    | /'
		fail=$((fail + 1))
		continue
	fi
	echo "ok   $c"
done
echo "show golden: $((n - fail)) of $n cases pass"
[ $fail -eq 0 ]

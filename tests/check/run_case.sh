#!/bin/sh
# run_case.sh SEKISHO CASEDIR - one golden test of `sekisho check`.
#
# Runs `sekisho check ARGS` with CASEDIR as the working directory (ARGS from
# CASEDIR/args, default "."), so every path in the output is relative and
# stable, and compares stderr with CASEDIR/expected and the exit status
# with CASEDIR/exit (default 0).  SEKISHO_TODAY pins the date exceptions
# are judged against.  With SEKISHO_UPDATE_GOLDEN=1 the goldens are
# rewritten instead (review the diff before committing).
set -u
sekisho=$1
case_dir=$2
case $sekisho in /*) ;; *) sekisho=$PWD/$sekisho ;; esac
name=$(basename "$case_dir")
: "${SEKISHO_TODAY:=2026-11-22}"
export SEKISHO_TODAY
unset SEKISHO_RULES

args=.
[ -f "$case_dir/args" ] && args=$(cat "$case_dir/args")
want_rc=0
[ -f "$case_dir/exit" ] && want_rc=$(cat "$case_dir/exit")

out=$(mktemp) || exit 2
trap 'rm -f "$out"' EXIT INT TERM
# shellcheck disable=SC2086 # args is a word list on purpose
(cd "$case_dir" && exec "$sekisho" check $args) 2>"$out" >/dev/null
rc=$?

if [ "${SEKISHO_UPDATE_GOLDEN:-0}" = 1 ]; then
	cp "$out" "$case_dir/expected"
	if [ "$rc" -eq 0 ]; then rm -f "$case_dir/exit"; else echo "$rc" >"$case_dir/exit"; fi
	echo "$name: golden updated (exit $rc)"
	exit 0
fi

fail=0
if ! diff -u "$case_dir/expected" "$out"; then
	echo "$name: stderr differs from $case_dir/expected" >&2
	fail=1
fi
if [ "$rc" -ne "$want_rc" ]; then
	echo "$name: exit status $rc, expected $want_rc" >&2
	fail=1
fi
exit $fail

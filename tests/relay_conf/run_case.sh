#!/bin/sh
# run_case.sh DUMP CASE.conf [OK] - one golden test of the relayd.conf parser
# (OK: the expected output when it is not CASE.ok beside the case).
#
# Runs `relay_conf_dump CASE.conf` in the case's directory (so file names in
# messages are relative and stable) and compares stdout plus a last line
# "exit N" with CASE.ok.  A case that parses is also run through a round
# trip: its dump, parsed again, dumps the same (comments aside).
# SEKISHO_UPDATE_GOLDEN=1 rewrites CASE.ok instead (review the diff).
set -u
dump=$1
conf=$2
case $dump in /*) ;; *) dump=$PWD/$dump ;; esac
dir=$(dirname "$conf")
name=$(basename "$conf" .conf)
ok=${3:-$dir/$name.ok}
tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT INT TERM

(cd "$dir" && "$dump" "$name.conf") >"$tmp/out" 2>&1
rc=$?
echo "exit $rc" >>"$tmp/out"
if [ "${SEKISHO_UPDATE_GOLDEN:-0}" = 1 ]; then
	cp "$tmp/out" "$ok"
	echo "$name: golden updated (exit $rc)"
	exit 0
fi
fail=0
if ! diff -u "$ok" "$tmp/out"; then
	echo "$name: output differs from $ok" >&2
	fail=1
fi
if [ $rc -eq 0 ]; then
	grep -v '^exit ' "$tmp/out" >"$tmp/again.conf"
	(cd "$tmp" && "$dump" again.conf) >"$tmp/again.out" 2>&1 || {
		echo "$name: the dump does not parse again:" >&2
		cat "$tmp/again.out" >&2
		fail=1
	}
	sed 's/ *#.*//' "$tmp/out" | grep -v '^exit ' | grep -v '^$' >"$tmp/a"
	sed 's/ *#.*//' "$tmp/again.out" | grep -v '^$' >"$tmp/b"
	if ! diff -u "$tmp/a" "$tmp/b"; then
		echo "$name: round trip changed the values" >&2
		fail=1
	fi
fi
exit $fail

#!/bin/sh
# For every golden case: the expected `sekisho show` text is valid nft
# syntax (`nft -c -f` in a fresh network namespace), and loading it with
# `nft -f` gives the same `nft list table inet sekisho` as `sekisho apply`
# of the same rules in another fresh namespace (counters normalised).
# Needs root; creates sk-show-$$-{a,b} and removes them.
#
# usage: nft_check.sh PATH-TO-sekisho
set -u
sk=$1
here=$(cd "$(dirname "$0")" && pwd)
if [ "$(id -u)" != 0 ]; then
	echo "nft_check: needs root; skipped"
	exit 77
fi
a=sk-show-$$-a
b=sk-show-$$-b
tmp=$(mktemp -d /tmp/sk-show-XXXXXX)
cleanup() {
	ip netns del "$a" 2>/dev/null
	ip netns del "$b" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
norm() { sed -E 's/packets [0-9]+ bytes [0-9]+/packets 0 bytes 0/g'; }
export SEKISHO_TODAY=2026-11-22
cd "$here/cases" || exit 2
fail=0
n=0
for d in */; do
	c=${d%/}
	n=$((n + 1))
	ip netns del "$a" 2>/dev/null
	ip netns del "$b" 2>/dev/null
	ip netns add "$a" && ip netns add "$b" || exit 2
	if ! ip netns exec "$a" nft -c -f "$c.ok" >"$tmp/err" 2>&1; then
		echo "FAIL $c: nft -c -f $c.ok rejects it:"
		sed 's/^/    | /' "$tmp/err"
		fail=$((fail + 1))
		continue
	fi
	ip netns exec "$a" nft -f "$c.ok" || { echo "FAIL $c: nft -f"; fail=$((fail + 1)); continue; }
	ip netns exec "$a" nft list table inet sekisho | norm >"$tmp/nft"
	if ! ip netns exec "$b" "$sk" --state-dir "$tmp/state-$c" apply "$c" >"$tmp/err" 2>&1; then
		echo "FAIL $c: sekisho apply:"
		sed 's/^/    | /' "$tmp/err"
		fail=$((fail + 1))
		continue
	fi
	ip netns exec "$b" nft list table inet sekisho | norm >"$tmp/sk"
	if ! cmp -s "$tmp/nft" "$tmp/sk"; then
		echo "FAIL $c: nft list after sekisho apply differs from after nft -f:"
		diff -u "$tmp/nft" "$tmp/sk" | head -30 | sed 's/^/    | /'
		fail=$((fail + 1))
		continue
	fi
	echo "ok   $c (nft -c accepts it; apply lists the same as nft -f)"
done
echo "show nft check: $((n - fail)) of $n cases pass"
[ $fail -eq 0 ]

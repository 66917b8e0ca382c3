#!/bin/sh
# Golden test of html_text: CASE.html converted (whole, 1 byte and 7 bytes at
# a time) must equal CASE.ok byte for byte.
# usage: run.sh DRIVER CASE.html
# SEKISHO_UPDATE_GOLDEN=1 rewrites CASE.ok from the whole-input run instead.
set -eu
driver=$1
html=$2
ok=${html%.html}.ok
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
if [ "${SEKISHO_UPDATE_GOLDEN:-0}" = 1 ]; then
	"$driver" "$html" >"$ok"
	echo "updated $ok"
	exit 0
fi
fail=0
for chunk in 0 1 7; do
	"$driver" -c "$chunk" "$html" >"$tmp"
	if ! cmp -s "$tmp" "$ok"; then
		echo "html_text: $(basename "$html") (chunk $chunk) differs from $(basename "$ok"):"
		diff -u "$ok" "$tmp" | head -40 || true
		fail=1
	fi
done
[ "$fail" -eq 0 ] && echo "html_text: $(basename "$html") ok"
exit "$fail"

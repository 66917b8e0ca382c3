#!/bin/sh
# no_db.sh SEKISHO MESSAGE - without signatures nothing passes:
# `sekisho sanitize --scan-db DIR` with an empty and with a missing DIR exits
# 2, writes nothing on stdout, and says "signature database missing" on
# stderr (docs/clamav.md: the relay turns this into a 4xx).
set -eu
[ $# -eq 2 ] || {
	echo "usage: $0 SEKISHO MESSAGE" >&2
	exit 2
}
sk=$1
msg=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
mkdir "$tmp/empty"
fail=0
for db in "$tmp/empty" "$tmp/missing"; do
	set +e
	"$sk" sanitize --scan-db "$db" <"$msg" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	set -e
	if [ "$rc" -ne 2 ]; then
		echo "FAIL: --scan-db $db: exit $rc, expected 2"
		fail=1
	fi
	if [ -s "$tmp/out" ]; then
		echo "FAIL: --scan-db $db: wrote $(wc -c <"$tmp/out") bytes on stdout"
		fail=1
	fi
	if ! grep -q "signature database missing" "$tmp/err"; then
		echo "FAIL: --scan-db $db: stderr does not say why:"
		sed 's/^/    /' "$tmp/err"
		fail=1
	fi
done
[ "$fail" -eq 0 ] && echo "no database: exit 2, nothing written, reason given"
exit "$fail"

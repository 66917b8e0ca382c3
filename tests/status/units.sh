#!/bin/bash
# units.sh - deploy/systemd's units: `systemd-analyze verify` (with the
# binaries of this build in place of /usr/sbin; any warning counts as a
# failure, since verify exits 0 on unknown keys) and units_check.py's
# key/section/sandboxing check, which also runs where systemd-analyze is
# absent.
#
#   tests/status/units.sh PATH-TO-sekisho PATH-TO-sekisho-gatewayd PATH-TO-sekisho-relayd
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
SEKISHO=$(realpath "$1")
GATEWAYD=$(realpath "$2")
RELAYD=$(realpath "$3")
T=$(mktemp -d /tmp/skun.XXXXXX)
trap 'rm -rf "$T"' EXIT
fails=0

python3 "$here/units_check.py" "$top/deploy/systemd" || fails=1

if command -v systemd-analyze >/dev/null 2>&1; then
	for f in "$top"/deploy/systemd/*.service "$top"/deploy/systemd/*.timer; do
		sed -e "s|/usr/sbin/sekisho-relayd|$RELAYD|g" \
			-e "s|/usr/sbin/sekisho-gatewayd|$GATEWAYD|g" \
			-e "s|/usr/sbin/sekisho |$SEKISHO |g" "$f" >"$T/$(basename "$f")"
	done
	if (cd "$T" && SYSTEMD_LOG_LEVEL=notice systemd-analyze verify --man=no ./*.service \
		./*.timer) >"$T/verify.log" 2>&1 && [ ! -s "$T/verify.log" ]; then
		echo "ok   systemd-analyze verify: no complaint"
	else
		echo "FAIL systemd-analyze verify:"
		sed 's/^/    | /' "$T/verify.log"
		fails=1
	fi
else
	echo "SKIP systemd-analyze is not installed: only units_check.py ran"
fi
# the tmpfiles.d entries: four fields or more, absolute paths, octal modes
if awk '!/^#/ && NF { if (NF < 4 || $2 !~ /^\// || $3 !~ /^[0-7][0-7][0-7][0-7]$/) { print FILENAME ":" NR ": " $0; bad = 1 } }
	END { exit bad }' "$top/deploy/systemd/sekisho.tmpfiles"; then
	echo "ok   sekisho.tmpfiles lines are well formed"
else
	fails=1
fi
[ "$fails" -eq 0 ]

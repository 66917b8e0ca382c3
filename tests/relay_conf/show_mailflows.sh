#!/bin/sh
# show_mailflows.sh SEKISHO TOPDIR EXPECTED - `sekisho show --mailflows rules`
# in TOPDIR prints EXPECTED exactly (the default topology's four mail
# flow lines) and exits 0.
set -u
out=$(mktemp) || exit 2
trap 'rm -f "$out"' EXIT INT TERM
unset SEKISHO_RULES
(cd "$2" && "$1" show --mailflows rules) >"$out" || { echo "show --mailflows failed" >&2; exit 1; }
if [ "${SEKISHO_UPDATE_GOLDEN:-0}" = 1 ]; then cp "$out" "$3"; exit 0; fi
diff -u "$3" "$out"

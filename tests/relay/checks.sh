# shellcheck shell=bash
# checks.sh - the check counters and the bounded polling shared by the
# relay-side test scripts (sourced by tests/relay/lib.sh, tests/relay/smoke.sh,
# tests/audit/relay_audit.sh and tests/status/relay_stats.sh).
#
# ok / fail count into R_CHECKS and R_FAILS; the sourcing script decides
# how to report them at the end.

R_FAILS=0
R_CHECKS=0

say() { printf '%s\n' "$*"; }
ok() {
	R_CHECKS=$((R_CHECKS + 1))
	printf 'ok   %s\n' "$*"
}
fail() {
	R_CHECKS=$((R_CHECKS + 1))
	R_FAILS=$((R_FAILS + 1))
	printf 'FAIL %s\n' "$*"
}
# check WHAT COMMAND...: ok when COMMAND succeeds, else fail.
check() {
	local what=$1
	shift
	if "$@"; then ok "$what"; else fail "$what"; fi
}

# wait_until SECONDS COMMAND...: poll COMMAND every 0.2 s; 1 when it never
# succeeded.  The bound only keeps a broken run from hanging.
wait_until() {
	local secs=$1
	shift
	for _ in $(seq 1 $((secs * 5))); do
		if "$@"; then return 0; fi
		sleep 0.2
	done
	return 1
}

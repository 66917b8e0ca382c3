#!/bin/bash
# prometheus_gateway.sh - `sekisho status --prometheus [FILE]` on a real
# ruleset: the exposition passes promcheck.py before and after apply, the
# ruleset version is exported, a segment pair's deny counter rises by exactly
# the packets sent, and the figures agree with `sekisho status`.
#
#   tests/status/prometheus_gateway.sh PATH-TO-sekisho
#
# Uses tests/netns/lib.sh (deploy/netns.sh topology, prefix sk-t-promst-PID-).
# shellcheck source=tests/netns/lib.sh
. "$(dirname "$0")/../netns/lib.sh"
here=$(cd "$(dirname "$0")" && pwd)
netns_init promst "$@"

promcheck() { # FILE ARGS...: ok/fail with promcheck.py's complaints
	local f=$1 what=$2
	shift 2
	local out
	if out=$(python3 "$here/promcheck.py" "$f" "$@" 2>&1); then
		ok "$what"
	else
		fail "$what: $out"
		sed 's/^/    | /' "$f" | head -n 40
	fi
}
value() { # FILE SERIES: the value of one series (empty when absent)
	awk -v s="$2" '$1 == s {print $2}' "$1"
}
JL='sekisho_gateway_packets_total{from="joho",to="lgwan",verdict="deny"}'

say "-- before any apply: no table"
sk status --prometheus >"$T/p0.prom" 2>"$T/p0.err" || fail "status --prometheus without a table: $(cat "$T/p0.err")"
promcheck "$T/p0.prom" "no table: valid exposition, loaded 0, version 0" \
	--require sekisho_gateway_ruleset_loaded=0 --require sekisho_gateway_ruleset_version=0

apply_ok "$NETNS_TOP/rules"
sk status --prometheus >"$T/p1.prom"
promcheck "$T/p1.prom" "after apply: valid exposition, loaded 1, version 1" \
	--require sekisho_gateway_ruleset_loaded=1 --require sekisho_gateway_ruleset_version=1
digest=$(sk status | sed -n 's/^digest: *//p')
if [ -n "$digest" ] && grep -qF "sekisho_gateway_ruleset_info{digest=\"$digest\",version=\"000001\"} 1" "$T/p1.prom"; then
	ok "ruleset_info carries the running digest"
else
	fail "ruleset_info: digest '$digest': $(grep ruleset_info "$T/p1.prom")"
fi
jl0=$(value "$T/p1.prom" "$JL")
[ -n "$jl0" ] || fatal "no series $JL in: $(cat "$T/p1.prom")"

say "-- 3 denied datagrams joho -> lgwan"
udp_burst 3 joho 198.18.2.10 198.18.3.50 53
sk status --prometheus "$T/out/gw.prom" || fail "status --prometheus FILE failed"
promcheck "$T/out/gw.prom" "written to FILE: valid exposition"
jl1=$(value "$T/out/gw.prom" "$JL")
if [ -n "$jl1" ] && [ $((jl1 - jl0)) -eq 3 ]; then
	ok "joho->lgwan deny packets rose by 3 ($jl0 -> $jl1)"
else
	fail "joho->lgwan deny packets $jl0 -> '$jl1', expected +3"
fi
[ "$(stat -c %a "$T/out/gw.prom")" = 644 ] && ok "FILE is mode 0644" ||
	fail "FILE mode $(stat -c %a "$T/out/gw.prom")"
[ -z "$(ls "$T/out" | grep -v '^gw.prom$')" ] && ok "no temporary file left in the directory" ||
	fail "left: $(ls "$T/out")"
text=$(sk status | awk '$1 == "joho" && $2 == "->" && $3 == "lgwan" {print $6}')
[ "$text" = "$jl1" ] && ok "sekisho status shows the same deny count ($text)" ||
	fail "sekisho status shows '$text', prometheus $jl1"

say "-- usage"
if sk status --prometheus a b >/dev/null 2>&1; then
	fail "status --prometheus with two files accepted"
else
	ok "status --prometheus with two files is a usage error"
fi

netns_finish

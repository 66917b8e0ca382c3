#!/bin/bash
# status_alerts.sh - `sekisho status` shows the monitor's recent alerts
# safely: the last 10 lines only, key fields of JSON lines, and hostile bytes
# (terminal escape sequences, C1 controls, bidi overrides, invalid UTF-8, an
# overlong line, a line that is not JSON) shown escaped, never raw.
#
#   tests/status/status_alerts.sh PATH-TO-sekisho
#
# Runs in a private network namespace (unshare --net: no ruleset there, so
# status reports "running: none" and goes on).  Needs root.
set -eu

SEKISHO=$(realpath "${1:?usage: status_alerts.sh SEKISHO}")
[ "$(id -u)" = 0 ] || {
	echo "status_alerts.sh: needs root"
	exit 77
}
if [ -z "${SK_STATUS_IN_NS:-}" ]; then
	exec env SK_STATUS_IN_NS=1 unshare --net -- bash "$0" "$@"
fi
T=$(mktemp -d /tmp/skal.XXXXXX)
trap 'rm -rf "$T"' EXIT
fails=0 checks=0
ok() {
	checks=$((checks + 1))
	echo "ok   $*"
}
fail() {
	checks=$((checks + 1))
	fails=$((fails + 1))
	echo "FAIL $*"
}
mkdir -p "$T/state"
A=$T/alerts.jsonl
{
	printf '{"ts":"2026-11-22T05:00:00Z","pair":"old-line-1","count":1}\n'
	printf '{"ts":"2026-11-22T05:00:01Z","pair":"old-line-2","count":1}\n'
	printf '{"first_seen":"2026-11-22T05:01:00Z","last_seen":"2026-11-22T05:01:09Z","pair":"joho->shirei","proto":"tcp","src":"198.18.2.10","sport":40000,"dst":"198.18.1.10","dport":22,"count":42,"rule":"rules/shirei.rules:7"}\n'
	# JSON-escaped ESC: clear screen and set the title
	printf '{"pair":"internet->joho","rule":"\\u001b[2J\\u001b]0;pwned\\u0007","count":1}\n'
	# raw ESC and CR inside a JSON string are invalid JSON: shown as a raw line
	printf '{"pair":"x","rule":"\033[31mred\r"}\n'
	# C1 CSI (U+009B) and a bidi override (U+202E) as UTF-8, valid JSON
	printf '{"pair":"c1\xc2\x9b31m","rule":"bidi\xe2\x80\xaeevil","count":2}\n'
	# invalid UTF-8 and a backslash
	printf '{"pair":"bad\xff\xfeutf8","rule":"back\\\\slash"}\n'
	# not JSON at all, with a raw ESC
	printf 'garbage \033[5m blink\n'
	# an overlong value
	printf '{"pair":"%s","count":3}\n' "$(head -c 5000 /dev/zero | tr '\0' A)"
	# the monitor's own format (gateway/monitor.c)
	printf '{"time":"2026-11-22T05:09:00Z","event":"deny","state":"new","rule":"sekisho deny lgwan->joho ","pair":"lgwan->joho","from":"lgwan","to":"joho","proto":"udp","src":"198.18.3.10","dst":"198.18.2.10","sport":5353,"dport":53,"in":"lgwan0","out":"joho0","first":"2026-11-22T05:08:59Z","last":"2026-11-22T05:09:00Z","packets":7,"bytes":420}\n'
	printf '{"unknown":"fields","only":1}\n'
	printf '{"ts":"2026-11-22T05:10:00Z","pair":"newest","count":9}'
} >"$A"

"$SEKISHO" --state-dir "$T/state" status --alerts "$A" --relay-stats "$T/none.json" \
	>"$T/out" 2>&1 || true
cat -v "$T/out" | sed 's/^/    | /'

if grep -q "^alerts: the last 10 of $A\$" "$T/out"; then
	ok "the last 10 lines are shown"
else
	fail "no 'alerts: the last 10' header"
fi
if grep -q 'old-line' "$T/out"; then fail "older lines shown"; else ok "older lines are not shown"; fi
if grep -qF '  pair=joho->shirei proto=tcp src=198.18.2.10 sport=40000 dst=198.18.1.10 dport=22 count=42 first_seen=2026-11-22T05:01:00Z last_seen=2026-11-22T05:01:09Z rule=rules/shirei.rules:7' "$T/out"; then
	ok "key fields of an alert, in order"
else
	fail "key fields of the joho->shirei alert"
fi
if grep -qF '  time=2026-11-22T05:09:00Z event=deny state=new pair=lgwan->joho proto=udp src=198.18.3.10 sport=5353 dst=198.18.2.10 dport=53 packets=7 first=2026-11-22T05:08:59Z last=2026-11-22T05:09:00Z rule=sekisho deny lgwan->joho ' "$T/out"; then
	ok "key fields of a monitor alert line"
else
	fail "key fields of the monitor's alert line"
fi
if LC_ALL=C grep -q "$(printf '[\001-\010\013-\037\177]')" "$T/out"; then
	fail "a control byte reached the output"
else
	ok "no control byte in the output"
fi
if LC_ALL=C grep -q "$(printf '\302[\200-\237]')" "$T/out"; then
	fail "a C1 control reached the output"
else
	ok "no C1 control in the output"
fi
if LC_ALL=C grep -q "$(printf '\342\200[\252-\256]')" "$T/out"; then
	fail "a bidi override reached the output"
else
	ok "no bidi override in the output"
fi
grep -qF 'rule=\x1b[2J\x1b]0;pwned\x07' "$T/out" && ok "JSON-escaped ESC shown as \\x1b" ||
	fail "escaped ESC not shown as \\x1b"
grep -qF '(not JSON) {"pair":"x","rule":"\x1b[31mred\x0d"}' "$T/out" &&
	ok "a line with raw controls is shown escaped as not JSON" || fail "raw-control line"
grep -qF 'pair=c1\xc2\x9b31m' "$T/out" && grep -qF 'rule=bidi\xe2\x80\xaeevil' "$T/out" &&
	ok "C1 CSI and bidi override shown as bytes" || fail "C1 / bidi escaping"
grep -qF 'pair=bad\xff\xfeutf8 rule=back\\slash' "$T/out" &&
	ok "invalid UTF-8 and a backslash escaped" || fail "invalid UTF-8 / backslash"
grep -qF '(not JSON) garbage \x1b[5m blink' "$T/out" && ok "a non-JSON line escaped" ||
	fail "non-JSON line"
if grep -q "pair=$(head -c 200 /dev/zero | tr '\0' A)\.\.\. count=3\$" "$T/out"; then
	ok "an overlong value is cut at 200 bytes"
else
	fail "overlong value"
fi
grep -qF '  unknown=fields only=1' "$T/out" && ok "an object without known fields: its fields" ||
	fail "unknown fields"
grep -qF '  ts=2026-11-22T05:10:00Z pair=newest count=9' "$T/out" &&
	ok "the last line without a newline is shown" || fail "last line"

# the default file missing: nothing said; a named one missing: said
"$SEKISHO" --state-dir "$T/state" status --relay-stats "$T/none.json" >"$T/out2" 2>&1 || true
if SEKISHO_ALERTS=$T/missing.jsonl "$SEKISHO" --state-dir "$T/state" status \
	--relay-stats "$T/none.json" 2>&1 | grep -q "^alerts: no alert file $T/missing.jsonl"; then
	ok "a named alert file that is missing is reported"
else
	fail "missing named alert file not reported"
fi
# a directory or a FIFO is refused, without blocking
mkfifo "$T/fifo"
if "$SEKISHO" --state-dir "$T/state" status --alerts "$T/fifo" --relay-stats "$T/none.json" 2>&1 |
	grep -q "^alerts: $T/fifo: Invalid argument"; then
	ok "a FIFO as alert file is refused"
else
	fail "FIFO alert file"
fi
# a hostile relay stats file: not parsed as figures
printf '{"transactions":{"delivered":"\\u001b[2J"}}' >"$T/bad.json"
"$SEKISHO" --state-dir "$T/state" status --relay-stats "$T/bad.json" --alerts "$A" >"$T/out3" 2>&1 || true
if grep -qE '^  delivered +-$' "$T/out3" && ! LC_ALL=C grep -q "$(printf '\033')" "$T/out3"; then
	ok "a relay stats file with a string figure shows '-'"
else
	fail "hostile relay stats: $(cat -v "$T/out3" | grep -A12 '^relay')"
fi

echo "$((checks - fails)) of $checks checks passed"
[ "$fails" -eq 0 ]

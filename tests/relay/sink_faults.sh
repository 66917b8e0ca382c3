#!/bin/bash
# sink_faults: the next hop (smtp-sink at mail-lgwan's address) fails at each
# phase; the client (swaks, transparent through the box) must never get 250
# unless the sink recorded the message, must get 4xx when the next hop
# answers 4xx, disconnects or is too slow (relayd.conf: nexthop_timeout_s =
# 2, data_timeout_s = 4), and 5xx when it answers 5xx.  relayd keeps serving
# between the cases (a clean case gets 250).  A quarantine that cannot be
# written gives 4xx and nothing reaches the next hop.
# shellcheck source=tests/relay/lib.sh
. "$(dirname "$0")/lib.sh"
relay_init faults "$@"

RELAY_CONF_SKIP="nexthop_timeout_s data_timeout_s" relay_conf \
	"nexthop_timeout_s = 2" "data_timeout_s = 4"
relayd_start

n=0
# fault WANT DESCRIPTION SMTP-SINK-OPTIONS...   WANT: 2 4 5 (reply class)
fault() {
	local want=$1 desc=$2 got code recorded
	shift 2
	n=$((n + 1))
	sink_start "c$n" lgwan "$L4" "$@"
	local pid=$SINK_PID
	gen plain "case$n"
	swaks_to joho "$L4" --local-interface "$J4" --from "yamada@$JDOM" --to "sato@$LDOM" \
		--data "@$T/msg-case$n.eml"
	sink_stop "$pid"
	code=$(err_code)
	[ -n "$code" ] || code=$(data_code)
	got=${code:0:1}
	recorded=$(sink_count "c$n")
	if [ "$got" = "$want" ]; then
		ok "smtp-sink $* ($desc): the client got $code"
	else
		fail "smtp-sink $* ($desc): the client got '${code:-nothing}', want ${want}xx: $(grep -E '^<' "$T/swaks.last" | tail -n 2 | tr '\n' ' ')"
	fi
	if [ "$got" = 2 ] && [ "$recorded" -lt 1 ]; then
		fail "smtp-sink $*: 250 to the client, but the sink recorded nothing"
	fi
}

say "-- 4xx from the next hop"
fault 4 "421 greeting" -Q CONNECT
fault 4 "4xx to EHLO and HELO" -r EHLO,HELO
fault 4 "4xx to MAIL" -r MAIL
fault 4 "4xx to RCPT" -r RCPT
fault 4 "4xx to DATA" -r DATA
fault 4 "4xx to end-of-data" -r .
fault 4 "421 after end-of-data" -Q .
say "-- 5xx from the next hop"
fault 5 "5xx to MAIL" -f MAIL
fault 5 "5xx to RCPT" -f RCPT
fault 5 "5xx to DATA" -f DATA
fault 5 "5xx to end-of-data" -f .
say "-- the next hop disconnects"
fault 4 "disconnect at EHLO" -q EHLO,HELO
fault 4 "disconnect at MAIL" -q MAIL
fault 4 "disconnect at RCPT" -q RCPT
fault 4 "disconnect at DATA" -q DATA
fault 4 "disconnect at end-of-data" -q .
say "-- the next hop is too slow"
fault 4 "EHLO answered after nexthop_timeout_s" -W EHLO:6
fault 4 "RCPT answered after nexthop_timeout_s" -W RCPT:6
fault 4 "end-of-data answered after data_timeout_s" -W .:9
say "-- no next hop at all"
n=$((n + 1))
gen plain "case$n"
swaks_to joho "$L4" --local-interface "$J4" --from "yamada@$JDOM" --to "sato@$LDOM" --data "@$T/msg-case$n.eml"
code=$(err_code)
check "nothing listening at the next hop: the client got 4xx ($code)" test "${code:0:1}" = 4
say "-- and relayd still serves"
fault 2 "a healthy next hop"
check "the healthy case's message was recorded once" test "$(sink_count "c$n")" = 1

say "-- the quarantine cannot be written: 4xx, nothing forwarded"
chmod -R a-w "$T/quarantine"
fault 4 "healthy next hop, read-only quarantine"
check "nothing reached the sink without its original in quarantine" test "$(sink_count "c$n")" = 0
chmod -R u+w "$T/quarantine"
fault 2 "quarantine writable again"

check "the relay is still running" relayd_alive
relay_finish

#!/bin/bash
# worker_faults: the sanitiser worker crashes, hangs or answers garbage
# (test hook SEKISHO_TEST_WORKER_FAULT in relayd's environment, triggered by
# a header line "X-Sekisho-Test: crash|hang|garbage|unsealed"): the message
# gets 4xx, nothing reaches the next hop, and the daemon keeps serving - the
# normal message after each fault gets 250 and reaches the sink.  With
# "socket" every worker also tries socket(AF_INET) for every message: the
# sandbox must refuse it (the quarantined verdict says "refused").
# shellcheck source=tests/relay/lib.sh
. "$(dirname "$0")/lib.sh"
relay_init wfault "$@"

RELAY_CONF_SKIP="worker_timeout_s" relay_conf "worker_timeout_s = 3"
relayd_start SEKISHO_TEST_WORKER_FAULT=crash,hang,garbage,socket
sink_start s lgwan "$L4"

delivered=0
send_one() { # ID WANT-CLASS DESCRIPTION [mail.py gen options]
	local id=$1 want=$2 desc=$3 code
	shift 3
	gen plain "$id" "$@"
	swaks_to joho "$L4" --local-interface "$J4" --from "yamada@$JDOM" --to "sato@$LDOM" --data "@$T/msg-$id.eml"
	code=$(err_code)
	[ -n "$code" ] || code=$(data_code)
	if [ "${code:0:1}" = "$want" ]; then
		ok "$desc: $code"
	else
		fail "$desc: got '${code:-nothing}', want ${want}xx ($(grep -E '^<' "$T/swaks.last" | tail -n 2 | tr '\n' ' '))"
	fi
	[ "${code:0:1}" = 2 ] && delivered=$((delivered + 1))
	check "$desc: relayd still runs" relayd_alive
	check "$desc: the sink holds exactly the $delivered message(s) that got 250" test "$(sink_count s)" = "$delivered"
}

send_one n0 2 "a normal message"
for f in crash hang garbage unsealed; do
	send_one "$f" 4 "worker fault '$f'" --header "X-Sekisho-Test: $f"
	send_one "after-$f" 2 "a normal message after the '$f' fault"
done

# The sandbox: every worker tried socket(AF_INET); the verdicts say refused.
metas=$(find "$T/quarantine" -name 'meta*.json' | wc -l)
# shellcheck disable=SC2046 # our own file names
refused=$(grep -l '"test_socket": *"refused' $(find "$T/quarantine" -name 'meta*.json') /dev/null 2>/dev/null | wc -l)
check "the sandbox refused socket() for every quarantined message ($refused of $metas verdicts)" \
	test "$metas" -ge 5 -a "$refused" = "$metas"
relay_finish

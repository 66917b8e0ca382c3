#!/bin/bash
# swaks_cases: single SMTP transactions with swaks through the box, smtp-sink
# as the next hop (at mail-lgwan's address), each with an exact expectation.
#   - transparent, IPv4 and IPv6: 250 with relayd's quarantine id; the sink
#     got exactly one message, the sanitised one (X-Sekisho-Sanitized, text
#     kept), from the box's address;
#   - a redirected connection the mail flows file does not declare (relayd
#     given a flows file without 情報系 -> LGWAN接続系) is refused with
#     554 5.7.1 and nothing reaches the sink;
#   - 指令系 -> mail-lgwan tcp/25: no mail flow, the box drops it; nothing
#     reaches the sink;
#   - explicit mode (the box's own address, port 10025, allowed by a
#     `manage` line): a client in explicit_clients is routed by recipient
#     domain (route = lgwan.example.jp [198.18.3.25]:25) and gets 250; a
#     recipient without a route gets 5xx; a client not in explicit_clients
#     is refused (554) - nothing of those reaches the sink.
# shellcheck source=tests/relay/lib.sh
. "$(dirname "$0")/lib.sh"
relay_init swaks "$@"

sink_start s lgwan "$L4"
sink_start s6 lgwan "$L6"

sink_total() { echo $(($(sink_count s) + $(sink_count s6))); }

expect_code() { # WHAT WANT-REGEX GOT
	if [[ $3 =~ ^$2$ ]]; then ok "$1: $3"; else fail "$1: got '$3', want $2 ($(grep -E '^<[-~*]* *[0-9]{3}' "$T/swaks.last" | tail -n 2 | tr '\n' ' '))"; fi
}

relay_conf
relayd_start

say "-- transparent, IPv4"
gen plain t4
swaks_to joho "$L4" --local-interface "$J4" --from "yamada@$JDOM" --to "sato@$LDOM" --data "@$T/msg-t4.eml"
expect_code "swaks 情報系 -> 198.18.3.25:25 (redirected to relayd)" 250 "$(data_code)"
check "the 250 names the quarantine id" grep -qi '^<- *250 .*quarantine' "$T/swaks.last"
check "the sink got exactly one message" test "$(sink_count s)" = 1
f=$(sink_files s | head -n 1)
if [ -n "$f" ]; then
	python3 "$MAILPY" strip-sink "$f" >"$T/t4.arrived"
	mail_check plain "$T/t4.arrived" t4 "the sink got the sanitised text"
	check "the sink's client was the box (198.18.3.1)" grep -q '^X-Client-Addr: 198.18.3.1$' "$f"
	check "the original is quarantined" test "$(quarantine_count)" = 1
	check_quarantined t4
fi

say "-- transparent, IPv6"
gen plain t6
raw_send joho "$L6" "$J6" "$T/msg-t6.eml" "sato@$LDOM"
expect_code "情報系 -> [2001:2:0:3::25]:25 (redirected to relayd)" 250 "$(raw_data_code)"
check "the IPv6 sink got exactly one message" test "$(sink_count s6)" = 1
f=$(sink_files s6 | head -n 1)
if [ -n "$f" ]; then
	python3 "$MAILPY" strip-sink "$f" >"$T/t6.arrived"
	mail_check plain "$T/t6.arrived" t6 "the IPv6 sink got the sanitised text"
	check "the sink's client was the box (ipv6:2001:2:0:3::1)" grep -qi '^X-Client-Addr: ipv6:2001:2:0:3::1$' "$f"
fi

say "-- a 1 MB text message (the sanitised copy is as big)"
python3 - "$T/msg-big.eml" <<'PY'
import sys
lines = ["Line %06d of a long plain text message, sent through the relay." % i for i in range(16000)]
open(sys.argv[1], "w").write("From: yamada@joho.example.jp\nTo: sato@lgwan.example.jp\n"
                             "Subject: big text\nMessage-ID: <big@joho.example.jp>\n\n" + "\n".join(lines) + "\n")
PY
swaks_to joho "$L4" --local-interface "$J4" --from "yamada@$JDOM" --to "sato@$LDOM" --data "@$T/msg-big.eml" --timeout 40
expect_code "1 MB text message" 250 "$(data_code)"
# A late copy must not be counted below: wait (bounded) for it.
# shellcheck disable=SC2046
wait_until 120 eval 'file_with_id big $(sink_files s) >/dev/null' || true
# shellcheck disable=SC2046
if f=$(file_with_id big $(sink_files s)); then
	check "the sink got all 16000 lines of it" test "$(grep -c '^Line [0-9]* of a long plain text message' "$f")" = 16000
else
	fail "the 1 MB message is not at the sink"
fi

SINK_BASE=$(sink_total)
Q_BASE=$(quarantine_count)
say "-- 指令系 -> mail-lgwan tcp/25: not a mail flow, dropped by the box"
gen plain shirei
nsx shirei swaks --server "$L4" --local-interface 198.18.1.10 --timeout 3 --from a@shirei.test \
	--to "sato@$LDOM" --data "@$T/msg-shirei.eml" >"$T/swaks.last" 2>&1 || true
check "指令系 got no SMTP greeting" eval "! grep -q '^<- *220' '$T/swaks.last'"
check "nothing more reached the sink" test "$(sink_total)" = "$SINK_BASE"

say "-- a redirected connection the mail flows file does not declare"
relayd_stop
grep -v ' joho lgwan ' "$STATE/mailflows" >"$T/mailflows-lgwan-only"
grep -q ' lgwan joho ' "$T/mailflows-lgwan-only" || fail "flows file without lgwan -> joho line: $(cat "$T/mailflows-lgwan-only")"
chmod 644 "$T/mailflows-lgwan-only"
RELAY_CONF_SKIP=mailflows_file relay_conf "mailflows_file = $T/mailflows-lgwan-only"
relayd_start
gen plain undeclared
swaks_to joho "$L4" --local-interface "$J4" --from "yamada@$JDOM" --to "sato@$LDOM" --data "@$T/msg-undeclared.eml"
expect_code "undeclared flow refused" 554 "$(last_code)"
check "the refusal says 5.7.1" grep -q '^<\*\* *554[ -]5\.7\.1' "$T/swaks.last"
check "nothing more reached the sink" test "$(sink_total)" = "$SINK_BASE"
check "nothing more was quarantined" test "$(quarantine_count)" = "$Q_BASE"

say "-- explicit mode (connections to the box's own port $RELAY_PORT)"
relayd_stop
mkdir -p "$T/rules"
cp "$RELAY_TOP"/rules/*.rules "$T/rules/"
sed -i 's|^\( *\)manage from admin-pc tcp/22|&\n\1manage from ops-pc tcp/10025\n\1manage from admin-pc tcp/10025|' "$T/rules/box.rules"
if out=$(ip netns exec "${P}box" "$SEKISHO" --state-dir "$STATE" apply "$T/rules" 2>&1); then
	ok "rules with tcp/10025 to the box from ops-pc and admin-pc applied"
else
	fatal "apply of the explicit-mode rules failed: $out"
fi
chmod -R a+rX "$STATE"
relay_conf "explicit_clients = 198.18.2.10/32 2001:2:0:2::10/128" \
	"route = $LDOM $L4:25 tls=none"
relayd_start
gen plain explicit
swaks_to joho 198.18.2.1 --port "$RELAY_PORT" --local-interface 198.18.2.10 --from "yamada@$JDOM" \
	--to "sato@$LDOM" --data "@$T/msg-explicit.eml"
expect_code "explicit client ops-pc -> box:10025, route for $LDOM" 250 "$(data_code)"
check "the sink got it" test "$(sink_total)" = $((SINK_BASE + 1))
f=$(sink_files s | tail -n 1)
# shellcheck disable=SC2046
if f=$(file_with_id explicit $(sink_files s)); then
	python3 "$MAILPY" strip-sink "$f" >"$T/explicit.arrived"
	mail_check plain "$T/explicit.arrived" explicit "the routed message arrived sanitised"
else
	fail "the explicitly routed message is not at the sink"
fi

gen plain noroute
swaks_to joho 198.18.2.1 --port "$RELAY_PORT" --local-interface 198.18.2.10 --from "yamada@$JDOM" \
	--to "someone@elsewhere.example" --data "@$T/msg-noroute.eml"
expect_code "explicit: a recipient domain without a route is refused" '5[0-9][0-9]' "$(err_code)"

gen plain notclient
swaks_to joho 198.18.2.1 --port "$RELAY_PORT" --local-interface 198.18.2.5 --from "yamada@$JDOM" \
	--to "sato@$LDOM" --data "@$T/msg-notclient.eml"
expect_code "explicit: admin-pc is not in explicit_clients" 554 "$(last_code)"
check "nothing more reached the sink" test "$(sink_total)" = $((SINK_BASE + 1))

check "the relay is still running" relayd_alive
relay_finish

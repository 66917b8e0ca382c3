#!/bin/bash
# gatewayd: sekisho-gatewayd applies the rules at start; SIGHUP with rules
# that fail the check keeps the running ruleset (and says why); SIGHUP with
# changed rules applies them; SIGTERM ends the daemon and leaves the ruleset
# in the kernel (stopping the daemon must not open the box).
# usage: gatewayd.sh PATH-TO-sekisho PATH-TO-sekisho-gatewayd
# shellcheck source=tests/netns/lib.sh
. "$(dirname "$0")/lib.sh"
GATEWAYD=${2:-}
netns_init gatewayd "$1"
[ -x "$GATEWAYD" ] || fatal "usage: $0 SEKISHO GATEWAYD"

R=$T/rules
copy_rules "$R"
LOG=$T/gatewayd.log

# The reference tables, made with the CLI in a second namespace.
extra_ns ref
sk_in ref apply "$R" >/dev/null 2>&1 || fatal "reference apply failed"
ip netns exec "${P}ref" nft list table inet sekisho | nft_norm >"$T/a.nft"

ip netns exec "${P}box" "$GATEWAYD" -f --rules "$R" --state-dir "$STATE" >"$LOG" 2>&1 &
GWPID=$!
# not in NETNS_PIDS (run_tries stops those); netns.sh down ends it
if wait_table box "$T/a.nft" 10; then ok "gatewayd applied the rules at start"; else fail "no sekisho table after start"; fi
try46 pass tcp joho.10 inet.100 443 "started: 情報系 -> internet https"
run_tries

say "-- SIGHUP with rules that fail the check"
cp "$R/joho.rules" "$T/joho.rules.good"
echo 'allow joho -> lgwan tcp/443' >>"$R/joho.rules"
kill -HUP "$GWPID"
for _ in $(seq 1 50); do grep -q 'joho.rules:[0-9]*:[0-9]*: error' "$LOG" && break; sleep 0.1; done
if grep -q 'joho.rules:[0-9]*:[0-9]*: error' "$LOG"; then ok "gatewayd logged the check error with file:line:col"; else fail "no file:line:col error in the log"; sed 's/^/    | /' "$LOG"; fi
sleep 0.3
table_of box >"$T/after-bad.nft"
same_text "the running ruleset is unchanged after the refused reload" "$T/a.nft" "$T/after-bad.nft"
if kill -0 "$GWPID" 2>/dev/null; then ok "gatewayd still runs"; else fail "gatewayd exited after a bad reload"; fi

say "-- SIGHUP with changed rules"
cp "$T/joho.rules.good" "$R/joho.rules"
sed -i -E 's|^allow joho -> internet tcp/80,443 |allow joho -> internet tcp/80,443,8080 |' "$R/joho.rules"
grep -q 'tcp/80,443,8080' "$R/joho.rules" || fatal "could not edit the rules"
sk_in ref apply "$R" >/dev/null 2>&1 || fatal "reference apply B failed"
ip netns exec "${P}ref" nft list table inet sekisho | nft_norm >"$T/b.nft"
kill -HUP "$GWPID"
if wait_table box "$T/b.nft" 10; then ok "SIGHUP applied the changed rules"; else fail "the changed rules did not reach the kernel"; fi
try46 pass tcp joho.10 inet.100 8080 "reloaded: 情報系 -> internet tcp/8080"
run_tries

say "-- SIGTERM"
kill -TERM "$GWPID"
rc=0
for _ in $(seq 1 50); do kill -0 "$GWPID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$GWPID" 2>/dev/null; then fail "gatewayd did not exit on SIGTERM"; else
	wait "$GWPID" || rc=$?
	if [ "$rc" -eq 0 ]; then ok "gatewayd exited 0 on SIGTERM"; else fail "gatewayd exited $rc on SIGTERM"; fi
fi
table_of box >"$T/after-term.nft"
same_text "the ruleset stays after the daemon stops" "$T/b.nft" "$T/after-term.nft"

netns_finish

#!/bin/bash
# smoke.sh - sekisho-relayd end to end, quickly: one message joho -> lgwan
# through the transparent redirect, and the refusals around it.
#
#   tests/relay/smoke.sh PATH-TO-sekisho PATH-TO-sekisho-relayd
#
# Builds deploy/netns.sh's topology (prefix skrl<pid>-), applies rules/ in
# the box with its own state dir, runs sekisho-relayd in the box, smtp-sink
# as the LGWAN mail server (198.18.3.25:25) and swaks from the 情報系 mail
# server's address (198.18.2.25).  Checks:
#   - the sender gets 250 ... quarantine <id>; the sink holds the sanitised
#     message (X-Sekisho-Sanitized, the body text); the quarantine holds the
#     original with mode "transparent" and original_dst 198.18.3.25:25
#   - an EICAR message: 250, the sink gets the notice only (no EICAR bytes)
#   - a direct connection to the relay port (127.0.0.1 in the box) from outside
#     explicit_clients is refused with 554 5.7.1
#   - the mail flows file emptied (reloaded on its mtime): 554 5.7.1 "not a
#     declared mail flow"; restored + SIGHUP: delivered again
#   - SIGTERM: relayd exits 0
# Needs root, smtp-sink, swaks, sigtool.  Removes everything it creates.
set -eu

SEKISHO=$(realpath "${1:?usage: smoke.sh SEKISHO RELAYD}")
RELAYD=$(realpath "${2:?usage: smoke.sh SEKISHO RELAYD}")
top=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/relay/checks.sh
. "$top/tests/relay/checks.sh"
P=skrl$$-
T=$(mktemp -d /tmp/skrl.XXXXXX)
chmod 755 "$T"
STATE=$T/state
RELAYD_PID='' SINK_PID=''

nsx() {
	local ns=$1
	shift
	ip netns exec "$P$ns" "$@"
}
cleanup() {
	[ -z "$RELAYD_PID" ] || kill -9 "$RELAYD_PID" 2>/dev/null || true
	[ -z "$SINK_PID" ] || kill "$SINK_PID" 2>/dev/null || true
	wait 2>/dev/null || true
	"$top/deploy/netns.sh" down "$P" >/dev/null 2>&1 || true
	if [ "$R_FAILS" -ne 0 ] || [ "$R_CHECKS" -eq 0 ]; then
		echo "--- relayd log"
		tail -n 30 "$T/relayd.log" 2>/dev/null | sed 's/^/    | /'
	fi
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

listening() { nsx box ss -Hltn 'sport = :10025' | grep -q .; }

[ "$(id -u)" = 0 ] || {
	echo "smoke.sh: needs root"
	exit 77
}
"$top/deploy/netns.sh" up "$P" >/dev/null
mkdir -p "$STATE" "$T/sink"
nsx box "$SEKISHO" --state-dir "$STATE" apply "$top/rules" >"$T/apply.log" 2>&1 ||
	{
		cat "$T/apply.log"
		exit 1
	}
grep -q '^mailflow joho lgwan 198.18.3.25 25 ' "$STATE/mailflows" ||
	{
		echo "no joho -> lgwan mail flow in $STATE/mailflows"
		exit 1
	}
sh "$top/tests/clamav/make_db.sh" "$T/clamdb" "$T/samples" >"$T/make_db.log" 2>&1
chmod -R a+rX "$T/clamdb" "$STATE"
chown nobody: "$T/sink"

cat >"$T/relayd.conf" <<EOF
listen = [::]:10025
hostname = box.sekisho.test
user = nobody
quarantine_dir = $T/quarantine
scan_db = $T/clamdb
mailflows_file = $STATE/mailflows
stats_file = $T/relayd-stats.json
workers = 2
worker_timeout_s = 20
nexthop_timeout_s = 10
data_timeout_s = 20
EOF
"$RELAYD" -c "$T/relayd.conf" -n >"$T/check.log" 2>&1 && ok "relayd -n accepts the config" ||
	fail "relayd -n: $(cat "$T/check.log")"

# the LGWAN mail server (netns.sh gives lgwan the addresses rules/ declares)
nsx lgwan ip addr add 198.18.3.25/24 dev eth0 2>/dev/null || true
nsx lgwan smtp-sink -u nobody -d "$T/sink/%M." 198.18.3.25:25 100 >"$T/sink.log" 2>&1 &
SINK_PID=$!
# an entry stored 400 days ago: past retention_days (365), pruned at start
old="$T/quarantine/00/$(printf '%062d' 0)"
mkdir -p "$old"
printf 'Subject: old\r\n\r\nold\r\n' >"$old/message.eml"
printf '{}\n' >"$old/meta.json"
touch -d '400 days ago' "$old/message.eml"
chmod -R go-rwx "$T/quarantine"
chown -R nobody: "$T/quarantine"
ip netns exec "${P}box" "$RELAYD" -c "$T/relayd.conf" -d >"$T/relayd.log" 2>&1 &
RELAYD_PID=$!
wait_until 30 listening || {
	fail "relayd does not listen"
	exit 1
}

send() { # swaks from the joho mail server to the lgwan one, extra args
	nsx joho swaks --server 198.18.3.25:25 --local-interface 198.18.2.25 \
		--from a@joho.example.jp --to b@lgwan.example.jp --timeout 60 "$@" 2>&1 || true
}

# 1. a plain message, transparently
out=$(send --header "Subject: smoke" --body "smoke-marker-1")
if printf '%s\n' "$out" | grep -q '^<-  250 2.0.0 Ok: delivered .* quarantine [0-9a-f]\{64\}'; then
	ok "transparent message: 250 after delivery, with quarantine id"
else
	fail "transparent message: $(printf '%s\n' "$out" | grep -E '^(<-|<\*\*)' | tail -n 3)"
fi
got=$(grep -l 'smoke-marker-1' "$T/sink/"* 2>/dev/null | head -n 1 || true)
if [ -n "$got" ] && grep -q '^X-Sekisho-Sanitized: sanitized' "$got"; then
	ok "the sink got the sanitised message"
else
	fail "the sink has no sanitised copy of message 1"
fi
meta=$(grep -l '"original_dst":"198.18.3.25:25"' "$T"/quarantine/*/*/meta.json 2>/dev/null | head -n 1 || true)
if [ -n "$meta" ] && grep -q '"mode":"transparent"' "$meta" &&
	grep -q '"client":"198.18.2.25"' "$meta" && grep -q '"status":"sanitised"' "$meta" &&
	grep -q 'smoke-marker-1' "$(dirname "$meta")/message.eml"; then
	ok "quarantine holds the original with transparent metadata"
else
	fail "quarantine metadata: $(cat "$T"/quarantine/*/*/meta.json 2>/dev/null | head -c 600)"
fi

# 2. EICAR: the notice goes out, never the original
out=$(send --header "Subject: smoke eicar" --attach "@$T/samples/eicar.com")
if printf '%s\n' "$out" | grep -q '^<-  250 2.0.0 Ok: delivered'; then
	ok "EICAR message: 250 (the notice was delivered)"
else
	fail "EICAR message: $(printf '%s\n' "$out" | grep -E '^(<-|<\*\*)' | tail -n 3)"
fi
if grep -l '^X-Sekisho-Sanitized: withheld; reason=infected' "$T/sink/"* >/dev/null 2>&1 &&
	! grep -l 'EICAR-STANDARD-ANTIVIRUS-TEST-FILE' "$T/sink/"* >/dev/null 2>&1 &&
	! grep -l 'WDVPIVAlQEFQWzRcUFpYNTQoUF4pN0NDKTd9JEVJQ0FSLVNUQU5EQVJELUFOVElWSVJVUy1URVNULUZJTEUhJEgrSCo' "$T/sink/"* >/dev/null 2>&1; then
	ok "the sink got the withheld notice and no EICAR bytes"
else
	fail "EICAR handling at the sink"
fi

# 3. a direct (not redirected) connection from outside explicit_clients
# (from the box itself: the box's firewall keeps the segments off the port)
out=$(nsx box swaks --server 127.0.0.1:10025 --from a@joho.example.jp \
	--to b@lgwan.example.jp --timeout 20 2>&1 || true)
if printf '%s\n' "$out" | grep -q '554 5.7.1'; then
	ok "direct connection outside explicit_clients: 554 5.7.1"
else
	fail "direct connection: $(printf '%s\n' "$out" | grep -E '^(<-|<\*\*)' | head -n 2)"
fi

# 4. flows file emptied -> refused (mtime reload); restored + SIGHUP -> delivered
cp "$STATE/mailflows" "$T/mailflows.keep"
echo "# sekisho mail flows: emptied by smoke.sh" >"$STATE/mailflows.new"
chmod 644 "$STATE/mailflows.new"
mv "$STATE/mailflows.new" "$STATE/mailflows"
refused() { send --body x | grep -q '554 5.7.1 box.sekisho.test not a declared mail flow'; }
if wait_until 10 refused; then
	ok "no declared flow (file reloaded on mtime): 554 5.7.1 not a declared mail flow"
else
	fail "emptied mail flows file did not refuse"
fi
grep -q 'refused: .*client=198.18.2.25 orig_dst=198.18.3.25:25' "$T/relayd.log" &&
	ok "refusal logged" || fail "refusal not logged"
cp "$T/mailflows.keep" "$STATE/mailflows.new"
mv "$STATE/mailflows.new" "$STATE/mailflows"
kill -HUP "$RELAYD_PID"
delivered() { send --body smoke-marker-3 | grep -q '^<-  250 2.0.0 Ok: delivered'; }
if wait_until 10 delivered; then
	ok "flows restored + SIGHUP: delivered again"
else
	fail "not delivered after restoring the flows"
fi
grep -q 'transaction: .*client=198.18.2.25 orig_dst=198.18.3.25:25 mode=transparent .*outcome=delivered' \
	"$T/relayd.log" && ok "transaction logged" || fail "no transaction log line"

old_gone() { [ ! -e "$old" ]; }
if wait_until 10 old_gone; then
	ok "retention: an entry older than retention_days pruned at start"
else
	fail "retention: the 400-day-old entry is still there"
fi

# 5. SIGTERM: clean exit
kill -TERM "$RELAYD_PID"
rc=0
wait "$RELAYD_PID" || rc=$?
RELAYD_PID=''
[ "$rc" = 0 ] && ok "SIGTERM: exit 0" || fail "SIGTERM: exit status $rc"

if [ "$R_FAILS" -ne 0 ]; then
	echo "== $R_FAILS of $R_CHECKS checks FAILED"
	exit 1
fi
echo "== all $R_CHECKS checks passed"

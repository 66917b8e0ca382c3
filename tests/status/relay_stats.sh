#!/bin/bash
# relay_stats.sh - sekisho-relayd's statistics and metrics files, and
# `sekisho status` reading them.
#
#   tests/status/relay_stats.sh PATH-TO-sekisho PATH-TO-sekisho-relayd
#
# In a private network namespace (unshare --net, loopback only): smtp-sink
# on 127.0.0.2:2525 as the next hop of an explicit route, relayd on
# 127.0.0.1:10025 with stats_file and metrics_file in a directory that does
# not exist yet (relayd creates it for its user).  swaks sends 3 messages;
# then (bounded polling, the files are rewritten every 5 s):
#   - the JSON stats file shows 3 delivered, 3 connections accepted, the
#     bytes read, and a refused connection from outside explicit_clients
#   - the Prometheus file passes promcheck.py with the same figures
#   - `sekisho status --relay-stats FILE` prints them
#   - after SIGTERM relayd exits 0 and the file it wrote at exit shows no
#     active session
# Needs root, smtp-sink, swaks, sigtool.  Removes everything it creates.
set -eu

SEKISHO=$(realpath "${1:?usage: relay_stats.sh SEKISHO RELAYD}")
RELAYD=$(realpath "${2:?usage: relay_stats.sh SEKISHO RELAYD}")
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
# shellcheck source=tests/relay/checks.sh
. "$top/tests/relay/checks.sh"

[ "$(id -u)" = 0 ] || {
	echo "relay_stats.sh: needs root"
	exit 77
}
for t in smtp-sink swaks unshare python3; do
	command -v "$t" >/dev/null || {
		echo "relay_stats.sh: $t missing"
		exit 77
	}
done
if [ -z "${SK_STATUS_IN_NS:-}" ]; then
	exec env SK_STATUS_IN_NS=1 unshare --net -- bash "$0" "$@"
fi
ip link set lo up

T=$(mktemp -d /tmp/skst.XXXXXX)
chmod 755 "$T"
RELAYD_PID='' SINK_PID=''
cleanup() {
	[ -z "$RELAYD_PID" ] || kill -9 "$RELAYD_PID" 2>/dev/null || true
	[ -z "$SINK_PID" ] || kill "$SINK_PID" 2>/dev/null || true
	wait 2>/dev/null || true
	if [ "$R_FAILS" -ne 0 ] || [ "$R_CHECKS" -eq 0 ]; then
		echo "--- relayd log"
		tail -n 30 "$T/relayd.log" 2>/dev/null | sed 's/^/    | /'
	fi
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

listening() { ss -Hltn 'sport = :10025' | grep -q .; }
jget() { # FILE PATH: a field of the JSON stats file ("" when absent)
	python3 -c 'import json,sys
d=json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."): d=d[k]
print(d)' "$1" "$2" 2>/dev/null || true
}
stats_show() { # N: the stats file shows N delivered
	[ -f "$STATS" ] && [ "$(jget "$STATS" transactions.delivered)" = "$1" ]
}

sh "$top/tests/clamav/make_db.sh" "$T/clamdb" "$T/samples" >"$T/make_db.log" 2>&1
chmod -R a+rX "$T/clamdb"
mkdir -p "$T/sink"
chown nobody: "$T/sink"
STATS=$T/run/relayd.json
METRICS=$T/run/relayd.prom
cat >"$T/relayd.conf" <<EOC
listen = 127.0.0.1:10025
hostname = box.sekisho.test
user = nobody
quarantine_dir = $T/quarantine
scan_db = $T/clamdb
mailflows_file = $T/mailflows
workers = 1
worker_timeout_s = 20
nexthop_timeout_s = 10
data_timeout_s = 20
stats_file = $STATS
metrics_file = $METRICS
explicit_clients = 127.0.0.1
route = example.test 127.0.0.2:2525 tls=none
EOC
: >"$T/mailflows"
"$RELAYD" -c "$T/relayd.conf" -n >"$T/check.log" 2>&1 && ok "relayd -n accepts stats_file and metrics_file" ||
	fail "relayd -n: $(cat "$T/check.log")"

smtp-sink -u nobody -d "$T/sink/%M." 127.0.0.2:2525 100 >"$T/sink.log" 2>&1 &
SINK_PID=$!
(umask 077 && exec "$RELAYD" -c "$T/relayd.conf" -d) >"$T/relayd.log" 2>&1 &
RELAYD_PID=$!
wait_until 30 listening || {
	fail "relayd does not listen"
	exit 1
}
if [ "$(stat -c %U "$T/run")" = nobody ]; then
	ok "the missing stats directory was created for the run user"
else
	fail "stats directory: $(stat -c '%U %a' "$T/run" 2>&1)"
fi

delivered=0
for i in 1 2 3; do
	out=$(swaks --server 127.0.0.1:10025 --from a@example.test --to "b$i@example.test" \
		--header "Subject: stats $i" --body "stats-marker-$i" --timeout 60 2>&1 || true)
	if printf '%s\n' "$out" | grep -q '^<-  250 2.0.0 Ok: delivered'; then
		delivered=$((delivered + 1))
	else
		echo "message $i: $(printf '%s\n' "$out" | grep -E '^(<-|<\*\*)' | tail -n 2)"
	fi
done
[ "$delivered" = 3 ] && ok "3 messages delivered through the relay" ||
	fail "only $delivered of 3 messages delivered"
# a connection from outside explicit_clients: refused (554)
out=$(swaks --server 127.0.0.1:10025 --local-interface 127.0.0.3 --from a@example.test \
	--to c@example.test --timeout 20 2>&1 || true)
printf '%s\n' "$out" | grep -q '554 5.7.1' && ok "127.0.0.3 is refused" ||
	fail "127.0.0.3: $(printf '%s\n' "$out" | grep -E '^(<-|<\*\*)' | head -n 2)"

refused_seen() { [ "$(jget "$STATS" connections.refused)" = 1 ] && stats_show 3; }
if wait_until 20 refused_seen; then
	ok "stats file: 3 delivered, 1 refused"
else
	fail "stats file: $(cat "$STATS" 2>&1)"
fi
acc=$(jget "$STATS" connections.accepted)
bytes=$(jget "$STATS" bytes_in)
[ "$acc" = 3 ] && ok "stats file: 3 connections accepted" || fail "accepted = '$acc'"
[ -n "$bytes" ] && [ "$bytes" -gt 300 ] && ok "stats file: bytes_in $bytes" ||
	fail "bytes_in = '$bytes'"
for k in delivered-notice rejected deferred; do
	v=$(jget "$STATS" "transactions.$k")
	[ "$v" = 0 ] || fail "transactions.$k = '$v', expected 0"
done
[ "$(jget "$STATS" errors.sanitiser)" = 0 ] && [ "$(jget "$STATS" errors.quarantine)" = 0 ] &&
	ok "stats file: no other outcome, no errors" || fail "errors: $(cat "$STATS")"

metrics_show() { grep -q '^sekisho_relay_transactions_total{outcome="delivered"} 3$' "$METRICS" 2>/dev/null; }
wait_until 20 metrics_show || true
if python3 "$here/promcheck.py" "$METRICS" \
	--require 'sekisho_relay_transactions_total{outcome="delivered"}=3' \
	--require 'sekisho_relay_transactions_total{outcome="rejected"}=0' \
	--require 'sekisho_relay_connections_total{result="accepted"}=3' \
	--require 'sekisho_relay_connections_total{result="refused"}=1' \
	--require 'sekisho_relay_sanitiser_errors_total=0' >"$T/promcheck.log" 2>&1; then
	ok "metrics file passes promcheck.py with the same figures"
else
	fail "metrics file: $(cat "$T/promcheck.log")"
fi

# sekisho status reads the stats file (no ruleset in this namespace)
mkdir -p "$T/state"
"$SEKISHO" --state-dir "$T/state" status --relay-stats "$STATS" --alerts "$T/none.jsonl" \
	>"$T/status.out" 2>&1 || true
if grep -qE '^  delivered +3$' "$T/status.out" &&
	grep -qE '^  connections refused +1$' "$T/status.out" &&
	grep -q "^relay: statistics of $STATS" "$T/status.out"; then
	ok "sekisho status shows the relay's figures"
else
	fail "sekisho status: $(cat "$T/status.out")"
fi
SEKISHO_RELAY_STATS=$STATS "$SEKISHO" --state-dir "$T/state" status >"$T/status2.out" 2>&1 || true
grep -qE '^  delivered +3$' "$T/status2.out" && ok "SEKISHO_RELAY_STATS names the file" ||
	fail "SEKISHO_RELAY_STATS: $(cat "$T/status2.out")"

# SIGTERM: a clean exit, the last figures written at exit
rm -f "$STATS"
kill -TERM "$RELAYD_PID"
rc=0
wait "$RELAYD_PID" || rc=$?
RELAYD_PID=''
[ "$rc" = 0 ] && ok "relayd exits 0 on SIGTERM" || fail "relayd exit status $rc"
if stats_show 3 && [ "$(jget "$STATS" sessions.active)" = 0 ]; then
	ok "stats file written at exit"
else
	fail "stats at exit: $(cat "$STATS" 2>&1)"
fi
[ ! -e "$STATS.tmp" ] && [ ! -e "$METRICS.tmp" ] && ok "no temporary file left" ||
	fail "temporary files left: $(ls "$T/run")"

# written under relayd's umask 0077 all the same: node_exporter reads it
[ "$(stat -c %a "$METRICS")" = 644 ] && ok "metrics file is mode 0644 (umask 0077)" ||
	fail "metrics file mode $(stat -c %a "$METRICS")"

echo "$((R_CHECKS - R_FAILS)) of $R_CHECKS checks passed"
[ "$R_FAILS" -eq 0 ]

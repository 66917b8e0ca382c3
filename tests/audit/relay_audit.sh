#!/bin/bash
# relay_audit.sh - sekisho-relayd writes one audit record per transaction.
#
#   tests/audit/relay_audit.sh PATH-TO-sekisho PATH-TO-sekisho-relayd
#
# In a private network namespace (unshare --net, loopback only): smtp-sink
# on 127.0.0.2:2525 as the next hop of an explicit route, relayd on
# 127.0.0.1:10025 with audit_log / audit_key (the key 0600 root, opened as
# root before the drop to nobody).  swaks sends a plain message, one with an
# attachment (a removed part) and one with the EICAR file (withheld).  Then:
#   - relayd -n refuses a group-readable audit_key and a lone audit_log
#   - the log holds an anchor (open) and 3 "mail" records with status,
#     outcome, quarantine id, envelope, removed_parts and viruses
#   - `sekisho audit verify` finds it intact; with a byte changed, broken
# Needs root, smtp-sink, swaks, sigtool.  Removes everything it creates.
set -eu

SEKISHO=$(realpath "${1:?usage: relay_audit.sh SEKISHO RELAYD}")
RELAYD=$(realpath "${2:?usage: relay_audit.sh SEKISHO RELAYD}")
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
# shellcheck source=tests/relay/checks.sh
. "$top/tests/relay/checks.sh"

[ "$(id -u)" = 0 ] || {
	echo "relay_audit.sh: needs root"
	exit 77
}
for t in smtp-sink swaks unshare python3 sigtool; do
	command -v "$t" >/dev/null || {
		echo "relay_audit.sh: $t missing"
		exit 77
	}
done
if [ -z "${SK_AUDIT_IN_NS:-}" ]; then
	exec env SK_AUDIT_IN_NS=1 unshare --net -- bash "$0" "$@"
fi
ip link set lo up

T=$(mktemp -d /tmp/skau.XXXXXX)
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

sh "$top/tests/clamav/make_db.sh" "$T/clamdb" "$T/samples" >"$T/make_db.log" 2>&1
chmod -R a+rX "$T/clamdb"
mkdir -p "$T/sink" "$T/log"
chown nobody: "$T/sink"
LOG=$T/log/audit.jsonl
KEY=$T/audit.key
"$SEKISHO" audit keygen "$KEY" 2>/dev/null
conf() { # extra lines on stdin
	cat >"$T/relayd.conf" <<EOC
listen = 127.0.0.1:10025
hostname = box.sekisho.test
user = nobody
quarantine_dir = $T/quarantine
scan_db = $T/clamdb
mailflows_file = $T/mailflows
stats_file = $T/run/relayd.json
workers = 1
worker_timeout_s = 20
nexthop_timeout_s = 10
data_timeout_s = 20
explicit_clients = 127.0.0.1
route = example.test 127.0.0.2:2525 tls=none
EOC
	cat >>"$T/relayd.conf"
}
: >"$T/mailflows"

printf 'audit_log = %s\n' "$LOG" | conf
"$RELAYD" -c "$T/relayd.conf" -n >"$T/check.log" 2>&1 && fail "relayd -n accepts audit_log alone" ||
	{ grep -q "audit_log and audit_key go together" "$T/check.log" &&
		ok "audit_log without audit_key is refused" || fail "lone audit_log: $(cat "$T/check.log")"; }
chmod 640 "$KEY"
printf 'audit_log = %s\naudit_key = %s\n' "$LOG" "$KEY" | conf
"$RELAYD" -c "$T/relayd.conf" -n >"$T/check.log" 2>&1 && fail "relayd -n accepts a 0640 key" ||
	{ grep -q "audit_key $KEY is accessible by group or others (mode 0640)" "$T/check.log" &&
		ok "a group-readable audit_key is refused" || fail "0640 key: $(cat "$T/check.log")"; }
chmod 600 "$KEY"
printf 'audit_log = none\naudit_key = none\n' | conf
"$RELAYD" -c "$T/relayd.conf" -n >"$T/check.log" 2>&1 && ok "audit_log = none is accepted" ||
	fail "none: $(cat "$T/check.log")"
printf 'audit_log = %s\naudit_key = %s\n' "$LOG" "$KEY" | conf
"$RELAYD" -c "$T/relayd.conf" -n >"$T/check.log" 2>&1 && ok "relayd -n accepts audit_log and audit_key" ||
	fail "relayd -n: $(cat "$T/check.log")"

smtp-sink -u nobody -d "$T/sink/%M." 127.0.0.2:2525 100 >"$T/sink.log" 2>&1 &
SINK_PID=$!
"$RELAYD" -c "$T/relayd.conf" -d >"$T/relayd.log" 2>&1 &
RELAYD_PID=$!
wait_until 30 listening || {
	fail "relayd does not listen"
	exit 1
}
printf 'attachment-bytes\n' >"$T/note.bin"
send() { # TO ARGS...: 250 expected
	local out
	out=$(swaks --server 127.0.0.1:10025 --from a@example.test --to "$1" --timeout 60 \
		"${@:2}" 2>&1 || true)
	printf '%s\n' "$out" | grep -q '^<-  250 2.0.0 Ok: delivered' ||
		echo "message to $1: $(printf '%s\n' "$out" | grep -E '^(<-|<\*\*)' | tail -n 2)"
}
send plain@example.test --header "Subject: plain" --body "audit-plain"
send attach@example.test --header "Subject: attach" --body "see attached" --attach "@$T/note.bin"
send virus@example.test --header "Subject: virus" --body "eicar" --attach "@$T/samples/eicar.com"

kill -TERM "$RELAYD_PID"
rc=0
wait "$RELAYD_PID" || rc=$?
RELAYD_PID=''
[ "$rc" = 0 ] && ok "relayd exits 0 on SIGTERM" || fail "relayd exit status $rc"

if python3 - "$LOG" >"$T/py.log" 2>&1 <<'EOP'; then
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1], "rb").read().splitlines()]
assert recs[0]["type"] == "anchor", recs[0]
mail = {r["data"]["rcpts"][0]: r["data"] for r in recs if r["type"] == "mail"}
assert len(mail) == 3 and len(recs) == 4, recs
p, a, v = mail["plain@example.test"], mail["attach@example.test"], mail["virus@example.test"]
for d in (p, a, v):
    assert d["from"] == "a@example.test" and d["client"] == "127.0.0.1", d
    assert d["mode"] == "explicit" and len(d["quarantine"]) >= 16, d
    assert d["reply"].startswith("250 2.0.0 Ok: delivered"), d
assert p["status"] == "sanitised" and p["outcome"] == "delivered", p
assert p["removed_parts"] == 0 and p["viruses"] == [], p
assert a["status"] == "sanitised" and a["removed_parts"] == 1 and a["viruses"] == [], a
assert v["status"] == "withheld" and v["outcome"] == "delivered-notice", v
assert v["viruses"] and all("Eicar" in x["name"] for x in v["viruses"]), v
assert p["quarantine"] in p["reply"], p
EOP
	ok "an anchor and 3 mail records: status, outcome, quarantine id, removed parts, viruses"
else
	fail "records: $(cat "$T/py.log")"
fi
[ "$(stat -c '%U %a' "$LOG")" = "root 600" ] && ok "the log is root's, 0600 (opened before the drop)" ||
	fail "log owner/mode: $(stat -c '%U %a' "$LOG")"
if "$SEKISHO" audit verify "$LOG" --key "$KEY" >"$T/verify.out" 2>&1 &&
	grep -q ": 4 records intact" "$T/verify.out"; then
	ok "sekisho audit verify: intact"
else
	fail "verify: $(cat "$T/verify.out")"
fi
sed -i '3s/"outcome":"delivered"/"outcome":"rejected!"/' "$LOG"
rc=0
"$SEKISHO" audit verify "$LOG" --key "$KEY" >"$T/verify.out" 2>&1 || rc=$?
[ "$rc" = 1 ] && grep -q "^$LOG:3: record seq 3: altered" "$T/verify.out" &&
	ok "an altered mail record is found at line 3" || fail "after alteration ($rc): $(cat "$T/verify.out")"

echo "$((R_CHECKS - R_FAILS)) of $R_CHECKS checks passed"
[ "$R_FAILS" -eq 0 ]

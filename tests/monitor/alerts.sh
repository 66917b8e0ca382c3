#!/bin/bash
# monitor alerts: sekisho-gatewayd -m in the box namespace turns denied
# traffic into flow alerts with the right segment pair, rule and 5-tuple,
# writes the denied packets as pcap evidence that tshark reads back exactly,
# and its reconcile shows the kernel's deny counters equal to what it saw.
# Then, with tiny limits, the evidence rotates by size and the total cap
# removes the oldest files.
# usage: alerts.sh PATH-TO-sekisho PATH-TO-sekisho-gatewayd
# shellcheck source=tests/netns/lib.sh
. "$(dirname "$0")/../netns/lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
GATEWAYD=${2:-}
netns_init monalerts "$1"
[ -x "$GATEWAYD" ] || fatal "usage: $0 SEKISHO GATEWAYD"
command -v tshark >/dev/null || fatal "tshark is not installed"

R=$T/rules
copy_rules "$R"

# gatewayd_start NAME ARGS...: gatewayd -m in the box, files under $T/NAME;
# returns once the rules are applied and the monitor reads the group.
gatewayd_start() {
	local name=$1
	shift
	mkdir -p "$T/$name"
	GWLOG=$T/$name/gatewayd.log
	ALERTS=$T/$name/alerts.jsonl
	MSTATE=$T/$name/monitor.json
	EV=$T/$name/evidence
	ip netns exec "${P}box" env ${AUDIT_ENV:-} "$GATEWAYD" -f -m --rules "$R" --state-dir "$STATE" \
		--alerts "$ALERTS" --evidence "$EV" --monitor-state "$MSTATE" "$@" >"$GWLOG" 2>&1 &
	GWPID=$!
	NETNS_PIDS+=("$GWPID")
	for _ in $(seq 1 100); do
		grep -q 'start: version' "$GWLOG" 2>/dev/null && break
		kill -0 "$GWPID" 2>/dev/null || break
		sleep 0.1
	done
	if ! grep -q "monitor: reading nflog:${NFLOG_GROUP:-5}" "$GWLOG" || ! grep -q 'start: version' "$GWLOG"; then
		fatal "gatewayd -m did not start: $(cat "$GWLOG")"
	fi
}
# gatewayd_stop: SIGTERM, wait for the exit (the final reconcile is written).
gatewayd_stop() {
	local rc=0
	kill -TERM "$GWPID"
	wait "$GWPID" || rc=$?
	[ "$rc" -eq 0 ] || fail "gatewayd exited $rc"
}
# wait_lines FILE PATTERN N: until FILE has N lines matching (grep -E); 10 s at most.
wait_lines() {
	for _ in $(seq 1 100); do
		[ "$(grep -cE "$2" "$1" 2>/dev/null || true)" -ge "$3" ] && return 0
		sleep 0.1
	done
	return 1
}

say "-- gatewayd -m: denied traffic"
# run1 also keeps an audit log: every new denied flow is a record
"$SEKISHO" audit keygen "$T/audit.key" >/dev/null || fatal "audit keygen failed"
AUDIT_ENV="SEKISHO_AUDIT_LOG=$T/audit.jsonl SEKISHO_AUDIT_KEY=$T/audit.key"
gatewayd_start run1
AUDIT_ENV=""


# 指令系 -> LGWAN接続系: 4 TCP SYNs (port 80 twice) and 2 echo requests = 6
nsx shirei python3 "$HERE/syn.py" 198.18.1.10 198.18.3.50 40000 22 80 445 80 ||
	fatal "syn.py failed"
nsx shirei ping -4 -n -q -c 2 -i 0.2 -W 1 -I 198.18.1.10 198.18.3.50 >/dev/null 2>&1 || true
SL=6
# LGWAN接続系 -> 情報系: 3 + 1 UDP datagrams to syslog = 4
udp_burst 3 lgwan 198.18.3.25 198.18.2.10 514
udp_burst 1 lgwan 2001:2:0:3::25 2001:2:0:2::10 514
LJ=4

# 6 flows: tcp/22, tcp/80, tcp/445, icmp, udp/514 over IPv4 and IPv6
wait_lines "$ALERTS" '"state":"new"' 6 || fail "fewer than 6 new-flow alerts after 10 s"
kill -USR1 "$GWPID"
wait_lines "$ALERTS" '"event":"reconcile","why":"SIGUSR1"' 1 ||
	fail "no reconcile line after SIGUSR1"
c_sl=$(deny_counter shirei_to_lgwan)
c_lj=$(deny_counter lgwan_to_joho)
cp "$MSTATE" "$T/run1/monitor-usr1.json" 2>/dev/null || fail "no state file $MSTATE after SIGUSR1"

say "-- SIGHUP: the table is replaced, the comparison starts again"
kill -HUP "$GWPID"
wait_lines "$GWLOG" 'reload: version' 1 || fail "no reload after SIGHUP"
nsx shirei python3 "$HERE/syn.py" 198.18.1.10 198.18.3.50 40000 3000 3000 || fatal "syn.py failed"
wait_lines "$ALERTS" '"dport":3000' 1 || fail "no alert for tcp/3000 after the reload"
kill -USR1 "$GWPID"
wait_lines "$ALERTS" '"event":"reconcile","why":"SIGUSR1"' 2 ||
	fail "no second reconcile line after SIGUSR1"
if python3 - "$MSTATE" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
c = {c["chain"]: c for c in s["chains"]}.get("shirei_to_lgwan", {})
print("     shirei_to_lgwan after the reload: %r; totals seen %d" % (c, s["packets"]))
sys.exit(0 if c.get("kernel") == 2 and c.get("seen") == 2 and s["packets"] == 12 else 1)
PY
then
	ok "after the reload: kernel = seen = 2 in shirei_to_lgwan, 12 packets seen in all"
else
	fail "after the reload the counters disagree (above)"
fi
gatewayd_stop

say "-- audit log: denied traffic recorded, chain intact"
n_audit=$(grep -c '"type":"denied-traffic".*"pair":"shirei->lgwan"' "$T/audit.jsonl" 2>/dev/null || true)
if [ "${n_audit:-0}" -ge 4 ] &&
	"$SEKISHO" audit verify "$T/audit.jsonl" --key "$T/audit.key" >"$T/verify.out" 2>&1; then
	ok "audit log: $n_audit denied-traffic records for shirei->lgwan, verify exit 0"
else
	fail "audit log: $n_audit shirei->lgwan records; verify: $(cat "$T/verify.out" 2>/dev/null)"
fi

say "-- alert lines"
if python3 - "$ALERTS" <<'PY'

import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
deny = [l for l in lines if l.get("event") == "deny"]
want = [
    # pair, proto, src, dst, port key, value, in, out, packets
    ("shirei->lgwan", "tcp", "198.18.1.10", "198.18.3.50", "dport", 22, "shirei0", "lgwan0", 1),
    ("shirei->lgwan", "tcp", "198.18.1.10", "198.18.3.50", "dport", 80, "shirei0", "lgwan0", 2),
    ("shirei->lgwan", "tcp", "198.18.1.10", "198.18.3.50", "dport", 445, "shirei0", "lgwan0", 1),
    ("shirei->lgwan", "icmp", "198.18.1.10", "198.18.3.50", "icmp_type", 8, "shirei0", "lgwan0", 2),
    ("lgwan->joho", "udp", "198.18.3.25", "198.18.2.10", "dport", 514, "lgwan0", "joho0", 3),
    ("lgwan->joho", "udp", "2001:2:0:3::25", "2001:2:0:2::10", "dport", 514, "lgwan0", "joho0", 1),
]
bad = 0
for pair, proto, src, dst, k, v, i, o, n in want:
    mine = [l for l in deny if l.get("pair") == pair and l.get("proto") == proto
            and l.get("src") == src and l.get("dst") == dst and l.get(k) == v]
    new = [l for l in mine if l["state"] == "new"]
    name = "%s %s %s -> %s %s=%s" % (pair, proto, src, dst, k, v)
    if len(new) != 1:
        print("FAIL %s: %d new-flow alerts, expected 1" % (name, len(new))); bad += 1; continue
    l = new[0]
    f, t = pair.split("->")
    checks = {"rule": "sekisho deny " + pair, "from": f, "to": t, "in": i, "out": o}
    for key, val in checks.items():
        if l.get(key) != val:
            print("FAIL %s: %s is %r, expected %r" % (name, key, l.get(key), val)); bad += 1
    if not l.get("first") or not l.get("last") or l["first"] > l["last"]:
        print("FAIL %s: first/last %r %r" % (name, l.get("first"), l.get("last"))); bad += 1
    last = max(x["packets"] for x in mine)
    if last != n:
        print("FAIL %s: %d packets in the last alert, expected %d" % (name, last, n)); bad += 1
    else:
        print("ok   %s: new-flow alert (rule, pair, interfaces), %d packets" % (name, n))
other = [l for l in deny if l["pair"] not in ("shirei->lgwan", "lgwan->joho")]
for l in other:
    print("note: other denial seen: %s" % json.dumps(l))
sys.exit(1 if bad else 0)
PY
then
	ok "6 flows alerted with pair, rule, 5-tuple, interfaces and counts"
else
	fail "the alert lines are not as expected (above)"
fi

say "-- counters: kernel, monitor, traffic sent"
if [ "$c_sl" = "$SL" ] && [ "$c_lj" = "$LJ" ]; then
	ok "nft deny counters: shirei_to_lgwan $c_sl, lgwan_to_joho $c_lj (as sent)"
else
	fail "nft deny counters: shirei_to_lgwan $c_sl (sent $SL), lgwan_to_joho $c_lj (sent $LJ)"
fi
if python3 - "$T/run1/monitor-usr1.json" "$SL" "$LJ" <<'PY'

import json, sys
s = json.load(open(sys.argv[1]))
want = {"shirei_to_lgwan": int(sys.argv[2]), "lgwan_to_joho": int(sys.argv[3])}
chains = {c["chain"]: c for c in s["chains"]}
bad = 0
for name, n in want.items():
    c = chains.get(name)
    if not c or c["kernel"] != n or c["seen"] != n or c["missing"] != 0:
        print("FAIL chain %s: %r, expected kernel = seen = %d" % (name, c, n)); bad += 1
if s["pcap"]["dropped"] or s["pcap"]["ifdropped"] or s["missing"] != 0:
    print("FAIL drops or missing samples: %r %r" % (s["pcap"], s["missing"])); bad += 1
sys.exit(1 if bad else 0)
PY
then
	ok "monitor.json: kernel = seen = sent per chain, nothing missing"
else
	fail "monitor.json disagrees (above)"
fi

say "-- pcap evidence"
mapfile -t files < <(ls "$EV"/evidence-*.pcap 2>/dev/null)
if [ "${#files[@]}" -eq 1 ]; then ok "one evidence file"; else fail "${#files[@]} evidence files, expected 1"; fi
OURS='(ip.src==198.18.1.10 && ip.dst==198.18.3.50) || (ip.src==198.18.3.25 && ip.dst==198.18.2.10) || (ipv6.src==2001:2:0:3::25 && ipv6.dst==2001:2:0:2::10)'
for f in "${files[@]}"; do
	tshark -r "$f" -Y "$OURS" -T fields -e ip.src -e ip.dst -e ipv6.src -e ipv6.dst \
		-e tcp.dstport -e udp.dstport -e icmp.type 2>"$T/tshark.err"
done | sed -E 's/^\t+//; s/\t+/ /g; s/ $//' | sort >"$T/evidence.txt"
sort >"$T/expected.txt" <<'EOF2'
198.18.1.10 198.18.3.50 22
198.18.1.10 198.18.3.50 80
198.18.1.10 198.18.3.50 80
198.18.1.10 198.18.3.50 445
198.18.1.10 198.18.3.50 3000
198.18.1.10 198.18.3.50 3000
198.18.1.10 198.18.3.50 8
198.18.1.10 198.18.3.50 8
198.18.3.25 198.18.2.10 514
198.18.3.25 198.18.2.10 514
198.18.3.25 198.18.2.10 514
2001:2:0:3::25 2001:2:0:2::10 514
EOF2
same_text "tshark -r reads exactly the packets sent (before and after the reload)" "$T/expected.txt" "$T/evidence.txt"

say "-- evidence rotation by size, total cap"
# 2 datagrams fill a 100-byte file (24 header + 2 x 52); 300 bytes hold 2 files
gatewayd_start run2 --evidence-file-max 100 --evidence-total-max 300
for port in $(seq 2001 2010); do
	udp_burst 1 lgwan 198.18.3.25 198.18.2.10 "$port"
done
wait_lines "$ALERTS" '"dport":2010' 1 || fail "no alert for the last datagram"
gatewayd_stop
mapfile -t files < <(ls "$EV"/evidence-*.pcap 2>/dev/null)
total=$(cat "${files[@]}" /dev/null | wc -c)
removed=$(grep -c 'evidence: removed' "$GWLOG" || true)
if [ "${#files[@]}" -ge 2 ] && [ "$total" -le 300 ] && [ "$removed" -ge 2 ]; then
	ok "rotation: ${#files[@]} files kept ($total bytes <= 300), $removed oldest removed"
else
	fail "rotation: ${#files[@]} files kept ($total bytes, cap 300), $removed removed"
	find "$EV" -type f -printf '    | %s %p\n'
fi
ports=$(for f in "${files[@]}"; do
	tshark -r "$f" -Y 'ip.src==198.18.3.25 && udp' -T fields -e udp.dstport 2>/dev/null
done | sort -n | tr "\n" " " | sed "s/ $//")
case " $ports " in
*" 2009 2010 ") first=${ports%% *}
	if [ "$first" -gt 2001 ] && [ "$(echo "$ports" | wc -w)" -eq $((2010 - first + 1)) ]; then
		ok "the newest datagrams are kept ($ports), the oldest removed"
	else
		fail "kept datagrams to ports: $ports (expected a run ending at 2010, without 2001)"
	fi ;;
*) fail "kept datagrams to ports: $ports (expected the newest, ... 2009 2010)" ;;
esac

say "-- evidence rotation by age"
gatewayd_start run4 --evidence-age-max 1
udp_burst 1 lgwan 198.18.3.25 198.18.2.10 3001
wait_lines "$GWLOG" 'evidence: closed .*age limit' 1 || fail "no file closed by age after 10 s"
udp_burst 1 lgwan 198.18.3.25 198.18.2.10 3002
wait_lines "$ALERTS" '"dport":3002' 1 || fail "no alert for the second datagram"
gatewayd_stop
mapfile -t files < <(ls "$EV"/evidence-*.pcap 2>/dev/null)
ports=$(for f in "${files[@]}"; do
	tshark -r "$f" -Y 'ip.src==198.18.3.25 && udp' -T fields -e udp.dstport 2>/dev/null | tr '\n' ' '
	echo
done | tr '\n' '/')
if [ "$ports" = "3001 /3002 /" ]; then
	ok "age limit: the first datagram's file was closed, the second went to a new file"
else
	fail "age limit: files hold '$ports', expected '3001 /3002 /'"
fi

say "-- a flood of new flows: alert lines rate limited, nothing lost"
gatewayd_start run3
N=300
# shellcheck disable=SC2046
nsx shirei python3 "$HERE/syn.py" 198.18.1.10 198.18.3.50 40001 $(seq 20001 $((20000 + N))) ||
	fatal "syn.py failed"
wait_lines "$ALERTS" '"event":"suppressed"' 1 || fail "no suppressed line after 10 s"
kill -USR1 "$GWPID"
wait_lines "$ALERTS" '"event":"reconcile","why":"SIGUSR1"' 1 ||
	fail "no reconcile line after SIGUSR1"
cp "$MSTATE" "$T/run3/monitor-usr1.json" 2>/dev/null || fail "no state file $MSTATE after SIGUSR1"
gatewayd_stop
if python3 - "$ALERTS" "$T/run3/monitor-usr1.json" "$N" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
state = json.load(open(sys.argv[2]))
n = int(sys.argv[3])
new = [l for l in lines if l.get("state") == "new" and 20001 <= l.get("dport", 0) <= 20000 + n]
held = state["suppressed"]  # at SIGUSR1, before any update line was due
chain = {c["chain"]: c for c in state["chains"]}.get("shirei_to_lgwan", {})
print("     %d new-flow lines, %d held back; kernel %s, seen %s"
      % (len(new), held, chain.get("kernel"), chain.get("seen")))
ok = (len(new) + held == n and len(new) <= n // 2 and chain.get("kernel") == n
      and chain.get("seen") == n and state["flows_total"] == n)
sys.exit(0 if ok else 1)
PY
then
	ok "$N new flows at once: at most half alerted, the rest counted in a suppressed line; all $N seen"
else
	fail "rate limit: new-flow lines + suppressed != $N, or packets not all seen (above)"
fi

say "-- the log group comes from the rules (box { log-group 9 })"
R9=$T/rules9
copy_rules "$R9"
sed -i 's/^\( *log-group *\)5/\19/' "$R9/box.rules"
grep -q 'log-group *9' "$R9/box.rules" || fatal "could not set log-group 9"
R_SAVED=$R
R=$R9
NFLOG_GROUP=9 gatewayd_start run5
R=$R_SAVED
nsx shirei python3 "$HERE/syn.py" 198.18.1.10 198.18.3.50 40000 23 >/dev/null 2>&1 || true
if wait_lines "$ALERTS" '"dport":23' 1; then
	ok "gatewayd read nflog:9 as box.rules says, and alerted the denial"
else
	fail "no alert from nflog:9: $(tail -3 "$GWLOG")"
fi
gatewayd_stop

netns_finish

#!/bin/bash
# monitor.sh - the denied-packet rate the monitor of sekisho-gatewayd keeps
# up with, beside `tcpdump -i nflog:5 -w` reading the same group.
#
# usage: bench/monitor.sh                (root)
#   BENCH_RUNS=3        rounds; each round runs both readers once
#   BENCH_SECONDS=5     length of each flood
#   BENCH_PAYLOAD=64    UDP payload bytes
#   BENCH_NO_BUILD=1, SEKISHO_BENCH_BUILD as in rule_apply.sh (Release build
#                       of sekisho, sekisho-gatewayd, sekisho-udpflood)
#
# Topology: deploy/netns.sh up sk-bench-mon- (the test topology), the
# default rules applied in the box.  bench/udpflood sends one-way UDP
# datagrams from LGWAN接続系 to 情報系 port 9 as fast as it can: denied
# (lgwan->joho), so every one is logged to nflog group 5 and counted in
# chain lgwan_to_joho.
#
# Per run: the kernel's deny counter delta (what was denied and logged),
# the packets the reader got (the monitor: its state file at exit, "seen"
# for chain lgwan_to_joho; tcpdump: the packets in its pcap), the loss, and
# the denied rate; the reader's CPU time during the flood.  Only one reader can bind the group at a time, so the
# readers take turns on the same traffic pattern.
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
bench_need_root

secs=${BENCH_SECONDS:-5}
payload=${BENCH_PAYLOAD:-64}
P=sk-bench-mon-
W=$(mktemp -d /tmp/sk-bench-mon.XXXXXX)
netns=$bench_top/deploy/netns.sh

cleanup() {
	set +e
	[ -n "${rpid:-}" ] && kill "$rpid" 2>/dev/null
	"$netns" down "$P" >/dev/null 2>&1
	rm -rf "$W"
}
trap cleanup EXIT

bench_build_sekisho
if [ "${BENCH_NO_BUILD:-0}" != 1 ]; then
	cmake --build "$bench_build" -j2 --target sekisho-gatewayd >/dev/null ||
		{ echo "$0: gatewayd build failed" >&2; exit 2; }
fi
gatewayd=$bench_build/gateway/sekisho-gatewayd
udpflood=$bench_build/bench/sekisho-udpflood
if [ ! -x "$gatewayd" ] || [ ! -x "$udpflood" ]; then
	echo "$0: no $gatewayd or $udpflood" >&2
	exit 2
fi

"$netns" up "$P" >/dev/null || { echo "$0: netns.sh up failed" >&2; exit 2; }
export SEKISHO_TODAY=2026-11-22
ip netns exec "${P}box" "$bench_sekisho" --state-dir "$W/state" apply "$bench_top/rules" \
	>/dev/null 2>&1 || { echo "$0: apply failed" >&2; exit 2; }

counter() {
	ip netns exec "${P}box" nft list chain inet sekisho lgwan_to_joho |
		grep 'log prefix "sekisho deny' | grep -o 'packets [0-9]*' | awk '{s += $2} END {print s + 0}'
}
flood() {
	ip netns exec "${P}lgwan" "$udpflood" send 198.18.2.10 9 "$secs" "$payload" >/dev/null
	sleep 1.5 # the reader drains its socket
}
wait_for() { # FILE PATTERN
	for _ in $(seq 1 100); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "$0: '$2' not in $1: $(cat "$1")" >&2
	exit 2
}
# cpu PID: user + system CPU time of PID so far, in clock ticks
cpu() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# cpu_s TICKS: as seconds
cpu_s() { awk -v t="$1" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t / hz }'; }
row() { # reader kernel seen note
	awk -v r="$1" -v k="$2" -v s="$3" -v t="$secs" -v n="$4" 'BEGIN {
		printf "%-22s %10d %12.0f %10d %9d %7.3f%%  %s\n", r, k, k / t, s, k - s,
			k ? 100 * (k - s) / k : 0, n }'
}

run_monitor() {
	local d=$W/mon k0 k1 c0 c1 seen
	rm -rf "$d"
	mkdir -p "$d"
	ip netns exec "${P}box" "$gatewayd" -f -m --rules "$bench_top/rules" \
		--state-dir "$W/state" --alerts "$d/alerts.jsonl" --evidence "$d/evidence" \
		--monitor-state "$d/monitor.json" >"$d/log" 2>&1 &
	rpid=$!
	wait_for "$d/log" 'start: version'
	k0=$(counter)
	c0=$(cpu "$rpid")
	flood
	k1=$(counter)
	c1=$(cpu "$rpid")
	kill -TERM "$rpid"
	wait "$rpid" || true
	rpid=
	seen=$(python3 -c 'import json,sys
s = json.load(open(sys.argv[1]))
print(sum(c["seen"] for c in s["chains"] if c["chain"] == "lgwan_to_joho"))' "$d/monitor.json")
	row "sekisho-gatewayd -m" $((k1 - k0)) "$seen" \
		"cpu $(cpu_s $((c1 - c0))) s, pcap drops $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["pcap"]["dropped"])' "$d/monitor.json"), alert lines $(wc -l <"$d/alerts.jsonl")"
}

run_tcpdump() {
	local d=$W/tcpdump k0 k1 c0 c1 seen
	rm -rf "$d"
	mkdir -p "$d"
	ip netns exec "${P}box" tcpdump -i nflog:5 -n -B 8192 -s 65535 -w "$d/nflog.pcap" \
		2>"$d/log" &
	rpid=$!
	wait_for "$d/log" 'listening on'
	k0=$(counter)
	c0=$(cpu "$rpid")
	flood
	k1=$(counter)
	c1=$(cpu "$rpid")
	kill -INT "$rpid"
	wait "$rpid" || true
	rpid=
	seen=$(tcpdump -n -r "$d/nflog.pcap" 2>/dev/null | grep -c '198\.18\.2\.10\.9:' || true)
	row "tcpdump -i nflog:5 -w" $((k1 - k0)) "$seen" \
		"cpu $(cpu_s $((c1 - c0))) s, $(grep -o '[0-9]* packets dropped by kernel' "$d/log")"
}

printf '%s\n' "denied UDP-$payload lgwan -> joho, $secs s per run, udpflood one-way"
printf '%-22s %10s %12s %10s %9s %8s  %s\n' reader denied "denied/s" seen lost lost notes
for _ in $(seq 1 "$bench_runs"); do
	run_monitor
	run_tcpdump
done

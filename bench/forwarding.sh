#!/bin/bash
# forwarding.sh - what the 100k-host sekisho ruleset costs a forwarded flow,
# beside the same box with no ruleset (the anchor) and with a naive linear
# chain of one rule per registered host.
#
# usage: bench/forwarding.sh               (root)
#   BENCH_RUNS=3        rounds; each round measures every scenario once
#                       (interleaved), the median is printed
#   BENCH_HOSTS=100000  registered hosts in the policy
#   BENCH_SECONDS=5     length of each iperf3 run
#   BENCH_SMALL_HOSTS=1000  hosts in the small sekisho policy (reference row)
#   BENCH_PERF=DIR      record `perf record -a -g` during each scenario's
#                       one-way run of round 1 into DIR (perf-<scenario>.data
#                       and a top-40 perf-<scenario>.txt)
#   BENCH_NO_BUILD=1, SEKISHO_BENCH_BUILD as in rule_apply.sh
#
# Topology (namespaces only; the host's interfaces are never touched):
#
#   sk-bench-fw-src         sk-bench-fw-box                 sk-bench-fw-dst
#   eth0 198.18.255.254/17 == joho0 198.18.128.1/17
#   (bench-src, a registered           inet0 198.19.255.1/24 == eth0 198.19.255.2/24
#    joho host with its MAC)                                  iperf3 -s -p 5201
#
# The measured flow is joho -> internet tcp+udp/5201 from bench-src: an
# allowed flow of the generated policy (bench.rules), so with the sekisho
# ruleset every packet passes the registered-host check (in_joho, with the
# MAC) and the joho . inet0 pair chain.
#
# Scenarios:
#   none     no ruleset in the box namespace (the anchor)
#   sekisho-small  reference: `sekisho apply` of a BENCH_SMALL_HOSTS (1000)
#            host policy: with the big one, shows whether the per-packet
#            cost grows with the number of hosts
#   sekisho  `sekisho apply` of the generated policy (BENCH_HOSTS hosts)
#   conntrack  reference: one chain with only `ct state established,related
#            accept` (policy accept): what connection tracking alone costs,
#            which any stateful ruleset (sekisho's included) pays
#   linear   nft -f of a forward chain with one `ip saddr X accept` per
#            registered host, bench-src last (replies from inet0 are
#            accepted first by ct state)
# Figures (each the receiver's count):
#   TCP         iperf3, one stream, Gbit/s
#   UDP-64 est  iperf3 -u -l 64 -b 0: 64 payload bytes as fast as the sender
#               can, datagrams received per second.  iperf3's UDP handshake
#               makes the flow ESTABLISHED, so after the first packet a
#               stateful ruleset accepts it at `ct state established`.
#   UDP-64 new  bench/udpflood: the same datagrams one way only; no reply,
#               so every packet stays ct state NEW and runs the whole
#               ruleset (ingress set lookups + pair chain): the figure where
#               the ruleset's own per-packet cost shows.
# Target: sekisho >= 0.9 x none, for each figure.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
bench_need_root

hosts=${BENCH_HOSTS:-100000}
secs=${BENCH_SECONDS:-5}
port=5201
src=sk-bench-fw-src box=sk-bench-fw-box dst=sk-bench-fw-dst
dst_ip=198.19.255.2

work=$(mktemp -d /tmp/sk-bench-fw.XXXXXX)
iperf_pid=
cleanup() {
	if [ -n "$iperf_pid" ]; then kill "$iperf_pid" 2>/dev/null || true; fi
	for n in $src $box $dst; do ip netns del "$n" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for n in $src $box $dst; do
	if ip netns list 2>/dev/null | grep -qw "$n"; then
		echo "$0: namespace $n exists (another run?); remove it first" >&2
		trap - EXIT
		rm -rf "$work"
		exit 2
	fi
done

bench_build_sekisho
sk=$bench_sekisho
[ "${BENCH_NO_SEKISHO:-0}" != 1 ] || sk=
flood=$bench_build/bench/sekisho-udpflood

small=${BENCH_SMALL_HOSTS:-1000}
python3 "$bench_top/bench/gen_policy.py" "$hosts" --out "$work/rules" \
	--linear "$work/linear.nft" --equiv "$work/equiv.nft"
python3 "$bench_top/bench/gen_policy.py" "$small" --out "$work/rules-small"
sk_mode=sekisho
if [ -z "$sk" ] || ! "$sk" show "$work/rules" >/dev/null 2>"$work/show.err"; then
	echo "forwarding: sekisho show does not work; the 'sekisho' row uses the" \
		"hand-written equivalent table (nft -f) instead:" >&2
	head -3 "$work/show.err" 2>/dev/null >&2 || true
	sk_mode=equiv
fi

# --- topology ---
for n in $src $box $dst; do
	ip netns add "$n"
	ip -n "$n" link set lo up
done
ip -n $box link add joho0 type veth peer name eth0 netns $src
ip -n $box link add inet0 type veth peer name eth0 netns $dst
ip -n $src link set eth0 address 02:00:00:be:0c:01 # bench-src's registered MAC
ip -n $src addr add 198.18.255.254/17 dev eth0
ip -n $box addr add 198.18.128.1/17 dev joho0
ip -n $box addr add 198.19.255.1/24 dev inet0
ip -n $dst addr add $dst_ip/24 dev eth0
for l in "$src eth0" "$box joho0" "$box inet0" "$dst eth0"; do
	read -r n dev <<<"$l"
	ip -n "$n" link set "$dev" up
done
ip -n $src route add default via 198.18.128.1
ip -n $dst route add default via 198.19.255.1
ip netns exec $box sysctl -qw net.ipv4.ip_forward=1

ip netns exec $dst iperf3 -s -p $port >"$work/iperf3-server.log" 2>&1 &
iperf_pid=$!
sleep 0.5

# --- scenarios ---
load() {
	ip netns exec $box nft flush ruleset
	case "$1" in
	none) ;;
	sekisho-small)
		ip netns exec $box "$sk" --state-dir "$work/state" apply "$work/rules-small" \
			>>"$work/apply.log" 2>&1 || { cat "$work/apply.log" >&2; return 1; }
		;;
	sekisho)
		if [ $sk_mode = sekisho ]; then
			mkdir -p "$work/state"
			ip netns exec $box "$sk" --state-dir "$work/state" apply "$work/rules" \
				>>"$work/apply.log" 2>&1 || { cat "$work/apply.log" >&2; return 1; }
		else
			ip netns exec $box nft -f "$work/equiv.nft"
		fi
		;;
	linear) ip netns exec $box nft -f "$work/linear.nft" ;;
	conntrack)
		ip netns exec $box nft -f - <<-EOF
			table inet sk_bench_ct {
				chain forward {
					type filter hook forward priority filter; policy accept;
					ct state established,related accept
				}
			}
		EOF
		;;
	esac
}

# iperf3 client in src; prints the figure (Gbit/s or received pps), or
# "blocked" when the flow does not get through.
measure_iperf() {
	local kind=$1
	local out=$work/iperf3-$kind.json
	local args=(-c "$dst_ip" -p "$port" -t "$secs" -J --connect-timeout 2000)
	[ "$kind" = udp ] && args+=(-u -l 64 -b 0)
	if ! ip netns exec $src timeout $((secs + 20)) iperf3 "${args[@]}" >"$out" 2>&1; then
		echo blocked
		return
	fi
	python3 - "$kind" "$out" <<'EOF'
import json, sys
kind, path = sys.argv[1], sys.argv[2]
j = json.load(open(path))
if kind == "tcp":
    s = j["end"]["sum_received"]
    print("%.3f" % (s["bits_per_second"] / 1e9))
else:
    s = j["end"]["sum"]  # filled in from the server's report
    print("%.0f" % ((s["packets"] - s["lost_packets"]) / s["seconds"]))
EOF
}

# One-way 64-byte UDP (udpflood): no reply ever, so every packet is ct
# state NEW and runs the box's whole ruleset.  Prints received pps.
measure_oneway() {
	local rout=$work/flood-recv.out rpid i
	: >"$rout"
	ip netns exec $dst "$flood" recv $port "$secs" >"$rout" 2>&1 &
	rpid=$!
	for ((i = 0; i < 50; i++)); do
		grep -q ready "$rout" && break
		sleep 0.1
	done
	local ppid=
	if [ -n "${BENCH_PERF:-}" ] && [ "$2" = 1 ]; then
		perf record -q -a -g -o "$BENCH_PERF/perf-$1.data" -- sleep "$secs" \
			>/dev/null 2>&1 &
		ppid=$!
	fi
	ip netns exec $src "$flood" send $dst_ip $port $((secs + 2)) >"$work/flood-send.out" 2>&1 || true
	if [ -n "$ppid" ]; then
		wait "$ppid" || true
		perf report -i "$BENCH_PERF/perf-$1.data" --no-children --stdio --sort dso,sym \
			-g none 2>/dev/null | grep -E '^ +[0-9]' | head -40 >"$BENCH_PERF/perf-$1.txt" || true
	fi
	if wait $rpid; then awk 'NR == 2 { print $3 }' "$rout"; else echo blocked; fi
}

echo "forwarding: $(bench_machine)"
echo "forwarding: $hosts registered hosts; $secs s per run; rounds: $bench_runs;" \
	"sekisho row: $sk_mode"
declare -A tcp udp new
scen=(none conntrack sekisho-small sekisho linear)
[ $sk_mode = sekisho ] || scen=(none conntrack sekisho linear)
for ((r = 1; r <= bench_runs; r++)); do
	for s in "${scen[@]}"; do
		t0=$(date +%s%N)
		load "$s"
		t1=$(date +%s%N)
		a=$(measure_iperf tcp)
		b=$(measure_iperf udp)
		c=$(measure_oneway "$s" "$r")
		tcp[$s]="${tcp[$s]:-} $a"
		udp[$s]="${udp[$s]:-} $b"
		new[$s]="${new[$s]:-} $c"
		echo "forwarding: round $r $s: load $(bench_s $(((t1 - t0) / 1000))) s," \
			"tcp $a Gbit/s, udp-64 $b pps, one-way udp-64 $c pps received" >&2
		if [ "$s" = sekisho ] && [ "$r" = 1 ]; then
			# evidence that the one-way packets ran the pair chain: its
			# udp/5201 rule counted them
			ip netns exec $box nft list chain inet sekisho joho_to_internet 2>/dev/null |
				grep 'udp dport 5201' | grep -o 'counter packets [0-9]*' |
				sed 's/^/forwarding: sekisho joho_to_internet udp\/5201 rule: /' >&2 || true
		fi
	done
done
ip netns exec $box nft flush ruleset

med() {
	local v
	# shellcheck disable=SC2086 # $1 and $v are space-separated lists
	v=$(printf '%s\n' $1 | grep -v blocked || true)
	# shellcheck disable=SC2086
	if [ -z "$v" ]; then echo blocked; else bench_median $v; fi
}
tcp0=$(med "${tcp[none]}") udp0=$(med "${udp[none]}") new0=$(med "${new[none]}")

echo
echo "forwarding: median of $bench_runs rounds; (x) = figure / no-ruleset figure;" \
	"target: sekisho >= 0.90 x none on each figure"
echo "forwarding: TCP = iperf3 one stream; UDP-64 est = iperf3 -u -l 64 (established" \
	"after the first packet); UDP-64 new = one-way udpflood (every packet ct NEW)"
printf '%-28s %10s %6s %12s %6s %12s %6s  %s\n' scenario "TCP Gbit/s" "(x)" \
	"UDP-64 est" "(x)" "UDP-64 new" "(x)" result
for s in "${scen[@]}"; do
	a=$(med "${tcp[$s]}") b=$(med "${udp[$s]}") c=$(med "${new[$s]}")
	ra=$(bench_ratio "$a" "$tcp0") rb=$(bench_ratio "$b" "$udp0") rc=$(bench_ratio "$c" "$new0")
	case $s in
	none) label="no ruleset (anchor)" res="anchor" ;;
	conntrack) label="conntrack only" res="reference" ;;
	sekisho) label="sekisho ${hosts} hosts"
		[ $sk_mode = equiv ] && label="hand-written ${hosts} hosts"
		res=$(awk -v a="$ra" -v b="$rb" -v c="$rc" 'function v(x) { return x + 0 >= 0.9 ? "PASS" : "MISS" }
			BEGIN { print "tcp " v(a) ", est " v(b) ", new " v(c) }')
		;;
	linear) label="linear chain ${hosts} rules" res="reference" ;;
	sekisho-small) label="sekisho ${small} hosts" res="reference" ;;
	esac
	printf '%-28s %10s %6s %12s %6s %12s %6s  %s\n' "$label" "$a" "$ra" "$b" "$rb" "$c" "$rc" "$res"
done

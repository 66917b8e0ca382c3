#!/bin/bash
# relay.sh - what sekisho-relayd costs a message, beside its anchors, in one
# run: msgs/s with 4 KB messages and MB/s with 1 MB messages through
#
#   direct    smtp-source -> smtp-sink                       (no relay at all)
#   postfix   smtp-source -> Postfix (plain relay, default queue) -> smtp-sink
#   relayd    smtp-source -> box (transparent) -> sekisho-relayd -> smtp-sink
#             (sanitising with ClamAV and the quarantine on: every message is
#             scanned, flattened and its original fsync'd before the 250)
# and, with STARTTLS on both legs (smtp-source and smtp-sink speak no TLS:
# bench/smtp_tls.py's source and sink do, on both rows):
#   direct-tls  smtp_tls.py source -> smtp_tls.py sink        (TLS)
#   relayd-tls  smtp_tls.py source -> sekisho-relayd -> smtp_tls.py sink
#               (STARTTLS offered by relayd, transparent_tls = encrypt)
#
# usage: bench/relay.sh            (root)
#   BENCH_MSGS_4K=2000    4 KB messages per row
#   BENCH_MSGS_1M=100     1 MB messages per row
#   BENCH_SESSIONS=16     parallel SMTP sessions of the source
#   BENCH_RUNS=1          rounds (each measures every row; median printed)
#   BENCH_PERF=DIR        perf record -a -g of the relayd rows (see perf_start)
#   BENCH_NO_BUILD=1, SEKISHO_BENCH_BUILD as in rule_apply.sh
#
# Topology: deploy/netns.sh (prefix sk-bench-rl-): the source in 情報系
# (joho), the sink (and for the postfix row the Postfix) where the rows say;
# the sink always listens on mail-lgwan's address 198.18.3.25:25 in
# LGWAN接続系.  The direct and postfix rows run before `sekisho apply` (the
# box forwards plainly), the relayd rows after (the `mail` rule redirects
# 198.18.3.25:25 to relayd).  A row's time runs from the source's start
# until the sink has counted every message (for Postfix: its queue drained).
# Quarantine and Postfix queue live under /var/tmp (a disk, fsync real).
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
bench_need_root

N4K=${BENCH_MSGS_4K:-2000}
N1M=${BENCH_MSGS_1M:-100}
SESS=${BENCH_SESSIONS:-16}
RUNS=${BENCH_RUNS:-1}
P=sk-bench-rl-
NETNS=$bench_top/deploy/netns.sh
PFI=$bench_top/deploy/postfix-instance.sh
SINK=198.18.3.25
TLSPY=$bench_top/bench/smtp_tls.py

if [ "${BENCH_NO_BUILD:-0}" != 1 ]; then
	log=$(mktemp /tmp/sk-bench-build.XXXXXX)
	if ! { cmake -S "$bench_top" -B "$bench_build" -DCMAKE_BUILD_TYPE=Release &&
		cmake --build "$bench_build" -j2 --target sekisho sekisho-relayd; } >"$log" 2>&1; then
		tail -30 "$log" >&2
		exit 2
	fi
	rm -f "$log"
fi
SEKISHO=$bench_build/gateway/sekisho
RELAYD=$bench_build/sanitizer/sekisho-relayd
[ -x "$SEKISHO" ] && [ -x "$RELAYD" ] || { echo "$0: no $SEKISHO / $RELAYD" >&2; exit 2; }

W=$(mktemp -d /var/tmp/sk-bench-relay.XXXXXX)
chmod 755 "$W"
PIDS=()
RELAYD_PID=''
cleanup() {
	local rc=$? p
	set +e
	for p in "${PIDS[@]+"${PIDS[@]}"}"; do kill "$p" 2>/dev/null; done
	[ -n "$RELAYD_PID" ] && kill "$RELAYD_PID" 2>/dev/null
	"$PFI" stop -d "$W/pf" >/dev/null 2>&1
	sleep 0.5
	"$NETNS" down "$P" >/dev/null 2>&1
	rm -rf "$W"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

nsx() {
	local ns=$1
	shift
	ip netns exec "$P$ns" "$@"
}
say() { printf '%s\n' "$*" >&2; }

"$NETNS" up "$P" >/dev/null
sh "$bench_top/tests/clamav/make_db.sh" "$W/clamdb" >"$W/make_db.log" 2>&1 || { cat "$W/make_db.log"; exit 1; }
mkdir -p "$W/certs"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
	-subj "/CN=bench" -keyout "$W/certs/key.pem" -out "$W/certs/cert.pem" >/dev/null 2>&1
chmod 600 "$W/certs/key.pem"
chmod -R a+rX "$W/clamdb"

# --- sinks ------------------------------------------------------------------
SINK_PID=''
SINK_OUT=''
sink_up() { # smtp-sink | py | py-tls
	sink_down
	SINK_OUT=$W/sink.$RANDOM.out
	case $1 in
	smtp-sink) ip netns exec "${P}lgwan" smtp-sink -u nobody -c "$SINK:25" 256 >"$SINK_OUT" 2>&1 & ;;
	py) ip netns exec "${P}lgwan" python3 "$TLSPY" sink "$SINK" 25 >"$SINK_OUT" 2>&1 & ;;
	py-tls) ip netns exec "${P}lgwan" python3 "$TLSPY" sink "$SINK" 25 \
		--cert "$W/certs/cert.pem" --key "$W/certs/key.pem" >"$SINK_OUT" 2>&1 & ;;
	esac
	SINK_PID=$!
	PIDS+=("$SINK_PID")
	for _ in $(seq 1 100); do
		nsx lgwan ss -Hltn "sport = :25" | grep -q . && return 0
		sleep 0.05
	done
	say "sink $1 did not start: $(cat "$SINK_OUT")"
	exit 1
}
sink_down() {
	[ -n "$SINK_PID" ] || return 0
	kill "$SINK_PID" 2>/dev/null || true
	wait "$SINK_PID" 2>/dev/null || true
	SINK_PID=''
	for _ in $(seq 1 100); do
		nsx lgwan ss -Hltn "sport = :25" | grep -q . || return 0
		sleep 0.05
	done
}
sink_count() { tr '\r' '\n' <"$SINK_OUT" | grep -o 'mesg=[0-9]*' | cut -d= -f2 | sort -n | tail -n 1; }

# measure TOOL DEST N SIZE: start the source, wait until the sink counted N
# more messages; prints the seconds.
measure() {
	local tool=$1 dest=$2 n=$3 size=$4 before t0 t1 c
	before=$(sink_count)
	before=${before:-0}
	t0=$(date +%s.%N)
	case $tool in
	smtp-source)
		nsx joho smtp-source -s "$SESS" -m "$n" -l "$size" -f bench@joho.example.jp \
			-t sink@lgwan.example.jp -M bench-source "$dest:25" >"$W/source.out" 2>&1 ||
			{ say "smtp-source failed: $(tail -n 3 "$W/source.out")"; return 1; } ;;
	py | py-tls)
		local tls=()
		[ "$tool" = py-tls ] && tls=(--tls)
		nsx joho python3 "$TLSPY" source "$dest" 25 198.18.2.25 -m "$n" -s "$SESS" -l "$size" "${tls[@]+"${tls[@]}"}" \
			>"$W/source.out" 2>&1 || { say "smtp_tls.py source failed: $(tail -n 3 "$W/source.out")"; return 1; } ;;
	esac
	for _ in $(seq 1 12000); do
		c=$(sink_count)
		[ "${c:-0}" -ge $((before + n)) ] && break
		sleep 0.05
	done
	t1=$(date +%s.%N)
	c=$(sink_count)
	if [ "${c:-0}" -lt $((before + n)) ]; then
		say "only $((c - before)) of $n messages reached the sink"
		return 1
	fi
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", b - a }'
}

# BENCH_PERF=DIR: `perf record -a -g` during the first run of each size of
# the relayd rows into DIR/perf-ROW-SIZE.data, with a top-40 .txt beside.
PERF_PID=''
PERF_NAME=''
perf_start() {
	[ -n "${BENCH_PERF:-}" ] || return 0
	case $1 in relayd*) ;; *) return 0 ;; esac
	[ -e "$BENCH_PERF/perf-$1.data" ] && return 0
	mkdir -p "$BENCH_PERF"
	PERF_NAME=$1
	perf record -a -g -o "$BENCH_PERF/perf-$1.data" >/dev/null 2>&1 &
	PERF_PID=$!
	sleep 0.5
}
perf_stop() {
	[ -n "$PERF_PID" ] || return 0
	kill -INT "$PERF_PID" 2>/dev/null || true
	wait "$PERF_PID" 2>/dev/null || true
	PERF_PID=''
	perf report -i "$BENCH_PERF/perf-$PERF_NAME.data" --no-children --sort comm,dso,sym --stdio 2>/dev/null |
		grep -v '^#' | grep '%' | head -n 40 >"$BENCH_PERF/perf-$PERF_NAME.txt" || true
}

declare -A R4 R1
row() { # NAME TOOL DEST: both sizes, RUNS times each, into R4[NAME] R1[NAME]
	local name=$1 tool=$2 dest=$3 s4=() s1=()
	for _ in $(seq 1 "$RUNS"); do
		perf_start "$name-4k"
		s4+=("$(measure "$tool" "$dest" "$N4K" 4096)")
		perf_stop
		perf_start "$name-1m"
		s1+=("$(measure "$tool" "$dest" "$N1M" 1048576)")
		perf_stop
	done
	R4[$name]=$(awk -v n="$N4K" -v s="$(bench_median "${s4[@]}")" 'BEGIN { printf "%.0f", n / s }')
	R1[$name]=$(awk -v n="$N1M" -v s="$(bench_median "${s1[@]}")" 'BEGIN { printf "%.1f", n * 1.048576 / s }')
	say "  $name: ${R4[$name]} msgs/s (4 KB), ${R1[$name]} MB/s (1 MB)"
}

say "== before sekisho apply: the box forwards plainly"
sink_up smtp-sink
row direct smtp-source "$SINK"
sink_up py-tls
row direct-tls py-tls "$SINK"

sink_up smtp-sink
"$PFI" start -d "$W/pf" -n "${P}joho" -h mail-joho.joho.example.jp -a 198.18.2.25 -r "[$SINK]" \
	-o "default_destination_concurrency_limit = $SESS" >/dev/null
row postfix smtp-source 198.18.2.25
"$PFI" stop -d "$W/pf"

say "== sekisho apply rules/ (mail joho -> lgwan redirected to relayd)"
ip netns exec "${P}box" "$SEKISHO" --state-dir "$W/state" apply "$bench_top/rules" >/dev/null
chmod -R a+rX "$W/state"
mkdir -p "$W/quarantine"
chown nobody: "$W/quarantine"
relayd_up() { # extra conf lines
	[ -z "$RELAYD_PID" ] || { kill "$RELAYD_PID"; wait "$RELAYD_PID" 2>/dev/null || true; RELAYD_PID=''; }
	{
		echo "listen = [::]:10025"
		echo "user = nobody"
		echo "quarantine_dir = $W/quarantine"
		echo "scan_db = $W/clamdb"
		echo "mailflows_file = $W/state/mailflows"
		echo "stats_file = $W/relayd-stats.json"
		echo "max_per_client = 200"
		echo "max_connections = 1000"
		printf '%s\n' "$@"
	} >"$W/relayd.conf"
	ip netns exec "${P}box" "$RELAYD" -c "$W/relayd.conf" >"$W/relayd.log" 2>&1 &
	RELAYD_PID=$!
	for _ in $(seq 1 100); do
		nsx box ss -Hltn "sport = :10025" | grep -q . && return 0
		sleep 0.1
	done
	say "relayd did not start: $(cat "$W/relayd.log")"
	exit 1
}
relayd_up "transparent_tls = none"
sink_up smtp-sink
row relayd smtp-source "$SINK"
relayd_up "tls_cert_file = $W/certs/cert.pem" "tls_key_file = $W/certs/key.pem" "transparent_tls = encrypt"
sink_up py-tls
row relayd-tls py-tls "$SINK"
sink_down

q=$(find "$W/quarantine" -name message.eml | wc -l)
cpu=$(nproc)
cat <<EOF

sekisho-relayd benchmark ($(date -u +%Y-%m-%dT%H:%MZ), $cpu CPUs, $SESS sessions, $N4K x 4 KB and $N1M x 1 MB messages per row, median of $RUNS run(s))
quarantine held $q originals at the end (every relayd message stored and fsync'd)

| path                                                   | 4 KB msgs/s | 1 MB MB/s | 1 MB Gbit/s |
|--------------------------------------------------------|------------:|----------:|------------:|
EOF
for name in direct postfix relayd direct-tls relayd-tls; do
	case $name in
	direct) d="smtp-source -> smtp-sink (anchor)" ;;
	postfix) d="smtp-source -> Postfix -> smtp-sink (anchor)" ;;
	relayd) d="smtp-source -> relayd -> smtp-sink" ;;
	direct-tls) d="TLS: smtp_tls.py -> smtp_tls.py (anchor)" ;;
	relayd-tls) d="TLS: smtp_tls.py -> relayd -> smtp_tls.py" ;;
	esac
	printf '| %-54s | %11s | %9s | %11s |\n' "$d" "${R4[$name]}" "${R1[$name]}" \
		"$(awk -v m="${R1[$name]}" 'BEGIN { printf "%.2f", m * 8 / 1000 }')"
done
printf '\nrelayd / Postfix (4 KB msgs/s): %s   (target >= 2)\n' "$(bench_ratio "${R4[relayd]}" "${R4[postfix]}")"
printf 'relayd-tls 1 MB: %s Gbit/s   (target >= 1)\n' "$(awk -v m="${R1[relayd-tls]}" 'BEGIN { printf "%.2f", m * 8 / 1000 }')"

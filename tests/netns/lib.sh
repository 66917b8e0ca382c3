# shellcheck shell=bash
# lib.sh - shared by the network-namespace integration tests (sourced).
#
# A test does:
#     . "$(dirname "$0")/lib.sh"
#     netns_init NAME "$@"        # $1 is the sekisho binary; builds the topology
#     ...checks...
#     netns_finish                # exit status from the checks
#
# Everything a test creates lives under the namespace prefix sk-t-NAME-PID-
# and the temporary directory $T; both go away on exit (trap), even after a
# failure or a signal.
#
# Traffic is checked with real packets: `try` queues one attempt (TCP or UDP
# with socat, ping), `run_tries` starts a listener bound to every destination
# address and port, runs all attempts in parallel with short timeouts and
# compares each result with what was expected:
#   pass   the listener at the destination answered (its label came back)
#   relay  the box's relay listener answered instead (mail redirect)
#   drop   nothing came back AND the destination listener never saw the
#          attempt's token (so a lost reply cannot pass for a drop)
# A destination without a listener would answer with a RST / ICMP error,
# which is reported as "refused" - it passed the firewall - never as a drop.

set -euo pipefail

NETNS_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
NETNS_SH=$NETNS_TOP/deploy/netns.sh
export SEKISHO_TODAY=2026-11-22
RELAY_PORT=10025
TRY_TIMEOUT_S=1 # per attempt: connect / reply wait

NETNS_FAILS=0
NETNS_CHECKS=0
NETNS_PIDS=()
NETNS_EXTRA_NS=()

say() { printf '%s\n' "$*"; }

# Record a passed or failed check; failures are counted, the test goes on so
# that one run reports every problem.
ok() {
	NETNS_CHECKS=$((NETNS_CHECKS + 1))
	printf 'ok   %s\n' "$*"
}
fail() {
	NETNS_CHECKS=$((NETNS_CHECKS + 1))
	NETNS_FAILS=$((NETNS_FAILS + 1))
	printf 'FAIL %s\n' "$*"
}
# A precondition the rest of the test cannot do without.
fatal() {
	printf 'FATAL %s\n' "$*"
	exit 1
}

netns_cleanup() {
	local rc=$? p
	set +e
	for p in "${NETNS_PIDS[@]}"; do
		kill "$p" 2>/dev/null
	done
	"$NETNS_SH" down "$P" >/dev/null 2>&1
	for p in "${NETNS_EXTRA_NS[@]}"; do
		ip netns pids "$p" 2>/dev/null | xargs -r kill 2>/dev/null
		ip netns del "$p" 2>/dev/null
	done
	if [ -n "${T:-}" ] && [ -d "$T" ]; then
		if [ "$rc" -ne 0 ] && [ -n "${SEKISHO_NETNS_KEEP:-}" ]; then
			say "kept $T"
		else
			rm -rf "$T"
		fi
	fi
	exit "$rc"
}

# netns_init NAME SEKISHO_BINARY
netns_init() {
	local name=$1
	SEKISHO=${2:-}
	[ -n "$SEKISHO" ] || fatal "usage: $0 PATH-TO-sekisho"
	[ -x "$SEKISHO" ] || fatal "sekisho binary '$SEKISHO' is not executable"
	SEKISHO=$(cd "$(dirname "$SEKISHO")" && pwd)/$(basename "$SEKISHO")
	[ "$(id -u)" = 0 ] || fatal "needs root (network namespaces)"
	P=sk-t-$name-$$-
	T=$(mktemp -d "/tmp/sk-t-$name.XXXXXX")
	chmod 755 "$T"
	STATE=$T/state
	mkdir -p "$STATE" "$T/out"
	: >"$T/recv.log"
	trap netns_cleanup EXIT
	trap 'exit 129' HUP
	trap 'exit 130' INT
	trap 'exit 143' TERM
	say "== $name (namespaces $P*, files $T)"
	"$NETNS_SH" up "$P" || fatal "netns.sh up $P failed"
	write_handler
	TRIES=()
}

netns_finish() {
	if [ "$NETNS_CHECKS" -eq 0 ]; then
		fail "no check ran"
	fi
	if [ "$NETNS_FAILS" -ne 0 ]; then
		say "== $NETNS_FAILS of $NETNS_CHECKS checks FAILED"
		exit 1
	fi
	say "== all $NETNS_CHECKS checks passed"
	exit 0
}

# Run a command in one of this test's namespaces: nsx joho ping ...
nsx() {
	local ns=$1
	shift
	ip netns exec "$P$ns" "$@"
}

# An extra namespace removed on exit: extra_ns NAME -> creates $P$NAME.
extra_ns() {
	ip netns add "$P$1"
	NETNS_EXTRA_NS+=("$P$1")
	ip -n "$P$1" link set lo up
}

# sekisho in the box namespace, with this test's state directory.
sk() {
	ip netns exec "${P}box" "$SEKISHO" --state-dir "$STATE" "$@"
}
# The same in another namespace (cli_agrees): sk_in NS ARGS...
sk_in() {
	local ns=$1
	shift
	ip netns exec "$P$ns" "$SEKISHO" --state-dir "$T/state-$ns" "$@"
}

# The running table as text, with counters and handles normalised so two
# listings of the same ruleset compare equal.
nft_norm() {
	sed -E -e 's/packets [0-9]+ bytes [0-9]+/packets 0 bytes 0/g' \
		-e 's/ # handle [0-9]+//g'
}
table_of() { # table_of NS -> normalised `nft list table inet sekisho` (empty if none)
	ip netns exec "$P$1" nft list table inet sekisho 2>/dev/null | nft_norm || true
}

# A private copy of the default rules: copy_rules DIR
copy_rules() {
	rm -rf "$1"
	mkdir -p "$1"
	cp "$NETNS_TOP"/rules/*.rules "$1"/
}

# Apply and insist it worked: apply_ok DIR [extra apply args...]
apply_ok() {
	local dir=$1 out
	shift
	if out=$(sk apply "$@" "$dir" 2>&1); then
		ok "sekisho apply${*:+ $*} $dir succeeded"
	else
		printf '%s\n' "$out" | sed 's/^/    | /'
		fatal "sekisho apply${*:+ $*} $dir failed"
	fi
}

# --- traffic ---------------------------------------------------------------

segnum() {
	case $1 in
	shirei) echo 1 ;;
	joho) echo 2 ;;
	lgwan) echo 3 ;;
	inet) echo 4 ;;
	*) fatal "unknown segment '$1'" ;;
	esac
}

# Handler run by every listener: answers with its label, then records the
# token the client sent, so a test can tell where an attempt arrived.
write_handler() {
	cat >"$T/handler.sh" <<'EOF'
#!/bin/sh
# $1 label, $2 log file
echo "$1"
IFS= read -r line || true
echo "$1 $line" >>"$2"
EOF
	chmod 755 "$T/handler.sh"
}

# listen NS PROTO ADDR PORT LABEL  (ADDR "any" = every address, both families)
listen() {
	local ns=$1 proto=$2 addr=$3 port=$4 label=$5 spec
	local sys="SYSTEM:$T/handler.sh $label $T/recv.log"
	case $proto/$addr in
	tcp/any) spec="TCP6-LISTEN:$port,ipv6only=0,reuseaddr,fork" ;;
	udp/any) spec="UDP6-RECVFROM:$port,ipv6only=0,reuseaddr,fork" ;;
	tcp/*:*) spec="TCP6-LISTEN:$port,bind=[$addr],ipv6only=1,reuseaddr,fork" ;;
	tcp/*) spec="TCP4-LISTEN:$port,bind=$addr,reuseaddr,fork" ;;
	udp/*:*) spec="UDP6-RECVFROM:$port,bind=[$addr],ipv6only=1,reuseaddr,fork" ;;
	udp/*) spec="UDP4-RECVFROM:$port,bind=$addr,reuseaddr,fork" ;;
	esac
	ip netns exec "$P$ns" socat "$spec" "$sys" 2>>"$T/listen.err" &
	NETNS_PIDS+=($!)
	echo "$ns $proto $addr $port" >>"$T/listeners"
}

# Wait until every listener started so far is bound.
wait_listeners() {
	local i ns proto addr port missing
	for i in $(seq 1 40); do
		missing=0
		while read -r ns proto addr port; do
			local flag=-Hltn
			[ "$proto" = udp ] && flag=-Hlun
			[ "$addr" = any ] && addr='*'
			case $addr in *:*) addr="[$addr]" ;; esac
			if ! nsx "$ns" ss $flag "sport = :$port" | awk '{print $4}' |
				grep -qxF "$addr:$port"; then
				missing=1
				break
			fi
		done <"$T/listeners"
		[ $missing = 0 ] && return 0
		sleep 0.05
	done
	fatal "listeners did not start: $(cat "$T/listen.err" 2>/dev/null)"
}

# The relay stand-in: a listener on the box's relay port, every address.
listen_relay() {
	listen box tcp any "$RELAY_PORT" box-relay
	NETNS_RELAY_PID=$!
}

# host_addr NS.H FAMILY -> address; "box/SEG.H" is the box's address on SEG.
host_addr() {
	local spec=$1 fam=$2 seg h n
	spec=${spec#box/}
	seg=${spec%.*}
	h=${spec##*.}
	n=$(segnum "$seg")
	if [ "$fam" = 4 ]; then echo "198.18.$n.$h"; else echo "2001:2:0:$n::$h"; fi
}
host_ns() {
	case $1 in
	box/*) echo box ;;
	*) echo "${1%.*}" ;;
	esac
}

# try EXPECT PROTO SRC_NS SRC_ADDR DST_NS DST_ADDR PORT DESCRIPTION
#   EXPECT pass|drop|relay; PROTO tcp|udp|ping (PORT - for ping)
try() {
	TRIES+=("$1|$2|$3|$4|$5|$6|$7|$8")
}
# try46 EXPECT PROTO SRC DST PORT DESCRIPTION: the same attempt over IPv4 and
# IPv6, hosts written NS.H (H = last byte / group of the address: joho.10 is
# 198.18.2.10 and 2001:2:0:2::10) and box/SEG.1 for the box.
try46() {
	local exp=$1 proto=$2 src=$3 dst=$4 port=$5 desc=$6 fam
	for fam in 4 6; do
		try "$exp" "$proto" "$(host_ns "$src")" "$(host_addr "$src" $fam)" \
			"$(host_ns "$dst")" "$(host_addr "$dst" $fam)" "$port" "$desc (IPv$fam)"
	done
}

label_of() { # label_of NS PROTO ADDR PORT (no ':' - socat's separator)
	local a=$3
	echo "$1/$2/${a//:/_}/$4"
}

# One attempt; writes "ok:LABEL", "refused" or "timeout" to $T/out/ID.
attempt() {
	local id=$1 proto=$2 sns=$3 src=$4 dst=$5 port=$6 token=$7
	local out=$T/out/$id target reply fam=4
	case $dst in *:*) fam=6 ;; esac
	case $proto in
	ping)
		if ip netns exec "$P$sns" ping -"$fam" -n -q -c 1 -W "$TRY_TIMEOUT_S" \
			-I "$src" "$dst" >/dev/null 2>&1; then
			echo ok:pong >"$out"
		else
			echo timeout >"$out"
		fi
		return
		;;
	tcp)
		if [ $fam = 6 ]; then
			target="TCP6:[$dst]:$port,bind=[$src],connect-timeout=$TRY_TIMEOUT_S"
		else
			target="TCP4:$dst:$port,bind=$src,connect-timeout=$TRY_TIMEOUT_S"
		fi
		;;
	udp)
		if [ $fam = 6 ]; then
			target="UDP6:[$dst]:$port,bind=[$src]"
		else
			target="UDP4:$dst:$port,bind=$src"
		fi
		;;
	esac
	reply=$(echo "$token" | timeout 5 ip netns exec "$P$sns" \
		socat -T "$TRY_TIMEOUT_S" - "$target" 2>"$out.err" | head -n 1) || true
	if [ -n "$reply" ]; then
		echo "ok:$reply" >"$out"
	elif grep -qi refused "$out.err"; then
		echo refused >"$out"
	else
		echo timeout >"$out"
	fi
}

# Start listeners for every queued destination, run every attempt in
# parallel, check each against its expectation.  Clears the queue.
run_tries() {
	local t exp proto sns src dns dst port desc i=0 key
	local -A seen=()
	: >"$T/listeners"
	for t in "${TRIES[@]}"; do
		IFS='|' read -r exp proto sns src dns dst port desc <<<"$t"
		[ "$proto" = ping ] && continue
		# The relay listener already holds the relay port on every address.
		[ "$dns/$proto/$port" = "box/tcp/$RELAY_PORT" ] && continue
		key="$dns $proto $dst $port"
		if [ -z "${seen[$key]:-}" ]; then
			seen[$key]=1
			listen "$dns" "$proto" "$dst" "$port" "$(label_of "$dns" "$proto" "$dst" "$port")"
		fi
	done
	if [ "${NETNS_RELAY_UP:-0}" = 0 ]; then
		listen_relay
		NETNS_RELAY_UP=1
	fi
	wait_listeners
	local pids=()
	RUN_ID=$((${RUN_ID:-0} + 1))
	for t in "${TRIES[@]}"; do
		i=$((i + 1))
		IFS='|' read -r exp proto sns src dns dst port desc <<<"$t"
		attempt "$RUN_ID-$i" "$proto" "$sns" "$src" "$dst" "$port" "tok-$RUN_ID-$i-$$" &
		pids+=($!)
	done
	for t in "${pids[@]}"; do wait "$t" || true; done
	# Stop this round's listeners (the relay stays): the next round may
	# want other addresses, and a stray listener must not answer for it.
	i=0
	for t in "${TRIES[@]}"; do
		i=$((i + 1))
		IFS='|' read -r exp proto sns src dns dst port desc <<<"$t"
		check_try "$exp" "$proto" "$sns" "$src" "$dns" "$dst" "$port" "$desc" "$RUN_ID-$i"
	done
	stop_listeners
	TRIES=()
}

stop_listeners() {
	local p keep=()
	for p in "${NETNS_PIDS[@]}"; do
		if [ "$p" = "${NETNS_RELAY_PID:-}" ]; then
			keep+=("$p")
		else
			kill "$p" 2>/dev/null || true
			wait "$p" 2>/dev/null || true
		fi
	done
	NETNS_PIDS=("${keep[@]+"${keep[@]}"}")
}

check_try() {
	local exp=$1 proto=$2 sns=$3 src=$4 dns=$5 dst=$6 port=$7 desc=$8 id=$9
	local got want what arrived=""
	got=$(cat "$T/out/$id")
	what="$desc: $proto $src -> $dst${port:+ port $port}"
	[ "$proto" = ping ] && what="$desc: ping $src -> $dst"
	if grep -q " tok-$id-$$\$" "$T/recv.log"; then
		arrived=$(grep " tok-$id-$$\$" "$T/recv.log" | head -n 1 | cut -d' ' -f1)
	fi
	case $exp in
	pass)
		if [ "$proto" = ping ]; then want=ok:pong; else want="ok:$(label_of "$dns" "$proto" "$dst" "$port")"; fi
		if [ "$got" = "$want" ]; then
			ok "$what passes"
		else
			fail "$what should pass, got '$got'${arrived:+ (arrived at $arrived)}"
		fi
		;;
	relay)
		if [ "$got" = ok:box-relay ]; then
			ok "$what is redirected to the box's port $RELAY_PORT"
		else
			fail "$what should land on the box's port $RELAY_PORT, got '$got'${arrived:+ (arrived at $arrived)}"
		fi
		;;
	drop)
		if [ "$got" = timeout ] && [ -z "$arrived" ]; then
			ok "$what is dropped"
		else
			fail "$what should be dropped, got '$got'${arrived:+ (arrived at $arrived)}"
		fi
		;;
	esac
}

# --- counters, nflog --------------------------------------------------------

# deny_counter CHAIN -> packets counted by the logging drop rule at the end of
# a chain of the running table (the rule carrying `log prefix "sekisho deny`).
# Prints nothing when the chain or the rule is missing.
deny_counter() {
	nsx box nft list chain inet sekisho "$1" 2>/dev/null |
		grep 'log prefix "sekisho deny' | grep -o 'packets [0-9]*' |
		awk '{s += $2} END {if (NR) print s}'
}

# nflog_start GROUP FILE: capture nflog:GROUP in the box namespace to FILE
# (pcap); returns once tcpdump is listening.
nflog_start() {
	local group=$1 file=$2 i
	ip netns exec "${P}box" tcpdump -i "nflog:$group" -n -U -w "$file" \
		2>"$file.err" &
	NFLOG_PID=$!
	NETNS_PIDS+=("$NFLOG_PID")
	for i in $(seq 1 50); do
		grep -q 'listening on' "$file.err" 2>/dev/null && return 0
		sleep 0.1
	done
	fatal "tcpdump on nflog:$group did not start: $(cat "$file.err")"
}
nflog_stop() {
	# Log messages are batched in the kernel unless the rule says
	# queue-threshold 1; the flush timeout is 1 s.
	sleep 1.2
	kill -INT "$NFLOG_PID" 2>/dev/null || true
	wait "$NFLOG_PID" 2>/dev/null || true
}
# nflog_prefix_count FILE PREFIX: how many logged packets carry PREFIX (the
# prefix travels NUL-terminated in the NFLOG record; tcpdump does not print it).
nflog_prefix_count() {
	{ grep -aoF "$2" "$1" || true; } | wc -l
}

# Send N single UDP datagrams: udp_burst N SRC_NS SRC_ADDR DST_ADDR PORT
udp_burst() {
	local n=$1 ns=$2 src=$3 dst=$4 port=$5 i target
	for i in $(seq 1 "$n"); do
		case $dst in
		*:*) target="UDP6:[$dst]:$port,bind=[$src]" ;;
		*) target="UDP4:$dst:$port,bind=$src" ;;
		esac
		echo "burst $i" | ip netns exec "$P$ns" socat -u - "$target" 2>/dev/null || true
	done
}

# wait_table NS EXPECTED_FILE SECONDS: poll until the normalised table of NS
# equals the file; returns 1 on timeout.
wait_table() {
	local ns=$1 want=$2 secs=$3 i
	for i in $(seq 1 $((secs * 10))); do
		if [ "$(table_of "$ns")" = "$(cat "$want")" ]; then return 0; fi
		sleep 0.1
	done
	return 1
}

# same_text WHAT FILE_A FILE_B: check equality, show a diff when not.
same_text() {
	if diff -u "$2" "$3" >"$T/diff.out"; then
		ok "$1"
	else
		fail "$1; diff:"
		head -n 40 "$T/diff.out" | sed 's/^/    | /'
	fi
}

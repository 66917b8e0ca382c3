#!/bin/bash
# demo.sh - the README's first command.  Installs what is needed, builds
# sekisho, brings up 指令系 / 情報系 / LGWAN接続系 / the internet in network
# namespaces (deploy/netns.sh, prefix sk-demo-), checks and applies rules/ in
# the box, then sends real traffic and reports what passed, what was denied
# and what was redirected to the mail relay; finally the deny counters and a
# few packets from the nflog group the monitor reads; then the sanitiser on
# three sample messages (HTML, attachments, EICAR); then mail flowing
# transparently: a Postfix in 情報系 sends to the LGWAN接続系 Postfix's
# address (it knows nothing of the box), sekisho-relayd in the box sanitises
# on the way, and the demo prints what arrived and what the quarantine holds.
#
# Exits non-zero when any outcome differs from what rules/ requires.  Runs as
# root; removes its namespaces on exit.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
P=sk-demo-
NETNS=$top/deploy/netns.sh
BUILD=${SEKISHO_DEMO_BUILD:-"$top/build-demo"}
RULES=$top/rules
RELAY_PORT=10025
TIMEOUT_S=1
# The exception in rules/lgwan.rules expires on 2027-03-31; the demo judges
# exceptions on a fixed day so that it shows the same thing every time.
export SEKISHO_TODAY=${SEKISHO_TODAY:-2026-11-22}

if [ -t 1 ]; then
	B=$'\e[1m' G=$'\e[32m' R=$'\e[31m' N=$'\e[0m'
else
	B='' G='' R='' N=''
fi
# padded TEXT WIDTH: TEXT padded with spaces to WIDTH terminal columns
# (Japanese characters take two).
padded() {
	python3 -c 'import sys, unicodedata as u
t = sys.argv[1]
w = sum(2 if u.east_asian_width(c) in "WF" else 1 for c in t)
print(t + " " * max(0, int(sys.argv[2]) - w))' "$1" "$2"
}
step() { printf '\n%s==> %s%s\n' "$B" "$*" "$N"; }

[ "$(id -u)" = 0 ] || {
	echo "demo.sh: run as root (it installs packages and creates network namespaces)" >&2
	exit 2
}

W=$(mktemp -d /tmp/sk-demo.XXXXXX)
chmod 755 "$W"
PIDS=()
PF_DIRS=()
cleanup() {
	local rc=$? p
	set +e
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${PF_DIRS[@]+"${PF_DIRS[@]}"}"; do "$top/deploy/postfix-instance.sh" stop -d "$p" >/dev/null 2>&1; done
	"$NETNS" down "$P" >/dev/null 2>&1
	rm -rf "$W"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

step "deploy/setup.sh (packages)"
"$top/deploy/setup.sh"

step "build ($BUILD, Release)"
cmake -S "$top" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF >"$W/cmake.log" 2>&1 ||
	{ cat "$W/cmake.log"; exit 1; }
cmake --build "$BUILD" -j "$(nproc)" >"$W/build.log" 2>&1 || { tail -n 40 "$W/build.log"; exit 1; }
SEKISHO=$BUILD/gateway/sekisho
RELAYD=$BUILD/sanitizer/sekisho-relayd
echo "built $SEKISHO $RELAYD"

step "network namespaces: ${P}box, ${P}shirei (指令系), ${P}joho (情報系), ${P}lgwan (LGWAN接続系), ${P}inet (internet)"
"$NETNS" up "$P"
ip -n "${P}box" -br addr show | grep -v '^lo'

sk() { ip netns exec "${P}box" "$SEKISHO" --state-dir "$W/state" "$@"; }

step "sekisho check rules/   (today = $SEKISHO_TODAY)"
sk check "$RULES"

step "sekisho show rules/   (excerpt: the segment-pair dispatch; the whole ruleset is $(sk show "$RULES" | wc -l) lines)"
sk show "$RULES" >"$W/show.nft"
# The forward chain and the pair map, else the first 40 lines.
if grep -qE 'chain forward|map pairs' "$W/show.nft"; then
	awk '/(map pairs|chain forward) *\{/ {on = 1} on {print} on && /^\t\}/ {on = 0}' "$W/show.nft" | head -n 40
else
	head -n 40 "$W/show.nft"
fi

step "sekisho apply rules/   (in ${P}box)"
sk apply "$RULES"

# --- traffic -----------------------------------------------------------------

# Listener answering with its label; records the token it received.
cat >"$W/handler.sh" <<'EOF'
#!/bin/sh
echo "$1"
IFS= read -r line || true
echo "$1 $line" >>"$2"
EOF
chmod 755 "$W/handler.sh"
: >"$W/recv.log"

listen() { # NS PROTO ADDR PORT LABEL
	local spec
	case $2/$3 in
	tcp/any) spec="TCP6-LISTEN:$4,ipv6only=0,reuseaddr,fork" ;;
	tcp/*:*) spec="TCP6-LISTEN:$4,bind=[$3],ipv6only=1,reuseaddr,fork" ;;
	tcp/*) spec="TCP4-LISTEN:$4,bind=$3,reuseaddr,fork" ;;
	udp/*:*) spec="UDP6-RECVFROM:$4,bind=[$3],ipv6only=1,reuseaddr,fork" ;;
	udp/*) spec="UDP4-RECVFROM:$4,bind=$3,reuseaddr,fork" ;;
	esac
	ip netns exec "$P$1" socat "$spec" "SYSTEM:$W/handler.sh $5 $W/recv.log" 2>/dev/null &
	PIDS+=($!)
}

wait_bound() { # NS PROTO ADDR PORT: until the listener is bound (max 2 s)
	local a=$3 flag=-Hltn
	[ "$2" = udp ] && flag=-Hlun
	case $a in any) a='*' ;; *:*) a="[$a]" ;; esac
	for _ in $(seq 1 40); do
		ip netns exec "$P$1" ss $flag "sport = :$4" | awk '{print $4}' | grep -qxF "$a:$4" && return 0
		sleep 0.05
	done
	echo "listener $*: did not start" >&2
}

# The traffic checks see a redirect as the answer of a stand-in on the
# relay port; sekisho-relayd takes the port over for the mail part below.
listen box tcp any "$RELAY_PORT" relay
STANDIN_PID=$!
wait_bound box tcp any "$RELAY_PORT"

FAILED=0
n_try=0
# try "DESCRIPTION" EXPECT PROTO SRC_NS SRC DST_NS DST PORT
#   EXPECT: ALLOWED | DENIED | REDIRECTED
try() {
	local desc=$1 want=$2 proto=$3 sns=$4 src=$5 dns=$6 dst=$7 port=$8
	local got reply target label tok fam=4 lpid=""
	n_try=$((n_try + 1))
	tok=tok$n_try
	case $dst in *:*) fam=6 ;; esac
	label="${dns}_$n_try"
	if [ "$proto" != ping ]; then
		listen "$dns" "$proto" "$dst" "$port" "$label"
		lpid=$!
		wait_bound "$dns" "$proto" "$dst" "$port"
	fi
	case $proto in
	ping)
		if ip netns exec "$P$sns" ping -"$fam" -n -q -c 1 -W "$TIMEOUT_S" -I "$src" "$dst" >/dev/null 2>&1; then
			reply=pong
		else
			reply=""
		fi
		;;
	tcp | udp)
		if [ $fam = 6 ]; then target="${proto^^}6:[$dst]:$port,bind=[$src]"; else target="${proto^^}4:$dst:$port,bind=$src"; fi
		[ "$proto" = tcp ] && target="$target,connect-timeout=$TIMEOUT_S"
		reply=$(echo "$tok" | timeout 5 ip netns exec "$P$sns" socat -T "$TIMEOUT_S" - "$target" 2>/dev/null | head -n 1) || true
		;;
	esac
	if [ -n "$lpid" ]; then kill "$lpid" 2>/dev/null || true; wait "$lpid" 2>/dev/null || true; fi
	case $reply in
	relay) got=REDIRECTED ;;
	"$label" | pong) got=ALLOWED ;;
	"")
		# Nothing came back; if the destination saw the token the box let
		# it through and only the answer was lost.
		if grep -q " $tok\$" "$W/recv.log"; then got="ARRIVED(no reply)"; else got=DENIED; fi
		;;
	*) got="ANSWERED($reply)" ;;
	esac
	local note="" pad
	[ "$got" = REDIRECTED ] && note=" to relay port $RELAY_PORT"
	pad=$(padded "$desc:" 56)
	if [ "$got" = "$want" ]; then
		if [ "$got" = REDIRECTED ]; then
			printf '  %s %s%s%s%s (as required; real mail through it below)\n' "$pad" "$G" "$got" "$N" "$note"
		else
			printf '  %s %s%s%s%s (as required)\n' "$pad" "$G" "$got" "$N" "$note"
		fi
	else
		printf '  %s %s%s%s%s -- expected %s\n' "$pad" "$R" "$got" "$N" "$note" "$want"
		FAILED=$((FAILED + 1))
	fi
}

tcpdump_nflog() {
	ip netns exec "${P}box" tcpdump -i nflog:5 -n -U -w "$W/nflog.pcap" 2>"$W/tcpdump.err" &
	NFLOG_PID=$!
	PIDS+=("$NFLOG_PID")
	for _ in $(seq 1 50); do
		grep -q 'listening on' "$W/tcpdump.err" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "tcpdump on nflog:5 did not start" >&2
	return 1
}

step "traffic (real packets; every line is the outcome of a real attempt)"
tcpdump_nflog
sleep 0.2
J=198.18.2 L=198.18.3 S=198.18.1 I=198.18.4
echo "情報系 → インターネット"
try "情報系 ops-pc → インターネット tcp/443" ALLOWED tcp joho $J.10 inet $I.100 443
try "情報系 ops-pc → インターネット tcp/443 (IPv6)" ALLOWED tcp joho 2001:2:0:2::10 inet 2001:2:0:4::100 443
try "情報系 ntp-joho → インターネット udp/53 (DNS)" ALLOWED udp joho $J.12 inet $I.100 53
try "情報系 admin-pc → インターネット ping" ALLOWED ping joho $J.5 inet $I.100 -
try "情報系 ops-pc → インターネット tcp/22" DENIED tcp joho $J.10 inet $I.100 22
try "インターネット → 情報系 tcp/443" DENIED tcp inet $I.100 joho $J.10 443
echo "情報系 ⇄ LGWAN接続系 (無害化通信のみ)"
try "情報系 → LGWAN接続系 tcp/443 (plain)" DENIED tcp joho $J.10 lgwan $L.50 443
try "情報系 → LGWAN接続系 tcp/443 (plain, IPv6)" DENIED tcp joho 2001:2:0:2::10 lgwan 2001:2:0:3::50 443
try "情報系 → LGWAN接続系 screen tcp/3389 (vdi-lgwan)" ALLOWED tcp joho $J.10 lgwan $L.50 3389
try "情報系 → LGWAN接続系 mail tcp/25 (mail-lgwan)" REDIRECTED tcp joho $J.25 lgwan $L.25 25
try "LGWAN接続系 → 情報系 mail tcp/25 (mail-joho)" REDIRECTED tcp lgwan $L.25 joho $J.25 25
try "LGWAN接続系 update-srv → mirror-joho tcp/8080 (例外)" ALLOWED tcp lgwan $L.80 joho $J.30 8080
try "LGWAN接続系 vdi-lgwan → mirror-joho tcp/8080" DENIED tcp lgwan $L.50 joho $J.30 8080
try "LGWAN接続系 → インターネット tcp/443" DENIED tcp lgwan $L.50 inet $I.100 443
echo "指令系 (isolated; registered devices only)"
try "指令系 → インターネット tcp/443" DENIED tcp shirei $S.10 inet $I.100 443
try "指令系 → インターネット ping" DENIED ping shirei $S.10 inet $I.100 -
try "指令系 dispatch → 情報系 ntp-joho udp/123" ALLOWED udp shirei $S.10 joho $J.12 123
try "指令系 unregistered .99 → 情報系 ntp-joho udp/123" DENIED udp shirei $S.99 joho $J.12 123
try "情報系 ops-pc → 指令系 dispatch tcp/8443" ALLOWED tcp joho $J.10 shirei $S.10 8443
try "情報系 admin-pc → 指令系 dispatch tcp/8443" DENIED tcp joho $J.5 shirei $S.10 8443
echo "関所 itself"
try "情報系 admin-pc → 関所 ssh" ALLOWED tcp joho $J.5 box $J.1 22
try "情報系 ops-pc → 関所 ssh" DENIED tcp joho $J.10 box $J.1 22
try "インターネット → 関所 ping" DENIED ping inet $I.100 box $I.1 -
sleep 1.2 # the kernel flushes batched log messages within 1 s
kill -INT "$NFLOG_PID" 2>/dev/null || true
wait "$NFLOG_PID" 2>/dev/null || true

# the demo's own relay statistics, never a stale file of the host's
export SEKISHO_RELAY_STATS="$W/relayd.json"
step "deny counters: sekisho status (per segment pair)"
sk status
echo
echo "ingress checks and the box itself (nft list table inet sekisho):"
ip netns exec "${P}box" nft list table inet sekisho |
	awk '/^\tchain / {chain = $2}
	     /log prefix "sekisho deny/ && match($0, /packets [0-9]+/) {
		n = substr($0, RSTART + 8, RLENGTH - 8)
		if (n > 0 && chain !~ /_to_/) printf "  %-22s %4d packets denied\n", chain, n
	     }'

step "nflog group 5 (what the monitor reads): a few denied packets"
tcpdump -n -q -r "$W/nflog.pcap" 2>/dev/null | head -n 8 | sed 's/^/  /'
echo "  by log prefix:"
grep -ao 'sekisho deny [^[:cntrl:]]*' "$W/nflog.pcap" | sort | uniq -c | sed 's/^/  /'

step "無害化 (sanitiser): sekisho sanitize, one message at a time"
# A fresh machine has no freshclam databases (no internet here): the demo
# builds the tests' small signature database (clam.exe, EICAR) with sigtool.
sh "$top/tests/clamav/make_db.sh" "$W/clamdb" "$W/samples" >"$W/make_db.log" 2>&1 ||
	{ tail -n 20 "$W/make_db.log"; exit 1; }
sanitize_demo() { # sanitize_demo FILE WHAT EXPECTED_EXIT
	local rc=0
	"$SEKISHO" sanitize --scan-db "$W/clamdb" --verdict "$W/verdict.json" <"$1" >"$W/out.eml" 2>"$W/err" || rc=$?
	echo "--- $2: exit $rc"
	sed -n '/^X-Sekisho-Sanitized:/p' "$W/out.eml" | sed 's/^/  /'
	awk 'body {print "  " $0; if (++n == 16) exit} /^\r?$/ {body = 1}' "$W/out.eml"
	if [ "$rc" -ne "$3" ]; then
		printf '%s  expected exit %s%s\n' "$R" "$3" "$N"
		FAILED=$((FAILED + 1))
	fi
}
sanitize_demo "$top/tests/sanitize/cases/alternative_empty_plain_uses_html.eml" "HTML mail: flattened to text" 0
sanitize_demo "$top/tests/sanitize/cases/attachments_pdf_and_zip.eml" "attachments: removed and listed" 0
sanitize_demo "$top/tests/sanitize/cases/eicar_attachment_withheld.eml" "EICAR attached: withheld, notice only" 1

step "メール: 情報系 Postfix → 関所 (sekisho-relayd, transparent) → LGWAN接続系 Postfix"
# The stand-in leaves the relay port to the real relay.
kill "$STANDIN_PID" 2>/dev/null || true
wait "$STANDIN_PID" 2>/dev/null || true
mkdir -p "$W/quarantine"
chown nobody: "$W/quarantine"
chmod 700 "$W/quarantine"
chmod -R a+rX "$W/clamdb" "$W/state"
cat >"$W/relayd.conf" <<RELAYCONF
listen = [::]:$RELAY_PORT
hostname = sekisho-box.demo
user = nobody
quarantine_dir = $W/quarantine
scan_db = $W/clamdb
mailflows_file = $W/state/mailflows
stats_file = $W/relayd.json
workers = 2
RELAYCONF
echo "mail flows written by sekisho apply ($W/state/mailflows):"
grep '^mailflow' "$W/state/mailflows" | sed 's/^/  /'
ip netns exec "${P}box" "$RELAYD" -c "$W/relayd.conf" -d >"$W/relayd.log" 2>&1 &
PIDS+=("$!")
for _ in $(seq 1 100); do
	grep -q 'started:' "$W/relayd.log" && break
	sleep 0.1
done
sed -n 's/^sekisho-relayd: \(started:.*\)/  sekisho-relayd \1/p' "$W/relayd.log"

pf() { # pf NAME NS HOST ADDRS [postfix-instance.sh options]
	local d=$W/pf-$1
	PF_DIRS+=("$d")
	"$top/deploy/postfix-instance.sh" start -d "$d" -n "$P$2" -h "$3" -a "$4" "${@:5}"
}
pf joho joho mail-joho.joho.example.jp 198.18.2.25,2001:2:0:2::25 -m joho.example.jp -r '[198.18.3.25]'
pf lgwan lgwan mail-lgwan.lgwan.example.jp 198.18.3.25,2001:2:0:3::25 -m lgwan.example.jp
echo "  情報系 Postfix (mail-joho 198.18.2.25): relayhost = $(postconf -c "$W/pf-joho/etc" -h relayhost) (the LGWAN server itself; the box is invisible to it)"
echo "  LGWAN接続系 Postfix (mail-lgwan 198.18.3.25): delivers lgwan.example.jp into a Maildir"

MAILPY=$top/tests/relay/mail.py
python3 "$MAILPY" gen mixed "$W/demo-mixed.eml" --id demo-mixed
python3 "$MAILPY" gen eicar "$W/demo-eicar.eml" --id demo-eicar --subject "EICAR attached" --eicar "$W/samples/eicar.com"
for m in demo-mixed demo-eicar; do
	ip netns exec "${P}joho" swaks --server 198.18.2.25 --from yamada@joho.example.jp \
		--to sato@lgwan.example.jp --data "@$W/$m.eml" >"$W/swaks-$m.log" 2>&1 || true
	echo "  swaks → 情報系 Postfix: $m.eml ($(wc -c <"$W/$m.eml") bytes): $(grep -m1 -o '250 [^ ]* Ok: queued as [0-9A-F]*' "$W/swaks-$m.log" || echo 'NOT QUEUED')"
done
maildir=$W/pf-lgwan/mail/inbox/new
for _ in $(seq 1 300); do
	[ "$(find "$maildir" -type f 2>/dev/null | wc -l)" -ge 2 ] && break
	sleep 0.2
done
echo
echo "情報系 Postfix's log (the box answered for 198.18.3.25):"
grep -o 'to=<[^>]*>, relay=[^ ]*, .*status=[a-z]* (.*' "$W/pf-joho/maillog" | cut -c 1-200 | sed 's/^/  /'
echo "sekisho-relayd's log:"
grep -o 'transaction: .*' "$W/relayd.log" | sed -E 's/ reply=.*//; s/quarantine=([0-9a-f]{12})[0-9a-f]*/quarantine=\1…/' | cut -c 1-230 | sed 's/^/  /'
show_arrived() { # ID WHAT CHECK
	local f
	f=$(grep -l "^Message-ID: <$1@" "$maildir"/* 2>/dev/null | head -n 1) || true
	echo "--- arrived in LGWAN接続系: $2"
	if [ -z "$f" ]; then
		printf '%s  did not arrive%s\n' "$R" "$N"
		FAILED=$((FAILED + 1))
		return
	fi
	python3 - "$f" <<'SHOW'
import email, email.policy, sys
m = email.message_from_bytes(open(sys.argv[1], "rb").read(), policy=email.policy.default)
for h in ("From", "To", "Subject", "X-Sekisho-Sanitized", "Content-Type"):
    print("  %s: %s" % (h, m.get(h)))
print()
for line in m.get_content().splitlines()[:26]:
    print("  " + line)
SHOW
	if ! python3 "$MAILPY" "check-$3" "$f" "$W/$1.eml" >"$W/check.out"; then
		printf '%s  not as expected:%s\n' "$R" "$N"
		sed 's/^/  /' "$W/check.out"
		FAILED=$((FAILED + 1))
	fi
}
show_arrived demo-mixed "HTML + Japanese (ISO-2022-JP, UTF-8) + 2 attachments → text only, with the notice" sanitized
show_arrived demo-eicar "EICAR attached → withheld, the notice only" withheld
echo "--- sekisho quarantine list (the originals)"
"$SEKISHO" quarantine --dir "$W/quarantine" list | sed 's/^/  /'
[ "$(find "$W/quarantine" -name message.eml | wc -l)" -ge 2 ] || {
	printf '%s  the quarantine does not hold both originals%s\n' "$R" "$N"
	FAILED=$((FAILED + 1))
}

echo
if [ "$FAILED" -ne 0 ]; then
	printf '%s%d of %d outcomes differ from what rules/ requires%s\n' "$R" "$FAILED" "$n_try" "$N"
	exit 1
fi
printf '%sall %d outcomes as rules/ requires%s\n' "$G" "$n_try" "$N"

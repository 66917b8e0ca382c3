# shellcheck shell=bash
# lib.sh - shared by the relay's integration tests (sourced).
#
# A test does:
#     . "$(dirname "$0")/lib.sh"
#     relay_init NAME "$@"      # $1 sekisho, $2 sekisho-relayd; builds the
#                               # topology, applies rules/ in the box
#     relay_conf [EXTRA LINES]  # writes $T/relayd.conf
#     relayd_start [VAR=VALUE...]
#     ...checks (ok / fail)...
#     relay_finish
#
# Everything lives under the namespace prefix sk-r-NAME-PID- and the
# directory $T; both go away on exit (trap), with every Postfix instance,
# smtp-sink and relayd the test started.  SEKISHO_RELAY_KEEP=1 keeps $T of a
# failed run.
#
# The topology is deploy/netns.sh's: mail-joho 198.18.2.25 / 2001:2:0:2::25
# in ${P}joho, mail-lgwan 198.18.3.25 / 2001:2:0:3::25 in ${P}lgwan; the box's
# `mail` rules redirect joho <-> lgwan tcp/25 to the relay port 10025, where
# sekisho-relayd listens (mail flows file: $STATE/mailflows, written by
# `sekisho apply`).
#
# Waiting is bounded polling (wait_until); no assertion depends on timing.

set -euo pipefail

RELAY_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
NETNS_SH=$RELAY_TOP/deploy/netns.sh
PF_SH=$RELAY_TOP/deploy/postfix-instance.sh
export SEKISHO_TODAY=2026-11-22
RELAY_PORT=10025
# shellcheck disable=SC2034 # used by the tests that source this
J4=198.18.2.25 J6=2001:2:0:2::25 L4=198.18.3.25 L6=2001:2:0:3::25
# shellcheck disable=SC2034
JDOM=joho.example.jp LDOM=lgwan.example.jp

R_FAILS=0
R_CHECKS=0
R_PIDS=()
R_PF=()
RELAYD_PID=''

say() { printf '%s\n' "$*"; }
ok() {
	R_CHECKS=$((R_CHECKS + 1))
	printf 'ok   %s\n' "$*"
}
fail() {
	R_CHECKS=$((R_CHECKS + 1))
	R_FAILS=$((R_FAILS + 1))
	printf 'FAIL %s\n' "$*"
}
fatal() {
	printf 'FATAL %s\n' "$*"
	if [ -n "${T:-}" ] && [ -f "$T/relayd.log" ]; then
		say "--- relayd log (last 30 lines)"
		tail -n 30 "$T/relayd.log" | sed 's/^/    | /'
	fi
	exit 1
}
# check WHAT COMMAND...: ok when COMMAND succeeds, else fail.
check() {
	local what=$1
	shift
	if "$@"; then ok "$what"; else fail "$what"; fi
}

relay_cleanup() {
	local rc=$? p
	set +e
	if [ -n "$RELAYD_PID" ]; then
		kill "$RELAYD_PID" 2>/dev/null
		sleep 0.5
		kill -9 "$RELAYD_PID" 2>/dev/null
		wait "$RELAYD_PID" 2>/dev/null
	fi
	for p in "${R_PIDS[@]+"${R_PIDS[@]}"}"; do
		kill "$p" 2>/dev/null
	done
	for p in "${R_PF[@]+"${R_PF[@]}"}"; do
		"$PF_SH" stop -d "$p" >/dev/null 2>&1
	done
	"$NETNS_SH" down "$P" >/dev/null 2>&1
	if [ -n "${T:-}" ] && [ -d "$T" ]; then
		if [ "$rc" -ne 0 ] && [ -n "${SEKISHO_RELAY_KEEP:-}" ]; then
			say "kept $T"
		else
			rm -rf "$T"
		fi
	fi
	exit "$rc"
}

# relay_init NAME SEKISHO RELAYD
relay_init() {
	local name=$1
	SEKISHO=${2:-}
	RELAYD=${3:-}
	[ -x "$SEKISHO" ] || fatal "usage: $0 PATH-TO-sekisho PATH-TO-sekisho-relayd ('$SEKISHO' is not executable)"
	[ -x "$RELAYD" ] || fatal "sekisho-relayd '$RELAYD' is not executable"
	SEKISHO=$(realpath "$SEKISHO")
	RELAYD=$(realpath "$RELAYD")
	[ "$(id -u)" = 0 ] || fatal "needs root (network namespaces)"
	local t
	for t in postfix smtp-sink swaks openssl python3 sigtool; do
		command -v "$t" >/dev/null || fatal "$t not installed (deploy/setup.sh)"
	done
	P=sk-r-$name-$$-
	T=$(mktemp -d "/tmp/sk-r-$name.XXXXXX")
	chmod 755 "$T"
	STATE=$T/state
	mkdir -p "$STATE"
	trap relay_cleanup EXIT
	trap 'exit 129' HUP
	trap 'exit 130' INT
	trap 'exit 143' TERM
	say "== $name (namespaces $P*, files $T)"
	"$NETNS_SH" up "$P" >/dev/null || fatal "netns.sh up $P failed"
	local out
	if ! out=$(ip netns exec "${P}box" "$SEKISHO" --state-dir "$STATE" apply "$RELAY_TOP/rules" 2>&1); then
		printf '%s\n' "$out" | sed 's/^/    | /'
		fatal "sekisho apply rules/ failed"
	fi
	[ -s "$STATE/mailflows" ] || fatal "sekisho apply wrote no $STATE/mailflows"
	sh "$RELAY_TOP/tests/clamav/make_db.sh" "$T/clamdb" "$T/samples" >"$T/make_db.log" 2>&1 ||
		fatal "make_db.sh: $(tail -n 3 "$T/make_db.log")"
	chmod -R a+rX "$T/clamdb" "$STATE"
	mkdir -p "$T/quarantine"
	chown nobody: "$T/quarantine"
	chmod 700 "$T/quarantine"
}

relay_finish() {
	[ "$R_CHECKS" -gt 0 ] || fail "no check ran"
	if [ "$R_FAILS" -ne 0 ]; then
		say "== $R_FAILS of $R_CHECKS checks FAILED"
		if [ -f "$T/relayd.log" ]; then
			say "--- relayd log (last 40 lines)"
			tail -n 40 "$T/relayd.log" | sed 's/^/    | /'
		fi
		exit 1
	fi
	say "== all $R_CHECKS checks passed"
	exit 0
}

nsx() {
	local ns=$1
	shift
	ip netns exec "$P$ns" "$@"
}

# wait_until SECONDS COMMAND...: poll COMMAND every 0.2 s; 1 when it never
# succeeded.  The bound only keeps a broken run from hanging.
wait_until() {
	local secs=$1
	shift
	for _ in $(seq 1 $((secs * 5))); do
		if "$@"; then return 0; fi
		sleep 0.2
	done
	return 1
}

# --- relayd ----------------------------------------------------------------

# relay_conf [LINE...]: $T/relayd.conf with the test defaults, then LINEs
# (which may override nothing already set: the parser refuses repeats, so
# RELAY_CONF_SKIP="key key" leaves keys out of the defaults).
relay_conf() {
	local skip=" ${RELAY_CONF_SKIP:-} " k v
	{
		echo "# generated by tests/relay/lib.sh"
		while IFS='=' read -r k v; do
			k=${k// /}
			case $skip in *" $k "*) continue ;; esac
			echo "$k =$v"
		done <<EOF
listen = [::]:$RELAY_PORT
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
		local l
		for l in "$@"; do echo "$l"; done
	} >"$T/relayd.conf"
}

relay_listening() {
	nsx box ss -Hltn "sport = :$RELAY_PORT" | grep -q .
}

# relayd_start [VAR=VALUE...]: start sekisho-relayd -d in the box (with the
# environment additions), wait until it listens.
relayd_start() {
	[ -z "$RELAYD_PID" ] || fatal "relayd_start: already running"
	echo "--- relayd_start $*" >>"$T/relayd.log"
	ip netns exec "${P}box" env "$@" "$RELAYD" -c "$T/relayd.conf" -d >>"$T/relayd.log" 2>&1 &
	RELAYD_PID=$!
	if ! wait_until 30 relay_listening; then
		fatal "sekisho-relayd does not listen on port $RELAY_PORT"
	fi
}
relayd_alive() { [ -n "$RELAYD_PID" ] && kill -0 "$RELAYD_PID" 2>/dev/null; }
relayd_stop() {
	[ -n "$RELAYD_PID" ] || return 0
	kill -TERM "$RELAYD_PID" 2>/dev/null || true
	wait_until 30 eval '! kill -0 "$RELAYD_PID" 2>/dev/null' || kill -9 "$RELAYD_PID" 2>/dev/null || true
	wait "$RELAYD_PID" 2>/dev/null || true
	RELAYD_PID=''
}
relayd_kill9() {
	[ -n "$RELAYD_PID" ] || return 0
	# The daemon and its workers: workers are its children.
	local kids
	kids=$(pgrep -P "$RELAYD_PID" 2>/dev/null || true)
	kill -9 "$RELAYD_PID" 2>/dev/null || true
	wait "$RELAYD_PID" 2>/dev/null || true
	# shellcheck disable=SC2086
	[ -z "$kids" ] || kill -9 $kids 2>/dev/null || true
	RELAYD_PID=''
	wait_until 10 eval '! relay_listening' || true
}

# --- Postfix ---------------------------------------------------------------

# pf_start NAME NS HOSTNAME ADDRS [postfix-instance.sh options...]
# The instance's directory is $T/pf-NAME; its Maildir $T/pf-NAME/mail/inbox.
pf_start() {
	local name=$1 ns=$2 host=$3 addrs=$4
	shift 4
	R_PF+=("$T/pf-$name")
	"$PF_SH" start -d "$T/pf-$name" -n "$P$ns" -h "$host" -a "$addrs" "$@" ||
		fatal "postfix instance $name did not start"
}
pf_stop() { "$PF_SH" stop -d "$T/pf-$1"; }
pf_maildir() { echo "$T/pf-$1/mail/inbox"; }
# Messages delivered to the instance's Maildir (new/).
maildir_count() {
	find "$(pf_maildir "$1")/new" -type f 2>/dev/null | wc -l
}
maildir_files() {
	find "$(pf_maildir "$1")/new" -type f 2>/dev/null | sort
}
pf_queue_empty() { # NAME: nothing in its queue
	[ -z "$(find "$T/pf-$1/spool/"{incoming,active,deferred,maildrop} -type f 2>/dev/null)" ]
}

# --- smtp-sink -------------------------------------------------------------

# sink_start NAME NS ADDR [smtp-sink options...]: smtp-sink on ADDR:25 in NS,
# every transaction dumped into its own file in $T/sink-NAME/.
sink_start() {
	local name=$1 ns=$2 addr=$3
	shift 3
	mkdir -p "$T/sink-$name"
	local a=$addr
	case $a in *:*) a="[$a]" ;; esac
	# Not through nsx: $! must be smtp-sink itself (ip netns exec execs).
	ip netns exec "$P$ns" smtp-sink -u nobody -d "$T/sink-$name/m." "$@" "$a:25" 128 \
		>>"$T/sink-$name.log" 2>&1 &
	R_PIDS+=($!)
	SINK_PID=$!
	chown nobody: "$T/sink-$name"
	SINK_NS=$ns
	wait_until 10 eval "nsx $ns ss -Hltnp 'sport = :25' | grep -F '$a:25' | grep -q 'pid=$SINK_PID,'" ||
		fatal "smtp-sink $name did not start: $(cat "$T/sink-$name.log")"
}
sink_stop() { # PID
	kill "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
	wait_until 10 eval "! nsx $SINK_NS ss -Hltnp 'sport = :25' | grep -q 'pid=$1,'" || true
}
sink_count() { find "$T/sink-$1" -type f -name 'm.*' 2>/dev/null | wc -l; }
sink_files() { find "$T/sink-$1" -type f -name 'm.*' 2>/dev/null | sort; }

# --- messages --------------------------------------------------------------

MAILPY=$RELAY_TOP/tests/relay/mail.py

# swaks_to NS SERVER [swaks options...]: one SMTP transaction; the whole
# dialogue goes to $T/swaks.last, the last server reply code is printed by
# last_code.
swaks_to() {
	local ns=$1 server=$2
	shift 2
	nsx "$ns" swaks --server "$server" --timeout 60 --helo client.test "$@" >"$T/swaks.last" 2>&1 || true
	sed -i '/DEPRECATION WARNING/d' "$T/swaks.last"
	cat "$T/swaks.last" >>"$T/swaks.log"
}
# raw_send NS SERVER SRC FILE RCPT [--slow B/S]: smtpraw.py send (IPv6 too:
# swaks here lacks IO::Socket::INET6); the reply to the final dot is
# printed by raw_data_code.
raw_send() {
	local ns=$1 server=$2 src=$3 file=$4 rcpt=$5
	shift 5
	nsx "$ns" python3 "$RELAY_TOP/tests/relay/smtpraw.py" send "$server" 25 "$src" "$file" "$rcpt" "$@" \
		>"$T/raw.last" 2>&1 || true
	cat "$T/raw.last" >>"$T/raw.log"
}
raw_data_code() { awk '/^END-OF-DATA-REPLY/ { print $2 }' "$T/raw.last"; }

# The reply to DATA's end (the line after the "." swaks sent), or to the
# last command swaks got an answer to.
last_code() {
	awk '/^<[-~*]* *[0-9][0-9][0-9][ -]/ { sub(/^<[-~*]* */, ""); c = substr($0, 1, 3) } END { print c }' "$T/swaks.last"
}
# The first error reply (<** lines) swaks got.
err_code() {
	awk '/^<\*\* *[0-9][0-9][0-9][ -]/ { sub(/^<\*\* */, ""); print substr($0, 1, 3); exit }' "$T/swaks.last"
}
# The reply swaks got to end-of-data (empty when it never got there).
data_code() {
	awk 'seen && /^<[-~*]* *[0-9][0-9][0-9][ -]/ { sub(/^<[-~*]* */, ""); print substr($0, 1, 3); exit }
	     /^ [-~*]*> \.$/ { seen = 1 }' "$T/swaks.last"
}

# gen KIND ID [mail.py options...]: $T/msg-ID.eml
gen() {
	local kind=$1 id=$2
	shift 2
	local extra=()
	[ "$kind" = eicar ] && extra=(--eicar "$T/samples/eicar.com")
	python3 "$MAILPY" gen "$kind" "$T/msg-$id.eml" --id "$id" "${extra[@]+"${extra[@]}"}" "$@"
}
# file_with_id DIR-LISTING-COMMAND... : the first file of the list holding
# Message-ID <ID@...>; usage: file_with_id ID FILE...
file_with_id() {
	local id=$1 f
	shift
	for f in "$@"; do
		if grep -qi "^Message-ID: *<$id@" "$f"; then
			echo "$f"
			return 0
		fi
	done
	return 1
}
# Originals in the quarantine store (message.eml files).
quarantine_files() {
	find "$T/quarantine" -name message.eml -type f 2>/dev/null | sort
}
quarantine_count() { quarantine_files | wc -l; }

# check_quarantined ID: the store holds the original of message ID, byte for
# byte (mail.py body-equal), `sekisho quarantine list` shows it and
# `sekisho quarantine export` gives the same bytes as the store.
check_quarantined() {
	local id=$1 q qid
	# shellcheck disable=SC2046
	if ! q=$(file_with_id "$id" $(quarantine_files)); then
		fail "quarantine holds no original of <$id>"
		return
	fi
	if python3 "$MAILPY" body-equal "$q" "$T/msg-$id.eml" >"$T/body-equal.out"; then
		ok "quarantine holds the original of <$id> (body byte-identical, header fields kept)"
	else
		fail "quarantined <$id> differs from what was sent: $(cat "$T/body-equal.out")"
	fi
	qid=$(basename "$(dirname "$(dirname "$q")")")$(basename "$(dirname "$q")")
	if "$SEKISHO" quarantine --dir "$T/quarantine" list >"$T/qlist.out" 2>&1 &&
		grep -q "${qid:0:12}" "$T/qlist.out"; then
		ok "sekisho quarantine list shows ${qid:0:12} (<$id>)"
	else
		fail "sekisho quarantine list does not show ${qid:0:12}: $(head -n 5 "$T/qlist.out")"
	fi
	if "$SEKISHO" quarantine --dir "$T/quarantine" export "$qid" -o "$T/export.eml" 2>"$T/export.err" &&
		cmp -s "$T/export.eml" "$q"; then
		ok "sekisho quarantine export $qid gives the stored bytes"
	else
		fail "sekisho quarantine export $qid: $(cat "$T/export.err")"
	fi
}

# mail_check CHECK FILE ID WHAT: mail.py check-CHECK on an arrived message.
mail_check() {
	local chk=$1 f=$2 id=$3 what=$4
	if python3 "$MAILPY" "check-$chk" "$f" "$T/msg-$id.eml" >"$T/check.out"; then
		ok "$what"
	else
		fail "$what:"
		sed 's/^/    | /' "$T/check.out"
	fi
}

#!/bin/bash
# established_cut: a connection that the new rules no longer allow stops
# passing data when they are applied (its conntrack entry is deleted, so the
# `established` accept no longer lets it through); a connection the new
# rules still allow keeps going.
# shellcheck source=tests/netns/lib.sh
. "$(dirname "$0")/lib.sh"
netns_init estcut "$@"

B=$T/rules-b
copy_rules "$B"
sed -i -E '/^screen joho -> lgwan/d' "$B/lgwan.rules"
grep -q '^screen' "$B/lgwan.rules" && fatal "could not remove the screen flow from rules B"

apply_ok "$NETNS_TOP/rules"

# echo_conn NAME SRC_NS SRC DST_NS DST PORT: a server that echoes lines and a
# client that sends one every 0.2 s; every echoed line lands in $T/NAME.out.
echo_conn() {
	local name=$1 sns=$2 src=$3 dns=$4 dst=$5 port=$6 l c
	case $dst in
	*:*) l="TCP6-LISTEN:$port,bind=[$dst],ipv6only=1,reuseaddr" c="TCP6:[$dst]:$port,bind=[$src]" ;;
	*) l="TCP4-LISTEN:$port,bind=$dst,reuseaddr" c="TCP4:$dst:$port,bind=$src" ;;
	esac
	ip netns exec "$P$dns" socat "$l" EXEC:cat 2>>"$T/$name.err" &
	NETNS_PIDS+=($!)
	sleep 0.3
	(
		i=0
		while :; do
			echo "line $i"
			i=$((i + 1))
			sleep 0.2
		done
	) | ip netns exec "$P$sns" socat - "$c" >"$T/$name.out" 2>>"$T/$name.err" &
	NETNS_PIDS+=($!)
}
lines() { wc -l <"$T/$1.out"; }

say "-- long-lived connections: screen (v4 and v6, cut by B) and https (kept by B)"
echo_conn screen4 joho 198.18.2.10 lgwan 198.18.3.50 3389
echo_conn screen6 joho 2001:2:0:2::10 lgwan 2001:2:0:3::50 3389
echo_conn https4 joho 198.18.2.10 inet 198.18.4.100 443
sleep 1.2
for c in screen4 screen6 https4; do
	n=$(lines $c)
	if [ "$n" -ge 3 ]; then ok "$c: data flows before the change ($n lines echoed)"; else fail "$c: data does not flow before the change ($n lines echoed; $(cat "$T/$c.err"))"; fi
done
nsx box conntrack -L -p tcp --dport 3389 2>/dev/null | grep -q ESTABLISHED ||
	fail "no ESTABLISHED conntrack entry for the screen connection before the change"

say "-- apply rules without the screen flow"
apply_ok "$B"
sleep 0.6
declare -A at
for c in screen4 screen6 https4; do at[$c]=$(lines $c); done
sleep 1.5
for c in screen4 screen6; do
	n=$(lines $c)
	if [ "$n" -eq "${at[$c]}" ]; then
		ok "$c: no data passes after the change (stuck at $n lines)"
	else
		fail "$c: data still passes after the change (${at[$c]} -> $n lines): the established connection was not cut"
	fi
done
n=$(lines https4)
if [ "$n" -gt "${at[https4]}" ]; then
	ok "https4: the connection the new rules still allow keeps passing (${at[https4]} -> $n lines)"
else
	fail "https4: the still-allowed connection stopped (${at[https4]} -> $n lines)"
fi
if nsx box conntrack -L -p tcp --dport 3389 2>/dev/null | grep -q 'ESTABLISHED.*dport=3389.*\[ASSURED\]'; then
	# Not a failure by itself (the traffic check above is what counts), but
	# worth seeing when it fails.
	say "note: an assured ESTABLISHED entry for port 3389 still exists:"
	nsx box conntrack -L -p tcp --dport 3389 2>/dev/null | sed 's/^/    | /'
fi

netns_finish

#!/bin/bash
# registered_only: in a registered-only segment (未登録機器の接続防止) an
# unregistered source address is dropped, and a registered address that comes
# from the wrong MAC is dropped.
#
# Works on a copy of rules/ where dispatch (指令系) is registered with a MAC
# and 情報系 is registered-only too: 情報系 -> internet allows every 情報系
# source, so there an unregistered address is stopped by the registration
# check alone (in 指令系 every flow already names its hosts).
# shellcheck source=tests/netns/lib.sh
. "$(dirname "$0")/lib.sh"
netns_init regonly "$@"

GOOD_MAC=02:00:00:00:01:10
BAD_MAC=02:00:00:00:01:99
R=$T/rules
copy_rules "$R"
sed -i -E "s|^([[:space:]]*host dispatch[[:space:]].*2001:2:0:1::10)|\1 mac $GOOD_MAC|" "$R/shirei.rules"
sed -i -E 's|^([[:space:]]*network 2001:2:0:2::/64.*)$|\1\n    registered-only|' "$R/joho.rules"
grep -q "host dispatch .* mac $GOOD_MAC" "$R/shirei.rules" || fatal "could not add a MAC to dispatch in the test rules"
grep -q '^    registered-only' "$R/joho.rules" || fatal "could not make 情報系 registered-only in the test rules"

nsx shirei ip link set eth0 address "$GOOD_MAC"
say "-- apply rules with dispatch at $GOOD_MAC and 情報系 registered-only"
apply_ok "$R"

say "-- registered hosts pass; unregistered addresses are dropped"
try46 pass udp shirei.10 joho.12 123 "dispatch from its registered MAC -> ntp-joho"
try46 drop udp shirei.99 joho.12 123 "指令系 unregistered .99 -> ntp-joho"
try46 drop tcp shirei.99 joho.10 443 "指令系 unregistered .99 -> 情報系 https"
try46 drop ping shirei.99 joho.10 - "指令系 unregistered .99 -> 情報系 ping"
try46 pass tcp joho.10 inet.100 443 "registered ops-pc -> internet https"
try46 drop tcp joho.99 inet.100 443 "情報系 unregistered .99 -> internet https"
try46 drop udp joho.99 inet.100 53 "情報系 unregistered .99 -> internet dns"
try46 drop ping joho.99 inet.100 - "情報系 unregistered .99 -> internet ping"
run_tries

# Forget the old neighbour entries so that, if the box let a packet through,
# its reply would reach the new MAC (a drop must be the box's doing).
set_shirei_mac() {
	nsx shirei ip link set eth0 address "$1"
	nsx box ip neigh flush dev shirei0
	nsx box ip -6 neigh flush dev shirei0
	nsx shirei ip neigh flush dev eth0
	nsx shirei ip -6 neigh flush dev eth0
}

say "-- dispatch's address from another MAC ($BAD_MAC) is dropped"
set_shirei_mac "$BAD_MAC"
try46 drop udp shirei.10 joho.12 123 "dispatch's address from MAC $BAD_MAC -> ntp-joho"
run_tries

say "-- and passes again from the registered MAC"
set_shirei_mac "$GOOD_MAC"
try46 pass udp shirei.10 joho.12 123 "dispatch from $GOOD_MAC again -> ntp-joho"
run_tries

netns_finish

#!/bin/bash
# denials_logged: every denied packet is counted in its segment pair's chain
# and logged to nflog group 5 with the pair's prefix; packets to the box
# itself likewise with "sekisho deny box ".
# shellcheck source=tests/netns/lib.sh
. "$(dirname "$0")/lib.sh"
netns_init denylog "$@"

apply_ok "$NETNS_TOP/rules"

PCAP=$T/nflog.pcap
nflog_start 5 "$PCAP"

c_jl0=$(deny_counter joho_to_lgwan)
c_ij0=$(deny_counter internet_to_joho)
[ -n "$c_jl0" ] || fatal "no deny counter in chain joho_to_lgwan: $(nsx box nft list chain inet sekisho joho_to_lgwan 2>&1)"
[ -n "$c_ij0" ] || fatal "no deny counter in chain internet_to_joho: $(nsx box nft list chain inet sekisho internet_to_joho 2>&1)"

say "-- send denied packets: single UDP datagrams and pings, so counts are exact"
# 情報系 -> LGWAN接続系: 3 + 2 UDP, 2 + 1 echo requests = 8 packets
udp_burst 3 joho 198.18.2.10 198.18.3.50 53
udp_burst 2 joho 2001:2:0:2::10 2001:2:0:3::50 53
nsx joho ping -4 -n -q -c 2 -i 0.2 -W 1 -I 198.18.2.10 198.18.3.50 >/dev/null 2>&1 || true
nsx joho ping -6 -n -q -c 1 -W 1 -I 2001:2:0:2::10 2001:2:0:3::50 >/dev/null 2>&1 || true
JL=8
# internet -> 情報系: 2 UDP
udp_burst 1 inet 198.18.4.100 198.18.2.10 123
udp_burst 1 inet 2001:2:0:4::100 2001:2:0:2::10 123
IJ=2
# 情報系 -> the box itself: 1 UDP to a closed port
udp_burst 1 joho 198.18.2.10 198.18.2.1 9
nflog_stop

c_jl1=$(deny_counter joho_to_lgwan)
c_ij1=$(deny_counter internet_to_joho)

say "-- counters in the pair chains"
if [ $((c_jl1 - c_jl0)) -eq $JL ]; then
	ok "joho_to_lgwan deny counter rose by $JL ($c_jl0 -> $c_jl1)"
else
	fail "joho_to_lgwan deny counter rose by $((c_jl1 - c_jl0)), expected $JL ($c_jl0 -> $c_jl1)"
fi
if [ $((c_ij1 - c_ij0)) -eq $IJ ]; then
	ok "internet_to_joho deny counter rose by $IJ ($c_ij0 -> $c_ij1)"
else
	fail "internet_to_joho deny counter rose by $((c_ij1 - c_ij0)), expected $IJ ($c_ij0 -> $c_ij1)"
fi

say "-- the same packets on nflog group 5"
n_jl=$(nflog_prefix_count "$PCAP" 'sekisho deny joho->lgwan ')
n_ij=$(nflog_prefix_count "$PCAP" 'sekisho deny internet->joho ')
# (libpcap cannot filter the NFLOG link type: grep tcpdump's text instead)
pkts() { tcpdump -n -r "$1" 2>/dev/null | grep -cE "$2" || true; }
n_box=$(pkts "$PCAP" '> 198\.18\.2\.1\.9: UDP')
n_box_prefix=$(nflog_prefix_count "$PCAP" 'sekisho deny box ')
n_jl_pkts=$(pkts "$PCAP" '> (198\.18\.3\.50|2001:2:0:3::50)[.:]')
if [ "$n_jl" -eq $JL ]; then
	ok "$JL packets logged with prefix 'sekisho deny joho->lgwan '"
else
	fail "$n_jl packets logged with prefix 'sekisho deny joho->lgwan ', expected $JL"
fi
if [ "$n_jl_pkts" -eq $JL ]; then
	ok "the log holds the $JL packets to vdi-lgwan"
else
	fail "the log holds $n_jl_pkts packets to vdi-lgwan, expected $JL"
	tcpdump -n -r "$PCAP" 2>/dev/null | head -n 20 | sed 's/^/    | /'
fi
if [ "$n_ij" -eq $IJ ]; then
	ok "$IJ packets logged with prefix 'sekisho deny internet->joho '"
else
	fail "$n_ij packets logged with prefix 'sekisho deny internet->joho ', expected $IJ"
fi
if [ "$n_box" -eq 1 ] && [ "$n_box_prefix" -ge 1 ]; then
	ok "the packet to the box's closed port is logged with prefix 'sekisho deny box '"
else
	fail "packet to the box: $n_box logged (expected 1), $n_box_prefix with prefix 'sekisho deny box '"
fi

say "-- a packet that is allowed is not logged"
nflog_start 5 "$T/allowed.pcap"
udp_burst 1 joho 198.18.2.12 198.18.4.100 53
nflog_stop
n_allowed=$(pkts "$T/allowed.pcap" '> 198\.18\.4\.100\.53:')
if [ "$n_allowed" -eq 0 ]; then
	ok "情報系 -> internet dns was not logged"
else
	fail "情報系 -> internet dns (allowed) was logged $n_allowed times"
fi

netns_finish

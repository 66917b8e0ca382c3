#!/bin/bash
# traffic_matrix: with the default rules/ applied in the box, every flow the
# rules allow passes with real traffic (TCP, UDP, ping; IPv4 and IPv6; from the
# named source addresses), mail is redirected to the relay port, and a
# representative set of everything else is dropped.
# shellcheck source=tests/netns/lib.sh
. "$(dirname "$0")/lib.sh"
netns_init matrix "$@"

say "-- apply the default rules/ in the box"
apply_ok "$NETNS_TOP/rules"

say "-- flows the default rules allow"
# allow joho -> internet tcp/80,443 udp/53 ping   (any 情報系 source)
try46 pass tcp joho.10 inet.100 80 "情報系 -> internet http"
try46 pass tcp joho.10 inet.100 443 "情報系 -> internet https"
try46 pass tcp joho.99 inet.100 443 "情報系 unregistered .99 -> internet https (情報系 is not registered-only)"
try46 pass udp joho.12 inet.100 53 "情報系 -> internet dns"
try46 pass ping joho.5 inet.100 - "情報系 -> internet ping"
# screen joho -> lgwan to vdi-lgwan port 3389
try46 pass tcp joho.10 lgwan.50 3389 "screen 情報系 -> vdi-lgwan"
# exception lgwan -> joho tcp/8080 from update-srv to mirror-joho
try46 pass tcp lgwan.80 joho.30 8080 "exception update-srv -> mirror-joho"
# allow joho -> shirei tcp/8443 from ops-pc to dispatch
try46 pass tcp joho.10 shirei.10 8443 "ops-pc -> dispatch status board"
# allow shirei -> joho udp/123 from dispatch to ntp-joho
try46 pass udp shirei.10 joho.12 123 "dispatch -> ntp-joho"
# manage from admin-pc tcp/22
try46 pass tcp joho.5 box/joho.1 22 "admin-pc -> box ssh"
run_tries

say "-- mail flows are redirected to the relay port"
try46 relay tcp joho.25 lgwan.25 25 "mail 情報系 -> mail-lgwan"
try46 relay tcp joho.10 lgwan.25 25 "mail from any 情報系 host -> mail-lgwan"
try46 relay tcp lgwan.25 joho.25 25 "mail LGWAN接続系 -> mail-joho"
run_tries

say "-- everything else is dropped"
# 情報系 <-> LGWAN接続系: only mail / screen / the exception
try46 drop tcp joho.10 lgwan.50 443 "情報系 -> LGWAN接続系 plain https"
try46 drop tcp joho.10 lgwan.25 443 "情報系 -> mail-lgwan https"
try46 drop tcp joho.10 lgwan.25 3389 "screen to a host that is not the screen server"
try46 drop tcp joho.10 lgwan.50 3390 "screen server, wrong port"
try46 drop tcp joho.10 lgwan.50 25 "tcp/25 to a host that is not mail-lgwan"
try46 drop udp joho.10 lgwan.50 53 "情報系 -> LGWAN接続系 udp"
try46 drop ping joho.10 lgwan.50 - "情報系 -> LGWAN接続系 ping"
try46 drop tcp lgwan.50 joho.10 443 "LGWAN接続系 -> 情報系 https"
try46 drop tcp lgwan.25 joho.30 8080 "exception port from a host that is not update-srv"
try46 drop tcp lgwan.80 joho.25 8080 "exception port to a host that is not mirror-joho"
try46 drop tcp lgwan.80 joho.30 8081 "update-srv -> mirror-joho, wrong port"
try46 drop tcp lgwan.25 joho.10 25 "tcp/25 to a host that is not mail-joho"
try46 drop ping lgwan.50 joho.10 - "LGWAN接続系 -> 情報系 ping"
try46 drop udp lgwan.50 joho.12 123 "LGWAN接続系 -> 情報系 udp"
# 情報系 -> internet: only the listed services
try46 drop tcp joho.10 inet.100 22 "情報系 -> internet ssh (wrong port)"
try46 drop tcp joho.25 inet.100 25 "情報系 -> internet smtp (wrong port)"
try46 drop udp joho.10 inet.100 123 "情報系 -> internet udp/123 (wrong port)"
# internet -> anything
try46 drop tcp inet.100 joho.10 443 "internet -> 情報系 https"
try46 drop tcp inet.100 joho.25 25 "internet -> mail-joho smtp"
try46 drop ping inet.100 joho.10 - "internet -> 情報系 ping"
try46 drop tcp inet.100 lgwan.50 3389 "internet -> LGWAN接続系 screen"
try46 drop tcp inet.100 shirei.10 8443 "internet -> 指令系"
try46 drop udp inet.100 joho.12 123 "internet -> ntp-joho udp"
# 指令系: isolated; never the internet
try46 drop tcp shirei.10 inet.100 443 "指令系 -> internet https"
try46 drop udp shirei.10 inet.100 53 "指令系 -> internet dns"
try46 drop ping shirei.10 inet.100 - "指令系 -> internet ping"
try46 drop udp shirei.20 joho.12 123 "radio-gw -> ntp-joho (only dispatch may)"
try46 drop udp shirei.10 joho.12 124 "dispatch -> ntp-joho, wrong port"
try46 drop udp shirei.10 joho.10 123 "dispatch -> a host that is not ntp-joho"
try46 drop tcp shirei.10 joho.10 443 "指令系 -> 情報系 https"
try46 drop ping shirei.10 joho.12 - "指令系 -> 情報系 ping"
try46 drop tcp joho.5 shirei.10 8443 "admin-pc -> dispatch (only ops-pc may)"
try46 drop tcp joho.10 shirei.20 8443 "ops-pc -> radio-gw (only dispatch)"
try46 drop tcp joho.10 shirei.10 443 "ops-pc -> dispatch, wrong port"
try46 drop ping joho.10 shirei.10 - "情報系 -> 指令系 ping"
try46 drop tcp shirei.10 lgwan.50 3389 "指令系 -> LGWAN接続系"
try46 drop tcp lgwan.50 shirei.10 8443 "LGWAN接続系 -> 指令系"
try46 drop ping lgwan.25 shirei.10 - "LGWAN接続系 -> 指令系 ping"
# LGWAN接続系 -> internet
try46 drop tcp lgwan.50 inet.100 443 "LGWAN接続系 -> internet https"
try46 drop udp lgwan.50 inet.100 53 "LGWAN接続系 -> internet dns"
try46 drop ping lgwan.50 inet.100 - "LGWAN接続系 -> internet ping"
# the box itself
try46 drop tcp joho.10 box/joho.1 22 "ops-pc -> box ssh (only admin-pc)"
try46 drop tcp lgwan.50 box/lgwan.1 22 "LGWAN接続系 -> box ssh"
try46 drop tcp inet.100 box/inet.1 22 "internet -> box ssh"
try46 drop tcp joho.10 box/joho.1 "$RELAY_PORT" "direct connection to the relay port (not redirected mail)"
try46 drop ping inet.100 box/inet.1 - "internet -> box ping"

run_tries

say "-- anti-spoofing: a 情報系 host using a source from outside 情報系"
# 情報系 -> internet allows udp/53 from any 情報系 source, so only the
# ingress check stops these.  The reply could never come back (it is routed
# to the real owner), so the listener's log is what tells.
nsx joho ip addr add 198.18.3.80/32 dev eth0
nsx joho ip addr add 2001:2:0:3::80/128 dev eth0 nodad
nsx joho ip addr add 198.18.9.9/32 dev eth0
nsx joho ip addr add 2001:2:0:9::9/128 dev eth0 nodad
try drop udp joho 198.18.3.80 inet 198.18.4.100 53 "spoofed update-srv (LGWAN接続系) source from 情報系 -> internet dns (IPv4)"
try drop udp joho 2001:2:0:3::80 inet 2001:2:0:4::100 53 "spoofed update-srv (LGWAN接続系) source from 情報系 -> internet dns (IPv6)"
try drop udp joho 198.18.9.9 inet 198.18.4.100 53 "spoofed non-segment source from 情報系 -> internet dns (IPv4)"
try drop udp joho 2001:2:0:9::9 inet 2001:2:0:4::100 53 "spoofed non-segment source from 情報系 -> internet dns (IPv6)"
try pass udp joho 198.18.2.12 inet 198.18.4.100 53 "control: the real 情報系 source (IPv4)"
try pass udp joho 2001:2:0:2::12 inet 2001:2:0:4::100 53 "control: the real 情報系 source (IPv6)"
run_tries
netns_finish

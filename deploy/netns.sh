#!/bin/bash
# netns.sh - the test network of the demo and the integration tests, built in
# network namespaces.
#
#   deploy/netns.sh up PREFIX        build it (removing leftovers of PREFIX first)
#   deploy/netns.sh down PREFIX      remove it; safe to call twice
#   deploy/netns.sh exec PREFIX NS CMD...   run CMD in namespace PREFIX+NS
#   deploy/netns.sh list PREFIX      print the namespaces of PREFIX that exist
#
# PREFIX (for example sk-t1-) lets several topologies exist at once.  It builds
#
#   ${P}box     the sekisho box; forwarding on (IPv4 and IPv6); interfaces
#               shirei0 joho0 lgwan0 inet0 (the names rules/ uses), each holding
#               .1 / ::1 of its segment
#   ${P}shirei  指令系        198.18.1.0/24  2001:2:0:1::/64
#   ${P}joho    情報系        198.18.2.0/24  2001:2:0:2::/64
#   ${P}lgwan   LGWAN接続系   198.18.3.0/24  2001:2:0:3::/64
#   ${P}inet    the internet  198.18.4.0/24  2001:2:0:4::/64 (holds .100 / ::100)
#
# Each segment namespace has one interface, eth0 (the veth peer of the box's
# interface), holding the address of every host rules/ declares in that
# segment, then one unregistered address (.99 / ::99); default routes point at
# the box.  The host list is read from $SEKISHO_NETNS_RULES (default: the
# repository's rules/), so adding a host there adds it here.
#
# SAFETY: every veth pair is created inside the namespaces (never in the
# host's namespace), only 198.18.0.0/15 and 2001:2::/48 are used, and `down`
# deletes exactly the five namespaces of PREFIX and nothing else.
set -eu

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RULES=${SEKISHO_NETNS_RULES:-"$top/rules"}

# segment  box-interface  third octet / IPv6 subnet
SEGMENTS="shirei:shirei0:1 joho:joho0:2 lgwan:lgwan0:3 inet:inet0:4"
NAMESPACES="box shirei joho lgwan inet"

die() {
	echo "netns.sh: $*" >&2
	exit 2
}

usage() {
	echo "usage: netns.sh up|down|list PREFIX | exec PREFIX NS CMD..." >&2
	exit 2
}

check_prefix() {
	# A prefix keeps our names apart from everything else on the machine;
	# refuse an empty or odd one so `down` can never hit a foreign namespace.
	case $1 in
	'' | *[!A-Za-z0-9_.-]*) die "bad PREFIX '$1' (letters, digits, _ . - only)" ;;
	esac
	[ ${#1} -le 40 ] || die "PREFIX '$1' too long"
}

ns_exists() {
	[ -e "/run/netns/$1" ]
}

# The addresses rules/ declares for hosts inside `segment SEG { ... }`.
# Prints one address per line (IPv4 and IPv6).
rules_hosts() {
	local seg=$1
	[ -d "$RULES" ] || return 0
	cat "$RULES"/*.rules 2>/dev/null | awk -v seg="$seg" '
		{ sub(/#.*/, "") }
		$1 == "segment" { cur = $2; depth = 0 }
		/\{/ { depth += gsub(/\{/, "{") }
		/\}/ { depth -= gsub(/\}/, "}"); if (depth <= 0) cur = "" }
		cur == seg && $1 == "host" {
			for (i = 3; i <= NF; i++) {
				if ($i == "mac") break
				if ($i ~ /^[0-9a-fA-F:.]+$/) print $i
			}
		}'
}

in_range() {
	# Only the benchmarking ranges: 198.18.0.0/15 and 2001:2::/48.
	case $1 in
	198.18.* | 198.19.*) return 0 ;;
	2001:2:0:* | 2001:2::*) return 0 ;;
	esac
	return 1
}

do_down() {
	local p=$1 n
	for n in $NAMESPACES; do
		if ns_exists "$p$n"; then
			# Kill what still runs inside (listeners of a killed test) so the
			# namespace really goes away; only processes in this namespace.
			local pids
			pids=$(ip netns pids "$p$n" 2>/dev/null || true)
			if [ -n "$pids" ]; then
				# shellcheck disable=SC2086
				kill $pids 2>/dev/null || true
			fi
			ip netns del "$p$n" 2>/dev/null || true
		fi
	done
	return 0
}

do_up() {
	local p=$1 entry seg ifc n addr box
	do_down "$p"
	box=${p}box

	for n in $NAMESPACES; do
		ip netns add "$p$n"
		ip -n "$p$n" link set lo up
		ip netns exec "$p$n" sysctl -q -w \
			net.ipv6.conf.all.accept_ra=0 net.ipv6.conf.default.accept_ra=0 \
			net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
	done
	# The box routes; reverse-path filtering is left to sekisho's anti-spoof
	# chains (the tests check those), so the kernel's is off.
	ip netns exec "$box" sysctl -q -w \
		net.ipv4.ip_forward=1 \
		net.ipv6.conf.all.forwarding=1 net.ipv6.conf.default.forwarding=1 \
		net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0

	for entry in $SEGMENTS; do
		IFS=: read -r seg ifc n <<<"$entry"
		# Created inside the box namespace, peer moved straight into the
		# segment's: nothing ever appears in the host's namespace.
		ip -n "$box" link add "$ifc" type veth peer name eth0 netns "$p$seg"
		ip -n "$box" addr add "198.18.$n.1/24" dev "$ifc"
		ip -n "$box" addr add "2001:2:0:$n::1/64" dev "$ifc" nodad
		ip -n "$box" link set "$ifc" up

		local v4=() v6=()
		if [ "$seg" = inet ]; then
			v4=("198.18.4.100")
			v6=("2001:2:0:4::100")
		else
			while read -r addr; do
				in_range "$addr" || die "rules declare $addr, outside the test ranges"
				case $addr in
				*:*) v6+=("$addr") ;;
				*) v4+=("$addr") ;;
				esac
			done < <(rules_hosts "$seg")
		fi
		v4+=("198.18.$n.99")
		v6+=("2001:2:0:$n::99")
		for addr in "${v4[@]}"; do
			ip -n "$p$seg" addr add "$addr/24" dev eth0
		done
		for addr in "${v6[@]}"; do
			ip -n "$p$seg" addr add "$addr/64" dev eth0 nodad
		done
		ip -n "$p$seg" link set eth0 up
		ip -n "$p$seg" route add default via "198.18.$n.1" dev eth0
		ip -n "$p$seg" -6 route add default via "2001:2:0:$n::1" dev eth0
	done
}

[ $# -ge 2 ] || usage
cmd=$1
prefix=$2
shift 2
check_prefix "$prefix"
[ "$(id -u)" = 0 ] || die "must run as root"

case $cmd in
up) do_up "$prefix" ;;
down) do_down "$prefix" ;;
list)
	for n in $NAMESPACES; do
		if ns_exists "$prefix$n"; then echo "$prefix$n"; fi
	done
	;;
exec)
	[ $# -ge 2 ] || usage
	ns=$1
	shift
	exec ip netns exec "$prefix$ns" "$@"
	;;
*) usage ;;
esac

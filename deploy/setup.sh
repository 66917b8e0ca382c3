#!/bin/sh
# Install every Debian package that building, testing and the demo need.
# Idempotent and non-interactive; skips apt-get when everything is present.
set -eu

PKGS="
build-essential cmake pkg-config clang libclang-rt-14-dev
libnftnl-dev libmnl-dev libnetfilter-conntrack-dev
nftables conntrack iproute2 iputils-ping netcat-openbsd socat iperf3 tcpdump
python3
libgmime-3.0-dev libclamav-dev clamav clamav-testfiles libssl-dev
libxml2-dev altermime libpython3.11-testsuite
libseccomp-dev openssl postfix swaks libnet-ssleay-perl libio-socket-ssl-perl libio-socket-inet6-perl
libpcap-dev tshark
"

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done

if [ -n "$missing" ]; then
	echo "setup: installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	# postfix: installed unconfigured; the tests and the demo run their
	# own instances in network namespaces, never the host's
	echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
	apt-get update -q
	# shellcheck disable=SC2086
	apt-get install -y -q --no-install-recommends $missing
else
	echo "setup: all packages present"
fi

#!/bin/sh
# install.sh - install sekisho on a Debian box from a build directory.
#
#   deploy/install.sh [BUILD-DIR]        (default: build)
#   DESTDIR=/tmp/stage deploy/install.sh build   (staging: no user, no systemctl)
#
# Installs sekisho, sekisho-gatewayd, sekisho-relayd into /usr/sbin; the
# systemd units and the tmpfiles.d entry; /etc/sekisho/rules (the shipped
# rules/, only when /etc/sekisho/rules does not exist) and
# /etc/sekisho/relayd.conf (only when absent); the docs into
# /usr/share/doc/sekisho.  Creates the system user "sekisho" the relay runs
# as.  Enables nothing: start with
#   systemctl enable --now sekisho-gatewayd sekisho-relayd sekisho-status.timer
# See docs/status.md.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
D=${DESTDIR:-}

for b in gateway/sekisho gateway/sekisho-gatewayd sanitizer/sekisho-relayd; do
	[ -x "$build/$b" ] || {
		echo "install.sh: $build/$b is missing (build first)" >&2
		exit 2
	}
done
if [ -z "$D" ] && [ "$(id -u)" != 0 ]; then
	echo "install.sh: needs root (or DESTDIR)" >&2
	exit 2
fi

install -d -m 0755 "$D/usr/sbin" "$D/lib/systemd/system" "$D/usr/lib/tmpfiles.d" \
	"$D/usr/share/doc/sekisho" "$D/etc/sekisho"
install -m 0755 "$build/gateway/sekisho" "$build/gateway/sekisho-gatewayd" \
	"$build/sanitizer/sekisho-relayd" "$D/usr/sbin/"
for u in sekisho-gatewayd.service sekisho-relayd.service sekisho-status.service \
	sekisho-status.timer; do
	install -m 0644 "$top/deploy/systemd/$u" "$D/lib/systemd/system/$u"
done
install -m 0644 "$top/deploy/systemd/sekisho.tmpfiles" "$D/usr/lib/tmpfiles.d/sekisho.conf"
install -m 0644 "$top"/docs/*.md "$D/usr/share/doc/sekisho/"
if [ ! -e "$D/etc/sekisho/rules" ]; then
	install -d -m 0755 "$D/etc/sekisho/rules"
	install -m 0644 "$top"/rules/*.rules "$D/etc/sekisho/rules/"
fi
[ -e "$D/etc/sekisho/relayd.conf" ] ||
	install -m 0644 "$top/deploy/relayd.conf" "$D/etc/sekisho/relayd.conf"

if [ -z "$D" ]; then
	getent passwd sekisho >/dev/null ||
		useradd --system --user-group --home-dir /nonexistent --no-create-home \
			--shell /usr/sbin/nologin --comment "sekisho mail relay" sekisho
	systemd-tmpfiles --create /usr/lib/tmpfiles.d/sekisho.conf 2>/dev/null || true
	command -v systemctl >/dev/null 2>&1 && systemctl daemon-reload 2>/dev/null || true
	sekisho check /etc/sekisho/rules || echo "install.sh: the rules need attention" >&2
	sekisho-relayd -n || echo "install.sh: relayd.conf needs attention" >&2
fi
echo "installed; start with: systemctl enable --now sekisho-gatewayd sekisho-relayd sekisho-status.timer"

#!/bin/sh
# clamav_tmpdir_fails_closed: libclamav answers "clean" when it cannot
# create its temporary directory; the sanitiser must fail (exit 2) instead
# of passing an EICAR attachment as scanned-clean.
# usage: tmpdir_fails_closed.sh SEKISHO DB EML
set -u
sekisho=$1 db=$2 eml=$3
out=$(TMPDIR=/nonexistent/sekisho-tmp "$sekisho" sanitize --scan-db "$db" < "$eml" 2>&1 >/dev/null)
rc=$?
if [ "$rc" -ne 2 ]; then
	echo "FAIL: exit $rc with an unusable TMPDIR (want 2)"; echo "$out"; exit 1
fi
case $out in
*"temporary directory"*) ;;
*) echo "FAIL: no reason given: $out"; exit 1 ;;
esac
# the same message with a usable TMPDIR is found infected (exit 1)
TMPDIR=/dev/shm "$sekisho" sanitize --scan-db "$db" < "$eml" >/dev/null 2>&1
rc=$?
[ "$rc" -eq 1 ] || { echo "FAIL: exit $rc with a usable TMPDIR (want 1)"; exit 1; }
echo ok

#!/bin/sh
# make_db.sh DBDIR [SAMPLEDIR] - build the tests' tiny ClamAV signature
# database at test time (nothing binary is committed), with sigtool from the
# clamav package and Debian's clamav-testfiles:
#
#   DBDIR/sekisho-test.hdb  MD5 of clam.exe (the hash ClamAV's own test suite
#                           uses: it names it ClamAV-Test-File) and of the
#                           EICAR test file
#   DBDIR/sekisho-test.hsb  SHA-256 of the same two files
#   DBDIR/sekisho-test.ndb  body signatures: 64 bytes of clam.exe's code (its
#                           entry stub and encoded message, 0x40-0x7f), found
#                           at any offset, so that a clam.exe that was
#                           modified elsewhere, or unpacked/extracted from an
#                           archive, packer, document or mail by libclamav,
#                           is still detected; and the EICAR string at
#                           offset 0 of any file (as EICAR specifies)
#
# With SAMPLEDIR, also writes samples the tests scan beside the testfiles:
#   eicar.com              the 68-byte EICAR file (INFECTED)
#   eicar-crlf.txt         EICAR followed by CRLF (INFECTED: body signature)
#   eicar.eml              a mail with eicar.com as a base64 attachment
#   clam-patched.exe       clam.exe with its last byte changed (INFECTED:
#                          the MD5 no longer matches, the body signature does)
#   clam-zip.eml, clam-tnef.eml   clam.zip / clam.tnef (as winmail.dat)
#                          attached in base64 (INFECTED)
#   clam-uu-inline.eml, clam-binhex-inline.eml   clam.exe uuencoded / in
#                          BinHex inside a text/plain body (INFECTED)
#   clean.txt, clean.eml, empty   clean files (CLEAN)
#
# Environment: CLAMAV_TESTFILES (default /usr/share/clamav-testfiles),
# SIGTOOL (default sigtool).  Exits non-zero, saying why, when sigtool or
# the test files are missing: a test database must never be empty.
set -eu

usage() {
	echo "usage: $0 DBDIR [SAMPLEDIR]" >&2
	exit 2
}
if [ $# -lt 1 ] || [ $# -gt 2 ]; then
	usage
fi
dbdir=$1
sampledir=${2:-}
testfiles=${CLAMAV_TESTFILES:-/usr/share/clamav-testfiles}
sigtool=${SIGTOOL:-sigtool}

command -v "$sigtool" >/dev/null 2>&1 || {
	echo "make_db: $sigtool not found (Debian package clamav; run deploy/setup.sh)" >&2
	exit 1
}
[ -r "$testfiles/clam.exe" ] || {
	echo "make_db: $testfiles/clam.exe not found (Debian package clamav-testfiles)" >&2
	exit 1
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

# EICAR's 68 bytes, built from octal escapes so that no file of the project
# holds the string itself (a scanner on a developer's machine would flag it).
printf '\130\65\117\41\120\45\100\101\120\133\64\134\120\132\130\65\64\50\120\136\51\67\103\103\51\67\175\44\105\111\103\101\122\55\123\124\101\116\104\101\122\104\55\101\116\124\111\126\111\122\125\123\55\124\105\123\124\55\106\111\114\105\41\44\110\53\110\52' >"$tmp/eicar.com"
[ "$(wc -c <"$tmp/eicar.com")" -eq 68 ] || {
	echo "make_db: EICAR string is not 68 bytes" >&2
	exit 1
}

# sigtool prints HASH:SIZE:FILENAME; the third field becomes the name.
hashsig() { # ALGO FILE NAME
	"$sigtool" "--$1" "$2" | awk -F: -v n="$3" 'NF >= 3 { print $1 ":" $2 ":" n }'
}

mkdir -p "$dbdir"
{
	hashsig md5 "$testfiles/clam.exe" ClamAV-Test-File
	hashsig md5 "$tmp/eicar.com" Eicar-Test-Signature
} >"$tmp/sekisho-test.hdb"
{
	hashsig sha256 "$testfiles/clam.exe" ClamAV-Test-File
	hashsig sha256 "$tmp/eicar.com" Eicar-Test-Signature
} >"$tmp/sekisho-test.hsb"
{
	# NAME:TARGET(0 = any file):OFFSET:HEX
	printf 'ClamAV-Test-File-Body:0:*:%s\n' \
		"$(dd if="$testfiles/clam.exe" bs=1 skip=64 count=64 2>/dev/null | "$sigtool" --hex-dump)"
	printf 'Eicar-Test-Signature-Body:0:0:%s\n' "$("$sigtool" --hex-dump <"$tmp/eicar.com")"
} >"$tmp/sekisho-test.ndb"

for f in hdb hsb ndb; do
	lines=$(grep -c . "$tmp/sekisho-test.$f" || true)
	[ "$lines" -eq 2 ] || {
		echo "make_db: sekisho-test.$f has $lines signatures, expected 2" >&2
		exit 1
	}
	# sigtool --hex-dump of 64 bytes is 128 hex digits; an empty dump would
	# make a signature that matches nothing (or everything)
	if grep -q ':$' "$tmp/sekisho-test.$f"; then
		echo "make_db: empty signature in sekisho-test.$f" >&2
		exit 1
	fi
	mv "$tmp/sekisho-test.$f" "$dbdir/"
done

if [ -n "$sampledir" ]; then
	mkdir -p "$sampledir"
	cp "$tmp/eicar.com" "$sampledir/eicar.com"
	{
		cat "$tmp/eicar.com"
		printf '\r\n'
	} >"$sampledir/eicar-crlf.txt"
	{
		printf 'From: sender@example.jp\r\nTo: rcpt@example.jp\r\n'
		printf 'Subject: test attachment\r\nMIME-Version: 1.0\r\n'
		printf 'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
		printf -- '--b1\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nsee attachment\r\n'
		printf -- '--b1\r\nContent-Type: application/octet-stream; name="eicar.com"\r\n'
		printf 'Content-Transfer-Encoding: base64\r\n'
		printf 'Content-Disposition: attachment; filename="eicar.com"\r\n\r\n'
		base64 -w 76 "$tmp/eicar.com" | sed 's/$/\r/'
		printf -- '--b1--\r\n'
	} >"$sampledir/eicar.eml"
	# mail around clamav-testfiles: an attached zip and TNEF (winmail.dat),
	# and uuencode and BinHex blocks inline in a text/plain body
	mail_head() { # SUBJECT CONTENT-TYPE
		printf 'From: sender@example.jp\r\nTo: rcpt@example.jp\r\n'
		printf 'Subject: %s\r\nMIME-Version: 1.0\r\nContent-Type: %s\r\n\r\n' "$1" "$2"
	}
	attach() { # FILE NAME TYPE
		printf -- '--b1\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nsee attachment\r\n'
		printf -- '--b1\r\nContent-Type: %s; name="%s"\r\n' "$3" "$2"
		printf 'Content-Transfer-Encoding: base64\r\n'
		printf 'Content-Disposition: attachment; filename="%s"\r\n\r\n' "$2"
		base64 -w 76 "$1" | sed 's/$/\r/'
		printf -- '--b1--\r\n'
	}
	{
		mail_head "zip attached" 'multipart/mixed; boundary="b1"'
		attach "$testfiles/clam.zip" clam.zip application/zip
	} >"$sampledir/clam-zip.eml"
	{
		mail_head "tnef attached" 'multipart/mixed; boundary="b1"'
		attach "$testfiles/clam.tnef" winmail.dat application/ms-tnef
	} >"$sampledir/clam-tnef.eml"
	{
		mail_head "uuencode inline" 'text/plain; charset=us-ascii'
		printf 'the program follows\r\n\r\n'
		sed -n '/^begin /,/^end/p' "$testfiles/clam.exe.mbox.uu" | tr -d '\r' | sed 's/$/\r/'
	} >"$sampledir/clam-uu-inline.eml"
	{
		mail_head "binhex inline" 'text/plain; charset=us-ascii'
		printf 'the program follows\r\n\r\n'
		tr -d '\r' <"$testfiles/clam.exe.binhex" | sed 's/$/\r/'
	} >"$sampledir/clam-binhex-inline.eml"
	size=$(wc -c <"$testfiles/clam.exe")
	{
		head -c $((size - 1)) "$testfiles/clam.exe"
		printf '\001'
	} >"$sampledir/clam-patched.exe"
	if cmp -s "$sampledir/clam-patched.exe" "$testfiles/clam.exe"; then
		echo "make_db: clam-patched.exe equals clam.exe" >&2
		exit 1
	fi
	printf 'Hello,\nthis is an ordinary text file.\n' >"$sampledir/clean.txt"
	{
		printf 'From: sender@example.jp\r\nTo: rcpt@example.jp\r\n'
		printf 'Subject: meeting\r\nMIME-Version: 1.0\r\n'
		printf 'Content-Type: text/plain; charset=us-ascii\r\n\r\n'
		printf 'The meeting is at 10:00 tomorrow.\r\n'
	} >"$sampledir/clean.eml"
	: >"$sampledir/empty"
fi
echo "make_db: $dbdir: 6 signatures (hdb, hsb, ndb)"

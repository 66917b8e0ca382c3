#!/bin/sh
# check_scan.sh SCAN_FILES DBDIR SAMPLEDIR EXPECTED - the scanner test.
#
#  1. Every file of clamav-testfiles that ClamAV itself detects with the
#     signature of its own test suite (clamscan, MD5 of clam.exe named
#     ClamAV-Test-File) is INFECTED when scanned through sanitizer/scan.c
#     with the database make_db.sh built.
#  2. Every file listed in EXPECTED has the verdict listed there (a testfile
#     this Debian release does not ship is reported and skipped); no file is
#     ERROR.
#  3. An empty or missing database directory: scan_open fails, exit 2, and
#     says "signature database missing".
#  4. Limits: clam.exe at the end of a 64 MiB buffer is found; a buffer over
#     SCAN_MAX_BUFFER_BYTES is ERROR "too large to scan", never clean.
set -eu
[ $# -eq 4 ] || {
	echo "usage: $0 SCAN_FILES DBDIR SAMPLEDIR EXPECTED" >&2
	exit 2
}
scan=$1
db=$2
samples=$3
expected=$4
testfiles=${CLAMAV_TESTFILES:-/usr/share/clamav-testfiles}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
fail=0
bad() {
	echo "FAIL: $*"
	fail=$((fail + 1))
}

# --- ours, over every testfile and sample
set +e
"$scan" "$db" "$testfiles"/* "$samples"/* >"$tmp/ours" 2>"$tmp/ours.err"
rc=$?
set -e
[ "$rc" -eq 1 ] || bad "scan_files exited $rc (expected 1: something infected): $(cat "$tmp/ours.err")"
verdict() { # FILE -> CLEAN | INFECTED | ERROR | (empty when not scanned)
	awk -v f="$1: " 'index($0, f) == 1 { print $2; exit }' "$tmp/ours"
}
if grep -q ': ERROR' "$tmp/ours"; then
	bad "scan errors:"
	grep ': ERROR' "$tmp/ours"
fi

# --- 1. ClamAV's own verdicts with its test suite's signature
if command -v clamscan >/dev/null 2>&1; then
	sigtool --md5 "$testfiles/clam.exe" | awk -F: '{ print $1 ":" $2 ":ClamAV-Test-File" }' \
		>"$tmp/clamav-testsuite.hdb"
	clamscan --no-summary -d "$tmp/clamav-testsuite.hdb" "$testfiles" 2>/dev/null |
		sed -n 's/^\(.*\): .* FOUND$/\1/p' >"$tmp/ref" || true
	nref=$(wc -l <"$tmp/ref")
	[ "$nref" -gt 0 ] || bad "clamscan detected nothing with ClamAV's test signature"
	while IFS= read -r f; do
		v=$(verdict "$f")
		[ "$v" = INFECTED ] || bad "$f: ClamAV detects it, ours says '${v:-nothing}'"
	done <"$tmp/ref"
	echo "clamscan reference: $nref testfiles detected by ClamAV's test signature"
else
	echo "clamscan not installed: reference comparison skipped"
fi

# --- 2. the committed list
nexp=0
nskip=0
while read -r name want; do
	case $name in '' | '#'*) continue ;; esac
	case $name in
	samples/*) f=$samples/${name#samples/} ;;
	*) f=$testfiles/$name ;;
	esac
	if [ ! -e "$f" ]; then
		echo "skip: $f not shipped here"
		nskip=$((nskip + 1))
		continue
	fi
	v=$(verdict "$f")
	case $want:$v in
	ANY:CLEAN | ANY:INFECTED) echo "$name: $v" ;;
	"$want:$want") ;;
	*) bad "$f: expected $want, got '${v:-nothing}'" ;;
	esac
	nexp=$((nexp + 1))
done <"$expected"
for f in "$testfiles"/*; do
	grep -q "^$(basename "$f") " "$expected" ||
		echo "note: $f is not in $(basename "$expected") (verdict $(verdict "$f"))"
done

# --- 3. no database, no scanner
mkdir "$tmp/emptydb"
for d in "$tmp/emptydb" "$tmp/nonexistent"; do
	set +e
	"$scan" "$d" "$samples/clean.txt" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	set -e
	[ "$rc" -eq 2 ] || bad "db $d: exit $rc, expected 2"
	[ ! -s "$tmp/out" ] || bad "db $d: scanned anyway: $(cat "$tmp/out")"
	grep -q "signature database missing" "$tmp/err" ||
		bad "db $d: unclear message: $(cat "$tmp/err")"
done

# --- 4. limits (64 MiB: the largest message; 80 MiB + 1: SCAN_MAX_BUFFER_BYTES + 1)
{
	head -c $((64 * 1024 * 1024 - 544)) /dev/zero
	cat "$testfiles/clam.exe"
} >"$tmp/big64"
truncate -s $((80 * 1024 * 1024 + 1)) "$tmp/over"
set +e
"$scan" "$db" "$tmp/big64" "$tmp/over" >"$tmp/out" 2>"$tmp/err"
set -e
grep -q "big64: INFECTED" "$tmp/out" || bad "clam.exe at the end of 64 MiB: $(cat "$tmp/out")"
grep -q "over: ERROR too large to scan" "$tmp/out" || bad "over the limit: $(cat "$tmp/out")"

echo "checked $nexp listed files ($nskip not shipped), empty/missing database, limits"
if [ "$fail" -ne 0 ]; then
	echo "$fail failure(s)"
	exit 1
fi
echo "clamav: all as expected"

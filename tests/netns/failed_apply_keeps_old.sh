#!/bin/bash
# failed_apply_keeps_old: an apply that fails leaves the running ruleset as it
# was, exits non-zero and names file:line.  Two ways to fail: rule files that
# do not pass `check` (the kernel is never touched), and a kernel-side failure
# in the middle of the netlink batch (fault injection: the environment
# variable SEKISHO_TEST_FAIL_RULE=FILE:LINE makes the batch element compiled
# from that rule-file line fail in the kernel).
# shellcheck source=tests/netns/lib.sh
. "$(dirname "$0")/lib.sh"
netns_init failapply "$@"

apply_ok "$NETNS_TOP/rules"
table_of box >"$T/before.nft"
nsx box nft list tables >"$T/tables.before"
[ -s "$T/before.nft" ] || fatal "no table inet sekisho after apply"

say "-- 1. rule files that fail check"
B=$T/bad
copy_rules "$B"
echo 'allow joho -> lgwan tcp/443        # plain allow across the LGWAN boundary' >>"$B/joho.rules"
line=$(wc -l <"$B/joho.rules")
rc=0
sk apply "$B" >"$T/apply1.out" 2>&1 || rc=$?
sed 's/^/    | /' "$T/apply1.out"
if [ $rc -ne 0 ]; then ok "apply of a rule dir that fails check exits $rc"; else fail "apply of a rule dir that fails check exited 0"; fi
if grep -q "joho.rules:$line:" "$T/apply1.out"; then
	ok "the error names joho.rules:$line"
else
	fail "the error does not name joho.rules:$line: $(head -n 5 "$T/apply1.out")"
fi
table_of box >"$T/after1.nft"
same_text "the running ruleset is unchanged after the refused apply" "$T/before.nft" "$T/after1.nft"

say "-- 2. a rule the kernel refuses in the middle of the batch"
G=$T/good
copy_rules "$G"
# A valid change, so that a successful apply would change the table.
sed -i -E 's|^allow joho -> internet tcp/80,443 |allow joho -> internet tcp/80,443,8080 |' "$G/joho.rules"
grep -q 'tcp/80,443,8080' "$G/joho.rules" || fatal "could not edit the test copy of joho.rules"
fline=$(grep -n '^allow joho -> internet' "$G/joho.rules" | cut -d: -f1)
rc=0
SEKISHO_TEST_FAIL_RULE="$G/joho.rules:$fline" sk apply "$G" >"$T/apply2.out" 2>&1 || rc=$?
sed 's/^/    | /' "$T/apply2.out"
if [ $rc -ne 0 ]; then
	ok "apply with a kernel-side failure exits $rc"
else
	fail "apply with SEKISHO_TEST_FAIL_RULE=$G/joho.rules:$fline exited 0 (fault injection missing?)"
fi
if grep -q "joho.rules:$fline" "$T/apply2.out"; then
	ok "the kernel error is mapped back to joho.rules:$fline"
else
	fail "the kernel error does not name joho.rules:$fline: $(head -n 5 "$T/apply2.out")"
fi
table_of box >"$T/after2.nft"
same_text "the running ruleset is unchanged after the kernel refused the batch" "$T/before.nft" "$T/after2.nft"
nsx box nft list tables >"$T/tables.after"
same_text "no table was added or removed" "$T/tables.before" "$T/tables.after"

say "-- the old rules still work, and the same change applies without the fault"
try46 pass tcp joho.10 inet.100 443 "情報系 -> internet https (old rules)"
try46 drop tcp joho.10 inet.100 8080 "情報系 -> internet tcp/8080 (only in the failed version)"
run_tries
apply_ok "$G"
try46 pass tcp joho.10 inet.100 8080 "情報系 -> internet tcp/8080 (after the good apply)"
run_tries

netns_finish

#!/bin/bash
# confirm_reverts: `apply --confirm 3` of B over A reverts to A by itself when
# no `sekisho confirm` arrives in time; with `sekisho confirm` B stays.
# shellcheck source=tests/netns/lib.sh
. "$(dirname "$0")/lib.sh"
netns_init confirm "$@"

A=$NETNS_TOP/rules
B=$T/rules-b
copy_rules "$B"
sed -i -E 's|^allow joho -> internet tcp/80,443 |allow joho -> internet tcp/80,443,8080 |' "$B/joho.rules"
grep -q 'tcp/80,443,8080' "$B/joho.rules" || fatal "could not edit rules B"

apply_ok "$A"
table_of box >"$T/a.nft"

say "-- apply --confirm 3 B, no confirm: back to A"
t0=$(date +%s.%N)
apply_ok "$B" --confirm 3
table_of box >"$T/b.nft"
if cmp -s "$T/a.nft" "$T/b.nft"; then fail "B is not running after apply --confirm (table equals A's)"; else ok "B is running right after apply --confirm 3"; fi
sleep 1
table_of box >"$T/b1.nft"
same_text "B still runs 1 s later (before the deadline)" "$T/b.nft" "$T/b1.nft"
if wait_table box "$T/a.nft" 10; then
	t1=$(date +%s.%N)
	ok "reverted to A without a confirm after $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b - a}') s"
else
	fail "still not back to A 10 s after apply --confirm 3"
	table_of box >"$T/late.nft"
	same_text "table 10 s later vs A" "$T/a.nft" "$T/late.nft"
fi
try46 drop tcp joho.10 inet.100 8080 "after the revert: 情報系 -> internet tcp/8080 (only in B)"
run_tries

say "-- apply --confirm 3 B, then sekisho confirm: B stays"
apply_ok "$B" --confirm 3
if out=$(sk confirm 2>&1); then ok "sekisho confirm succeeded"; else fail "sekisho confirm failed: $out"; fi
sleep 5
table_of box >"$T/kept.nft"
same_text "B still runs 5 s after the confirm (deadline was 3 s)" "$T/b.nft" "$T/kept.nft"
try46 pass tcp joho.10 inet.100 8080 "confirmed B: 情報系 -> internet tcp/8080"
run_tries

netns_finish

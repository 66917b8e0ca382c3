#!/bin/bash
# rollback: apply A, apply B (a modified copy), `sekisho rollback` -> the
# running table is A's again, and traffic follows A; `rollback 2` after A, B,
# C goes back to A.
# shellcheck source=tests/netns/lib.sh
. "$(dirname "$0")/lib.sh"
netns_init rollback "$@"

A=$NETNS_TOP/rules
B=$T/rules-b
C=$T/rules-c
copy_rules "$B"
sed -i -E 's|^allow joho -> internet tcp/80,443 |allow joho -> internet tcp/80,443,8080 |' "$B/joho.rules"
grep -q 'tcp/80,443,8080' "$B/joho.rules" || fatal "could not edit rules B"
copy_rules "$C"
sed -i -E '/^screen joho -> lgwan/d' "$C/lgwan.rules"
grep -q '^screen' "$C/lgwan.rules" && fatal "could not edit rules C"

apply_ok "$A"
table_of box >"$T/a.nft"
apply_ok "$B"
table_of box >"$T/b.nft"
if cmp -s "$T/a.nft" "$T/b.nft"; then fail "tables of A and B are the same (B's change did not show)"; else ok "B's table differs from A's"; fi
try46 pass tcp joho.10 inet.100 8080 "B: 情報系 -> internet tcp/8080"
run_tries

say "-- rollback"
if out=$(sk rollback 2>&1); then ok "sekisho rollback succeeded"; else fail "sekisho rollback failed: $out"; fi
table_of box >"$T/r.nft"
same_text "after rollback the table equals A's" "$T/a.nft" "$T/r.nft"
try46 drop tcp joho.10 inet.100 8080 "after rollback: 情報系 -> internet tcp/8080 (only in B)"
try46 pass tcp joho.10 inet.100 443 "after rollback: 情報系 -> internet https"
run_tries

say "-- rollback 2 after A, B, C"
STATE=$T/state2
mkdir -p "$STATE"
apply_ok "$A"
apply_ok "$B"
apply_ok "$C"
table_of box >"$T/c.nft"
if cmp -s "$T/c.nft" "$T/a.nft"; then fail "tables of A and C are the same"; else ok "C's table differs from A's"; fi
if out=$(sk rollback 2 2>&1); then ok "sekisho rollback 2 succeeded"; else fail "sekisho rollback 2 failed: $out"; fi
table_of box >"$T/r2.nft"
same_text "after rollback 2 the table equals A's" "$T/a.nft" "$T/r2.nft"
try46 pass tcp joho.10 lgwan.50 3389 "after rollback 2: screen 情報系 -> vdi-lgwan (not in C)"
run_tries

say "-- rollback past the oldest version fails and changes nothing"
rc=0
sk rollback 50 >"$T/rb50.out" 2>&1 || rc=$?
table_of box >"$T/r50.nft"
if [ $rc -ne 0 ]; then ok "rollback 50 exits $rc"; else fail "rollback 50 (no such version) exited 0"; fi
same_text "the table is unchanged after the impossible rollback" "$T/r2.nft" "$T/r50.nft"

netns_finish

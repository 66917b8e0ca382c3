#!/bin/bash
# other_tables_untouched: sekisho owns table inet sekisho only; another table
# in the box (with a chain, a set and a rule) survives apply, a refused apply,
# a second apply and rollback, unchanged.
# shellcheck source=tests/netns/lib.sh
. "$(dirname "$0")/lib.sh"
netns_init others "$@"

nsx box nft -f - <<'NFT' || fatal "could not create the other tables"
table inet other {
	set admins {
		type ipv4_addr
		elements = { 192.0.2.1, 192.0.2.2 }
	}
	chain watch {
		type filter hook input priority 10; policy accept;
		ip saddr @admins counter
	}
}
table ip legacy {
	chain keep {
		counter
	}
}
NFT
other() {
	{ nsx box nft list table inet other; nsx box nft list table ip legacy; } 2>&1 | nft_norm
}
other >"$T/other.before"
grep -q 'chain watch' "$T/other.before" || fatal "the other table is not there: $(cat "$T/other.before")"

B=$T/rules-b
copy_rules "$B"
sed -i -E 's|^allow joho -> internet tcp/80,443 |allow joho -> internet tcp/80,443,8080 |' "$B/joho.rules"
grep -q 'tcp/80,443,8080' "$B/joho.rules" || fatal "could not edit rules B"
BAD=$T/rules-bad
copy_rules "$BAD"
echo 'allow shirei -> internet tcp/443 from dispatch' >>"$BAD/shirei.rules"

apply_ok "$NETNS_TOP/rules"
other >"$T/other.1"
same_text "the other tables are unchanged after apply" "$T/other.before" "$T/other.1"

if sk apply "$BAD" >"$T/bad.out" 2>&1; then fail "apply of rules that fail check succeeded"; fi
other >"$T/other.2"
same_text "the other tables are unchanged after a refused apply" "$T/other.before" "$T/other.2"

apply_ok "$B"
other >"$T/other.3"
same_text "the other tables are unchanged after a second apply" "$T/other.before" "$T/other.3"

if out=$(sk rollback 2>&1); then ok "sekisho rollback succeeded"; else fail "sekisho rollback failed: $out"; fi
other >"$T/other.4"
same_text "the other tables are unchanged after rollback" "$T/other.before" "$T/other.4"

nsx box nft list tables >"$T/tables"
if [ "$(sort "$T/tables")" = "$(printf '%s\n' 'table inet other' 'table inet sekisho' 'table ip legacy' | sort)" ]; then
	ok "the box has exactly the tables inet other, ip legacy and inet sekisho"
else
	fail "unexpected tables in the box: $(tr '\n' ',' <"$T/tables")"
fi

netns_finish

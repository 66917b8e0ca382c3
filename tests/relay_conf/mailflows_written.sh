#!/bin/bash
# mailflows_written: `sekisho apply` writes <state>/mailflows (the same text
# as `show --mailflows`), a second apply with one mail flow removed rewrites
# it, `rollback` restores the first version's flows, a re-apply of the
# running rules rewrites it, the revert of an unconfirmed `apply --confirm`
# restores the previous flows, and the revert of an unconfirmed first apply
# (the table is deleted) leaves a file without flows.  Runs in the box namespace of a fresh topology
# (tests/netns/lib.sh), state under $T.
# shellcheck source=tests/netns/lib.sh
. "$(dirname "$0")/../netns/lib.sh"
netns_init mailflows "$@"

A=$T/rules-a
B=$T/rules-b
copy_rules "$A"
copy_rules "$B"
sed -i -E '/^mail lgwan -> joho/d' "$B/lgwan.rules"
grep -q '^mail' "$B/lgwan.rules" && fatal "could not edit rules B"

has_lines() { # has_lines WHAT N: $STATE/mailflows has N mailflow lines
	local n
	n=$(grep -c '^mailflow ' "$STATE/mailflows" 2>/dev/null || true)
	if [ "$n" = "$2" ]; then ok "$1: $n mail flow lines"; else fail "$1: $n mail flow lines, want $2"; fi
}

[ -e "$STATE/mailflows" ] && fail "mailflows exists before any apply"
chmod 700 "$STATE" # as state_open creates it
apply_ok "$A"
has_lines "after apply A" 4
"$SEKISHO" show --mailflows "$A" >"$T/a.flows" || fail "show --mailflows A failed"
same_text "the written file is show --mailflows of A" "$T/a.flows" "$STATE/mailflows"
perm=$(stat -c %a "$STATE/mailflows")
if [ "$perm" = 644 ]; then ok "mode 644 (the relay reads it unprivileged)"; else fail "mode $perm"; fi
perm=$(stat -c %a "$STATE")
if [ "$perm" = 711 ]; then ok "state directory 711 (searchable, not listable)"; else fail "state directory mode $perm"; fi

apply_ok "$B"
has_lines "after apply B (lgwan -> joho mail removed)" 2
if grep -q '^mailflow lgwan joho' "$STATE/mailflows"; then
	fail "B still declares lgwan -> joho"
else ok "B declares no lgwan -> joho flow"; fi

if out=$(sk rollback 2>&1); then ok "sekisho rollback succeeded"; else fail "sekisho rollback failed: $out"; fi
has_lines "after rollback to A" 4
grep -v '^#' "$T/a.flows" >"$T/a.body"
grep -v '^#' "$STATE/mailflows" >"$T/r.body"
same_text "rollback restores A's flows" "$T/a.body" "$T/r.body"

# an unchanged re-apply rewrites the same text (and repairs a damaged file)
echo garbage >"$STATE/mailflows"
apply_ok "$A"
same_text "re-applying A restores the file" "$T/a.flows" "$STATE/mailflows"
[ -z "$(find "$STATE" -maxdepth 1 -name 'mailflows.tmp-*')" ] && ok "no temporary files left" ||
	fail "temporary files left in $STATE"

# wait_lines N: until $STATE/mailflows has N mailflow lines (the confirm
# waiter acts after its deadline; bounded at 15 s)
wait_lines() {
	local i
	for i in $(seq 150); do
		[ "$(grep -c '^mailflow ' "$STATE/mailflows" 2>/dev/null || true)" = "$1" ] && return 0
		sleep 0.1
	done
	return 1
}

say "-- apply --confirm 1 B over A, no confirm: A's flows come back"
STATE=$T/state-confirm
mkdir -p "$STATE"
apply_ok "$A"
apply_ok "$B" --confirm 1
has_lines "right after apply --confirm 1 B" 2
if wait_lines 4; then ok "the revert to A rewrote the flows (4 lines)"; else fail "no revert of the flows"; fi
grep -v '^#' "$STATE/mailflows" >"$T/c.body"
same_text "after the revert the flows are A's" "$T/a.body" "$T/c.body"

say "-- apply --confirm 1 as the first apply, no confirm: the table goes, so do the flows"
STATE=$T/state-first
mkdir -p "$STATE"
apply_ok "$A" --confirm 1
has_lines "right after the first apply --confirm 1" 4
if wait_lines 0; then ok "the revert left no flows"; else fail "flows still declared after the table was deleted"; fi
if [ -z "$(table_of box)" ]; then ok "the table is gone"; else fail "the table is still there"; fi

netns_finish

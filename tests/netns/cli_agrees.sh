#!/bin/bash
# cli_agrees: what `sekisho apply` puts in the kernel (through libnftnl) is
# what the nft CLI builds from `sekisho show`: `nft list table inet sekisho`
# after apply equals the listing after `sekisho show | nft -f -` in a second,
# empty box namespace (counters and handles normalised).
# shellcheck source=tests/netns/lib.sh
. "$(dirname "$0")/lib.sh"
netns_init cliagree "$@"

apply_ok "$NETNS_TOP/rules"
table_of box >"$T/applied.nft"
if grep -q 'chain forward' "$T/applied.nft"; then
	ok "the applied table has a forward chain ($(wc -l <"$T/applied.nft") lines)"
else
	fail "the applied table has no forward chain: $(head -c 400 "$T/applied.nft")"
fi

say "-- sekisho show | nft -f - in a second namespace"
extra_ns box2
if sk show "$NETNS_TOP/rules" >"$T/show.nft" 2>"$T/show.err"; then
	ok "sekisho show succeeded ($(wc -l <"$T/show.nft") lines)"
else
	fail "sekisho show failed: $(cat "$T/show.err")"
fi
sk show "$NETNS_TOP/rules" >"$T/show2.nft" 2>/dev/null || true
same_text "sekisho show prints the same text twice" "$T/show.nft" "$T/show2.nft"
if ip netns exec "${P}box2" nft -f "$T/show.nft" 2>"$T/nft.err"; then
	ok "nft -f accepts the output of sekisho show"
else
	fail "nft -f rejects the output of sekisho show: $(head -n 10 "$T/nft.err")"
fi
table_of box2 >"$T/cli.nft"
same_text "nft list after sekisho apply equals nft list after sekisho show | nft -f -" \
	"$T/cli.nft" "$T/applied.nft"

netns_finish

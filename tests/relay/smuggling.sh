#!/bin/bash
# smuggling: SMTP smuggling through the transparent path.  For every
# malformed end-of-data sequence of the issue, a raw client (smtpraw.py)
# sends a message whose body holds the sequence followed by a pipelined
# second transaction (MAIL FROM / RCPT TO / DATA / SMUGGLED-CONTENT / .),
# then the real CRLF.CRLF.  The next hop is a real Postfix that is itself
# vulnerable (smtpd_forbid_bare_newline = no: it ends DATA at a bare-LF
# dot) - shown first by sending one attempt to it directly, which it splits
# into two messages.  Through the box: relayd refuses every attempt (no
# 250), the Maildir never receives a second message and never the smuggled
# content; a clean message afterwards arrives (the check can see mail).
# shellcheck source=tests/relay/lib.sh
. "$(dirname "$0")/lib.sh"
relay_init smuggle "$@"

relay_conf
relayd_start
pf_start lgwan lgwan "mail-lgwan.$LDOM" "$L4,$L6" -m "$LDOM" -o "smtpd_forbid_bare_newline = no"

RAW=$RELAY_TOP/tests/relay/smtpraw.py
# shellcheck disable=SC2046 # Maildir file names have no spaces
smuggled_count() { grep -l 'SMUGGLED-CONTENT' $(maildir_files lgwan) /dev/null 2>/dev/null | wc -l; }

say "-- the receiving Postfix alone is vulnerable (direct, not through the box)"
nsx lgwan python3 "$RAW" smuggle "$L4" 25 198.18.3.99 '\n.\n' "sato@$LDOM" >"$T/direct.out" 2>&1 || true
if wait_until 30 eval '[ "$(maildir_count lgwan)" -ge 2 ]'; then
	ok "direct: Postfix split the attempt into $(maildir_count lgwan) messages"
else
	fail "direct: Postfix did not split the attempt (maildir: $(maildir_count lgwan)); the test could not see smuggling"
fi
check "direct: the smuggled content arrived (the receiver is vulnerable)" test "$(smuggled_count)" -ge 1
base=$(maildir_count lgwan)
base_smuggled=$(smuggled_count)

say "-- every malformed end-of-data sequence, through the box"
i=0
for seq in '\n.\n' '\r.\r' '\r.\n' '\n.\r' '\n.\r\n' '\r\n.\n' '\r.\r\n' '\r\n.\r' '\r\n\x00.\r\n'; do
	i=$((i + 1))
	for fam in 4 6; do
		if [ $fam = 4 ]; then dst=$L4 src=$J4; else dst=$L6 src=$J6; fi
		nsx joho python3 "$RAW" smuggle "$dst" 25 "$src" "$seq" "sato@$LDOM" >"$T/smuggle-$i-$fam.out" 2>&1 || true
		# The reply to the real end-of-data: the first reply after the payload.
		reply=$(awk '/^END-OF-DATA-REPLY/ { print $2 }' "$T/smuggle-$i-$fam.out")
		if [ "${reply:0:1}" = 2 ]; then
			fail "$seq (IPv$fam): relayd answered $reply"
		else
			ok "$seq (IPv$fam): not accepted (reply ${reply:-none})"
		fi
		if grep -q '^<- 354' "$T/smuggle-$i-$fam.out" && [ "$(grep -c '^<- 354' "$T/smuggle-$i-$fam.out")" -gt 1 ]; then
			fail "$seq (IPv$fam): relayd answered DATA twice (the smuggled DATA was taken as a command)"
		fi
	done
done
# Let anything that was (wrongly) forwarded reach the Maildir.
pf_queue_empty_wait() { wait_until 20 pf_queue_empty lgwan || true; }
pf_queue_empty_wait
check "no second message arrived through the box (Maildir still $base)" test "$(maildir_count lgwan)" = "$base"
check "the smuggled content never arrived through the box" test "$(smuggled_count)" = "$base_smuggled"
# shellcheck disable=SC2046
check "nothing of the attempts was forwarded: FIRST-MESSAGE-BODY arrived once (the direct attempt)" \
	test "$(grep -l FIRST-MESSAGE-BODY $(maildir_files lgwan) | wc -l)" = 1

say "-- a clean message through the box still arrives"
gen plain clean
raw_send joho "$L4" "$J4" "$T/msg-clean.eml" "sato@$LDOM"
check "clean message: 250" test "$(raw_data_code)" = 250
check "clean message arrived" wait_until 30 eval '[ "$(maildir_count lgwan)" = $((base + 1)) ]'

check "the relay is still running" relayd_alive
relay_finish

#!/bin/bash
# postfix_to_postfix: real Postfix -> box (transparent redirect, relayd) ->
# real Postfix.  The sending Postfix knows only the receiver's address
# (relayhost = [198.18.3.25]); the box's `mail` rule redirects the
# connection to sekisho-relayd, which sanitises, quarantines the original
# and delivers to the original destination.  Checks, for 情報系 ->
# LGWAN接続系 over IPv4 and IPv6 and for LGWAN接続系 -> 情報系:
#   - HTML + Japanese (ISO-2022-JP text, UTF-8 HTML and subject) + two
#     attachments arrives as one text/plain part, the notice lists every
#     removed part, no attachment byte arrives;
#   - an HTML-only message arrives as its text;
#   - an EICAR attachment is withheld: the notice alone arrives;
#   - the quarantine holds every original (body byte-identical to what was
#     sent), `sekisho quarantine list` shows it, `export` gives its bytes;
#   - the sender's log shows relayd's 250 with the quarantine id (the mail
#     went through the relay, not around it), the receiver saw the box's
#     address as its client.
# shellcheck source=tests/relay/lib.sh
. "$(dirname "$0")/lib.sh"
relay_init p2p "$@"

relay_conf
relayd_start
pf_start joho joho mail-joho.$JDOM "$J4,$J6" -m "$JDOM" -r "[$L4]"
pf_start lgwan lgwan mail-lgwan.$LDOM "$L4,$L6" -m "$LDOM" -r "[$J4]"

# send_via PF_NAME NS ADDR ID KIND TO [mail.py gen options]: inject into a Postfix
send_via() {
	local ns=$1 addr=$2 id=$3 kind=$4 to=$5
	shift 5
	gen "$kind" "$id" "$@"
	swaks_to "$ns" "$addr" --from "yamada@$JDOM" --to "$to" --data "@$T/msg-$id.eml"
	if [ "$(last_code)" = 221 ] && grep -q '^<- *250 .*queued as' "$T/swaks.last"; then
		ok "$id: the $ns Postfix queued it"
	else
		fail "$id: the $ns Postfix did not queue it: $(tail -n 3 "$T/swaks.last")"
	fi
}

# arrived PF_NAME ID: wait (bounded) until <ID> is in PF_NAME's Maildir; the file
arrived() {
	local f
	# shellcheck disable=SC2046
	wait_until 90 eval "file_with_id $2 \$(maildir_files $1) >/dev/null" || return 1
	# shellcheck disable=SC2046
	file_with_id "$2" $(maildir_files "$1")
}

# sent_through_relay PF_NAME ID: the sender's log has status=sent with
# relayd's answer (its quarantine id) for this message.
sent_through_relay() {
	local qid
	qid=$(awk -v id="$2" '/message-id=/ && index($0, "<" id "@") { sub(/:$/, "", $6); print $6 }' "$T/pf-$1/maillog" | head -n 1)
	[ -n "$qid" ] && grep "$qid: to=" "$T/pf-$1/maillog" | grep 'status=sent' | grep -qi 'quarantine'
}

round() { # round DIRECTION-LABEL SENDER-NAME SENDER-NS SENDER-ADDR RCVR-NAME TO
	local label=$1 sname=$2 sns=$3 saddr=$4 rname=$5 to=$6 id f
	say "-- $label"
	send_via "$sns" "$saddr" "$label-mixed" mixed "$to"
	send_via "$sns" "$saddr" "$label-html" html "$to" --subject "html only"
	send_via "$sns" "$saddr" "$label-eicar" eicar "$to" --subject "eicar attached"
	for id in "$label-mixed" "$label-html" "$label-eicar"; do
		if f=$(arrived "$rname" "$id"); then
			ok "$id arrived in the $rname Maildir"
			cp "$f" "$T/arrived-$id.eml"
			case $id in
			*-mixed) mail_check sanitized "$f" "$id" "$id: one text/plain part, Japanese kept, notice lists the removed parts, no attachment bytes" ;;
			*-html) mail_check html "$f" "$id" "$id: the HTML arrived as its text" ;;
			*-eicar) mail_check withheld "$f" "$id" "$id: withheld, the notice alone arrived" ;;
			esac
			check "$id: the sender's log shows relayd's 250 with a quarantine id" sent_through_relay "$sname" "$id"
			check_quarantined "$id"
		else
			fail "$id did not arrive in the $rname Maildir (sender log: $(grep -i 'status=' "$T/pf-$sname/maillog" | tail -n 1))"
		fi
	done
}

round j2l-v4 joho joho "$J4" lgwan "sato@$LDOM"
check "LGWAN接続系 Postfix saw the box (198.18.3.1) as its client, never mail-joho" \
	eval "grep -q 'connect from [^ ]*\[198.18.3.1\]' '$T/pf-lgwan/maillog' && ! grep -q 'connect from [^ ]*\[198.18.2.25\]' '$T/pf-lgwan/maillog'"

say "-- the 情報系 Postfix now sends over IPv6 (relayhost = [ipv6:$L6])"
postconf -c "$T/pf-joho/etc" -e "relayhost = [ipv6:$L6]" "smtp_address_preference = ipv6"
nsx joho postfix -c "$T/pf-joho/etc" reload >/dev/null 2>&1 || fatal "postfix reload failed"
round j2l-v6 joho joho "$J4" lgwan "sato@$LDOM"
check "LGWAN接続系 Postfix saw the box over IPv6 (2001:2:0:3::1)" \
	grep -q 'connect from [^ ]*\[2001:2:0:3::1\]' "$T/pf-lgwan/maillog"

round l2j lgwan lgwan "$L4" joho "suzuki@$JDOM"
check "情報系 Postfix saw the box (198.18.2.1) as its client" \
	grep -q 'connect from [^ ]*\[198.18.2.1\]' "$T/pf-joho/maillog"

check "the relay is still running" relayd_alive
relay_finish

#!/bin/bash
# kill9: sekisho-relayd is killed with SIGKILL in the middle of a
# transaction; the sending Postfix (情報系) keeps the message, retries once
# relayd runs again, and the message arrives at least once - never lost.
#   1. mid-DATA: the 情報系 link is slowed (tc tbf, 4 Mbit/s) and a 3 MB
#      message sent; relayd is killed once it has read 500 KB of content
#      (the box's socket counters say so), the link is restored, relayd
#      restarted; the LGWAN接続系 Postfix's Maildir gets the message.
#   2. right after end-of-data: the next hop (smtp-sink at mail-lgwan's
#      address) holds its reply to the final dot for 60 s; relayd is killed
#      once the sink has the whole message (so relayd sent it and waits for
#      the reply); the slow sink is replaced by a prompt one, relayd
#      restarted; the prompt sink gets the message from the sender's retry.
# In both, the sender's log shows the deferral (it did not get 250) and then
# status=sent.
# shellcheck source=tests/relay/lib.sh
. "$(dirname "$0")/lib.sh"
relay_init kill9 "$@"

relay_conf
relayd_start
pf_start joho joho "mail-joho.$JDOM" "$J4,$J6" -m "$JDOM" -r "[$L4]"

# Postfix queue id of message ID in the sender's log, and its outcomes.
pf_qid() { awk -v id="$2" '/message-id=/ && index($0, "<" id "@") { sub(/:$/, "", $6); print $6 }' "$T/pf-$1/maillog" | head -n 1; }
pf_status() { # NAME ID STATUS: the log has status=STATUS for it
	local q
	q=$(pf_qid "$1" "$2")
	[ -n "$q" ] && grep "$q: to=" "$T/pf-$1/maillog" | grep -q "status=$3"
}
relay_bytes_in() { # bytes relayd has read on its client connections
	nsx box ss -Hti state established "( sport = :$RELAY_PORT )" |
		grep -o 'bytes_received:[0-9]*' | cut -d: -f2 | sort -n | tail -n 1
}
big_enough() { local b; b=$(relay_bytes_in); [ -n "$b" ] && [ "$b" -ge 500000 ]; }

say "-- 1. SIGKILL in the middle of DATA"
pf_start lgwan lgwan "mail-lgwan.$LDOM" "$L4,$L6" -m "$LDOM"
gen plain big --subject "big message" --header "X-Pad: 1"
# A 3 MB base64 attachment in a text message: append it as a part.
python3 - "$T/msg-big.eml" <<'EOF'
import base64, os, sys
from email import message_from_bytes, policy
from email.mime.multipart import MIMEMultipart
from email.mime.application import MIMEApplication
from email.mime.text import MIMEText
p = sys.argv[1]
old = message_from_bytes(open(p, "rb").read())
m = MIMEMultipart("mixed")
for k, v in old.items():
    if k.lower() not in ("content-type", "mime-version", "content-transfer-encoding"):
        m[k] = v
m.attach(MIMEText("big message body\n", "plain", "us-ascii"))
a = MIMEApplication(os.urandom(3 * 1024 * 1024), "octet-stream")
a.add_header("Content-Disposition", "attachment", filename="big.bin")
m.attach(a)
open(p, "wb").write(m.as_bytes(policy=policy.SMTP).replace(b"\r\n", b"\n"))
EOF
nsx joho tc qdisc add dev eth0 root tbf rate 4mbit burst 32kb latency 2000ms
swaks_to joho "$J4" --from "yamada@$JDOM" --to "sato@$LDOM" --data "@$T/msg-big.eml"
grep -q '^<- *250 .*queued as' "$T/swaks.last" || fatal "the 情報系 Postfix did not queue the big message"
if wait_until 60 big_enough; then
	ok "relayd has read $(relay_bytes_in) bytes of the 3 MB message"
else
	fatal "relayd never read 500 KB of the message (read: $(relay_bytes_in))"
fi
relayd_kill9
ok "relayd killed with SIGKILL in mid-DATA"
nsx joho tc qdisc del dev eth0 root
check "the sender deferred the message (no 250 from the killed relay)" wait_until 30 pf_status joho big deferred
check "nothing arrived while relayd was down" test "$(maildir_count lgwan)" = 0
relayd_start
# shellcheck disable=SC2046
if wait_until 90 eval 'file_with_id big $(maildir_files lgwan) >/dev/null'; then
	ok "after the restart the sender's retry delivered it ($(maildir_count lgwan) cop$([ "$(maildir_count lgwan)" = 1 ] && echo y || echo ies))"
else
	fail "the message never arrived after the restart (sender: $(grep status= "$T/pf-joho/maillog" | tail -n 1))"
fi
check "the sender's log says status=sent" wait_until 20 pf_status joho big sent
pf_stop lgwan

say "-- 2. SIGKILL right after end-of-data, before the next hop answers"
sink_start slow lgwan "$L4" -W .:60
slow_pid=$SINK_PID
gen plain eod --subject "killed after end-of-data"
swaks_to joho "$J4" --from "yamada@$JDOM" --to "sato@$LDOM" --data "@$T/msg-eod.eml"
grep -q '^<- *250 .*queued as' "$T/swaks.last" || fatal "the 情報系 Postfix did not queue the message"
sink_has_all() { # the sink has the message up to its last line
	local f
	# shellcheck disable=SC2046
	f=$(file_with_id eod $(sink_files slow)) && grep -q '^Second line\.' "$f"
}
if wait_until 60 sink_has_all; then
	ok "the slow sink has the whole sanitised message; its reply is held back"
else
	fatal "the message never reached the slow sink"
fi
check "the original is already quarantined" eval "file_with_id eod \$(quarantine_files) >/dev/null"
relayd_kill9
ok "relayd killed with SIGKILL after end-of-data"
check "the sender deferred the message" wait_until 30 pf_status joho eod deferred
sink_stop "$slow_pid"
sink_start prompt lgwan "$L4"
relayd_start
# shellcheck disable=SC2046
if wait_until 90 eval 'file_with_id eod $(sink_files prompt) >/dev/null'; then
	ok "after the restart the sender's retry delivered it to the next hop"
else
	fail "the message never arrived after the restart (sender: $(grep status= "$T/pf-joho/maillog" | tail -n 1))"
fi
check "the sender's log says status=sent" wait_until 20 pf_status joho eod sent
check "the sender's queue is empty" wait_until 20 pf_queue_empty joho

relay_finish

#!/bin/bash
# starttls: STARTTLS on both legs, certificates made at test time with the
# openssl CLI (a CA, a certificate for the box and one for mail-lgwan with
# its addresses as subjectAltName).
#   - relayd offers STARTTLS (tls_cert_file / tls_key_file, key mode 0600);
#     the 情報系 Postfix requires it (smtp_tls_security_level = encrypt);
#   - relayd requires and verifies TLS to the LGWAN接続系 Postfix
#     (transparent_tls = verify, tls_ca_file = the CA);
#   - the mail arrives; the sender's log shows TLS to "198.18.3.25" (the
#     relay), the receiver's log TLS from the box, its Received header
#     "using TLS";
#   - with a CA that did not sign the receiver's certificate, verification
#     fails: the sender gets no 250 (deferred) and nothing arrives; with the
#     right CA again, the queued message arrives;
#   - a group- or world-readable key makes `sekisho-relayd -n` fail.
# shellcheck source=tests/relay/lib.sh
. "$(dirname "$0")/lib.sh"
relay_init tls "$@"

say "-- certificates (openssl, at test time)"
C=$T/certs
mkdir -p "$C"
ossl() { openssl "$@" >>"$T/openssl.log" 2>&1 || fatal "openssl $1 failed: $(tail -n 3 "$T/openssl.log")"; }
mkca() { # NAME
	ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
		-subj "/CN=sekisho test CA $1" -keyout "$C/$1.key" -out "$C/$1.crt" \
		-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
}
mkcert() { # NAME CN SAN
	ossl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$2" \
		-keyout "$C/$1.key" -out "$C/$1.csr"
	printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\n' "$3" >"$C/$1.ext"
	ossl x509 -req -in "$C/$1.csr" -CA "$C/ca.crt" -CAkey "$C/ca.key" -CAcreateserial -days 2 \
		-extfile "$C/$1.ext" -out "$C/$1.crt"
}
mkca ca
mkca otherca
mkcert box box.sekisho.test "DNS:box.sekisho.test,IP:198.18.2.1,IP:198.18.3.1"
mkcert lgwan "mail-lgwan.$LDOM" "DNS:mail-lgwan.$LDOM,IP:$L4,IP:$L6"
chmod 600 "$C"/*.key
chmod 644 "$C"/*.crt
chmod 755 "$C"
check "mail-lgwan's certificate verifies against the CA" eval "openssl verify -CAfile '$C/ca.crt' '$C/lgwan.crt' >/dev/null"

TLSCONF=("tls_cert_file = $C/box.crt" "tls_key_file = $C/box.key" "transparent_tls = verify")

say "-- a group- or world-readable key is refused by sekisho-relayd -n"
cp "$C/box.key" "$C/box-g.key"
cp "$C/box.key" "$C/box-o.key"
chmod 640 "$C/box-g.key"
chmod 604 "$C/box-o.key"
for k in box-g box-o; do
	relay_conf "tls_cert_file = $C/box.crt" "tls_key_file = $C/$k.key" "transparent_tls = verify" "tls_ca_file = $C/ca.crt"
	if "$RELAYD" -n -c "$T/relayd.conf" >"$T/n.out" 2>&1; then
		fail "sekisho-relayd -n accepted a key of mode $(stat -c %a "$C/$k.key")"
	else
		ok "sekisho-relayd -n refuses a key of mode $(stat -c %a "$C/$k.key"): $(grep -i key "$T/n.out" | head -n 1)"
	fi
done
relay_conf "${TLSCONF[@]}" "tls_ca_file = $C/ca.crt"
if "$RELAYD" -n -c "$T/relayd.conf" >"$T/n.out" 2>&1; then
	ok "sekisho-relayd -n accepts the key of mode 600"
else
	fail "sekisho-relayd -n refuses the 0600 key: $(cat "$T/n.out")"
fi

say "-- STARTTLS on both legs"
relayd_start
pf_start joho joho "mail-joho.$JDOM" "$J4,$J6" -m "$JDOM" -r "[$L4]" \
	-o "smtp_tls_security_level = encrypt" -o "smtp_tls_loglevel = 1"
pf_start lgwan lgwan "mail-lgwan.$LDOM" "$L4,$L6" -m "$LDOM" \
	-o "smtpd_tls_cert_file = $C/lgwan.crt" -o "smtpd_tls_key_file = $C/lgwan.key" \
	-o "smtpd_tls_security_level = may" -o "smtpd_tls_loglevel = 1" \
	-o "smtpd_tls_received_header = yes"

send() { # ID
	gen mixed "$1"
	swaks_to joho "$J4" --from "yamada@$JDOM" --to "sato@$LDOM" --data "@$T/msg-$1.eml"
	grep -q '^<- *250 .*queued as' "$T/swaks.last" || fail "the 情報系 Postfix did not queue $1"
}
arrived() { eval "file_with_id $1 \$(maildir_files lgwan) >/dev/null"; }

send tls1
if wait_until 60 arrived tls1; then
	ok "the message arrived over TLS on both legs"
	# shellcheck disable=SC2046
	f=$(file_with_id tls1 $(maildir_files lgwan))
	mail_check sanitized "$f" tls1 "it arrived sanitised"
	check "its Received header (receiver) says TLS, from the box" \
		eval "python3 - '$f' <<'EOF'
import email, sys
m = email.message_from_bytes(open(sys.argv[1], 'rb').read())
r = [h for h in m.get_all('Received', []) if '198.18.3.1' in h]
sys.exit(0 if r and 'using TLS' in r[0] else 1)
EOF"
else
	fail "the message did not arrive (sender: $(grep -E 'status=|TLS' "$T/pf-joho/maillog" | tail -n 2 | tr '\n' ' '))"
fi
check "sender log: TLS connection established to 198.18.3.25 (the relay answering for it)" \
	grep -q 'TLS connection established to [^ ]*198.18.3.25' "$T/pf-joho/maillog"
check "receiver log: TLS connection established from the box (198.18.3.1)" \
	grep -q 'TLS connection established from [^ ]*\[198.18.3.1\]' "$T/pf-lgwan/maillog"

say "-- verification against a CA that did not sign the receiver's certificate"
relayd_stop
relay_conf "${TLSCONF[@]}" "tls_ca_file = $C/otherca.crt"
relayd_start
send tls2
check "the sender was deferred (no 250 without verified TLS)" \
	wait_until 60 eval 'grep -q "status=deferred" "$T/pf-joho/maillog"'
check "the message did not arrive" eval '! arrived tls2'
relayd_stop
relay_conf "${TLSCONF[@]}" "tls_ca_file = $C/ca.crt"
relayd_start
check "with the right CA the queued message arrives" wait_until 90 arrived tls2

check "the relay is still running" relayd_alive
relay_finish

#!/usr/bin/env python3
"""mail.py - messages for the relay tests, and checks of what arrived.

  mail.py gen KIND OUT [--subject S] [--id MSGID-LOCALPART]
                       [--header "Name: value"]... [--eicar FILE]
        KIND mixed: multipart/alternative (ISO-2022-JP text, UTF-8 HTML), a
             binary attachment (report.bin), a PDF named 資料.pdf; UTF-8
             Japanese subject
        KIND html: HTML only (UTF-8 Japanese, a script, an image)
        KIND eicar: a short text + FILE (the EICAR sample) attached as
             eicar.com
        KIND plain: one US-ASCII text/plain part
     OUT gets LF line ends (swaks sends CRLF).
  mail.py check-sanitized FILE ORIGINAL    the mixed message, sanitised
  mail.py check-html FILE ORIGINAL         the html message, flattened
  mail.py check-withheld FILE ORIGINAL     the eicar message, withheld
  mail.py check-plain FILE ORIGINAL        the plain message's text arrived
  mail.py body-equal QUARANTINED ORIGINAL  the quarantined message holds the
        original's header fields and its body byte for byte (CRLF and LF
        compared alike; the relay and MTAs in front may add header fields)
  mail.py strip-sink FILE                  an smtp-sink dump without its
        X-Client-* / X-Helo-Args / X-Mail-Args / X-Rcpt-Args lines

Each check prints what it found wrong and exits 1, or exits 0.
"""
import base64
import email
import email.policy
import hashlib
import sys
from email.header import Header
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

# Distinctive bytes that must never reach the recipient.
ATTACH_MARK = b"SEKISHO-ATTACHMENT-BYTES-7f3a9c"
JA_ISO = "お世話になっております。会議の資料を送ります。"
JA_UTF8 = "無害化のテストです。よろしくお願いいたします。"
HTML_SECRET_URL = "https://tracker.example.com/pixel.gif"


JA_SUBJECT = "会議資料の送付（無害化テスト）"


def html_text():
    return ('<html><body><p style="color:red">' + JA_UTF8 + "</p>"
            '<img src="' + HTML_SECRET_URL + '">'
            "<script>alert(1)</script></body></html>\n")


def attachment_bytes():
    return bytes(range(256)) * 8 + ATTACH_MARK * 40


def gen(kind, subject, headers, eicar, msgid):
    if kind == "plain":
        m = MIMEText("This is a plain test message.\nSecond line.\n", "plain", "us-ascii")
    elif kind == "mixed":
        m = MIMEMultipart("mixed")
        alt = MIMEMultipart("alternative")
        alt.attach(MIMEText(JA_ISO + "\n", "plain", "iso-2022-jp"))
        alt.attach(MIMEText(html_text(), "html", "utf-8"))
        m.attach(alt)
        a = MIMEApplication(attachment_bytes(), "octet-stream")
        a.add_header("Content-Disposition", "attachment", filename="report.bin")
        m.attach(a)
        pdf = MIMEApplication(b"%PDF-1.4\n1 0 obj << >> endobj\n" + ATTACH_MARK + b"\n%%EOF\n", "pdf")
        pdf.add_header("Content-Disposition", "attachment", filename="資料.pdf")
        m.attach(pdf)
        subject = subject or JA_SUBJECT
    elif kind == "html":
        m = MIMEText(html_text(), "html", "utf-8")
    elif kind == "eicar":
        m = MIMEMultipart("mixed")
        m.attach(MIMEText("EICAR test attached.\n", "plain", "us-ascii"))
        with open(eicar, "rb") as f:
            a = MIMEApplication(f.read(), "octet-stream")
        a.add_header("Content-Disposition", "attachment", filename="eicar.com")
        m.attach(a)
    else:
        sys.exit("unknown kind " + kind)
    m["From"] = "Yamada Taro <yamada@joho.example.jp>"
    m["To"] = "Sato Hanako <sato@lgwan.example.jp>"
    subject = subject or ("sekisho relay test " + kind)
    if not subject.isascii():
        subject = Header(subject, "utf-8").encode()
    m["Subject"] = subject
    m["Date"] = "Sun, 22 Nov 2026 10:00:00 +0900"
    m["Message-ID"] = "<%s@joho.example.jp>" % (msgid or kind)
    for h in headers:
        k, v = h.split(":", 1)
        m[k.strip()] = v.strip()
    data = m.as_bytes(policy=email.policy.SMTP).replace(b"\r\n", b"\n")
    return data


def parse(path):
    with open(path, "rb") as f:
        raw = f.read()
    return raw, email.message_from_bytes(raw, policy=email.policy.default)


class Checker:
    def __init__(self):
        self.errors = []

    def want(self, cond, what):
        if not cond:
            self.errors.append(what)

    def done(self):
        for e in self.errors:
            print("  " + e)
        sys.exit(1 if self.errors else 0)


def text_of(msg):
    try:
        return msg.get_content()
    except Exception as e:  # noqa: BLE001 - report, do not crash
        return "<undecodable: %s>" % e


def common_checks(c, raw, msg):
    c.want(not msg.is_multipart(), "the message is multipart (%s)" % msg.get_content_type())
    c.want(msg.get_content_type() == "text/plain", "Content-Type is %s, not text/plain" % msg.get_content_type())
    c.want(ATTACH_MARK not in raw, "attachment bytes arrived")
    c.want(b"\r" not in raw.replace(b"\r\n", b""), "bare CR in the message")
    c.want(msg.get("X-Sekisho-Sanitized") is not None, "no X-Sekisho-Sanitized header")


def check_sanitized(path, orig):
    c = Checker()
    raw, msg = parse(path)
    common_checks(c, raw, msg)
    san = str(msg.get("X-Sekisho-Sanitized", ""))
    c.want(san.startswith("sanitized"), "X-Sekisho-Sanitized is '%s', not sanitized" % san)
    body = text_of(msg)
    c.want(JA_ISO in body, "the ISO-2022-JP Japanese text is missing (decoded)")
    c.want(str(msg.get("Subject", "")) == JA_SUBJECT, "the UTF-8 Japanese subject is '%s'" % msg.get("Subject"))
    c.want("report.bin" in body, "the notice does not list report.bin")
    c.want("資料.pdf" in body, "the notice does not list 資料.pdf")
    c.want("text/html" in body, "the notice does not list the HTML alternative")
    c.want("<script>" not in body and "alert(1)" not in body, "script text survived")
    b64 = base64.b64encode(attachment_bytes()[:57]).decode()
    c.want(b64.encode() not in raw, "attachment base64 arrived")
    c.done()


def check_html(path, orig):
    c = Checker()
    raw, msg = parse(path)
    common_checks(c, raw, msg)
    body = text_of(msg)
    c.want(JA_UTF8 in body, "the UTF-8 Japanese text of the HTML is missing")
    c.want("<p" not in body and "<script>" not in body and "alert(1)" not in body, "HTML or script survived")
    c.done()


def check_withheld(path, orig):
    c = Checker()
    raw, msg = parse(path)
    common_checks(c, raw, msg)
    san = str(msg.get("X-Sekisho-Sanitized", ""))
    c.want(san.startswith("withheld"), "X-Sekisho-Sanitized is '%s', not withheld" % san)
    body = text_of(msg)
    c.want("eicar.com" in body, "the notice does not list eicar.com")
    c.want("EICAR test attached." not in body, "the withheld message's text arrived")
    c.want(b"EICAR-STANDARD" not in raw, "the EICAR string arrived")
    c.done()


def check_plain(path, orig):
    c = Checker()
    raw, msg = parse(path)
    c.want(msg.get_content_type() == "text/plain", "Content-Type is %s" % msg.get_content_type())
    c.want("This is a plain test message." in text_of(msg), "the text is missing")
    c.want(msg.get("X-Sekisho-Sanitized") is not None, "no X-Sekisho-Sanitized header")
    c.done()


def split(raw):
    raw = raw.replace(b"\r\n", b"\n")
    i = raw.find(b"\n\n")
    return (raw, b"") if i < 0 else (raw[: i + 1], raw[i + 2:])


def body_equal(qpath, opath):
    c = Checker()
    with open(qpath, "rb") as f:
        q = f.read()
    with open(opath, "rb") as f:
        o = f.read()
    qh, qb = split(q)
    oh, ob = split(o)
    c.want(qb.rstrip(b"\n") == ob.rstrip(b"\n"), "body differs (%d vs %d bytes)" % (len(qb), len(ob)))
    # Every header line of the original (unfolded as sent) is in there.
    for line in oh.split(b"\n"):
        if line and line not in qh.split(b"\n"):
            c.want(False, "header line missing: %r" % line[:80])
    c.want(hashlib.sha256(q).hexdigest() in qpath.replace("/", ""), "file is not stored under its SHA-256")
    c.done()


def strip_sink(path):
    with open(path, "rb") as f:
        raw = f.read()
    out = []
    head = True
    for line in raw.split(b"\n"):
        if head and line.split(b":", 1)[0] in (b"X-Client-Addr", b"X-Client-Proto", b"X-Helo-Args",
                                                 b"X-Mail-Args", b"X-Rcpt-Args"):
            continue
        head = False
        out.append(line)
    sys.stdout.buffer.write(b"\n".join(out))


def main():
    a = sys.argv[1:]
    if not a:
        sys.exit(__doc__)
    if a[0] == "gen":
        kind, out = a[1], a[2]
        subject, headers, eicar, msgid = None, [], None, None
        i = 3
        while i < len(a):
            if a[i] == "--subject":
                subject = a[i + 1]
            elif a[i] == "--header":
                headers.append(a[i + 1])
            elif a[i] == "--id":
                msgid = a[i + 1]
            elif a[i] == "--eicar":
                eicar = a[i + 1]
            else:
                sys.exit("bad option " + a[i])
            i += 2
        with open(out, "wb") as f:
            f.write(gen(kind, subject, headers, eicar, msgid))
    elif a[0] == "check-sanitized":
        check_sanitized(a[1], a[2])
    elif a[0] == "check-html":
        check_html(a[1], a[2])
    elif a[0] == "check-withheld":
        check_withheld(a[1], a[2])
    elif a[0] == "check-plain":
        check_plain(a[1], a[2])
    elif a[0] == "body-equal":
        body_equal(a[1], a[2])
    elif a[0] == "strip-sink":
        strip_sink(a[1])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()

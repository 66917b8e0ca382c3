#!/usr/bin/env python3
"""smtpraw.py - raw SMTP clients for the relay tests (no library that would
fix our bytes for us).

  smtpraw.py smuggle HOST PORT SRC SEQ RCPT
      EHLO, MAIL, RCPT, DATA, then a message whose body holds the
      malformed end-of-data sequence SEQ (a Python bytes escape, e.g.
      '\\n.\\n') followed by a pipelined second transaction
      (MAIL FROM/RCPT TO/DATA/"SMUGGLED-CONTENT"/.), then the real
      CRLF.CRLF and QUIT.  Prints every reply line, prefixed "<- ", and
      "END-OF-DATA-REPLY CODE" for the first reply after the content.
  smtpraw.py send HOST PORT SRC FILE RCPT [--slow BYTES_PER_S]
      one normal transaction with FILE as the content (dot-stuffed, CRLF);
      --slow paces the DATA bytes.  Prints every reply line, and
      "END-OF-DATA-REPLY CODE" for the reply to the final dot.
Exit status 0 when the connection ran to its end (whatever the replies).
"""
import socket
import sys
import time


def connect(host, port, src):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(120)
    s.bind((src, 0))
    s.connect((host, int(port)))
    return s


class Conn:
    def __init__(self, s):
        self.s = s
        self.buf = b""

    def line(self):
        while b"\n" not in self.buf:
            d = self.s.recv(65536)
            if not d:
                raise EOFError("connection closed")
            self.buf += d
        ln, self.buf = self.buf.split(b"\n", 1)
        return ln.rstrip(b"\r")

    def reply(self):
        lines = []
        while True:
            ln = self.line()
            print("<- " + ln.decode("utf-8", "replace"), flush=True)
            lines.append(ln)
            if len(ln) < 4 or ln[3:4] != b"-":
                return int(ln[:3]) if ln[:3].isdigit() else 0

    def send(self, data):
        shown = data.decode("utf-8", "replace")
        print("-> " + repr(shown)[1:-1][:200], flush=True)
        self.s.sendall(data)


def smuggle(host, port, src, seq, rcpt):
    c = Conn(connect(host, port, src))
    c.reply()
    c.send(b"EHLO smuggler.test\r\n")
    c.reply()
    c.send(b"MAIL FROM:<first@joho.example.jp>\r\n")
    c.reply()
    c.send(b"RCPT TO:<" + rcpt.encode() + b">\r\n")
    if c.reply() // 100 != 2:
        return 0
    c.send(b"DATA\r\n")
    if c.reply() != 354:
        return 0
    payload = (b"From: first@joho.example.jp\r\nTo: " + rcpt.encode() + b"\r\nSubject: first\r\n\r\n"
               b"FIRST-MESSAGE-BODY\r\n" + seq +
               b"MAIL FROM:<smuggled@joho.example.jp>\r\n"
               b"RCPT TO:<" + rcpt.encode() + b">\r\n"
               b"DATA\r\n"
               b"From: smuggled@joho.example.jp\r\nSubject: smuggled\r\n\r\n"
               b"SMUGGLED-CONTENT\r\n"
               b".\r\n")
    c.send(payload)
    c.send(b"\r\n.\r\n")
    try:
        code = c.reply()
        print("END-OF-DATA-REPLY %d" % code, flush=True)
        c.send(b"QUIT\r\n")
        while True:
            c.reply()
    except (EOFError, OSError, ValueError):
        pass
    return 0


def send(host, port, src, path, rcpt, slow):
    with open(path, "rb") as f:
        raw = f.read()
    lines = raw.replace(b"\r\n", b"\n").split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    data = b"".join((b"." + ln if ln.startswith(b".") else ln) + b"\r\n" for ln in lines) + b".\r\n"
    c = Conn(connect(host, port, src))
    c.reply()
    c.send(b"EHLO slow.test\r\n")
    c.reply()
    c.send(b"MAIL FROM:<slow@joho.example.jp>\r\n")
    c.reply()
    c.send(b"RCPT TO:<" + rcpt.encode() + b">\r\n")
    if c.reply() // 100 != 2:
        return 0
    c.send(b"DATA\r\n")
    if c.reply() != 354:
        return 0
    if slow:
        step = max(1, slow // 10)
        for i in range(0, len(data), step):
            c.s.sendall(data[i:i + step])
            time.sleep(0.1)
    else:
        c.s.sendall(data)
    try:
        code = c.reply()
        print("END-OF-DATA-REPLY %d" % code, flush=True)
        c.send(b"QUIT\r\n")
        c.reply()
    except (EOFError, OSError, ValueError):
        print("<- (connection closed)", flush=True)
    return 0


def main():
    a = sys.argv[1:]
    if len(a) >= 6 and a[0] == "smuggle":
        seq = a[4].encode().decode("unicode_escape").encode("latin-1")
        return smuggle(a[1], a[2], a[3], seq, a[5])
    if len(a) >= 6 and a[0] == "send":
        slow = int(a[7]) if len(a) >= 8 and a[6] == "--slow" else 0
        return send(a[1], a[2], a[3], a[4], a[5], slow)
    sys.exit(__doc__)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (EOFError, OSError) as e:
        print("<- (connection: %s)" % e, flush=True)
        sys.exit(0)

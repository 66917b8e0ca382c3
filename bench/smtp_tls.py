#!/usr/bin/env python3
"""smtp_tls.py - the STARTTLS halves of bench/relay.sh (smtp-source and
smtp-sink speak no TLS).

  smtp_tls.py sink ADDR PORT [--cert FILE --key FILE]
        an SMTP sink (a thread per connection); offers STARTTLS when given a certificate;
        answers 250 to every message; prints "mesg=N" after each (like
        smtp-sink -c).
  smtp_tls.py source HOST PORT SRC -m COUNT -s SESSIONS -l LENGTH [--tls]
        COUNT messages of about LENGTH bytes over SESSIONS parallel
        connections (processes), several messages per connection (like
        smtp-source -d); STARTTLS first with --tls (no verification).
        Exits 1 unless every message got 250; prints "sent N in S s".
"""
import multiprocessing
import socket
import ssl
import sys
import threading
import time


# ---------------------------------------------------------------- sink
class SinkConn:
    """One connection: blocking socket (OpenSSL does the TLS: the asyncio
    TLS layer is several times slower)."""

    def __init__(self, sock, ctx, counter):
        self.s = sock
        self.ctx = ctx
        self.counter = counter
        self.buf = b""

    def fill(self):
        d = self.s.recv(1 << 20)
        if not d:
            raise EOFError
        self.buf += d

    def line(self):
        while True:
            i = self.buf.find(b"\n")
            if i >= 0:
                ln, self.buf = self.buf[: i + 1], self.buf[i + 1:]
                return ln
            self.fill()

    def data(self):
        # Scan only what is new (plus 4 bytes of overlap) for CRLF.CRLF.
        chunks, tail = [], b"\r\n"
        buf, self.buf = self.buf, b""
        while True:
            j = (tail + buf).find(b"\r\n.\r\n")
            if j >= 0:
                cut = j - len(tail) + 5
                self.buf = buf[cut:]
                return
            chunks.append(buf)
            tail = (tail + buf)[-4:]
            d = self.s.recv(1 << 20)
            if not d:
                raise EOFError
            buf = d

    def run(self):
        tls = False
        try:
            self.s.sendall(b"220 bench-sink ESMTP\r\n")
            while True:
                ln = self.line()
                cmd = ln[:4].upper()
                if cmd in (b"EHLO", b"HELO"):
                    ext = b"250-STARTTLS\r\n" if self.ctx and not tls else b""
                    self.s.sendall(b"250-bench-sink\r\n" + ext + b"250-8BITMIME\r\n250 SIZE 104857600\r\n")
                elif cmd == b"STAR" and self.ctx and not tls:
                    self.s.sendall(b"220 2.0.0 go ahead\r\n")
                    self.s = self.ctx.wrap_socket(self.s, server_side=True)
                    self.buf = b""
                    tls = True
                elif cmd == b"DATA":
                    self.s.sendall(b"354 go\r\n")
                    self.data()
                    n = self.counter()
                    self.s.sendall(b"250 2.0.0 Ok: queued\r\n")
                    sys.stdout.write("mesg=%d\n" % n)
                    sys.stdout.flush()
                elif cmd == b"QUIT":
                    self.s.sendall(b"221 2.0.0 Bye\r\n")
                    break
                else:
                    self.s.sendall(b"250 2.0.0 Ok\r\n")
        except (EOFError, OSError, ssl.SSLError):
            pass
        finally:
            self.s.close()


def sink_main(addr, port, cert, key):
    ctx = None
    if cert:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cert, key)
    lock = threading.Lock()
    n = [0]

    def counter():
        with lock:
            n[0] += 1
            return n[0]

    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    ls = socket.socket(fam, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((addr, port))
    ls.listen(256)
    while True:
        c, _ = ls.accept()
        threading.Thread(target=SinkConn(c, ctx, counter).run, daemon=True).start()


# -------------------------------------------------------------- source
def reply(f):
    while True:
        ln = f.readline()
        if not ln:
            raise EOFError("closed")
        if ln[3:4] != b"-":
            return int(ln[:3])


def message(i, length):
    head = ("From: <bench@joho.example.jp>\r\nTo: <sink@lgwan.example.jp>\r\n"
            "Subject: bench %d\r\nMessage-ID: <bench.%d@joho.example.jp>\r\n\r\n" % (i, i)).encode()
    line = b"La de da de da " * 5 + b"\r\n"
    body = line * max(1, (length - len(head)) // len(line))
    return head + body + b".\r\n"


def worker(args):
    host, port, src, count, length, tls, first = args
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.bind((src, 0))
    s.connect((host, port))
    f = s.makefile("rb")
    reply(f)
    s.sendall(b"EHLO bench-source\r\n")
    reply(f)
    if tls:
        s.sendall(b"STARTTLS\r\n")
        if reply(f) != 220:
            return 0
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        s = ctx.wrap_socket(s, server_hostname=host)
        f = s.makefile("rb")
        s.sendall(b"EHLO bench-source\r\n")
        reply(f)
    ok = 0
    for i in range(count):
        msg = message(first + i, length)
        s.sendall(b"MAIL FROM:<bench@joho.example.jp>\r\n")
        if reply(f) != 250:
            break
        s.sendall(b"RCPT TO:<sink@lgwan.example.jp>\r\n")
        if reply(f) != 250:
            break
        s.sendall(b"DATA\r\n")
        if reply(f) != 354:
            break
        s.sendall(msg)
        if reply(f) != 250:
            break
        ok += 1
    try:
        s.sendall(b"QUIT\r\n")
        reply(f)
    except (OSError, EOFError):
        pass
    return ok


def source_main(a):
    host, port, src = a[0], int(a[1]), a[2]
    count, sessions, length, tls = 100, 10, 4096, False
    i = 3
    while i < len(a):
        if a[i] == "-m":
            count = int(a[i + 1])
        elif a[i] == "-s":
            sessions = int(a[i + 1])
        elif a[i] == "-l":
            length = int(a[i + 1])
        elif a[i] == "--tls":
            tls = True
            i += 1
            continue
        i += 2
    per = [count // sessions + (1 if k < count % sessions else 0) for k in range(sessions)]
    jobs = [(host, port, src, per[k], length, tls, sum(per[:k])) for k in range(sessions)]
    t0 = time.monotonic()
    with multiprocessing.Pool(sessions) as p:
        done = sum(p.map(worker, jobs))
    dt = time.monotonic() - t0
    print("sent %d in %.3f s" % (done, dt))
    return 0 if done == count else 1


def main():
    a = sys.argv[1:]
    if len(a) >= 3 and a[0] == "sink":
        cert = key = None
        if "--cert" in a:
            cert = a[a.index("--cert") + 1]
            key = a[a.index("--key") + 1]
        sink_main(a[1], int(a[2]), cert, key)
        return 0
    if len(a) >= 4 and a[0] == "source":
        return source_main(a[1:])
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""run_tests.py - one case of `sekisho quarantine` (tests/quarantine_cli).

    run_tests.py --sekisho BIN --store QCLI_STORE --cases DIR --golden DIR NAME

Builds a temporary quarantine store with qcli_store (quarantine_store, then
the entry dated) from tests/sanitize/cases messages with the metadata the
relay writes (relay_deliver.c: received, client, original_dst, mode, helo,
from, rcpts, status, verdict; the verdict is the case's recorded .verdict
with the envelope filled in), runs the CLI and checks.  Release cases run
Postfix's smtp-sink on 127.0.0.1.  Goldens: NAME.ok beside this script
(TZ=UTC; SEKISHO_UPDATE_GOLDEN=1 rewrites them).  Exits 0 or 1.
"""
import argparse
import email
import email.policy
import json
import os
import pty
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

MARKERS = (b"ERROR: AddressSanitizer", b"ERROR: LeakSanitizer", b"runtime error:")
SINK = "/usr/sbin/smtp-sink"

# (case, mtime, envelope from, rcpts, status)
ENTRIES = [
    ("attachments_pdf_and_zip", 1712019600, "yamada@example.lg.jp",
     ["sato@example.lg.jp", "suzuki@example.lg.jp", "tanaka@example.lg.jp"], "sanitised"),
    ("eicar_attachment_withheld", 1712023200, "yamada@example.lg.jp",
     ["sato@example.lg.jp"], "withheld"),
    ("alternative_plain_and_html", 1711929600, "", ["info@example.lg.jp"], "sanitised"),
]

HOSTILE_SUBJECT = "Invoice \x1b[2J\x1b]0;pwned\x07\x1b[31mRED\u202etxt.exe \u009b31m \\ end"


class Failed(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failed(what)


class Ctx:
    def __init__(self, args, tmp):
        self.args = args
        self.tmp = tmp
        self.dir = os.path.join(tmp, "q")
        self.env = dict(os.environ, TZ="UTC", ASAN_OPTIONS="detect_leaks=1")
        self.env.pop("SEKISHO_QUARANTINE_DIR", None)
        self.env.pop("SUDO_USER", None)
        self.ids = {}

    def meta(self, case, mfrom, rcpts, status, subject=None):
        with open(os.path.join(self.args.cases, case + ".verdict"), encoding="utf-8") as f:
            verdict = json.load(f)
        verdict["envelope"] = {"from": mfrom, "rcpts": rcpts}
        if subject is not None:
            verdict["header"]["subject"] = subject
        return {"received": 1712019600, "client": "198.18.1.10", "original_dst": "198.18.2.25:25",
                "mode": "transparent", "helo": "joho-mail.example.lg.jp", "from": mfrom,
                "rcpts": rcpts, "status": status, "verdict": verdict}

    def store(self, case, mtime, mfrom, rcpts, status, subject=None, message=None):
        meta = os.path.join(self.tmp, "meta.json")
        with open(meta, "w", encoding="utf-8") as f:
            json.dump(self.meta(case, mfrom, rcpts, status, subject), f, ensure_ascii=False,
                      separators=(",", ":"))
        msg = message or os.path.join(self.args.cases, case + ".eml")
        r = subprocess.run([self.args.store, self.dir, msg, meta, str(mtime)],
                           capture_output=True, env=self.env)
        check(r.returncode == 0, "qcli_store %s: %s" % (case, r.stderr.decode()))
        ident = r.stdout.decode().strip()
        self.ids[case] = ident
        return ident

    def populate(self):
        for case, mtime, mfrom, rcpts, status in ENTRIES:
            self.store(case, mtime, mfrom, rcpts, status)

    def run(self, *argv, rc=0, env=None, stdin=None, use_dir=True):
        cmd = [self.args.sekisho, "quarantine"]
        if use_dir:
            cmd += ["--dir", self.dir]
        cmd += list(argv)
        r = subprocess.run(cmd, capture_output=True, env=env or self.env, stdin=stdin,
                           timeout=50)
        for m in MARKERS:
            check(m not in r.stderr, "sanitizer report from %s:\n%s" % (argv, r.stderr.decode()))
        check(r.returncode == rc, "%s: exit %d, expected %d\nstdout: %s\nstderr: %s" % (
            " ".join(argv), r.returncode, rc, r.stdout.decode(errors="replace"),
            r.stderr.decode(errors="replace")))
        return r

    def golden(self, name, text):
        path = os.path.join(self.args.golden, name)
        if os.environ.get("SEKISHO_UPDATE_GOLDEN"):
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
            return
        with open(path, encoding="utf-8") as f:
            want = f.read()
        if want != text:
            import difflib
            sys.stdout.writelines(difflib.unified_diff(want.splitlines(True),
                                                       text.splitlines(True), name, "got"))
            raise Failed("output differs from %s" % name)

    def entry_path(self, ident, name):
        return os.path.join(self.dir, ident[:2], ident[2:], name)


# ---- smtp-sink -------------------------------------------------------------

class Sink:
    """smtp-sink on 127.0.0.1 with a dump file; extra options as given."""

    def __init__(self, tmp, *opts, v6=False):
        self.host = "::1" if v6 else "127.0.0.1"
        self.dir = tempfile.mkdtemp(dir=tmp)
        os.chmod(self.dir, 0o777)
        self.dump = os.path.join(self.dir, "dump")
        s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET)
        s.bind((self.host, 0))
        self.port = s.getsockname()[1]
        s.close()
        cmd = [SINK, "-D", self.dump]
        if os.geteuid() == 0:
            cmd += ["-u", "nobody"]
        cmd += list(opts) + ["[%s]:%d" % (self.host, self.port) if v6 else
                             "%s:%d" % (self.host, self.port), "10"]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        # readiness, not a timed assertion: wait until it accepts (or dies)
        while True:
            if self.proc.poll() is not None:
                raise Failed("smtp-sink exited: %s" % self.proc.stderr.read())
            try:
                c = socket.create_connection((self.host, self.port), timeout=5)
                c.recv(512)
                c.sendall(b"QUIT\r\n")
                c.recv(512)
                c.close()
                break
            except OSError:
                time.sleep(0.05)

    def via(self):
        return "[%s]:%d" % (self.host, self.port) if ":" in self.host else \
            "%s:%d" % (self.host, self.port)

    def dumped(self):
        try:
            with open(self.dump, "rb") as f:
                return f.read()
        except FileNotFoundError:
            return b""

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait()


def norm(b):
    """Message bytes as smtp-sink dumps them: LF line ends."""
    return b.replace(b"\r\n", b"\n")


# ---- cases -------------------------------------------------------------------

def t_list(c):
    c.populate()
    r = c.run("list")
    c.golden("list.ok", r.stdout.decode())
    lines = r.stdout.decode().splitlines()
    check(len(lines) == 4, "list: header and three entries")
    # newest first
    order = [l.split()[1] for l in lines[1:]]
    want = [c.ids[n][:12] for n in ("eicar_attachment_withheld", "attachments_pdf_and_zip",
                                    "alternative_plain_and_html")]
    check(order == want, "list order %s, expected %s" % (order, want))
    j = json.loads(c.run("list", "--json").stdout)
    check([e["id"] for e in j] == [c.ids[n] for n in ("eicar_attachment_withheld",
                                                      "attachments_pdf_and_zip",
                                                      "alternative_plain_and_html")],
          "list --json: full ids newest first")
    e = j[1]
    check(e["from"] == "yamada@example.lg.jp" and len(e["rcpts"]) == 3 and
          e["status"] == "sanitised" and e["subject"] == "資料送付" and
          e["size"] == os.path.getsize(os.path.join(c.args.cases,
                                                    "attachments_pdf_and_zip.eml")),
          "list --json fields: %s" % e)
    check(j[0]["status"] == "withheld", "withheld status")
    # --since: dates are in 2024, so nothing is within the last 30 days
    check(json.loads(c.run("list", "--json", "--since", "30").stdout) == [], "--since 30")
    recent = c.store("binhex_in_text", int(time.time()) - 3600, "a@example.lg.jp",
                     ["b@example.lg.jp"], "sanitised")
    j = json.loads(c.run("list", "--json", "--since", "1").stdout)
    check([e["id"] for e in j] == [recent], "--since 1 lists only the recent entry")
    # the store from SEKISHO_QUARANTINE_DIR, and --dir over it
    env = dict(c.env, SEKISHO_QUARANTINE_DIR=c.dir)
    check(len(c.run("list", "--json", env=env, use_dir=False).stdout) > 10, "env dir")
    env["SEKISHO_QUARANTINE_DIR"] = os.path.join(c.tmp, "nonexistent")
    c.run("list", env=env, use_dir=False, rc=1)
    c.run("list", env=env)
    # -c FILE gives quarantine_dir; the environment wins over it
    conf = os.path.join(c.tmp, "relayd.conf")
    with open(conf, "w") as f:
        f.write("quarantine_dir = %s\n" % c.dir)
    env2 = dict(c.env)
    check(recent[:12] in c.run("-c", conf, "list", env=env2, use_dir=False).stdout.decode(),
          "-c FILE gives the store")
    c.run("-c", conf, "list", env=env, use_dir=False, rc=1)


def t_show(c):
    c.populate()
    ident = c.ids["attachments_pdf_and_zip"]
    r = c.run("show", ident[:10])
    # record times are when the test ran
    text = re.sub(r'"time": \d+', '"time": T', r.stdout.decode())
    c.golden("show.ok", text)
    r2 = c.run("show", ident.upper())
    check(r2.stdout == r.stdout, "full id in upper case shows the same")
    check("sha256=56c2ac043c28d3543275a6f50b593a6beb0b6888ed8159ac02e3e7f4a32ccb26" in text,
          "removed part hash")
    w = c.run("show", c.ids["eicar_attachment_withheld"][:8]).stdout.decode()
    check("status:       withheld (infected: Eicar-Test-Signature-Body.UNOFFICIAL)" in w,
          "withheld reason shown")
    check("releases:\n  (none)\n" in w, "no releases yet")


def t_export(c):
    c.populate()
    for case, *_ in ENTRIES:
        out = os.path.join(c.tmp, case + ".out")
        c.run("export", c.ids[case][:8], "-o", out)
        with open(out, "rb") as f, open(os.path.join(c.args.cases, case + ".eml"), "rb") as g:
            check(f.read() == g.read(), "export %s byte-identical" % case)
        check(os.stat(out).st_mode & 0o077 == 0, "exported file private")
    r = c.run("export", c.ids["attachments_pdf_and_zip"], "-o", "-")
    with open(os.path.join(c.args.cases, "attachments_pdf_and_zip.eml"), "rb") as g:
        check(r.stdout == g.read(), "export -o - byte-identical")
    c.run("export", c.ids["attachments_pdf_and_zip"], rc=2)  # no -o
    # never to a terminal
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(c.args.sekisho, [c.args.sekisho, "quarantine", "--dir", c.dir, "export",
                                   c.ids["attachments_pdf_and_zip"], "-o", "-"], c.env)
    out = b""
    while True:
        try:
            b = os.read(fd, 4096)
        except OSError:
            break
        if not b:
            break
        out += b
    _, status = os.waitpid(pid, 0)
    check(os.WEXITSTATUS(status) == 2, "export to a terminal: exit %d" % os.WEXITSTATUS(status))
    check(b"refusing" in out and b"Content-Type" not in out, "nothing written to the terminal")
    # a message whose bytes no longer match its id is refused
    ident = c.ids["alternative_plain_and_html"]
    p = c.entry_path(ident, "message.eml")
    os.chmod(p, 0o600)
    with open(p, "ab") as f:
        f.write(b"tampered\n")
    r = c.run("export", ident, "-o", os.path.join(c.tmp, "x"), rc=1)
    check(b"does not match" in r.stderr, "tampered entry refused: %s" % r.stderr)


def t_prefix(c):
    c.populate()
    ident = c.ids["attachments_pdf_and_zip"]
    # a second entry sharing the first 8 digits: a copy under a made-up id
    twin = ident[:8] + ("0" if ident[8] != "0" else "1") + ident[9:]
    shutil.copytree(c.entry_path(ident, ""), c.entry_path(twin, ""))
    r = c.run("show", ident[:8], rc=1)
    err = r.stderr.decode()
    check("ambiguous" in err and ident in err and twin in err, "ambiguous prefix: %s" % err)
    check(r.stdout == b"", "nothing shown for an ambiguous prefix")
    c.run("show", ident[:9])  # unique again
    r = c.run("show", "deadbeef00", rc=1)
    check("no quarantine entry deadbeef00" in r.stderr.decode(), "unknown id")
    c.run("show", ident[:7], rc=2)       # too short
    c.run("show", "zzzzzzzzzz", rc=2)    # not hex
    c.run("show", ident + "0", rc=2)     # too long
    c.run("show", rc=2)                  # no id
    c.run("show", ident, "extra", rc=2)
    c.run("release", ident[:8], "--to", "x@example.jp", "--reason", "r", "--via",
          "127.0.0.1:9", rc=1)
    c.run("bogus", rc=2)
    c.run("list", "--days", "3", rc=2)   # option of another command


def check_safe(out, what):
    for bad in (b"\x1b", b"\x07", b"\xc2\x9b", "\u202e".encode()):
        check(bad not in out, "%s: raw %r on the terminal" % (what, bad))


def t_hostile_subject(c):
    # the sanitiser itself replaces control characters in the verdict; a
    # record from elsewhere (older relay, edited store) may hold them raw
    ident = c.store("attachments_pdf_and_zip", 1712019600, "ev\x1b[1mil@example.jp",
                    ["sato@example.lg.jp\x1b]0;x\x07"], "sanitised", subject=HOSTILE_SUBJECT)
    for argv in (("list",), ("list", "--json"), ("show", ident[:8])):
        r = c.run(*argv)
        check_safe(r.stdout, " ".join(argv))
        check_safe(r.stderr, " ".join(argv))
    out = c.run("list").stdout.decode()
    check("Invoice \\x1b[2J\\x1b]0;pwned\\x07\\x1b[31mRED\\u{202e}txt.exe \\u{009b}31m \\\\ end"
          in out, "escaped subject in list: %s" % out)
    check("ev\\x1b[1mil@example.jp" in out, "escaped from")
    j = json.loads(c.run("list", "--json").stdout)
    check(j[0]["subject"] == HOSTILE_SUBJECT, "--json keeps the value (escaped as JSON)")
    show = c.run("show", ident[:8]).stdout.decode()
    check("subject:      Invoice \\x1b[2J" in show, "escaped subject in show")
    check('"subject": "Invoice \\u001b[2J' in show, "escaped subject in the metadata JSON")
    # the real sanitiser's verdict of such a message, through the store
    msg = os.path.join(c.tmp, "hostile.eml")
    with open(msg, "wb") as f:
        f.write(b"From: Mallory <mallory@evil.example>\r\nTo: sato@example.lg.jp\r\n"
                b"Subject: =?UTF-8?B?SW52b2ljZSAbWzJKG10wO3B3bmVkBxtbMzFtUkVE4oCudHh0LmV4ZQ==?=\r\n"
                b"\r\nhello\r\n")
    c.store("attachments_pdf_and_zip", 1712019601, "mallory@evil.example",
            ["sato@example.lg.jp"], "sanitised", message=msg, subject=HOSTILE_SUBJECT)
    check_safe(c.run("list").stdout, "list of two hostile entries")


def t_prune(c):
    now = int(time.time())
    for case, age in (("attachments_pdf_and_zip", 400), ("eicar_attachment_withheld", 100),
                      ("alternative_plain_and_html", 1)):
        c.store(case, now - age * 86400, "a@example.lg.jp", ["b@example.lg.jp"], "sanitised")
    r = c.run("prune", "--days", "30", "--dry-run")
    check(r.stdout.decode() == "would remove 2 of 3 entries (older than 30 days)\n",
          "dry run: %s" % r.stdout)
    check(len(json.loads(c.run("list", "--json").stdout)) == 3, "dry run removes nothing")
    # default: retention_days of the relay configuration
    conf = os.path.join(c.tmp, "relayd.conf")
    with open(conf, "w") as f:
        f.write("quarantine_dir = %s\nretention_days = 200\n" % c.dir)
    r = c.run("-c", conf, "prune", use_dir=False)
    check(r.stdout.decode() == "removed 1 entries (older than 200 days)\n", r.stdout)
    left = [e["id"] for e in json.loads(c.run("list", "--json").stdout)]
    check(left == [c.ids["alternative_plain_and_html"], c.ids["eicar_attachment_withheld"]],
          "the 400-day entry went: %s" % left)
    check(not os.path.exists(c.entry_path(c.ids["attachments_pdf_and_zip"], "")), "entry gone")
    r = c.run("prune", "--days", "30")
    check(r.stdout.decode() == "removed 1 entries (older than 30 days)\n", r.stdout)
    r = c.run("prune")  # built-in default 365 (no relayd.conf given or present)
    c.run("prune", "--days", "x", rc=2)
    c.run("prune", "--days", "-1", rc=2)
    check(len(json.loads(c.run("list", "--json").stdout)) == 1, "one left")


def releases(c, ident):
    try:
        with open(c.entry_path(ident, "releases.jsonl"), encoding="utf-8") as f:
            return [json.loads(l) for l in f]
    except FileNotFoundError:
        return []


def t_release(c):
    c.populate()
    ident = c.ids["attachments_pdf_and_zip"]
    sink = Sink(c.tmp)
    try:
        env = dict(c.env, SUDO_USER="operator-a")
        r = c.run("release", ident[:8], "--to", "kansa@example.lg.jp", "--reason",
                  "監査依頼 #123", "--via", sink.via(), env=env)
    finally:
        sink.stop()
    out = r.stdout.decode()
    check(out.startswith("delivered to kansa@example.lg.jp: next hop answered 250 2.0.0"),
          "next hop's reply printed: %s" % out)
    dump = sink.dumped()
    with open(os.path.join(c.args.cases, "attachments_pdf_and_zip.eml"), "rb") as f:
        orig = f.read()
    check(norm(orig) in dump, "the dump holds the original bytes")
    check(b"X-Rcpt-Args: <kansa@example.lg.jp>" in dump, "delivered to --to")
    check(b"X-Mail-Args: <yamada@example.lg.jp>" in dump, "original envelope sender")
    rel = releases(c, ident)
    check(len(rel) == 1, "one release recorded: %s" % rel)
    check(rel[0]["who"] == "operator-a" and rel[0]["reason"] == "監査依頼 #123" and
          rel[0]["what"] == "original to kansa@example.lg.jp", "release record: %s" % rel[0])
    # --by wins over SUDO_USER; --from replaces the envelope sender; shown by show
    sink = Sink(c.tmp)
    try:
        c.run("release", ident, "--to", "b@example.lg.jp", "--reason", "second", "--by",
              "suzuki", "--from", "", "--via", sink.via())
    finally:
        sink.stop()
    check(b"X-Mail-Args: <>" in sink.dumped(), "--from '' is the null sender")
    rel = releases(c, ident)
    check(len(rel) == 2 and rel[1]["who"] == "suzuki", "second release: %s" % rel)
    # an IPv6 next hop
    sink = Sink(c.tmp, v6=True)
    try:
        c.run("release", ident[:8], "--to", "c@example.lg.jp", "--reason", "v6", "--via",
              sink.via())
    finally:
        sink.stop()
    check(norm(orig) in sink.dumped() and b"X-Client-Addr: ipv6:::1" in sink.dumped(),
          "delivered over IPv6")
    check(len(releases(c, ident)) == 3, "third release recorded")
    show = c.run("show", ident[:8]).stdout.decode()
    check("by operator-a: original to kansa@example.lg.jp\n    reason: 監査依頼 #123" in show,
          "release history in show: %s" % show)


def t_release_refused(c):
    c.populate()
    ident = c.ids["attachments_pdf_and_zip"]
    for cmd in ("RCPT", "."):
        sink = Sink(c.tmp, "-f", cmd)
        try:
            r = c.run("release", ident[:8], "--to", "kansa@example.lg.jp", "--reason",
                      "audit", "--via", sink.via(), rc=1)
        finally:
            sink.stop()
        err = r.stderr.decode()
        check("5.3.0" in err and "500" in err, "%s refused: reply shown: %s" % (cmd, err))
        check(releases(c, ident) == [], "%s refused: nothing recorded" % cmd)
        check(not r.stdout, "nothing claims delivery")
    # delivered, but the record cannot be written: said loudly, exit 1
    os.mkdir(c.entry_path(ident, "releases.jsonl"))
    sink = Sink(c.tmp)
    try:
        r = c.run("release", ident[:8], "--to", "kansa@example.lg.jp", "--reason", "audit",
                  "--via", sink.via(), rc=1)
    finally:
        sink.stop()
    check(b"X-Rcpt-Args: <kansa@example.lg.jp>" in sink.dumped(), "delivered")
    check(b"DELIVERED but the release was not recorded" in r.stderr, r.stderr.decode())
    os.rmdir(c.entry_path(ident, "releases.jsonl"))
    # nobody listening: no reply at all
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    r = c.run("release", ident[:8], "--to", "kansa@example.lg.jp", "--reason", "audit",
              "--via", "127.0.0.1:%d" % port, rc=1)
    check(releases(c, ident) == [], "connection refused: nothing recorded")


def t_release_attachment(c):
    c.populate()
    ident = c.ids["attachments_pdf_and_zip"]
    with open(os.path.join(c.args.cases, "attachments_pdf_and_zip.eml"), "rb") as f:
        orig = email.message_from_bytes(f.read(), policy=email.policy.default)
    want = {a.get_filename(): a.get_content() for a in orig.iter_attachments()}
    check(set(want) == {"資料.pdf", "data.zip"}, "the case's attachments: %s" % list(want))
    for name in ("資料.pdf", "data.zip"):
        sink = Sink(c.tmp)
        try:
            r = c.run("release", ident[:8], "--to", "kansa@example.lg.jp", "--reason", "needs it",
                      "--attachment", name, "--by", "op", "--via", sink.via())
        finally:
            sink.stop()
        dump = sink.dumped()
        body = dump[dump.index(b"\n", dump.index(b"X-Rcpt-Args:")) + 1:]
        msg = email.message_from_bytes(body, policy=email.policy.default)
        atts = list(msg.iter_attachments())
        check(len(atts) == 1, "%s: one attachment, got %d" % (name, len(atts)))
        check(atts[0].get_filename() == name, "filename %r" % atts[0].get_filename())
        check(atts[0].get_content() == want[name], "%s: content identical" % name)
        check(msg["To"] == "kansa@example.lg.jp", "To header")
        check(norm(b"JVBERi0xLjQKMSAwIG9iaiA8PCAvVHlwZSAvQ2F0YWxvZyA+PiBlbmRvYmoK") not in body
              or name == "資料.pdf", "only the named attachment")
        check(b"Content-Type: application/zip" not in body or name == "data.zip",
              "the other attachment is absent")
        check(not msg.defects, "defects: %s" % msg.defects)
        check(all(b < 0x80 for b in body), "the release message is 7-bit")
        rel = releases(c, ident)[-1]
        check(rel["what"] == "attachment %s to kansa@example.lg.jp" % name and rel["who"] == "op",
              "recorded: %s" % rel)
    r = c.run("release", ident[:8], "--to", "k@example.lg.jp", "--reason", "x", "--attachment",
              "nothere.exe", "--via", "127.0.0.1:9", rc=1)
    check("no part" in r.stderr.decode(), "unknown attachment: %s" % r.stderr)
    check(len(releases(c, ident)) == 2, "nothing recorded for an unknown attachment")


def t_release_route(c):
    c.populate()
    ident = c.ids["eicar_attachment_withheld"]
    sink = Sink(c.tmp)
    conf = os.path.join(c.tmp, "relayd.conf")
    with open(conf, "w") as f:
        f.write("quarantine_dir = %s\nroute = example.lg.jp 127.0.0.1:%d tls=none\n"
                "route = * 127.0.0.1:9\n" % (c.dir, sink.port))
    try:
        c.run("-c", conf, "release", ident[:8], "--to", "Sato@Example.LG.JP", "--reason",
              "false positive", "--by", "op", use_dir=False)
    finally:
        sink.stop()
    with open(os.path.join(c.args.cases, "eicar_attachment_withheld.eml"), "rb") as f:
        check(norm(f.read()) in sink.dumped(), "delivered through the route")
    check(len(releases(c, ident)) == 1, "recorded")
    conf2 = os.path.join(c.tmp, "relayd2.conf")
    with open(conf2, "w") as f:
        f.write("quarantine_dir = %s\n" % c.dir)
    r = c.run("-c", conf2, "release", ident[:8], "--to", "x@other.example", "--reason", "r",
              use_dir=False, rc=1)
    check("no route" in r.stderr.decode(), "no route: %s" % r.stderr)


def t_release_usage(c):
    c.populate()
    ident = c.ids["attachments_pdf_and_zip"]
    base = ["release", ident[:8], "--via", "127.0.0.1:9"]
    c.run(*base, "--to", "k@example.lg.jp", rc=2)                        # no --reason
    c.run(*base, "--to", "k@example.lg.jp", "--reason", "", rc=2)
    c.run(*base, "--to", "k@example.lg.jp", "--reason", "  \t", rc=2)
    c.run(*base, "--reason", "r", rc=2)                                  # no --to
    c.run(*base, "--to", "not-an-address", "--reason", "r", rc=2)
    c.run(*base, "--to", "a@b>\r\nRCPT TO:<c@d", "--reason", "r", rc=2)
    c.run(*base, "--to", "k@example.lg.jp", "--reason", "r", "--from", "x y@z", rc=2)
    c.run("release", ident[:8], "--to", "k@x.jp", "--reason", "r", "--via", "host:25", rc=2)
    c.run("release", ident[:8], "--to", "k@x.jp", "--reason", "r", "--via", "::1:25", rc=2)
    c.run(*base, "--to", "k@example.lg.jp", "--reason", "r", "--by", "", rc=2)
    c.run(*base, "--to", "k@example.lg.jp", "--reason", "r", "--attachment", "a\r\nb", rc=2)
    c.run(*base, "--to", "k@example.lg.jp", "--reason", "r" * 5000, rc=2)
    check(releases(c, ident) == [], "nothing recorded by usage errors")
    r = c.run("--help")
    check(b"release ID --to ADDR --reason TEXT" in r.stdout, "help")


CASES = {
    "list": t_list, "show": t_show, "export": t_export, "prefix": t_prefix,
    "hostile_subject": t_hostile_subject, "prune": t_prune, "release": t_release,
    "release_refused": t_release_refused, "release_attachment": t_release_attachment,
    "release_route": t_release_route, "release_usage": t_release_usage,
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sekisho", required=True)
    ap.add_argument("--store", required=True)
    ap.add_argument("--cases", required=True)
    ap.add_argument("--golden", required=True)
    ap.add_argument("name", choices=sorted(CASES))
    args = ap.parse_args()
    if args.name.startswith("release") and args.name != "release_usage" and \
            not os.access(SINK, os.X_OK):
        print("FAIL: %s missing (deploy/setup.sh installs postfix)" % SINK)
        return 1
    tmp = tempfile.mkdtemp(prefix="qcli-")
    os.chmod(tmp, 0o755)
    try:
        CASES[args.name](Ctx(args, tmp))
    except Failed as e:
        print("FAIL: %s" % e)
        return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())

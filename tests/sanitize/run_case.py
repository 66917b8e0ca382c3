#!/usr/bin/env python3
"""run_case.py - one golden case of `sekisho sanitize` (tests/sanitize).

    run_case.py --sekisho BIN --scan-db DIR --gmime-check BIN --cases DIR
                NAME EXIT [OPTION...]

Runs `sekisho sanitize --scan-db DIR --verdict TMP [OPTION...] < NAME.eml`
(@CASES@ in an option is the cases directory) and checks:
  - the exit status is EXIT, no sanitizer report (ASan/UBSan/LSan) on stderr;
  - exit 0/1: the output re-parses with python3's email as exactly one
    text/plain part without defects, and passes gmime_check (GMime: one
    text/plain leaf, no warning, line ends and lengths, valid charset);
    exit 2: nothing on stdout;
  - the output equals NAME.out byte for byte, and the verdict (time_ms
    removed, pretty-printed) equals NAME.verdict; for exit 2, stderr
    (the cases directory written @CASES@) equals NAME.err.
With SEKISHO_UPDATE_GOLDEN=1 the .out and .verdict files are (re)written
instead of compared.  Prints a diff of what differs; exits 0 or 1.
"""
import argparse
import difflib
import email
import email.policy
import json
import os
import subprocess
import sys
import tempfile

MARKERS = (b"ERROR: AddressSanitizer", b"ERROR: LeakSanitizer", b"runtime error:")


def python_problems(out):
    problems = []
    msg = email.message_from_bytes(out, policy=email.policy.default)
    parts = list(msg.walk())
    if len(parts) != 1 or msg.is_multipart():
        problems.append("python: %d parts" % len(parts))
    if msg.get_content_type() != "text/plain" or "Content-Type" not in msg:
        problems.append("python: content type %s" % msg.get_content_type())
    for d in msg.defects:
        problems.append("python: defect %s" % d)
    for name, value in msg.items():
        for d in getattr(value, "defects", ()):
            problems.append("python: header %s: %s" % (name, d))
    try:
        msg.get_content()
    except Exception as e:  # noqa: BLE001 - any failure to decode is a problem
        problems.append("python: content does not decode: %s" % e)
    return problems


def compare(path, got, update, what):
    if update:
        with open(path, "wb") as f:
            f.write(got)
        return []
    try:
        with open(path, "rb") as f:
            want = f.read()
    except FileNotFoundError:
        return ["%s: missing golden file %s" % (what, path)]
    if want == got:
        return []
    diff = difflib.unified_diff(want.decode("utf-8", "replace").splitlines(),
                                got.decode("utf-8", "replace").splitlines(),
                                path, "got", lineterm="")
    return ["%s differs:" % what] + list(diff)[:200]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sekisho", required=True)
    ap.add_argument("--scan-db", required=True)
    ap.add_argument("--gmime-check", required=True)
    ap.add_argument("--cases", required=True)
    ap.add_argument("name")
    ap.add_argument("exit", type=int)
    ap.add_argument("options", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    update = os.environ.get("SEKISHO_UPDATE_GOLDEN") == "1"
    base = os.path.join(a.cases, a.name)
    opts = [o.replace("@CASES@", a.cases) for o in a.options]
    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        vpath = os.path.join(tmp, "verdict.json")
        with open(base + ".eml", "rb") as f:
            p = subprocess.run([a.sekisho, "sanitize", "--scan-db", a.scan_db, "--verdict", vpath]
                               + opts, stdin=f, capture_output=True, timeout=120)
        if any(m in p.stderr for m in MARKERS):
            problems.append("sanitizer report:\n" + p.stderr.decode("utf-8", "replace"))
        if p.returncode != a.exit:
            problems.append("exit %d, expected %d; stderr: %s" %
                            (p.returncode, a.exit, p.stderr.decode("utf-8", "replace").strip()))
        if p.returncode == 2:
            if p.stdout:
                problems.append("exit 2 with output on stdout")
            if os.path.exists(base + ".err") or update:
                err = p.stderr.replace(a.cases.encode() + b"/", b"@CASES@/")
                problems += compare(base + ".err", err, update, "stderr")
        elif p.returncode in (0, 1):
            problems += python_problems(p.stdout)
            opath = os.path.join(tmp, "out.eml")
            with open(opath, "wb") as f:
                f.write(p.stdout)
            g = subprocess.run([a.gmime_check, opath], capture_output=True)
            if g.returncode != 0:
                problems.append("gmime_check: " + g.stdout.decode("utf-8", "replace").strip())
            problems += compare(base + ".out", p.stdout, update, "output")
            try:
                with open(vpath, "rb") as f:
                    v = json.load(f)
                v.pop("time_ms", None)
                vtext = (json.dumps(v, ensure_ascii=False, indent=1) + "\n").encode()
                problems += compare(base + ".verdict", vtext, update, "verdict")
            except (OSError, ValueError) as e:
                problems.append("verdict: %s" % e)
    for line in problems:
        print(line)
    print("%s: %s" % (a.name, "FAIL" if problems else "ok"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

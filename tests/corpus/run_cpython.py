#!/usr/bin/env python3
"""run_cpython.py - the CPython email corpus through `sekisho sanitize`.

Every msg_*.txt of CPython's email test data (Debian libpython3.11-testsuite,
test/test_email/data/) is sanitised by the real CLI:

    sekisho sanitize --scan-db DBDIR < msg > out

and must
  - end with exit 0 (sanitised) or 1 (withheld, the notice written): not 2,
    not a signal, not a sanitizer report (ASan/UBSan/LSan), within the time
    limit, with a non-empty output;
  - re-parse with python3's email (policy=email.policy.default) as exactly
    one part, text/plain, named in an explicit Content-Type header, with no
    defect on the message or on any header, and content that decodes;
  - pass tests/corpus/gmime_check (GMime: one text/plain leaf, no parser
    warning, valid line ends and lengths, text valid in its charset).

With --files F... and --expect withheld (or sanitised), the same checks run
over the given messages, which must also end with that verdict (the mail
samples of clamav-testfiles and EICAR: withheld).

Prints one line per message, the problems under a failing one, and a
closing "corpus: N passed, N failed" line; exits 1 when any failed, 2 on a
usage error or when the corpus is missing.
"""

import argparse
import email
import email.policy
import glob
import os
import subprocess
import sys

DEFAULT_DATA = "/usr/lib/python3.11/test/test_email/data"
SANITIZER_MARKERS = (b"ERROR: AddressSanitizer", b"ERROR: LeakSanitizer", b"runtime error:")


def python_problems(out):
    """Problems python3's email parser finds in a sanitised message."""
    problems = []
    try:
        msg = email.message_from_bytes(out, policy=email.policy.default)
    except Exception as e:  # the parser should never raise; report it if it does
        return [f"python email raised {type(e).__name__}: {e}"]
    parts = list(msg.walk())
    if len(parts) != 1:
        types = ", ".join(p.get_content_type() for p in parts)
        problems.append(f"python: {len(parts)} parts ({types}), expected 1")
    if msg.is_multipart():
        problems.append("python: message is multipart")
    if "Content-Type" not in msg:
        problems.append("python: no Content-Type header")
    if msg.get_content_type() != "text/plain":
        problems.append(f"python: content type {msg.get_content_type()}, expected text/plain")
    for part in parts:
        for d in part.defects:
            problems.append(f"python: defect {type(d).__name__}: {d}")
    for name, value in msg.items():
        for d in getattr(value, "defects", ()):
            problems.append(f"python: header {name}: defect {type(d).__name__}: {d}")
    if not msg.is_multipart():
        try:
            content = msg.get_content()
            if not isinstance(content, str):
                problems.append("python: text/plain content is not text")
        except Exception as e:
            problems.append(f"python: cannot decode the text: {type(e).__name__}: {e}")
    return problems


def gmime_problems(gmime_check, path):
    r = subprocess.run([gmime_check, path], capture_output=True, timeout=120)
    if r.returncode == 0:
        return []
    lines = r.stdout.decode("utf-8", "replace").splitlines()
    lines += r.stderr.decode("utf-8", "replace").splitlines()
    return [f"gmime: {line.removeprefix('problem: ')}" for line in lines if line.strip()] or [
        f"gmime_check exited {r.returncode}"
    ]


def run_one(args, path, outdir, env):
    name = os.path.basename(path)
    outpath = os.path.join(outdir, name + ".out.eml")
    problems = []
    cmd = [args.sekisho, "sanitize", "--scan-db", args.scan_db]
    try:
        with open(path, "rb") as fin, open(outpath, "wb") as fout:
            r = subprocess.run(cmd, stdin=fin, stdout=fout, stderr=subprocess.PIPE,
                               timeout=args.timeout, env=env)
    except subprocess.TimeoutExpired:
        return name, None, [f"timed out after {args.timeout} s"]
    rc = r.returncode
    stderr = r.stderr
    want = {"any": (0, 1), "sanitised": (0,), "withheld": (1,)}[args.expect]
    if rc < 0:
        problems.append(f"killed by signal {-rc}")
    elif rc not in want:
        problems.append(f"exit {rc}, expected {' or '.join(map(str, want))} ({args.expect})")
    if any(m in stderr for m in SANITIZER_MARKERS):
        problems.append("sanitizer report on stderr")
    if problems:
        tail = stderr.decode("utf-8", "replace").strip().splitlines()[-12:]
        problems += [f"  stderr: {line}" for line in tail]
        return name, rc, problems
    with open(outpath, "rb") as f:
        out = f.read()
    if not out:
        return name, rc, ["empty output"]
    problems += python_problems(out)
    problems += gmime_problems(args.gmime_check, outpath)
    return name, rc, problems


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sekisho", required=True, help="the sekisho CLI")
    ap.add_argument("--scan-db", required=True, help="signature database directory")
    ap.add_argument("--gmime-check", required=True, help="tests/corpus/gmime_check binary")
    ap.add_argument("--data", default=DEFAULT_DATA, help="CPython email test data")
    ap.add_argument("--files", nargs="+", help="these messages instead of --data's msg_*.txt")
    ap.add_argument("--expect", choices=("any", "sanitised", "withheld"), default="any",
                    help="verdict every message must get (default: 0 or 1)")
    ap.add_argument("--out", default=None, help="keep the outputs here (default: a temp dir)")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds per message")
    args = ap.parse_args()

    if args.files:
        msgs = args.files
        missing = [f for f in msgs if not os.path.exists(f)]
        if missing:
            print(f"missing: {' '.join(missing)}", file=sys.stderr)
            return 2
    else:
        msgs = sorted(glob.glob(os.path.join(args.data, "msg_*.txt")))
    if not msgs:
        print(f"no msg_*.txt in {args.data} (Debian package libpython3.11-testsuite; "
              "run deploy/setup.sh)", file=sys.stderr)
        return 2
    outdir = args.out
    if outdir is None:
        import tempfile
        tmp = tempfile.TemporaryDirectory(prefix="sk-corpus-")
        outdir = tmp.name
    os.makedirs(outdir, exist_ok=True)

    env = dict(os.environ)
    # ASan and UBSan exit 1 by default, which is "withheld": make a report
    # impossible to mistake for a verdict.
    env["ASAN_OPTIONS"] = ":".join(filter(None, [env.get("ASAN_OPTIONS"), "exitcode=86"]))
    env["UBSAN_OPTIONS"] = ":".join(
        filter(None, [env.get("UBSAN_OPTIONS"), "halt_on_error=1", "exitcode=87"]))

    passed = failed = withheld = 0
    for path in msgs:
        name, rc, problems = run_one(args, path, outdir, env)
        if problems:
            failed += 1
            print(f"FAIL {name} (exit {rc})")
            for p in problems:
                print(f"    {p}")
        else:
            passed += 1
            withheld += rc == 1
            print(f"ok   {name} ({'withheld' if rc == 1 else 'sanitised'})")
    print(f"{len(msgs)} messages from {'the command line' if args.files else args.data}; "
          f"{withheld} withheld")
    print(f"corpus: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

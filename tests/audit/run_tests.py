#!/usr/bin/env python3
"""Tests of the audit log (common/audit.c) and `sekisho audit verify`.

Each case builds a log in a fresh temporary directory with audit_tool
(common/audit.c itself) or the sekisho CLI, damages it the way an attacker
or a crash would, and checks that `sekisho audit verify` names exactly the
right line and seq and exits 1 (0 when intact, 2 on usage / unreadable key).

usage: run_tests.py --sekisho BIN --tool BIN --rules DIR CASE
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

ARGS = None


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def env_for(d):
    e = dict(os.environ)
    e["SEKISHO_AUDIT_LOG"] = os.path.join(d, "audit.jsonl")
    e["SEKISHO_AUDIT_KEY"] = os.path.join(d, "audit.key")
    e["SEKISHO_TODAY"] = "2026-11-22"
    return e


def run(argv, env, expect_rc=None):
    p = subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=120)
    if expect_rc is not None and p.returncode != expect_rc:
        fail("%s: exit %d, expected %d\nstdout: %s\nstderr: %s" %
             (" ".join(argv), p.returncode, expect_rc, p.stdout, p.stderr))
    return p


def sekisho(d, *args, expect_rc=None):
    return run([ARGS.sekisho] + list(args), env_for(d), expect_rc)


def make_log(d, n):
    """keygen + n records through audit_tool; returns (log path, lines)."""
    e = env_for(d)
    sekisho(d, "audit", "keygen", e["SEKISHO_AUDIT_KEY"], expect_rc=0)
    run([ARGS.tool, "write", e["SEKISHO_AUDIT_LOG"], e["SEKISHO_AUDIT_KEY"], str(n)], e, 0)
    with open(e["SEKISHO_AUDIT_LOG"], "rb") as f:
        lines = f.read().split(b"\n")
    if lines[-1] != b"":
        fail("the log does not end with a newline")
    return e["SEKISHO_AUDIT_LOG"], lines[:-1]


def write_lines(path, lines, tail=b"\n"):
    with open(path, "wb") as f:
        f.write(b"\n".join(lines) + (tail if lines else b""))


def expect_broken(d, log, line, seq, what, extra=()):
    p = sekisho(d, "audit", "verify", *extra, expect_rc=1)
    want = "%s:%d: record seq %d: %s" % (log, line, seq, what)
    if not p.stdout.startswith(want):
        fail("verify said %r, expected it to start with %r" % (p.stdout, want))


# positions damaged in each case: first, ordinary, an anchor (seq 100), last
POSITIONS = (1, 37, 100, 101, 152)
N = 150  # records written: 150 + the anchor at open + the anchor at seq 100 = 152 lines


def damage_cases(mutate, what, positions=POSITIONS):
    for k in positions:
        with tempfile.TemporaryDirectory(prefix="audit-") as d:
            log, lines = make_log(d, N)
            if len(lines) != 152:
                fail("expected 152 lines, got %d" % len(lines))
            lines[k - 1] = mutate(lines[k - 1])
            write_lines(log, lines)
            expect_broken(d, log, k, k, what)


def flip(b, i):
    c = b[i:i + 1]
    rep = b"1" if c != b"1" else b"2"
    return b[:i] + rep + b[i + 1:]


def case_intact():
    with tempfile.TemporaryDirectory(prefix="audit-") as d:
        log, lines = make_log(d, N)
        p = sekisho(d, "audit", "verify", expect_rc=0)
        if "%s: 152 records intact, head 152:" % log not in p.stdout:
            fail("summary: " + p.stdout)
        # the explicit FILE and --key arguments mean the same
        sekisho(d, "audit", "verify", log, "--key", env_for(d)["SEKISHO_AUDIT_KEY"], expect_rc=0)
        recs = [json.loads(l) for l in lines]
        if [r["seq"] for r in recs] != list(range(1, 153)):
            fail("seqs are not 1..152")
        if recs[0]["type"] != "anchor" or recs[99]["type"] != "anchor":
            fail("anchors expected at seq 1 (open) and seq 100")
        if recs[99]["data"] != {"count": 99, "head": recs[98]["hmac"]}:
            fail("anchor 100 does not carry count and head: %r" % recs[99]["data"])
        for a, b in zip(recs, recs[1:]):
            if b["prev"] != a["hmac"]:
                fail("prev of seq %d is not the hmac of seq %d" % (b["seq"], a["seq"]))
        # a wrong key finds the very first record altered
        other = os.path.join(d, "other.key")
        sekisho(d, "audit", "keygen", other, expect_rc=0)
        p = sekisho(d, "audit", "verify", "--key", other, expect_rc=1)
        if not p.stdout.startswith("%s:1: record seq 1: altered (HMAC does not match)" % log):
            fail("wrong key: " + p.stdout)
        # usage
        sekisho(d, "audit", "verify", "--head", "nonsense", expect_rc=2)
        sekisho(d, "audit", "frobnicate", expect_rc=2)
        sekisho(d, "audit", expect_rc=2)
        if "audit verify [FILE]" not in sekisho(d, "audit", "--help", expect_rc=0).stdout:
            fail("audit --help")
        sekisho(d, "audit", "verify", os.path.join(d, "missing.jsonl"), expect_rc=2)


def case_alter_data():
    # a byte inside the data object: still valid JSON, the HMAC catches it
    damage_cases(lambda b: flip(b, b.index(b'"data":{"') + 9),
                 "altered (HMAC does not match)")
    # a byte that breaks the JSON
    damage_cases(lambda b: b.replace(b'"data":{', b'"data":[', 1),
                 "altered (malformed: data is not an object)", (37,))


def case_alter_hmac():
    damage_cases(lambda b: flip(b, b.index(b'"hmac":"') + 8 + 20),
                 "altered (HMAC does not match)")
    damage_cases(lambda b: flip(b, b.index(b'"prev":"') + 8 + 5),
                 "altered (HMAC does not match)")


def case_alter_seq():
    damage_cases(lambda b: re.sub(rb'^\{"seq":(\d+)', lambda m: b'{"seq":%d' % (int(m.group(1)) + 1), b),
                 "altered (HMAC does not match)")
    damage_cases(lambda b: b.replace(b'{"seq":', b'{"seq":x', 1),
                 "altered (malformed: bad seq)", (37,))
    # time and type are covered too
    damage_cases(lambda b: flip(b, b.index(b'"time":') + 8), "altered (HMAC does not match)",
                 (37,))


def case_delete():
    for k in (1, 37, 99, 100, 151):
        with tempfile.TemporaryDirectory(prefix="audit-") as d:
            log, lines = make_log(d, N)
            del lines[k - 1]
            write_lines(log, lines)
            expect_broken(d, log, k, k, "removed (found seq %d here; 1 record missing)" % (k + 1))
    with tempfile.TemporaryDirectory(prefix="audit-") as d:
        log, lines = make_log(d, N)
        del lines[49:52]  # seq 50, 51, 52
        write_lines(log, lines)
        expect_broken(d, log, 50, 50, "removed (found seq 53 here; 3 records missing)")


def case_swap():
    for k in (1, 37, 99, 100, 151):
        with tempfile.TemporaryDirectory(prefix="audit-") as d:
            log, lines = make_log(d, N)
            lines[k - 1], lines[k] = lines[k], lines[k - 1]
            write_lines(log, lines)
            expect_broken(d, log, k, k, "out of order (found seq %d here)" % (k + 1))
    # a record moved far down
    with tempfile.TemporaryDirectory(prefix="audit-") as d:
        log, lines = make_log(d, N)
        moved = lines.pop(9)
        lines.insert(120, moved)
        write_lines(log, lines)
        expect_broken(d, log, 10, 10, "out of order (found seq 11 here)")


def case_truncate_tail():
    for drop in (1, 3, 60):
        with tempfile.TemporaryDirectory(prefix="audit-") as d:
            log, lines = make_log(d, N)
            head = sekisho(d, "audit", "head", expect_rc=0).stdout.strip()
            if not re.fullmatch(r"152:[0-9a-f]{64}", head):
                fail("audit head printed %r" % head)
            sekisho(d, "audit", "verify", "--head", head, expect_rc=0)
            write_lines(log, lines[:-drop])
            # whole records cut after the last anchor: only the head copied
            # elsewhere shows it (documented limitation)
            sekisho(d, "audit", "verify", expect_rc=0)
            expect_broken(d, log, 153 - drop, 153 - drop,
                          "truncated (the log ends at seq %d; the head copied elsewhere is seq 152)"
                          % (152 - drop), ("--head", head))
    # everything removed
    with tempfile.TemporaryDirectory(prefix="audit-") as d:
        log, lines = make_log(d, 5)
        head = sekisho(d, "audit", "head", expect_rc=0).stdout.strip()
        open(log, "wb").close()
        expect_broken(d, log, 1, 1, "truncated (the log ends at seq 0", ("--head", head))
    # the tail replaced by other genuine records of the same key is caught by
    # the head's hmac: a second log written with the same key
    with tempfile.TemporaryDirectory(prefix="audit-") as d:
        log, lines = make_log(d, 5)
        head = sekisho(d, "audit", "head", expect_rc=0).stdout.strip()
        os.unlink(log)
        run([ARGS.tool, "write", log, env_for(d)["SEKISHO_AUDIT_KEY"], "6"], env_for(d), 0)
        expect_broken(d, log, 6, 6, "does not match the head copied elsewhere", ("--head", head))


def case_truncate_midline():
    for cut in (1, 10, 150):
        with tempfile.TemporaryDirectory(prefix="audit-") as d:
            log, lines = make_log(d, N)
            size = os.path.getsize(log)
            os.truncate(log, size - cut)
            expect_broken(d, log, 152, 152, "truncated (the last line is incomplete)")
            # and the writer refuses to continue after the damage
            p = run([ARGS.tool, "open", log, env_for(d)["SEKISHO_AUDIT_KEY"]], env_for(d), 1)
            if "the last record is incomplete" not in p.stderr:
                fail("open after a mid-line truncation: " + p.stderr)
            # so do the gateway's records: logged, the command itself stands
            p = sekisho(d, "check", ARGS.rules, expect_rc=0)
            if "audit log: check record not written" not in p.stderr:
                fail("check with a broken log: " + p.stderr)


def case_loose_key():
    for mode in (0o640, 0o604, 0o644, 0o660):
        with tempfile.TemporaryDirectory(prefix="audit-") as d:
            log, lines = make_log(d, 3)
            key = env_for(d)["SEKISHO_AUDIT_KEY"]
            os.chmod(key, mode)
            p = sekisho(d, "audit", "verify", expect_rc=2)
            want = "audit key %s is accessible by group or others (mode %04o); refused" % (key, mode)
            if want not in p.stderr:
                fail("verify with mode %o: %r" % (mode, p.stderr))
            p = run([ARGS.tool, "open", log, key], env_for(d), 1)
            if want not in p.stderr:
                fail("open with mode %o: %r" % (mode, p.stderr))
            before = os.path.getsize(log)
            p = sekisho(d, "check", ARGS.rules, expect_rc=0)
            if want not in p.stderr or os.path.getsize(log) != before:
                fail("check with a loose key: %r" % p.stderr)
    with tempfile.TemporaryDirectory(prefix="audit-") as d:
        key = os.path.join(d, "k")
        sekisho(d, "audit", "keygen", key, expect_rc=0)
        if os.stat(key).st_mode & 0o777 != 0o600 or os.path.getsize(key) != 32:
            fail("keygen: mode %o size %d" % (os.stat(key).st_mode, os.path.getsize(key)))
        sekisho(d, "audit", "keygen", key, expect_rc=2)  # never overwrites


def case_unit():
    with tempfile.TemporaryDirectory(prefix="audit-") as d:
        run([ARGS.tool, "unit", d], os.environ, 0)


def case_concurrent():
    with tempfile.TemporaryDirectory(prefix="audit-") as d:
        e = env_for(d)
        log, key = e["SEKISHO_AUDIT_LOG"], e["SEKISHO_AUDIT_KEY"]
        sekisho(d, "audit", "keygen", key, expect_rc=0)
        procs = [subprocess.Popen([ARGS.tool, "threads", log, key, "4", "150"],
                                  stderr=subprocess.PIPE, text=True) for _ in range(2)]
        # and the CLI appending at the same time
        # and verify reading meanwhile (it takes the lock: never half a line)
        for _ in range(5):
            sekisho(d, "check", ARGS.rules, expect_rc=0)
            sekisho(d, "audit", "verify", expect_rc=0)
        for p in procs:
            _, err = p.communicate(timeout=120)
            if p.returncode != 0:
                fail("writer process: " + err)
        p = sekisho(d, "audit", "verify", expect_rc=0)
        recs = [json.loads(l) for l in open(log, "rb").read().splitlines()]
        tests = [r for r in recs if r["type"] == "test"]
        checks = [r for r in recs if r["type"] == "check"]
        if len(tests) != 2 * 4 * 150 or len(checks) != 5:
            fail("%d test and %d check records" % (len(tests), len(checks)))
        seen = {}
        for r in tests:
            k = (r["data"]["pid"], r["data"]["thread"])
            if r["data"]["i"] != seen.get(k, -1) + 1:
                fail("records of %r out of order" % (k,))
            seen[k] = r["data"]["i"]
        for r in recs:
            if r["seq"] % 100 == 0 and r["type"] != "anchor":
                fail("seq %d is not an anchor" % r["seq"])
        if "%d records intact" % len(recs) not in p.stdout:
            fail(p.stdout)


def case_check_records():
    with tempfile.TemporaryDirectory(prefix="audit-") as d:
        e = env_for(d)
        sekisho(d, "audit", "keygen", e["SEKISHO_AUDIT_KEY"], expect_rc=0)
        sekisho(d, "check", ARGS.rules, expect_rc=0)
        bad = os.path.join(d, "bad")
        os.mkdir(bad)
        with open(os.path.join(bad, "a.rules"), "w") as f:
            f.write("segment joho {\n")
        sekisho(d, "check", bad, expect_rc=1)
        recs = [json.loads(l) for l in open(e["SEKISHO_AUDIT_LOG"], "rb").read().splitlines()]
        if [r["type"] for r in recs] != ["check", "check"]:
            fail("records: %r" % recs)
        if recs[0]["data"] != {"dir": ARGS.rules, "errors": 0, "warnings": 0, "result": "ok"}:
            fail("check record: %r" % recs[0]["data"])
        if recs[1]["data"]["dir"] != bad or recs[1]["data"]["errors"] < 1 or \
                recs[1]["data"]["result"] != "errors":
            fail("failed check record: %r" % recs[1]["data"])
        sekisho(d, "audit", "verify", expect_rc=0)
        # an apply refused by the check is recorded too (no digest: nothing compiled)
        state = os.path.join(d, "state")
        sekisho(d, "--state-dir", state, "apply", bad, expect_rc=1)
        rec = json.loads(open(e["SEKISHO_AUDIT_LOG"], "rb").read().splitlines()[-1])
        if rec["type"] != "apply" or rec["data"]["outcome"] != "refused" or \
                rec["data"]["digest"] is not None or rec["data"]["rules"] != bad:
            fail("refused apply record: %r" % rec)
        sekisho(d, "audit", "verify", expect_rc=0)
    # no audit log configured: nothing is written, nothing is said
    with tempfile.TemporaryDirectory(prefix="audit-") as d:
        e = dict(os.environ)
        e["SEKISHO_AUDIT_LOG"] = "none"
        e.pop("SEKISHO_AUDIT_KEY", None)
        p = run([ARGS.sekisho, "check", ARGS.rules], e, 0)
        if "audit" in p.stderr:
            fail("check without an audit log: " + p.stderr)


def case_apply_records():
    """apply / apply again / other rules with expired exceptions / rollback /
    apply --confirm + confirm / apply --confirm left to revert: in a network
    namespace of its own (unshare -n), so the host's tables are untouched."""
    import time
    expired = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "check",
                           "exception_expired_warns")
    with tempfile.TemporaryDirectory(prefix="audit-") as d:
        e = env_for(d)
        sekisho(d, "audit", "keygen", e["SEKISHO_AUDIT_KEY"], expect_rc=0)
        st = os.path.join(d, "state")
        s = [ARGS.sekisho, "--state-dir", st]
        script = " && ".join(" ".join("'%s'" % a for a in cmd) for cmd in (
            s + ["apply", ARGS.rules],
            s + ["apply", ARGS.rules],
            s + ["apply", expired],
            s + ["rollback"],
            s + ["apply", "--confirm", "60", expired],
            s + ["confirm"],
            s + ["apply", "--confirm", "1", ARGS.rules],
        ))
        out = run(["unshare", "-n", "sh", "-c", script], e, 0).stderr
        waiters = [int(x) for x in re.findall(r"waiter pid (\d+)", out)]
        if len(waiters) != 2:
            fail("apply --confirm printed no waiter pid: " + out)
        log = e["SEKISHO_AUDIT_LOG"]
        # the confirm waiter reverts after 1 s; wait for its record (bounded)
        for _ in range(600):
            recs = [json.loads(l) for l in open(log, "rb").read().splitlines()]
            if sum(1 for r in recs if r["type"] == "exception" and r["data"]["version"] == 6) == 2:
                break
            time.sleep(0.1)
        # the waiters are done before the directory they write to goes away
        for _ in range(600):
            if not any(os.path.exists("/proc/%d" % w) for w in waiters):
                break
            time.sleep(0.1)
        main = [r for r in recs if r["type"] != "exception"]
        got = [(r["type"], r["data"].get("outcome"), r["data"].get("version")) for r in main]
        want = [("apply", "applied", 1), ("apply", "unchanged", 1), ("apply", "applied", 2),
                ("rollback", "applied", 3), ("apply", "applied", 4), ("confirm", "confirmed", 4),
                ("apply", "applied", 5), ("confirm-revert", "applied", 6)]
        if got != want:
            fail("records %r, expected %r" % (got, want))
        d1, d2 = main[0]["data"]["digest"], main[2]["data"]["digest"]
        if not re.fullmatch(r"[0-9a-f]{16}", d1) or d1 == d2:
            fail("digests %r %r" % (d1, d2))
        if main[3]["data"]["digest"] != d1 or main[3]["data"]["reason"] != "rollback to 000001":
            fail("rollback record %r" % main[3]["data"])
        if main[7]["data"]["digest"] != d2 or not main[7]["data"]["reason"].startswith(
                "confirm timeout"):
            fail("confirm-revert record %r" % main[7]["data"])
        exc = [r["data"] for r in recs if r["type"] == "exception" and r["data"]["version"] == 2]
        if [x["state"] for x in exc] != ["expired", "expired"] or \
                exc[0]["expires"] != "2026-03-31" or not exc[0]["at"].endswith("flows.rules:2"):
            fail("exception records of version 2: %r" % exc)
        exc1 = [r["data"] for r in recs if r["type"] == "exception" and r["data"]["version"] == 1]
        if not exc1 or any(x["state"] != "applied" or not x["approved_by"] for x in exc1):
            fail("exception records of version 1: %r" % exc1)
        sekisho(d, "audit", "verify", expect_rc=0)


CASES = {n[5:]: f for n, f in globals().items() if n.startswith("case_")}


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--sekisho", required=True)
    ap.add_argument("--tool", required=True)
    ap.add_argument("--rules", required=True)
    ap.add_argument("case", choices=sorted(CASES))
    ARGS = ap.parse_args()
    CASES[ARGS.case]()
    print("ok " + ARGS.case)


if __name__ == "__main__":
    main()

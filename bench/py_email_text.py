#!/usr/bin/env python3
"""py_email_text.py - the scripting peer of bench/sanitize_bench.sh.

    py_email_text.py [-t SECONDS] FILE...

python3's email module extracting the text of each message, in process:
message_from_bytes(policy=email.policy.default), get_body(('plain', 'html'))
and get_content() (transfer and charset decoding of the chosen part; the
other parts are parsed but not decoded, HTML is not turned into text).
Files are read first; one untimed pass, then whole passes until SECONDS
(default 3) have gone by, each message timed on its own.  Prints, like
sanitize_bench:
    RESULT python-email CLASS MSGS BYTES SECONDS MB/S MSGS/S
for each class (file name up to its first '-') and for "all".
"""

import argparse
import email
import email.policy
import os
import time


def extract(raw):
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    body = msg.get_body(preferencelist=("plain", "html"))
    if body is None:
        return ""
    try:
        return body.get_content()
    except (LookupError, UnicodeError):
        return ""


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-t", type=float, default=3.0, dest="seconds")
    ap.add_argument("files", nargs="+")
    args = ap.parse_args()

    msgs = []
    classes = []
    for path in args.files:
        with open(path, "rb") as f:
            raw = f.read()
        cls = os.path.basename(path).split("-", 1)[0].split(".", 1)[0]
        if cls not in classes:
            classes.append(cls)
        msgs.append((cls, raw))

    for _, raw in msgs:  # warm-up
        extract(raw)
    stats = {c: [0, 0, 0.0] for c in classes}
    start = time.perf_counter()
    while True:
        for cls, raw in msgs:
            t0 = time.perf_counter()
            extract(raw)
            dt = time.perf_counter() - t0
            s = stats[cls]
            s[0] += 1
            s[1] += len(raw)
            s[2] += dt
        if time.perf_counter() - start >= args.seconds:
            break
    total = [sum(s[i] for s in stats.values()) for i in range(3)]
    for name, (n, b, sec) in list(stats.items()) + [("all", total)]:
        sec = sec or 1e-9
        print(f"RESULT python-email {name} {n} {b} {sec:.6f} {b / 1e6 / sec:.2f} {n / sec:.1f}")


if __name__ == "__main__":
    main()

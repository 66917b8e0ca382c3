#!/usr/bin/env python3
"""gen_mail.py - the mixed mail corpus of bench/sanitize_bench.sh.

    gen_mail.py OUTDIR [--jp N] [--html N] [--alt N] [--att N] [--seed S]

Writes deterministic messages (CRLF line ends), named by class:
  jp-NNNN.eml    short Japanese plain mail in ISO-2022-JP (RFC 2047 subject,
                 7bit body, 5-30 lines)
  html-NNNN.eml  HTML-only newsletters, UTF-8, quoted-printable (head, style,
                 script, tables, lists, links, images, entities; 10-60 KB)
  alt-NNNN.eml   multipart/alternative: ISO-2022-JP text/plain + UTF-8
                 text/html (base64)
  att-NNNN.eml   Japanese text plus one attachment of 1-10 MB (sizes spread
                 evenly over the class), base64: random bytes
                 (application/octet-stream) or CSV text, alternately
Prints "CLASS COUNT BYTES" per class.
"""

import argparse
import base64
import os
import quopri
import random
from email.header import Header

SENTENCES = [
    "いつもお世話になっております。",
    "来週の会議資料を送付いたします。",
    "ご確認のほど、よろしくお願いいたします。",
    "防災訓練の日程が決まりましたのでお知らせします。",
    "庁舎の電気設備点検のため、当日は停電があります。",
    "予算要求の締め切りは今月末です。",
    "申請書の様式が変更になりました。",
    "住民説明会は市民会館で午後二時から行います。",
    "ご不明な点がありましたら、担当までご連絡ください。",
    "添付の資料は個人情報を含みますので取り扱いにご注意ください。",
    "消防本部との合同訓練について、参加者を募集しています。",
    "本件につきましては、課長の決裁を得ております。",
]
NAMES = ["総務課 山田", "防災安全課 佐藤", "情報政策課 鈴木", "財政課 高橋", "消防本部 田中"]


def crlf(s):
    return s.replace("\r\n", "\n").replace("\n", "\r\n")


def jp_lines(rng, n):
    return [rng.choice(SENTENCES) for _ in range(n)]


def headers(rng, i, subject, extra):
    h = [
        f"From: {Header(rng.choice(NAMES), 'iso-2022-jp').encode()} <user{i % 50}@example.lg.jp>",
        f"To: staff{i % 7}@example.lg.jp",
        f"Subject: {Header(subject, 'iso-2022-jp').encode()}",
        f"Date: Mon, 1 Apr 2024 {9 + i % 8:02d}:{i % 60:02d}:00 +0900",
        f"Message-ID: <bench.{i}@example.lg.jp>",
        "MIME-Version: 1.0",
    ]
    return "\n".join(h + extra) + "\n\n"


def jp_body(rng, n):
    return "\n".join(jp_lines(rng, n)) + "\n"


def jis(text):
    return text.encode("iso-2022-jp").decode("ascii")


def html_doc(rng, size):
    parts = [
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>市政だより</title>",
        "<style>body{font-family:sans-serif} td{padding:4px}</style>",
        "<script>var tracker = 'x'; document.write('<b>' + tracker + '</b>');</script>",
        "</head><body><h1>市政だより &amp; お知らせ</h1>",
    ]
    n = 0
    while sum(map(len, parts)) < size:
        n += 1
        s = rng.choice(SENTENCES)
        kind = n % 4
        if kind == 0:
            parts.append(f"<p>{s} <a href=\"https://www.example.lg.jp/news/{n}\">詳しくはこちら</a></p>")
        elif kind == 1:
            parts.append("<table><tr>" + "".join(
                f"<td>{rng.choice(SENTENCES)}</td>" for _ in range(3)) + "</tr></table>")
        elif kind == 2:
            parts.append("<ul>" + "".join(f"<li>{x}&nbsp;&#x2460;</li>" for x in jp_lines(rng, 3)) + "</ul>")
        else:
            parts.append(f"<div><img src=\"cid:img{n}\" alt=\"{s}\"><!-- comment {n} --></div>")
    parts.append("<p>配信停止は<a href=\"https://www.example.lg.jp/unsubscribe\">こちら</a></p></body></html>")
    return "\n".join(parts) + "\n"


def qp(text):
    return quopri.encodestring(text.encode("utf-8")).decode("ascii")


def b64(data):
    return base64.encodebytes(data).decode("ascii")


def gen_jp(rng, i):
    subject = rng.choice(SENTENCES)[:12]
    return headers(rng, i, subject, ["Content-Type: text/plain; charset=ISO-2022-JP",
                                     "Content-Transfer-Encoding: 7bit"]) + \
        jis(jp_body(rng, rng.randint(5, 30)))


def gen_html(rng, i):
    return headers(rng, i, "市政だより", ["Content-Type: text/html; charset=UTF-8",
                                       "Content-Transfer-Encoding: quoted-printable"]) + \
        qp(html_doc(rng, rng.randint(10_000, 60_000)))


def gen_alt(rng, i):
    b = f"alt-boundary-{i}"
    text = jp_body(rng, rng.randint(10, 40))
    html = html_doc(rng, rng.randint(5_000, 30_000))
    return headers(rng, i, "お知らせ", [f"Content-Type: multipart/alternative; boundary=\"{b}\""]) + \
        f"--{b}\nContent-Type: text/plain; charset=ISO-2022-JP\nContent-Transfer-Encoding: 7bit\n\n" + \
        jis(text) + \
        f"--{b}\nContent-Type: text/html; charset=UTF-8\nContent-Transfer-Encoding: base64\n\n" + \
        b64(html.encode("utf-8")) + f"--{b}--\n"


def gen_att(rng, i, size):
    b = f"mixed-boundary-{i}"
    if i % 2 == 0:
        data = rng.randbytes(size)
        ctype, name = "application/octet-stream", f"data{i}.bin"
    else:
        rows = []
        n = 0
        while n < size:
            row = f"{len(rows)},{rng.randint(0, 10**9)},{rng.choice(['東京都', '大阪府', '北海道'])},{rng.random():.6f}\n"
            rows.append(row)
            n += len(row.encode("utf-8"))
        data = "".join(rows).encode("utf-8")[:size]
        ctype, name = "text/csv; charset=UTF-8", f"table{i}.csv"
    return headers(rng, i, "資料送付", [f"Content-Type: multipart/mixed; boundary=\"{b}\""]) + \
        f"--{b}\nContent-Type: text/plain; charset=ISO-2022-JP\nContent-Transfer-Encoding: 7bit\n\n" + \
        jis(jp_body(rng, 6)) + \
        f"--{b}\nContent-Type: {ctype}; name=\"{name}\"\nContent-Transfer-Encoding: base64\n" + \
        f"Content-Disposition: attachment; filename=\"{name}\"\n\n" + \
        b64(data) + f"--{b}--\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("outdir")
    ap.add_argument("--jp", type=int, default=300)
    ap.add_argument("--html", type=int, default=60)
    ap.add_argument("--alt", type=int, default=60)
    ap.add_argument("--att", type=int, default=10)
    ap.add_argument("--seed", type=int, default=20240401)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    os.makedirs(args.outdir, exist_ok=True)
    plan = [("jp", args.jp, gen_jp), ("html", args.html, gen_html), ("alt", args.alt, gen_alt)]
    for cls, count, fn in plan:
        total = 0
        for i in range(count):
            data = crlf(fn(rng, i)).encode("ascii")
            with open(os.path.join(args.outdir, f"{cls}-{i:04d}.eml"), "wb") as f:
                f.write(data)
            total += len(data)
        print(f"{cls} {count} {total}")
    total = 0
    for i in range(args.att):
        # 1..10 MB spread evenly over the class
        size = (1 + (9 * i) // max(1, args.att - 1)) * 1_000_000 if args.att > 1 else 1_000_000
        data = crlf(gen_att(rng, i, size)).encode("ascii")
        with open(os.path.join(args.outdir, f"att-{i:04d}.eml"), "wb") as f:
            f.write(data)
        total += len(data)
    print(f"att {args.att} {total}")


if __name__ == "__main__":
    main()

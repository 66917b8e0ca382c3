#!/usr/bin/env python3
"""make_cases.py - write the golden input messages of tests/sanitize/cases.

The .eml files are committed; this script is how they were made (run it
from anywhere; it rewrites cases/*.eml only).  Each case is named after the
hostile or representative input it tries; cases.list gives the expected
exit code and options.  Binary payloads are tiny and made here (the EICAR
string, a fake PDF, a stored zip, the TNEF seed of tests/fuzz).
"""
import base64
import binascii
import io
import os
import quopri
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(HERE, "cases")

HDR = (b"From: =?ISO-2022-JP?B?GyRCOzNFRBsoQiAbJEJCQE86GyhC?= <yamada@example.lg.jp>\n"
       b"To: Sato Hanako <sato@example.lg.jp>\n"
       b"Date: Tue, 02 Apr 2024 10:00:00 +0900\n"
       b"Message-ID: <20240402100000.1234@example.lg.jp>\n")


def jis(text):
    """UTF-8 text -> ISO-2022-JP bytes (CP50220 style: CP932 rows via SJIS)."""
    out = bytearray()
    mode = "ascii"
    for ch in text:
        if ord(ch) < 0x80:
            if mode != "ascii":
                out += b"\x1b(B"
                mode = "ascii"
            out += ch.encode()
            continue
        s = ch.encode("cp932")
        a, b = s[0], s[1]
        # Shift_JIS -> JIS X 0208 row/cell
        a -= 0x70 if a < 0xA0 else 0xB0
        a *= 2
        if b >= 0x9F:
            b -= 0x7E
        else:
            a -= 1
            b -= 0x1F if b < 0x7F else 0x20
        if mode != "jis":
            out += b"\x1b$B"
            mode = "jis"
        out += bytes([a, b])
    if mode != "ascii":
        out += b"\x1b(B"
    return bytes(out)


def b64w(data):
    return base64.encodebytes(data)


def ew_jis(text):
    return b"=?ISO-2022-JP?B?" + base64.b64encode(jis(text)) + b"?="


def write(name, data):
    with open(os.path.join(OUT, name + ".eml"), "wb") as f:
        f.write(data)


JA_BODY = "お世話になっております。\n来週の会議の資料を送ります。\nよろしくお願いいたします。\n"

EICAR = (b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*")
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def zipdata():
    bio = io.BytesIO()
    with zipfile.ZipFile(bio, "w", zipfile.ZIP_STORED) as z:
        zi = zipfile.ZipInfo("data.csv", date_time=(2024, 4, 2, 10, 0, 0))
        z.writestr(zi, "a,b\n1,2\n")
    return bio.getvalue()


def main():
    os.makedirs(OUT, exist_ok=True)

    write("ja_plain_iso2022jp", HDR + b"Subject: " + ew_jis("会議の資料") + b"\n"
          b"MIME-Version: 1.0\nContent-Type: text/plain; charset=ISO-2022-JP\n"
          b"Content-Transfer-Encoding: 7bit\n\n" + jis(JA_BODY))

    write("ja_plain_sjis", HDR + b"Subject: =?Shift_JIS?B?" +
          base64.b64encode("予定表".encode("cp932")) + b"?=\n"
          b"MIME-Version: 1.0\nContent-Type: text/plain; charset=Shift_JIS\n"
          b"Content-Transfer-Encoding: 8bit\n\n" +
          (JA_BODY + "表示・ソフト・能力（0x5C を含む文字）\n").encode("cp932"))

    write("ja_plain_eucjp", HDR + b"Subject: =?EUC-JP?B?" +
          base64.b64encode("お知らせ".encode("euc_jp")) + b"?=\n"
          b"MIME-Version: 1.0\nContent-Type: text/plain; charset=EUC-JP\n"
          b"Content-Transfer-Encoding: 8bit\n\n" + JA_BODY.encode("euc_jp"))

    body = ("日本語の本文です。" * 12 + "\n" + JA_BODY).encode()
    write("ja_plain_utf8_qp", (HDR + b"Subject: =?UTF-8?Q?" +
                               b"=E3=81=94=E6=A1=88=E5=86=85" + b"?=\n"
                               b"MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n"
                               b"Content-Transfer-Encoding: quoted-printable\n\n" +
                               quopri.encodestring(body)).replace(b"\n", b"\r\n"))

    ext = "丸数字①②③、株式会社は㈱、ローマ数字ⅠⅡⅢ、単位㌔㍉、≒≡∫\n"
    write("ja_cp50220_extensions", HDR + b"Subject: " + ew_jis("①㈱Ⅰのテスト") + b"\n"
          b"MIME-Version: 1.0\nContent-Type: text/plain; charset=ISO-2022-JP\n\n" + jis(ext))

    html = ("<!DOCTYPE html><html><head><meta charset=\"shift_jis\"><title>t</title>"
            "<style>p{color:red}</style><script>alert(1)</script></head><body>"
            "<h1>市役所だより 4月号</h1><p>桜の季節になりました。&nbsp;各種のお知らせです。</p>"
            "<ul><li>ごみ収集日の変更</li><li>窓口の受付時間 &amp; 休日</li></ul>"
            "<p>詳しくは<a href=\"https://www.example.lg.jp/news?id=1\">こちら</a>。</p>"
            "<img src=\"cid:logo\" alt=\"市のロゴ\"><!-- tracking --></body></html>\n")
    write("html_only_newsletter", HDR + b"Subject: =?UTF-8?B?" +
          base64.b64encode("市役所だより".encode()) + b"?=\n"
          b"MIME-Version: 1.0\nContent-Type: text/html\n"
          b"Content-Transfer-Encoding: base64\n\n" + b64w(html.encode("cp932")))

    plain = "会議は4月10日14時から第2会議室です。\n議題: 予算、人事、その他\n"
    html2 = "<html><body><p>会議は<b>4月10日14時</b>から第2会議室です。</p><p>議題: 予算、人事、その他</p></body></html>"
    write("alternative_plain_and_html", HDR + b"Subject: alternative\nMIME-Version: 1.0\n"
          b"Content-Type: multipart/alternative; boundary=\"alt-1\"\n\n"
          b"--alt-1\nContent-Type: text/plain; charset=UTF-8\nContent-Transfer-Encoding: 8bit\n\n" +
          plain.encode() + b"\n--alt-1\nContent-Type: text/html; charset=UTF-8\n"
          b"Content-Transfer-Encoding: 8bit\n\n" + html2.encode() + b"\n--alt-1--\n")

    html3 = ("<html><body><h2>Newsletter</h2>" +
             "".join("<p>Item %d: the new service opens on Monday; details on the web site.</p>" % i
                     for i in range(1, 6)) + "</body></html>")
    write("alternative_empty_plain_uses_html", HDR + b"Subject: newsletter\nMIME-Version: 1.0\n"
          b"Content-Type: multipart/alternative; boundary=\"b\"\n\n"
          b"--b\nContent-Type: text/plain; charset=us-ascii\n\n"
          b"This is an HTML message. Please use an HTML capable mail program.\n"
          b"--b\nContent-Type: text/html; charset=us-ascii\n\n" + html3.encode() + b"\n--b--\n")

    write("attachments_pdf_and_zip", HDR + b"Subject: =?UTF-8?B?" +
          base64.b64encode("資料送付".encode()) + b"?=\nMIME-Version: 1.0\n"
          b"Content-Type: multipart/mixed; boundary=\"=_mixed_01\"\n\n"
          b"This is a multi-part message in MIME format.\n\n"
          b"--=_mixed_01\nContent-Type: text/plain; charset=ISO-2022-JP\n\n" + jis(JA_BODY) +
          b"\n--=_mixed_01\nContent-Type: application/pdf; name=\"" + ew_jis("資料") +
          b".pdf\"\nContent-Disposition: attachment; filename*=UTF-8''%E8%B3%87%E6%96%99.pdf\n"
          b"Content-Transfer-Encoding: base64\n\n" + b64w(PDF) +
          b"\n--=_mixed_01\nContent-Type: application/zip; name=data.zip\n"
          b"Content-Disposition: attachment; filename=data.zip\n"
          b"Content-Transfer-Encoding: base64\n\n" + b64w(zipdata()) + b"\n--=_mixed_01--\n")

    inner = (b"From: Suzuki <suzuki@example.com>\nTo: yamada@example.lg.jp\n"
             b"Date: Mon, 01 Apr 2024 09:00:00 +0900\nSubject: " + ew_jis("元のメール") + b"\n"
             b"MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"inner\"\n\n"
             b"--inner\nContent-Type: text/plain; charset=ISO-2022-JP\n\n" +
             jis("転送元の本文です。\n二行目。\n") +
             b"\n--inner\nContent-Type: application/octet-stream; name=tool.exe\n"
             b"Content-Transfer-Encoding: base64\n\n" + b64w(b"MZ\x90\x00fake exe") +
             b"\n--inner--\n")
    write("nested_message_rfc822", HDR + b"Subject: Fwd: forwarded\nMIME-Version: 1.0\n"
          b"Content-Type: multipart/mixed; boundary=\"outer\"\n\n"
          b"--outer\nContent-Type: text/plain; charset=UTF-8\n\n" +
          "転送します。\n".encode() +
          b"\n--outer\nContent-Type: message/rfc822\nContent-Disposition: attachment; filename=fwd.eml\n\n" +
          inner + b"\n--outer--\n")

    write("signed_smime", HDR + b"Subject: signed\nMIME-Version: 1.0\n"
          b"Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; "
          b"micalg=sha-256; boundary=\"sig\"\n\n"
          b"--sig\nContent-Type: text/plain; charset=ISO-2022-JP\n\n" + jis("署名付きの本文です。\n") +
          b"\n--sig\nContent-Type: application/pkcs7-signature; name=smime.p7s\n"
          b"Content-Disposition: attachment; filename=smime.p7s\n"
          b"Content-Transfer-Encoding: base64\n\n" + b64w(bytes(range(48, 148))) + b"\n--sig--\n")

    write("signed_pgp_mime", HDR + b"Subject: pgp signed\nMIME-Version: 1.0\n"
          b"Content-Type: multipart/signed; micalg=pgp-sha256;\n"
          b" protocol=\"application/pgp-signature\"; boundary=\"pgp\"\n\n"
          b"--pgp\nContent-Type: text/plain; charset=us-ascii\n\nSigned text.\n"
          b"\n--pgp\nContent-Type: application/pgp-signature; name=signature.asc\n\n"
          b"-----BEGIN PGP SIGNATURE-----\n\niQEzBAEBCAAdFiEEfake0000000000000000000000000000=\n=abcd\n"
          b"-----END PGP SIGNATURE-----\n\n--pgp--\n")

    write("encrypted_smime_withheld", HDR + b"Subject: encrypted\nMIME-Version: 1.0\n"
          b"Content-Type: application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m\n"
          b"Content-Disposition: attachment; filename=smime.p7m\n"
          b"Content-Transfer-Encoding: base64\n\n" + b64w(bytes(range(200)) * 2))

    write("encrypted_pgp_inline_withheld", HDR + b"Subject: pgp\nMIME-Version: 1.0\n"
          b"Content-Type: text/plain; charset=us-ascii\n\n"
          b"-----BEGIN PGP MESSAGE-----\n\nhQEMA1234567890ABAQf/fakefakefakefakefakefake\n=XYZW\n"
          b"-----END PGP MESSAGE-----\n")

    uu = b"begin 644 hello.bin\n" + binascii.b2a_uu(b"hello, uuencoded world\n") + b"`\nend\n"
    write("uuencode_in_text", HDR + b"Subject: uu\nMIME-Version: 1.0\n"
          b"Content-Type: text/plain; charset=us-ascii\n\n"
          b"Here is the file:\n\n" + uu + b"\nRegards.\n")

    with open(os.path.join(TOP, "tests/fuzz/seed_inline_bin/yenc.txt"), "rb") as f:
        yenc = f.read()
    write("yenc_in_text", HDR + b"Subject: yenc\nMIME-Version: 1.0\n"
          b"Content-Type: text/plain; charset=x-user-defined\nContent-Transfer-Encoding: 8bit\n\n" + yenc)

    with open(os.path.join(TOP, "tests/fuzz/seed_inline_bin/binhex_standard_marker.txt"), "rb") as f:
        binhex = f.read()
    write("binhex_in_text", HDR + b"Subject: binhex\nMIME-Version: 1.0\n"
          b"Content-Type: text/plain; charset=us-ascii\n\n" + binhex)

    with open(os.path.join(TOP, "tests/fuzz/seed_tnef/golden.tnef"), "rb") as f:
        tnef = f.read()
    write("tnef_winmail_dat", HDR + b"Subject: tnef\nMIME-Version: 1.0\n"
          b"Content-Type: multipart/mixed; boundary=\"tn\"\n\n"
          b"--tn\nContent-Type: text/plain; charset=us-ascii\n\nSee attached.\n"
          b"--tn\nContent-Type: application/ms-tnef; name=winmail.dat\n"
          b"Content-Transfer-Encoding: base64\n\n" + b64w(tnef) + b"--tn--\n")

    write("eicar_attachment_withheld", HDR + b"Subject: eicar\nMIME-Version: 1.0\n"
          b"Content-Type: multipart/mixed; boundary=\"e\"\n\n"
          b"--e\nContent-Type: text/plain; charset=us-ascii\n\nHarmless text.\n"
          b"--e\nContent-Type: application/octet-stream; name=eicar.com\n"
          b"Content-Transfer-Encoding: base64\n\n" + b64w(EICAR) + b"--e--\n")

    # Two Content-Type headers: GMime takes the last (text/plain); the
    # first makes it a multipart whose second part is an attachment.
    write("duplicate_content_type", HDR + b"Subject: dup ct\nMIME-Version: 1.0\n"
          b"Content-Type: multipart/mixed; boundary=\"dup\"\n"
          b"Content-Type: text/plain; charset=us-ascii\n\n"
          b"--dup\nContent-Type: text/plain\n\nVisible text.\n"
          b"--dup\nContent-Type: application/x-msdownload; name=run.exe\n"
          b"Content-Transfer-Encoding: base64\n\n" + b64w(b"MZ hidden exe bytes") + b"--dup--\n")

    write("several_boundary_params", HDR + b"Subject: two boundaries\nMIME-Version: 1.0\n"
          b"Content-Type: multipart/mixed; boundary=\"one\"; boundary=\"two\"\n\n"
          b"--one\nContent-Type: text/plain\n\nText under one.\n"
          b"--two\nContent-Type: application/octet-stream; name=secret.bin\n"
          b"Content-Transfer-Encoding: base64\n\n" + b64w(b"secret payload") +
          b"--one\nContent-Type: application/pdf; name=a.pdf\n"
          b"Content-Transfer-Encoding: base64\n\n" + b64w(PDF) + b"--two--\n--one--\n")

    write("boundary_with_whitespace", HDR + b"Subject: ws boundary\nMIME-Version: 1.0\n"
          b"Content-Type: multipart/mixed; boundary=\"ws b \"\n\n"
          b"--ws b \nContent-Type: text/plain\n\nBody text.\n"
          b"--ws b\nContent-Type: application/octet-stream; name=x.bin\n"
          b"Content-Transfer-Encoding: base64\n\n" + b64w(b"payload after a trimmed boundary") +
          b"--ws b --\n")

    write("boundary_prefix_of_other", HDR + b"Subject: prefix\nMIME-Version: 1.0\n"
          b"Content-Type: multipart/mixed; boundary=\"abc\"\n\n"
          b"--abc\nContent-Type: multipart/alternative; boundary=\"abcdef\"\n\n"
          b"--abcdef\nContent-Type: text/plain\n\nPlain half.\n"
          b"--abcdef\nContent-Type: text/html\n\n<p>HTML half</p>\n"
          b"--abcdef--\n"
          b"--abc\nContent-Type: application/octet-stream; name=p.bin\n"
          b"Content-Transfer-Encoding: base64\n\n" + b64w(b"prefix payload") + b"--abc--\n")

    write("missing_closing_boundary", HDR + b"Subject: no close\nMIME-Version: 1.0\n"
          b"Content-Type: multipart/mixed; boundary=\"mc\"\n\n"
          b"--mc\nContent-Type: text/plain\n\nText before the attachment.\n"
          b"--mc\nContent-Type: application/octet-stream; name=trunc.bin\n"
          b"Content-Transfer-Encoding: base64\n\n" + b64w(b"truncated attachment"))

    write("extra_boundaries", HDR + b"Subject: extra\nMIME-Version: 1.0\n"
          b"Content-Type: multipart/mixed; boundary=\"xb\"\n\n"
          b"--xb\n--xb\nContent-Type: text/plain\n\nText.\n"
          b"--xb\n\n--xb--\n"
          b"--xb\nContent-Type: application/octet-stream; name=after-close.bin\n"
          b"Content-Transfer-Encoding: base64\n\n" + b64w(b"hidden after the closing boundary") +
          b"--xb--\n")

    write("odd_cte_spellings", HDR + b"Subject: odd cte\nMIME-Version: 1.0\n"
          b"Content-Type: multipart/mixed; boundary=\"cte\"\n\n"
          b"--cte\nContent-Type: text/plain; charset=UTF-8\nContent-Transfer-Encoding:  Base64\n\n" +
          b64w("本文はBase64です。\n".encode()) +
          b"--cte\nContent-Type: application/octet-stream; name=a.bin\n"
          b"Content-Transfer-Encoding: BASE64;\n\n" + b64w(b"first attachment") +
          b"--cte\nContent-Type: application/octet-stream; name=b.bin\n"
          b"Content-Transfer-Encoding: x-uuencode\n\n" +
          b"begin 644 b.bin\n" + binascii.b2a_uu(b"uu payload") + b"`\nend\n" +
          b"--cte\nContent-Type: application/octet-stream; name=c.bin\n"
          b"Content-Transfer-Encoding: x-gzip64\n\nH4sIAAAAAAAAA0tMSgYAnRY6vwMAAAA=\n"
          b"--cte--\n")

    write("rfc2231_pieces_out_of_order", HDR + b"Subject: 2231\nMIME-Version: 1.0\n"
          b"Content-Type: multipart/mixed; boundary=\"r\"\n\n"
          b"--r\nContent-Type: text/plain\n\nSee the file.\n"
          b"--r\nContent-Type: application/octet-stream\n"
          b"Content-Disposition: attachment;\n filename*2=\"_2024.xlsx\";\n"
          b" filename*0*=UTF-8''%E4%BA%88%E7%AE%97;\n filename*1*=%E8%A1%A8\n"
          b"Content-Transfer-Encoding: base64\n\n" + b64w(b"PK fake xlsx") + b"--r--\n")

    write("rfc2231_conflicts_with_filename", HDR + b"Subject: conflict\nMIME-Version: 1.0\n"
          b"Content-Type: multipart/mixed; boundary=\"c\"\n\n"
          b"--c\nContent-Type: text/plain\n\nSee the file.\n"
          b"--c\nContent-Type: application/octet-stream; name=\"invoice.pdf\"\n"
          b"Content-Disposition: attachment; filename=\"invoice.pdf\";\n"
          b" filename*=UTF-8''invoice.pdf.exe\n"
          b"Content-Transfer-Encoding: base64\n\n" + b64w(b"MZ not a pdf") + b"--c--\n")

    deep = b""
    n = 40
    for i in range(n):
        deep += b"--d%d\nContent-Type: multipart/mixed; boundary=\"d%d\"\n\n" % (i, i + 1)
    deep += b"--d%d\nContent-Type: text/plain\n\ndeep\n" % n
    for i in range(n, -1, -1):
        deep += b"--d%d--\n" % i
    write("mime_depth_limit_withheld", HDR + b"Subject: deep\nMIME-Version: 1.0\n"
          b"Content-Type: multipart/mixed; boundary=\"d0\"\n\n" + deep)

    many = b"".join(b"--m\nContent-Type: text/plain\n\npart %d\n" % i for i in range(1100))
    write("part_count_limit_withheld", HDR + b"Subject: many parts\nMIME-Version: 1.0\n"
          b"Content-Type: multipart/mixed; boundary=\"m\"\n\n" + many + b"--m--\n")

    big = b"".join(b"X-Filler-%04d: %s\n" % (i, b"x" * 900) for i in range(40))
    write("header_bytes_limit", HDR + b"Subject: big headers\n" + big +
          b"MIME-Version: 1.0\nContent-Type: text/plain\n\nbody\n")

    write("mislabelled_charset", HDR + b"Subject: " + "生の Shift_JIS の件名".encode("cp932") +
          b"\nMIME-Version: 1.0\n"
          b"Content-Type: text/plain; charset=us-ascii\nContent-Transfer-Encoding: 8bit\n\n" +
          "ラベルは us-ascii ですが中身は Shift_JIS です。\n".encode("cp932"))

    write("invalid_bytes_replaced_visibly", HDR + b"Subject: bad bytes\nMIME-Version: 1.0\n"
          b"Content-Type: text/plain; charset=UTF-8\nContent-Transfer-Encoding: 8bit\n\n" +
          "正しい行\n".encode() + b"broken \xe3\x81 here \xff\xfe and \xc0\xaf end\n" +
          "続き\n".encode())

    word = "ファイル送付のお知らせ".encode()
    # split inside the third character: each word alone is invalid UTF-8
    w1, w2 = word[:7], word[7:]
    write("encoded_word_split_multibyte", HDR + b"Subject: =?UTF-8?B?" + base64.b64encode(w1) +
          b"?=\n =?UTF-8?B?" + base64.b64encode(w2) + b"?=\nMIME-Version: 1.0\n"
          b"Content-Type: text/plain; charset=UTF-8\n\nbody\n")

    write("english_notice", HDR + b"Subject: english\nMIME-Version: 1.0\n"
          b"Content-Type: multipart/mixed; boundary=\"en\"\n\n"
          b"--en\nContent-Type: text/plain\n\nPlease find the report attached.\n"
          b"--en\nContent-Type: application/pdf; name=report.pdf\n"
          b"Content-Transfer-Encoding: base64\n\n" + b64w(PDF) + b"--en--\n")

    write("iso2022jp_output", HDR + b"Subject: =?UTF-8?B?" + base64.b64encode("旧式クライアント向け".encode()) +
          b"?=\nMIME-Version: 1.0\nContent-Type: text/plain; charset=UTF-8\n\n" +
          ("古いメールソフト向けに ISO-2022-JP で出力します。\n").encode())

    write("keep_header_policy", HDR + b"Subject: kept headers\nX-Mailer: Example Mailer 1.0\n"
          b"Organization: =?UTF-8?B?" + base64.b64encode("〇〇市役所".encode()) + b"?=\n"
          b"X-Spam-Score: 99\nMIME-Version: 1.0\nContent-Type: text/plain\n\nbody\n")
    write("policy_errors", HDR + b"Subject: never read\n\nbody\n")
    write("notice_template_override", HDR + b"Subject: own notice\nMIME-Version: 1.0\n"
          b"Content-Type: multipart/mixed; boundary=\"o\"\n\n"
          b"--o\nContent-Type: text/plain; charset=UTF-8\n\n" + "本文です。\n".encode() +
          b"--o\nContent-Type: application/pdf; name=a.pdf\nContent-Transfer-Encoding: base64\n\n" +
          b64w(PDF) + b"--o--\n")
    write("notice_template_errors", HDR + b"Subject: never read\n\nbody\n")

    write("multipart_without_boundary", HDR + b"Subject: no boundary\nMIME-Version: 1.0\n"
          b"Content-Type: multipart/mixed\n\n"
          b"--x\nContent-Type: text/plain\n\ntext\n"
          b"--x\nContent-Type: application/octet-stream; name=a.exe\n"
          b"Content-Transfer-Encoding: base64\n\n" + b64w(b"MZ fake exe") + b"--x--\n")
    inner = (b"From: x@example.com\nSubject: hidden inside base64\nMIME-Version: 1.0\n"
             b"Content-Type: multipart/mixed; boundary=i\n\n--i\nContent-Type: text/plain\n\n"
             b"inner body\n--i\nContent-Type: application/x-msdownload; name=evil.exe\n\nMZ....\n--i--\n")
    write("encoded_message_rfc822", HDR + b"Subject: b64 message\nMIME-Version: 1.0\n"
          b"Content-Type: multipart/mixed; boundary=m\n\n--m\nContent-Type: text/plain\n\nouter\n"
          b"--m\nContent-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\n" +
          b64w(inner) + b"--m--\n")
    write("text_part_is_binary", HDR + b"Subject: exe as text\nMIME-Version: 1.0\n"
          b"Content-Type: text/plain; charset=us-ascii\nContent-Transfer-Encoding: base64\n\n" +
          b64w(b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" * 8))
    write("html_with_uuencode", HDR + b"Subject: uu in html\nMIME-Version: 1.0\n"
          b"Content-Type: text/html; charset=utf-8\n\n<html><body><p>see below</p><pre>\n"
          b"begin 644 x.bin\n" + binascii.b2a_uu(b"inline payload in html") + b"`\nend\n"
          b"</pre><p>thanks</p></body></html>\n")

    longline = ("長い段落が改行なしで続きます。" * 60 + "\n短い行\n").encode()
    write("long_lines_quoted_printable", HDR + b"Subject: long lines\nMIME-Version: 1.0\n"
          b"Content-Type: text/plain; charset=UTF-8\nContent-Transfer-Encoding: base64\n\n" +
          b64w(longline))

    # Opaque S/MIME signature and real enveloped data: made with openssl and a
    # throw-away key the first time only (signatures differ on every run).
    if not os.path.exists(os.path.join(OUT, "signed_smime_opaque.eml")):
        import subprocess
        import tempfile
        with tempfile.TemporaryDirectory() as d:
            key, cert = os.path.join(d, "key.pem"), os.path.join(d, "cert.pem")
            content = os.path.join(d, "content.txt")
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                            "-subj", "/CN=sekisho-test", "-days", "3650", "-keyout", key,
                            "-out", cert], check=True, capture_output=True)
            with open(content, "wb") as f:
                f.write("Content-Type: text/plain; charset=UTF-8\r\n"
                        "Content-Transfer-Encoding: 8bit\r\n\r\n"
                        "署名付き（opaque）の本文です。\r\n".encode())
            signed = subprocess.run(["openssl", "smime", "-sign", "-nodetach", "-binary",
                                     "-in", content, "-signer", cert, "-inkey", key,
                                     "-outform", "DER"], check=True, capture_output=True).stdout
            enc = subprocess.run(["openssl", "smime", "-encrypt", "-binary", "-in", content,
                                  "-outform", "DER", cert], check=True, capture_output=True).stdout
        write("signed_smime_opaque", HDR + b"Subject: opaque signed\nMIME-Version: 1.0\n"
              b"Content-Type: application/pkcs7-mime; smime-type=signed-data; name=smime.p7m\n"
              b"Content-Disposition: attachment; filename=smime.p7m\n"
              b"Content-Transfer-Encoding: base64\n\n" + b64w(signed))
        # declared signed-data, but the CMS structure is enveloped: withheld
        write("encrypted_smime_mislabelled_withheld", HDR + b"Subject: enveloped\n"
              b"MIME-Version: 1.0\n"
              b"Content-Type: application/pkcs7-mime; smime-type=signed-data; name=smime.p7m\n"
              b"Content-Transfer-Encoding: base64\n\n" + b64w(enc))


if __name__ == "__main__":
    main()

/*
 * fuzz_charset - libFuzzer target over sanitizer/charset.c.  The first byte
 * picks a charset label and the header encoding; the rest is decoded as a
 * body, as a header and as an RFC 2231 value, and what comes out is encoded
 * again.  Besides memory errors it aborts when an invariant breaks:
 *  - decoder output is valid UTF-8 without C0/C1 controls (TAB, LF in
 *    bodies only), DEL or bidi overrides;
 *  - charset_encode_iso2022jp() output is 7-bit, ends in ASCII and decodes
 *    without replacements;
 *  - charset_encode_header() lines are CRLF-terminated, at most 78 bytes,
 *    and (UTF-8 words) decode back to the value, white space collapsed.
 */
#include "charset.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const fuzz_labels[] = {
    NULL,         "iso-2022-jp",   "shift_jis", "euc-jp",      "utf-8",     "us-ascii",
    "iso-8859-1", "windows-1252",  "utf-16",    "utf-7",       "x-unknown", "koi8-r",
    "gb2312",     "iso-2022-jp-2", "big5",      "iso-2022-kr",
};

__attribute__((noreturn)) static void fuzz_fail(const char *what, const struct strbuf *b)
{
	fprintf(stderr, "invariant broken: %s\n", what);
	if (b && b->s)
		fwrite(b->s, 1, b->len, stderr);
	abort();
}

/* Valid UTF-8, no controls but TAB/LF (body) or none (header). */
static void fuzz_check_utf8(const struct strbuf *b, int header)
{
	const uint8_t *p = (const uint8_t *)b->s;
	size_t i = 0, n = b->len;

	while (i < n) {
		uint8_t c = p[i];
		uint32_t cp;
		size_t k, need;

		if (c < 0x80) {
			if ((c < 0x20 && (header || (c != '\t' && c != '\n'))) || c == 0x7F)
				fuzz_fail("control character in output", b);
			i++;
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF)
			need = 1, cp = c & 0x1F;
		else if (c >= 0xE0 && c <= 0xEF)
			need = 2, cp = c & 0x0F;
		else if (c >= 0xF0 && c <= 0xF4)
			need = 3, cp = c & 0x07;
		else
			fuzz_fail("bad UTF-8 lead byte in output", b);
		if (i + need >= n)
			fuzz_fail("truncated UTF-8 in output", b);
		for (k = 1; k <= need; k++) {
			if ((p[i + k] & 0xC0) != 0x80)
				fuzz_fail("bad UTF-8 continuation in output", b);
			cp = cp << 6 | (p[i + k] & 0x3F);
		}
		if ((need == 2 && cp < 0x800) || (need == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
		    (cp >= 0xD800 && cp <= 0xDFFF))
			fuzz_fail("overlong, surrogate or out-of-range UTF-8 in output", b);
		if ((cp >= 0x80 && cp < 0xA0) || (cp >= 0x202A && cp <= 0x202E) ||
		    (cp >= 0x2066 && cp <= 0x2069))
			fuzz_fail("C1 or bidi control in output", b);
		i += need + 1;
	}
}

static void fuzz_check_iso2022jp(const struct strbuf *utf8)
{
	struct strbuf jis, back;
	size_t i;

	strbuf_init(&jis, 0);
	strbuf_init(&back, 0);
	charset_encode_iso2022jp(utf8->s ? utf8->s : "", utf8->len, &jis);
	for (i = 0; i < jis.len; i++)
		if ((uint8_t)jis.s[i] >= 0x80)
			fuzz_fail("8-bit byte in ISO-2022-JP output", &jis);
	if (jis.len >= 3 && memcmp(jis.s + jis.len - 3, "\x1b$B", 3) == 0)
		fuzz_fail("ISO-2022-JP output ends in kanji mode", &jis);
	if (charset_decode("iso-2022-jp", jis.s ? jis.s : "", jis.len, &back, NULL) != 0)
		fuzz_fail("ISO-2022-JP output does not decode cleanly", &jis);
	strbuf_free(&jis);
	strbuf_free(&back);
}

/* Collapse white space runs to one space, trim. */
static void fuzz_collapse(const struct strbuf *in, struct strbuf *out)
{
	size_t i;
	int space = 0;

	for (i = 0; i < in->len; i++) {
		char c = in->s[i];

		if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			space = 1;
			continue;
		}
		if (space && out->len)
			strbuf_putc(out, ' ');
		space = 0;
		strbuf_putc(out, c);
	}
}

static void fuzz_check_header(const struct strbuf *value, int jp)
{
	struct strbuf enc, dec, want, got;
	const char *p, *nl;

	strbuf_init(&enc, 0);
	strbuf_init(&dec, 0);
	strbuf_init(&want, 0);
	strbuf_init(&got, 0);
	charset_encode_header("Subject", value->s ? value->s : "", value->len, jp, &enc);
	for (p = enc.s; *p; p = nl + 2) {
		nl = strstr(p, "\r\n");
		if (!nl || (p != enc.s && *p != ' ') || (size_t)(nl - p) > 78 ||
		    memchr(p, '\r', (size_t)(nl - p)) || memchr(p, '\n', (size_t)(nl - p)))
			fuzz_fail("bad header line", &enc);
	}
	if (strlen(enc.s) != enc.len)
		fuzz_fail("NUL in encoded header", &enc);
	charset_decode_header(enc.s + 8, enc.len - 8, &dec);
	fuzz_check_utf8(&dec, 1);
	if (!jp) {
		fuzz_collapse(value, &want);
		fuzz_collapse(&dec, &got);
		if (want.len != got.len || (want.len && memcmp(want.s, got.s, want.len) != 0)) {
			fprintf(stderr, "want [%s]\ngot  [%s]\n", want.s, got.s);
			fuzz_fail("encoded header does not decode back", &enc);
		}
	}
	strbuf_free(&enc);
	strbuf_free(&dec);
	strbuf_free(&want);
	strbuf_free(&got);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct strbuf out, hdr;
	const char *label, *used;

	if (size == 0)
		return 0;
	label = fuzz_labels[data[0] % (sizeof(fuzz_labels) / sizeof(fuzz_labels[0]))];
	strbuf_init(&out, 0);
	strbuf_init(&hdr, 0);

	charset_decode(label, data + 1, size - 1, &out, &used);
	fuzz_check_utf8(&out, 0);
	fuzz_check_iso2022jp(&out);
	strbuf_reset(&out);
	charset_decode(charset_guess(data + 1, size - 1), data + 1, size - 1, &out, NULL);
	fuzz_check_utf8(&out, 0);

	charset_decode_header((const char *)data + 1, size - 1, &hdr);
	fuzz_check_utf8(&hdr, 1);
	fuzz_check_header(&hdr, (data[0] & 0x10) != 0);

	strbuf_reset(&hdr);
	charset_decode_rfc2231((const char *)data + 1, size - 1, &hdr);
	fuzz_check_utf8(&hdr, 1);

	strbuf_free(&out);
	strbuf_free(&hdr);
	charset_counters(NULL, true);
	return 0;
}

/*
 * fuzz_html - libFuzzer target over html_tok and html_text.
 *
 * The input is converted whole, then again fed in chunks of as many bytes
 * as its last byte says (1..255; 0: not again): both outputs must be the
 * same (the tokenizer may be split anywhere), valid UTF-8, and hold no
 * control character but LF and tab.  html_text_sniff_charset runs on the
 * same bytes.  Any difference aborts, so libFuzzer keeps the input.
 */
#include "html_text.h"
#include "strbuf.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Valid UTF-8 without C0 (but LF, tab), DEL or C1 controls. */
static int fuzz_html_clean(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned char c = s[i];
		size_t len, k;
		uint32_t cp;

		if (c < 0x80) {
			if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7F)
				return 0;
			i++;
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF)
			len = 2, cp = c & 0x1F;
		else if (c >= 0xE0 && c <= 0xEF)
			len = 3, cp = c & 0x0F;
		else if (c >= 0xF0 && c <= 0xF4)
			len = 4, cp = c & 0x07;
		else
			return 0;
		if (i + len > n)
			return 0;
		for (k = 1; k < len; k++) {
			if ((s[i + k] & 0xC0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + k] & 0x3F);
		}
		if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
		    (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0x80 && cp <= 0x9F))
			return 0;
		i += len;
	}
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct strbuf whole = STRBUF_INIT, split = STRBUF_INIT;
	const char *html;
	size_t len, chunk, off;
	struct html_text *h;
	char cs[64];

	if (size < 1)
		return 0;
	chunk = data[size - 1];
	html = (const char *)data;
	len = size;

	html_text_convert(html, len, &whole);
	if (!fuzz_html_clean((const unsigned char *)whole.s, whole.len)) {
		fprintf(stderr, "fuzz_html: control character or invalid UTF-8 in the output\n");
		abort();
	}
	if (chunk) {
		h = html_text_new(&split);
		for (off = 0; off < len; off += chunk)
			html_text_feed(h, html + off, len - off < chunk ? len - off : chunk);
		html_text_finish(h);
		if (split.len != whole.len ||
		    (whole.len && memcmp(split.s, whole.s, whole.len) != 0)) {
			fprintf(stderr, "fuzz_html: output differs when fed in %zu-byte chunks\n",
			        chunk);
			abort();
		}
	}
	html_text_sniff_charset(html, len, cs, sizeof(cs));
	strbuf_free(&whole);
	strbuf_free(&split);
	return 0;
}

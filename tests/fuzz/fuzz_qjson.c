/*
 * fuzz_qjson - libFuzzer target over gateway/qjson.c, the quarantine CLI's
 * reader of hostile records and its terminal-safe writers.  Checks: what
 * qjson_pretty, qjson_escape and qjson_string write is valid UTF-8 without
 * any unsafe code point (qjson_pretty's newlines aside); qjson_pretty's
 * output parses again and, printed once more, is stable (round trip); qjson_string's
 * output parses as one string.
 */
#include "qjson.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Valid UTF-8 with no unsafe code point (newline allowed when nl). */
static void fuzz_safe(const struct strbuf *b, bool nl)
{
	const unsigned char *p = (const unsigned char *)(b->s ? b->s : "");
	size_t i = 0;

	while (i < b->len) {
		unsigned cp;
		size_t n;

		if (p[i] < 0x80) {
			cp = p[i];
			n = 1;
		} else if (p[i] >= 0xc2 && p[i] <= 0xdf) {
			n = 2;
		} else if (p[i] >= 0xe0 && p[i] <= 0xef) {
			n = 3;
		} else if (p[i] >= 0xf0 && p[i] <= 0xf4) {
			n = 4;
		} else {
			abort();
		}
		if (n > 1) {
			if (i + n > b->len)
				abort();
			cp = p[i] & (0x7f >> n);
			for (size_t k = 1; k < n; k++) {
				if ((p[i + k] & 0xc0) != 0x80)
					abort();
				cp = (cp << 6) | (p[i + k] & 0x3f);
			}
			if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
			    (cp >= 0xd800 && cp <= 0xdfff))
				abort();
		}
		if (qjson_unsafe_cp(cp) && !(nl && cp == '\n'))
			abort();
		i += n;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct strbuf err = STRBUF_INIT, out = STRBUF_INIT, again = STRBUF_INIT;
	const char *s = (const char *)data;
	struct qjson *j = qjson_parse(s, size, &err), *k;

	if (j) {
		qjson_pretty(&out, j, 0);
		fuzz_safe(&out, true);
		/* the first print turns invalid UTF-8 into \ufffd; from then on
		 * printing is stable */
		k = qjson_parse(out.s, out.len, &err);
		if (!k)
			abort();
		qjson_pretty(&again, k, 0);
		qjson_free(k);
		k = qjson_parse(again.s, again.len, &err);
		if (!k)
			abort();
		strbuf_reset(&out);
		qjson_pretty(&out, k, 0);
		if (again.len != out.len || memcmp(again.s, out.s, out.len) != 0)
			abort();
		(void)qjson_get(j, "meta");
		(void)qjson_str(j);
		qjson_free(k);
		qjson_free(j);
	} else if (!err.s || strncmp(err.s, "JSON: ", 6) != 0) {
		abort();
	}
	strbuf_reset(&out);
	qjson_escape(&out, s, size);
	fuzz_safe(&out, false);
	strbuf_reset(&out);
	qjson_string(&out, s, size);
	fuzz_safe(&out, false);
	j = qjson_parse(out.s, out.len, &err);
	if (!j || j->type != QJSON_STR)
		abort();
	qjson_free(j);
	strbuf_free(&err);
	strbuf_free(&out);
	strbuf_free(&again);
	return 0;
}

/*
 * fuzz_status - libFuzzer target over gateway/cmd_status.c's handling of
 * the monitor's alert lines (bytes any segment can influence) and its
 * terminal escaping.  Checks: what `sekisho status` would print holds no
 * C0/C1 control, DEL, line separator or bidi control and is valid UTF-8,
 * whatever the input.
 */
#include "cmd_status.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* abort() unless s is valid UTF-8 without controls the terminal acts on. */
static void fuzz_status_safe(const struct strbuf *b)
{
	const unsigned char *s = (const unsigned char *)(b->s ? b->s : "");
	size_t i = 0, n = b->len;

	while (i < n) {
		uint32_t cp;
		size_t len;

		if (s[i] < 0x80) {
			cp = s[i], len = 1;
		} else if ((s[i] & 0xe0) == 0xc0) {
			cp = s[i] & 0x1f, len = 2;
		} else if ((s[i] & 0xf0) == 0xe0) {
			cp = s[i] & 0x0f, len = 3;
		} else if ((s[i] & 0xf8) == 0xf0) {
			cp = s[i] & 0x07, len = 4;
		} else {
			abort();
		}
		if (i + len > n)
			abort();
		for (size_t k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				abort();
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0) || cp == 0x2028 ||
		    cp == 0x2029 || (cp >= 0x202a && cp <= 0x202e) ||
		    (cp >= 0x2066 && cp <= 0x2069))
			abort();
		if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
		    (len == 4 && cp < 0x10000))
			abort(); /* overlong */
		i += len;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct strbuf b;

	strbuf_init(&b, 0);
	status_alert_format(&b, (const char *)data, size);
	fuzz_status_safe(&b);
	strbuf_reset(&b);
	status_escape(&b, (const char *)data, size);
	fuzz_status_safe(&b);
	if (b.len < size) /* escaping never drops a byte */
		abort();
	strbuf_free(&b);
	return 0;
}

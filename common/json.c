/*
 * json - JSON string escaping into a strbuf.  Input is untrusted bytes;
 * output is always valid JSON (invalid UTF-8 becomes U+FFFD).
 */
#include "json.h"

#include <string.h>

/* Length of the valid UTF-8 sequence at p (1..4), or 0 if invalid. */
static size_t json_utf8_len(const unsigned char *p, size_t avail)
{
	size_t n;
	unsigned cp;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4;
	else
		return 0;
	if (avail < n)
		return 0;
	cp = p[0] & (0x7f >> n);
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	/* overlong, surrogate, out of range */
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

void json_string(struct strbuf *b, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	strbuf_putc(b, '"');
	while (i < len) {
		unsigned char c = p[i];
		size_t n;

		switch (c) {
		case '"':
			strbuf_puts(b, "\\\"");
			i++;
			continue;
		case '\\':
			strbuf_puts(b, "\\\\");
			i++;
			continue;
		case '\n':
			strbuf_puts(b, "\\n");
			i++;
			continue;
		case '\r':
			strbuf_puts(b, "\\r");
			i++;
			continue;
		case '\t':
			strbuf_puts(b, "\\t");
			i++;
			continue;
		default:
			break;
		}
		if (c < 0x20 || c == 0x7f) {
			strbuf_printf(b, "\\u%04x", c);
			i++;
			continue;
		}
		n = json_utf8_len(p + i, len - i);
		if (n == 0) {
			strbuf_puts(b, "\\ufffd");
			i++;
			continue;
		}
		strbuf_append(b, p + i, n);
		i += n;
	}
	strbuf_putc(b, '"');
}

void json_cstr(struct strbuf *b, const char *s)
{
	if (!s)
		strbuf_puts(b, "null");
	else
		json_string(b, s, strlen(s));
}

void json_key(struct strbuf *b, bool *first, const char *key)
{
	if (!*first)
		strbuf_putc(b, ',');
	*first = false;
	json_cstr(b, key);
	strbuf_putc(b, ':');
}

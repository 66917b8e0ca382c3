/*
 * json - JSON string escaping into a strbuf.  Input is untrusted bytes;
 * output is always valid JSON (invalid UTF-8 becomes U+FFFD).
 */
#include "json.h"
#include "utf8.h"

#include <string.h>

/* Length of the valid UTF-8 sequence at p (1..4), or 0 if invalid. */
static size_t json_utf8_len(const unsigned char *p, size_t avail)
{
	uint32_t cp;

	return utf8_decode(p, avail, &cp);
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

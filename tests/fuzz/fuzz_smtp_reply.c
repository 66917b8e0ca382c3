/*
 * fuzz_smtp_reply - libFuzzer target for smtp_client_parse_reply
 * (sanitizer/smtp_client.c), the parser of a next hop's replies.
 *
 * The input is the server's byte stream, parsed reply after reply as the
 * client does.  Checked on every reply: the result is -1, 0 or 1; a
 * complete reply used between 4 and len octets, ends at a LF, has a code in
 * 200..599, a class-matching enhanced code or none, and printable,
 * NUL-terminated text; the same bytes alone parse to the same reply; a
 * shorter prefix is never complete and never malformed; a malformed
 * reply's code is 0.
 */
#include "smtp_client.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void fz_check_reply(const struct smtp_reply *r)
{
	if (r->code < 200 || r->code > 599)
		abort();
	size_t el = strnlen(r->enh, sizeof(r->enh));
	size_t tl = strnlen(r->text, sizeof(r->text));
	if (el == sizeof(r->enh) || tl == sizeof(r->text))
		abort();
	if (el > 0 && (r->enh[0] != '0' + r->code / 100 || r->enh[1] != '.'))
		abort();
	for (size_t i = 0; i < el; i++)
		if (!((r->enh[i] >= '0' && r->enh[i] <= '9') || r->enh[i] == '.'))
			abort();
	for (size_t i = 0; i < tl; i++)
		if ((unsigned char)r->text[i] < 0x20 || (unsigned char)r->text[i] > 0x7e)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* a copy of exactly size bytes, so ASan sees any read past the end */
	char *buf = malloc(size ? size : 1);
	size_t off = 0;
	if (size)
		memcpy(buf, data, size);
	while (off <= size) {
		struct smtp_reply r, r2;
		size_t used = 7777, used2 = 0;
		int st = smtp_client_parse_reply(buf + off, size - off, &used, &r);
		if (st == 0 || st == -1) {
			if (r.code != 0)
				abort();
			break;
		}
		if (st != 1)
			abort();
		if (used < 4 || used > size - off || buf[off + used - 1] != '\n')
			abort();
		fz_check_reply(&r);
		if (smtp_client_parse_reply(buf + off, used, &used2, &r2) != 1 || used2 != used ||
		    memcmp(&r, &r2, sizeof(r)) != 0)
			abort();
		size_t cut[2] = {used - 1, used / 2};
		for (int i = 0; i < 2; i++)
			if (smtp_client_parse_reply(buf + off, cut[i], &used2, &r2) != 0)
				abort();
		off += used;
	}
	free(buf);
	return 0;
}

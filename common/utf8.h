/*
 * utf8 - the UTF-8 encoder every converter shares (charset, html_tok).
 * Trusts its caller to pass a Unicode scalar value (<= 0x10FFFF, no
 * surrogates); never fails.
 */
#ifndef SEKISHO_UTF8_H
#define SEKISHO_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Write cp as UTF-8 into out (room for 4 bytes); returns the byte count. */
static inline size_t utf8_put(uint32_t cp, char *out)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xC0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xE0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		out[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	out[0] = (char)(0xF0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	out[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

#endif

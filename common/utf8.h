/*
 * utf8 - the UTF-8 encoder every converter shares (charset, html_tok),
 * and the strict decoder of one sequence (json, qjson, rulefile, tnef,
 * sworker).  utf8_put trusts
 * its caller to pass a Unicode scalar value (<= 0x10FFFF, no surrogates);
 * never fails.
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

/* Decode the UTF-8 sequence at p (avail >= 1 bytes): returns its length
 * and the code point in *cp_r, or 0 when it is not well-formed (bad lead
 * or continuation byte, truncated, overlong, surrogate, > 0x10FFFF). */
static inline size_t utf8_decode(const unsigned char *p, size_t avail, uint32_t *cp_r)
{
	size_t n;
	uint32_t cp;

	if (p[0] < 0x80) {
		*cp_r = p[0];
		return 1;
	}
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
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	*cp_r = cp;
	return n;
}

#endif

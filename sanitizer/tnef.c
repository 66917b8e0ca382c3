/*
 * tnef - list the attachments of an MS-TNEF stream (winmail.dat).
 *
 * SUMMARY: the stream is a signature, a 16-bit key, then attributes (level
 * byte, 32-bit id, 32-bit length, data, 16-bit checksum).  attAttachRendData
 * starts an attachment; attAttachTitle, attAttachData and the MAPI property
 * list attAttachment (long file name, file name, display name, data)
 * describe it.  Names are converted to UTF-8: UTF-16LE by hand, 8-bit names
 * from the message's attOemCodepage with iconv (UTF-8 when valid otherwise);
 * what cannot be converted becomes U+FFFD.
 *
 * SECURITY: the stream is untrusted.  Every length is checked against what
 * is left of its buffer before use; counts are capped (TNEF_MAX_FILES,
 * TNEF_MAX_PROPS); data is never copied (pointers into the input).
 *
 * DIAGNOSTICS: none; a damaged stream (bad signature, short or overlong
 * attribute, checksum mismatch, unparseable property list, a cap reached)
 * yields what was read before the damage and ok = false.
 */
#include "tnef.h"
#include "strbuf.h"
#include "utf8.h"
#include "xalloc.h"

#include <errno.h>
#include <iconv.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TNEF_SIGNATURE 0x223e9f78u
#define TNEF_MAX_FILES 1000
#define TNEF_MAX_PROPS 10000
#define TNEF_MAX_NAME_BYTES 2048 /* of the encoded name */

#define TNEF_LVL_MESSAGE 1
#define TNEF_LVL_ATTACHMENT 2

#define TNEF_ATT_OEM_CODEPAGE 0x00069007u
#define TNEF_ATT_ATTACH_REND_DATA 0x00069002u
#define TNEF_ATT_ATTACH_TITLE 0x00018010u
#define TNEF_ATT_ATTACH_DATA 0x0006800fu
#define TNEF_ATT_ATTACHMENT 0x00069005u

#define TNEF_PR_DISPLAY_NAME 0x3001
#define TNEF_PR_ATTACH_DATA 0x3701 /* PT_BINARY (_BIN) or PT_OBJECT (_OBJ) */
#define TNEF_PR_ATTACH_FILENAME 0x3704
#define TNEF_PR_ATTACH_LONG_FILENAME 0x3707

#define TNEF_PT_OBJECT 0x000d
#define TNEF_PT_STRING8 0x001e
#define TNEF_PT_UNICODE 0x001f
#define TNEF_PT_BINARY 0x0102
#define TNEF_MV_FLAG 0x1000

/* A name as found: bytes in the input, 8-bit or UTF-16LE. */
struct tnef_str {
	const unsigned char *p;
	size_t n;
	bool utf16;
};

/* One attachment while the stream is read. */
struct tnef_att {
	struct tnef_str long_name, title, file_name, display_name;
	const unsigned char *data, *prop_data;
	size_t size, prop_size;
	bool has_data, has_prop_data;
};

static uint32_t tnef_le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t tnef_le16(const unsigned char *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

/* ---- names to UTF-8 ---------------------------------------------------- */

static void tnef_put_cp(struct strbuf *out, uint32_t cp)
{
	char u[4];

	if (cp < 0x20 || cp == 0x7f || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		cp = 0xfffd; /* controls would reach the notice: replaced visibly */
	if (cp < 0x80) {
		strbuf_putc(out, (char)cp);
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | cp >> 6);
		u[1] = (char)(0x80 | (cp & 0x3f));
		strbuf_append(out, u, 2);
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | cp >> 12);
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		strbuf_append(out, u, 3);
	} else {
		u[0] = (char)(0xf0 | cp >> 18);
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (char)(0x80 | (cp & 0x3f));
		strbuf_append(out, u, 4);
	}
}

static void tnef_utf16(const unsigned char *p, size_t n, struct strbuf *out)
{
	for (size_t i = 0; i + 1 < n; i += 2) {
		uint32_t c = tnef_le16(p + i);
		if (c == 0)
			break;
		if (c >= 0xd800 && c <= 0xdbff && i + 3 < n) {
			uint32_t lo = tnef_le16(p + i + 2);
			if (lo >= 0xdc00 && lo <= 0xdfff) {
				c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
				i += 2;
			}
		}
		tnef_put_cp(out, c); /* a lone surrogate becomes U+FFFD there */
	}
}

/* Decode one UTF-8 sequence at p (n > 0 bytes); returns its length, 0 if invalid. */
static size_t tnef_utf8_seq(const unsigned char *p, size_t n, uint32_t *cp_r)
{
	return utf8_decode(p, n, cp_r);
}

static void tnef_utf8(const unsigned char *p, size_t n, struct strbuf *out)
{
	size_t i = 0;

	while (i < n) {
		uint32_t cp;
		size_t k = tnef_utf8_seq(p + i, n - i, &cp);
		if (k == 0) {
			cp = 0xfffd;
			k = 1;
		}
		tnef_put_cp(out, cp);
		i += k;
	}
}

/* 8-bit text in Windows code page cp through iconv; false if iconv cannot. */
static bool tnef_codepage(const unsigned char *p, size_t n, unsigned cp, struct strbuf *out)
{
	char name[32], buf[256];
	iconv_t cd;
	char *in = (char *)p;
	size_t left = n;
	int w;

	w = snprintf(name, sizeof(name), "CP%u", cp);
	if (w < 0 || (size_t)w >= sizeof(name))
		return false;
	cd = iconv_open("UTF-8", name);
	if (cd == (iconv_t)-1)
		return false;
	while (left) {
		char *o = buf;
		size_t room = sizeof(buf);
		size_t r = iconv(cd, &in, &left, &o, &room);
		tnef_utf8((const unsigned char *)buf, (size_t)(o - buf), out);
		if (r == (size_t)-1 && errno != E2BIG) {
			/* EILSEQ or EINVAL: one byte replaced, then on. */
			tnef_put_cp(out, 0xfffd);
			in++;
			left--;
			iconv(cd, NULL, NULL, NULL, NULL);
		}
	}
	iconv_close(cd);
	return true;
}

static char *tnef_name(const struct tnef_str *s, unsigned codepage)
{
	struct strbuf out;
	size_t n = s->n;
	const unsigned char *nul;
	bool ascii = true;

	if (!s->p || !n)
		return NULL;
	if (n > TNEF_MAX_NAME_BYTES)
		n = TNEF_MAX_NAME_BYTES;
	strbuf_init(&out, 0);
	if (s->utf16) {
		tnef_utf16(s->p, n, &out);
	} else {
		if ((nul = memchr(s->p, 0, n)) != NULL)
			n = (size_t)(nul - s->p);
		for (size_t i = 0; i < n && ascii; i++)
			ascii = s->p[i] < 0x80;
		/* 8-bit text is in the declared code page even when it happens
		 * to be valid UTF-8 (Shift_JIS can be); UTF-8 without one. */
		if (ascii || codepage == 0 || codepage == 65001 ||
		    !tnef_codepage(s->p, n, codepage, &out))
			tnef_utf8(s->p, n, &out);
	}
	if (out.len == 0) {
		strbuf_free(&out);
		return NULL;
	}
	return strbuf_detach(&out);
}

/* ---- the MAPI property list of attAttachment --------------------------- */

/* Bytes of one fixed-size value (padded to 4), 0 for variable, -1 unknown. */
static int tnef_fixed_size(unsigned type)
{
	switch (type) {
	case 0x0002: /* PT_SHORT */
	case 0x0003: /* PT_LONG */
	case 0x0004: /* PT_FLOAT */
	case 0x000a: /* PT_ERROR */
	case 0x000b: /* PT_BOOLEAN */
		return 4;
	case 0x0005: /* PT_DOUBLE */
	case 0x0006: /* PT_CURRENCY */
	case 0x0007: /* PT_APPTIME */
	case 0x0014: /* PT_I8 */
	case 0x0040: /* PT_SYSTIME */
		return 8;
	case 0x0048: /* PT_CLSID */
		return 16;
	case TNEF_PT_OBJECT:
	case TNEF_PT_STRING8:
	case TNEF_PT_UNICODE:
	case TNEF_PT_BINARY:
		return 0;
	default:
		return -1;
	}
}

static void tnef_prop_value(struct tnef_att *a, unsigned id, unsigned type, const unsigned char *v,
                            size_t n)
{
	struct tnef_str s = {v, n, type == TNEF_PT_UNICODE};
	bool text = type == TNEF_PT_STRING8 || type == TNEF_PT_UNICODE;

	if (id == TNEF_PR_ATTACH_LONG_FILENAME && text)
		a->long_name = s;
	else if (id == TNEF_PR_ATTACH_FILENAME && text)
		a->file_name = s;
	else if (id == TNEF_PR_DISPLAY_NAME && text)
		a->display_name = s;
	else if (id == TNEF_PR_ATTACH_DATA && type == TNEF_PT_BINARY) {
		a->prop_data = v;
		a->prop_size = n;
		a->has_prop_data = true;
	} else if (id == TNEF_PR_ATTACH_DATA && type == TNEF_PT_OBJECT && n >= 16) {
		/* An embedded message or OLE object: 16 bytes of IID first. */
		a->prop_data = v + 16;
		a->prop_size = n - 16;
		a->has_prop_data = true;
	}
}

/* Parse a property list; false when it is damaged or *budget runs out. */
static bool tnef_props(const unsigned char *p, size_t n, struct tnef_att *a, size_t *budget)
{
	size_t off = 4;
	uint32_t count;

	if (n < 4)
		return false;
	count = tnef_le32(p);
	for (uint32_t i = 0; i < count; i++) {
		unsigned type, id, base;
		uint32_t nval = 1;
		int fixed;

		if (*budget == 0 || n - off < 4)
			return false;
		(*budget)--;
		type = tnef_le16(p + off);
		id = tnef_le16(p + off + 2);
		off += 4;
		if (id >= 0x8000) { /* named property: GUID, kind, id or name */
			uint32_t kind, nl;
			if (n - off < 24)
				return false;
			kind = tnef_le32(p + off + 16);
			off += 20;
			if (kind == 0) {
				off += 4;
			} else if (kind == 1) {
				nl = tnef_le32(p + off);
				off += 4;
				if (((size_t)nl + 3) / 4 * 4 > n - off)
					return false;
				off += ((size_t)nl + 3) / 4 * 4;
			} else {
				return false;
			}
		}
		base = type & ~(unsigned)TNEF_MV_FLAG;
		if ((fixed = tnef_fixed_size(base)) < 0)
			return false;
		if ((type & TNEF_MV_FLAG) || fixed == 0) {
			if (n - off < 4)
				return false;
			nval = tnef_le32(p + off);
			off += 4;
		}
		/* Every value takes 4 bytes or more: a count beyond that lies. */
		if (nval > (n - off) / 4)
			return false;
		for (uint32_t v = 0; v < nval; v++) {
			if (fixed > 0) {
				if (n - off < (size_t)fixed)
					return false;
				off += (size_t)fixed;
				continue;
			}
			uint32_t vl, pad;
			if (n - off < 4)
				return false;
			vl = tnef_le32(p + off);
			off += 4;
			if (vl > n - off)
				return false;
			if (v == 0 && !(type & TNEF_MV_FLAG))
				tnef_prop_value(a, id, base, p + off, vl);
			/* Padding to 4; some writers leave it off the last value. */
			off += vl;
			pad = (4 - vl % 4) % 4;
			off += pad <= n - off ? pad : n - off;
		}
	}
	return true;
}

/* ---- the attribute stream ---------------------------------------------- */

size_t tnef_list(const void *buf, size_t len, struct tnef_file **files_r, bool *ok_r)
{
	const unsigned char *p = buf;
	struct {
		struct tnef_att *v;
		size_t n, cap;
	} atts = {NULL, 0, 0};
	struct tnef_file *files;
	size_t off = 6, budget = TNEF_MAX_PROPS;
	unsigned codepage = 0;
	bool ok = true, cur = false;

	*files_r = NULL;
	*ok_r = false;
	if (!p || len < 6 || tnef_le32(p) != TNEF_SIGNATURE)
		return 0;
	while (off < len) {
		unsigned level;
		uint32_t id, alen;
		const unsigned char *d;
		unsigned sum = 0;

		if (len - off < 9) {
			ok = false;
			break;
		}
		level = p[off];
		id = tnef_le32(p + off + 1);
		alen = tnef_le32(p + off + 5);
		off += 9;
		if (alen > len - off || len - off - alen < 2) {
			ok = false;
			break;
		}
		if (level != TNEF_LVL_MESSAGE && level != TNEF_LVL_ATTACHMENT) {
			ok = false;
			break;
		}
		d = p + off;
		for (uint32_t i = 0; i < alen; i++)
			sum += d[i];
		if ((uint16_t)sum != tnef_le16(d + alen))
			ok = false; /* read on: the lengths still frame the stream */
		off += alen + 2;

		/* Attachment attributes are recognised by id whatever the level. */
		if (id == TNEF_ATT_OEM_CODEPAGE) {
			if (alen >= 4)
				codepage = tnef_le32(d);
			continue;
		}
		if (id != TNEF_ATT_ATTACH_REND_DATA && id != TNEF_ATT_ATTACH_TITLE &&
		    id != TNEF_ATT_ATTACH_DATA && id != TNEF_ATT_ATTACHMENT)
			continue;
		if (id == TNEF_ATT_ATTACH_REND_DATA || !cur) {
			if (atts.n == TNEF_MAX_FILES) {
				ok = false;
				break;
			}
			VEC_PUSH(atts);
			cur = true;
		}
		struct tnef_att *a = &atts.v[atts.n - 1];
		if (id == TNEF_ATT_ATTACH_TITLE) {
			a->title = (struct tnef_str){d, alen, false};
		} else if (id == TNEF_ATT_ATTACH_DATA) {
			a->data = d;
			a->size = alen;
			a->has_data = true;
		} else if (id == TNEF_ATT_ATTACHMENT) {
			if (!tnef_props(d, alen, a, &budget))
				ok = false; /* what it held before the damage is kept */
		}
	}

	files = atts.n ? xcalloc(atts.n, sizeof(*files)) : NULL;
	for (size_t i = 0; i < atts.n; i++) {
		const struct tnef_att *a = &atts.v[i];
		const struct tnef_str *names[] = {&a->long_name, &a->title, &a->file_name,
		                                  &a->display_name};
		for (size_t k = 0; k < sizeof(names) / sizeof(names[0]) && !files[i].name; k++)
			files[i].name = tnef_name(names[k], codepage);
		if (a->has_data) {
			files[i].data = a->data;
			files[i].size = a->size;
		} else if (a->has_prop_data) {
			files[i].data = a->prop_data;
			files[i].size = a->prop_size;
		}
	}
	free(atts.v);
	*files_r = files;
	*ok_r = ok;
	return atts.n;
}

void tnef_free(struct tnef_file *files, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(files[i].name);
	free(files);
}

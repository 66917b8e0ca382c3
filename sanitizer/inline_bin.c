/*
 * inline_bin - find uuencode, yEnc and BinHex 4.0 blocks inside body text
 * and decode them (the rules are in inline_bin.h).
 *
 * SUMMARY: one pass over the lines.  Only lines that start with 'b'
 * ("begin"), '=' ("=ybegin") or '(' (the BinHex marker) are looked at more
 * closely; a block's lines are decoded as the pass goes over them and the
 * pass resumes after the block, so the work is linear in the text whatever
 * it holds.
 *
 * SECURITY: the text is untrusted.  Every read is bounded by len; decoded
 * data is bounded by the encoded size (BinHex: INLINE_BIN_BINHEX_EXPAND
 * times); the count of blocks is capped.  A damaged block is still a block.
 *
 * DIAGNOSTICS: none; damage shows as complete = false.
 */
#include "inline_bin.h"
#include "xalloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct ib_line {
	const unsigned char *p; /* content, without the line end (LF or CRLF) */
	size_t n;
	size_t next; /* offset of the next line (len after the last) */
};

static void inline_bin_line(const char *text, size_t len, size_t off, struct ib_line *l)
{
	const char *s = text + off;
	const char *nl = memchr(s, '\n', len - off);
	size_t n = nl ? (size_t)(nl - s) : len - off;

	l->next = nl ? off + n + 1 : len;
	if (n && s[n - 1] == '\r')
		n--;
	l->p = (const unsigned char *)s;
	l->n = n;
}

static bool inline_bin_blank(unsigned char c)
{
	return c == ' ' || c == '\t';
}

/* Does the line start with word, followed by a blank or the line end? */
static bool inline_bin_word(const struct ib_line *l, const char *word)
{
	size_t n = strlen(word);

	return l->n >= n && !memcmp(l->p, word, n) && (l->n == n || inline_bin_blank(l->p[n]));
}

static char *inline_bin_name(const unsigned char *p, size_t n)
{
	char *s;

	while (n && inline_bin_blank(*p))
		p++, n--;
	while (n && inline_bin_blank(p[n - 1]))
		n--;
	if (!n)
		return NULL;
	if (n > INLINE_BIN_MAX_NAME_BYTES)
		n = INLINE_BIN_MAX_NAME_BYTES;
	s = xmalloc(n + 1);
	for (size_t i = 0; i < n; i++)
		s[i] = (p[i] < 0x20 || p[i] == 0x7f) ? '?' : (char)p[i];
	s[n] = '\0';
	return s;
}

/* ---- uuencode ---------------------------------------------------------- */

enum uu_kind { UU_NOT, UU_ZERO, UU_EXACT, UU_LOOSE };

/* Header "begin[-base64] NNN name"; name may be empty. */
static bool inline_bin_uu_header(const struct ib_line *l, bool *b64_r, size_t *name_r)
{
	const unsigned char *p = l->p;
	size_t n = l->n, i = 5, d;

	if (n < 9 || memcmp(p, "begin", 5))
		return false;
	*b64_r = n - i >= 7 && !memcmp(p + i, "-base64", 7);
	if (*b64_r)
		i += 7;
	if (i >= n || !inline_bin_blank(p[i]))
		return false;
	while (i < n && inline_bin_blank(p[i]))
		i++;
	d = i;
	while (i < n && p[i] >= '0' && p[i] <= '7')
		i++;
	if (i - d < 3 || i - d > 4 || (i < n && !inline_bin_blank(p[i])))
		return false;
	*name_r = i;
	return true;
}

/*
 * Classify a line as uuencode data: every character in 0x20..0x60; the
 * first gives the byte count.  EXACT: the body has the characters the count
 * needs (missing padding and up to 2 trailing characters tolerated).
 */
static enum uu_kind inline_bin_uu_class(const struct ib_line *l, unsigned *count_r)
{
	const unsigned char *p = l->p;
	size_t n = l->n, body, need, full;
	unsigned cnt;

	if (n == 0)
		return UU_ZERO; /* " " with the blank stripped in transit */
	for (size_t i = 0; i < n; i++)
		if (p[i] < 0x20 || p[i] > 0x60)
			return UU_NOT;
	cnt = (p[0] - 0x20) & 0x3f;
	*count_r = cnt;
	if (cnt == 0)
		return UU_ZERO;
	body = n - 1;
	need = (cnt * 4 + 2) / 3;
	full = (cnt + 2) / 3 * 4;
	return body >= need && body <= full + 2 ? UU_EXACT : UU_LOOSE;
}

/* Decode one data line; false when the line was too short for its count. */
static bool inline_bin_uu_decode(const struct ib_line *l, unsigned cnt, struct strbuf *out)
{
	const unsigned char *q = l->p + 1;
	size_t body = l->n - 1, avail = body * 3 / 4, want = cnt < avail ? cnt : avail, k = 0;
	unsigned char buf[64];

	for (size_t i = 0; k < want; i += 4) {
		uint32_t v = (uint32_t)((q[i] - 0x20) & 0x3f) << 18;
		if (i + 1 < body)
			v |= (uint32_t)((q[i + 1] - 0x20) & 0x3f) << 12;
		if (i + 2 < body)
			v |= (uint32_t)((q[i + 2] - 0x20) & 0x3f) << 6;
		if (i + 3 < body)
			v |= (uint32_t)((q[i + 3] - 0x20) & 0x3f);
		buf[k++] = (unsigned char)(v >> 16);
		if (k < want)
			buf[k++] = (unsigned char)(v >> 8);
		if (k < want)
			buf[k++] = (unsigned char)v;
	}
	strbuf_append(out, buf, want);
	return want == cnt;
}

static bool inline_bin_uu_end(const struct ib_line *l)
{
	size_t n = l->n;

	while (n > 3 && inline_bin_blank(l->p[n - 1]))
		n--;
	return n == 3 && !memcmp(l->p, "end", 3);
}

static int inline_bin_b64_val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* A base64 line: alphabet characters, then only '=' padding. */
static bool inline_bin_b64_line(const struct ib_line *l)
{
	size_t i = 0;

	if (l->n == 0)
		return false;
	while (i < l->n && inline_bin_b64_val(l->p[i]) >= 0)
		i++;
	while (i < l->n && l->p[i] == '=')
		i++;
	return i == l->n;
}

static bool inline_bin_b64_term(const struct ib_line *l)
{
	size_t n = l->n;

	while (n > 4 && inline_bin_blank(l->p[n - 1]))
		n--;
	return n == 4 && !memcmp(l->p, "====", 4);
}

struct ib_b64 {
	uint32_t acc;
	int bits;
};

static void inline_bin_b64_decode(struct ib_b64 *st, const struct ib_line *l, struct strbuf *out)
{
	unsigned char buf[256];
	size_t k = 0;

	for (size_t i = 0; i < l->n; i++) {
		int v = inline_bin_b64_val(l->p[i]);
		if (v < 0) { /* padding: drop the partial byte */
			st->bits = 0;
			continue;
		}
		st->acc = (st->acc << 6) | (uint32_t)v;
		st->bits += 6;
		if (st->bits >= 8) {
			st->bits -= 8;
			buf[k++] = (unsigned char)(st->acc >> st->bits);
			if (k == sizeof(buf)) {
				strbuf_append(out, buf, k);
				k = 0;
			}
		}
	}
	strbuf_append(out, buf, k);
}

/* begin-base64 (uuencode -m): base64 lines up to "====". */
static bool inline_bin_uu_b64(const char *text, size_t len, const struct ib_line *hdr,
                              struct inline_block *b)
{
	struct ib_line l, l2;
	struct ib_b64 st = {0, 0};
	size_t pos = hdr->next;
	bool damaged = false;

	if (pos >= len)
		return false;
	inline_bin_line(text, len, pos, &l);
	if (!inline_bin_b64_term(&l)) {
		if (!inline_bin_b64_line(&l) || l.n % 4)
			return false;
		if (l.n < 16) {
			if (l.next >= len)
				return false;
			inline_bin_line(text, len, l.next, &l2);
			if (!inline_bin_b64_term(&l2))
				return false;
		}
	}
	for (;;) {
		if (pos >= len)
			break;
		inline_bin_line(text, len, pos, &l);
		if (inline_bin_b64_term(&l)) {
			b->complete = !damaged;
			pos = l.next;
			break;
		}
		if (!inline_bin_b64_line(&l))
			break;
		if (l.n % 4)
			damaged = true;
		inline_bin_b64_decode(&st, &l, &b->data);
		pos = l.next;
	}
	b->end = pos;
	return true;
}

static bool inline_bin_uu(const char *text, size_t len, const struct ib_line *hdr,
                          struct inline_block *b)
{
	struct ib_line l, l2;
	size_t name_at, pos = hdr->next;
	unsigned cnt = 0;
	bool b64, damaged = false, zero_seen = false;
	enum uu_kind k;

	if (!inline_bin_uu_header(hdr, &b64, &name_at))
		return false;
	if (b64) {
		if (!inline_bin_uu_b64(text, len, hdr, b))
			return false;
	} else {
		/* The rule against prose: the next line must look like uuencode. */
		if (pos >= len)
			return false;
		inline_bin_line(text, len, pos, &l);
		k = inline_bin_uu_class(&l, &cnt);
		if (k == UU_ZERO) {
			if (l.next >= len)
				return false;
			inline_bin_line(text, len, l.next, &l2);
			if (!inline_bin_uu_end(&l2))
				return false;
		} else if (k != UU_EXACT &&
		           !(k == UU_LOOSE && l.p[0] == 'M' && l.n >= 41 && l.n <= 65)) {
			return false;
		}
		for (;;) {
			if (pos >= len)
				break;
			inline_bin_line(text, len, pos, &l);
			if (inline_bin_uu_end(&l)) {
				b->complete = !damaged;
				pos = l.next;
				break;
			}
			if (zero_seen)
				break; /* only "end" may follow the zero-length line */
			k = inline_bin_uu_class(&l, &cnt);
			if (k == UU_NOT)
				break;
			if (k == UU_ZERO)
				zero_seen = true;
			else if (!inline_bin_uu_decode(&l, cnt, &b->data) || k == UU_LOOSE)
				damaged = true;
			pos = l.next;
		}
		b->end = pos;
	}
	b->kind = "uuencode";
	b->name = inline_bin_name(hdr->p + name_at, hdr->n - name_at);
	return true;
}

/* ---- yEnc -------------------------------------------------------------- */

static const uint32_t inline_bin_crc32_table[256] = {
    0x00000000u, 0x77073096u, 0xee0e612cu, 0x990951bau, 0x076dc419u, 0x706af48fu, 0xe963a535u,
    0x9e6495a3u, 0x0edb8832u, 0x79dcb8a4u, 0xe0d5e91eu, 0x97d2d988u, 0x09b64c2bu, 0x7eb17cbdu,
    0xe7b82d07u, 0x90bf1d91u, 0x1db71064u, 0x6ab020f2u, 0xf3b97148u, 0x84be41deu, 0x1adad47du,
    0x6ddde4ebu, 0xf4d4b551u, 0x83d385c7u, 0x136c9856u, 0x646ba8c0u, 0xfd62f97au, 0x8a65c9ecu,
    0x14015c4fu, 0x63066cd9u, 0xfa0f3d63u, 0x8d080df5u, 0x3b6e20c8u, 0x4c69105eu, 0xd56041e4u,
    0xa2677172u, 0x3c03e4d1u, 0x4b04d447u, 0xd20d85fdu, 0xa50ab56bu, 0x35b5a8fau, 0x42b2986cu,
    0xdbbbc9d6u, 0xacbcf940u, 0x32d86ce3u, 0x45df5c75u, 0xdcd60dcfu, 0xabd13d59u, 0x26d930acu,
    0x51de003au, 0xc8d75180u, 0xbfd06116u, 0x21b4f4b5u, 0x56b3c423u, 0xcfba9599u, 0xb8bda50fu,
    0x2802b89eu, 0x5f058808u, 0xc60cd9b2u, 0xb10be924u, 0x2f6f7c87u, 0x58684c11u, 0xc1611dabu,
    0xb6662d3du, 0x76dc4190u, 0x01db7106u, 0x98d220bcu, 0xefd5102au, 0x71b18589u, 0x06b6b51fu,
    0x9fbfe4a5u, 0xe8b8d433u, 0x7807c9a2u, 0x0f00f934u, 0x9609a88eu, 0xe10e9818u, 0x7f6a0dbbu,
    0x086d3d2du, 0x91646c97u, 0xe6635c01u, 0x6b6b51f4u, 0x1c6c6162u, 0x856530d8u, 0xf262004eu,
    0x6c0695edu, 0x1b01a57bu, 0x8208f4c1u, 0xf50fc457u, 0x65b0d9c6u, 0x12b7e950u, 0x8bbeb8eau,
    0xfcb9887cu, 0x62dd1ddfu, 0x15da2d49u, 0x8cd37cf3u, 0xfbd44c65u, 0x4db26158u, 0x3ab551ceu,
    0xa3bc0074u, 0xd4bb30e2u, 0x4adfa541u, 0x3dd895d7u, 0xa4d1c46du, 0xd3d6f4fbu, 0x4369e96au,
    0x346ed9fcu, 0xad678846u, 0xda60b8d0u, 0x44042d73u, 0x33031de5u, 0xaa0a4c5fu, 0xdd0d7cc9u,
    0x5005713cu, 0x270241aau, 0xbe0b1010u, 0xc90c2086u, 0x5768b525u, 0x206f85b3u, 0xb966d409u,
    0xce61e49fu, 0x5edef90eu, 0x29d9c998u, 0xb0d09822u, 0xc7d7a8b4u, 0x59b33d17u, 0x2eb40d81u,
    0xb7bd5c3bu, 0xc0ba6cadu, 0xedb88320u, 0x9abfb3b6u, 0x03b6e20cu, 0x74b1d29au, 0xead54739u,
    0x9dd277afu, 0x04db2615u, 0x73dc1683u, 0xe3630b12u, 0x94643b84u, 0x0d6d6a3eu, 0x7a6a5aa8u,
    0xe40ecf0bu, 0x9309ff9du, 0x0a00ae27u, 0x7d079eb1u, 0xf00f9344u, 0x8708a3d2u, 0x1e01f268u,
    0x6906c2feu, 0xf762575du, 0x806567cbu, 0x196c3671u, 0x6e6b06e7u, 0xfed41b76u, 0x89d32be0u,
    0x10da7a5au, 0x67dd4accu, 0xf9b9df6fu, 0x8ebeeff9u, 0x17b7be43u, 0x60b08ed5u, 0xd6d6a3e8u,
    0xa1d1937eu, 0x38d8c2c4u, 0x4fdff252u, 0xd1bb67f1u, 0xa6bc5767u, 0x3fb506ddu, 0x48b2364bu,
    0xd80d2bdau, 0xaf0a1b4cu, 0x36034af6u, 0x41047a60u, 0xdf60efc3u, 0xa867df55u, 0x316e8eefu,
    0x4669be79u, 0xcb61b38cu, 0xbc66831au, 0x256fd2a0u, 0x5268e236u, 0xcc0c7795u, 0xbb0b4703u,
    0x220216b9u, 0x5505262fu, 0xc5ba3bbeu, 0xb2bd0b28u, 0x2bb45a92u, 0x5cb36a04u, 0xc2d7ffa7u,
    0xb5d0cf31u, 0x2cd99e8bu, 0x5bdeae1du, 0x9b64c2b0u, 0xec63f226u, 0x756aa39cu, 0x026d930au,
    0x9c0906a9u, 0xeb0e363fu, 0x72076785u, 0x05005713u, 0x95bf4a82u, 0xe2b87a14u, 0x7bb12baeu,
    0x0cb61b38u, 0x92d28e9bu, 0xe5d5be0du, 0x7cdcefb7u, 0x0bdbdf21u, 0x86d3d2d4u, 0xf1d4e242u,
    0x68ddb3f8u, 0x1fda836eu, 0x81be16cdu, 0xf6b9265bu, 0x6fb077e1u, 0x18b74777u, 0x88085ae6u,
    0xff0f6a70u, 0x66063bcau, 0x11010b5cu, 0x8f659effu, 0xf862ae69u, 0x616bffd3u, 0x166ccf45u,
    0xa00ae278u, 0xd70dd2eeu, 0x4e048354u, 0x3903b3c2u, 0xa7672661u, 0xd06016f7u, 0x4969474du,
    0x3e6e77dbu, 0xaed16a4au, 0xd9d65adcu, 0x40df0b66u, 0x37d83bf0u, 0xa9bcae53u, 0xdebb9ec5u,
    0x47b2cf7fu, 0x30b5ffe9u, 0xbdbdf21cu, 0xcabac28au, 0x53b39330u, 0x24b4a3a6u, 0xbad03605u,
    0xcdd70693u, 0x54de5729u, 0x23d967bfu, 0xb3667a2eu, 0xc4614ab8u, 0x5d681b02u, 0x2a6f2b94u,
    0xb40bbe37u, 0xc30c8ea1u, 0x5a05df1bu, 0x2d02ef8du,
};

static uint32_t inline_bin_crc32(const unsigned char *p, size_t n)
{
	uint32_t crc = 0xffffffffu;

	for (size_t i = 0; i < n; i++)
		crc = inline_bin_crc32_table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
	return ~crc;
}

struct ib_yparams {
	uint64_t size, begin, end;
	uint32_t crc32, pcrc32;
	bool has_size, has_begin, has_end, has_crc32, has_pcrc32, has_part;
	const unsigned char *name;
	size_t name_len;
};

static bool inline_bin_ydec(const unsigned char *p, size_t n, uint64_t *v_r)
{
	uint64_t v = 0;

	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		if (v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(p[i] - '0');
	}
	*v_r = v;
	return true;
}

static bool inline_bin_yhex(const unsigned char *p, size_t n, uint32_t *v_r)
{
	uint32_t v = 0;

	if (n > 2 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
		p += 2, n -= 2;
	if (n == 0 || n > 8)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = p[i];
		unsigned d;
		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return false;
		v = v << 4 | d;
	}
	*v_r = v;
	return true;
}

/* key=value pairs after the keyword; name= takes the rest of the line. */
static void inline_bin_yparse(const struct ib_line *l, size_t i, struct ib_yparams *y)
{
	const unsigned char *p = l->p;
	size_t n = l->n;

	while (i < n) {
		size_t k, ke, v;
		while (i < n && inline_bin_blank(p[i]))
			i++;
		k = i;
		while (i < n && p[i] != '=' && !inline_bin_blank(p[i]))
			i++;
		if (i >= n || p[i] != '=')
			continue;
		ke = i++;
		if (ke - k == 4 && !memcmp(p + k, "name", 4)) {
			y->name = p + i;
			y->name_len = n - i;
			if (y->name_len >= 2 && p[i] == '"' && p[n - 1] == '"') {
				y->name++;
				y->name_len -= 2;
			}
			return;
		}
		v = i;
		while (i < n && !inline_bin_blank(p[i]))
			i++;
		if (ke - k == 4 && !memcmp(p + k, "size", 4))
			y->has_size = inline_bin_ydec(p + v, i - v, &y->size);
		else if (ke - k == 5 && !memcmp(p + k, "begin", 5))
			y->has_begin = inline_bin_ydec(p + v, i - v, &y->begin);
		else if (ke - k == 3 && !memcmp(p + k, "end", 3))
			y->has_end = inline_bin_ydec(p + v, i - v, &y->end);
		else if (ke - k == 4 && !memcmp(p + k, "part", 4))
			y->has_part = true;
		else if (ke - k == 5 && !memcmp(p + k, "crc32", 5))
			y->has_crc32 = inline_bin_yhex(p + v, i - v, &y->crc32);
		else if (ke - k == 6 && !memcmp(p + k, "pcrc32", 6))
			y->has_pcrc32 = inline_bin_yhex(p + v, i - v, &y->pcrc32);
	}
}

/* Decode one line; false on a dangling escape at the line end. */
static bool inline_bin_ydecode(const struct ib_line *l, struct strbuf *out)
{
	unsigned char buf[1024];
	size_t k = 0;
	bool ok = true;

	for (size_t i = 0; i < l->n; i++) {
		unsigned char c = l->p[i];
		if (c == '\r')
			continue;
		if (c == '=') {
			if (++i >= l->n) {
				ok = false;
				break;
			}
			c = (unsigned char)(l->p[i] - 64);
		}
		buf[k++] = (unsigned char)(c - 42);
		if (k == sizeof(buf)) {
			strbuf_append(out, buf, k);
			k = 0;
		}
	}
	strbuf_append(out, buf, k);
	return ok;
}

static bool inline_bin_yenc(const char *text, size_t len, const struct ib_line *hdr,
                            struct inline_block *b)
{
	struct ib_yparams yb, yp, ye;
	struct ib_line l;
	size_t pos = hdr->next;
	bool damaged = false, ended = false, ok;

	if (!inline_bin_word(hdr, "=ybegin"))
		return false;
	memset(&yb, 0, sizeof(yb));
	memset(&yp, 0, sizeof(yp));
	memset(&ye, 0, sizeof(ye));
	inline_bin_yparse(hdr, 7, &yb);
	if (pos < len) {
		inline_bin_line(text, len, pos, &l);
		if (inline_bin_word(&l, "=ypart")) {
			inline_bin_yparse(&l, 6, &yp);
			pos = l.next;
		}
	}
	while (pos < len) {
		inline_bin_line(text, len, pos, &l);
		if (inline_bin_word(&l, "=yend")) {
			inline_bin_yparse(&l, 5, &ye);
			ended = true;
			pos = l.next;
			break;
		}
		if (l.n == 0 || inline_bin_word(&l, "=ybegin"))
			break;
		if (!inline_bin_ydecode(&l, &b->data))
			damaged = true;
		pos = l.next;
	}
	b->kind = "yEnc";
	b->end = pos;
	b->name = yb.name ? inline_bin_name(yb.name, yb.name_len) : NULL;
	ok = ended && !damaged;
	if (ok && ye.has_size && ye.size != b->data.len)
		ok = false;
	if (yb.has_part || yp.has_begin) {
		/* One part of a multipart post: the part's size and CRC. */
		if (ok && yp.has_begin && yp.has_end &&
		    (yp.end < yp.begin || yp.end - yp.begin + 1 != b->data.len))
			ok = false;
		if (ok && ye.has_pcrc32 &&
		    inline_bin_crc32((const unsigned char *)b->data.s, b->data.len) != ye.pcrc32)
			ok = false;
	} else {
		uint32_t crc = inline_bin_crc32((const unsigned char *)b->data.s, b->data.len);
		if (ok && yb.has_size && yb.size != b->data.len)
			ok = false;
		if (ok && ye.has_crc32 && crc != ye.crc32)
			ok = false;
		if (ok && ye.has_pcrc32 && crc != ye.pcrc32)
			ok = false;
	}
	b->complete = ok;
	return true;
}

/* ---- BinHex 4.0 -------------------------------------------------------- */

static const char inline_bin_hqx_alphabet[] =
    "!\"#$%&'()*+,-012345689@ABCDEFGHIJKLMNPQRSTUVXYZ[`abcdefhijklmpqr";

static const char inline_bin_hqx_marker[] = "(This file must be converted";

/* CRC-16/XMODEM (polynomial 0x1021, initial 0), as BinHex 4.0 uses it. */
static uint16_t inline_bin_crc16(const unsigned char *p, size_t n)
{
	uint16_t crc = 0;

	for (size_t i = 0; i < n; i++) {
		crc ^= (uint16_t)(p[i] << 8);
		for (int j = 0; j < 8; j++)
			crc = (uint16_t)(crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1);
	}
	return crc;
}

struct ib_hqx {
	uint32_t acc;
	int bits;
	bool marker; /* the previous byte was the run marker 0x90 */
	bool have_prev;
	bool damaged; /* run without a byte before it, or over the cap */
	unsigned char prev;
	size_t cap; /* bytes the stream may expand to (grows with the block) */
	struct strbuf *out;
};

static void inline_bin_hqx_emit(struct ib_hqx *h, unsigned char c, size_t count)
{
	unsigned char buf[256];

	if (h->out->len > h->cap || count > h->cap - h->out->len) {
		h->damaged = true;
		return;
	}
	memset(buf, c, count);
	strbuf_append(h->out, buf, count);
}

static void inline_bin_hqx_byte(struct ib_hqx *h, unsigned char c)
{
	if (h->marker) {
		h->marker = false;
		if (c == 0) { /* a literal 0x90 */
			inline_bin_hqx_emit(h, 0x90, 1);
			h->prev = 0x90;
			h->have_prev = true;
		} else if (!h->have_prev) {
			h->damaged = true;
		} else if (c > 1) {
			inline_bin_hqx_emit(h, h->prev, c - 1u);
		}
		return;
	}
	if (c == 0x90) {
		h->marker = true;
		return;
	}
	inline_bin_hqx_emit(h, c, 1);
	h->prev = c;
	h->have_prev = true;
}

static uint32_t inline_bin_be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Parse the decoded stream; keep the data fork in b->data. */
static bool inline_bin_hqx_fork(struct inline_block *b)
{
	unsigned char *s = (unsigned char *)b->data.s;
	size_t len = b->data.len, nl, at;
	uint32_t dlen, rlen;
	bool ok = true;

	if (len < 1)
		return false;
	nl = s[0];
	if (len < nl + 22) {
		if (len >= 1 + nl && nl)
			b->name = inline_bin_name(s + 1, nl);
		strbuf_reset(&b->data);
		return false;
	}
	if (nl)
		b->name = inline_bin_name(s + 1, nl);
	if (inline_bin_crc16(s, nl + 20) != (uint16_t)(s[nl + 20] << 8 | s[nl + 21]))
		ok = false;
	dlen = inline_bin_be32(s + nl + 12);
	rlen = inline_bin_be32(s + nl + 16);
	at = nl + 22;
	if (dlen > len - at) {
		ok = false;
		dlen = (uint32_t)(len - at);
	} else if (len - at - dlen < 2 || inline_bin_crc16(s + at, dlen) !=
	                                      (uint16_t)(s[at + dlen] << 8 | s[at + dlen + 1])) {
		ok = false;
	} else {
		size_t r = at + dlen + 2;
		if (rlen > len - r || len - r - rlen < 2 ||
		    inline_bin_crc16(s + r, rlen) != (uint16_t)(s[r + rlen] << 8 | s[r + rlen + 1]))
			ok = false;
	}
	memmove(s, s + at, dlen);
	b->data.len = dlen;
	s[dlen] = '\0';
	return ok;
}

static bool inline_bin_binhex(const char *text, size_t len, size_t off, const struct ib_line *hdr,
                              struct inline_block *b)
{
	signed char val[256];
	struct ib_hqx h;
	struct ib_line l;
	size_t pos = hdr->next, last = hdr->next, data;
	bool closed = false, first = true, had;

	if (hdr->n < sizeof(inline_bin_hqx_marker) - 1 ||
	    strncasecmp((const char *)hdr->p, inline_bin_hqx_marker,
	                sizeof(inline_bin_hqx_marker) - 1))
		return false;
	b->kind = "BinHex";
	b->end = hdr->next;
	/* Blank lines, then the data starts with ':' at the start of a line. */
	while (pos < len) {
		size_t i = 0;
		inline_bin_line(text, len, pos, &l);
		while (i < l.n && inline_bin_blank(l.p[i]))
			i++;
		if (i < l.n)
			break;
		pos = l.next;
	}
	if (pos >= len || l.p[0] != ':')
		return true; /* the marker alone: removed, nothing decoded */
	data = pos + 1;

	/* First the extent: whole lines of the alphabet up to the closing ':'. */
	memset(val, -1, sizeof(val));
	for (int i = 0; i < 64; i++)
		val[(unsigned char)inline_bin_hqx_alphabet[i]] = (signed char)i;
	while (pos < len && !closed) {
		size_t i = first ? 1 : 0;
		inline_bin_line(text, len, pos, &l);
		had = first;
		for (; i < l.n; i++) {
			unsigned char c = l.p[i];
			if (c == ':') {
				closed = true;
				break;
			}
			if (val[c] < 0 && !inline_bin_blank(c))
				break;
			had = had || val[c] >= 0;
		}
		if (i < l.n && !closed)
			break;
		pos = l.next;
		first = false;
		if (had || closed)
			last = pos; /* an unclosed block keeps no trailing blank lines */
	}
	b->end = closed ? pos : last;

	/* Then the data, run-length expanded up to the cap. */
	memset(&h, 0, sizeof(h));
	h.out = &b->data;
	h.cap = (b->end - off) * INLINE_BIN_BINHEX_EXPAND;
	for (size_t i = data; i < b->end && !h.damaged; i++) {
		unsigned char c = (unsigned char)text[i];
		if (c == ':')
			break;
		if (val[c] < 0)
			continue; /* line ends and blanks */
		h.acc = (h.acc << 6) | (uint32_t)val[c];
		h.bits += 6;
		if (h.bits >= 8) {
			h.bits -= 8;
			inline_bin_hqx_byte(&h, (unsigned char)(h.acc >> h.bits));
		}
	}
	b->complete = inline_bin_hqx_fork(b) && closed && !h.damaged;
	return true;
}

/* ---- the pass ---------------------------------------------------------- */

size_t inline_bin_find(const char *text, size_t len, struct inline_block **blocks_r)
{
	struct {
		struct inline_block *v;
		size_t n, cap;
	} vec = {NULL, 0, 0};
	size_t off = 0;

	*blocks_r = NULL;
	if (!text)
		return 0;
	while (off < len) {
		unsigned char c = (unsigned char)text[off];
		const char *nl;

		if (c == 'b' || c == '=' || c == '(') {
			struct inline_block b;
			struct ib_line l;
			bool found;

			memset(&b, 0, sizeof(b));
			strbuf_init(&b.data, 0);
			b.start = off;
			inline_bin_line(text, len, off, &l);
			if (c == 'b')
				found = inline_bin_uu(text, len, &l, &b);
			else if (c == '=')
				found = inline_bin_yenc(text, len, &l, &b);
			else
				found = inline_bin_binhex(text, len, off, &l, &b);
			if (found) {
				if (vec.n == INLINE_BIN_MAX_BLOCKS - 1) {
					b.end = len;
					b.complete = false;
				}
				*VEC_PUSH(vec) = b;
				off = b.end;
				continue;
			}
			strbuf_free(&b.data);
			off = l.next;
			continue;
		}
		nl = memchr(text + off, '\n', len - off);
		if (!nl)
			break;
		off = (size_t)(nl - text) + 1;
	}
	*blocks_r = vec.v;
	return vec.n;
}

void inline_bin_free(struct inline_block *blocks, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(blocks[i].name);
		strbuf_free(&blocks[i].data);
	}
	free(blocks);
}

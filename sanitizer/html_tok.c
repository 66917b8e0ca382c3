/*
 * html_tok - streaming HTML5 tokenizer (WHATWG HTML 13.2.5).
 *
 * SUMMARY
 *	Bytes go through two stages.  html_tok_feed() preprocesses the input
 *	stream (CR/CRLF -> LF, invalid UTF-8 -> U+FFFD by the WHATWG decoder's
 *	rules, a UTF-8 sequence split between chunks held back until complete)
 *	and hands runs of clean bytes to html_tok_run(), the state machine.
 *	The UTF-8 check runs 32 or 16 bytes at a time (AVX2 or SSSE3, chosen
 *	at run time; a scalar loop elsewhere and near errors).  The machine
 *	never looks ahead past its input: where the standard peeks at the
 *	next characters ("--", "DOCTYPE", "[CDATA[", "PUBLIC", "SYSTEM",
 *	character references) it matches one character at a time with the
 *	consumed prefix kept, so a chunk may end anywhere; when the whole
 *	reference is at hand it is decoded at once (named ones through a hash
 *	table).  Text states scan with SSE2 (or a byte loop) to the next
 *	character that matters and emit whole runs straight from the input;
 *	the tag and attribute states jump to each other directly.
 *
 * SECURITY
 *	All input is untrusted.  The token under construction lives in one
 *	strbuf capped at HTML_TOK_MAX_TOKEN_BYTES (NUL terminators excepted),
 *	attributes at HTML_TOK_MAX_ATTRS; other state is fixed-size.  Work is
 *	linear in the input (the duplicate-attribute check is quadratic in the
 *	capped attribute count; a named reference met in pieces costs a binary
 *	search per character).
 *
 * DIAGNOSTICS
 *	None: parse errors and truncations are only counted.
 */
#include "html_tok.h"
#include "utf8.h"
#include "strbuf.h"
#include "xalloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

struct html_tok_entity {
	const char *name;
	const char *value;
	unsigned char name_len;
	unsigned char value_len;
};

#include "html_entities.inc"

enum html_tok_state {
	S_DATA,
	S_RCDATA,
	S_RAWTEXT,
	S_SCRIPT,
	S_PLAINTEXT,
	S_TAG_OPEN,
	S_END_TAG_OPEN,
	S_TAG_NAME,
	S_RCDATA_LT,
	S_RCDATA_END_OPEN,
	S_RCDATA_END_NAME,
	S_RAWTEXT_LT,
	S_RAWTEXT_END_OPEN,
	S_RAWTEXT_END_NAME,
	S_SCRIPT_LT,
	S_SCRIPT_END_OPEN,
	S_SCRIPT_END_NAME,
	S_SCRIPT_ESC_START,
	S_SCRIPT_ESC_START_DASH,
	S_SCRIPT_ESC,
	S_SCRIPT_ESC_DASH,
	S_SCRIPT_ESC_DASH_DASH,
	S_SCRIPT_ESC_LT,
	S_SCRIPT_ESC_END_OPEN,
	S_SCRIPT_ESC_END_NAME,
	S_SCRIPT_DESC_START,
	S_SCRIPT_DESC,
	S_SCRIPT_DESC_DASH,
	S_SCRIPT_DESC_DASH_DASH,
	S_SCRIPT_DESC_LT,
	S_SCRIPT_DESC_END,
	S_BEFORE_ATTR_NAME,
	S_ATTR_NAME,
	S_AFTER_ATTR_NAME,
	S_BEFORE_ATTR_VALUE,
	S_ATTR_VALUE_DQ,
	S_ATTR_VALUE_SQ,
	S_ATTR_VALUE_UQ,
	S_AFTER_ATTR_VALUE_Q,
	S_SELF_CLOSING,
	S_BOGUS_COMMENT,
	S_MARKUP_DECL, /* with md_buf: the part of "--", "DOCTYPE", "[CDATA[" seen */
	S_COMMENT_START,
	S_COMMENT_START_DASH,
	S_COMMENT,
	S_COMMENT_LT,
	S_COMMENT_LT_BANG,
	S_COMMENT_LT_BANG_DASH,
	S_COMMENT_LT_BANG_DASH_DASH,
	S_COMMENT_END_DASH,
	S_COMMENT_END,
	S_COMMENT_END_BANG,
	S_DOCTYPE,
	S_BEFORE_DOCTYPE_NAME,
	S_DOCTYPE_NAME,
	S_AFTER_DOCTYPE_NAME,
	S_DOCTYPE_KEYWORD, /* inside "PUBLIC" or "SYSTEM" after the name */
	S_AFTER_DOCTYPE_PUBLIC_KW,
	S_BEFORE_DOCTYPE_PUBLIC_ID,
	S_DOCTYPE_PUBLIC_ID_DQ,
	S_DOCTYPE_PUBLIC_ID_SQ,
	S_AFTER_DOCTYPE_PUBLIC_ID,
	S_BETWEEN_DOCTYPE_IDS,
	S_AFTER_DOCTYPE_SYSTEM_KW,
	S_BEFORE_DOCTYPE_SYSTEM_ID,
	S_DOCTYPE_SYSTEM_ID_DQ,
	S_DOCTYPE_SYSTEM_ID_SQ,
	S_AFTER_DOCTYPE_SYSTEM_ID,
	S_BOGUS_DOCTYPE,
	S_CDATA,
	S_CDATA_BRACKET,
	S_CDATA_END,
	S_CHARREF,
	S_NAMED_REF,
	S_NUMERIC_REF,
	S_HEX_REF_START,
	S_DEC_REF_START,
	S_HEX_REF,
	S_DEC_REF,
};

/* DOCTYPE fields, in the order they are built. */
enum { DT_NONE, DT_NAME, DT_PUBLIC, DT_SYSTEM, DT_N };

struct html_tok_attr_off {
	size_t name_off, name_len, value_off, value_len;
};

struct html_tok {
	html_tok_text_fn text;
	html_tok_token_fn token;
	void *ctx;
	enum html_tok_state state;
	bool finished;
	bool cdata_allowed;

	/* input preprocessing */
	bool skip_lf; /* the previous chunk ended with CR */
	unsigned char u8buf[4];
	size_t u8len; /* bytes of an incomplete UTF-8 sequence held back */

	/* the token under construction: tag, comment or DOCTYPE */
	struct strbuf buf;
	bool is_end_tag, self_closing, name_done;
	size_t name_len;
	struct html_tok_attr_off *attr; /* the kept ones, then the one being built */
	struct html_tok_attr *attrs_out;
	size_t nattrs, attr_cap;
	bool attr_open, attr_name_done, attr_drop;
	html_tok_keep_fn keep;
	size_t dt_off[DT_N], dt_len[DT_N];
	bool dt_has[DT_N];
	int dt_cur;
	bool force_quirks;
	const char *dt_keyword; /* "public" or "system" while matching it */
	size_t dt_kw_pos;

	/* the temporary buffer (end tag names in RCDATA etc., "script") */
	char tmp[64];
	size_t tmp_len;
	char md_buf[8]; /* markup declaration open: characters matched */
	size_t md_len;
	char last_start[64]; /* for "appropriate end tag"; len 0 = none */
	size_t last_start_len;

	/* character references */
	enum html_tok_state ret;
	char ref_buf[4 + HTML_TOK_ENTITY_MAX_NAME];
	size_t ref_len;
	size_t ref_lo, ref_hi; /* entities whose name starts with ref_buf+1 */
	long ref_match;        /* longest full match so far, -1 if none */
	size_t ref_match_len;
	uint32_t ref_code;

	unsigned long errors, truncations;
};

static const char REPLACEMENT[] = "\xEF\xBF\xBD";

/* Windows-1252 meanings of numeric references 0x80..0x9F (0 = none). */
static const uint16_t html_tok_c1_table[32] = {
    0x20AC, 0,      0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
    0x2039, 0x0152, 0,      0x017D, 0,      0,      0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
    0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0,      0x017E, 0x0178,
};

#define IS_WS(c) ((c) == '\t' || (c) == '\n' || (c) == '\f' || (c) == ' ')
#define IS_UPPER(c) ((c) >= 'A' && (c) <= 'Z')
#define IS_LOWER(c) ((c) >= 'a' && (c) <= 'z')
#define IS_ALPHA(c) (IS_UPPER(c) || IS_LOWER(c))
#define IS_DIGIT(c) ((c) >= '0' && (c) <= '9')
#define IS_ALNUM(c) (IS_ALPHA(c) || IS_DIGIT(c))
#define IS_HEX(c) (IS_DIGIT(c) || ((c) >= 'a' && (c) <= 'f') || ((c) >= 'A' && (c) <= 'F'))
#define TO_LOWER(c) ((unsigned char)(IS_UPPER(c) ? (c) + 32 : (c)))

/* Bytes that end a run of a tag name (A-Z do not: runs are lowered in bulk). */
static const unsigned char html_tok_tag_stop[256] = {
    [0] = 1, ['\t'] = 1, ['\n'] = 1, ['\f'] = 1, [' '] = 1, ['/'] = 1, ['>'] = 1,
};
/* ... of an attribute name. */
static const unsigned char html_tok_attr_stop[256] = {
    [0] = 1, ['\t'] = 1, ['\n'] = 1, ['\f'] = 1, [' '] = 1, ['/'] = 1, ['>'] = 1, ['='] = 1,
};
/* ... of a DOCTYPE name. */
static const unsigned char html_tok_doctype_stop[256] = {
    [0] = 1, ['\t'] = 1, ['\n'] = 1, ['\f'] = 1, [' '] = 1, ['>'] = 1,
};
/* Bytes that end a run of an unquoted attribute value. */
static const unsigned char html_tok_uq_stop[256] = {
    [0] = 1, ['\t'] = 1, ['\n'] = 1, ['\f'] = 1, [' '] = 1, ['&'] = 1, ['>'] = 1,
};

/* ---- scanning ---------------------------------------------------------- */

/* The first byte in [p, end) equal to a, b or c (end if none). */
static inline const unsigned char *html_tok_scan3(const unsigned char *p, const unsigned char *end,
                                                  unsigned char a, unsigned char b, unsigned char c)
{
#ifdef __SSE2__
	const __m128i va = _mm_set1_epi8((char)a), vb = _mm_set1_epi8((char)b),
	              vc = _mm_set1_epi8((char)c);

	while (end - p >= 16) {
		__m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
		__m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, va), _mm_cmpeq_epi8(x, vb)),
		                         _mm_cmpeq_epi8(x, vc));
		unsigned mask = (unsigned)_mm_movemask_epi8(m);

		if (mask)
			return p + __builtin_ctz(mask);
		p += 16;
	}
#endif
	while (p < end && *p != a && *p != b && *p != c)
		p++;
	return p;
}

static inline const unsigned char *
html_tok_scan_table(const unsigned char *p, const unsigned char *end, const unsigned char *stop)
{
	while (end - p >= 4) {
		if (stop[p[0]])
			return p;
		if (stop[p[1]])
			return p + 1;
		if (stop[p[2]])
			return p + 2;
		if (stop[p[3]])
			return p + 3;
		p += 4;
	}
	while (p < end && !stop[*p])
		p++;
	return p;
}

/* ---- output helpers ---------------------------------------------------- */

static inline void html_tok_emit(struct html_tok *t, const void *s, size_t n)
{
	if (n)
		t->text(t->ctx, s, n);
}

static void html_tok_add_slow(struct html_tok *t, const void *s, size_t n)
{
	size_t room =
	    HTML_TOK_MAX_TOKEN_BYTES -
	    (t->buf.len < HTML_TOK_MAX_TOKEN_BYTES ? t->buf.len : HTML_TOK_MAX_TOKEN_BYTES);

	if (n > room) {
		t->truncations++;
		n = room;
	}
	if (n)
		strbuf_append(&t->buf, s, n);
}

/* Append to the token under construction, within the limit. */
static inline void html_tok_add(struct html_tok *t, const void *s, size_t n)
{
	struct strbuf *b = &t->buf;

	/* the common case without a call: room in the buffer, under the limit */
	if (b->len + n < b->cap && b->len + n <= HTML_TOK_MAX_TOKEN_BYTES) {
		html_tok_copy(b->s + b->len, s, n);
		b->len += n;
		b->s[b->len] = '\0';
		return;
	}
	html_tok_add_slow(t, s, n);
}

/* ... the value of an attribute, unless it is being dropped. */
static inline void html_tok_add_value(struct html_tok *t, const void *s, size_t n)
{
	if (!t->attr_drop)
		html_tok_add(t, s, n);
}

static inline void html_tok_add1(struct html_tok *t, unsigned char c)
{
	html_tok_add(t, &c, 1);
}

static void html_tok_add_lower(struct html_tok *t, const unsigned char *s, size_t n)
{
	struct strbuf *b = &t->buf;
	size_t start = b->len, i, added;
	char *d;

	if (b->len + n < b->cap && b->len + n <= HTML_TOK_MAX_TOKEN_BYTES) {
		/* copy and lower in one pass */
		d = b->s + start;
		for (i = 0; i < n; i++)
			d[i] = (char)TO_LOWER(s[i]);
		d[n] = '\0';
		b->len += n;
		return;
	}
	html_tok_add(t, s, n);
	/* through locals: a store through char * could alias t->buf */
	d = b->s + start;
	added = b->len - start;
	for (i = 0; i < added; i++)
		d[i] = (char)TO_LOWER((unsigned char)d[i]);
}

/* A NUL terminator between fields; exempt from the limit (bounded count). */
static inline void html_tok_term(struct html_tok *t)
{
	struct strbuf *b = &t->buf;

	if (b->len + 1 < b->cap) {
		b->s[++b->len] = '\0'; /* the NUL at s[len] is already there */
		return;
	}
	strbuf_append(b, "", 1);
}

static inline void html_tok_reset_buf(struct html_tok *t)
{
	/* Give back memory after a huge token. */
	if (t->buf.cap > 64 * 1024)
		strbuf_free(&t->buf);
	t->buf.len = 0;
	if (t->buf.s)
		t->buf.s[0] = '\0';
}

/* ---- tags -------------------------------------------------------------- */

static void html_tok_tag_begin(struct html_tok *t, bool end_tag)
{
	html_tok_reset_buf(t);
	t->is_end_tag = end_tag;
	t->self_closing = false;
	t->name_done = false;
	t->nattrs = 0;
	t->attr_open = false;
}

static void html_tok_tag_name_end(struct html_tok *t)
{
	if (t->name_done)
		return;
	t->name_len = t->buf.len;
	html_tok_term(t);
	t->name_done = true;
}

static void html_tok_attr_name_end(struct html_tok *t)
{
	size_t i;
	const char *name;

	if (t->attr_name_done)
		return;
	t->attr_name_done = true;
	t->attr[t->nattrs].name_len = t->buf.len - t->attr[t->nattrs].name_off;
	name = t->buf.s + t->attr[t->nattrs].name_off;
	t->attr_drop = false;
	if (t->nattrs == HTML_TOK_MAX_ATTRS) {
		t->truncations++;
		t->attr_drop = true;
	}
	for (i = 0; i < t->nattrs && !t->attr_drop; i++) {
		if (t->attr[i].name_len == t->attr[t->nattrs].name_len &&
		    memcmp(t->buf.s + t->attr[i].name_off, name, t->attr[t->nattrs].name_len) ==
		        0) {
			t->errors++; /* duplicate-attribute: the first one wins */
			t->attr_drop = true;
		}
	}
	if (t->keep && !t->attr_drop && !t->keep(name, t->attr[t->nattrs].name_len))
		t->attr_drop = true;
	html_tok_term(t);
	t->attr[t->nattrs].value_off = t->buf.len;
}

static void html_tok_attr_finish(struct html_tok *t)
{
	if (!t->attr_open)
		return;
	html_tok_attr_name_end(t);
	t->attr[t->nattrs].value_len = t->buf.len - t->attr[t->nattrs].value_off;
	if (t->attr_drop) {
		t->buf.len = t->attr[t->nattrs].name_off;
		t->buf.s[t->buf.len] = '\0';
	} else {
		html_tok_term(t);
		t->nattrs++; /* the attribute was built in its slot */
	}
	t->attr_open = false;
}

static void html_tok_attr_begin(struct html_tok *t)
{
	html_tok_attr_finish(t);
	/* the slot after the kept ones (there is one even when they are at the limit) */
	if (t->nattrs == t->attr_cap) {
		t->attr_cap = t->attr_cap ? 2 * t->attr_cap : 16;
		if (t->attr_cap > HTML_TOK_MAX_ATTRS + 1)
			t->attr_cap = HTML_TOK_MAX_ATTRS + 1;
		t->attr = xreallocarray(t->attr, t->attr_cap, sizeof(*t->attr));
		t->attrs_out = xreallocarray(t->attrs_out, t->attr_cap, sizeof(*t->attrs_out));
	}
	t->attr_open = true;
	t->attr_name_done = false;
	t->attr_drop = false;
	t->attr[t->nattrs].name_off = t->buf.len;
}

/*
 * The attribute name [p, p + n), complete, is one the filter drops: if so
 * the attribute is marked dropped, with nothing stored.
 */
static bool html_tok_filtered(struct html_tok *t, const unsigned char *p, size_t n)
{
	char low[32];
	size_t i;

	if (n > sizeof(low))
		return false;
	for (i = 0; i < n; i++)
		low[i] = (char)TO_LOWER(p[i]);
	if (t->keep(low, n))
		return false;
	t->attr_name_done = true;
	t->attr_drop = true;
	t->attr[t->nattrs].value_off = t->buf.len;
	return true;
}

/* Emit the current tag.  The caller has already set the state after it, so
 * that the callback may override it (the tree builder's switch). */
static void html_tok_tag_emit(struct html_tok *t)
{
	struct html_tok_token tok = {0};
	size_t i;

	html_tok_tag_name_end(t);
	html_tok_attr_finish(t);
	tok.type = t->is_end_tag ? HTML_TOK_END_TAG : HTML_TOK_START_TAG;
	tok.name = t->buf.s;
	tok.name_len = t->name_len;
	tok.self_closing = t->self_closing;
	if (t->is_end_tag) {
		if (t->nattrs || t->self_closing)
			t->errors++;
	} else {
		for (i = 0; i < t->nattrs; i++) {
			t->attrs_out[i].name = t->buf.s + t->attr[i].name_off;
			t->attrs_out[i].name_len = t->attr[i].name_len;
			t->attrs_out[i].value = t->buf.s + t->attr[i].value_off;
			t->attrs_out[i].value_len = t->attr[i].value_len;
		}
		tok.attrs = t->attrs_out;
		tok.nattrs = t->nattrs;
		if (t->name_len < sizeof(t->last_start)) {
			memcpy(t->last_start, t->buf.s, t->name_len);
			t->last_start_len = t->name_len;
		} else {
			t->last_start_len = 0;
		}
	}
	t->token(t->ctx, &tok);
}

/* The current end tag is an "appropriate end tag token". */
static bool html_tok_appropriate(const struct html_tok *t)
{
	return t->last_start_len && t->buf.len == t->last_start_len &&
	       memcmp(t->buf.s, t->last_start, t->last_start_len) == 0;
}

/* ---- comments and DOCTYPE ---------------------------------------------- */

static void html_tok_comment_begin(struct html_tok *t)
{
	html_tok_reset_buf(t);
}

static void html_tok_comment_emit(struct html_tok *t)
{
	struct html_tok_token tok;

	memset(&tok, 0, sizeof(tok));
	tok.type = HTML_TOK_COMMENT;
	tok.name = t->buf.s ? t->buf.s : "";
	tok.name_len = t->buf.len;
	t->token(t->ctx, &tok);
}

static void html_tok_doctype_begin(struct html_tok *t)
{
	html_tok_reset_buf(t);
	memset(t->dt_has, 0, sizeof(t->dt_has));
	t->dt_cur = DT_NONE;
	t->force_quirks = false;
}

static void html_tok_dt_field_end(struct html_tok *t)
{
	if (t->dt_cur == DT_NONE)
		return;
	t->dt_len[t->dt_cur] = t->buf.len - t->dt_off[t->dt_cur];
	html_tok_term(t);
	t->dt_cur = DT_NONE;
}

static void html_tok_dt_field_begin(struct html_tok *t, int field)
{
	html_tok_dt_field_end(t);
	t->dt_off[field] = t->buf.len;
	t->dt_has[field] = true;
	t->dt_cur = field;
}

static void html_tok_doctype_emit(struct html_tok *t)
{
	struct html_tok_token tok;

	html_tok_dt_field_end(t);
	memset(&tok, 0, sizeof(tok));
	tok.type = HTML_TOK_DOCTYPE;
	if (t->dt_has[DT_NAME]) {
		tok.name = t->buf.s + t->dt_off[DT_NAME];
		tok.name_len = t->dt_len[DT_NAME];
	}
	if (t->dt_has[DT_PUBLIC]) {
		tok.public_id = t->buf.s + t->dt_off[DT_PUBLIC];
		tok.public_len = t->dt_len[DT_PUBLIC];
	}
	if (t->dt_has[DT_SYSTEM]) {
		tok.system_id = t->buf.s + t->dt_off[DT_SYSTEM];
		tok.system_len = t->dt_len[DT_SYSTEM];
	}
	tok.force_quirks = t->force_quirks;
	t->token(t->ctx, &tok);
}

/* ---- character references ---------------------------------------------- */

static void html_tok_charref_begin(struct html_tok *t, enum html_tok_state ret)
{
	t->ret = ret;
	t->ref_buf[0] = '&';
	t->ref_len = 1;
	t->state = S_CHARREF;
}

static bool html_tok_ret_is_attr(const struct html_tok *t)
{
	return t->ret == S_ATTR_VALUE_DQ || t->ret == S_ATTR_VALUE_SQ || t->ret == S_ATTR_VALUE_UQ;
}

/* "Flush code points consumed as a character reference". */
static void html_tok_ref_flush(struct html_tok *t, const void *s, size_t n)
{
	if (html_tok_ret_is_attr(t))
		html_tok_add_value(t, s, n);
	else
		html_tok_emit(t, s, n);
}

/* Key of entity i at name position k: the byte, or -1 if the name is that short. */
static inline int html_tok_ent_key(size_t i, size_t k)
{
	return html_tok_entities[i].name_len > k ? (unsigned char)html_tok_entities[i].name[k] : -1;
}

/*
 * Extend the named-reference match by c.  Returns false (c not consumed)
 * when no entity name starts with the characters seen plus c.
 */
static bool html_tok_named_step(struct html_tok *t, unsigned char c)
{
	size_t k = t->ref_len - 1, lo = t->ref_lo, hi = t->ref_hi, a, b;

	/* first entity in [lo, hi) with key >= c */
	a = lo;
	b = hi;
	while (a < b) {
		size_t m = a + (b - a) / 2;
		if (html_tok_ent_key(m, k) < c)
			a = m + 1;
		else
			b = m;
	}
	lo = a;
	/* first with key > c */
	b = hi;
	while (a < b) {
		size_t m = a + (b - a) / 2;
		if (html_tok_ent_key(m, k) <= c)
			a = m + 1;
		else
			b = m;
	}
	hi = a;
	if (lo == hi)
		return false;
	t->ref_buf[t->ref_len++] = (char)c;
	t->ref_lo = lo;
	t->ref_hi = hi;
	if (html_tok_entities[lo].name_len == k + 1) {
		t->ref_match = (long)lo;
		t->ref_match_len = k + 1;
	}
	return true;
}

/*
 * The named reference at p when "name;" is all in [p, end): one look-up
 * of the whole name (an entity ending in ';' is the longest match there
 * can be).  Returns the end of the reference, or NULL to go one character at a
 * time.
 */
static const unsigned char *html_tok_named_fast(struct html_tok *t, const unsigned char *p,
                                                const unsigned char *end)
{
	const unsigned char *q = p;
	size_t len, k;
	uint32_t h;

	while (q < end && q - p < HTML_TOK_ENTITY_MAX_NAME && IS_ALNUM(*q))
		q++;
	if (q >= end || *q != ';')
		return NULL;
	len = (size_t)(q + 1 - p);
	/* one look in the hash table of the names */
	for (h = 2166136261u, k = 0; k < len; k++)
		h = (h ^ p[k]) * 16777619u;
	for (h &= HTML_TOK_ENTITY_SLOTS - 1; html_tok_entity_hash[h];
	     h = (h + 1) & (HTML_TOK_ENTITY_SLOTS - 1)) {
		const struct html_tok_entity *e = &html_tok_entities[html_tok_entity_hash[h] - 1];

		if (e->name_len == len && memcmp(e->name, p, len) == 0) {
			t->state = t->ret;
			html_tok_ref_flush(t, e->value, e->value_len);
			return q + 1;
		}
	}
	return NULL;
}

/* The named reference ended; next is the following character (-1 at EOF). */
static void html_tok_named_end(struct html_tok *t, int next)
{
	const struct html_tok_entity *e;
	size_t extra;

	t->state = t->ret;
	if (t->ref_match < 0) {
		html_tok_ref_flush(t, t->ref_buf, t->ref_len);
		if (next == ';' && t->ref_len > 1)
			t->errors++; /* unknown-named-character-reference */
		return;
	}
	e = &html_tok_entities[t->ref_match];
	extra = t->ref_len - 1 - t->ref_match_len;
	if (e->name[e->name_len - 1] != ';') {
		if (html_tok_ret_is_attr(t)) {
			int after = extra ? (unsigned char)t->ref_buf[1 + t->ref_match_len] : next;

			if (after == '=' || (after >= 0 && IS_ALNUM(after))) {
				/* historical reasons: left as written */
				html_tok_ref_flush(t, t->ref_buf, t->ref_len);
				return;
			}
		}
		t->errors++; /* missing-semicolon-after-character-reference */
	}
	html_tok_ref_flush(t, e->value, e->value_len);
	html_tok_ref_flush(t, t->ref_buf + 1 + t->ref_match_len, extra);
}

static void html_tok_numeric_end(struct html_tok *t)
{
	uint32_t cp = t->ref_code;
	char out[4];

	if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
		t->errors++;
		cp = 0xFFFD;
	} else if ((cp >= 0xFDD0 && cp <= 0xFDEF) || (cp & 0xFFFE) == 0xFFFE) {
		t->errors++; /* noncharacter: kept */
	} else if (cp == 0x0D || (cp < 0x20 && !IS_WS(cp)) || (cp >= 0x7F && cp <= 0x9F)) {
		t->errors++;
		if (cp >= 0x80 && cp <= 0x9F && html_tok_c1_table[cp - 0x80])
			cp = html_tok_c1_table[cp - 0x80];
	}
	t->state = t->ret;
	html_tok_ref_flush(t, out, utf8_put(cp, out));
}

/*
 * The numeric reference after "&#" when it is all in [p, end) and ends
 * with ';' after at most 8 digits: decoded at once.  NULL otherwise (the
 * states take it one character at a time).
 */
static const unsigned char *html_tok_numeric_fast(struct html_tok *t, const unsigned char *p,
                                                  const unsigned char *end)
{
	const unsigned char *q = p;
	bool hex = q < end && (*q == 'x' || *q == 'X');
	uint32_t cp = 0;

	if (hex)
		q++;
	while (q < end && q - p < 9 && (hex ? IS_HEX(*q) : IS_DIGIT(*q))) {
		cp = cp * (hex ? 16 : 10) +
		     (uint32_t)(IS_DIGIT(*q) ? *q - '0' : TO_LOWER(*q) - 'a' + 10);
		q++;
	}
	if (q >= end || *q != ';' || q == p + hex || q - p > 9)
		return NULL;
	t->ref_code = cp > 0x10FFFF ? 0x110000 : cp;
	html_tok_numeric_end(t);
	return q + 1;
}

/* ---- the state machine -------------------------------------------------- */

/*
 * The end tag name states of RCDATA, RAWTEXT, script data and escaped
 * script data.  Returns whether c was consumed.
 */
static bool html_tok_end_name(struct html_tok *t, unsigned char c, enum html_tok_state base)
{
	if (IS_ALPHA(c) && t->tmp_len < sizeof(t->tmp)) {
		t->tmp[t->tmp_len++] = (char)c;
		html_tok_add1(t, TO_LOWER(c));
		return true;
	}
	if (!IS_ALPHA(c) && html_tok_appropriate(t)) {
		if (IS_WS(c)) {
			html_tok_tag_name_end(t);
			t->state = S_BEFORE_ATTR_NAME;
			return true;
		}
		if (c == '/') {
			html_tok_tag_name_end(t);
			t->state = S_SELF_CLOSING;
			return true;
		}
		if (c == '>') {
			t->state = S_DATA;
			html_tok_tag_emit(t);
			return true;
		}
	}
	/* Not our end tag (or a name longer than any we wait for): text. */
	html_tok_emit(t, "</", 2);
	html_tok_emit(t, t->tmp, t->tmp_len);
	t->state = base;
	return false;
}

static bool html_tok_tmp_is_script(const struct html_tok *t)
{
	return t->tmp_len == 6 && memcmp(t->tmp, "script", 6) == 0;
}

static void html_tok_tmp_add_lower(struct html_tok *t, unsigned char c)
{
	if (t->tmp_len < sizeof(t->tmp))
		t->tmp[t->tmp_len] = (char)TO_LOWER(c);
	if (t->tmp_len <= sizeof(t->tmp))
		t->tmp_len++;
}

/*
 * The hot states (data, tags, attributes) go straight to the next state's
 * code with GOTO_STATE instead of through the switch: the state is always
 * stored first, so leaving the chain at the end of the input (or through
 * the switch) is the same.
 */
#define GOTO_STATE(st, label)                                                                      \
	do {                                                                                       \
		t->state = (st);                                                                   \
		if (p >= end)                                                                      \
			return;                                                                    \
		c = *p;                                                                            \
		goto label;                                                                        \
	} while (0)

static void html_tok_run(struct html_tok *t, const unsigned char *p, const unsigned char *end)
{
	const unsigned char *q;
	unsigned char c;

	while (p < end) {
		c = *p;
		switch (t->state) {
		case S_DATA:
		data:
			q = html_tok_scan3(p, end, '<', '&', 0);
			if (q != p) {
				html_tok_emit(t, p, (size_t)(q - p));
				p = q;
				if (p >= end)
					return;
				c = *p;
			}
			p++;
			if (c == '<') {
				GOTO_STATE(S_TAG_OPEN, tag_open);
			} else if (c == '&') {
				html_tok_charref_begin(t, S_DATA);
			} else {
				t->errors++; /* unexpected-null-character: kept as is */
				html_tok_emit(t, "", 1);
			}
			break;
		case S_RCDATA:
			q = html_tok_scan3(p, end, '<', '&', 0);
			if (q != p) {
				html_tok_emit(t, p, (size_t)(q - p));
				p = q;
				break;
			}
			p++;
			if (c == '<') {
				t->state = S_RCDATA_LT;
			} else if (c == '&') {
				html_tok_charref_begin(t, S_RCDATA);
			} else {
				t->errors++;
				html_tok_emit(t, REPLACEMENT, 3);
			}
			break;
		case S_RAWTEXT:
		case S_SCRIPT:
			q = html_tok_scan3(p, end, '<', 0, 0);
			if (q != p) {
				html_tok_emit(t, p, (size_t)(q - p));
				p = q;
				break;
			}
			p++;
			if (c == '<') {
				t->state = t->state == S_RAWTEXT ? S_RAWTEXT_LT : S_SCRIPT_LT;
			} else {
				t->errors++;
				html_tok_emit(t, REPLACEMENT, 3);
			}
			break;
		case S_PLAINTEXT:
			q = html_tok_scan3(p, end, 0, 0, 0);
			if (q != p) {
				html_tok_emit(t, p, (size_t)(q - p));
				p = q;
				break;
			}
			p++;
			t->errors++;
			html_tok_emit(t, REPLACEMENT, 3);
			break;
		case S_TAG_OPEN:
		tag_open:
			if (c == '!') {
				p++;
				t->md_len = 0;
				t->state = S_MARKUP_DECL;
			} else if (c == '/') {
				p++;
				GOTO_STATE(S_END_TAG_OPEN, end_tag_open);
			} else if (IS_ALPHA(c)) {
				html_tok_tag_begin(t, false);
				GOTO_STATE(S_TAG_NAME, tag_name);
			} else if (c == '?') {
				t->errors++;
				html_tok_comment_begin(t);
				t->state = S_BOGUS_COMMENT;
			} else {
				t->errors++;
				html_tok_emit(t, "<", 1);
				t->state = S_DATA;
			}
			break;
		case S_END_TAG_OPEN:
		end_tag_open:
			if (IS_ALPHA(c)) {
				html_tok_tag_begin(t, true);
				GOTO_STATE(S_TAG_NAME, tag_name);
			} else if (c == '>') {
				p++;
				t->errors++;
				t->state = S_DATA;
			} else {
				t->errors++;
				html_tok_comment_begin(t);
				t->state = S_BOGUS_COMMENT;
			}
			break;
		case S_TAG_NAME:
		tag_name:
			q = html_tok_scan_table(p, end, html_tok_tag_stop);
			if (q != p) {
				html_tok_add_lower(t, p, (size_t)(q - p));
				p = q;
				if (p >= end)
					return;
				c = *p;
			}
			p++;
			if (IS_WS(c)) {
				html_tok_tag_name_end(t);
				GOTO_STATE(S_BEFORE_ATTR_NAME, before_attr_name);
			} else if (c == '/') {
				html_tok_tag_name_end(t);
				t->state = S_SELF_CLOSING;
			} else if (c == '>') {
				t->state = S_DATA;
				html_tok_tag_emit(t);
				if (t->state == S_DATA)
					GOTO_STATE(S_DATA, data);
			} else {
				t->errors++;
				html_tok_add(t, REPLACEMENT, 3);
			}
			break;
		case S_RCDATA_LT:
		case S_RAWTEXT_LT:
			if (c == '/') {
				p++;
				t->tmp_len = 0;
				t->state = t->state == S_RCDATA_LT ? S_RCDATA_END_OPEN
				                                   : S_RAWTEXT_END_OPEN;
			} else {
				html_tok_emit(t, "<", 1);
				t->state = t->state == S_RCDATA_LT ? S_RCDATA : S_RAWTEXT;
			}
			break;
		case S_RCDATA_END_OPEN:
		case S_RAWTEXT_END_OPEN:
		case S_SCRIPT_END_OPEN:
		case S_SCRIPT_ESC_END_OPEN: {
			static const enum html_tok_state name[] = {
			    [S_RCDATA_END_OPEN] = S_RCDATA_END_NAME,
			    [S_RAWTEXT_END_OPEN] = S_RAWTEXT_END_NAME,
			    [S_SCRIPT_END_OPEN] = S_SCRIPT_END_NAME,
			    [S_SCRIPT_ESC_END_OPEN] = S_SCRIPT_ESC_END_NAME,
			};
			static const enum html_tok_state base[] = {
			    [S_RCDATA_END_OPEN] = S_RCDATA,
			    [S_RAWTEXT_END_OPEN] = S_RAWTEXT,
			    [S_SCRIPT_END_OPEN] = S_SCRIPT,
			    [S_SCRIPT_ESC_END_OPEN] = S_SCRIPT_ESC,
			};
			if (IS_ALPHA(c)) {
				html_tok_tag_begin(t, true);
				t->state = name[t->state];
			} else {
				html_tok_emit(t, "</", 2);
				t->state = base[t->state];
			}
			break;
		}
		case S_RCDATA_END_NAME:
			p += html_tok_end_name(t, c, S_RCDATA);
			break;
		case S_RAWTEXT_END_NAME:
			p += html_tok_end_name(t, c, S_RAWTEXT);
			break;
		case S_SCRIPT_END_NAME:
			p += html_tok_end_name(t, c, S_SCRIPT);
			break;
		case S_SCRIPT_ESC_END_NAME:
			p += html_tok_end_name(t, c, S_SCRIPT_ESC);
			break;
		case S_SCRIPT_LT:
			if (c == '/') {
				p++;
				t->tmp_len = 0;
				t->state = S_SCRIPT_END_OPEN;
			} else if (c == '!') {
				p++;
				html_tok_emit(t, "<!", 2);
				t->state = S_SCRIPT_ESC_START;
			} else {
				html_tok_emit(t, "<", 1);
				t->state = S_SCRIPT;
			}
			break;
		case S_SCRIPT_ESC_START:
		case S_SCRIPT_ESC_START_DASH:
			if (c == '-') {
				p++;
				html_tok_emit(t, "-", 1);
				t->state = t->state == S_SCRIPT_ESC_START ? S_SCRIPT_ESC_START_DASH
				                                          : S_SCRIPT_ESC_DASH_DASH;
			} else {
				t->state = S_SCRIPT;
			}
			break;
		case S_SCRIPT_ESC:
		case S_SCRIPT_DESC:
			q = html_tok_scan3(p, end, '-', '<', 0);
			if (q != p) {
				html_tok_emit(t, p, (size_t)(q - p));
				p = q;
				break;
			}
			p++;
			if (c == '-') {
				html_tok_emit(t, "-", 1);
				t->state = t->state == S_SCRIPT_ESC ? S_SCRIPT_ESC_DASH
				                                    : S_SCRIPT_DESC_DASH;
			} else if (c == '<') {
				if (t->state == S_SCRIPT_ESC) {
					t->state = S_SCRIPT_ESC_LT;
				} else {
					html_tok_emit(t, "<", 1);
					t->state = S_SCRIPT_DESC_LT;
				}
			} else {
				t->errors++;
				html_tok_emit(t, REPLACEMENT, 3);
			}
			break;
		case S_SCRIPT_ESC_DASH:
		case S_SCRIPT_ESC_DASH_DASH:
		case S_SCRIPT_DESC_DASH:
		case S_SCRIPT_DESC_DASH_DASH: {
			bool esc =
			    t->state == S_SCRIPT_ESC_DASH || t->state == S_SCRIPT_ESC_DASH_DASH;
			bool dash2 = t->state == S_SCRIPT_ESC_DASH_DASH ||
			             t->state == S_SCRIPT_DESC_DASH_DASH;

			if (c == '-') {
				p++;
				html_tok_emit(t, "-", 1);
				t->state = esc ? S_SCRIPT_ESC_DASH_DASH : S_SCRIPT_DESC_DASH_DASH;
			} else if (c == '<') {
				p++;
				if (esc) {
					t->state = S_SCRIPT_ESC_LT;
				} else {
					html_tok_emit(t, "<", 1);
					t->state = S_SCRIPT_DESC_LT;
				}
			} else if (c == '>' && dash2) {
				p++;
				html_tok_emit(t, ">", 1);
				t->state = S_SCRIPT;
			} else if (c == 0) {
				p++;
				t->errors++;
				html_tok_emit(t, REPLACEMENT, 3);
				t->state = esc ? S_SCRIPT_ESC : S_SCRIPT_DESC;
			} else {
				t->state = esc ? S_SCRIPT_ESC : S_SCRIPT_DESC;
			}
			break;
		}
		case S_SCRIPT_ESC_LT:
			if (c == '/') {
				p++;
				t->tmp_len = 0;
				t->state = S_SCRIPT_ESC_END_OPEN;
			} else if (IS_ALPHA(c)) {
				t->tmp_len = 0;
				html_tok_emit(t, "<", 1);
				t->state = S_SCRIPT_DESC_START;
			} else {
				html_tok_emit(t, "<", 1);
				t->state = S_SCRIPT_ESC;
			}
			break;
		case S_SCRIPT_DESC_START:
		case S_SCRIPT_DESC_END: {
			bool start = t->state == S_SCRIPT_DESC_START;

			if (IS_WS(c) || c == '/' || c == '>') {
				p++;
				if (html_tok_tmp_is_script(t))
					t->state = start ? S_SCRIPT_DESC : S_SCRIPT_ESC;
				else
					t->state = start ? S_SCRIPT_ESC : S_SCRIPT_DESC;
				html_tok_emit(t, &c, 1);
			} else if (IS_ALPHA(c)) {
				p++;
				html_tok_tmp_add_lower(t, c);
				html_tok_emit(t, &c, 1);
			} else {
				t->state = start ? S_SCRIPT_ESC : S_SCRIPT_DESC;
			}
			break;
		}
		case S_SCRIPT_DESC_LT:
			if (c == '/') {
				p++;
				t->tmp_len = 0;
				html_tok_emit(t, "/", 1);
				t->state = S_SCRIPT_DESC_END;
			} else {
				t->state = S_SCRIPT_DESC;
			}
			break;
		case S_BEFORE_ATTR_NAME:
		before_attr_name:
			while (IS_WS(c)) {
				if (++p >= end)
					return;
				c = *p;
			}
			if (c == '/' || c == '>') {
				GOTO_STATE(S_AFTER_ATTR_NAME, after_attr_name);
			} else if (c == '=') {
				p++;
				t->errors++;
				html_tok_attr_begin(t);
				html_tok_add1(t, '=');
				t->state = S_ATTR_NAME;
			} else {
				html_tok_attr_begin(t);
				GOTO_STATE(S_ATTR_NAME, attr_name);
			}
			break;
		case S_ATTR_NAME:
		attr_name:
			q = html_tok_scan_table(p, end, html_tok_attr_stop);
			if (q != p) {
				/* a whole name the filter drops is not even stored */
				if (!(t->keep && q < end && *q &&
				      t->buf.len == t->attr[t->nattrs].name_off &&
				      html_tok_filtered(t, p, (size_t)(q - p))))
					html_tok_add_lower(t, p, (size_t)(q - p));
				p = q;
				if (p >= end)
					return;
				c = *p;
			}
			if (IS_WS(c) || c == '/' || c == '>') {
				html_tok_attr_name_end(t);
				GOTO_STATE(S_AFTER_ATTR_NAME, after_attr_name);
			} else if (c == '=') {
				p++;
				html_tok_attr_name_end(t);
				GOTO_STATE(S_BEFORE_ATTR_VALUE, before_attr_value);
			} else {
				p++;
				t->errors++;
				html_tok_add(t, REPLACEMENT, 3);
			}
			break;
		case S_AFTER_ATTR_NAME:
		after_attr_name:
			if (IS_WS(c)) {
				p++;
			} else if (c == '/') {
				p++;
				t->state = S_SELF_CLOSING;
			} else if (c == '=') {
				p++;
				GOTO_STATE(S_BEFORE_ATTR_VALUE, before_attr_value);
			} else if (c == '>') {
				p++;
				t->state = S_DATA;
				html_tok_tag_emit(t);
				if (t->state == S_DATA)
					GOTO_STATE(S_DATA, data);
			} else {
				html_tok_attr_begin(t);
				GOTO_STATE(S_ATTR_NAME, attr_name);
			}
			break;
		case S_BEFORE_ATTR_VALUE:
		before_attr_value:
			if (IS_WS(c)) {
				p++;
			} else if (c == '"') {
				p++;
				GOTO_STATE(S_ATTR_VALUE_DQ, attr_value_q);
			} else if (c == '\'') {
				p++;
				GOTO_STATE(S_ATTR_VALUE_SQ, attr_value_q);
			} else if (c == '>') {
				p++;
				t->errors++;
				t->state = S_DATA;
				html_tok_tag_emit(t);
			} else {
				t->state = S_ATTR_VALUE_UQ;
			}
			break;
		case S_ATTR_VALUE_DQ:
		case S_ATTR_VALUE_SQ:
		attr_value_q : {
			unsigned char quote = t->state == S_ATTR_VALUE_DQ ? '"' : '\'';

			q = html_tok_scan3(p, end, quote, '&', 0);
			if (q != p) {
				html_tok_add_value(t, p, (size_t)(q - p));
				p = q;
				if (p >= end)
					return;
				c = *p;
			}
			p++;
			if (c == quote) {
				GOTO_STATE(S_AFTER_ATTR_VALUE_Q, after_attr_value_q);
			} else if (c == '&') {
				html_tok_charref_begin(t, t->state);
			} else {
				t->errors++;
				html_tok_add_value(t, REPLACEMENT, 3);
			}
			break;
		}
		case S_ATTR_VALUE_UQ:
			q = html_tok_scan_table(p, end, html_tok_uq_stop);
			if (q != p) {
				html_tok_add_value(t, p, (size_t)(q - p));
				p = q;
				break;
			}
			p++;
			if (IS_WS(c)) {
				t->state = S_BEFORE_ATTR_NAME;
			} else if (c == '&') {
				html_tok_charref_begin(t, S_ATTR_VALUE_UQ);
			} else if (c == '>') {
				t->state = S_DATA;
				html_tok_tag_emit(t);
			} else {
				t->errors++;
				html_tok_add_value(t, REPLACEMENT, 3);
			}
			break;
		case S_AFTER_ATTR_VALUE_Q:
		after_attr_value_q:
			if (IS_WS(c)) {
				p++;
				GOTO_STATE(S_BEFORE_ATTR_NAME, before_attr_name);
			} else if (c == '/') {
				p++;
				t->state = S_SELF_CLOSING;
			} else if (c == '>') {
				p++;
				t->state = S_DATA;
				html_tok_tag_emit(t);
				if (t->state == S_DATA)
					GOTO_STATE(S_DATA, data);
			} else {
				t->errors++;
				t->state = S_BEFORE_ATTR_NAME;
			}
			break;
		case S_SELF_CLOSING:
			if (c == '>') {
				p++;
				t->self_closing = true;
				t->state = S_DATA;
				html_tok_tag_emit(t);
			} else {
				t->errors++;
				t->state = S_BEFORE_ATTR_NAME;
			}
			break;
		case S_BOGUS_COMMENT:
			q = html_tok_scan3(p, end, '>', 0, 0);
			if (q != p) {
				html_tok_add(t, p, (size_t)(q - p));
				p = q;
				break;
			}
			p++;
			if (c == '>') {
				t->state = S_DATA;
				html_tok_comment_emit(t);
			} else {
				t->errors++;
				html_tok_add(t, REPLACEMENT, 3);
			}
			break;
		case S_MARKUP_DECL: {
			const char *want;
			size_t wlen;
			bool ok;

			if (t->md_len == 0) {
				if (c != '-' && c != 'd' && c != 'D' && c != '[') {
					t->errors++; /* incorrectly-opened-comment */
					html_tok_comment_begin(t);
					t->state = S_BOGUS_COMMENT;
					break;
				}
				t->md_buf[t->md_len++] = (char)c;
				p++;
				break;
			}
			want = t->md_buf[0] == '-'   ? "--"
			       : t->md_buf[0] == '[' ? "[CDATA["
			                             : "doctype";
			wlen = strlen(want);
			ok = t->md_buf[0] == '[' ? c == (unsigned char)want[t->md_len]
			                         : TO_LOWER(c) == (unsigned char)want[t->md_len];
			if (!ok) {
				t->errors++;
				html_tok_comment_begin(t);
				html_tok_add(t, t->md_buf, t->md_len);
				t->state = S_BOGUS_COMMENT;
				break;
			}
			p++;
			t->md_buf[t->md_len++] = (char)c;
			if (t->md_len < wlen)
				break;
			if (want[0] == '-') {
				html_tok_comment_begin(t);
				t->state = S_COMMENT_START;
			} else if (want[0] == 'd') {
				t->state = S_DOCTYPE;
			} else if (t->cdata_allowed) {
				t->state = S_CDATA;
			} else {
				t->errors++; /* cdata-in-html-content */
				html_tok_comment_begin(t);
				html_tok_add(t, "[CDATA[", 7);
				t->state = S_BOGUS_COMMENT;
			}
			break;
		}
		case S_COMMENT_START:
			if (c == '-') {
				p++;
				t->state = S_COMMENT_START_DASH;
			} else if (c == '>') {
				p++;
				t->errors++;
				t->state = S_DATA;
				html_tok_comment_emit(t);
			} else {
				t->state = S_COMMENT;
			}
			break;
		case S_COMMENT_START_DASH:
			if (c == '-') {
				p++;
				t->state = S_COMMENT_END;
			} else if (c == '>') {
				p++;
				t->errors++;
				t->state = S_DATA;
				html_tok_comment_emit(t);
			} else {
				html_tok_add1(t, '-');
				t->state = S_COMMENT;
			}
			break;
		case S_COMMENT:
			q = html_tok_scan3(p, end, '<', '-', 0);
			if (q != p) {
				html_tok_add(t, p, (size_t)(q - p));
				p = q;
				break;
			}
			p++;
			if (c == '<') {
				html_tok_add1(t, '<');
				t->state = S_COMMENT_LT;
			} else if (c == '-') {
				t->state = S_COMMENT_END_DASH;
			} else {
				t->errors++;
				html_tok_add(t, REPLACEMENT, 3);
			}
			break;
		case S_COMMENT_LT:
			if (c == '!') {
				p++;
				html_tok_add1(t, '!');
				t->state = S_COMMENT_LT_BANG;
			} else if (c == '<') {
				p++;
				html_tok_add1(t, '<');
			} else {
				t->state = S_COMMENT;
			}
			break;
		case S_COMMENT_LT_BANG:
			if (c == '-') {
				p++;
				t->state = S_COMMENT_LT_BANG_DASH;
			} else {
				t->state = S_COMMENT;
			}
			break;
		case S_COMMENT_LT_BANG_DASH:
			if (c == '-') {
				p++;
				t->state = S_COMMENT_LT_BANG_DASH_DASH;
			} else {
				t->state = S_COMMENT_END_DASH;
			}
			break;
		case S_COMMENT_LT_BANG_DASH_DASH:
			if (c != '>')
				t->errors++; /* nested-comment */
			t->state = S_COMMENT_END;
			break;
		case S_COMMENT_END_DASH:
			if (c == '-') {
				p++;
				t->state = S_COMMENT_END;
			} else {
				html_tok_add1(t, '-');
				t->state = S_COMMENT;
			}
			break;
		case S_COMMENT_END:
			if (c == '>') {
				p++;
				t->state = S_DATA;
				html_tok_comment_emit(t);
			} else if (c == '!') {
				p++;
				t->state = S_COMMENT_END_BANG;
			} else if (c == '-') {
				p++;
				html_tok_add1(t, '-');
			} else {
				html_tok_add(t, "--", 2);
				t->state = S_COMMENT;
			}
			break;
		case S_COMMENT_END_BANG:
			if (c == '-') {
				p++;
				html_tok_add(t, "--!", 3);
				t->state = S_COMMENT_END_DASH;
			} else if (c == '>') {
				p++;
				t->errors++;
				t->state = S_DATA;
				html_tok_comment_emit(t);
			} else {
				html_tok_add(t, "--!", 3);
				t->state = S_COMMENT;
			}
			break;
		case S_DOCTYPE:
			if (IS_WS(c))
				p++;
			else if (c != '>')
				t->errors++;
			t->state = S_BEFORE_DOCTYPE_NAME;
			break;
		case S_BEFORE_DOCTYPE_NAME:
			if (IS_WS(c)) {
				p++;
				break;
			}
			p++;
			html_tok_doctype_begin(t);
			if (c == '>') {
				t->errors++;
				t->force_quirks = true;
				t->state = S_DATA;
				html_tok_doctype_emit(t);
				break;
			}
			html_tok_dt_field_begin(t, DT_NAME);
			if (c == 0) {
				t->errors++;
				html_tok_add(t, REPLACEMENT, 3);
			} else {
				html_tok_add1(t, TO_LOWER(c));
			}
			t->state = S_DOCTYPE_NAME;
			break;
		case S_DOCTYPE_NAME:
			q = html_tok_scan_table(p, end, html_tok_doctype_stop);
			if (q != p) {
				html_tok_add_lower(t, p, (size_t)(q - p));
				p = q;
				break;
			}
			p++;
			if (IS_WS(c)) {
				html_tok_dt_field_end(t);
				t->state = S_AFTER_DOCTYPE_NAME;
			} else if (c == '>') {
				t->state = S_DATA;
				html_tok_doctype_emit(t);
			} else {
				t->errors++;
				html_tok_add(t, REPLACEMENT, 3);
			}
			break;
		case S_AFTER_DOCTYPE_NAME:
			if (IS_WS(c)) {
				p++;
			} else if (c == '>') {
				p++;
				t->state = S_DATA;
				html_tok_doctype_emit(t);
			} else if (TO_LOWER(c) == 'p' || TO_LOWER(c) == 's') {
				p++;
				t->dt_keyword = TO_LOWER(c) == 'p' ? "public" : "system";
				t->dt_kw_pos = 1;
				t->state = S_DOCTYPE_KEYWORD;
			} else {
				t->errors++;
				t->force_quirks = true;
				t->state = S_BOGUS_DOCTYPE;
			}
			break;
		case S_DOCTYPE_KEYWORD:
			if (TO_LOWER(c) != (unsigned char)t->dt_keyword[t->dt_kw_pos]) {
				t->errors++;
				t->force_quirks = true;
				t->state = S_BOGUS_DOCTYPE;
				break;
			}
			p++;
			if (++t->dt_kw_pos == 6)
				t->state = t->dt_keyword[0] == 'p' ? S_AFTER_DOCTYPE_PUBLIC_KW
				                                   : S_AFTER_DOCTYPE_SYSTEM_KW;
			break;
		case S_AFTER_DOCTYPE_PUBLIC_KW:
		case S_BEFORE_DOCTYPE_PUBLIC_ID:
		case S_AFTER_DOCTYPE_SYSTEM_KW:
		case S_BEFORE_DOCTYPE_SYSTEM_ID: {
			bool pub = t->state == S_AFTER_DOCTYPE_PUBLIC_KW ||
			           t->state == S_BEFORE_DOCTYPE_PUBLIC_ID;
			bool kw = t->state == S_AFTER_DOCTYPE_PUBLIC_KW ||
			          t->state == S_AFTER_DOCTYPE_SYSTEM_KW;

			if (IS_WS(c)) {
				p++;
				if (kw)
					t->state = pub ? S_BEFORE_DOCTYPE_PUBLIC_ID
					               : S_BEFORE_DOCTYPE_SYSTEM_ID;
			} else if (c == '"' || c == '\'') {
				p++;
				if (kw)
					t->errors++; /* missing whitespace after the keyword */
				html_tok_dt_field_begin(t, pub ? DT_PUBLIC : DT_SYSTEM);
				if (pub)
					t->state = c == '"' ? S_DOCTYPE_PUBLIC_ID_DQ
					                    : S_DOCTYPE_PUBLIC_ID_SQ;
				else
					t->state = c == '"' ? S_DOCTYPE_SYSTEM_ID_DQ
					                    : S_DOCTYPE_SYSTEM_ID_SQ;
			} else if (c == '>') {
				p++;
				t->errors++;
				t->force_quirks = true;
				t->state = S_DATA;
				html_tok_doctype_emit(t);
			} else {
				t->errors++;
				t->force_quirks = true;
				t->state = S_BOGUS_DOCTYPE;
			}
			break;
		}
		case S_DOCTYPE_PUBLIC_ID_DQ:
		case S_DOCTYPE_PUBLIC_ID_SQ:
		case S_DOCTYPE_SYSTEM_ID_DQ:
		case S_DOCTYPE_SYSTEM_ID_SQ: {
			bool pub = t->state == S_DOCTYPE_PUBLIC_ID_DQ ||
			           t->state == S_DOCTYPE_PUBLIC_ID_SQ;
			unsigned char quote =
			    t->state == S_DOCTYPE_PUBLIC_ID_DQ || t->state == S_DOCTYPE_SYSTEM_ID_DQ
			        ? '"'
			        : '\'';

			q = html_tok_scan3(p, end, quote, '>', 0);
			if (q != p) {
				html_tok_add(t, p, (size_t)(q - p));
				p = q;
				break;
			}
			p++;
			if (c == quote) {
				html_tok_dt_field_end(t);
				t->state =
				    pub ? S_AFTER_DOCTYPE_PUBLIC_ID : S_AFTER_DOCTYPE_SYSTEM_ID;
			} else if (c == '>') {
				t->errors++;
				t->force_quirks = true;
				t->state = S_DATA;
				html_tok_doctype_emit(t);
			} else {
				t->errors++;
				html_tok_add(t, REPLACEMENT, 3);
			}
			break;
		}
		case S_AFTER_DOCTYPE_PUBLIC_ID:
		case S_BETWEEN_DOCTYPE_IDS: {
			bool after = t->state == S_AFTER_DOCTYPE_PUBLIC_ID;

			if (IS_WS(c)) {
				p++;
				t->state = S_BETWEEN_DOCTYPE_IDS;
			} else if (c == '>') {
				p++;
				t->state = S_DATA;
				html_tok_doctype_emit(t);
			} else if (c == '"' || c == '\'') {
				p++;
				if (after)
					t->errors++;
				html_tok_dt_field_begin(t, DT_SYSTEM);
				t->state =
				    c == '"' ? S_DOCTYPE_SYSTEM_ID_DQ : S_DOCTYPE_SYSTEM_ID_SQ;
			} else {
				t->errors++;
				t->force_quirks = true;
				t->state = S_BOGUS_DOCTYPE;
			}
			break;
		}
		case S_AFTER_DOCTYPE_SYSTEM_ID:
			if (IS_WS(c)) {
				p++;
			} else if (c == '>') {
				p++;
				t->state = S_DATA;
				html_tok_doctype_emit(t);
			} else {
				t->errors++; /* no force-quirks here */
				t->state = S_BOGUS_DOCTYPE;
			}
			break;
		case S_BOGUS_DOCTYPE:
			q = html_tok_scan3(p, end, '>', 0, 0);
			if (q != p) {
				p = q;
				break;
			}
			p++;
			if (c == '>') {
				t->state = S_DATA;
				html_tok_doctype_emit(t);
			} else {
				t->errors++;
			}
			break;
		case S_CDATA:
			q = html_tok_scan3(p, end, ']', ']', ']');
			if (q != p) {
				html_tok_emit(t, p, (size_t)(q - p));
				p = q;
				break;
			}
			p++;
			t->state = S_CDATA_BRACKET;
			break;
		case S_CDATA_BRACKET:
			if (c == ']') {
				p++;
				t->state = S_CDATA_END;
			} else {
				html_tok_emit(t, "]", 1);
				t->state = S_CDATA;
			}
			break;
		case S_CDATA_END:
			if (c == ']') {
				p++;
				html_tok_emit(t, "]", 1);
			} else if (c == '>') {
				p++;
				t->state = S_DATA;
			} else {
				html_tok_emit(t, "]]", 2);
				t->state = S_CDATA;
			}
			break;
		case S_CHARREF:
			if (IS_ALNUM(c)) {
				q = html_tok_named_fast(t, p, end);
				if (q) {
					p = q;
					break;
				}
				t->ref_lo = 0;
				t->ref_hi = HTML_TOK_ENTITY_COUNT;
				t->ref_match = -1;
				t->state = S_NAMED_REF;
			} else if (c == '#') {
				p++;
				t->ref_buf[t->ref_len++] = '#';
				t->ref_code = 0;
				t->state = S_NUMERIC_REF;
			} else {
				html_tok_ref_flush(t, t->ref_buf, t->ref_len);
				t->state = t->ret;
			}
			break;
		case S_NAMED_REF:
			if (html_tok_named_step(t, c))
				p++;
			else
				html_tok_named_end(t, c);
			break;
		case S_NUMERIC_REF:
			q = html_tok_numeric_fast(t, p, end);
			if (q) {
				p = q;
				break;
			}
			if (c == 'x' || c == 'X') {
				p++;
				t->ref_buf[t->ref_len++] = (char)c;
				t->state = S_HEX_REF_START;
			} else {
				t->state = S_DEC_REF_START;
			}
			break;
		case S_HEX_REF_START:
		case S_DEC_REF_START:
			if (t->state == S_HEX_REF_START ? IS_HEX(c) : IS_DIGIT(c)) {
				t->state = t->state == S_HEX_REF_START ? S_HEX_REF : S_DEC_REF;
			} else {
				t->errors++; /* absence-of-digits-in-numeric-character-reference */
				html_tok_ref_flush(t, t->ref_buf, t->ref_len);
				t->state = t->ret;
			}
			break;
		case S_HEX_REF:
		case S_DEC_REF: {
			bool hex = t->state == S_HEX_REF;

			if (hex ? IS_HEX(c) : IS_DIGIT(c)) {
				uint32_t v = IS_DIGIT(c) ? (uint32_t)(c - '0')
				                         : (uint32_t)(TO_LOWER(c) - 'a' + 10);

				p++;
				t->ref_code = t->ref_code * (hex ? 16 : 10) + v;
				if (t->ref_code > 0x10FFFF)
					t->ref_code = 0x110000; /* stays out of range */
				break;
			}
			if (c == ';')
				p++;
			else
				t->errors++; /* missing-semicolon-after-character-reference */
			html_tok_numeric_end(t);
			break;
		}
		}
	}
}

/* The end of the input, in whatever state the machine is in. */
static void html_tok_eof(struct html_tok *t)
{
	for (;;) {
		switch (t->state) {
		case S_DATA:
		case S_RCDATA:
		case S_RAWTEXT:
		case S_SCRIPT:
		case S_PLAINTEXT:
			return;
		case S_TAG_OPEN:
			t->errors++;
			html_tok_emit(t, "<", 1);
			return;
		case S_END_TAG_OPEN:
			t->errors++;
			html_tok_emit(t, "</", 2);
			return;
		case S_RCDATA_LT:
		case S_RAWTEXT_LT:
		case S_SCRIPT_LT:
			html_tok_emit(t, "<", 1);
			return;
		case S_RCDATA_END_OPEN:
		case S_RAWTEXT_END_OPEN:
		case S_SCRIPT_END_OPEN:
			html_tok_emit(t, "</", 2);
			return;
		case S_SCRIPT_ESC_END_OPEN:
			html_tok_emit(t, "</", 2);
			t->errors++; /* eof-in-script-html-comment-like-text */
			return;
		case S_RCDATA_END_NAME:
		case S_RAWTEXT_END_NAME:
		case S_SCRIPT_END_NAME:
		case S_SCRIPT_ESC_END_NAME:
			html_tok_emit(t, "</", 2);
			html_tok_emit(t, t->tmp, t->tmp_len);
			if (t->state == S_SCRIPT_ESC_END_NAME)
				t->errors++;
			return;
		case S_SCRIPT_ESC_START:
		case S_SCRIPT_ESC_START_DASH:
			return;
		case S_SCRIPT_ESC_LT:
			html_tok_emit(t, "<", 1);
			t->errors++;
			return;
		case S_SCRIPT_ESC:
		case S_SCRIPT_ESC_DASH:
		case S_SCRIPT_ESC_DASH_DASH:
		case S_SCRIPT_DESC_START:
		case S_SCRIPT_DESC:
		case S_SCRIPT_DESC_DASH:
		case S_SCRIPT_DESC_DASH_DASH:
		case S_SCRIPT_DESC_LT:
		case S_SCRIPT_DESC_END:
			t->errors++;
			return;
		case S_TAG_NAME:
		case S_BEFORE_ATTR_NAME:
		case S_ATTR_NAME:
		case S_AFTER_ATTR_NAME:
		case S_BEFORE_ATTR_VALUE:
		case S_ATTR_VALUE_DQ:
		case S_ATTR_VALUE_SQ:
		case S_ATTR_VALUE_UQ:
		case S_AFTER_ATTR_VALUE_Q:
		case S_SELF_CLOSING:
			t->errors++; /* eof-in-tag: the tag is dropped */
			return;
		case S_MARKUP_DECL:
			t->errors++;
			html_tok_comment_begin(t);
			html_tok_add(t, t->md_buf, t->md_len);
			html_tok_comment_emit(t);
			return;
		case S_BOGUS_COMMENT:
			html_tok_comment_emit(t);
			return;
		case S_COMMENT_START:
		case S_COMMENT_START_DASH:
		case S_COMMENT:
		case S_COMMENT_LT:
		case S_COMMENT_LT_BANG:
		case S_COMMENT_LT_BANG_DASH:
		case S_COMMENT_LT_BANG_DASH_DASH:
		case S_COMMENT_END_DASH:
		case S_COMMENT_END:
		case S_COMMENT_END_BANG:
			t->errors++;
			html_tok_comment_emit(t);
			return;
		case S_DOCTYPE:
		case S_BEFORE_DOCTYPE_NAME:
			html_tok_doctype_begin(t);
			/* fall through */
		case S_DOCTYPE_NAME:
		case S_AFTER_DOCTYPE_NAME:
		case S_DOCTYPE_KEYWORD:
		case S_AFTER_DOCTYPE_PUBLIC_KW:
		case S_BEFORE_DOCTYPE_PUBLIC_ID:
		case S_DOCTYPE_PUBLIC_ID_DQ:
		case S_DOCTYPE_PUBLIC_ID_SQ:
		case S_AFTER_DOCTYPE_PUBLIC_ID:
		case S_BETWEEN_DOCTYPE_IDS:
		case S_AFTER_DOCTYPE_SYSTEM_KW:
		case S_BEFORE_DOCTYPE_SYSTEM_ID:
		case S_DOCTYPE_SYSTEM_ID_DQ:
		case S_DOCTYPE_SYSTEM_ID_SQ:
		case S_AFTER_DOCTYPE_SYSTEM_ID:
			t->errors++;
			t->force_quirks = true;
			html_tok_doctype_emit(t);
			return;
		case S_BOGUS_DOCTYPE:
			html_tok_doctype_emit(t);
			return;
		case S_CDATA:
			t->errors++;
			return;
		case S_CDATA_BRACKET:
			html_tok_emit(t, "]", 1);
			t->errors++;
			return;
		case S_CDATA_END:
			html_tok_emit(t, "]]", 2);
			t->errors++;
			return;
		case S_CHARREF:
			html_tok_ref_flush(t, t->ref_buf, t->ref_len);
			t->state = t->ret;
			break;
		case S_NAMED_REF:
			html_tok_named_end(t, -1);
			break;
		case S_NUMERIC_REF:
		case S_HEX_REF_START:
		case S_DEC_REF_START:
			t->errors++;
			html_tok_ref_flush(t, t->ref_buf, t->ref_len);
			t->state = t->ret;
			break;
		case S_HEX_REF:
		case S_DEC_REF:
			t->errors++;
			html_tok_numeric_end(t);
			break;
		}
	}
}

/* ---- input stream preprocessing ---------------------------------------- */

enum { U8_OK, U8_BAD, U8_PARTIAL };

/*
 * Check the UTF-8 sequence at p.  *len_r: its length (U8_OK), the bytes
 * to replace by one U+FFFD (U8_BAD: the WHATWG decoder's maximal subpart)
 * or the valid prefix that [p, end) holds (U8_PARTIAL).
 */
static inline int html_tok_u8_check(const unsigned char *p, const unsigned char *end, size_t *len_r)
{
	unsigned char c = p[0], lo = 0x80, hi = 0xBF;
	size_t need, i;

	if (c >= 0xC2 && c <= 0xDF) {
		need = 1;
	} else if (c >= 0xE0 && c <= 0xEF) {
		need = 2;
		if (c == 0xE0)
			lo = 0xA0;
		else if (c == 0xED)
			hi = 0x9F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		need = 3;
		if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F;
	} else {
		*len_r = 1;
		return U8_BAD;
	}
	for (i = 1; i <= need; i++) {
		if (p + i >= end) {
			*len_r = i;
			return U8_PARTIAL;
		}
		if (p[i] < lo || p[i] > hi) {
			*len_r = i;
			return U8_BAD;
		}
		lo = 0x80;
		hi = 0xBF;
	}
	*len_r = need + 1;
	return U8_OK;
}

/*
 * The scalar way: from p, skip ASCII but CR and valid UTF-8; returns the
 * first CR or the start of an invalid or incomplete sequence.
 */
static const unsigned char *html_tok_skip_valid_scalar(const unsigned char *p,
                                                       const unsigned char *end)
{
	size_t n;

	while (p < end) {
#ifdef __SSE2__
		const __m128i cr = _mm_set1_epi8('\r');

		while (end - p >= 16) {
			__m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
			unsigned mask =
			    (unsigned)_mm_movemask_epi8(_mm_or_si128(x, _mm_cmpeq_epi8(x, cr)));

			if (mask) {
				p += __builtin_ctz(mask);
				break;
			}
			p += 16;
		}
		if (p >= end)
			break;
#endif
		if (*p < 0x80) {
			if (*p == '\r')
				return p;
			p++;
			continue;
		}
		/* the common cases first: U+0800..U+FFFF but surrogates, U+0080..U+07FF */
		if (end - p >= 3 && (p[1] & 0xC0) == 0x80) {
			if (p[0] >= 0xE1 && p[0] != 0xED && p[0] <= 0xEF && (p[2] & 0xC0) == 0x80) {
				p += 3;
				continue;
			}
			if (p[0] >= 0xC2 && p[0] <= 0xDF) {
				p += 2;
				continue;
			}
		}
		if (html_tok_u8_check(p, end, &n) != U8_OK)
			return p;
		p += n;
	}
	return p;
}

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <tmmintrin.h>
#define HTML_TOK_SSSE3 1

/*
 * The same with SSSE3, 16 bytes at a time: the UTF-8 check of Keiser and
 * Lemire, "Validating UTF-8 In Less Than One Instruction Per Byte" (2021),
 * as in simdjson and simdutf.  It stops at the first block with an error
 * or a CR, backs up to the start of the character there, and leaves the
 * rest to the scalar way.
 */
enum {
	V_TOO_SHORT = 1 << 0,  /* a lead not followed by a continuation */
	V_TOO_LONG = 1 << 1,   /* ASCII followed by a continuation */
	V_OVERLONG_3 = 1 << 2, /* E0 80..9F */
	V_TOO_LARGE = 1 << 3,  /* F4 90.., F5.. */
	V_SURROGATE = 1 << 4,  /* ED A0..BF */
	V_OVERLONG_2 = 1 << 5, /* C0, C1 */
	V_TOO_LARGE_1000 = 1 << 6,
	V_OVERLONG_4 = 1 << 6, /* F0 80..8F */
	V_TWO_CONTS = 1 << 7,  /* a continuation after a continuation */
	V_CARRY = V_TOO_SHORT | V_TOO_LONG | V_TWO_CONTS,
};

__attribute__((target("ssse3"))) static const unsigned char *
html_tok_skip_valid_ssse3(const unsigned char *p, const unsigned char *end)
{
	const __m128i b1_high = _mm_setr_epi8(
	    V_TOO_LONG, V_TOO_LONG, V_TOO_LONG, V_TOO_LONG, V_TOO_LONG, V_TOO_LONG, V_TOO_LONG,
	    V_TOO_LONG, (char)V_TWO_CONTS, (char)V_TWO_CONTS, (char)V_TWO_CONTS, (char)V_TWO_CONTS,
	    V_TOO_SHORT | V_OVERLONG_2, V_TOO_SHORT, V_TOO_SHORT | V_OVERLONG_3 | V_SURROGATE,
	    V_TOO_SHORT | V_TOO_LARGE | V_TOO_LARGE_1000 | V_OVERLONG_4);
	const __m128i b1_low = _mm_setr_epi8(
	    (char)(V_CARRY | V_OVERLONG_3 | V_OVERLONG_2 | V_OVERLONG_4),
	    (char)(V_CARRY | V_OVERLONG_2), (char)V_CARRY, (char)V_CARRY,
	    (char)(V_CARRY | V_TOO_LARGE), (char)(V_CARRY | V_TOO_LARGE | V_TOO_LARGE_1000),
	    (char)(V_CARRY | V_TOO_LARGE | V_TOO_LARGE_1000),
	    (char)(V_CARRY | V_TOO_LARGE | V_TOO_LARGE_1000),
	    (char)(V_CARRY | V_TOO_LARGE | V_TOO_LARGE_1000),
	    (char)(V_CARRY | V_TOO_LARGE | V_TOO_LARGE_1000),
	    (char)(V_CARRY | V_TOO_LARGE | V_TOO_LARGE_1000),
	    (char)(V_CARRY | V_TOO_LARGE | V_TOO_LARGE_1000),
	    (char)(V_CARRY | V_TOO_LARGE | V_TOO_LARGE_1000),
	    (char)(V_CARRY | V_TOO_LARGE | V_TOO_LARGE_1000 | V_SURROGATE),
	    (char)(V_CARRY | V_TOO_LARGE | V_TOO_LARGE_1000),
	    (char)(V_CARRY | V_TOO_LARGE | V_TOO_LARGE_1000));
	const __m128i b2_high = _mm_setr_epi8(
	    V_TOO_SHORT, V_TOO_SHORT, V_TOO_SHORT, V_TOO_SHORT, V_TOO_SHORT, V_TOO_SHORT,
	    V_TOO_SHORT, V_TOO_SHORT,
	    (char)(V_TOO_LONG | V_OVERLONG_2 | V_TWO_CONTS | V_OVERLONG_3 | V_TOO_LARGE_1000 |
	           V_OVERLONG_4),
	    (char)(V_TOO_LONG | V_OVERLONG_2 | V_TWO_CONTS | V_OVERLONG_3 | V_TOO_LARGE),
	    (char)(V_TOO_LONG | V_OVERLONG_2 | V_TWO_CONTS | V_SURROGATE | V_TOO_LARGE),
	    (char)(V_TOO_LONG | V_OVERLONG_2 | V_TWO_CONTS | V_SURROGATE | V_TOO_LARGE),
	    V_TOO_SHORT, V_TOO_SHORT, V_TOO_SHORT, V_TOO_SHORT);
	const __m128i nibble = _mm_set1_epi8(0x0F), cr = _mm_set1_epi8('\r');
	const __m128i third = _mm_set1_epi8((char)(0xE0 - 0x80)),
	              fourth = _mm_set1_epi8((char)(0xF0 - 0x80)), top = _mm_set1_epi8((char)0x80);
	const __m128i max = _mm_setr_epi8(-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	                                  (char)(0xF0 - 1), (char)(0xE0 - 1), (char)(0xC0 - 1));
	const __m128i zero = _mm_setzero_si128();
	__m128i prev = zero;
	const unsigned char *start = p;

/* The errors of block in after block prev (both ASCII or not). */
#define V_CHECK(in, prev)                                                                          \
	_mm_xor_si128(                                                                             \
	    _mm_and_si128(_mm_or_si128(_mm_subs_epu8(_mm_alignr_epi8(in, prev, 14), third),        \
	                               _mm_subs_epu8(_mm_alignr_epi8(in, prev, 13), fourth)),      \
	                  top),                                                                    \
	    _mm_and_si128(                                                                         \
	        _mm_and_si128(                                                                     \
	            _mm_shuffle_epi8(                                                              \
	                b1_high,                                                                   \
	                _mm_and_si128(_mm_srli_epi16(_mm_alignr_epi8(in, prev, 15), 4), nibble)),  \
	            _mm_shuffle_epi8(b1_low,                                                       \
	                             _mm_and_si128(_mm_alignr_epi8(in, prev, 15), nibble))),       \
	        _mm_shuffle_epi8(b2_high, _mm_and_si128(_mm_srli_epi16(in, 4), nibble))))

	/* 64 bytes at a time, one test of the errors of all four blocks */
	while (end - p >= 64) {
		__builtin_prefetch(p + 1024); /* most input is read here first */
		__m128i in0 = _mm_loadu_si128((const __m128i *)(const void *)p);
		__m128i in1 = _mm_loadu_si128((const __m128i *)(const void *)(p + 16));
		__m128i in2 = _mm_loadu_si128((const __m128i *)(const void *)(p + 32));
		__m128i in3 = _mm_loadu_si128((const __m128i *)(const void *)(p + 48));
		__m128i err =
		    _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(in0, cr), _mm_cmpeq_epi8(in1, cr)),
		                 _mm_or_si128(_mm_cmpeq_epi8(in2, cr), _mm_cmpeq_epi8(in3, cr)));

		if (_mm_movemask_epi8(
		        _mm_or_si128(_mm_or_si128(in0, in1), _mm_or_si128(in2, in3)))) {
			err =
			    _mm_or_si128(err, _mm_or_si128(V_CHECK(in0, prev), V_CHECK(in1, in0)));
			err = _mm_or_si128(err, _mm_or_si128(V_CHECK(in2, in1), V_CHECK(in3, in2)));
		} else {
			/* ASCII: the previous block must not end inside a sequence */
			err = _mm_or_si128(err, _mm_subs_epu8(prev, max));
		}
		if (_mm_movemask_epi8(_mm_cmpeq_epi8(err, zero)) != 0xFFFF)
			break; /* somewhere in these 64 bytes: the 16-byte loop finds it */
		prev = in3;
		p += 64;
	}
	while (end - p >= 16) {
		__m128i in = _mm_loadu_si128((const __m128i *)(const void *)p);
		__m128i err = _mm_cmpeq_epi8(in, cr);

		if (_mm_movemask_epi8(in))
			err = _mm_or_si128(err, V_CHECK(in, prev));
		else
			err = _mm_or_si128(err, _mm_subs_epu8(prev, max));
		if (_mm_movemask_epi8(_mm_cmpeq_epi8(err, zero)) != 0xFFFF)
			break;
		prev = in;
		p += 16;
	}
#undef V_CHECK
	/* back up to the start of a sequence the block boundary cuts */
	if (p > start && p[-1] >= 0xC0)
		p -= 1;
	else if (p - start > 1 && p[-2] >= 0xE0)
		p -= 2;
	else if (p - start > 2 && p[-3] >= 0xF0)
		p -= 3;
	return html_tok_skip_valid_scalar(p, end);
}
#endif

#ifdef HTML_TOK_SSSE3
#include <immintrin.h>

/* The same check with AVX2, 32 bytes to a vector. */
__attribute__((target("avx2"))) static const unsigned char *
html_tok_skip_valid_avx2(const unsigned char *p, const unsigned char *end)
{
#define V_TABLE(...) _mm256_setr_epi8(__VA_ARGS__, __VA_ARGS__)
	const __m256i b1_high = V_TABLE(
	    V_TOO_LONG, V_TOO_LONG, V_TOO_LONG, V_TOO_LONG, V_TOO_LONG, V_TOO_LONG, V_TOO_LONG,
	    V_TOO_LONG, (char)V_TWO_CONTS, (char)V_TWO_CONTS, (char)V_TWO_CONTS, (char)V_TWO_CONTS,
	    V_TOO_SHORT | V_OVERLONG_2, V_TOO_SHORT, V_TOO_SHORT | V_OVERLONG_3 | V_SURROGATE,
	    V_TOO_SHORT | V_TOO_LARGE | V_TOO_LARGE_1000 | V_OVERLONG_4);
	const __m256i b1_low =
	    V_TABLE((char)(V_CARRY | V_OVERLONG_3 | V_OVERLONG_2 | V_OVERLONG_4),
	            (char)(V_CARRY | V_OVERLONG_2), (char)V_CARRY, (char)V_CARRY,
	            (char)(V_CARRY | V_TOO_LARGE), (char)(V_CARRY | V_TOO_LARGE | V_TOO_LARGE_1000),
	            (char)(V_CARRY | V_TOO_LARGE | V_TOO_LARGE_1000),
	            (char)(V_CARRY | V_TOO_LARGE | V_TOO_LARGE_1000),
	            (char)(V_CARRY | V_TOO_LARGE | V_TOO_LARGE_1000),
	            (char)(V_CARRY | V_TOO_LARGE | V_TOO_LARGE_1000),
	            (char)(V_CARRY | V_TOO_LARGE | V_TOO_LARGE_1000),
	            (char)(V_CARRY | V_TOO_LARGE | V_TOO_LARGE_1000),
	            (char)(V_CARRY | V_TOO_LARGE | V_TOO_LARGE_1000),
	            (char)(V_CARRY | V_TOO_LARGE | V_TOO_LARGE_1000 | V_SURROGATE),
	            (char)(V_CARRY | V_TOO_LARGE | V_TOO_LARGE_1000),
	            (char)(V_CARRY | V_TOO_LARGE | V_TOO_LARGE_1000));
	const __m256i b2_high =
	    V_TABLE(V_TOO_SHORT, V_TOO_SHORT, V_TOO_SHORT, V_TOO_SHORT, V_TOO_SHORT, V_TOO_SHORT,
	            V_TOO_SHORT, V_TOO_SHORT,
	            (char)(V_TOO_LONG | V_OVERLONG_2 | V_TWO_CONTS | V_OVERLONG_3 |
	                   V_TOO_LARGE_1000 | V_OVERLONG_4),
	            (char)(V_TOO_LONG | V_OVERLONG_2 | V_TWO_CONTS | V_OVERLONG_3 | V_TOO_LARGE),
	            (char)(V_TOO_LONG | V_OVERLONG_2 | V_TWO_CONTS | V_SURROGATE | V_TOO_LARGE),
	            (char)(V_TOO_LONG | V_OVERLONG_2 | V_TWO_CONTS | V_SURROGATE | V_TOO_LARGE),
	            V_TOO_SHORT, V_TOO_SHORT, V_TOO_SHORT, V_TOO_SHORT);
#undef V_TABLE
	const __m256i nibble = _mm256_set1_epi8(0x0F), cr = _mm256_set1_epi8('\r');
	const __m256i third = _mm256_set1_epi8((char)(0xE0 - 0x80)),
	              fourth = _mm256_set1_epi8((char)(0xF0 - 0x80)),
	              top = _mm256_set1_epi8((char)0x80);
	const __m256i max = _mm256_setr_epi8(
	    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	    -1, -1, -1, -1, -1, -1, -1, (char)(0xF0 - 1), (char)(0xE0 - 1), (char)(0xC0 - 1));
	__m256i prev = _mm256_setzero_si256();
	const unsigned char *start = p;

/* The last n bytes of prev, then in (n = 1, 2, 3). */
#define V_PREV(in, prev, n)                                                                        \
	_mm256_alignr_epi8(in, _mm256_permute2x128_si256(prev, in, 0x21), 16 - (n))
#define V_CHECK(in, prev)                                                                          \
	_mm256_xor_si256(                                                                          \
	    _mm256_and_si256(_mm256_or_si256(_mm256_subs_epu8(V_PREV(in, prev, 2), third),         \
	                                     _mm256_subs_epu8(V_PREV(in, prev, 3), fourth)),       \
	                     top),                                                                 \
	    _mm256_and_si256(                                                                      \
	        _mm256_and_si256(                                                                  \
	            _mm256_shuffle_epi8(                                                           \
	                b1_high,                                                                   \
	                _mm256_and_si256(_mm256_srli_epi16(V_PREV(in, prev, 1), 4), nibble)),      \
	            _mm256_shuffle_epi8(b1_low, _mm256_and_si256(V_PREV(in, prev, 1), nibble))),   \
	        _mm256_shuffle_epi8(b2_high, _mm256_and_si256(_mm256_srli_epi16(in, 4), nibble))))

	while (end - p >= 64) {
		__m256i in0 = _mm256_loadu_si256((const __m256i *)(const void *)p);
		__m256i in1 = _mm256_loadu_si256((const __m256i *)(const void *)(p + 32));
		__m256i err =
		    _mm256_or_si256(_mm256_cmpeq_epi8(in0, cr), _mm256_cmpeq_epi8(in1, cr));

		__builtin_prefetch(p + 1024); /* most input is read here first */
		if (_mm256_movemask_epi8(_mm256_or_si256(in0, in1)))
			err = _mm256_or_si256(
			    err, _mm256_or_si256(V_CHECK(in0, prev), V_CHECK(in1, in0)));
		else /* ASCII: the previous block must not end inside a sequence */
			err = _mm256_or_si256(err, _mm256_subs_epu8(prev, max));
		if (!_mm256_testz_si256(err, err))
			break;
		prev = in1;
		p += 64;
	}
	while (end - p >= 32) {
		__m256i in = _mm256_loadu_si256((const __m256i *)(const void *)p);
		__m256i err = _mm256_cmpeq_epi8(in, cr);

		if (_mm256_movemask_epi8(in))
			err = _mm256_or_si256(err, V_CHECK(in, prev));
		else
			err = _mm256_or_si256(err, _mm256_subs_epu8(prev, max));
		if (!_mm256_testz_si256(err, err))
			break;
		prev = in;
		p += 32;
	}
#undef V_CHECK
#undef V_PREV
	if (p > start && p[-1] >= 0xC0)
		p -= 1;
	else if (p - start > 1 && p[-2] >= 0xE0)
		p -= 2;
	else if (p - start > 2 && p[-3] >= 0xF0)
		p -= 3;
	return html_tok_skip_valid_scalar(p, end);
}
#endif

/* From p, skip ASCII but CR and valid UTF-8 (see the ways above). */
static const unsigned char *html_tok_skip_valid(const unsigned char *p, const unsigned char *end)
{
#ifdef HTML_TOK_SSSE3
	if (__builtin_cpu_supports("avx2"))
		return html_tok_skip_valid_avx2(p, end);
	if (__builtin_cpu_supports("ssse3"))
		return html_tok_skip_valid_ssse3(p, end);
#endif
	return html_tok_skip_valid_scalar(p, end);
}

/* Preprocess [p, end) and run the clean parts through the machine. */
static void html_tok_input(struct html_tok *t, const unsigned char *p, const unsigned char *end)
{
	const unsigned char *seg = p;
	size_t n;

	while (p < end) {
		int r;

		p = html_tok_skip_valid(p, end);
		if (p >= end)
			break;
		if (*p == '\r') {
			html_tok_run(t, seg, p);
			html_tok_run(t, (const unsigned char *)"\n",
			             (const unsigned char *)"\n" + 1);
			p++;
			if (p == end)
				t->skip_lf = true;
			else if (*p == '\n')
				p++;
			seg = p;
			continue;
		}
		r = html_tok_u8_check(p, end, &n);
		html_tok_run(t, seg, p);
		if (r == U8_PARTIAL) {
			memcpy(t->u8buf, p, n);
			t->u8len = n;
			return;
		}
		html_tok_run(t, (const unsigned char *)REPLACEMENT,
		             (const unsigned char *)REPLACEMENT + 3);
		p += n;
		seg = p;
	}
	html_tok_run(t, seg, p);
}

/* ---- public ------------------------------------------------------------ */

struct html_tok *html_tok_new(html_tok_text_fn text, html_tok_token_fn token, void *ctx)
{
	struct html_tok *t = xcalloc(1, sizeof(*t));

	t->text = text;
	t->token = token;
	t->ctx = ctx;
	t->state = S_DATA;
	strbuf_init(&t->buf, 0);
	return t;
}

void html_tok_free(struct html_tok *t)
{
	if (!t)
		return;
	strbuf_free(&t->buf);
	free(t->attr);
	free(t->attrs_out);
	free(t);
}

void html_tok_feed(struct html_tok *t, const char *buf, size_t len)
{
	const unsigned char *p = (const unsigned char *)buf, *end = p + len;

	if (t->finished || len == 0)
		return;
	if (t->skip_lf) {
		t->skip_lf = false;
		if (*p == '\n')
			p++;
	}
	/* Complete a UTF-8 sequence split by the previous chunk. */
	while (t->u8len && p < end) {
		size_t n;
		int r;

		t->u8buf[t->u8len] = *p;
		r = html_tok_u8_check(t->u8buf, t->u8buf + t->u8len + 1, &n);
		if (r == U8_PARTIAL) {
			t->u8len++;
			p++;
		} else if (r == U8_OK) {
			p++;
			t->u8len = 0;
			html_tok_run(t, t->u8buf, t->u8buf + n);
		} else {
			/* *p does not continue the sequence: it is read afresh */
			t->u8len = 0;
			html_tok_run(t, (const unsigned char *)REPLACEMENT,
			             (const unsigned char *)REPLACEMENT + 3);
		}
	}
	html_tok_input(t, p, end);
}

void html_tok_finish(struct html_tok *t)
{
	if (t->finished)
		return;
	if (t->u8len) {
		t->u8len = 0;
		html_tok_run(t, (const unsigned char *)REPLACEMENT,
		             (const unsigned char *)REPLACEMENT + 3);
	}
	html_tok_eof(t);
	t->finished = true;
}

void html_tok_set_state(struct html_tok *t, enum html_tok_content state)
{
	static const enum html_tok_state map[] = {
	    [HTML_TOK_DATA] = S_DATA,           [HTML_TOK_RCDATA] = S_RCDATA,
	    [HTML_TOK_RAWTEXT] = S_RAWTEXT,     [HTML_TOK_SCRIPT_DATA] = S_SCRIPT,
	    [HTML_TOK_PLAINTEXT] = S_PLAINTEXT, [HTML_TOK_CDATA_SECTION] = S_CDATA,
	};

	if ((unsigned)state < sizeof(map) / sizeof(map[0]))
		t->state = map[state];
}

void html_tok_set_last_start_tag(struct html_tok *t, const char *name, size_t len)
{
	if (name && len < sizeof(t->last_start)) {
		memcpy(t->last_start, name, len);
		t->last_start_len = len;
	} else {
		t->last_start_len = 0;
	}
}

void html_tok_set_attr_filter(struct html_tok *t, html_tok_keep_fn keep)
{
	t->keep = keep;
}

void html_tok_set_cdata_allowed(struct html_tok *t, bool allowed)
{
	t->cdata_allowed = allowed;
}

unsigned long html_tok_errors(const struct html_tok *t)
{
	return t->errors;
}

unsigned long html_tok_truncations(const struct html_tok *t)
{
	return t->truncations;
}

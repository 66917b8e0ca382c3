/*
 * html_text - HTML to readable plain text on top of html_tok.
 *
 * SUMMARY
 *	A small stand-in for the tree builder: a stack of open elements
 *	(depth HTML_TEXT_MAX_DEPTH) with the standard's implied end tags for
 *	p, li, dt/dd, td/th, tr, option and a, and its switches of the
 *	tokenizer for script, style, title, textarea, xmp, iframe, noembed,
 *	noframes and plaintext.  Text goes through a writer that collapses
 *	whitespace outside pre, keeps at most one blank line between blocks,
 *	prefixes lines with "> " in blockquotes and indents list items, and
 *	separates table cells with " | ".  Links end with their URL in
 *	neutralised form ("<hxxps://example[.]com/>"), or "[removed link]"
 *	for javascript:, vbscript: and data: URLs; images become "[alt]".
 *	Content hidden with display:none, visibility:hidden or the hidden
 *	attribute is left out, as a mail client would.  Outlook's conditional
 *	comments are comments: dropped, as by every client but Outlook.
 *
 * SECURITY
 *	Input is untrusted; html_tok bounds each token.  Here memory is
 *	fixed (the element stack) or capped (URL, link text); elements deeper
 *	than the stack are tokenized but not tracked.  Output never holds C0
 *	or C1 controls (tab only inside pre), bidi embedding/override/isolate
 *	controls or a BOM, and is valid UTF-8.  Output size is linear in the
 *	input; a limit on out (strbuf max) is honoured.
 *
 * DIAGNOSTICS
 *	None: any input gives some text.
 */
#include "html_text.h"
#include "html_tok.h"
#include "strbuf.h"
#include "xalloc.h"

#include <pthread.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Open elements tracked; deeper ones are tokenized but not tracked. */
#define HTML_TEXT_MAX_DEPTH 256
/* Bytes of a link's URL shown (then "..."). */
#define HTML_TEXT_MAX_URL 2048
/* Bytes of an href kept, and of link text kept to compare with it. */
#define HTML_TEXT_MAX_HREF 8192
#define HTML_TEXT_MAX_LINK_TEXT 2048
/* Bytes of alt text shown. */
#define HTML_TEXT_MAX_ALT 512

/* What a tag does (tag flags). */
enum {
	F_VOID = 1 << 0,     /* no end tag, never on the stack */
	F_BR1 = 1 << 1,      /* line break before and after */
	F_BR2 = 1 << 2,      /* blank line before and after */
	F_PCLOSE = 1 << 3,   /* its start tag closes an open p */
	F_SCOPE = 1 << 4,    /* limits the search for an end tag's element */
	F_SPECIAL = 1 << 5,  /* an inline end tag does not close it */
	F_BREAKOUT = 1 << 6, /* its start tag leaves svg/math */
};

/* Tags with their own handling. */
enum html_text_kind {
	K_NONE,
	K_A,
	K_IMG,
	K_BR,
	K_P,
	K_HEADING,
	K_LI,
	K_UL,
	K_OL,
	K_DL,
	K_DTDD,
	K_TABLE,
	K_TR,
	K_TD,
	K_PRE,
	K_BQ,
	K_HR,
	K_OPTION,
	K_SCRIPT,   /* script data, content dropped */
	K_RAWSKIP,  /* RAWTEXT, content dropped */
	K_RCSKIP,   /* RCDATA, content dropped (title) */
	K_TEXTAREA, /* RCDATA, content shown as pre */
	K_XMP,      /* RAWTEXT, content shown as pre */
	K_PLAINTEXT,
	K_TEMPLATE,
	K_FOREIGN, /* svg, math */
	K_FONT,
};

struct html_text_tagdef {
	const char *name;
	unsigned char kind;
	unsigned char flags;
};

static const struct html_text_tagdef html_text_tags[] = {
    {"a", K_A, 0},
    {"address", K_NONE, F_BR1 | F_PCLOSE | F_SPECIAL},
    {"applet", K_NONE, F_SCOPE | F_SPECIAL},
    {"area", K_NONE, F_VOID | F_SPECIAL},
    {"article", K_NONE, F_BR1 | F_PCLOSE | F_SPECIAL},
    {"aside", K_NONE, F_BR1 | F_PCLOSE | F_SPECIAL},
    {"b", K_NONE, F_BREAKOUT},
    {"base", K_NONE, F_VOID | F_SPECIAL},
    {"basefont", K_NONE, F_VOID | F_SPECIAL},
    {"bgsound", K_NONE, F_VOID | F_SPECIAL},
    {"big", K_NONE, F_BREAKOUT},
    {"blockquote", K_BQ, F_BR2 | F_PCLOSE | F_SPECIAL | F_BREAKOUT},
    {"body", K_NONE, F_SPECIAL | F_BREAKOUT},
    {"br", K_BR, F_VOID | F_SPECIAL | F_BREAKOUT},
    {"caption", K_NONE, F_BR1 | F_SCOPE | F_SPECIAL},
    {"center", K_NONE, F_BR1 | F_PCLOSE | F_SPECIAL | F_BREAKOUT},
    {"code", K_NONE, F_BREAKOUT},
    {"col", K_NONE, F_VOID | F_SPECIAL},
    {"dd", K_DTDD, F_BR1 | F_SPECIAL | F_BREAKOUT},
    {"details", K_NONE, F_BR1 | F_PCLOSE | F_SPECIAL},
    {"dialog", K_NONE, F_BR1 | F_PCLOSE | F_SPECIAL},
    {"dir", K_UL, F_PCLOSE | F_SPECIAL},
    {"div", K_NONE, F_BR1 | F_PCLOSE | F_SPECIAL | F_BREAKOUT},
    {"dl", K_DL, F_BR2 | F_PCLOSE | F_SPECIAL | F_BREAKOUT},
    {"dt", K_DTDD, F_BR1 | F_SPECIAL | F_BREAKOUT},
    {"em", K_NONE, F_BREAKOUT},
    {"embed", K_NONE, F_VOID | F_SPECIAL | F_BREAKOUT},
    {"fieldset", K_NONE, F_BR1 | F_PCLOSE | F_SPECIAL},
    {"figcaption", K_NONE, F_BR1 | F_PCLOSE | F_SPECIAL},
    {"figure", K_NONE, F_BR2 | F_PCLOSE | F_SPECIAL},
    {"font", K_FONT, 0},
    {"footer", K_NONE, F_BR1 | F_PCLOSE | F_SPECIAL},
    {"form", K_NONE, F_BR1 | F_PCLOSE | F_SPECIAL},
    {"frame", K_NONE, F_VOID | F_SPECIAL},
    {"frameset", K_NONE, F_BR1 | F_SPECIAL},
    {"h1", K_HEADING, F_BR2 | F_PCLOSE | F_SPECIAL | F_BREAKOUT},
    {"h2", K_HEADING, F_BR2 | F_PCLOSE | F_SPECIAL | F_BREAKOUT},
    {"h3", K_HEADING, F_BR2 | F_PCLOSE | F_SPECIAL | F_BREAKOUT},
    {"h4", K_HEADING, F_BR2 | F_PCLOSE | F_SPECIAL | F_BREAKOUT},
    {"h5", K_HEADING, F_BR2 | F_PCLOSE | F_SPECIAL | F_BREAKOUT},
    {"h6", K_HEADING, F_BR2 | F_PCLOSE | F_SPECIAL | F_BREAKOUT},
    {"head", K_NONE, F_SPECIAL | F_BREAKOUT},
    {"header", K_NONE, F_BR1 | F_PCLOSE | F_SPECIAL},
    {"hgroup", K_NONE, F_BR1 | F_PCLOSE | F_SPECIAL},
    {"hr", K_HR, F_VOID | F_PCLOSE | F_SPECIAL | F_BREAKOUT},
    {"html", K_NONE, F_SCOPE | F_SPECIAL},
    {"i", K_NONE, F_BREAKOUT},
    {"iframe", K_RAWSKIP, F_SPECIAL},
    {"image", K_IMG, F_VOID | F_SPECIAL}, /* the tree builder reads <image> as <img> */
    {"img", K_IMG, F_VOID | F_SPECIAL | F_BREAKOUT},
    {"input", K_NONE, F_VOID | F_SPECIAL},
    {"keygen", K_NONE, F_VOID | F_SPECIAL},
    {"li", K_LI, F_BR1 | F_SPECIAL | F_BREAKOUT},
    {"link", K_NONE, F_VOID | F_SPECIAL},
    {"listing", K_PRE, F_BR2 | F_PCLOSE | F_SPECIAL | F_BREAKOUT},
    {"main", K_NONE, F_BR1 | F_PCLOSE | F_SPECIAL},
    {"marquee", K_NONE, F_SCOPE | F_SPECIAL},
    {"math", K_FOREIGN, 0},
    {"menu", K_UL, F_PCLOSE | F_SPECIAL | F_BREAKOUT},
    {"meta", K_NONE, F_VOID | F_SPECIAL | F_BREAKOUT},
    {"nav", K_NONE, F_BR1 | F_PCLOSE | F_SPECIAL},
    {"nobr", K_NONE, F_BREAKOUT},
    {"noembed", K_RAWSKIP, F_SPECIAL},
    {"noframes", K_RAWSKIP, F_SPECIAL},
    {"object", K_NONE, F_SCOPE | F_SPECIAL},
    {"ol", K_OL, F_PCLOSE | F_SPECIAL | F_BREAKOUT},
    {"option", K_OPTION, F_BR1},
    {"p", K_P, F_BR2 | F_PCLOSE | F_SPECIAL | F_BREAKOUT},
    {"param", K_NONE, F_VOID | F_SPECIAL},
    {"plaintext", K_PLAINTEXT, F_BR1 | F_PCLOSE | F_SPECIAL},
    {"pre", K_PRE, F_BR2 | F_PCLOSE | F_SPECIAL | F_BREAKOUT},
    {"ruby", K_NONE, F_BREAKOUT},
    {"s", K_NONE, F_BREAKOUT},
    {"script", K_SCRIPT, F_SPECIAL},
    {"search", K_NONE, F_BR1 | F_PCLOSE | F_SPECIAL},
    {"section", K_NONE, F_BR1 | F_PCLOSE | F_SPECIAL},
    {"select", K_NONE, F_SPECIAL},
    {"small", K_NONE, F_BREAKOUT},
    {"source", K_NONE, F_VOID | F_SPECIAL},
    {"span", K_NONE, F_BREAKOUT},
    {"strike", K_NONE, F_BREAKOUT},
    {"strong", K_NONE, F_BREAKOUT},
    {"style", K_RAWSKIP, F_SPECIAL},
    {"sub", K_NONE, F_BREAKOUT},
    {"summary", K_NONE, F_BR1 | F_PCLOSE | F_SPECIAL},
    {"sup", K_NONE, F_BREAKOUT},
    {"svg", K_FOREIGN, 0},
    {"table", K_TABLE, F_BR1 | F_PCLOSE | F_SCOPE | F_SPECIAL | F_BREAKOUT},
    {"tbody", K_NONE, F_SPECIAL},
    {"td", K_TD, F_SCOPE | F_SPECIAL},
    {"template", K_TEMPLATE, F_SCOPE | F_SPECIAL},
    {"textarea", K_TEXTAREA, F_BR1 | F_SPECIAL},
    {"tfoot", K_NONE, F_SPECIAL},
    {"th", K_TD, F_SCOPE | F_SPECIAL},
    {"thead", K_NONE, F_SPECIAL},
    {"title", K_RCSKIP, F_SPECIAL},
    {"tr", K_TR, F_BR1 | F_SPECIAL},
    {"track", K_NONE, F_VOID | F_SPECIAL},
    {"tt", K_NONE, F_BREAKOUT},
    {"u", K_NONE, F_BREAKOUT},
    {"ul", K_UL, F_PCLOSE | F_SPECIAL | F_BREAKOUT},
    {"var", K_NONE, F_BREAKOUT},
    {"wbr", K_NONE, F_VOID | F_SPECIAL},
    {"xmp", K_XMP, F_BR2 | F_PCLOSE | F_SPECIAL},
};
#define HTML_TEXT_NTAGS (sizeof(html_text_tags) / sizeof(html_text_tags[0]))
#define HTML_TEXT_TAG_SLOTS 512 /* power of two, > 2 * HTML_TEXT_NTAGS */

static uint16_t html_text_tag_slot[HTML_TEXT_TAG_SLOTS]; /* index + 1, 0 = empty */
static pthread_once_t html_text_tag_once = PTHREAD_ONCE_INIT;

/* Per-element flags on the stack. */
enum {
	E_PRE = 1 << 0,
	E_HIDDEN = 1 << 1,
	E_SUPPRESS = 1 << 2, /* template, svg script/style/title/desc */
	E_FOREIGN = 1 << 3,  /* the svg or math element itself */
	E_LIST = 1 << 4,
	E_BQ = 1 << 5,
	E_INFOREIGN = 1 << 6, /* an element inside svg/math */
};

struct html_text_elem {
	uint32_t hash; /* of the tag name */
	unsigned char kind, tflags, eflags;
	long counter; /* ol: the next item number */
	char style;   /* ol: its type attribute (1, a, A, i, I) */
};

enum { SP_SPACE = 1, SP_NL = 2 };
enum { RAW_NONE, RAW_SKIP, RAW_PRE };

struct html_text {
	struct strbuf *out;
	size_t out_base; /* out->len when we started */
	struct html_tok *tok;

	size_t depth;
	unsigned pre, hidden, suppress, foreign, lists, quotes;
	int raw;      /* inside script/style/title/textarea/xmp/... */
	bool skip_lf; /* the LF right after <pre>, <listing>, <textarea> */

	/* the writer */
	bool any;        /* some text written */
	bool line_start; /* nothing written on the current line yet */
	int nl_run;      /* LFs at the end of the output */
	int want_nl;     /* LFs wanted before the next text (1 or 2) */
	int space;       /* SP_* whitespace seen since the last text */
	bool sep;        /* a table cell separator before the next text */
	bool last_wide;  /* the last character written is East Asian wide */
	char marker[24]; /* list item marker for the next line */
	size_t marker_len;

	/* the open link */
	bool link;
	struct strbuf href, link_text, tmp, tmp2;

	/* last: not cleared on creation (only stack[0..depth) is ever read) */
	struct html_text_elem stack[HTML_TEXT_MAX_DEPTH];
};

/* ---- tags ------------------------------------------------------------- */

static uint32_t html_text_hash(const char *s, size_t n)
{
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 16777619u;
	return h;
}

/* s (n bytes) equals lower, a lower-case ASCII literal, ignoring ASCII case. */
static inline bool html_text_ieq(const char *s, const char *lower, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c >= 'A' && c <= 'Z' ? c + 32 : c) != (unsigned char)lower[i])
			return false;
	}
	return true;
}

/* Append a string literal. */
#define html_text_lit(b, lit) strbuf_append((b), (lit), sizeof(lit) - 1)

/* Slot of a tag name in html_text_tag_slot (cheap: length and two bytes). */
static uint32_t html_text_tag_hash(const char *s, size_t n)
{
	return ((uint32_t)n * 31u + (unsigned char)s[0] * 7u + (unsigned char)s[n - 1]) &
	       (HTML_TEXT_TAG_SLOTS - 1);
}

static void html_text_tags_init(void)
{
	size_t i;

	for (i = 0; i < HTML_TEXT_NTAGS; i++) {
		const char *n = html_text_tags[i].name;
		uint32_t h = html_text_tag_hash(n, strlen(n));

		while (html_text_tag_slot[h])
			h = (h + 1) & (HTML_TEXT_TAG_SLOTS - 1);
		html_text_tag_slot[h] = (uint16_t)(i + 1);
	}
}

/*
 * The tag's definition (NULL if unknown) and in *id_r what identifies it on
 * the stack: its table index + 1, or a hash of the name with the top bit set.
 */
static const struct html_text_tagdef *html_text_tag_find(const char *name, size_t len,
                                                         uint32_t *id_r)
{
	uint32_t h;

	if (len == 0) {
		*id_r = 0x80000000u;
		return NULL;
	}
	for (h = html_text_tag_hash(name, len); html_text_tag_slot[h];
	     h = (h + 1) & (HTML_TEXT_TAG_SLOTS - 1)) {
		const struct html_text_tagdef *d = &html_text_tags[html_text_tag_slot[h] - 1];
		size_t k = 0;

		if (d->name[0] != name[0])
			continue;
		while (k < len && d->name[k] == name[k])
			k++;
		if (k == len && d->name[len] == '\0') {
			*id_r = html_text_tag_slot[h];
			return d;
		}
	}
	*id_r = html_text_hash(name, len) | 0x80000000u;
	return NULL;
}

/* The first n (constant) bytes of s as a number, to compare names at once. */
static inline uint64_t html_text_word(const char *s, size_t n)
{
	uint64_t w = 0;

	memcpy(&w, s, n);
	return w;
}

/* The attributes html_text looks at; the tokenizer drops the others. */
static bool html_text_keep_attr(const char *n, size_t len)
{
	uint64_t w;

	switch (len) {
	case 3:
		return html_text_word(n, 3) == html_text_word("alt", 3);
	case 4:
		w = html_text_word(n, 4);
		return w == html_text_word("href", 4) || w == html_text_word("type", 4) ||
		       w == html_text_word("face", 4) || w == html_text_word("size", 4);
	case 5:
		w = html_text_word(n, 5);
		return w == html_text_word("style", 5) || w == html_text_word("value", 5) ||
		       w == html_text_word("start", 5) || w == html_text_word("color", 5);
	case 6:
		return html_text_word(n, 6) == html_text_word("hidden", 6);
	default:
		return false;
	}
}

static const char *html_text_attr(const struct html_tok_token *tok, const char *name)
{
	size_t i;

	for (i = 0; i < tok->nattrs; i++)
		if (tok->attrs[i].name[0] == name[0] && strcmp(tok->attrs[i].name, name) == 0)
			return tok->attrs[i].value;
	return NULL;
}

/* ---- the writer ---------------------------------------------------------- */

static inline void html_text_out(struct html_text *h, const char *s, size_t n)
{
	struct strbuf *b = h->out;

	/* without a call when there is room and no limit in the way */
	if (b->len + n < b->cap && (b->max == 0 || b->len + n <= b->max)) {
		html_tok_copy(b->s + b->len, s, n);
		b->len += n;
		b->s[b->len] = '\0';
		return;
	}
	strbuf_append(b, s, n);
}

/* U+1100.. wide ranges that matter for Japanese and Chinese (not Hangul). */
static bool html_text_is_wide(uint32_t cp)
{
	return (cp >= 0x2E80 && cp <= 0x9FFF && !(cp >= 0x3130 && cp <= 0x318F)) ||
	       (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0xFE30 && cp <= 0xFE4F) ||
	       (cp >= 0xFF00 && cp <= 0xFFEF) || (cp >= 0x20000 && cp <= 0x3FFFF);
}

/* The code point starting at s (valid UTF-8, n > 0). */
static uint32_t html_text_cp(const unsigned char *s, size_t n)
{
	if (s[0] < 0x80 || n < 2)
		return s[0];
	if (s[0] < 0xE0)
		return (uint32_t)(s[0] & 0x1F) << 6 | (s[1] & 0x3F);
	if (s[0] < 0xF0 || n < 4)
		return n < 3 ? 0
		             : (uint32_t)(s[0] & 0x0F) << 12 | (uint32_t)(s[1] & 0x3F) << 6 |
		                   (s[2] & 0x3F);
	return (uint32_t)(s[0] & 0x07) << 18 | (uint32_t)(s[1] & 0x3F) << 12 |
	       (uint32_t)(s[2] & 0x3F) << 6 | (s[3] & 0x3F);
}

/* The last code point of s (valid UTF-8, n > 0). */
static uint32_t html_text_last_cp(const unsigned char *s, size_t n)
{
	size_t i = n - 1;

	while (i > 0 && n - i < 4 && (s[i] & 0xC0) == 0x80)
		i--;
	return html_text_cp(s + i, n - i);
}

static void html_text_newlines(struct html_text *h)
{
	if (h->want_nl && h->any) {
		while (h->nl_run < h->want_nl) {
			html_text_out(h, "\n", 1);
			h->nl_run++;
		}
		h->line_start = true;
		h->sep = false;
	}
	h->want_nl = 0;
}

/* Ask for n (1: line break, 2: blank line) LFs before the next text. */
static void html_text_break(struct html_text *h, int n)
{
	if (h->want_nl < n)
		h->want_nl = n;
	h->space = 0;
	h->sep = false;
}

static void html_text_prefix(struct html_text *h)
{
	unsigned i;

	for (i = 0; i < h->quotes && i < 32; i++)
		html_text_out(h, "> ", 2);
	if (h->lists) {
		unsigned indent = 2 * (h->lists - 1) + (h->marker_len ? 0 : 3);

		for (i = 0; i < indent && i < 64; i++)
			html_text_out(h, " ", 1);
	}
	if (h->marker_len) {
		html_text_out(h, h->marker, h->marker_len);
		h->marker_len = 0;
	}
}

/*
 * Write text (no control characters; in flow mode no leading whitespace),
 * after the pending line breaks, line prefix, separator or space.
 */
static void html_text_put(struct html_text *h, const char *s, size_t n, bool pre)
{
	const unsigned char *u = (const unsigned char *)s;
	bool gap = false;

	if (n == 0)
		return;
	html_text_newlines(h);
	if (h->line_start) {
		gap = true;
		html_text_prefix(h);
	} else if (h->sep) {
		gap = true;
		html_text_out(h, " | ", 3);
	} else if (h->space && !pre) {
		/* Whitespace with a line break between two wide characters is
		 * no space (CSS Text 3 segment break transformation). */
		if (!(h->space & SP_NL) || !h->last_wide ||
		    !html_text_is_wide(html_text_cp(u, n))) {
			gap = true;
			html_text_out(h, " ", 1);
		}
	}
	if (h->link && !h->link_text.overflow) {
		if (h->link_text.len && gap)
			strbuf_putc(&h->link_text, ' ');
		strbuf_append(&h->link_text, s, n);
	}
	html_text_out(h, s, n);
	h->space = 0;
	h->sep = false;
	h->line_start = false;
	h->nl_run = 0;
	h->any = true;
	h->last_wide = u[n - 1] >= 0x80 && html_text_is_wide(html_text_last_cp(u, n));
}

/* A hard line break (<br>, LF in pre): blank lines capped at one outside pre. */
static void html_text_newline(struct html_text *h, bool pre)
{
	if (!h->any)
		return;
	html_text_newlines(h);
	if (pre || h->nl_run < 2) {
		html_text_out(h, "\n", 1);
		h->nl_run++;
	}
	h->line_start = true;
	h->space = 0;
	h->sep = false;
}

/* Byte classes of text. */
enum { C_TEXT, C_WS, C_DROP, C_UTF8 };
static const unsigned char html_text_cls[256] = {
    [0x00] = C_DROP, [0x01] = C_DROP, [0x02] = C_DROP, [0x03] = C_DROP, [0x04] = C_DROP,
    [0x05] = C_DROP, [0x06] = C_DROP, [0x07] = C_DROP, [0x08] = C_DROP, ['\t'] = C_WS,
    ['\n'] = C_WS,   [0x0B] = C_DROP, ['\f'] = C_WS,   ['\r'] = C_WS,   [0x0E] = C_DROP,
    [0x0F] = C_DROP, [0x10] = C_DROP, [0x11] = C_DROP, [0x12] = C_DROP, [0x13] = C_DROP,
    [0x14] = C_DROP, [0x15] = C_DROP, [0x16] = C_DROP, [0x17] = C_DROP, [0x18] = C_DROP,
    [0x19] = C_DROP, [0x1A] = C_DROP, [0x1B] = C_DROP, [0x1C] = C_DROP, [0x1D] = C_DROP,
    [0x1E] = C_DROP, [0x1F] = C_DROP, [' '] = C_WS,    [0x7F] = C_DROP, [0xC2] = C_UTF8,
    [0xE2] = C_UTF8, [0xEF] = C_UTF8,
};

/*
 * A character starting with 0xC2, 0xE2 or 0xEF: C_TEXT, C_WS (no-break
 * space, line/paragraph separator) or C_DROP (C1 controls, bidi
 * embeddings/overrides/isolates, BOM); *len_r is its length.
 */
static int html_text_utf8_class(const unsigned char *s, size_t n, size_t *len_r)
{
	*len_r = s[0] == 0xC2 ? 2 : 3;
	if (*len_r > n) { /* cannot happen: pieces hold whole sequences */
		*len_r = n;
		return C_DROP;
	}
	if (s[0] == 0xC2)
		return s[1] < 0xA0 ? C_DROP : s[1] == 0xA0 ? C_WS : C_TEXT;
	if (s[0] == 0xE2) {
		if (s[1] == 0x80 && (s[2] == 0xA8 || s[2] == 0xA9))
			return C_WS;
		if ((s[1] == 0x80 && s[2] >= 0xAA && s[2] <= 0xAE) ||
		    (s[1] == 0x81 && s[2] >= 0xA6 && s[2] <= 0xA9))
			return C_DROP;
		return C_TEXT;
	}
	return s[1] == 0xBB && s[2] == 0xBF ? C_DROP : C_TEXT;
}

/*
 * The first byte at or after i that is not plain text: a control or space,
 * or the start of a C1 control, no-break space, bidi control, line or
 * paragraph separator or BOM (C2 80..A0, E2 80/81 .., EF BB ..).
 */
static inline size_t html_text_skip_plain(const unsigned char *s, size_t i, size_t n)
{
#ifdef __SSE2__
	const __m128i sp = _mm_set1_epi8(0x20), del = _mm_set1_epi8(0x7F),
	              c2 = _mm_set1_epi8((char)0xC2), a0 = _mm_set1_epi8((char)0xA0),
	              e2 = _mm_set1_epi8((char)0xE2), fe = _mm_set1_epi8((char)0xFE),
	              x80 = _mm_set1_epi8((char)0x80), ef = _mm_set1_epi8((char)0xEF),
	              bb = _mm_set1_epi8((char)0xBB);

	while (i + 17 <= n) {
		__m128i x = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
		__m128i y = _mm_loadu_si128((const __m128i *)(const void *)(s + i + 1));
		__m128i m = _mm_cmpeq_epi8(_mm_max_epu8(x, sp), sp); /* x <= 0x20 */
		unsigned mask;

		m = _mm_or_si128(m, _mm_cmpeq_epi8(x, del));
		m = _mm_or_si128(m, _mm_and_si128(_mm_cmpeq_epi8(x, c2),
		                                  _mm_cmpeq_epi8(_mm_max_epu8(y, a0), a0)));
		m = _mm_or_si128(m, _mm_and_si128(_mm_cmpeq_epi8(x, e2),
		                                  _mm_cmpeq_epi8(_mm_and_si128(y, fe), x80)));
		m = _mm_or_si128(m, _mm_and_si128(_mm_cmpeq_epi8(x, ef), _mm_cmpeq_epi8(y, bb)));
		mask = (unsigned)_mm_movemask_epi8(m);
		if (mask)
			return i + (size_t)__builtin_ctz(mask);
		i += 16;
	}
#endif
	while (i < n && html_text_cls[s[i]] == C_TEXT)
		i++;
	return i;
}

/* Text outside pre: whitespace collapses. */
static void html_text_flow(struct html_text *h, const unsigned char *s, size_t n)
{
	size_t i = 0, start, l;
	int k;

	while (i < n) {
		/* whitespace between tags is most text nodes: skip it at once */
		while (i < n && (s[i] == ' ' || s[i] == '\n' || s[i] == '\t')) {
			h->space |= s[i] == '\n' ? SP_NL : SP_SPACE;
			i++;
		}
		start = i;
		for (;;) {
			i = html_text_skip_plain(s, i, n);
			if (i >= n)
				break;
			k = html_text_cls[s[i]];
			if (k == C_TEXT) {
				i++;
				continue;
			}
			/* one space between words stays in the run */
			if (s[i] == ' ' && i > start && i + 1 < n &&
			    html_text_cls[s[i + 1]] == C_TEXT) {
				i += 2;
				continue;
			}
			if (k == C_UTF8 && html_text_utf8_class(s + i, n - i, &l) == C_TEXT) {
				i += l;
				continue;
			}
			break;
		}
		if (i > start)
			html_text_put(h, (const char *)s + start, i - start, false);
		if (i >= n)
			break;
		k = html_text_cls[s[i]];
		l = 1;
		if (k == C_UTF8)
			k = html_text_utf8_class(s + i, n - i, &l);
		if (k == C_WS)
			h->space |= s[i] == '\n' ? SP_NL : SP_SPACE;
		i += l;
	}
}

/* Text inside pre: kept as is, but for control characters. */
static void html_text_pre(struct html_text *h, const unsigned char *s, size_t n)
{
	size_t i = 0, start, l;
	int k;

	if (h->skip_lf) {
		h->skip_lf = false;
		if (s[0] == '\n')
			i++;
	}
	while (i < n) {
		start = i;
		for (;;) {
			if (i >= n)
				break;
			k = html_text_cls[s[i]];
			if (k == C_TEXT || s[i] == ' ' || s[i] == '\t') {
				i++;
				continue;
			}
			if (k == C_UTF8 && html_text_utf8_class(s + i, n - i, &l) != C_DROP) {
				i += l; /* no-break space stays as it is in pre */
				continue;
			}
			break;
		}
		if (i > start)
			html_text_put(h, (const char *)s + start, i - start, true);
		if (i >= n)
			break;
		l = 1;
		if (html_text_cls[s[i]] == C_UTF8)
			html_text_utf8_class(s + i, n - i, &l);
		if (s[i] == '\n')
			html_text_newline(h, true);
		i += l;
	}
}

static bool html_text_hidden_now(const struct html_text *h)
{
	return h->hidden || h->suppress || h->raw == RAW_SKIP;
}

static void html_text_on_text(void *ctx, const char *s, size_t n)
{
	struct html_text *h = ctx;

	if (html_text_hidden_now(h))
		return;
	if (h->pre || h->raw == RAW_PRE) {
		html_text_pre(h, (const unsigned char *)s, n);
	} else {
		h->skip_lf = false;
		html_text_flow(h, (const unsigned char *)s, n);
	}
}

/* ---- links ------------------------------------------------------------ */

/* Length of a "mailto:", "http://", "https://" or "ftp://" prefix of s. */
static size_t html_text_url_prefix(const char *s, size_t n)
{
	switch (n ? s[0] | 0x20 : 0) {
	case 'm':
		return n >= 7 && html_text_ieq(s, "mailto:", 7) ? 7 : 0;
	case 'h':
		if (n >= 8 && html_text_ieq(s, "https://", 8))
			return 8;
		return n >= 7 && html_text_ieq(s, "http://", 7) ? 7 : 0;
	case 'f':
		return n >= 6 && html_text_ieq(s, "ftp://", 6) ? 6 : 0;
	default:
		return 0;
	}
}

/* Link text and URL are the same, scheme, "//" and a final '/' aside. */
static bool html_text_same_url(const char *text, size_t tn, const char *url, size_t un)
{
	size_t k = html_text_url_prefix(text, tn);

	text += k;
	tn -= k;
	k = html_text_url_prefix(url, un);
	url += k;
	un -= k;
	while (tn && text[tn - 1] == '/')
		tn--;
	while (un && url[un - 1] == '/')
		un--;
	if (tn == 0 || tn != un)
		return false;
	while (tn--) {
		unsigned char a = (unsigned char)text[tn], b = (unsigned char)url[tn];

		if ((a >= 'A' && a <= 'Z' ? a + 32 : a) != (b >= 'A' && b <= 'Z' ? b + 32 : b))
			return false;
	}
	return true;
}

enum { URL_SHOW, URL_OMIT, URL_REMOVED };

/* Bytes of a URL that need a look: 1 always (escapes, non-ASCII), 2 in
 * the host or a mailto: address (dots, the host's end). */
static const unsigned char html_text_url_special[256] = {
    ['.'] = 2,       ['/'] = 2, ['\\'] = 2, ['?'] = 2, ['#'] = 2, ['@'] = 2, [' '] = 1, ['<'] = 1,
    ['>'] = 1,       ['"'] = 1,
#define R16(x) x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x
    [0x80] = R16(1), R16(1),    R16(1),     R16(1),    R16(1),    R16(1),    R16(1),    R16(1),
#undef R16
};

/*
 * Neutralise href (n bytes) into u: http/https/ftp become hxxp/hxxps/fxp,
 * every dot of the host becomes "[.]" (also the domain of a mailto:
 * address); spaces and <>" are %-escaped; controls are dropped.  clean is
 * scratch space.  Returns URL_OMIT for an empty or "#..." URL and
 * URL_REMOVED for javascript:, vbscript:, livescript: and data:.
 */
static int html_text_neutralise(const char *href, size_t n, struct strbuf *u, struct strbuf *clean)
{
	const unsigned char *s = (const unsigned char *)href;
	size_t i = 0, j, scheme_len = 0;
	bool host = true, mailto = false;

	/* The URL parser's view: trim C0 and space, drop tab and LF anywhere. */
	while (n && s[n - 1] <= 0x20)
		n--;
	while (i < n && s[i] <= 0x20)
		i++;
	s += i;
	n -= i;
	for (i = 0; i < n && s[i] >= 0x20 && s[i] != 0x7F; i++)
		;
	if (i < n) {
		strbuf_reset(clean);
		for (i = 0; i < n; i++)
			if (s[i] >= 0x20 && s[i] != 0x7F)
				strbuf_putc(clean, (char)s[i]);
		s = (const unsigned char *)clean->s;
		n = clean->len;
	}
	if (n == 0 || s[0] == '#')
		return URL_OMIT;

	for (j = 0; j < n && j < 16; j++) {
		unsigned char c = s[j] | 0x20;

		if (!(c >= 'a' && c <= 'z') && !(j && ((s[j] >= '0' && s[j] <= '9') ||
		                                       s[j] == '+' || s[j] == '-' || s[j] == '.')))
			break;
	}
	if (j && j < n && s[j] == ':')
		scheme_len = j;
	i = 0;
	if (scheme_len) {
		const char *sc = (const char *)s;
		const char *out = NULL;

		switch (scheme_len) {
		case 3:
			if (html_text_ieq(sc, "ftp", 3))
				out = "fxp:";
			break;
		case 4:
			if (html_text_ieq(sc, "data", 4))
				return URL_REMOVED;
			if (html_text_ieq(sc, "http", 4))
				out = "hxxp:";
			break;
		case 5:
			if (html_text_ieq(sc, "https", 5))
				out = "hxxps:";
			break;
		case 6:
			mailto = html_text_ieq(sc, "mailto", 6);
			break;
		case 8:
			if (html_text_ieq(sc, "vbscript", 8))
				return URL_REMOVED;
			break;
		case 10:
			if (html_text_ieq(sc, "javascript", 10) ||
			    html_text_ieq(sc, "livescript", 10))
				return URL_REMOVED;
			break;
		default:
			break;
		}
		if (out) {
			strbuf_puts(u, out);
		} else {
			for (j = 0; j <= scheme_len; j++)
				strbuf_putc(
				    u, (char)((s[j] >= 'A' && s[j] <= 'Z') ? s[j] + 32 : s[j]));
		}
		i = scheme_len + 1;
		/* "//" (browsers also take backslashes) starts the host */
		host = i < n && (s[i] == '/' || s[i] == '\\');
		if (host) {
			while (i < n && (s[i] == '/' || s[i] == '\\'))
				i++;
			html_text_lit(u, "//");
		}
	}
	/* without a scheme, "www.example.com/x" would be made a link by a mail client */
	while (i < n && u->len < HTML_TEXT_MAX_URL) {
		unsigned char c = s[i];
		size_t l = 1, k,
		       stop =
		           n - i < HTML_TEXT_MAX_URL - u->len ? n : i + HTML_TEXT_MAX_URL - u->len;
		unsigned char look = host || mailto ? 3 : 1;

		for (k = i; k < stop && !(html_text_url_special[s[k]] & look); k++)
			;
		if (k > i) {
			strbuf_append(u, s + i, k - i);
			i = k;
			continue;
		}
		if (c >= 0x80) {
			/* C1 controls, bidi controls, BOM: dropped; odd spaces escaped */
			int cls = html_text_cls[c] == C_UTF8
			              ? html_text_utf8_class(s + i, n - i, &l)
			              : C_TEXT;

			while (cls == C_TEXT && i + l < n && (s[i + l] & 0xC0) == 0x80)
				l++;
			if (cls == C_WS)
				html_text_lit(u, "%20");
			else if (cls == C_TEXT)
				strbuf_append(u, s + i, l);
			i += l;
			continue;
		}
		if (host && (c == '/' || c == '\\' || c == '?' || c == '#'))
			host = false;
		if (mailto && c == '@')
			host = true;
		if (mailto && c == '?')
			host = mailto = false;
		if (host && c == '.')
			html_text_lit(u, "[.]");
		else if (c == ' ')
			html_text_lit(u, "%20");
		else if (c == '<')
			html_text_lit(u, "%3C");
		else if (c == '>')
			html_text_lit(u, "%3E");
		else if (c == '"')
			html_text_lit(u, "%22");
		else
			strbuf_putc(u, (char)c);
		i++;
	}
	if (i < n) {
		/* cut at a character boundary */
		while (u->len && ((unsigned char)u->s[u->len - 1] & 0xC0) == 0x80)
			u->len--;
		if (u->len && (unsigned char)u->s[u->len - 1] >= 0xC0)
			u->len--;
		u->s[u->len] = '\0';
		html_text_lit(u, "...");
	}
	return URL_SHOW;
}

static void html_text_link_end(struct html_text *h)
{
	int r, space;

	if (!h->link)
		return;
	h->link = false;
	if (html_text_hidden_now(h))
		return;
	strbuf_reset(&h->tmp);
	r = html_text_neutralise(h->href.s ? h->href.s : "", h->href.len, &h->tmp, &h->tmp2);
	if (r == URL_OMIT)
		return;
	if (r == URL_SHOW && !h->link_text.overflow && !h->href.overflow &&
	    html_text_same_url(h->link_text.s ? h->link_text.s : "", h->link_text.len,
	                       h->href.s ? h->href.s : "", h->href.len))
		return;
	/* whitespace that followed the link text follows the URL instead */
	space = h->space;
	h->space |= SP_SPACE;
	if (r == URL_REMOVED) {
		html_text_put(h, "[removed link]", 14, false);
	} else {
		html_text_put(h, "<", 1, false);
		html_text_out(h, h->tmp.s, h->tmp.len);
		html_text_out(h, ">", 1);
	}
	h->space = space;
}

static void html_text_link_begin(struct html_text *h, const char *href)
{
	size_t n;

	html_text_link_end(h);
	if (!href)
		return;
	n = strlen(href);
	h->link = true;
	strbuf_reset(&h->href);
	if (n > HTML_TEXT_MAX_HREF) {
		/* keep the start (cut at a character); shown cut anyway */
		n = HTML_TEXT_MAX_HREF;
		while (n && ((unsigned char)href[n] & 0xC0) == 0x80)
			n--;
		strbuf_append(&h->href, href, n);
		h->href.overflow = true;
	} else {
		strbuf_append(&h->href, href, n);
	}
	strbuf_reset(&h->link_text);
}

/* ---- the element stack ------------------------------------------------- */

static void html_text_elem_end(struct html_text *h, const struct html_text_elem *e)
{
	if (e->tflags & F_BR2)
		html_text_break(h, 2);
	else if (e->tflags & F_BR1)
		html_text_break(h, 1);
	switch (e->kind) {
	case K_A:
		html_text_link_end(h);
		break;
	case K_UL:
	case K_OL:
		html_text_break(h, h->lists ? 1 : 2);
		break;
	default:
		break;
	}
}

static void html_text_pop(struct html_text *h)
{
	struct html_text_elem *e = &h->stack[--h->depth];

	if (e->eflags & E_PRE)
		h->pre--;
	if (e->eflags & E_HIDDEN)
		h->hidden--;
	if (e->eflags & E_SUPPRESS)
		h->suppress--;
	if (e->eflags & E_LIST)
		h->lists--;
	if (e->eflags & E_BQ)
		h->quotes--;
	if (e->eflags & E_FOREIGN) {
		h->foreign--;
		html_tok_set_cdata_allowed(h->tok, h->foreign > 0);
	}
	html_text_elem_end(h, e);
}

static void html_text_pop_to(struct html_text *h, size_t i)
{
	while (h->depth > i)
		html_text_pop(h);
}

static struct html_text_elem *html_text_push(struct html_text *h, uint32_t hash, int kind,
                                             int tflags, int eflags)
{
	struct html_text_elem *e;

	if (h->depth == HTML_TEXT_MAX_DEPTH)
		return NULL;
	e = &h->stack[h->depth++];
	e->hash = hash;
	e->kind = (unsigned char)kind;
	e->tflags = (unsigned char)tflags;
	e->eflags = (unsigned char)eflags;
	e->counter = 1;
	e->style = '1';
	if (eflags & E_PRE)
		h->pre++;
	if (eflags & E_HIDDEN)
		h->hidden++;
	if (eflags & E_SUPPRESS)
		h->suppress++;
	if (eflags & E_LIST)
		h->lists++;
	if (eflags & E_BQ)
		h->quotes++;
	if (eflags & E_FOREIGN) {
		h->foreign++;
		html_tok_set_cdata_allowed(h->tok, true);
	}
	return e;
}

/*
 * Index of the open element of this kind (and hash, for K_NONE) searching
 * down to a scope boundary; (size_t)-1 if none.  stop_kind: another
 * boundary (a list for li, dl for dt/dd, table for td/tr).
 */
static size_t html_text_find(const struct html_text *h, int kind, uint32_t hash, int stop_kind)
{
	size_t i = h->depth;

	while (i-- > 0) {
		const struct html_text_elem *e = &h->stack[i];

		if (e->kind == kind && (kind != K_NONE || e->hash == hash))
			return i;
		if ((e->tflags & F_SCOPE) || (stop_kind >= 0 && e->kind == stop_kind) ||
		    (e->eflags & E_FOREIGN))
			return (size_t)-1;
	}
	return (size_t)-1;
}

static void html_text_close_p(struct html_text *h)
{
	size_t i = html_text_find(h, K_P, 0, -1);

	if (i != (size_t)-1)
		html_text_pop_to(h, i);
}

/* An ol start="N" (bounded). */
static long html_text_number(const char *v, long dflt)
{
	char *end;
	long n;

	if (!v)
		return dflt;
	n = strtol(v, &end, 10);
	if (end == v || n < -1000000 || n > 1000000)
		return dflt;
	return n;
}

static bool html_text_css_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r';
}

/* The CSS value at v is word (any case), then ends. */
static bool html_text_css_is(const char *v, const char *end, const char *word)
{
	size_t n = strlen(word);

	while (v < end && html_text_css_ws(*v))
		v++;
	if ((size_t)(end - v) < n || !html_text_ieq(v, word, n))
		return false;
	v += n;
	return v == end || !((*v >= 'a' && *v <= 'z') || (*v >= 'A' && *v <= 'Z') ||
	                     (*v >= '0' && *v <= '9') || *v == '-' || *v == '_');
}

/* Whether the property that ends just before the colon at i hides. */
static bool html_text_style_prop_hides(const char *style, size_t len, size_t i)
{
	static const struct {
		const char *prop, *value;
		size_t len;
	} hide[] = {{"display", "none", 7}, {"visibility", "hidden", 10}};
	const char *ne = style + i, *end = style + len;
	size_t k;

	while (ne > style && html_text_css_ws(ne[-1]))
		ne--;
	/* both end in 'y' */
	if (ne == style || (ne[-1] | 0x20) != 'y')
		return false;
	for (k = 0; k < sizeof(hide) / sizeof(hide[0]); k++) {
		const char *ns = ne - hide[k].len;

		if ((size_t)(ne - style) >= hide[k].len &&
		    html_text_ieq(ns, hide[k].prop, hide[k].len) &&
		    (ns == style ||
		     !(((ns[-1] | 0x20) >= 'a' && (ns[-1] | 0x20) <= 'z') || ns[-1] == '-')) &&
		    html_text_css_is(style + i + 1, end, hide[k].value))
			return true;
	}
	return false;
}

/*
 * display:none or visibility:hidden in a style attribute.  Not mso-hide:all:
 * that hides from Outlook the twin of what <!--[if mso]> shows it, and we
 * drop the conditional comment, as any other client does.
 */
static bool html_text_style_hides(const char *style, size_t len)
{
	size_t i = 0;

#ifdef __SSE2__
	const __m128i colon = _mm_set1_epi8(':');

	for (; i + 16 <= len; i += 16) {
		__m128i x = _mm_loadu_si128((const __m128i *)(const void *)(style + i));
		unsigned mask = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(x, colon));

		while (mask) {
			if (html_text_style_prop_hides(style, len, i + (size_t)__builtin_ctz(mask)))
				return true;
			mask &= mask - 1;
		}
	}
#endif
	for (; i < len; i++)
		if (style[i] == ':' && html_text_style_prop_hides(style, len, i))
			return true;
	return false;
}

static bool html_text_hides(const struct html_tok_token *tok)
{
	size_t i;

	for (i = 0; i < tok->nattrs; i++) {
		const struct html_tok_attr *a = &tok->attrs[i];

		if ((a->name_len == 6 && memcmp(a->name, "hidden", 6) == 0) ||
		    (a->name_len == 5 && memcmp(a->name, "style", 5) == 0 &&
		     html_text_style_hides(a->value, a->value_len)))
			return true;
	}
	return false;
}

static void html_text_img(struct html_text *h, const struct html_tok_token *tok)
{
	const char *alt = html_text_attr(tok, "alt");
	const unsigned char *s, *end;
	size_t i;
	bool space = false;

	if (!alt || html_text_hidden_now(h) || html_text_hides(tok))
		return;
	strbuf_reset(&h->tmp);
	strbuf_putc(&h->tmp, '[');
	end = (const unsigned char *)alt + strlen(alt);
	for (s = (const unsigned char *)alt; s < end && h->tmp.len < HTML_TEXT_MAX_ALT; s += i) {
		int k = html_text_cls[*s];

		i = 1;
		if (k == C_UTF8)
			k = html_text_utf8_class(s, (size_t)(end - s), &i);
		else if (k == C_TEXT && *s >= 0x80)
			while (s + i < end && (s[i] & 0xC0) == 0x80)
				i++;
		if (k == C_WS) {
			space = h->tmp.len > 1;
		} else if (k == C_TEXT) {
			if (space)
				strbuf_putc(&h->tmp, ' ');
			space = false;
			strbuf_append(&h->tmp, s, i);
		}
	}
	if (h->tmp.len == 1)
		return; /* alt="" marks a decorative image */
	strbuf_putc(&h->tmp, ']');
	html_text_put(h, h->tmp.s, h->tmp.len, false);
}

/* "n. " in the style of <ol type>: 1, a, A, i, I (numbers where these end). */
static size_t html_text_ol_marker(char *buf, size_t size, long n, char style)
{
	static const char *const roman[] = {"m",  "cm", "d",  "cd", "c",  "xc", "l",
	                                    "xl", "x",  "ix", "v",  "iv", "i"};
	static const int value[] = {1000, 900, 500, 400, 100, 90, 50, 40, 10, 9, 5, 4, 1};
	char tmp[24];
	size_t len = 0, i;
	int w;

	if ((style == 'a' || style == 'A') && n >= 1 && n <= 26) {
		tmp[len++] = (char)(style + n - 1);
	} else if ((style == 'i' || style == 'I') && n >= 1 && n < 4000) {
		for (i = 0; i < sizeof(value) / sizeof(value[0]); i++) {
			for (; n >= value[i]; n -= value[i]) {
				const char *r;

				for (r = roman[i]; *r; r++)
					tmp[len++] = (char)(style == 'I' ? *r - 32 : *r);
			}
		}
	} else {
		w = snprintf(tmp, sizeof(tmp), "%ld", n);
		len = w > 0 && (size_t)w < sizeof(tmp) ? (size_t)w : 0;
	}
	if (len + 3 > size)
		return 0;
	memcpy(buf, tmp, len);
	memcpy(buf + len, ". ", 2);
	return len + 2;
}

static void html_text_li(struct html_text *h, const struct html_tok_token *tok)
{
	size_t i = html_text_find(h, K_LI, 0, -1);
	size_t j;
	struct html_text_elem *list = NULL;

	/* an open li in this list closes */
	if (i != (size_t)-1) {
		for (j = h->depth; j-- > i;)
			if (h->stack[j].kind == K_UL || h->stack[j].kind == K_OL)
				break;
		if (j == (size_t)-1 || j < i)
			html_text_pop_to(h, i);
	}
	html_text_close_p(h);
	for (j = h->depth; j-- > 0;) {
		if (h->stack[j].kind == K_UL || h->stack[j].kind == K_OL) {
			list = &h->stack[j];
			break;
		}
		if (h->stack[j].tflags & F_SCOPE)
			break;
	}
	html_text_break(h, 1);
	if (list && list->kind == K_OL) {
		long n = html_text_number(html_text_attr(tok, "value"), list->counter);

		h->marker_len = html_text_ol_marker(h->marker, sizeof(h->marker), n, list->style);
		list->counter = n + 1;
	} else {
		memcpy(h->marker, "\xE3\x83\xBB ", 4); /* U+30FB KATAKANA MIDDLE DOT */
		h->marker_len = 4;
	}
}

/* The tokenizer switches the tree builder would make for this start tag. */
static void html_text_raw(struct html_text *h, int kind)
{
	switch (kind) {
	case K_SCRIPT:
		html_tok_set_state(h->tok, HTML_TOK_SCRIPT_DATA);
		h->raw = RAW_SKIP;
		break;
	case K_RAWSKIP:
		html_tok_set_state(h->tok, HTML_TOK_RAWTEXT);
		h->raw = RAW_SKIP;
		break;
	case K_RCSKIP:
		html_tok_set_state(h->tok, HTML_TOK_RCDATA);
		h->raw = RAW_SKIP;
		break;
	case K_TEXTAREA:
		html_tok_set_state(h->tok, HTML_TOK_RCDATA);
		h->raw = RAW_PRE;
		h->skip_lf = true;
		break;
	case K_XMP:
		html_tok_set_state(h->tok, HTML_TOK_RAWTEXT);
		h->raw = RAW_PRE;
		break;
	case K_PLAINTEXT:
		html_tok_set_state(h->tok, HTML_TOK_PLAINTEXT);
		h->raw = RAW_PRE;
		break;
	default:
		break;
	}
}

static bool html_text_font_breaks_out(const struct html_tok_token *tok)
{
	return html_text_attr(tok, "color") || html_text_attr(tok, "face") ||
	       html_text_attr(tok, "size");
}

static void html_text_start(struct html_text *h, const struct html_tok_token *tok)
{
	uint32_t hash;
	const struct html_text_tagdef *d = html_text_tag_find(tok->name, tok->name_len, &hash);
	int kind = d ? d->kind : K_NONE, tflags = d ? d->flags : 0, eflags = 0;
	struct html_text_elem *e;
	size_t i;

	if (h->foreign) {
		if ((tflags & F_BREAKOUT) || (kind == K_FONT && html_text_font_breaks_out(tok))) {
			while (h->foreign)
				html_text_pop(h);
		} else {
			/* an svg/math element: only its text matters */
			if (tok->self_closing)
				return;
			if (kind == K_SCRIPT || kind == K_RAWSKIP || kind == K_RCSKIP ||
			    (tok->name_len == 4 && memcmp(tok->name, "desc", 4) == 0))
				eflags |= E_SUPPRESS;
			html_text_push(h, hash, K_NONE, 0, eflags | E_INFOREIGN);
			return;
		}
	}

	if (tflags & F_PCLOSE)
		html_text_close_p(h);
	switch (kind) {
	case K_A:
		i = html_text_find(h, K_A, 0, -1);
		if (i != (size_t)-1)
			html_text_pop_to(h, i);
		html_text_link_begin(h, html_text_attr(tok, "href"));
		break;
	case K_IMG:
		html_text_img(h, tok);
		return;
	case K_BR:
		if (!html_text_hidden_now(h))
			html_text_newline(h, false);
		return;
	case K_HR:
		html_text_break(h, 1);
		if (!html_text_hidden_now(h) && !html_text_hides(tok))
			html_text_put(h, "----------", 10, false);
		html_text_break(h, 1);
		return;
	case K_HEADING:
		if (h->depth && h->stack[h->depth - 1].kind == K_HEADING)
			html_text_pop(h);
		break;
	case K_LI:
		html_text_li(h, tok);
		break;
	case K_DTDD:
		for (i = h->depth; i-- > 0;) {
			if (h->stack[i].kind == K_DTDD) {
				html_text_pop_to(h, i);
				break;
			}
			if (h->stack[i].kind == K_DL || (h->stack[i].tflags & F_SCOPE))
				break;
		}
		break;
	case K_UL:
	case K_OL:
	case K_DL:
		html_text_break(h, h->lists ? 1 : 2);
		if (kind != K_DL)
			eflags |= E_LIST;
		break;
	case K_TR:
		i = html_text_find(h, K_TR, 0, K_TABLE);
		if (i != (size_t)-1)
			html_text_pop_to(h, i);
		break;
	case K_TD:
		i = html_text_find(h, K_TD, 0, K_TABLE);
		if (i != (size_t)-1)
			html_text_pop_to(h, i);
		if (!h->line_start && h->any && !h->want_nl)
			h->sep = true;
		break;
	case K_OPTION:
		if (h->depth && h->stack[h->depth - 1].kind == K_OPTION)
			html_text_pop(h);
		break;
	case K_PRE:
		eflags |= E_PRE;
		h->skip_lf = true;
		break;
	case K_BQ:
		eflags |= E_BQ;
		break;
	case K_TEMPLATE:
		eflags |= E_SUPPRESS;
		break;
	case K_FOREIGN:
		if (tok->self_closing)
			return;
		eflags |= E_FOREIGN;
		break;
	case K_SCRIPT:
	case K_RAWSKIP:
	case K_RCSKIP:
	case K_TEXTAREA:
	case K_XMP:
	case K_PLAINTEXT:
		/* not on the stack: the tokenizer gives back only their end tag */
		if (tflags & F_BR2)
			html_text_break(h, 2);
		else if (tflags & F_BR1)
			html_text_break(h, 1);
		html_text_raw(h, kind);
		return;
	default:
		break;
	}
	if (tflags & F_VOID)
		return;
	if (tflags & F_BR2)
		html_text_break(h, 2);
	else if (tflags & F_BR1)
		html_text_break(h, 1);
	if (html_text_hides(tok))
		eflags |= E_HIDDEN;
	e = html_text_push(h, hash, kind, tflags, eflags);
	if (e && kind == K_OL) {
		const char *type = html_text_attr(tok, "type");

		e->counter = html_text_number(html_text_attr(tok, "start"), 1);
		e->style = type && strlen(type) == 1 ? type[0] : '1';
	}
}

static void html_text_end(struct html_text *h, const struct html_tok_token *tok)
{
	uint32_t hash;
	const struct html_text_tagdef *d = html_text_tag_find(tok->name, tok->name_len, &hash);
	int kind = d ? d->kind : K_NONE, tflags = d ? d->flags : 0;
	size_t i;

	if (h->raw != RAW_NONE) {
		/* the only end tag the tokenizer gives inside raw text is its own */
		h->raw = RAW_NONE;
		h->skip_lf = false;
		if (tflags & F_BR2)
			html_text_break(h, 2);
		else if (tflags & F_BR1)
			html_text_break(h, 1);
		return;
	}
	if (kind == K_BR) { /* </br> is <br> */
		if (!html_text_hidden_now(h))
			html_text_newline(h, false);
		return;
	}
	/* search by name; an inline end tag does not cross a block */
	for (i = h->depth; i-- > 0;) {
		const struct html_text_elem *e = &h->stack[i];

		if (e->hash == hash) {
			html_text_pop_to(h, i);
			return;
		}
		if ((e->eflags & E_FOREIGN) && !h->foreign)
			break;
		if (e->eflags & E_INFOREIGN)
			continue;
		if (e->tflags & F_SCOPE) {
			/* </table> closes its cells; </tr>, </td> close a cell */
			bool cross = kind == K_TABLE
			                 ? e->kind == K_TD
			                 : (kind == K_TR || kind == K_TD) && e->kind == K_TD;
			if (!cross)
				break;
			continue;
		}
		if ((e->tflags & F_SPECIAL) && !(tflags & F_SPECIAL) && kind != K_A)
			break;
	}
	/* not open (or beyond the depth limit): the break still happens */
	if (kind == K_P)
		html_text_break(h, 2);
	else if (kind == K_A)
		html_text_link_end(h);
	else if (tflags & F_BR2)
		html_text_break(h, 2);
	else if (tflags & F_BR1)
		html_text_break(h, 1);
}

static void html_text_on_token(void *ctx, const struct html_tok_token *tok)
{
	struct html_text *h = ctx;

	if (tok->type == HTML_TOK_START_TAG)
		html_text_start(h, tok);
	else if (tok->type == HTML_TOK_END_TAG)
		html_text_end(h, tok);
	/* comments (conditional ones too) and DOCTYPE: nothing to show */
}

/* ---- public ------------------------------------------------------------ */

struct html_text *html_text_new(struct strbuf *out)
{
	struct html_text *h = xmalloc(sizeof(*h));

	memset(h, 0, offsetof(struct html_text, stack));

	pthread_once(&html_text_tag_once, html_text_tags_init);
	h->out = out;
	h->out_base = out->len;
	h->tok = html_tok_new(html_text_on_text, html_text_on_token, h);
	html_tok_set_attr_filter(h->tok, html_text_keep_attr);
	h->line_start = true;
	strbuf_init(&h->href, HTML_TEXT_MAX_HREF);
	strbuf_init(&h->link_text, HTML_TEXT_MAX_LINK_TEXT);
	strbuf_init(&h->tmp, 0);
	strbuf_init(&h->tmp2, 0);
	return h;
}

void html_text_feed(struct html_text *h, const char *buf, size_t len)
{
	html_tok_feed(h->tok, buf, len);
}

void html_text_finish(struct html_text *h)
{
	struct strbuf *out = h->out;

	html_tok_finish(h->tok);
	html_text_link_end(h);
	/* no trailing blank space; one final LF */
	while (out->len > h->out_base &&
	       (out->s[out->len - 1] == '\n' || out->s[out->len - 1] == ' ' ||
	        out->s[out->len - 1] == '\t'))
		out->len--;
	if (out->s)
		out->s[out->len] = '\0';
	if (out->len > h->out_base)
		strbuf_putc(out, '\n');
	html_tok_free(h->tok);
	strbuf_free(&h->href);
	strbuf_free(&h->link_text);
	strbuf_free(&h->tmp);
	strbuf_free(&h->tmp2);
	free(h);
}

void html_text_convert(const char *html, size_t len, struct strbuf *out)
{
	struct html_text *h = html_text_new(out);

	html_text_feed(h, html, len);
	html_text_finish(h);
}

/* ---- charset sniffing ---------------------------------------------------- */

struct html_text_sniff {
	char *buf;
	size_t size;
	bool found;
};

static void html_text_sniff_text(void *ctx, const char *s, size_t n)
{
}

/* Copy a charset name (trimmed, quotes removed) if it looks like one. */
static void html_text_sniff_take(struct html_text_sniff *sn, const char *v, size_t n)
{
	size_t i;

	while (n &&
	       (*v == ' ' || *v == '\t' || *v == '\n' || *v == '\f' || *v == '"' || *v == '\'')) {
		v++;
		n--;
	}
	for (i = 0; i < n; i++) {
		char c = v[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.' || c == ':' || c == '+'))
			break;
	}
	if (i == 0 || i >= sn->size)
		return;
	memcpy(sn->buf, v, i);
	sn->buf[i] = '\0';
	sn->found = true;
}

static void html_text_sniff_token(void *ctx, const struct html_tok_token *tok)
{
	struct html_text_sniff *sn = ctx;
	const char *cs, *equiv, *content, *p;

	if (sn->found || tok->type != HTML_TOK_START_TAG || tok->name_len != 4 ||
	    memcmp(tok->name, "meta", 4) != 0)
		return;
	cs = html_text_attr(tok, "charset");
	if (cs) {
		html_text_sniff_take(sn, cs, strlen(cs));
		return;
	}
	equiv = html_text_attr(tok, "http-equiv");
	content = html_text_attr(tok, "content");
	if (!equiv || strcasecmp(equiv, "content-type") != 0 || !content)
		return;
	p = strcasestr(content, "charset");
	if (!p)
		return;
	p += 7;
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\f')
		p++;
	if (*p != '=')
		return;
	p++;
	html_text_sniff_take(sn, p, strlen(p));
}

const char *html_text_sniff_charset(const char *html, size_t len, char *buf, size_t bufsize)
{
	struct html_text_sniff sn = {buf, bufsize, false};
	struct html_tok *t;

	if (!buf || bufsize == 0)
		return NULL;
	t = html_tok_new(html_text_sniff_text, html_text_sniff_token, &sn);
	html_tok_feed(t, html, len < 1024 ? len : 1024);
	html_tok_free(t);
	return sn.found ? buf : NULL;
}

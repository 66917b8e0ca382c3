/*
 * charset - bytes in a MIME charset to UTF-8, UTF-8 back to ISO-2022-JP for
 * old clients, RFC 2047 encoded words and RFC 2231 parameter values.
 *
 * DECODERS: ISO-2022-JP is our own state machine, read the way Windows
 * reads CP50220/CP50221/CP50222: JIS X 0208 through the CP932 table (so NEC
 * row 13 and the NEC-selected IBM rows 89-92 decode), ESC ( I and SO/SI
 * half-width katakana, ESC ( J read as ASCII, 8-bit bytes 0xA1-0xDF as
 * half-width katakana; JIS X 0212 and the ISO-2022-JP-2/-3 sets go through
 * iconv one character at a time.  Shift_JIS and its aliases are CP932;
 * EUC-JP is CP51932 (the same table) with JIS X 0212 and the user-defined
 * rows through iconv's EUC-JP-MS.  The CP932 table is built once per
 * process from glibc's own CP932 converter (no copied tables).  UTF-8 is
 * validated by hand; every other label goes through iconv, with handles
 * cached per thread.
 *
 * OUTPUT: valid UTF-8.  Bodies keep TAB and LF; CR LF and a lone CR become
 * LF.  Headers and parameter values are one line: TAB, CR and LF become a
 * space.  Every other C0 control, DEL, the C1 controls and the bidi
 * embedding/override/isolate controls (U+202A-U+202E, U+2066-U+2069, used
 * to disguise file names) become U+FFFD, like invalid or unmappable bytes;
 * ESC that belongs to an ISO-2022-JP escape sequence is consumed.  A UTF-8
 * byte order mark at the start of a body is dropped.
 *
 * MISLABELS: a label is overruled only on clear evidence: "us-ascii" with
 * 8-bit bytes or escapes, "iso-2022-jp" without escapes but with 8-bit
 * bytes, an 8-bit label on text that is valid UTF-8 with several multibyte
 * characters, "utf-8" on text that is not UTF-8 but clean CP932/EUC-JP,
 * any label on 7-bit text with JIS escapes.  Unknown labels are guessed.
 *
 * SECURITY: every byte and every charset label is hostile.  A label reaches
 * iconv_open() only when it is made of [A-Za-z0-9._:+-] (so no
 * "//TRANSLIT" or "//IGNORE" suffix) and at most CHARSET_NAME_MAX bytes.
 * Work is linear in the input; memory is a few fixed tables per process
 * and a bounded iconv cache per thread.
 *
 * DIAGNOSTICS: none; nothing here fails.  Replacements are counted in the
 * return values, unknown labels and overruled labels in charset_counters().
 * Out of memory is fatal (xalloc); when the output strbuf reaches its limit
 * further output is dropped and its overflow flag is set.
 */
#include "charset.h"
#include "utf8.h"
#include "log.h"
#include "xalloc.h"

#include <errno.h>
#include <iconv.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <wchar.h>

_Static_assert(sizeof(wchar_t) == 4, "iconv WCHAR_T is UCS-4");

#define CHARSET_NAME_MAX 40       /* longest label given to iconv_open() */
#define CHARSET_CACHE_MAX 16      /* iconv handles kept per thread */
#define CHARSET_INTERN_MAX 64     /* distinct iconv names reported in used_r */
#define CHARSET_SINK_SIZE 4096    /* output staging buffer, bytes */
#define CHARSET_GUESS_BYTES 65536 /* bytes scored by charset_guess() */
#define CHARSET_ICONV_CHUNK 1024  /* UCS-4 characters converted per iconv() call */
#define CHARSET_REPL "\xEF\xBF\xBD"
#define CHARSET_GETA 0x3013 /* 〓, what ISO-2022-JP output uses for the unencodable */

enum charset_kind {
	CHARSET_GUESS,
	CHARSET_ASCII,
	CHARSET_UTF8,
	CHARSET_ISO2022JP,
	CHARSET_CP932,
	CHARSET_EUCJP,
	CHARSET_ICONV,
};

static const char *const charset_kind_names[] = {
    [CHARSET_GUESS] = "windows-1252",    [CHARSET_ASCII] = "US-ASCII", [CHARSET_UTF8] = "UTF-8",
    [CHARSET_ISO2022JP] = "ISO-2022-JP", [CHARSET_CP932] = "CP932",    [CHARSET_EUCJP] = "EUC-JP",
    [CHARSET_ICONV] = "iconv",
};

/* ---- output ------------------------------------------------------------ */

struct charset_sink {
	struct strbuf *out;
	size_t repl;
	bool header; /* one line: TAB CR LF -> space */
	bool cr;     /* a CR waits: LF follows (one LF) or not (LF anyway) */
	size_t n;
	char buf[CHARSET_SINK_SIZE];
};

static void charset_sink_init(struct charset_sink *s, struct strbuf *out, bool header)
{
	s->out = out;
	s->repl = 0;
	s->header = header;
	s->cr = false;
	s->n = 0;
}

static void charset_sink_flush(struct charset_sink *s)
{
	if (s->n) {
		strbuf_append(s->out, s->buf, s->n);
		s->n = 0;
	}
}

static void charset_sink_raw(struct charset_sink *s, const void *p, size_t n)
{
	if (s->n + n > sizeof(s->buf)) {
		charset_sink_flush(s);
		if (n > sizeof(s->buf) / 2) {
			strbuf_append(s->out, p, n);
			return;
		}
	}
	memcpy(s->buf + s->n, p, n);
	s->n += n;
}

static void charset_sink_settle_cr(struct charset_sink *s)
{
	if (s->cr) {
		s->cr = false;
		charset_sink_raw(s, "\n", 1);
	}
}

/* Text already known to be printable ASCII or valid, unfiltered UTF-8. */
static void charset_sink_text(struct charset_sink *s, const void *p, size_t n)
{
	if (s->cr)
		charset_sink_settle_cr(s);
	charset_sink_raw(s, p, n);
}

static void charset_sink_repl(struct charset_sink *s)
{
	charset_sink_text(s, CHARSET_REPL, 3);
	s->repl++;
}

/* Code points that never reach the output as themselves (see the header). */
static bool charset_cp_filtered(uint32_t cp)
{
	if (cp < 0xA0)
		return cp < 0x20 || cp >= 0x7F;
	return (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069) ||
	       (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF;
}

static void charset_sink_cp(struct charset_sink *s, uint32_t cp)
{
	char b[4];

	if (charset_cp_filtered(cp)) {
		if (cp == '\t' || cp == '\n' || cp == '\r') {
			if (s->header) {
				charset_sink_text(s, " ", 1);
			} else if (cp == '\r') {
				charset_sink_settle_cr(s);
				s->cr = true;
			} else if (cp == '\n' && s->cr) {
				s->cr = false;
				charset_sink_raw(s, "\n", 1);
			} else {
				charset_sink_text(s, cp == '\t' ? "\t" : "\n", 1);
			}
			return;
		}
		charset_sink_repl(s);
		return;
	}
	charset_sink_text(s, b, utf8_put(cp, b));
}

static void charset_sink_end(struct charset_sink *s)
{
	charset_sink_settle_cr(s);
	charset_sink_flush(s);
}

/* Printable ASCII: the bytes every decoder copies in runs. */
static inline bool charset_plain(uint8_t c)
{
	return c >= 0x20 && c < 0x7F;
}

static size_t charset_plain_run(const uint8_t *p, size_t len)
{
	size_t i = 0;

	while (i < len && charset_plain(p[i]))
		i++;
	return i;
}

/* ---- counters ---------------------------------------------------------- */

static _Thread_local struct charset_counters charset_stats;

void charset_counters(struct charset_counters *r, bool reset)
{
	if (r)
		*r = charset_stats;
	if (reset)
		memset(&charset_stats, 0, sizeof(charset_stats));
}

/* ---- the CP932 table --------------------------------------------------- */

/* Shift_JIS lead 0x81-0x9F, 0xE0-0xFC (60) x trail 0x40-0xFC (189). */
static uint16_t charset_sjis_map[60 * 189];
/* JIS X 0208 row 1-94 x cell 1-94, as CP50220 reads them. */
static uint16_t charset_jis_map[94 * 94];
static bool charset_tables_ok;
static pthread_once_t charset_tables_once = PTHREAD_ONCE_INIT;

static inline bool charset_sjis_lead(uint8_t c)
{
	return (c >= 0x81 && c <= 0x9F) || (c >= 0xE0 && c <= 0xFC);
}

static inline bool charset_sjis_trail(uint8_t c)
{
	return c >= 0x40 && c <= 0xFC && c != 0x7F;
}

static inline size_t charset_sjis_index(uint8_t lead, uint8_t trail)
{
	return (size_t)(lead < 0xA0 ? lead - 0x81 : lead - 0xE0 + 31) * 189 +
	       (size_t)(trail - 0x40);
}

/* JIS row/cell (0-based) to Shift_JIS bytes. */
static void charset_jis_to_sjis(unsigned row, unsigned cell, uint8_t *lead, uint8_t *trail)
{
	*lead = (uint8_t)((row >> 1) + (row < 62 ? 0x81 : 0xC1));
	if (row & 1)
		*trail = (uint8_t)(cell + 0x9F);
	else
		*trail = (uint8_t)(cell + 0x40 + (cell >= 63));
}

static void charset_tables_build(void)
{
	iconv_t cd = iconv_open("WCHAR_T", "CP932");
	unsigned lead, trail, row, cell;

	if (cd == (iconv_t)-1) {
		log_warn("charset: iconv has no CP932 converter; Japanese text will be replaced");
		return;
	}
	for (lead = 0x81; lead <= 0xFC; lead++) {
		if (!charset_sjis_lead((uint8_t)lead))
			continue;
		for (trail = 0x40; trail <= 0xFC; trail++) {
			char in[2] = {(char)lead, (char)trail};
			wchar_t w[2];
			char *ip = in, *op = (char *)w;
			size_t il = 2, ol = sizeof(w);

			if (trail == 0x7F)
				continue;
			iconv(cd, NULL, NULL, NULL, NULL);
			if (iconv(cd, &ip, &il, &op, &ol) == (size_t)-1 || il != 0 ||
			    ol != sizeof(w) - sizeof(w[0]))
				continue;
			if ((uint32_t)w[0] < 0xA0 || (uint32_t)w[0] > 0xFFFF ||
			    charset_cp_filtered((uint32_t)w[0]))
				continue;
			charset_sjis_map[charset_sjis_index((uint8_t)lead, (uint8_t)trail)] =
			    (uint16_t)w[0];
		}
	}
	iconv_close(cd);
	for (row = 0; row < 94; row++) {
		for (cell = 0; cell < 94; cell++) {
			uint8_t l, t;

			charset_jis_to_sjis(row, cell, &l, &t);
			charset_jis_map[row * 94 + cell] =
			    charset_sjis_map[charset_sjis_index(l, t)];
		}
	}
	charset_tables_ok = true;
}

static void charset_tables(void)
{
	pthread_once(&charset_tables_once, charset_tables_build);
}

/* ---- labels, the iconv cache ------------------------------------------ */

struct charset_alias {
	const char *label;
	enum charset_kind kind;
	const char *iconv_name; /* CHARSET_ICONV: the name given to iconv */
};

/* Labels we decode ourselves, and labels whose usual meaning in mail is a
 * superset (as WHATWG reads them: latin1 text is really windows-1252). */
static const struct charset_alias charset_aliases[] = {
    {"us-ascii", CHARSET_ASCII, NULL},
    {"ascii", CHARSET_ASCII, NULL},
    {"us", CHARSET_ASCII, NULL},
    {"ansi_x3.4-1968", CHARSET_ASCII, NULL},
    {"iso646-us", CHARSET_ASCII, NULL},
    {"iso-ir-6", CHARSET_ASCII, NULL},
    {"csascii", CHARSET_ASCII, NULL},
    {"cp367", CHARSET_ASCII, NULL},
    {"utf-8", CHARSET_UTF8, NULL},
    {"utf8", CHARSET_UTF8, NULL},
    {"unicode-1-1-utf-8", CHARSET_UTF8, NULL},
    {"x-unicode20utf8", CHARSET_UTF8, NULL},
    {"iso-2022-jp", CHARSET_ISO2022JP, NULL},
    {"iso2022jp", CHARSET_ISO2022JP, NULL},
    {"csiso2022jp", CHARSET_ISO2022JP, NULL},
    {"iso-2022-jp-1", CHARSET_ISO2022JP, NULL},
    {"iso-2022-jp-2", CHARSET_ISO2022JP, NULL},
    {"csiso2022jp2", CHARSET_ISO2022JP, NULL},
    {"iso-2022-jp-3", CHARSET_ISO2022JP, NULL},
    {"iso-2022-jp-ms", CHARSET_ISO2022JP, NULL},
    {"iso-2022-jp-ext", CHARSET_ISO2022JP, NULL},
    {"cp50220", CHARSET_ISO2022JP, NULL},
    {"cp50221", CHARSET_ISO2022JP, NULL},
    {"cp50222", CHARSET_ISO2022JP, NULL},
    {"jis", CHARSET_ISO2022JP, NULL},
    {"jis7", CHARSET_ISO2022JP, NULL},
    {"shift_jis", CHARSET_CP932, NULL},
    {"shift-jis", CHARSET_CP932, NULL},
    {"sjis", CHARSET_CP932, NULL},
    {"x-sjis", CHARSET_CP932, NULL},
    {"x-shift-jis", CHARSET_CP932, NULL},
    {"x-shift_jis", CHARSET_CP932, NULL},
    {"ms_kanji", CHARSET_CP932, NULL},
    {"csshiftjis", CHARSET_CP932, NULL},
    {"windows-31j", CHARSET_CP932, NULL},
    {"cswindows31j", CHARSET_CP932, NULL},
    {"ms932", CHARSET_CP932, NULL},
    {"cp932", CHARSET_CP932, NULL},
    {"x-ms-cp932", CHARSET_CP932, NULL},
    {"windows-932", CHARSET_CP932, NULL},
    {"ibm-943", CHARSET_CP932, NULL},
    {"ibm943", CHARSET_CP932, NULL},
    {"sjis-win", CHARSET_CP932, NULL},
    {"sjis-open", CHARSET_CP932, NULL},
    {"euc-jp", CHARSET_EUCJP, NULL},
    {"eucjp", CHARSET_EUCJP, NULL},
    {"euc_jp", CHARSET_EUCJP, NULL},
    {"x-euc-jp", CHARSET_EUCJP, NULL},
    {"x-euc", CHARSET_EUCJP, NULL},
    {"ujis", CHARSET_EUCJP, NULL},
    {"cseucpkdfmtjapanese", CHARSET_EUCJP, NULL},
    {"euc-jp-ms", CHARSET_EUCJP, NULL},
    {"eucjp-ms", CHARSET_EUCJP, NULL},
    {"eucjp-win", CHARSET_EUCJP, NULL},
    {"eucjp-open", CHARSET_EUCJP, NULL},
    {"cp51932", CHARSET_EUCJP, NULL},
    {"iso-8859-1", CHARSET_ICONV, "WINDOWS-1252"},
    {"iso8859-1", CHARSET_ICONV, "WINDOWS-1252"},
    {"iso_8859-1", CHARSET_ICONV, "WINDOWS-1252"},
    {"latin1", CHARSET_ICONV, "WINDOWS-1252"},
    {"l1", CHARSET_ICONV, "WINDOWS-1252"},
    {"cp819", CHARSET_ICONV, "WINDOWS-1252"},
    {"csisolatin1", CHARSET_ICONV, "WINDOWS-1252"},
    {"iso-8859-9", CHARSET_ICONV, "WINDOWS-1254"},
    {"latin5", CHARSET_ICONV, "WINDOWS-1254"},
    {"gb2312", CHARSET_ICONV, "GB18030"},
    {"csgb2312", CHARSET_ICONV, "GB18030"},
    {"gbk", CHARSET_ICONV, "GB18030"},
    {"x-gbk", CHARSET_ICONV, "GB18030"},
    {"cp936", CHARSET_ICONV, "GB18030"},
    {"euc-cn", CHARSET_ICONV, "GB18030"},
    {"euc-kr", CHARSET_ICONV, "CP949"},
    {"ks_c_5601-1987", CHARSET_ICONV, "CP949"},
    {"ks_c_5601", CHARSET_ICONV, "CP949"},
    {"ksc5601", CHARSET_ICONV, "CP949"},
    {"csksc56011987", CHARSET_ICONV, "CP949"},
    {"big5", CHARSET_ICONV, "BIG5-HKSCS"},
    {"big-5", CHARSET_ICONV, "BIG5-HKSCS"},
    {"cn-big5", CHARSET_ICONV, "BIG5-HKSCS"},
    {"x-x-big5", CHARSET_ICONV, "BIG5-HKSCS"},
    {"csbig5", CHARSET_ICONV, "BIG5-HKSCS"},
    {"tis-620", CHARSET_ICONV, "CP874"},
    {"iso-8859-11", CHARSET_ICONV, "CP874"},
};

/* Labels that mean "we do not know": guessed, not counted as unknown. */
static const char *const charset_unlabelled[] = {
    "unknown-8bit", "unknown", "x-unknown", "8bit", "default", "x-user-defined", "charset",
};

struct charset_label {
	enum charset_kind kind;
	char name[CHARSET_NAME_MAX + 1]; /* lowercased label, no language, no quotes */
	const char *iconv_name;          /* CHARSET_ICONV */
	bool unknown;                    /* a label was given but is not usable */
};

static bool charset_label_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
	       c == '.' || c == ':' || c == '+';
}

/* Reduce a MIME charset label (quotes, blanks, RFC 2231 "*lang") to a
 * lowercase name and find what decodes it. */
static void charset_label_parse(const char *label, size_t len, struct charset_label *l)
{
	size_t i, n = 0;

	memset(l, 0, sizeof(*l));
	l->kind = CHARSET_GUESS;
	if (!label)
		return;
	while (len && (*label == ' ' || *label == '\t' || *label == '"' || *label == '\''))
		label++, len--;
	while (len && (label[len - 1] == ' ' || label[len - 1] == '\t' || label[len - 1] == '"' ||
	               label[len - 1] == '\''))
		len--;
	for (i = 0; i < len && label[i] != '*'; i++) {
		char c = label[i];

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (!charset_label_char(c) || n == CHARSET_NAME_MAX) {
			l->unknown = true;
			l->name[0] = '\0';
			return;
		}
		l->name[n++] = c;
	}
	l->name[n] = '\0';
	if (n == 0)
		return;
	for (i = 0; i < sizeof(charset_unlabelled) / sizeof(charset_unlabelled[0]); i++)
		if (strcmp(l->name, charset_unlabelled[i]) == 0)
			return;
	for (i = 0; i < sizeof(charset_aliases) / sizeof(charset_aliases[0]); i++) {
		if (strcmp(l->name, charset_aliases[i].label) == 0) {
			l->kind = charset_aliases[i].kind;
			l->iconv_name = charset_aliases[i].iconv_name;
			return;
		}
	}
	l->kind = CHARSET_ICONV;
	l->iconv_name = l->name;
}

struct charset_cd {
	char name[CHARSET_NAME_MAX + 1];
	iconv_t cd; /* (iconv_t)-1: iconv does not know the name */
	unsigned long used;
};

static _Thread_local struct charset_cd charset_cache[CHARSET_CACHE_MAX];
static _Thread_local unsigned long charset_clock;

static bool charset_name_eq(const char *a, const char *b)
{
	return strcasecmp(a, b) == 0;
}

/* The cached converter from `name` to UCS-4, reset; NULL if iconv does
 * not know the name. */
static iconv_t charset_iconv_get(const char *name)
{
	struct charset_cd *e, *victim = &charset_cache[0];
	size_t i;

	for (i = 0; i < CHARSET_CACHE_MAX; i++) {
		e = &charset_cache[i];
		if (e->used && charset_name_eq(e->name, name)) {
			e->used = ++charset_clock;
			if (e->cd == (iconv_t)-1)
				return NULL;
			iconv(e->cd, NULL, NULL, NULL, NULL);
			return e->cd;
		}
		if (e->used < victim->used)
			victim = e;
	}
	if (victim->used && victim->cd != (iconv_t)-1)
		iconv_close(victim->cd);
	snprintf(victim->name, sizeof(victim->name), "%s", name);
	victim->cd = iconv_open("WCHAR_T", name);
	victim->used = ++charset_clock;
	return victim->cd == (iconv_t)-1 ? NULL : victim->cd;
}

void charset_cleanup(void)
{
	size_t i;

	for (i = 0; i < CHARSET_CACHE_MAX; i++) {
		if (charset_cache[i].used && charset_cache[i].cd != (iconv_t)-1)
			iconv_close(charset_cache[i].cd);
		memset(&charset_cache[i], 0, sizeof(charset_cache[i]));
	}
}

/* Names of iconv charsets, kept for the process so used_r stays valid. */
static pthread_mutex_t charset_intern_lock = PTHREAD_MUTEX_INITIALIZER;
static char *charset_interned[CHARSET_INTERN_MAX];

static const char *charset_intern(const char *name)
{
	const char *r = "iconv";
	size_t i;

	pthread_mutex_lock(&charset_intern_lock);
	for (i = 0; i < CHARSET_INTERN_MAX; i++) {
		if (!charset_interned[i]) {
			charset_interned[i] = xstrdup(name);
			r = charset_interned[i];
			break;
		}
		if (charset_name_eq(charset_interned[i], name)) {
			r = charset_interned[i];
			break;
		}
	}
	pthread_mutex_unlock(&charset_intern_lock);
	return r;
}

bool charset_init(void)
{
	/* what decoding may need (also inside ISO-2022-JP-2/-3), so a
	 * sandboxed caller loads the gconv modules before the sandbox */
	static const char *const common[] = {
	    "WINDOWS-1252", "EUC-JP-MS", "EUC-JISX0213", "ISO-8859-7", "EUC-CN",
	    "EUC-KR",       "GB18030",   "CP949",        "BIG5-HKSCS", "UTF-16",
	};
	size_t i;

	charset_tables();
	for (i = 0; i < sizeof(common) / sizeof(common[0]); i++)
		charset_iconv_get(common[i]);
	return charset_tables_ok;
}

bool charset_known(const char *charset)
{
	struct charset_label l;

	charset_label_parse(charset, charset ? strlen(charset) : 0, &l);
	if (l.kind == CHARSET_ICONV)
		return charset_iconv_get(l.iconv_name) != NULL;
	return !l.unknown && l.kind != CHARSET_GUESS;
}

/* ---- iconv decoding ---------------------------------------------------- */

/* Decode with iconv: invalid input gives U+FFFD and a skip of one byte. */
static void charset_iconv_decode(iconv_t cd, const uint8_t *in, size_t len, struct charset_sink *s)
{
	wchar_t w[CHARSET_ICONV_CHUNK];
	char *ip = (char *)(uintptr_t)in;
	size_t il = len;

	while (il > 0) {
		char *op = (char *)w;
		size_t ol = sizeof(w), r, n, k;
		int err;

		r = iconv(cd, &ip, &il, &op, &ol);
		err = errno;
		n = (sizeof(w) - ol) / sizeof(w[0]);
		for (k = 0; k < n; k++)
			charset_sink_cp(s, (uint32_t)w[k]);
		if (r != (size_t)-1)
			break;
		if (err == E2BIG)
			continue;
		/* EILSEQ, or EINVAL (truncated at the end): replace one byte. */
		charset_sink_repl(s);
		ip++;
		il--;
		if (err != EILSEQ && err != EINVAL)
			break;
	}
	/* Flush what a stateful decoder holds back (UTF-7, ISO-2022-*). */
	{
		char *op = (char *)w;
		size_t ol = sizeof(w), k;

		if (iconv(cd, NULL, NULL, &op, &ol) != (size_t)-1)
			for (k = 0; k < (sizeof(w) - ol) / sizeof(w[0]); k++)
				charset_sink_cp(s, (uint32_t)w[k]);
	}
}

/* One multibyte character through iconv (rare sets inside ISO-2022-JP,
 * EUC-JP's JIS X 0212); false if it does not convert. */
static bool charset_iconv_char(const char *name, const uint8_t *b, size_t n, struct charset_sink *s)
{
	iconv_t cd = charset_iconv_get(name);
	wchar_t w[4];
	char *ip = (char *)(uintptr_t)b, *op = (char *)w;
	size_t il = n, ol = sizeof(w), k;

	if (!cd || iconv(cd, &ip, &il, &op, &ol) == (size_t)-1 || il != 0 || ol == sizeof(w))
		return false;
	for (k = 0; k < (sizeof(w) - ol) / sizeof(w[0]); k++)
		charset_sink_cp(s, (uint32_t)w[k]);
	return true;
}

/* ---- UTF-8 ------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at p (1-4), or 0 with *bad_r set to
 * the length of its maximal invalid subpart (at least 1). */
static size_t charset_utf8_seq(const uint8_t *p, size_t len, size_t *bad_r)
{
	uint8_t c = p[0], lo = 0x80, hi = 0xBF;
	size_t need, k;

	if (c < 0x80)
		return 1;
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
		*bad_r = 1;
		return 0;
	}
	for (k = 1; k <= need; k++) {
		if (k >= len || p[k] < lo || p[k] > hi) {
			*bad_r = k;
			return 0;
		}
		lo = 0x80;
		hi = 0xBF;
	}
	return need + 1;
}

static uint32_t charset_utf8_cp(const uint8_t *p, size_t n)
{
	switch (n) {
	case 1:
		return p[0];
	case 2:
		return ((uint32_t)(p[0] & 0x1F) << 6) | (p[1] & 0x3F);
	case 3:
		return ((uint32_t)(p[0] & 0x0F) << 12) | ((uint32_t)(p[1] & 0x3F) << 6) |
		       (p[2] & 0x3F);
	default:
		return ((uint32_t)(p[0] & 0x07) << 18) | ((uint32_t)(p[1] & 0x3F) << 12) |
		       ((uint32_t)(p[2] & 0x3F) << 6) | (p[3] & 0x3F);
	}
}

struct charset_utf8_stats {
	size_t multi; /* valid multibyte sequences */
	size_t bad;   /* invalid subparts */
};

static void charset_utf8_check(const uint8_t *p, size_t len, struct charset_utf8_stats *st)
{
	size_t i = 0, n, bad;

	st->multi = st->bad = 0;
	while (i < len) {
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		n = charset_utf8_seq(p + i, len - i, &bad);
		if (n) {
			st->multi++;
			i += n;
		} else {
			st->bad++;
			i += bad;
		}
	}
}

static void charset_utf8_decode(const uint8_t *p, size_t len, struct charset_sink *s)
{
	size_t i = 0, n, bad;

	if (len >= 3 && p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF && !s->header)
		i = 3;
	while (i < len) {
		uint8_t c = p[i];

		if (charset_plain(c)) {
			n = charset_plain_run(p + i, len - i);
			charset_sink_text(s, p + i, n);
			i += n;
			continue;
		}
		if (c < 0x80) {
			charset_sink_cp(s, c);
			i++;
			continue;
		}
		n = charset_utf8_seq(p + i, len - i, &bad);
		if (!n) {
			charset_sink_repl(s);
			i += bad;
			continue;
		}
		if ((n == 2 && c == 0xC2) || (n == 3 && c == 0xE2))
			charset_sink_cp(s, charset_utf8_cp(p + i, n)); /* C1, bidi */
		else
			charset_sink_text(s, p + i, n);
		i += n;
	}
}

/* ---- CP932 and EUC-JP ---------------------------------------------------- */

static void charset_cp932_decode(const uint8_t *p, size_t len, struct charset_sink *s)
{
	size_t i = 0, n;

	charset_tables();
	while (i < len) {
		uint8_t c = p[i];

		if (charset_plain(c)) {
			n = charset_plain_run(p + i, len - i);
			charset_sink_text(s, p + i, n);
			i += n;
		} else if (c < 0x80) {
			charset_sink_cp(s, c);
			i++;
		} else if (c >= 0xA1 && c <= 0xDF) {
			charset_sink_cp(s, 0xFF61 + (uint32_t)(c - 0xA1));
			i++;
		} else if (charset_sjis_lead(c) && i + 1 < len && charset_sjis_trail(p[i + 1])) {
			uint16_t cp = charset_sjis_map[charset_sjis_index(c, p[i + 1])];

			if (cp) {
				char b[3];

				charset_sink_text(s, b, utf8_put(cp, b));
				i += 2;
			} else {
				charset_sink_repl(s);
				/* an ASCII trail byte is read again as itself */
				i += p[i + 1] < 0x80 ? 1 : 2;
			}
		} else {
			charset_sink_repl(s);
			i++;
		}
	}
}

static inline bool charset_euc_byte(uint8_t c)
{
	return c >= 0xA1 && c <= 0xFE;
}

static void charset_eucjp_decode(const uint8_t *p, size_t len, struct charset_sink *s)
{
	size_t i = 0, n;

	charset_tables();
	while (i < len) {
		uint8_t c = p[i];

		if (charset_plain(c)) {
			n = charset_plain_run(p + i, len - i);
			charset_sink_text(s, p + i, n);
			i += n;
		} else if (c < 0x80) {
			charset_sink_cp(s, c);
			i++;
		} else if (c == 0x8E && i + 1 < len && p[i + 1] >= 0xA1 && p[i + 1] <= 0xDF) {
			charset_sink_cp(s, 0xFF61 + (uint32_t)(p[i + 1] - 0xA1));
			i += 2;
		} else if (c == 0x8F && i + 2 < len && charset_euc_byte(p[i + 1]) &&
		           charset_euc_byte(p[i + 2])) {
			if (!charset_iconv_char("EUC-JP-MS", p + i, 3, s))
				charset_sink_repl(s);
			i += 3;
		} else if (charset_euc_byte(c) && i + 1 < len && charset_euc_byte(p[i + 1])) {
			uint16_t cp = charset_jis_map[(c - 0xA1) * 94 + (p[i + 1] - 0xA1)];

			if (cp) {
				char b[3];

				charset_sink_text(s, b, utf8_put(cp, b));
			} else if (!charset_iconv_char("EUC-JP-MS", p + i, 2, s)) {
				charset_sink_repl(s);
			}
			i += 2;
		} else {
			charset_sink_repl(s);
			i++;
		}
	}
}

/* ---- ISO-2022-JP ------------------------------------------------------- */

enum charset_g0 {
	CHARSET_G0_ASCII,
	CHARSET_G0_KANA,
	CHARSET_G0_X0208,
	CHARSET_G0_X0212,
	CHARSET_G0_X0213_1,
	CHARSET_G0_X0213_2,
	CHARSET_G0_GB2312,
	CHARSET_G0_KSC5601,
	CHARSET_G0_UNKNOWN1, /* an unknown 94-set: each byte is U+FFFD */
	CHARSET_G0_UNKNOWN2, /* an unknown 94^n-set: each pair is U+FFFD */
};

struct charset_jis {
	enum charset_g0 g0;
	bool so; /* SO: half-width katakana until SI (CP50221) */
	char g2; /* 'A' latin-1, 'F' greek, 0 none (ISO-2022-JP-2) */
};

static bool charset_g0_double(enum charset_g0 g)
{
	return g >= CHARSET_G0_X0208 && g != CHARSET_G0_UNKNOWN1;
}

/* Escape sequence at p[0] == ESC: update the state and return its length;
 * an incomplete one is U+FFFD for the ESC alone. */
static size_t charset_jis_escape(const uint8_t *p, size_t len, struct charset_jis *st,
                                 struct charset_sink *s)
{
	size_t j = 1;
	uint8_t f;

	while (j < len && j < 4 && p[j] >= 0x20 && p[j] <= 0x2F)
		j++;
	if (j >= len || p[j] < 0x30 || p[j] > 0x7E) {
		charset_sink_repl(s);
		return 1;
	}
	f = p[j];
	switch (j) {
	case 1:
		if (f == 'N' && len > 2 && st->g2 && p[2] >= 0x20 && p[2] < 0x80) {
			uint8_t b = (uint8_t)(p[2] | 0x80);

			if (st->g2 == 'A')
				charset_sink_cp(s, b);
			else if (!charset_iconv_char("ISO-8859-7", &b, 1, s))
				charset_sink_repl(s);
			return 3;
		}
		break;
	case 2:
		if (p[1] == '(' && (f == 'B' || f == 'J' || f == 'H')) {
			st->g0 = CHARSET_G0_ASCII;
			return 3;
		}
		if (p[1] == '(' && f == 'I') {
			st->g0 = CHARSET_G0_KANA;
			return 3;
		}
		if (p[1] == '$' && (f == '@' || f == 'B')) {
			st->g0 = CHARSET_G0_X0208;
			return 3;
		}
		if (p[1] == '$' && f == 'A') {
			st->g0 = CHARSET_G0_GB2312;
			return 3;
		}
		if (p[1] == '&' && f == '@')
			return 3; /* JIS X 0208-1990 announcer: ESC $ B follows */
		if (p[1] == '.' && (f == 'A' || f == 'F')) {
			st->g2 = (char)f;
			return 3;
		}
		if (p[1] == '(') {
			st->g0 = CHARSET_G0_UNKNOWN1;
			charset_sink_repl(s);
			return 3;
		}
		break;
	case 3:
		if (p[1] == '$' && p[2] == '(') {
			switch (f) {
			case '@':
			case 'B':
				st->g0 = CHARSET_G0_X0208;
				return 4;
			case 'A':
				st->g0 = CHARSET_G0_GB2312;
				return 4;
			case 'C':
				st->g0 = CHARSET_G0_KSC5601;
				return 4;
			case 'D':
				st->g0 = CHARSET_G0_X0212;
				return 4;
			case 'O':
			case 'Q':
				st->g0 = CHARSET_G0_X0213_1;
				return 4;
			case 'P':
				st->g0 = CHARSET_G0_X0213_2;
				return 4;
			default:
				st->g0 = CHARSET_G0_UNKNOWN2;
				charset_sink_repl(s);
				return 4;
			}
		}
		break;
	default:
		break;
	}
	/* A complete sequence we do not know: one visible replacement. */
	charset_sink_repl(s);
	return j + 1;
}

static bool charset_jis_graphic(uint8_t c)
{
	return c >= 0x21 && c <= 0x7E;
}

/* Does the line at p continue in the two-byte set the previous line left
 * open (mail in the wild omits ESC ( B at line ends, and some encoders
 * then do not repeat ESC $ B)?  Yes if, up to the next escape or line end,
 * it is an even run of valid pairs with kana or punctuation (rows 1-5), or
 * short; anything else (spaces, odd length, unmapped pairs) reads as
 * ASCII. */
static bool charset_jis_line_continues(const uint8_t *p, size_t len, enum charset_g0 g)
{
	size_t n = 0, k;
	bool kana = false;

	if (len > 512)
		len = 512;
	while (n < len && p[n] != 0x1B && p[n] != '\n' && p[n] != '\r' && p[n] != 0x0F) {
		if (!charset_jis_graphic(p[n]))
			return false;
		n++;
	}
	if (n == 0)
		return true;
	if (n % 2 && n < len)
		return false;
	n &= ~(size_t)1;
	for (k = 0; k < n; k += 2) {
		if (g == CHARSET_G0_X0208 &&
		    !charset_jis_map[(p[k] - 0x21) * 94 + (p[k + 1] - 0x21)])
			return false;
		if (p[k] <= 0x25)
			kana = true;
	}
	return kana || n <= 8;
}

static void charset_jis_pair(enum charset_g0 g, uint8_t c1, uint8_t c2, struct charset_sink *s)
{
	uint8_t b[3];
	const char *cs;
	size_t n = 2;

	switch (g) {
	case CHARSET_G0_X0208: {
		uint16_t cp = charset_jis_map[(c1 - 0x21) * 94 + (c2 - 0x21)];

		if (cp) {
			char u[3];

			charset_sink_text(s, u, utf8_put(cp, u));
		} else {
			charset_sink_repl(s);
		}
		return;
	}
	case CHARSET_G0_X0212:
		b[0] = 0x8F;
		b[1] = (uint8_t)(c1 | 0x80);
		b[2] = (uint8_t)(c2 | 0x80);
		n = 3;
		cs = "EUC-JP-MS";
		break;
	case CHARSET_G0_X0213_1:
		cs = "EUC-JISX0213";
		break;
	case CHARSET_G0_X0213_2:
		b[0] = 0x8F;
		b[1] = (uint8_t)(c1 | 0x80);
		b[2] = (uint8_t)(c2 | 0x80);
		n = 3;
		cs = "EUC-JISX0213";
		break;
	case CHARSET_G0_GB2312:
		cs = "EUC-CN";
		break;
	case CHARSET_G0_KSC5601:
		cs = "EUC-KR";
		break;
	default:
		charset_sink_repl(s);
		return;
	}
	if (n == 2) {
		b[0] = (uint8_t)(c1 | 0x80);
		b[1] = (uint8_t)(c2 | 0x80);
	}
	if (!charset_iconv_char(cs, b, n, s))
		charset_sink_repl(s);
}

static void charset_iso2022jp_decode(const uint8_t *p, size_t len, struct charset_sink *s)
{
	struct charset_jis st = {CHARSET_G0_ASCII, false, 0};
	size_t i = 0, n;

	charset_tables();
	while (i < len) {
		uint8_t c = p[i];

		if (c == 0x1B) {
			i += charset_jis_escape(p + i, len - i, &st, s);
			continue;
		}
		if (c == 0x0E || c == 0x0F) {
			st.so = c == 0x0E;
			i++;
			continue;
		}
		if (c >= 0x80) {
			/* 8-bit katakana ("JIS8"), as Windows reads it */
			if (c >= 0xA1 && c <= 0xDF)
				charset_sink_cp(s, 0xFF61 + (uint32_t)(c - 0xA1));
			else
				charset_sink_repl(s);
			i++;
			continue;
		}
		if (c == '\n' || c == '\r') {
			charset_sink_cp(s, c);
			i++;
			if (c == '\r' && i < len && p[i] == '\n') {
				charset_sink_cp(s, '\n');
				i++;
			}
			if (st.so || st.g0 == CHARSET_G0_KANA) {
				size_t k = i;

				while (k < len && p[k] >= 0x21 && p[k] <= 0x5F)
					k++;
				if (k == i || (k < len && p[k] != '\n' && p[k] != '\r' &&
				               p[k] != 0x1B && p[k] != 0x0F)) {
					st.so = false;
					if (st.g0 == CHARSET_G0_KANA)
						st.g0 = CHARSET_G0_ASCII;
				}
			} else if (charset_g0_double(st.g0) &&
			           !charset_jis_line_continues(p + i, len - i, st.g0)) {
				st.g0 = CHARSET_G0_ASCII;
			}
			continue;
		}
		if (!charset_jis_graphic(c)) {
			charset_sink_cp(s, c); /* SP, TAB; other controls are replaced */
			i++;
			continue;
		}
		if (st.so || st.g0 == CHARSET_G0_KANA) {
			if (c <= 0x5F)
				charset_sink_cp(s, 0xFF61 + (uint32_t)(c - 0x21));
			else
				charset_sink_repl(s);
			i++;
			continue;
		}
		switch (st.g0) {
		case CHARSET_G0_ASCII:
			n = charset_plain_run(p + i, len - i);
			charset_sink_text(s, p + i, n);
			i += n;
			break;
		case CHARSET_G0_UNKNOWN1:
			charset_sink_repl(s);
			i++;
			break;
		case CHARSET_G0_X0208:
			/* the hot loop: pairs until anything else */
			while (i + 1 < len && charset_jis_graphic(p[i]) &&
			       charset_jis_graphic(p[i + 1])) {
				uint16_t cp =
				    charset_jis_map[(p[i] - 0x21) * 94 + (p[i + 1] - 0x21)];

				if (cp) {
					char u[3];

					charset_sink_text(s, u, utf8_put(cp, u));
				} else {
					charset_sink_repl(s);
				}
				i += 2;
			}
			if (i < len && charset_jis_graphic(p[i]) &&
			    (i + 1 >= len || !charset_jis_graphic(p[i + 1]))) {
				charset_sink_repl(s); /* half a pair */
				i++;
			}
			break;
		default:
			if (i + 1 < len && charset_jis_graphic(p[i + 1])) {
				charset_jis_pair(st.g0, c, p[i + 1], s);
				i += 2;
			} else {
				charset_sink_repl(s);
				i++;
			}
			break;
		}
	}
}

/* ---- guessing ---------------------------------------------------------- */

struct charset_scan {
	bool eight;  /* a byte >= 0x80 */
	bool jisesc; /* ESC $ @, ESC $ B, ESC $ ( x, ESC ( I, ESC ( J */
};

static void charset_scan(const uint8_t *p, size_t len, struct charset_scan *sc)
{
	size_t i;

	sc->eight = sc->jisesc = false;
	for (i = 0; i < len; i++) {
		if (p[i] & 0x80) {
			sc->eight = true;
			if (sc->jisesc)
				return;
		} else if (p[i] == 0x1B && i + 2 < len && !sc->jisesc) {
			if ((p[i + 1] == '$' &&
			     (p[i + 2] == '@' || p[i + 2] == 'B' || p[i + 2] == '(')) ||
			    (p[i + 1] == '(' && (p[i + 2] == 'I' || p[i + 2] == 'J'))) {
				sc->jisesc = true;
				if (sc->eight)
					return;
			}
		}
	}
}

struct charset_score {
	size_t common; /* kana, punctuation, level-1 kanji */
	size_t valid;
	size_t bad;
};

static bool charset_sjis_common(uint8_t lead, uint8_t trail)
{
	return (lead == 0x81 && trail <= 0x5B) || (lead == 0x82 && trail >= 0x9F) || lead == 0x83 ||
	       (lead >= 0x88 && lead <= 0x98);
}

static void charset_score_cp932(const uint8_t *p, size_t len, struct charset_score *sc)
{
	size_t i = 0;

	memset(sc, 0, sizeof(*sc));
	while (i < len) {
		uint8_t c = p[i];

		if (c < 0x80) {
			i++;
		} else if (c >= 0xA1 && c <= 0xDF) {
			sc->valid++;
			i++;
		} else if (charset_sjis_lead(c) && i + 1 < len && charset_sjis_trail(p[i + 1]) &&
		           charset_sjis_map[charset_sjis_index(c, p[i + 1])]) {
			if (charset_sjis_common(c, p[i + 1]))
				sc->common++;
			else
				sc->valid++;
			i += 2;
		} else if (c >= 0xF0 && c <= 0xF9 && i + 1 < len && charset_sjis_trail(p[i + 1])) {
			sc->valid++; /* user-defined (gaiji) */
			i += 2;
		} else {
			sc->bad++;
			i++;
		}
	}
}

static void charset_score_eucjp(const uint8_t *p, size_t len, struct charset_score *sc)
{
	size_t i = 0;

	memset(sc, 0, sizeof(*sc));
	while (i < len) {
		uint8_t c = p[i];

		if (c < 0x80) {
			i++;
		} else if (c == 0x8E && i + 1 < len && p[i + 1] >= 0xA1 && p[i + 1] <= 0xDF) {
			sc->valid++;
			i += 2;
		} else if (c == 0x8F && i + 2 < len && charset_euc_byte(p[i + 1]) &&
		           charset_euc_byte(p[i + 2])) {
			sc->valid++;
			i += 3;
		} else if (charset_euc_byte(c) && i + 1 < len && charset_euc_byte(p[i + 1])) {
			uint8_t d = p[i + 1];

			if ((c == 0xA1) || (c == 0xA4 && d <= 0xF3) || (c == 0xA5 && d <= 0xF6) ||
			    (c >= 0xB0 && c <= 0xCF))
				sc->common++;
			else if (charset_jis_map[(c - 0xA1) * 94 + (d - 0xA1)] || c >= 0xF5)
				sc->valid++;
			else
				sc->bad++;
			i += 2;
		} else {
			sc->bad++;
			i++;
		}
	}
}

static long charset_score_value(const struct charset_score *sc)
{
	return (long)(sc->common * 3 + sc->valid) - (long)sc->bad * 8;
}

/* The best reading of 8-bit text (no JIS escapes considered). */
static enum charset_kind charset_guess_8bit(const uint8_t *p, size_t len)
{
	struct charset_utf8_stats u;
	struct charset_score sj, eu;
	long vs, ve, vu;

	if (len > CHARSET_GUESS_BYTES) {
		len = CHARSET_GUESS_BYTES;
		/* do not judge a cut multibyte character */
		while (len > CHARSET_GUESS_BYTES - 4 && (p[len - 1] & 0x80))
			len--;
	}
	charset_utf8_check(p, len, &u);
	if (u.bad == 0 && u.multi > 0)
		return CHARSET_UTF8;
	charset_tables();
	charset_score_cp932(p, len, &sj);
	charset_score_eucjp(p, len, &eu);
	vs = charset_score_value(&sj);
	ve = charset_score_value(&eu);
	vu = (long)u.multi * 4 - (long)u.bad * 8;
	if (vu > 0 && vu >= vs && vu >= ve)
		return CHARSET_UTF8;
	if (vs <= 0 && ve <= 0)
		return CHARSET_GUESS; /* windows-1252 */
	if (ve > vs || (ve == vs && eu.bad < sj.bad))
		return CHARSET_EUCJP;
	return CHARSET_CP932;
}

static enum charset_kind charset_guess_kind(const uint8_t *p, size_t len)
{
	struct charset_scan sc;

	charset_scan(p, len, &sc);
	if (sc.jisesc)
		return CHARSET_ISO2022JP;
	if (!sc.eight)
		return CHARSET_ASCII;
	return charset_guess_8bit(p, len);
}

const char *charset_guess(const void *in, size_t len)
{
	return charset_kind_names[charset_guess_kind(in, len)];
}

/* ---- dispatch ---------------------------------------------------------- */

/* Is the reading of text as `kind` clean (no replacement needed) and
 * convincing? */
static bool charset_clean(enum charset_kind kind, const uint8_t *p, size_t len)
{
	struct charset_score sc;
	struct charset_utf8_stats u;

	switch (kind) {
	case CHARSET_CP932:
		charset_score_cp932(p, len, &sc);
		break;
	case CHARSET_EUCJP:
		charset_score_eucjp(p, len, &sc);
		break;
	case CHARSET_UTF8:
		charset_utf8_check(p, len, &u);
		return u.bad == 0;
	default:
		return false;
	}
	/* clean, and reads as Japanese text: kana, punctuation, common kanji */
	return sc.bad == 0 && sc.common >= 2 && sc.common >= sc.valid;
}

static bool charset_wide_label(const char *name)
{
	return strncmp(name, "utf-16", 6) == 0 || strncmp(name, "utf-32", 6) == 0 ||
	       strncmp(name, "ucs", 3) == 0 || strncmp(name, "utf-7", 5) == 0 ||
	       strncmp(name, "unicode", 7) == 0 || strncmp(name, "iso-2022", 8) == 0 ||
	       strncmp(name, "csiso2022", 9) == 0 || strncmp(name, "hz", 2) == 0;
}

static const char *charset_decode_sink(const char *charset, size_t cslen, const uint8_t *p,
                                       size_t len, struct charset_sink *s)
{
	struct charset_label l;
	struct charset_scan sc;
	enum charset_kind kind;
	iconv_t cd = NULL;

	charset_label_parse(charset, cslen, &l);
	kind = l.kind;
	if (kind == CHARSET_ICONV) {
		cd = charset_iconv_get(l.iconv_name);
		if (!cd) {
			l.unknown = true;
			kind = CHARSET_GUESS;
		}
	}
	if (l.unknown)
		charset_stats.unknown_labels++;

	charset_scan(p, len, &sc);
	if (kind == CHARSET_GUESS) {
		kind = sc.jisesc   ? CHARSET_ISO2022JP
		       : !sc.eight ? CHARSET_ASCII
		                   : charset_guess_8bit(p, len);
	} else if (kind != CHARSET_ISO2022JP && sc.jisesc && !sc.eight &&
	           !(kind == CHARSET_ICONV && charset_wide_label(l.name))) {
		kind = CHARSET_ISO2022JP;
		charset_stats.mislabelled++;
	} else if (kind == CHARSET_ASCII && sc.eight) {
		kind = sc.jisesc ? CHARSET_ISO2022JP : charset_guess_8bit(p, len);
		charset_stats.mislabelled++;
	} else if (kind == CHARSET_ISO2022JP && sc.eight && !sc.jisesc) {
		kind = charset_guess_8bit(p, len);
		charset_stats.mislabelled++;
	} else if (kind == CHARSET_UTF8 && sc.eight) {
		struct charset_utf8_stats u;

		charset_utf8_check(p, len, &u);
		if (u.bad && u.multi <= u.bad) {
			enum charset_kind g = charset_guess_8bit(p, len);

			if ((g == CHARSET_CP932 || g == CHARSET_EUCJP) &&
			    charset_clean(g, p, len)) {
				kind = g;
				charset_stats.mislabelled++;
			}
		}
	} else if ((kind == CHARSET_CP932 || kind == CHARSET_EUCJP ||
	            (kind == CHARSET_ICONV && !charset_wide_label(l.name))) &&
	           sc.eight) {
		struct charset_utf8_stats u;

		charset_utf8_check(p, len, &u);
		if (u.bad == 0 && u.multi >= 2) {
			kind = CHARSET_UTF8;
			charset_stats.mislabelled++;
		}
	}

	switch (kind) {
	case CHARSET_ASCII:
	case CHARSET_UTF8:
		charset_utf8_decode(p, len, s);
		return charset_kind_names[kind];
	case CHARSET_ISO2022JP:
		charset_iso2022jp_decode(p, len, s);
		return charset_kind_names[kind];
	case CHARSET_CP932:
		charset_cp932_decode(p, len, s);
		return charset_kind_names[kind];
	case CHARSET_EUCJP:
		charset_eucjp_decode(p, len, s);
		return charset_kind_names[kind];
	case CHARSET_ICONV:
		if (cd) {
			charset_iconv_decode(cd, p, len, s);
			return charset_intern(l.iconv_name);
		}
		break;
	case CHARSET_GUESS:
		break;
	}
	cd = charset_iconv_get("WINDOWS-1252");
	if (cd)
		charset_iconv_decode(cd, p, len, s);
	else
		charset_utf8_decode(p, len, s);
	return charset_kind_names[CHARSET_GUESS];
}

size_t charset_decode(const char *charset, const void *in, size_t len, struct strbuf *out,
                      const char **used_r)
{
	struct charset_sink s;
	const char *used;

	charset_sink_init(&s, out, false);
	used = charset_decode_sink(charset, charset ? strlen(charset) : 0, in, len, &s);
	charset_sink_end(&s);
	if (used_r)
		*used_r = used;
	return s.repl;
}

/* ---- RFC 2047 encoded words ------------------------------------------ */

#define CHARSET_EW_CHARSET_MAX 64 /* longest charset*lang inside =?...? */

static const int8_t charset_b64[256] = {
    ['A'] = 1,  ['B'] = 2,  ['C'] = 3,  ['D'] = 4,  ['E'] = 5,  ['F'] = 6,  ['G'] = 7,  ['H'] = 8,
    ['I'] = 9,  ['J'] = 10, ['K'] = 11, ['L'] = 12, ['M'] = 13, ['N'] = 14, ['O'] = 15, ['P'] = 16,
    ['Q'] = 17, ['R'] = 18, ['S'] = 19, ['T'] = 20, ['U'] = 21, ['V'] = 22, ['W'] = 23, ['X'] = 24,
    ['Y'] = 25, ['Z'] = 26, ['a'] = 27, ['b'] = 28, ['c'] = 29, ['d'] = 30, ['e'] = 31, ['f'] = 32,
    ['g'] = 33, ['h'] = 34, ['i'] = 35, ['j'] = 36, ['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40,
    ['o'] = 41, ['p'] = 42, ['q'] = 43, ['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47, ['v'] = 48,
    ['w'] = 49, ['x'] = 50, ['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54, ['2'] = 55, ['3'] = 56,
    ['4'] = 57, ['5'] = 58, ['6'] = 59, ['7'] = 60, ['8'] = 61, ['9'] = 62, ['+'] = 63, ['/'] = 64,
};

/* Base64 value + 1 (0 = not base64). */
static inline int charset_b64_value(uint8_t c)
{
	return charset_b64[c] - 1;
}

static int charset_hex(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static inline bool charset_wsp(uint8_t c)
{
	return c == ' ' || c == '\t';
}

struct charset_ew {
	const char *cs;
	size_t cslen;
	char enc; /* 'B' or 'Q' */
	const uint8_t *text;
	size_t textlen;
	size_t end; /* offset just after the word */
};

/* Parse an encoded word at u[pos] == "=?".  Tolerated: lowercase b/q, a
 * missing "?=" (the word ends at white space or at the next "=?"), and
 * white space inside B text when more base64 and "?=" follow it. */
static bool charset_ew_parse(const uint8_t *u, size_t n, size_t pos, struct charset_ew *w)
{
	size_t i = pos + 2, t, j;

	w->cs = (const char *)u + i;
	while (i < n && u[i] != '?' && !charset_wsp(u[i]) && i - pos - 2 < CHARSET_EW_CHARSET_MAX)
		i++;
	w->cslen = i - pos - 2;
	if (w->cslen == 0 || i + 2 >= n || u[i] != '?' || u[i + 2] != '?')
		return false;
	if (u[i + 1] == 'B' || u[i + 1] == 'b')
		w->enc = 'B';
	else if (u[i + 1] == 'Q' || u[i + 1] == 'q')
		w->enc = 'Q';
	else
		return false;
	t = i + 3;
	w->text = u + t;
	for (j = t; j < n; j++) {
		if (u[j] == '?' && j + 1 < n && u[j + 1] == '=') {
			w->textlen = j - t;
			w->end = j + 2;
			return true;
		}
		if (u[j] == '=' && j + 2 < n && u[j + 1] == '?' && u[j + 2] != '=' &&
		    u[j + 2] != '?')
			break; /* the next word begins: this one lacks "?=" */
		if (charset_wsp(u[j])) {
			size_t k = j, m;

			if (w->enc != 'B')
				break;
			while (k < n && charset_wsp(u[k]))
				k++;
			m = k;
			while (m < n && (charset_b64[u[m]] || u[m] == '='))
				m++;
			if (m == k || m + 1 >= n || u[m] != '?' || u[m + 1] != '=')
				break;
			j = m - 1;
		}
	}
	w->textlen = j - t;
	w->end = j;
	return true;
}

/* Adjacent encoded words of one charset, decoded to raw bytes, converted
 * together so that a character split across words comes out whole. */
struct charset_ewgroup {
	bool active;
	bool bad; /* bad base64: U+FFFD after the bytes */
	const char *cs;
	size_t cslen;
	struct strbuf bytes;
	uint32_t acc; /* base64 bits carried across words */
	unsigned nb;  /* sextets in acc */
};

static bool charset_ew_same(const struct charset_ewgroup *g, const struct charset_ew *w)
{
	size_t a = 0, b = 0;

	while (a < g->cslen && g->cs[a] != '*')
		a++;
	while (b < w->cslen && w->cs[b] != '*')
		b++;
	return a == b && strncasecmp(g->cs, w->cs, a) == 0;
}

/* Bytes of a partial base64 quantum (2 or 3 sextets). */
static void charset_b64_partial(struct charset_ewgroup *g)
{
	uint8_t b[2];

	if (g->nb == 2) {
		b[0] = (uint8_t)(g->acc >> 4);
		strbuf_append(&g->bytes, b, 1);
	} else if (g->nb == 3) {
		b[0] = (uint8_t)(g->acc >> 10);
		b[1] = (uint8_t)(g->acc >> 2);
		strbuf_append(&g->bytes, b, 2);
	} else if (g->nb == 1) {
		g->bad = true;
	}
	g->nb = 0;
	g->acc = 0;
}

static void charset_ew_flush(struct charset_ewgroup *g, struct charset_sink *s)
{
	if (!g->active)
		return;
	charset_b64_partial(g);
	charset_decode_sink(g->cs, g->cslen, (const uint8_t *)g->bytes.s, g->bytes.len, s);
	if (g->bad)
		charset_sink_repl(s);
	strbuf_reset(&g->bytes);
	g->active = false;
	g->bad = false;
}

static void charset_ew_add(struct charset_ewgroup *g, const struct charset_ew *w,
                           struct charset_sink *s)
{
	size_t i;

	if (g->active && !charset_ew_same(g, w))
		charset_ew_flush(g, s);
	if (!g->active) {
		g->active = true;
		g->cs = w->cs;
		g->cslen = w->cslen;
	}
	if (w->enc == 'Q') {
		charset_b64_partial(g);
		for (i = 0; i < w->textlen; i++) {
			uint8_t c = w->text[i];
			int h, l;

			if (c == '_') {
				c = ' ';
			} else if (c == '=' && i + 2 < w->textlen &&
			           (h = charset_hex(w->text[i + 1])) >= 0 &&
			           (l = charset_hex(w->text[i + 2])) >= 0) {
				c = (uint8_t)(h << 4 | l);
				i += 2;
			}
			strbuf_append(&g->bytes, &c, 1);
		}
		return;
	}
	for (i = 0; i < w->textlen; i++) {
		uint8_t c = w->text[i];
		int v;

		if (charset_wsp(c))
			continue;
		if (c == '=') {
			charset_b64_partial(g);
			continue;
		}
		v = charset_b64_value(c);
		if (v < 0) {
			/* decoded as far as possible; the rest is one U+FFFD */
			g->nb = 0;
			g->bad = true;
			charset_ew_flush(g, s);
			return;
		}
		g->acc = (g->acc << 6) | (uint32_t)v;
		if (++g->nb == 4) {
			uint8_t b[3] = {(uint8_t)(g->acc >> 16), (uint8_t)(g->acc >> 8),
			                (uint8_t)g->acc};

			strbuf_append(&g->bytes, b, 3);
			g->nb = 0;
			g->acc = 0;
		}
	}
	/* An unpadded word whose spare bits are zero was complete; other
	 * leftovers are carried into the next word (encoders that split the
	 * base64 text itself) and settled when the group ends. */
	if ((g->nb == 2 && (g->acc & 0xF) == 0) || (g->nb == 3 && (g->acc & 0x3) == 0))
		charset_b64_partial(g);
}

/* Text outside encoded words: ASCII as is, anything else guessed. */
static void charset_header_raw(const uint8_t *p, size_t n, struct charset_sink *s)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] >= 0x80 || p[i] == 0x1B)
			break;
	if (i == n)
		charset_utf8_decode(p, n, s);
	else
		charset_decode_sink(NULL, 0, p, n, s);
}

/* Unfold: CR LF (or a lone CR or LF) before white space goes; elsewhere it
 * is a space.  Leading and trailing white space goes too. */
static void charset_unfold(const uint8_t *in, size_t len, struct strbuf *u)
{
	size_t i = 0, start;

	while (i < len) {
		start = i;
		while (i < len && in[i] != '\r' && in[i] != '\n')
			i++;
		strbuf_append(u, in + start, i - start);
		if (i == len)
			break;
		if (in[i] == '\r' && i + 1 < len && in[i + 1] == '\n')
			i++;
		i++;
		if (i < len && !charset_wsp(in[i]))
			strbuf_putc(u, ' ');
	}
	while (u->len && charset_wsp((uint8_t)u->s[u->len - 1]))
		u->len--;
	if (u->s)
		u->s[u->len] = '\0';
}

size_t charset_decode_header(const char *in, size_t len, struct strbuf *out)
{
	struct charset_sink s;
	struct charset_ewgroup g;
	struct strbuf ub;
	const uint8_t *u;
	size_t n, pos = 0, raw = 0;
	bool jis2 = false;

	strbuf_init(&ub, 0);
	charset_unfold((const uint8_t *)in, len, &ub);
	u = (const uint8_t *)(ub.s ? ub.s : "");
	n = ub.len;
	while (pos < n && charset_wsp(u[pos]))
		pos++;
	raw = pos;
	memset(&g, 0, sizeof(g));
	strbuf_init(&g.bytes, 0);
	charset_sink_init(&s, out, true);
	while (pos < n) {
		struct charset_ew w;

		if (u[pos] == 0x1B && pos + 1 < n) {
			/* raw ISO-2022-JP: "=?" inside a two-byte run is text */
			if (u[pos + 1] == '$')
				jis2 = true;
			else if (u[pos + 1] == '(')
				jis2 = false;
		}
		if (jis2 || u[pos] != '=' || pos + 1 >= n || u[pos + 1] != '?' ||
		    !charset_ew_parse(u, n, pos, &w)) {
			pos++;
			continue;
		}
		if (pos > raw) {
			size_t k = raw;

			while (k < pos && charset_wsp(u[k]))
				k++;
			/* white space between adjacent encoded words goes */
			if (k < pos || !g.active) {
				charset_ew_flush(&g, &s);
				charset_header_raw(u + raw, pos - raw, &s);
			}
		}
		charset_ew_add(&g, &w, &s);
		pos = raw = w.end;
	}
	charset_ew_flush(&g, &s);
	if (raw < n)
		charset_header_raw(u + raw, n - raw, &s);
	charset_sink_end(&s);
	strbuf_free(&g.bytes);
	strbuf_free(&ub);
	return s.repl;
}

/* ---- RFC 2231 ------------------------------------------------------------ */

size_t charset_decode_rfc2231(const char *value, size_t len, struct strbuf *out)
{
	struct charset_sink s;
	struct strbuf b;
	const char *cs = NULL, *q1, *q2, *p = value;
	size_t cslen = 0, i;

	q1 = memchr(value, '\'', len < CHARSET_EW_CHARSET_MAX ? len : CHARSET_EW_CHARSET_MAX);
	if (q1) {
		size_t rest = len - (size_t)(q1 + 1 - value);

		q2 = memchr(q1 + 1, '\'',
		            rest < CHARSET_EW_CHARSET_MAX ? rest : CHARSET_EW_CHARSET_MAX);
		if (q2) {
			cs = value;
			cslen = (size_t)(q1 - value);
			p = q2 + 1;
			len -= (size_t)(p - value);
		}
	}
	strbuf_init(&b, 0);
	for (i = 0; i < len; i++) {
		uint8_t c = (uint8_t)p[i];
		int h, l;

		if (c == '%' && i + 2 < len && (h = charset_hex((uint8_t)p[i + 1])) >= 0 &&
		    (l = charset_hex((uint8_t)p[i + 2])) >= 0) {
			c = (uint8_t)(h << 4 | l);
			i += 2;
		}
		strbuf_append(&b, &c, 1);
	}
	charset_sink_init(&s, out, true);
	charset_decode_sink(cslen ? cs : NULL, cslen, (const uint8_t *)(b.s ? b.s : ""), b.len, &s);
	charset_sink_end(&s);
	strbuf_free(&b);
	return s.repl;
}

/* ---- UTF-8 to ISO-2022-JP ---------------------------------------------- */

/* Unicode -> JIS X 0208 (row << 8 | cell, 0x2121-0x7E7E), 0 = none. */
static uint16_t *charset_jis_rev;
static pthread_once_t charset_rev_once = PTHREAD_ONCE_INIT;
/* U+FF61-U+FF9F as the full-width characters CP50220 sends instead. */
static uint16_t charset_kana_full[63];

static void charset_rev_build(void)
{
	/* JIS spellings of characters CP932 maps elsewhere (wave dash, minus,
	 * yen...): accepted on output, read back as CP932's choice. */
	static const uint32_t alias[][2] = {
	    {0x301C, 0x2141}, {0x2016, 0x2142}, {0x2212, 0x215D}, {0x00A2, 0x2171},
	    {0x00A3, 0x2172}, {0x00AC, 0x224C}, {0x2014, 0x213D}, {0x00A5, 0x216F},
	    {0x203E, 0x2131}, {0x00A6, 0x7C7B},
	};
	static const char kana[] =
	    "。「」、・ヲァィゥェォャュョッーアイウエオカキクケコサシスセソタチツテトナ"
	    "ニヌネノハヒフヘホマミムメモヤユヨラリルレロワン゛゜";
	unsigned row, cell;
	size_t i, k = 0, n, bad;

	charset_tables();
	charset_jis_rev = xcalloc(0x10000, sizeof(uint16_t));
	/* lowest code first: JIS rows 1-8 and NEC row 13 win over the IBM
	 * duplicates of rows 89-92 */
	for (row = 0; row < 94; row++) {
		for (cell = 0; cell < 94; cell++) {
			uint16_t cp = charset_jis_map[row * 94 + cell];

			if (cp && !charset_jis_rev[cp])
				charset_jis_rev[cp] = (uint16_t)((row + 0x21) << 8 | (cell + 0x21));
		}
	}
	for (i = 0; i < sizeof(alias) / sizeof(alias[0]); i++)
		if (!charset_jis_rev[alias[i][0]])
			charset_jis_rev[alias[i][0]] = (uint16_t)alias[i][1];
	for (i = 0; i < sizeof(kana) - 1 && k < 63; i += n) {
		n = charset_utf8_seq((const uint8_t *)kana + i, sizeof(kana) - 1 - i, &bad);
		if (!n)
			break;
		charset_kana_full[k++] = (uint16_t)charset_utf8_cp((const uint8_t *)kana + i, n);
	}
}

static void charset_rev(void)
{
	pthread_once(&charset_rev_once, charset_rev_build);
}

/* Next code point of UTF-8 text; invalid bytes give U+FFFD. */
static uint32_t charset_next_cp(const uint8_t *p, size_t len, size_t *i)
{
	size_t bad, n = charset_utf8_seq(p + *i, len - *i, &bad);

	if (!n) {
		*i += bad;
		return 0xFFFD;
	}
	*i += n;
	return charset_utf8_cp(p + *i - n, n);
}

/* The voiced (or semi-voiced) form of katakana k, 0 if it has none. */
static uint32_t charset_kana_voiced(uint32_t k, bool semi)
{
	if (!semi) {
		if (k == 0x30A6)
			return 0x30F4;
		if ((k >= 0x30AB && k <= 0x30C1 && (k - 0x30AB) % 2 == 0) || k == 0x30C4 ||
		    k == 0x30C6 || k == 0x30C8)
			return k + 1;
	}
	if (k >= 0x30CF && k <= 0x30DB && (k - 0x30CF) % 3 == 0)
		return k + (semi ? 2 : 1);
	return 0;
}

/* Next character to encode: half-width katakana become full width, with a
 * following (semi-)voiced sound mark folded in.  *bad_r: invalid UTF-8. */
static uint32_t charset_next_char(const uint8_t *p, size_t len, size_t *i, bool *bad_r)
{
	size_t at = *i;
	uint32_t cp = charset_next_cp(p, len, i), k, v;

	*bad_r = cp == 0xFFFD &&
	         !(len - at >= 3 && p[at] == 0xEF && p[at + 1] == 0xBF && p[at + 2] == 0xBD);
	if (cp < 0xFF61 || cp > 0xFF9F)
		return cp;
	k = charset_kana_full[cp - 0xFF61];
	if (*i < len) {
		size_t j = *i;
		uint32_t mark = charset_next_cp(p, len, &j);

		if ((mark == 0xFF9E || mark == 0xFF9F) &&
		    (v = charset_kana_voiced(k, mark == 0xFF9F))) {
			*i = j;
			return v;
		}
	}
	return k;
}

struct charset_jisenc {
	bool kanji; /* ESC $ B is in force */
};

/* Append the ISO-2022-JP bytes of one character; false if it had to be
 * sent as 〓. */
static bool charset_jisenc_char(struct charset_jisenc *st, uint32_t cp, struct strbuf *out)
{
	uint16_t jis;
	bool ok = true;

	if (cp < 0x80 && cp != 0x1B && cp != 0x0E && cp != 0x0F) {
		char c = (char)cp;

		if (st->kanji) {
			strbuf_append(out, "\x1b(B", 3);
			st->kanji = false;
		}
		strbuf_putc(out, c);
		return true;
	}
	jis = cp < 0x10000 ? charset_jis_rev[cp] : 0;
	if (!jis) {
		jis = charset_jis_rev[CHARSET_GETA];
		ok = false;
	}
	if (!st->kanji) {
		strbuf_append(out, "\x1b$B", 3);
		st->kanji = true;
	}
	strbuf_putc(out, (char)(jis >> 8));
	strbuf_putc(out, (char)(jis & 0xFF));
	return ok;
}

static void charset_jisenc_end(struct charset_jisenc *st, struct strbuf *out)
{
	if (st->kanji)
		strbuf_append(out, "\x1b(B", 3);
	st->kanji = false;
}

size_t charset_encode_iso2022jp(const char *utf8, size_t len, struct strbuf *out)
{
	const uint8_t *p = (const uint8_t *)utf8;
	struct charset_jisenc st = {false};
	size_t i = 0, bad = 0;

	charset_rev();
	while (i < len) {
		bool invalid;
		uint32_t cp;

		if (charset_plain(p[i]) && !st.kanji) {
			size_t n = charset_plain_run(p + i, len - i);

			strbuf_append(out, p + i, n);
			i += n;
			continue;
		}
		cp = charset_next_char(p, len, &i, &invalid);
		if (!charset_jisenc_char(&st, cp, out) || invalid)
			bad++;
	}
	charset_jisenc_end(&st, out);
	return bad;
}

/* ---- header encoding ----------------------------------------------------- */

#define CHARSET_LINE_MAX 78 /* bytes per header line, CRLF not counted */
#define CHARSET_WORD_MAX 75 /* bytes per encoded word (RFC 2047) */

/* Headers whose tokens are message identifiers: never encoded. */
static bool charset_msgid_header(const char *name)
{
	return strcasecmp(name, "Message-ID") == 0 || strcasecmp(name, "In-Reply-To") == 0 ||
	       strcasecmp(name, "References") == 0 || strcasecmp(name, "Content-ID") == 0 ||
	       strcasecmp(name, "Resent-Message-ID") == 0;
}

struct charset_hdr {
	struct strbuf *out;
	size_t col; /* bytes on the current line */
	bool jp;
};

/* Start the next item: a space, or a fold when `need` bytes do not fit. */
static void charset_hdr_space(struct charset_hdr *h, size_t need)
{
	if (h->col + 1 + need > CHARSET_LINE_MAX && h->col > 1) {
		strbuf_append(h->out, "\r\n ", 3);
		h->col = 1;
	} else {
		strbuf_putc(h->out, ' ');
		h->col++;
	}
}

static void charset_hdr_word(struct charset_hdr *h, const uint8_t *raw, size_t n)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const char *pre = h->jp ? "=?ISO-2022-JP?B?" : "=?UTF-8?B?";
	size_t i, start = h->out->len;

	strbuf_puts(h->out, pre);
	for (i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)raw[i] << 16;
		char q[4];

		if (i + 1 < n)
			v |= (uint32_t)raw[i + 1] << 8;
		if (i + 2 < n)
			v |= raw[i + 2];
		q[0] = tab[v >> 18];
		q[1] = tab[(v >> 12) & 63];
		q[2] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
		q[3] = i + 2 < n ? tab[v & 63] : '=';
		strbuf_append(h->out, q, 4);
	}
	strbuf_append(h->out, "?=", 2);
	h->col += h->out->len - start;
}

/* Encode p[0..len) (UTF-8, spaces included) as encoded words. */
static void charset_hdr_encode(struct charset_hdr *h, const uint8_t *p, size_t len, size_t *bad)
{
	size_t over = h->jp ? 18 : 12; /* "=?ISO-2022-JP?B?" "?=" */
	size_t i = 0;
	bool space = false;
	struct strbuf raw, unit;

	strbuf_init(&raw, 0);
	strbuf_init(&unit, 0);
	while (i < len) {
		struct charset_jisenc st = {false};
		size_t room, budget;

		/* the widest word that fits: on this line, or on a new one */
		room = h->col + 1 < CHARSET_LINE_MAX ? CHARSET_LINE_MAX - h->col - 1 : 0;
		if (room < over + 12)
			room = CHARSET_LINE_MAX - 1;
		if (room > CHARSET_WORD_MAX)
			room = CHARSET_WORD_MAX;
		budget = (room - over) / 4 * 3;
		strbuf_reset(&raw);
		while (i < len) {
			size_t j = i, close;
			bool invalid = false;
			uint32_t cp = h->jp ? charset_next_char(p, len, &j, &invalid)
			                    : charset_next_cp(p, len, &j);
			struct charset_jisenc st2 = st;

			strbuf_reset(&unit);
			if (cp <= 0x20 || cp == 0x7F) {
				if (space) {
					i = j; /* one space for a run */
					continue;
				}
				cp = ' ';
			}
			if (h->jp) {
				if (!charset_jisenc_char(&st2, cp, &unit))
					invalid = true;
			} else {
				char b[4];

				strbuf_append(&unit, b, utf8_put(cp, b));
			}
			close = st2.kanji ? 3 : 0;
			if (raw.len && raw.len + unit.len + close > budget)
				break;
			/* only a space that was written starts a run: one that did
			 * not fit opens the next word instead of vanishing */
			space = cp == ' ';
			strbuf_append(&raw, unit.s, unit.len);
			st = st2;
			i = j;
			if (invalid)
				(*bad)++;
		}
		charset_jisenc_end(&st, &raw);
		charset_hdr_space(h, over + (raw.len + 2) / 3 * 4);
		charset_hdr_word(h, (const uint8_t *)raw.s, raw.len);
	}
	strbuf_free(&raw);
	strbuf_free(&unit);
}

void charset_encode_header(const char *name, const char *utf8, size_t len, bool iso2022jp,
                           struct strbuf *out)
{
	const uint8_t *p = (const uint8_t *)utf8;
	struct charset_hdr h = {out, 0, iso2022jp};
	bool msgid = charset_msgid_header(name);
	size_t i = 0, bad = 0, enc_start = 0, enc_end = 0;
	bool encoding = false;

	if (iso2022jp)
		charset_rev();
	for (; *name; name++)
		if (*name > 0x20 && *name < 0x7F && *name != ':')
			strbuf_putc(out, *name);
	strbuf_putc(out, ':');
	{
		/* the column after "Name:" (out may hold earlier fields) */
		size_t k = out->len;

		while (k > 0 && out->s[k - 1] != '\n')
			k--;
		h.col = out->len - k;
	}
	/* tokens separated by white space (and controls, which never reach
	 * the output); a run of tokens that need encoding becomes one run of
	 * encoded words, the white space between them encoded as one space */
	while (i < len) {
		size_t start, end, k;
		bool plain = true;

		while (i < len && (p[i] <= 0x20 || p[i] == 0x7F))
			i++;
		if (i == len)
			break;
		start = i;
		while (i < len && p[i] > 0x20 && p[i] != 0x7F) {
			if (p[i] >= 0x80)
				plain = false;
			i++;
		}
		end = i;
		if (plain && !msgid) {
			for (k = start; k + 1 < end; k++)
				if (p[k] == '=' && p[k + 1] == '?')
					plain = false;
			if (end - start > CHARSET_LINE_MAX - 2)
				plain = false;
		}
		if (!plain) {
			if (!encoding)
				enc_start = start;
			encoding = true;
			enc_end = end;
			continue;
		}
		if (encoding) {
			charset_hdr_encode(&h, p + enc_start, enc_end - enc_start, &bad);
			encoding = false;
		}
		charset_hdr_space(&h, end - start);
		strbuf_append(out, p + start, end - start);
		h.col += end - start;
	}
	if (encoding)
		charset_hdr_encode(&h, p + enc_start, enc_end - enc_start, &bad);
	strbuf_append(out, "\r\n", 2);
}

/*
 * mime - GMime reading of the raw message into a tree, with limits and
 * defects (see mime.h).
 *
 * Trust: none in the input.  Content is taken from the raw bytes GMime
 * bounded (its persistent substreams), decoded here with our own reading
 * of Content-Transfer-Encoding; parameters (boundary, name, filename) are
 * also re-read from the raw header values by our own parser so that
 * duplicates, RFC 2231 pieces and conflicts are seen, not hidden by GMime's
 * choice.  Failure: none; what cannot be read is recorded as a defect and
 * kept as bytes.
 */
#include "mime.h"
#include "charset.h"
#include "xalloc.h"

#include <gmime/gmime.h>
#include <openssl/cms.h>
#include <openssl/evp.h>
#include <openssl/objects.h>

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIME_MAX_DEFECTS 200
#define MIME_MAX_BOUNDARIES 4096
#define MIME_MAX_PARAM_PIECES 256
#define MIME_MAX_NAME_BYTES 1024
#define MIME_MAX_HEADER_VALUE 65536
/* header fields in the whole message, all parts (GMime: ~600 bytes each) */
#define MIME_MAX_HEADER_FIELDS 50000

struct mime_walk {
	struct mime_tree *t;
	const struct mime_limits *lim;
	const char *base; /* the buffer GMime's substream bounds refer to */
	size_t baselen;
	bool stop; /* a limit was hit: read no further */
};

static void mime_walk_object(struct mime_walk *w, GMimeObject *o, struct mime_node *parent,
                             const char *path, unsigned depth, bool hidden);

/* ---- small helpers ---------------------------------------------------- */

static char *mime_strdup_lower(const char *s, size_t n)
{
	char *r = xstrndup(s, n);

	for (char *p = r; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return r;
}

static void mime_trim(const char **s, size_t *n)
{
	while (*n && isspace((unsigned char)**s)) {
		(*s)++;
		(*n)--;
	}
	while (*n && isspace((unsigned char)(*s)[*n - 1]))
		(*n)--;
}

/* Copy a raw header value with folding removed and control bytes dropped. */
static char *mime_unfold(const char *v)
{
	struct strbuf b = STRBUF_INIT;
	size_t n;
	const char *s = v;

	strbuf_init(&b, MIME_MAX_HEADER_VALUE);
	for (; *s; s++) {
		if (*s == '\r' || *s == '\n')
			continue;
		if (*s == '\t') {
			strbuf_putc(&b, ' ');
			continue;
		}
		strbuf_putc(&b, *s);
	}
	s = b.s ? b.s : "";
	n = b.len;
	mime_trim(&s, &n);
	{
		char *r = xstrndup(s, n);

		strbuf_free(&b);
		return r;
	}
}

void mime_defect(struct mime_tree *t, const char *code, const char *path, const char *fmt, ...)
{
	char detail[512];
	struct mime_defect *d;

	detail[0] = '\0';
	if (fmt) {
		va_list ap;
		int r;

		va_start(ap, fmt);
		r = vsnprintf(detail, sizeof(detail), fmt, ap);
		va_end(ap);
		if (r < 0)
			detail[0] = '\0';
		/* a long detail is cut; that is fine for a diagnostic */
	}
	for (size_t i = 0; i < t->defects.n; i++) {
		d = &t->defects.v[i];
		if (strcmp(d->code, code) == 0 && strcmp(d->path, path ? path : "") == 0 &&
		    strcmp(d->detail ? d->detail : "", detail) == 0)
			return;
	}
	if (t->defects.n >= MIME_MAX_DEFECTS) {
		if (t->defects.n == MIME_MAX_DEFECTS) {
			d = VEC_PUSH(t->defects);
			d->code = xstrdup("too_many_defects");
			d->path = xstrdup("");
		}
		return;
	}
	d = VEC_PUSH(t->defects);
	d->code = xstrdup(code);
	d->path = xstrdup(path ? path : "");
	d->detail = detail[0] ? xstrdup(detail) : NULL;
}

const char *mime_header(const struct mime_tree *t, const char *name)
{
	for (size_t i = 0; i < t->headers.n; i++)
		if (strcasecmp(t->headers.v[i].name, name) == 0)
			return t->headers.v[i].value;
	return NULL;
}

size_t mime_header_block_size(const char *raw, size_t len)
{
	size_t i = 0;

	/* an empty first line: no headers at all */
	if (len >= 1 && raw[0] == '\n')
		return 1;
	if (len >= 2 && raw[0] == '\r' && raw[1] == '\n')
		return 2;
	while (i < len) {
		const char *nl = memchr(raw + i, '\n', len - i);

		if (!nl)
			return len + 1;
		i = (size_t)(nl - raw) + 1;
		if (i < len && raw[i] == '\n')
			return i + 1;
		if (i + 1 < len && raw[i] == '\r' && raw[i + 1] == '\n')
			return i + 2;
	}
	return len + 1;
}

/* ---- parameters (our own reading of the raw header value) -------------- */

struct mime_param {
	char *name; /* lowercased attribute, with any "*N*" suffix */
	char *value;
};

struct mime_params {
	struct mime_param *v;
	size_t n, cap;
};

static void mime_params_free(struct mime_params *ps)
{
	for (size_t i = 0; i < ps->n; i++) {
		free(ps->v[i].name);
		free(ps->v[i].value);
	}
	free(ps->v);
	memset(ps, 0, sizeof(*ps));
}

/* Parse "type/subtype; a=b; c="d"" leniently: quoted strings with
 * backslash escapes, comments skipped, unquoted values up to ';'. */
static void mime_params_parse(const char *v, struct mime_params *ps)
{
	const char *p = v;

	/* skip the type (or disposition type), respecting quotes */
	while (*p && *p != ';') {
		if (*p == '"') {
			p++;
			while (*p && *p != '"')
				p++;
			if (*p)
				p++;
			continue;
		}
		p++;
	}
	while (*p && ps->n < MIME_MAX_PARAM_PIECES) {
		const char *a, *ae;
		struct strbuf val = STRBUF_INIT;
		struct mime_param *mp;

		while (*p == ';' || isspace((unsigned char)*p))
			p++;
		if (*p == '(') { /* comment */
			int depth = 0;

			while (*p) {
				if (*p == '(')
					depth++;
				else if (*p == ')' && --depth == 0) {
					p++;
					break;
				}
				p++;
			}
			continue;
		}
		if (!*p)
			break;
		a = p;
		while (*p && *p != '=' && *p != ';')
			p++;
		ae = p;
		if (*p != '=') /* attribute without a value: skip */
			continue;
		p++;
		while (isspace((unsigned char)*a) && a < ae)
			a++;
		while (ae > a && isspace((unsigned char)ae[-1]))
			ae--;
		while (*p == ' ' || *p == '\t')
			p++;
		strbuf_init(&val, MIME_MAX_HEADER_VALUE);
		if (*p == '"') {
			p++;
			while (*p && *p != '"') {
				if (*p == '\\' && p[1])
					p++;
				strbuf_putc(&val, *p++);
			}
			if (*p == '"')
				p++;
			/* anything after the closing quote up to ';' is junk */
			while (*p && *p != ';')
				p++;
		} else {
			const char *s = p, *e;

			while (*p && *p != ';')
				p++;
			e = p;
			while (e > s && isspace((unsigned char)e[-1]))
				e--;
			strbuf_append(&val, s, (size_t)(e - s));
		}
		if (ae == a) {
			strbuf_free(&val);
			continue;
		}
		mp = VEC_PUSH(*ps);
		mp->name = mime_strdup_lower(a, (size_t)(ae - a));
		mp->value = val.s ? strbuf_detach(&val) : xstrdup("");
	}
}

/* Every value of parameter `name` (exact attribute), in order. */
static size_t mime_params_count(const struct mime_params *ps, const char *name)
{
	size_t n = 0;

	for (size_t i = 0; i < ps->n; i++)
		if (strcmp(ps->v[i].name, name) == 0)
			n++;
	return n;
}

static int mime_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static void mime_pct_decode(const char *s, struct strbuf *out)
{
	for (; *s; s++) {
		int h, l;

		if (*s == '%' && (h = mime_hexval((unsigned char)s[1])) >= 0 &&
		    (l = mime_hexval((unsigned char)s[2])) >= 0) {
			strbuf_putc(out, (char)(h * 16 + l));
			s += 2;
		} else
			strbuf_putc(out, *s);
	}
}

/* A plain (non-2231) value to UTF-8: RFC 2047 words are decoded (common in
 * the wild though not allowed in parameters), 8-bit bytes guessed. */
static void mime_decode_plain(const char *v, struct strbuf *out)
{
	charset_decode_header(v, strlen(v), out);
}

struct mime_piece {
	long idx;
	bool ext;
	const char *value;
	size_t order;
};

static int mime_piece_cmp(const void *a, const void *b)
{
	const struct mime_piece *x = a, *y = b;

	if (x->idx != y->idx)
		return x->idx < y->idx ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

/*
 * The value of parameter `attr` in ps, decoded to UTF-8: RFC 2231
 * (attr*=, attr*0=, attr*1*=, ... reordered by index) preferred, else the
 * plain attr=.  When both exist and differ, the other goes to *alt_r.
 * Returns NULL when absent.
 */
static char *mime_param_decoded(struct mime_tree *t, const char *path, const struct mime_params *ps,
                                const char *attr, char **alt_r)
{
	size_t alen = strlen(attr);
	struct mime_piece pieces[MIME_MAX_PARAM_PIECES];
	size_t np = 0;
	const char *plain = NULL;
	bool out_of_order = false;
	long last = -1;
	char *ext = NULL, *pl = NULL;

	*alt_r = NULL;
	for (size_t i = 0; i < ps->n; i++) {
		const char *n = ps->v[i].name, *rest;

		if (strncmp(n, attr, alen) != 0)
			continue;
		rest = n + alen;
		if (*rest == '\0') {
			if (!plain)
				plain = ps->v[i].value;
			continue;
		}
		if (*rest != '*')
			continue;
		rest++;
		if (*rest == '\0') { /* attr*= : one extended piece */
			pieces[np++] = (struct mime_piece){0, true, ps->v[i].value, i};
			continue;
		}
		if (isdigit((unsigned char)*rest)) {
			char *end;
			long idx = strtol(rest, &end, 10);

			if (idx < 0 || idx > 999 || (*end != '\0' && strcmp(end, "*") != 0))
				continue;
			if (idx < last)
				out_of_order = true;
			last = idx;
			pieces[np++] = (struct mime_piece){idx, *end == '*', ps->v[i].value, i};
		}
	}
	if (np) {
		struct strbuf bytes = STRBUF_INIT, u = STRBUF_INIT;
		char charset[64] = "";

		strbuf_init(&bytes, MIME_MAX_HEADER_VALUE);
		strbuf_init(&u, MIME_MAX_HEADER_VALUE);
		qsort(pieces, np, sizeof(pieces[0]), mime_piece_cmp);
		if (out_of_order)
			mime_defect(t, "rfc2231_pieces_out_of_order", path, "%s", attr);
		for (size_t i = 0; i < np; i++) {
			const char *v = pieces[i].value;

			if (i > 0 && pieces[i].idx == pieces[i - 1].idx) {
				mime_defect(t, "rfc2231_duplicate_piece", path, "%s*%ld", attr,
				            pieces[i].idx);
				continue;
			}
			if (i > 0 && pieces[i].idx != pieces[i - 1].idx + 1)
				mime_defect(t, "rfc2231_missing_piece", path, "%s", attr);
			if (pieces[i].ext && i == 0) {
				/* charset'language'value */
				const char *q1 = strchr(v, '\''),
				           *q2 = q1 ? strchr(q1 + 1, '\'') : NULL;

				if (q1 && q2) {
					size_t cl = (size_t)(q1 - v);

					if (cl < sizeof(charset)) {
						memcpy(charset, v, cl);
						charset[cl] = '\0';
					}
					v = q2 + 1;
				}
			}
			if (pieces[i].ext)
				mime_pct_decode(v, &bytes);
			else
				strbuf_puts(&bytes, v);
		}
		charset_decode(charset[0] ? charset : NULL, bytes.s ? bytes.s : "", bytes.len, &u,
		               NULL);
		ext = u.s ? strbuf_detach(&u) : xstrdup("");
		strbuf_free(&bytes);
		strbuf_free(&u);
	}
	if (plain) {
		struct strbuf u = STRBUF_INIT;

		strbuf_init(&u, MIME_MAX_HEADER_VALUE);
		mime_decode_plain(plain, &u);
		pl = u.s ? strbuf_detach(&u) : xstrdup("");
		strbuf_free(&u);
	}
	if (ext && pl) {
		if (strcmp(ext, pl) != 0) {
			mime_defect(t, "rfc2231_conflicts_with_plain", path, "%s", attr);
			*alt_r = pl;
		} else
			free(pl);
		return ext;
	}
	return ext ? ext : pl;
}

/* Cut a decoded name to a sane length on a UTF-8 boundary. */
static char *mime_name_cap(char *s)
{
	size_t n;

	if (!s)
		return NULL;
	n = strlen(s);
	if (n > MIME_MAX_NAME_BYTES) {
		n = MIME_MAX_NAME_BYTES;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
		s[n] = '\0';
	}
	return s;
}

/* ---- boundaries ------------------------------------------------------- */

static int mime_strcmp_p(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void mime_boundary_add(struct mime_tree *t, const char *s, size_t n)
{
	char *b;

	if (n == 0 || t->boundaries.n >= MIME_MAX_BOUNDARIES || memchr(s, '\0', n))
		return;
	b = xstrndup(s, n);
	*(char **)VEC_PUSH(t->boundaries) = b;
}

/* Collect every boundary= value in the raw bytes, wherever it appears
 * (the reading that cuts more), as written and with whitespace trimmed. */
static void mime_boundaries_collect(struct mime_tree *t, const char *raw, size_t len)
{
	size_t i = 0;

	while (i + 9 <= len) {
		const char *p = memchr(raw + i, '=', len - i);
		size_t eq, k, s, e;

		if (!p)
			break;
		eq = (size_t)(p - raw);
		i = eq + 1;
		k = eq;
		while (k > 0 && (raw[k - 1] == ' ' || raw[k - 1] == '\t' || raw[k - 1] == '*' ||
		                 isdigit((unsigned char)raw[k - 1])))
			k--;
		if (k < 8 || strncasecmp(raw + k - 8, "boundary", 8) != 0)
			continue;
		s = eq + 1;
		while (s < len && (raw[s] == ' ' || raw[s] == '\t'))
			s++;
		if (s < len && raw[s] == '"') {
			s++;
			e = s;
			while (e < len && raw[e] != '"' && raw[e] != '\n' && raw[e] != '\r')
				e++;
		} else {
			e = s;
			while (e < len && raw[e] != ';' && raw[e] != '\n' && raw[e] != '\r' &&
			       raw[e] != ' ' && raw[e] != '\t')
				e++;
		}
		if (e - s > 998)
			continue;
		mime_boundary_add(t, raw + s, e - s);
		{
			const char *ts = raw + s;
			size_t tn = e - s;

			mime_trim(&ts, &tn);
			if (tn != e - s)
				mime_boundary_add(t, ts, tn);
		}
		i = e;
	}
	if (t->boundaries.n) {
		size_t o = 1;

		qsort(t->boundaries.v, t->boundaries.n, sizeof(char *), mime_strcmp_p);
		for (size_t j = 1; j < t->boundaries.n; j++) {
			if (strcmp(t->boundaries.v[j], t->boundaries.v[o - 1]) == 0)
				free(t->boundaries.v[j]);
			else
				t->boundaries.v[o++] = t->boundaries.v[j];
		}
		t->boundaries.n = o;
	}
}

/* Largest boundary <= s[0..n) in sort order, or -1. */
static long mime_boundary_floor(const struct mime_tree *t, const char *s, size_t n)
{
	long lo = 0, hi = (long)t->boundaries.n - 1, best = -1;

	while (lo <= hi) {
		long mid = lo + (hi - lo) / 2;
		const char *b = t->boundaries.v[mid];
		size_t bl = strlen(b);
		int c = memcmp(b, s, bl < n ? bl : n);

		if (c == 0)
			c = bl < n ? -1 : bl > n;
		if (c <= 0) {
			best = mid;
			lo = mid + 1;
		} else
			hi = mid - 1;
	}
	return best;
}

/* Does some boundary prefix s[0..n)? (see the comment in the loop) */
static bool mime_boundary_prefixes(const struct mime_tree *t, const char *s, size_t n)
{
	size_t lim = n;

	while (lim > 0) {
		long f = mime_boundary_floor(t, s, lim);
		const char *b;
		size_t bl, l = 0;

		if (f < 0)
			return false;
		b = t->boundaries.v[f];
		bl = strlen(b);
		if (bl <= n && memcmp(b, s, bl) == 0)
			return true;
		/* Every boundary that prefixes s and sorts at or below b also
		 * prefixes b, so it is no longer than lcp(b, s). */
		while (l < bl && l < lim && b[l] == s[l])
			l++;
		if (l >= lim)
			l = lim - 1;
		lim = l;
	}
	return false;
}

size_t mime_boundary_line(const struct mime_tree *t, const char *buf, size_t len)
{
	size_t i = 0;

	if (!t->boundaries.n)
		return len;
	while (i < len) {
		const char *nl = memchr(buf + i, '\n', len - i);
		size_t e = nl ? (size_t)(nl - buf) : len;

		if (e - i > 2 && buf[i] == '-' && buf[i + 1] == '-' &&
		    mime_boundary_prefixes(t, buf + i + 2, e - i - 2))
			return i;
		i = e + 1;
	}
	return len;
}

/* Is raw[i..e) "--" + a boundary (+ "--"), trailing white space allowed:
 * a line GMime splits on? */
static bool mime_exact_boundary_line(const struct mime_tree *t, const char *raw, size_t i, size_t e)
{
	size_t s = i + 2, end = e;

	if (!t->boundaries.n || e - i <= 2 || raw[i] != '-' || raw[i + 1] != '-')
		return false;
	while (end > s && isspace((unsigned char)raw[end - 1]))
		end--;
	for (int pass = 0; pass < 2; pass++) {
		char *key;
		bool found;

		if (end - s > 998)
			return false;
		key = xstrndup(raw + s, end - s);
		found = bsearch(&key, t->boundaries.v, t->boundaries.n, sizeof(char *),
		                mime_strcmp_p) != NULL;
		free(key);
		if (found)
			return true;
		if (end - s < 2 || raw[end - 1] != '-' || raw[end - 2] != '-')
			return false;
		end -= 2;
	}
	return false;
}

/*
 * Before GMime builds anything (it costs about 1 KB per part and 600 bytes
 * per header field): count the boundary lines it will split on and the
 * header fields it will read (at the start, after each boundary line, and
 * after the headers of a message/ part), and measure each header block.
 * Returns the limit a message breaks, or NULL.
 */
static const char *mime_prescan(const struct mime_tree *t, const char *raw, size_t len,
                                const struct mime_limits *lim)
{
	size_t i = 0, parts = 0, fields = 0, block = 0;
	bool in_hdr = true, msg_next = false;

	if (t->boundaries.n >= lim->max_parts)
		return "part-count";
	while (i < len) {
		const char *nl = memchr(raw + i, '\n', len - i);
		size_t e = nl ? (size_t)(nl - raw) : len, n = e - i;

		if (n && raw[e - 1] == '\r')
			n--;
		if (mime_exact_boundary_line(t, raw, i, i + n)) {
			if (++parts > (size_t)lim->max_parts + 1)
				return "part-count";
			in_hdr = true;
			msg_next = false;
			block = 0;
		} else if (in_hdr) {
			if (n == 0) {
				/* a message/ part: its content starts with headers */
				in_hdr = msg_next;
				msg_next = false;
				block = 0;
			} else {
				block += e - i + 1;
				if (block > lim->max_header_bytes)
					return "header-bytes";
				if (raw[i] != ' ' && raw[i] != '\t') {
					if (++fields > MIME_MAX_HEADER_FIELDS)
						return "header-fields";
					if (n > 13 &&
					    strncasecmp(raw + i, "content-type:", 13) == 0 &&
					    memmem(raw + i, n, "essage/", 7))
						msg_next = true;
				}
			}
		}
		i = e + 1;
	}
	return NULL;
}

/* ---- transfer encodings ----------------------------------------------- */

/* Normalise a Content-Transfer-Encoding value; *odd_r when it was spelled
 * unusually, *unknown_r when it is not one we know (read as binary). */
static const char *mime_cte_normalise(const char *raw, bool *odd_r, bool *unknown_r)
{
	char buf[64];
	size_t n = 0;
	const char *p = raw;
	static const struct {
		const char *name, *norm;
	} map[] = {
	    {"7bit", "7bit"},
	    {"8bit", "8bit"},
	    {"binary", "binary"},
	    {"base64", "base64"},
	    {"quoted-printable", "quoted-printable"},
	    {"x-uuencode", "x-uuencode"},
	    {"uuencode", "x-uuencode"},
	    {"x-uue", "x-uuencode"},
	    {"uue", "x-uuencode"},
	    {"7-bit", "7bit"},
	    {"8-bit", "8bit"},
	    {"quoted_printable", "quoted-printable"},
	    {"quotedprintable", "quoted-printable"},
	    {"qp", "quoted-printable"},
	    {"x-base64", "base64"},
	};

	*odd_r = *unknown_r = false;
	while (*p && n < sizeof(buf) - 1) {
		unsigned char c = (unsigned char)*p++;

		if (c == '(') { /* comment */
			while (*p && *p != ')')
				p++;
			if (*p)
				p++;
			continue;
		}
		if (c == ';' || c == ',')
			break;
		if (isspace(c) || c == '"' || c == '\'')
			continue;
		buf[n++] = (char)tolower(c);
	}
	buf[n] = '\0';
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		if (strcmp(buf, map[i].name) == 0) {
			const char *r = raw;
			size_t rl = strlen(raw);

			mime_trim(&r, &rl);
			if (rl != strlen(map[i].norm) || strncasecmp(r, map[i].norm, rl) != 0)
				*odd_r = true;
			return map[i].norm;
		}
	}
	*unknown_r = true;
	return "binary";
}

static void mime_uudecode(const char *in, size_t len, struct strbuf *out, char **name_r)
{
	size_t i = 0;
	bool begun = false;

	while (i < len) {
		const char *nl = memchr(in + i, '\n', len - i);
		size_t e = nl ? (size_t)(nl - in) : len, ll = e - i;
		const unsigned char *l = (const unsigned char *)in + i;

		if (ll && l[ll - 1] == '\r')
			ll--;
		if (!begun) {
			if (ll >= 6 && memcmp(l, "begin ", 6) == 0) {
				const unsigned char *sp = memchr(l + 6, ' ', ll - 6);

				begun = true;
				if (sp && name_r && !*name_r && (size_t)(l + ll - sp - 1) > 0)
					*name_r = xstrndup((const char *)sp + 1,
					                   (size_t)(l + ll - sp - 1));
			}
		} else if (ll >= 3 && memcmp(l, "end", 3) == 0) {
			break;
		} else if (ll > 0) {
			size_t n = (size_t)((l[0] - 32) & 63), k = 1;

			while (n > 0 && k + 4 <= ll) {
				unsigned v[4];

				for (int j = 0; j < 4; j++)
					v[j] = (unsigned)((l[k + j] - 32) & 63);
				{
					unsigned char o[3] = {
					    (unsigned char)(v[0] << 2 | v[1] >> 4),
					    (unsigned char)(v[1] << 4 | v[2] >> 2),
					    (unsigned char)(v[2] << 6 | v[3])};
					size_t take = n < 3 ? n : 3;

					strbuf_append(out, o, take);
					n -= take;
				}
				k += 4;
			}
		}
		i = e + 1;
	}
	if (!begun) /* not uuencoded after all: keep the bytes */
		strbuf_append(out, in, len);
}

static void mime_decode_content(const char *cte, const char *in, size_t len, struct strbuf *out,
                                char **name_r)
{
	GMimeContentEncoding enc;
	GMimeEncoding state;
	char *buf;
	size_t n;

	if (strcmp(cte, "base64") == 0)
		enc = GMIME_CONTENT_ENCODING_BASE64;
	else if (strcmp(cte, "quoted-printable") == 0)
		enc = GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE;
	else if (strcmp(cte, "x-uuencode") == 0) {
		mime_uudecode(in, len, out, name_r);
		return;
	} else {
		strbuf_append(out, in, len);
		return;
	}
	g_mime_encoding_init_decode(&state, enc);
	/* decoding never grows the data beyond the encoded size (+ a few) */
	buf = xmalloc(g_mime_encoding_outlen(&state, len) + 16);
	n = g_mime_encoding_flush(&state, in, len, buf);
	strbuf_append(out, buf, n);
	free(buf);
}

/* ---- the walk ---------------------------------------------------------- */

static struct mime_node *mime_node_new(struct mime_walk *w, struct mime_node *parent,
                                       enum mime_kind kind, const char *path, unsigned depth)
{
	struct mime_node *n = xcalloc(1, sizeof(*n));

	n->kind = kind;
	n->path = xstrdup(path);
	n->depth = depth;
	n->parent = parent;
	strbuf_init(&n->data, 0);
	if (parent) {
		parent->kids =
		    xreallocarray(parent->kids, parent->nkids + 1, sizeof(*parent->kids));
		parent->kids[parent->nkids++] = n;
	} else if (!w->t->root)
		w->t->root = n;
	w->t->nparts++;
	return n;
}

static void mime_child_path(char *out, size_t size, const char *parent, const char *suffix)
{
	int r = snprintf(out, size, "%s%s%s", parent, parent[0] ? "." : "", suffix);

	if (r < 0 || (size_t)r >= size)
		snprintf(out, size, "%s", "?");
}

static void mime_sha256(struct mime_node *n)
{
	unsigned int mdlen = 0;

	EVP_Digest(n->data.s ? n->data.s : "", n->data.len, n->sha256, &mdlen, EVP_sha256(), NULL);
}

/* Raw header values of one object, by name (any case). */
static size_t mime_obj_headers(GMimeObject *o, const char *name, const char **vals, size_t max)
{
	GMimeHeaderList *hl = g_mime_object_get_header_list(o);
	int cnt = hl ? g_mime_header_list_get_count(hl) : 0;
	size_t n = 0;

	for (int i = 0; i < cnt; i++) {
		GMimeHeader *h = g_mime_header_list_get_header_at(hl, i);
		const char *hn = h ? g_mime_header_get_name(h) : NULL;

		if (hn && strcasecmp(hn, name) == 0) {
			if (n < max)
				vals[n] = g_mime_header_get_raw_value(h);
			n++;
		}
	}
	return n;
}

static char *mime_type_of_raw(const char *raw)
{
	char *u = mime_unfold(raw);
	size_t n = strcspn(u, "; \t(");
	char *r = mime_strdup_lower(u, n);

	free(u);
	if (!strchr(r, '/')) {
		free(r);
		return NULL;
	}
	return r;
}

/* Before GMime reads bytes of our own making (a hidden segment, a decoded
 * message, signed content): learn their boundaries and check the limits
 * on them; false (and the walk stops) when one is broken. */
static bool mime_sub_ok(struct mime_walk *w, const char *buf, size_t len)
{
	const char *lim;

	mime_boundaries_collect(w->t, buf, len);
	lim = mime_prescan(w->t, buf, len, w->lim);
	if (lim) {
		w->t->over_limit = lim;
		w->stop = true;
		return false;
	}
	return true;
}

/* Hidden parts: raw[0..len) starts at a boundary line; every segment up to
 * the next boundary line is read as a part of its own. */
static void mime_walk_hidden(struct mime_walk *w, struct mime_node *parent, const char *prefix,
                             const char *raw, size_t len, unsigned depth)
{
	size_t i = 0, seq = 0;

	while (i < len && !w->stop) {
		const char *nl = memchr(raw + i, '\n', len - i);
		size_t s = nl ? (size_t)(nl - raw) + 1 : len, e, nb;
		GMimeStream *st;
		GMimeParser *pr;
		GMimeObject *o;
		const char *blank = raw + s;
		bool empty = true;
		char path[256], suffix[32];

		/* raw[i] is a boundary line; the segment runs to the next one */
		nb = mime_boundary_line(w->t, raw + s, len - s);
		e = s + nb;
		for (size_t k = s; k < e; k++)
			if (!isspace((unsigned char)blank[k - s])) {
				empty = false;
				break;
			}
		i = e;
		if (empty)
			continue;
		seq++;
		snprintf(suffix, sizeof(suffix), "%s%zu", prefix, seq);
		mime_child_path(path, sizeof(path), parent->path, suffix);
		if (!mime_sub_ok(w, raw + s, e - s))
			break;
		st = g_mime_stream_mem_new_with_buffer(raw + s, e - s);
		pr = g_mime_parser_new_with_stream(st);
		o = g_mime_parser_construct_part(pr, NULL);
		if (o) {
			struct mime_walk sub = *w;
			GByteArray *ba = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(st));

			sub.base = (const char *)ba->data;
			sub.baselen = ba->len;
			mime_walk_object(&sub, o, parent, path, depth, true);
			w->stop = sub.stop;
			g_object_unref(o);
		}
		g_object_unref(pr);
		g_object_unref(st);
	}
}

/* Add the token of the first "--token" line of text to the boundaries;
 * false when there is none. */
static bool mime_guess_boundary(struct mime_tree *t, const char *text, size_t len)
{
	size_t i = 0;

	while (i < len) {
		const char *nl = memchr(text + i, '\n', len - i);
		size_t e = nl ? (size_t)(nl - text) : len, s = i + 2, end = e;

		while (end > s && isspace((unsigned char)text[end - 1]))
			end--;
		if (end - i > 2 && text[i] == '-' && text[i + 1] == '-' && end - s <= 998 &&
		    !isspace((unsigned char)text[s])) {
			size_t before = t->boundaries.n;

			if (end - s > 2 && text[end - 1] == '-' && text[end - 2] == '-')
				end -= 2;
			mime_boundary_add(t, text + s, end - s);
			if (t->boundaries.n == before)
				return false;
			qsort(t->boundaries.v, t->boundaries.n, sizeof(char *), mime_strcmp_p);
			return true;
		}
		i = e + 1;
	}
	return false;
}

/* A multipart's prologue or epilogue: defects, and any parts hiding there. */
static void mime_walk_margin(struct mime_walk *w, struct mime_node *mp, const char *text,
                             const char *which, const char *own_boundary, unsigned depth)
{
	size_t len, off;
	bool blank = true;

	if (!text)
		return;
	len = strlen(text);
	for (size_t i = 0; i < len; i++)
		if (!isspace((unsigned char)text[i])) {
			blank = false;
			break;
		}
	if (blank)
		return;
	mime_defect(w->t, strcmp(which, "preamble") == 0 ? "preamble_content" : "epilogue_content",
	            mp->path, "%zu bytes", len);
	off = mime_boundary_line(w->t, text, len);
	if (off == len && !own_boundary && mime_guess_boundary(w->t, text, len)) {
		/* a multipart without a boundary parameter: parsers that take
		 * the first "--" line as its boundary see parts here */
		mime_defect(w->t, "guessed_boundary", mp->path, NULL);
		off = mime_boundary_line(w->t, text, len);
	}
	if (off < len) {
		if (own_boundary && strcmp(which, "epilogue") == 0)
			mime_defect(w->t, "extra_boundaries", mp->path, NULL);
		mime_defect(w->t, "hidden_parts", mp->path, "in the %s", which);
		mime_walk_hidden(w, mp, strcmp(which, "preamble") == 0 ? "p" : "e", text + off,
		                 len - off, depth + 1);
	}
}

static bool mime_has_closing(const char *base, size_t len, const char *b)
{
	size_t bl = strlen(b), i = 0;

	while (i < len) {
		const char *nl = memchr(base + i, '\n', len - i);
		size_t e = nl ? (size_t)(nl - base) : len;

		if (e - i >= bl + 4 && base[i] == '-' && base[i + 1] == '-' &&
		    memcmp(base + i + 2, b, bl) == 0 && base[i + 2 + bl] == '-' &&
		    base[i + 3 + bl] == '-')
			return true;
		i = e + 1;
	}
	return false;
}

static void mime_read_message_headers(struct mime_node *n, GMimeMessage *m)
{
	static const struct {
		const char *name;
		size_t off;
	} want[] = {
	    {"From", offsetof(struct mime_node, msg_from)},
	    {"To", offsetof(struct mime_node, msg_to)},
	    {"Date", offsetof(struct mime_node, msg_date)},
	    {"Subject", offsetof(struct mime_node, msg_subject)},
	};

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		const char *v[1];
		char **dst = (char **)((char *)n + want[i].off);

		if (mime_obj_headers(GMIME_OBJECT(m), want[i].name, v, 1)) {
			struct strbuf u = STRBUF_INIT;
			char *raw = mime_unfold(v[0]);

			strbuf_init(&u, MIME_MAX_HEADER_VALUE);
			charset_decode_header(raw, strlen(raw), &u);
			*dst = u.s ? strbuf_detach(&u) : xstrdup("");
			strbuf_free(&u);
			free(raw);
		}
	}
}

static void mime_walk_embedded(struct mime_walk *w, struct mime_node *mn, const char *bytes,
                               size_t len, unsigned depth)
{
	GMimeStream *st;
	GMimeParser *pr;
	GMimeMessage *m;

	if (!mime_sub_ok(w, bytes, len))
		return;
	st = g_mime_stream_mem_new_with_buffer(bytes, len);
	pr = g_mime_parser_new_with_stream(st);
	m = g_mime_parser_construct_message(pr, NULL);
	if (m) {
		struct mime_walk sub = *w;
		GByteArray *ba = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(st));
		GMimeObject *body = g_mime_message_get_mime_part(m);
		char path[256];

		sub.base = (const char *)ba->data;
		sub.baselen = ba->len;
		mime_read_message_headers(mn, m);
		if (body) {
			if (GMIME_IS_MULTIPART(body))
				snprintf(path, sizeof(path), "%s", mn->path);
			else
				mime_child_path(path, sizeof(path), mn->path, "1");
			mime_walk_object(&sub, body, mn, path, depth + 1, mn->hidden);
		}
		w->stop = sub.stop;
		g_object_unref(m);
	}
	g_object_unref(pr);
	g_object_unref(st);
}

/*
 * application/pkcs7-mime: what the CMS structure says it is decides, not
 * the smime-type parameter.  Signed data ("opaque" S/MIME signature) is
 * read: the node becomes a container of the signed entity (path N.1) and
 * of the whole p7m as its signature (N.2).  Enveloped data stays a leaf
 * with smime_type "enveloped-data" (withheld by the engine).  Anything
 * OpenSSL cannot read stays a leaf as declared.
 */
static void mime_walk_pkcs7(struct mime_walk *w, struct mime_node *n, unsigned depth)
{
	const unsigned char *p = (const unsigned char *)n->data.s;
	CMS_ContentInfo *cms = d2i_CMS_ContentInfo(NULL, &p, (long)n->data.len);
	int nid = cms ? OBJ_obj2nid(CMS_get0_type(cms)) : NID_undef;

	if (nid == NID_pkcs7_enveloped || nid == NID_id_smime_ct_authEnvelopedData) {
		free(n->smime_type);
		n->smime_type = xstrdup("enveloped-data");
	} else if (nid == NID_pkcs7_signed) {
		ASN1_OCTET_STRING **content = CMS_get0_content(cms);

		free(n->smime_type);
		n->smime_type = xstrdup("signed-data");
		if (content && *content && (*content)->length > 0 &&
		    mime_sub_ok(w, (const char *)(*content)->data, (size_t)(*content)->length)) {
			struct mime_node *sig;
			char path[300];
			GMimeStream *st = g_mime_stream_mem_new_with_buffer(
			    (const char *)(*content)->data, (size_t)(*content)->length);
			GMimeParser *pr = g_mime_parser_new_with_stream(st);
			GMimeObject *o = g_mime_parser_construct_part(pr, NULL);

			n->kind = MIME_MULTIPART;
			if (o) {
				struct mime_walk sub = *w;
				GByteArray *ba =
				    g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(st));

				sub.base = (const char *)ba->data;
				sub.baselen = ba->len;
				mime_child_path(path, sizeof(path), n->path, "1");
				mime_walk_object(&sub, o, n, path, depth + 1, n->hidden);
				w->stop = sub.stop;
				g_object_unref(o);
			}
			g_object_unref(pr);
			g_object_unref(st);
			if (!w->stop) {
				mime_child_path(path, sizeof(path), n->path, "2");
				sig = mime_node_new(w, n, MIME_LEAF, path, depth + 1);
				sig->hidden = n->hidden;
				sig->type = xstrdup("application/pkcs7-signature");
				sig->name = xstrdup(n->name ? n->name : "smime.p7m");
				sig->cte = xstrdup(n->cte ? n->cte : "base64");
				sig->data = n->data;
				strbuf_init(&n->data, 0);
				memcpy(sig->sha256, n->sha256, sizeof(sig->sha256));
			}
		}
	}
	CMS_ContentInfo_free(cms);
}

static void mime_walk_leaf(struct mime_walk *w, struct mime_node *n, GMimeObject *o)
{
	GMimeDataWrapper *dw = GMIME_IS_PART(o) ? g_mime_part_get_content(GMIME_PART(o)) : NULL;
	GMimeStream *st = dw ? g_mime_data_wrapper_get_stream(dw) : NULL;
	const char *cte_raw[4];
	size_t ncte = mime_obj_headers(o, "Content-Transfer-Encoding", cte_raw, 4);
	const char *raw = NULL;
	size_t rawlen = 0;
	GByteArray *copy = NULL;
	bool odd = false, unknown = false;
	char *uuname = NULL;

	if (ncte > 1)
		mime_defect(w->t, "duplicate_transfer_encoding", n->path, NULL);
	if (ncte) {
		char *u = mime_unfold(cte_raw[0]);

		n->cte = xstrdup(mime_cte_normalise(u, &odd, &unknown));
		if (unknown)
			mime_defect(w->t, "unknown_transfer_encoding", n->path, "%.64s", u);
		else if (odd)
			mime_defect(w->t, "odd_transfer_encoding", n->path, "%.64s", u);
		free(u);
	} else
		n->cte = xstrdup("7bit");

	if (st && st->bound_start >= 0 && st->bound_end >= st->bound_start &&
	    (size_t)st->bound_end <= w->baselen && GMIME_IS_STREAM_MEM(st)) {
		raw = w->base + st->bound_start;
		rawlen = (size_t)(st->bound_end - st->bound_start);
	} else if (st) {
		GMimeStream *mem = g_mime_stream_mem_new();

		g_mime_stream_reset(st);
		g_mime_stream_write_to_stream(st, mem);
		copy = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
		g_byte_array_ref(copy);
		g_object_unref(mem);
		raw = (const char *)copy->data;
		rawlen = copy->len;
		g_mime_stream_reset(st);
	}
	if (raw && (strncmp(n->type, "text/", 5) == 0 ||
	            (n->type_alt && strncmp(n->type_alt, "text/", 5) == 0))) {
		/* Another reading splits this text at a boundary line: keep
		 * only what comes before, the rest is hidden parts. */
		size_t off = mime_boundary_line(w->t, raw, rawlen);

		if (off < rawlen) {
			mime_defect(w->t, "hidden_boundary_line", n->path, NULL);
			mime_defect(w->t, "hidden_parts", n->path, "after a boundary line in text");
			char prefix[300];

			/* hidden parts are the leaf's siblings, named after it */
			if (n->parent) {
				const char *last = strrchr(n->path, '.');

				snprintf(prefix, sizeof(prefix), "%sh", last ? last + 1 : n->path);
			} else
				snprintf(prefix, sizeof(prefix), "h");
			mime_walk_hidden(w, n->parent ? n->parent : n, prefix, raw + off,
			                 rawlen - off, n->depth);
			rawlen = off;
		}
	}
	if (raw)
		mime_decode_content(n->cte, raw, rawlen, &n->data, &uuname);
	if (uuname && !n->name) {
		struct strbuf u = STRBUF_INIT;

		strbuf_init(&u, MIME_MAX_HEADER_VALUE);
		charset_decode(NULL, uuname, strlen(uuname), &u, NULL);
		n->name = mime_name_cap(u.s ? strbuf_detach(&u) : xstrdup(""));
		strbuf_free(&u);
	}
	free(uuname);
	if (copy)
		g_byte_array_unref(copy);
	mime_sha256(n);
}

static void mime_walk_object(struct mime_walk *w, GMimeObject *o, struct mime_node *parent,
                             const char *path, unsigned depth, bool hidden)
{
	GMimeContentType *ct = g_mime_object_get_content_type(o);
	char *type = ct ? g_mime_content_type_get_mime_type(ct) : NULL;
	const char *ctv[8], *cdv[4];
	size_t nct, ncd;
	struct mime_params ps = {0}, pd = {0};
	struct mime_node *n;
	enum mime_kind kind = GMIME_IS_MULTIPART(o)      ? MIME_MULTIPART
	                      : GMIME_IS_MESSAGE_PART(o) ? MIME_MESSAGE
	                                                 : MIME_LEAF;

	if (w->stop) {
		g_free(type);
		return;
	}
	if (depth > w->lim->max_depth) {
		w->t->over_limit = "mime-depth";
		w->stop = true;
		g_free(type);
		return;
	}
	if (w->t->nparts >= w->lim->max_parts) {
		w->t->over_limit = "part-count";
		w->stop = true;
		g_free(type);
		return;
	}
	n = mime_node_new(w, parent, kind, path, depth);
	n->hidden = hidden || (parent && parent->hidden);
	n->type = mime_strdup_lower(type ? type : "text/plain", strlen(type ? type : "text/plain"));
	g_free(type);

	nct = mime_obj_headers(o, "Content-Type", ctv, 8);
	if (nct > 1) {
		mime_defect(w->t, "duplicate_content_type", path, "%zu headers", nct);
		for (size_t i = 0; i < nct && i < 8; i++) {
			char *t2 = mime_type_of_raw(ctv[i]);

			if (t2 && strcmp(t2, n->type) != 0 && !n->type_alt) {
				n->type_alt = t2;
				t2 = NULL;
			}
			free(t2);
		}
	}
	for (size_t i = 0; i < nct && i < 8; i++) {
		char *u = mime_unfold(ctv[i]);

		mime_params_parse(u, &ps);
		free(u);
	}
	ncd = mime_obj_headers(o, "Content-Disposition", cdv, 4);
	if (ncd > 1)
		mime_defect(w->t, "duplicate_content_disposition", path, NULL);
	if (ncd) {
		char *u = mime_unfold(cdv[0]);
		size_t dl = strcspn(u, "; \t(");

		n->disposition = mime_strdup_lower(u, dl);
		mime_params_parse(u, &pd);
		free(u);
	}
	for (size_t i = 1; i < ncd && i < 4; i++) {
		char *u = mime_unfold(cdv[i]);

		mime_params_parse(u, &pd);
		free(u);
	}

	/* names: filename (disposition) first, then name (type); any other
	 * differing reading is kept as name_alt */
	{
		char *fa = NULL, *na = NULL;
		char *fn = mime_param_decoded(w->t, path, &pd, "filename", &fa);
		char *nm = mime_param_decoded(w->t, path, &ps, "name", &na);
		char *cands[4] = {fn, fa, nm, na};

		for (int i = 0; i < 4; i++) {
			if (!cands[i])
				continue;
			if (!n->name)
				n->name = mime_name_cap(cands[i]);
			else if (!n->name_alt && strcmp(n->name, cands[i]) != 0) {
				n->name_alt = mime_name_cap(cands[i]);
				if (i >= 2 && fn)
					mime_defect(w->t, "name_conflict", path, NULL);
			} else
				free(cands[i]);
		}
	}
	if (ct) {
		const char *cs = g_mime_content_type_get_parameter(ct, "charset");
		const char *pr = g_mime_content_type_get_parameter(ct, "protocol");
		const char *sm = g_mime_content_type_get_parameter(ct, "smime-type");

		if (cs && *cs)
			n->charset = mime_strdup_lower(cs, strnlen(cs, 64));
		if (pr)
			n->protocol = mime_strdup_lower(pr, strnlen(pr, 128));
		if (sm)
			n->smime_type = mime_strdup_lower(sm, strnlen(sm, 64));
	}

	if (kind == MIME_MULTIPART) {
		GMimeMultipart *mp = GMIME_MULTIPART(o);
		/* not g_mime_multipart_get_boundary(): it invents one when none is given */
		const char *b = ct ? g_mime_content_type_get_parameter(ct, "boundary") : NULL;
		size_t nb = mime_params_count(&ps, "boundary");
		int cnt = g_mime_multipart_get_count(mp);

		if (nb > 1)
			mime_defect(w->t, "several_boundary_params", path, "%zu", nb);
		for (size_t i = 0; i < ps.n; i++) {
			const char *bv = ps.v[i].value;

			if (strcmp(ps.v[i].name, "boundary") != 0)
				continue;
			for (const char *c = bv; *c; c++)
				if (isspace((unsigned char)*c)) {
					mime_defect(w->t, "boundary_with_whitespace", path, NULL);
					break;
				}
		}
		if (!b)
			mime_defect(w->t, "multipart_without_boundary", path, NULL);
		else {
			for (size_t i = 0; i < w->t->boundaries.n; i++) {
				const char *o2 = w->t->boundaries.v[i];
				size_t l1 = strlen(b), l2 = strlen(o2);

				if (l1 != l2 && strncmp(b, o2, l1 < l2 ? l1 : l2) == 0) {
					mime_defect(w->t, "boundary_prefix_of_other", path, NULL);
					break;
				}
			}
			if (!mime_has_closing(w->base, w->baselen, b))
				mime_defect(w->t, "missing_closing_boundary", path, NULL);
		}
		if (cnt == 0)
			mime_defect(w->t, "multipart_without_parts", path, NULL);
		mime_walk_margin(w, n, g_mime_multipart_get_prologue(mp), "preamble", b, depth);
		for (int i = 0; i < cnt && !w->stop; i++) {
			char p2[256], suffix[16];

			snprintf(suffix, sizeof(suffix), "%d", i + 1);
			mime_child_path(p2, sizeof(p2), path, suffix);
			mime_walk_object(w, g_mime_multipart_get_part(mp, i), n, p2, depth + 1,
			                 n->hidden);
		}
		mime_walk_margin(w, n, g_mime_multipart_get_epilogue(mp), "epilogue", b, depth);
	} else if (kind == MIME_MESSAGE) {
		GMimeMessage *m = g_mime_message_part_get_message(GMIME_MESSAGE_PART(o));
		GMimeObject *body = m ? g_mime_message_get_mime_part(m) : NULL;

		if (m)
			mime_read_message_headers(n, m);
		if (body) {
			char p2[256];

			if (GMIME_IS_MULTIPART(body))
				snprintf(p2, sizeof(p2), "%s", path);
			else
				mime_child_path(p2, sizeof(p2), path, "1");
			mime_walk_object(w, body, n, p2, depth + 1, n->hidden);
		}
	} else {
		mime_walk_leaf(w, n, o);
		/* an encoded message/rfc822 GMime kept as a leaf: read it too */
		if ((strcmp(n->type, "message/rfc822") == 0 ||
		     strcmp(n->type, "message/global") == 0) &&
		    n->data.len && !w->stop) {
			struct strbuf bytes = n->data;

			n->kind = MIME_MESSAGE;
			strbuf_init(&n->data, 0);
			mime_defect(w->t, "encoded_message_part", path, "%s", n->cte);
			mime_walk_embedded(w, n, bytes.s, bytes.len, depth);
			strbuf_free(&bytes);
		} else if ((strcmp(n->type, "application/pkcs7-mime") == 0 ||
		            strcmp(n->type, "application/x-pkcs7-mime") == 0) &&
		           n->data.len && !w->stop)
			mime_walk_pkcs7(w, n, depth);
	}
	mime_params_free(&ps);
	mime_params_free(&pd);
}

/* ---- GMime warnings ---------------------------------------------------- */

static void mime_gmime_warning(gint64 offset, GMimeParserWarning code, const gchar *item,
                               gpointer user)
{
	struct mime_tree *t = user;
	const char *c;

	switch (code) {
	case GMIME_WARN_DUPLICATED_HEADER:
		c = "duplicate_header";
		break;
	case GMIME_WARN_DUPLICATED_PARAMETER:
		c = "duplicate_parameter";
		break;
	case GMIME_WARN_UNENCODED_8BIT_HEADER:
		c = "unencoded_8bit_header";
		break;
	case GMIME_WARN_INVALID_CONTENT_TYPE:
		c = "invalid_content_type";
		break;
	case GMIME_WARN_INVALID_RFC2047_HEADER_VALUE:
		c = "invalid_rfc2047";
		break;
	case GMIME_WARN_MALFORMED_MULTIPART:
		c = "malformed_multipart";
		break;
	case GMIME_WARN_TRUNCATED_MESSAGE:
		c = "truncated_message";
		break;
	case GMIME_WARN_MALFORMED_MESSAGE:
		c = "malformed_message";
		break;
	case GMIME_CRIT_INVALID_HEADER_NAME:
		c = "invalid_header_name";
		break;
	case GMIME_CRIT_CONFLICTING_HEADER:
		c = "conflicting_header";
		break;
	case GMIME_CRIT_CONFLICTING_PARAMETER:
		c = "conflicting_parameter";
		break;
	case GMIME_CRIT_MULTIPART_WITHOUT_BOUNDARY:
		c = "multipart_without_boundary";
		break;
	case GMIME_WARN_INVALID_PARAMETER:
		c = "invalid_parameter";
		break;
	case GMIME_WARN_INVALID_ADDRESS_LIST:
		c = "invalid_address_list";
		break;
	case GMIME_CRIT_NESTING_OVERFLOW:
		c = "nesting_overflow";
		t->over_limit = "mime-depth";
		break;
	case GMIME_WARN_PART_WITHOUT_CONTENT:
		c = "part_without_content";
		break;
	case GMIME_CRIT_PART_WITHOUT_HEADERS_OR_CONTENT:
		c = "empty_part";
		break;
	default:
		c = "gmime_warning";
		break;
	}
	(void)offset;
	if (item && *item) {
		/* header names only: values could be anything */
		char safe[64];
		size_t i = 0;

		for (; item[i] && i < sizeof(safe) - 1; i++)
			safe[i] = isprint((unsigned char)item[i]) ? item[i] : '?';
		safe[i] = '\0';
		mime_defect(t, c, "", "%s", safe);
	} else
		mime_defect(t, c, "", NULL);
}

/* ---- entry points ------------------------------------------------------ */

static void mime_read_top_headers(struct mime_tree *t, GMimeObject *o)
{
	GMimeHeaderList *hl = g_mime_object_get_header_list(o);
	int cnt = hl ? g_mime_header_list_get_count(hl) : 0;

	for (int i = 0; i < cnt && t->headers.n < 4096; i++) {
		GMimeHeader *h = g_mime_header_list_get_header_at(hl, i);
		const char *name = h ? g_mime_header_get_name(h) : NULL;
		const char *val = h ? g_mime_header_get_raw_value(h) : NULL;
		struct mime_header *mh;

		if (!name || !val)
			continue;
		mh = VEC_PUSH(t->headers);
		mh->name = xstrdup(name);
		mh->value = mime_unfold(val);
	}
}

void mime_parse_headers(const char *raw, size_t len, size_t max_header_bytes, struct mime_tree *t)
{
	size_t hb = mime_header_block_size(raw, len), n = hb <= len ? hb : len;
	GMimeStream *st;
	GMimeParser *pr;
	GMimeMessage *m;

	if (n > max_header_bytes) {
		/* keep whole lines that fit, not a line cut in half */
		n = max_header_bytes;
		while (n > 0 && raw[n - 1] != '\n')
			n--;
	}
	st = g_mime_stream_mem_new_with_buffer(raw, n);
	pr = g_mime_parser_new_with_stream(st);
	m = g_mime_parser_construct_message(pr, NULL);
	if (m) {
		mime_read_top_headers(t, GMIME_OBJECT(m));
		g_object_unref(m);
	}
	g_object_unref(pr);
	g_object_unref(st);
}

void mime_parse(const char *raw, size_t len, const struct mime_limits *lim, struct mime_tree *t)
{
	GMimeParserOptions *po;
	GMimeStream *st;
	GMimeParser *pr;
	GMimeMessage *m;
	struct mime_walk w;
	size_t hb;

	memset(t, 0, sizeof(*t));
	hb = mime_header_block_size(raw, len);
	if (hb > lim->max_header_bytes && hb <= len + 1) {
		if (hb <= len || len > lim->max_header_bytes) {
			t->over_limit = "header-bytes";
			mime_parse_headers(raw, len, lim->max_header_bytes, t);
			return;
		}
	}
	mime_boundaries_collect(t, raw, len);
	t->over_limit = mime_prescan(t, raw, len, lim);
	if (t->over_limit) {
		mime_parse_headers(raw, len, lim->max_header_bytes, t);
		return;
	}
	po = g_mime_parser_options_new();
	g_mime_parser_options_set_warning_callback(po, mime_gmime_warning, t);
	st = g_mime_stream_mem_new_with_buffer(raw, len);
	pr = g_mime_parser_new_with_stream(st);
	g_mime_parser_set_format(pr, GMIME_FORMAT_MESSAGE);
	m = g_mime_parser_construct_message(pr, po);
	memset(&w, 0, sizeof(w));
	w.t = t;
	w.lim = lim;
	{
		GByteArray *ba = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(st));

		w.base = (const char *)ba->data;
		w.baselen = ba->len;
	}
	if (m) {
		GMimeObject *body = g_mime_message_get_mime_part(m);

		mime_read_top_headers(t, GMIME_OBJECT(m));
		if (body)
			mime_walk_object(&w, body, NULL, GMIME_IS_MULTIPART(body) ? "" : "1", 0,
			                 false);
		g_object_unref(m);
	}
	if (!t->root)
		mime_defect(t, "unparsable_message", "", NULL);
	g_object_unref(pr);
	g_object_unref(st);
	g_mime_parser_options_free(po);
}

static void mime_node_free(struct mime_node *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->nkids; i++)
		mime_node_free(n->kids[i]);
	free(n->kids);
	free(n->path);
	free(n->type);
	free(n->type_alt);
	free(n->charset);
	free(n->name);
	free(n->name_alt);
	free(n->disposition);
	free(n->cte);
	free(n->protocol);
	free(n->smime_type);
	strbuf_free(&n->data);
	free(n->msg_from);
	free(n->msg_to);
	free(n->msg_date);
	free(n->msg_subject);
	free(n);
}

void mime_tree_free(struct mime_tree *t)
{
	mime_node_free(t->root);
	for (size_t i = 0; i < t->defects.n; i++) {
		free(t->defects.v[i].code);
		free(t->defects.v[i].path);
		free(t->defects.v[i].detail);
	}
	free(t->defects.v);
	for (size_t i = 0; i < t->headers.n; i++) {
		free(t->headers.v[i].name);
		free(t->headers.v[i].value);
	}
	free(t->headers.v);
	for (size_t i = 0; i < t->boundaries.n; i++)
		free(t->boundaries.v[i]);
	free(t->boundaries.v);
	memset(t, 0, sizeof(*t));
}

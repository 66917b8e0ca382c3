/*
 * qjson - reading the JSON of quarantine records (meta.json, releases.jsonl)
 * and writing untrusted text so that a terminal shows it and never acts on
 * it.
 *
 * SECURITY
 *	Input is hostile: nesting is limited to QJSON_MAX_DEPTH, values to
 *	QJSON_MAX_NODES, the caller limits the bytes.  Output of the escape and
 *	print functions never holds a control character other than the
 *	newlines qjson_pretty writes, a C1 control, a bidi or other invisible
 *	format character, or invalid UTF-8 (tests/fuzz/fuzz_qjson.c checks).
 */
#include "qjson.h"

#include "utf8.h"
#include "xalloc.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

struct qjson_parser {
	const char *p, *end;
	unsigned depth;
	size_t nodes;
	const char *err;
};

void qjson_free(struct qjson *j)
{
	if (!j)
		return;
	for (size_t i = 0; i < j->n; i++) {
		qjson_free(j->v[i]);
		if (j->k)
			qjson_free(j->k[i]);
	}
	free(j->v);
	free(j->k);
	free(j->s);
	free(j);
}

static void qjson_ws(struct qjson_parser *ps)
{
	while (ps->p < ps->end &&
	       (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
		ps->p++;
}

static int qjson_hex4(const char *p)
{
	int v = 0;

	for (int i = 0; i < 4; i++) {
		int c = (unsigned char)p[i], d;

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return -1;
		v = v * 16 + d;
	}
	return v;
}

static void qjson_put_utf8(struct strbuf *b, unsigned cp)
{
	char u[4];

	if (cp < 0x80) {
		u[0] = (char)cp;
		strbuf_append(b, u, 1);
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3f));
		strbuf_append(b, u, 2);
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		strbuf_append(b, u, 3);
	} else {
		u[0] = (char)(0xf0 | (cp >> 18));
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (char)(0x80 | (cp & 0x3f));
		strbuf_append(b, u, 4);
	}
}

/* A string at ps->p (the opening quote), decoded. */
static bool qjson_read_string(struct qjson_parser *ps, struct strbuf *out)
{
	ps->p++;
	while (ps->p < ps->end) {
		unsigned char c = (unsigned char)*ps->p;

		if (c == '"') {
			ps->p++;
			return true;
		}
		if (c < 0x20) {
			ps->err = "control character in a string";
			return false;
		}
		if (c != '\\') {
			strbuf_append(out, ps->p++, 1);
			continue;
		}
		if (ps->end - ps->p < 2)
			break;
		switch (ps->p[1]) {
		case '"':
		case '\\':
		case '/':
			strbuf_append(out, ps->p + 1, 1);
			break;
		case 'b':
			strbuf_putc(out, '\b');
			break;
		case 'f':
			strbuf_putc(out, '\f');
			break;
		case 'n':
			strbuf_putc(out, '\n');
			break;
		case 'r':
			strbuf_putc(out, '\r');
			break;
		case 't':
			strbuf_putc(out, '\t');
			break;
		case 'u': {
			int hi, lo;
			unsigned cp;

			if (ps->end - ps->p < 6 || (hi = qjson_hex4(ps->p + 2)) < 0) {
				ps->err = "bad \\u escape";
				return false;
			}
			cp = (unsigned)hi;
			ps->p += 6;
			if (hi >= 0xd800 && hi <= 0xdbff && ps->end - ps->p >= 6 &&
			    ps->p[0] == '\\' && ps->p[1] == 'u' &&
			    (lo = qjson_hex4(ps->p + 2)) >= 0xdc00 && lo <= 0xdfff) {
				cp = 0x10000 + (((unsigned)hi - 0xd800) << 10) +
				     ((unsigned)lo - 0xdc00);
				ps->p += 6;
			} else if (hi >= 0xd800 && hi <= 0xdfff) {
				cp = 0xfffd; /* lone surrogate */
			}
			qjson_put_utf8(out, cp);
			continue;
		}
		default:
			ps->err = "bad escape";
			return false;
		}
		ps->p += 2;
	}
	ps->err = "unterminated string";
	return false;
}

static struct qjson *qjson_value(struct qjson_parser *ps);

static struct qjson *qjson_new(struct qjson_parser *ps, enum qjson_type t)
{
	struct qjson *j;

	if (++ps->nodes > QJSON_MAX_NODES) {
		ps->err = "too many values";
		return NULL;
	}
	j = xcalloc(1, sizeof(*j));
	j->type = t;
	return j;
}

static struct qjson *qjson_str_node(struct qjson_parser *ps)
{
	struct strbuf b = STRBUF_INIT;
	struct qjson *j;

	if (!qjson_read_string(ps, &b) || !(j = qjson_new(ps, QJSON_STR))) {
		strbuf_free(&b);
		return NULL;
	}
	j->len = b.len;
	j->s = b.s ? strbuf_detach(&b) : xstrdup("");
	return j;
}

static bool qjson_push(struct qjson *j, struct qjson *key, struct qjson *val)
{
	if (j->n == j->cap) {
		j->cap = j->cap ? j->cap * 2 : 4;
		j->v = xreallocarray(j->v, j->cap, sizeof(*j->v));
		if (key)
			j->k = xreallocarray(j->k, j->cap, sizeof(*j->k));
	}
	j->v[j->n] = val;
	if (key)
		j->k[j->n] = key;
	j->n++;
	return true;
}

static struct qjson *qjson_container(struct qjson_parser *ps, bool obj)
{
	struct qjson *j = qjson_new(ps, obj ? QJSON_OBJ : QJSON_ARR);

	if (!j)
		return NULL;
	if (++ps->depth > QJSON_MAX_DEPTH) {
		ps->err = "nested too deep";
		goto fail;
	}
	ps->p++;
	qjson_ws(ps);
	if (ps->p < ps->end && *ps->p == (obj ? '}' : ']')) {
		ps->p++;
		ps->depth--;
		return j;
	}
	for (;;) {
		struct qjson *key = NULL, *val;

		qjson_ws(ps);
		if (obj) {
			if (ps->p >= ps->end || *ps->p != '"') {
				ps->err = "expected a key";
				goto fail;
			}
			if (!(key = qjson_str_node(ps)))
				goto fail;
			qjson_ws(ps);
			if (ps->p >= ps->end || *ps->p != ':') {
				qjson_free(key);
				ps->err = "expected ':'";
				goto fail;
			}
			ps->p++;
		}
		if (!(val = qjson_value(ps))) {
			qjson_free(key);
			goto fail;
		}
		qjson_push(j, key, val);
		qjson_ws(ps);
		if (ps->p < ps->end && *ps->p == ',') {
			ps->p++;
			continue;
		}
		if (ps->p < ps->end && *ps->p == (obj ? '}' : ']')) {
			ps->p++;
			ps->depth--;
			return j;
		}
		ps->err = "expected ',' or a closing bracket";
		goto fail;
	}
fail:
	qjson_free(j);
	return NULL;
}

static struct qjson *qjson_value(struct qjson_parser *ps)
{
	static const struct {
		const char *lit;
		enum qjson_type t;
		bool b;
	} lits[] = {
	    {"null", QJSON_NULL, false}, {"true", QJSON_BOOL, true}, {"false", QJSON_BOOL, false}};
	struct qjson *j;

	qjson_ws(ps);
	if (ps->p >= ps->end) {
		ps->err = "unexpected end";
		return NULL;
	}
	if (*ps->p == '{' || *ps->p == '[')
		return qjson_container(ps, *ps->p == '{');
	if (*ps->p == '"')
		return qjson_str_node(ps);
	for (size_t i = 0; i < sizeof(lits) / sizeof(lits[0]); i++) {
		size_t n = strlen(lits[i].lit);

		if ((size_t)(ps->end - ps->p) >= n && memcmp(ps->p, lits[i].lit, n) == 0) {
			if (!(j = qjson_new(ps, lits[i].t)))
				return NULL;
			j->b = lits[i].b;
			ps->p += n;
			return j;
		}
	}
	if (*ps->p == '-' || (*ps->p >= '0' && *ps->p <= '9')) {
		const char *s = ps->p;

		if (*ps->p == '-')
			ps->p++;
		while (ps->p < ps->end &&
		       (isdigit((unsigned char)*ps->p) || *ps->p == '.' || *ps->p == 'e' ||
		        *ps->p == 'E' || *ps->p == '+' || *ps->p == '-'))
			ps->p++;
		if (!(j = qjson_new(ps, QJSON_NUM)))
			return NULL;
		j->s = xstrndup(s, (size_t)(ps->p - s));
		j->len = (size_t)(ps->p - s);
		return j;
	}
	ps->err = "unexpected character";
	return NULL;
}

/* Parse one JSON text; NULL with the reason in err. */
struct qjson *qjson_parse(const char *s, size_t len, struct strbuf *err)
{
	struct qjson_parser ps = {s, s + len, 0, 0, NULL};
	struct qjson *j = qjson_value(&ps);

	if (j) {
		qjson_ws(&ps);
		if (ps.p != ps.end) {
			qjson_free(j);
			j = NULL;
			ps.err = "trailing bytes";
		}
	}
	if (!j)
		strbuf_printf(err, "JSON: %s at byte %zu", ps.err ? ps.err : "error",
		              (size_t)(ps.p - s));
	return j;
}

/* Member key of object j, or NULL. */
const struct qjson *qjson_get(const struct qjson *j, const char *key)
{
	size_t kl = strlen(key);

	if (!j || j->type != QJSON_OBJ)
		return NULL;
	for (size_t i = 0; i < j->n; i++)
		if (j->k[i]->len == kl && memcmp(j->k[i]->s, key, kl) == 0)
			return j->v[i];
	return NULL;
}

/* The string value of j, or NULL when j is not a string. */
const char *qjson_str(const struct qjson *j)
{
	return j && j->type == QJSON_STR ? j->s : NULL;
}

/* ---- escaping for terminals ---------------------------------------------- */

/* Length of the valid UTF-8 sequence at p and its code point, 0 if invalid. */
static size_t qjson_utf8(const unsigned char *p, size_t avail, unsigned *cp_r)
{
	uint32_t cp;
	size_t n = utf8_decode(p, avail, &cp);

	if (n)
		*cp_r = cp;
	return n;
}

/* Code points a terminal may act on or that hide or reorder text. */
bool qjson_unsafe_cp(unsigned cp)
{
	return cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f) || cp == 0xad ||
	       (cp >= 0x200b && cp <= 0x200f) || (cp >= 0x2028 && cp <= 0x202e) ||
	       (cp >= 0x2060 && cp <= 0x206f) || cp == 0xfeff || (cp >= 0xfff9 && cp <= 0xfffb);
}

/* Append s for a terminal: printable UTF-8 as is, '\\' doubled, unsafe code
 * points as \u{XXXX}, other control bytes and invalid bytes as \xNN. */
void qjson_escape(struct strbuf *out, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < len) {
		unsigned cp = 0;
		size_t n = qjson_utf8(p + i, len - i, &cp);

		if (n == 0) {
			strbuf_printf(out, "\\x%02x", p[i]);
			i++;
		} else if (cp == '\\') {
			strbuf_puts(out, "\\\\");
			i++;
		} else if (cp < 0x80 && qjson_unsafe_cp(cp)) {
			strbuf_printf(out, "\\x%02x", cp);
			i++;
		} else if (qjson_unsafe_cp(cp)) {
			strbuf_printf(out, "\\u{%04x}", cp);
			i += n;
		} else {
			strbuf_append(out, p + i, n);
			i += n;
		}
	}
}

void qjson_escape_cstr(struct strbuf *out, const char *s)
{
	if (s)
		qjson_escape(out, s, strlen(s));
	else
		strbuf_putc(out, '-');
}

/* A JSON string whose output is also safe on a terminal: besides what JSON
 * requires, unsafe code points become \uXXXX and invalid UTF-8 U+FFFD. */
void qjson_string(struct strbuf *out, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	strbuf_putc(out, '"');
	while (i < len) {
		unsigned cp = 0;
		size_t n = qjson_utf8(p + i, len - i, &cp);

		if (n == 0) {
			strbuf_puts(out, "\\ufffd");
			i++;
			continue;
		}
		if (cp == '"' || cp == '\\') {
			strbuf_putc(out, '\\');
			strbuf_putc(out, (char)cp);
		} else if (cp == '\n') {
			strbuf_puts(out, "\\n");
		} else if (cp == '\t') {
			strbuf_puts(out, "\\t");
		} else if (cp == '\r') {
			strbuf_puts(out, "\\r");
		} else if (qjson_unsafe_cp(cp)) {
			strbuf_printf(out, "\\u%04x", cp);
		} else {
			strbuf_append(out, p + i, n);
		}
		i += n;
	}
	strbuf_putc(out, '"');
}

void qjson_cstr(struct strbuf *out, const char *s)
{
	if (s)
		qjson_string(out, s, strlen(s));
	else
		strbuf_puts(out, "null");
}

static void qjson_indent(struct strbuf *out, unsigned level)
{
	for (unsigned i = 0; i < level; i++)
		strbuf_puts(out, "  ");
}

/* j as indented JSON (terminal-safe strings). */
void qjson_pretty(struct strbuf *out, const struct qjson *j, unsigned level)
{
	switch (j->type) {
	case QJSON_NULL:
		strbuf_puts(out, "null");
		break;
	case QJSON_BOOL:
		strbuf_puts(out, j->b ? "true" : "false");
		break;
	case QJSON_NUM:
		qjson_escape(out, j->s, j->len);
		break;
	case QJSON_STR:
		qjson_string(out, j->s, j->len);
		break;
	case QJSON_ARR:
	case QJSON_OBJ:
		if (j->n == 0) {
			strbuf_puts(out, j->type == QJSON_ARR ? "[]" : "{}");
			break;
		}
		strbuf_puts(out, j->type == QJSON_ARR ? "[\n" : "{\n");
		for (size_t i = 0; i < j->n; i++) {
			qjson_indent(out, level + 1);
			if (j->type == QJSON_OBJ) {
				qjson_string(out, j->k[i]->s, j->k[i]->len);
				strbuf_puts(out, ": ");
			}
			qjson_pretty(out, j->v[i], level + 1);
			strbuf_puts(out, i + 1 < j->n ? ",\n" : "\n");
		}
		qjson_indent(out, level);
		strbuf_putc(out, j->type == QJSON_ARR ? ']' : '}');
		break;
	}
}

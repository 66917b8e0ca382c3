/*
 * rulefile - lexer and parser of the segment rule files (docs/rules.md)
 * into a struct policy.  Syntax only: names are kept as written, with the
 * position of every token, and resolved later by policy_check().
 *
 * TRUSTS: nothing about the bytes.  Files are bounded (POLICY_MAX_FILE_BYTES,
 * POLICY_MAX_LINE_BYTES), names are bounded (POLICY_NAME_MAX), includes are
 * bounded (POLICY_MAX_INCLUDE_DEPTH), only regular files are read and each
 * real file at most once.  Text must be UTF-8 without control characters
 * (tab aside) or bidirectional overrides, which could make a line read
 * differently from what it does.  No recursion except include, which is
 * bounded by the include depth.
 *
 * FAILS: never on bad input.  Each error is reported through diag as
 * file:line:col with a caret under the token, the rest of the statement is
 * skipped (to the end of the line, a ';', or past a matching '}') and
 * parsing goes on, so one run reports every syntax error of every file.
 * After RULEFILE_MAX_ERRORS errors in one file the rest of it is skipped.
 */
#include "policy.h"
#include "strbuf.h"
#include "utf8.h"
#include "xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define RULEFILE_MAX_ERRORS 1000 /* per file; then the rest of it is skipped */
#define RULEFILE_SHOW_BYTES 48   /* of a token quoted in a message */

enum rulefile_tok {
	TOK_EOF,
	TOK_NL,
	TOK_SEMI,
	TOK_LBRACE,
	TOK_RBRACE,
	TOK_ARROW,
	TOK_WORD,
	TOK_STRING,
	TOK_BAD, /* lexical error, already reported */
};

struct rulefile_token {
	enum rulefile_tok type;
	const char *p; /* the bytes in the file */
	size_t n;
	struct srcpos pos;
	const char *str; /* TOK_STRING: the decoded value (valid until the next token) */
	size_t slen;
};

struct rulefile_reg {
	size_t host, seg; /* host declared inside segment: indexes */
};

/* State of one load (a directory or a buffer). */
struct rulefile_ctx {
	struct policy *p;
	bool allow_include;
	struct {
		char **v; /* realpath of every file read */
		size_t n, cap;
	} loaded;
	struct {
		char **v; /* the include chain: realpaths ... */
		size_t n, cap;
	} stack_real;
	struct {
		const char **v; /* ... and the names shown */
		size_t n, cap;
	} stack_name;
	struct {
		struct rulefile_reg *v;
		size_t n, cap;
	} regs;
};

/* State of one file: the lexer and the parser's one-token lookahead. */
struct rulefile_parser {
	struct rulefile_ctx *ctx;
	struct policy *p;
	const char *file; /* interned: the name shown */
	const char *path; /* the name opened (includes are relative to it) */
	const char *text;
	size_t len, off;
	int line;
	size_t line_start;
	size_t checked_line; /* line_start of the last line whose length was checked */
	int err_line;        /* lexical errors: one per line */
	struct strbuf sval;
	struct rulefile_token tok;
	int nerrors;
	bool gave_up;
};

static void rulefile_load_path(struct rulefile_ctx *ctx, const char *path, const char *show,
                               const struct srcpos *from);

/* ------------------------------------------------------------------ */
/* diagnostics */

__attribute__((format(printf, 4, 0))) static void rulefile_vreport(struct rulefile_parser *P,
                                                                   enum diag_level level,
                                                                   const struct srcpos *pos,
                                                                   const char *fmt, va_list ap)
{
	struct strbuf b;

	if (P->gave_up)
		return;
	strbuf_init(&b, 0);
	strbuf_vprintf(&b, fmt, ap);
	diag_report(level, pos, "%s", b.s ? b.s : "");
	strbuf_free(&b);
	if (level != DIAG_ERROR)
		return;
	if (++P->nerrors >= RULEFILE_MAX_ERRORS) {
		struct srcpos fpos = {.file = P->file};

		diag_error(&fpos, "too many errors (%d); the rest of this file is skipped",
		           P->nerrors);
		P->gave_up = true;
		P->off = P->len;
	}
}

__attribute__((format(printf, 3, 4))) static void
rulefile_error(struct rulefile_parser *P, const struct srcpos *pos, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	rulefile_vreport(P, DIAG_ERROR, pos, fmt, ap);
	va_end(ap);
}

static struct srcpos rulefile_pos_at(const struct rulefile_parser *P, size_t off, size_t n)
{
	struct srcpos pos = {
	    .file = P->file,
	    .line = P->line,
	    .col = (int)(off - P->line_start) + 1,
	    .len = n ? (int)n : 1,
	};
	return pos;
}

/* A position inside a token (a port of a list, a byte of a word). */
static struct srcpos rulefile_subpos(const struct srcpos *tok, size_t off, size_t n)
{
	struct srcpos pos = *tok;

	pos.col += (int)off;
	pos.len = n ? (int)n : 1;
	return pos;
}

/* A lexical error: at most one per line, so a line of garbage reads as one. */
__attribute__((format(printf, 4, 5))) static void
rulefile_lex_error(struct rulefile_parser *P, size_t off, size_t n, const char *fmt, ...)
{
	struct srcpos pos;
	va_list ap;

	if (P->err_line == P->line)
		return;
	P->err_line = P->line;
	pos = rulefile_pos_at(P, off, n);
	va_start(ap, fmt);
	rulefile_vreport(P, DIAG_ERROR, &pos, fmt, ap);
	va_end(ap);
}

/* ------------------------------------------------------------------ */
/* lexer */

/* Decode one UTF-8 character; returns its length, 0 if invalid (overlong,
 * surrogate, beyond U+10FFFF, truncated). */
static size_t rulefile_utf8(const unsigned char *s, size_t n, uint32_t *cp_r)
{
	return n == 0 ? 0 : utf8_decode(s, n, cp_r);
}

static bool rulefile_is_control(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f);
}

/* The "Trojan Source" characters: they reorder how a line is displayed. */
static bool rulefile_is_bidi(uint32_t cp)
{
	return (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

static void rulefile_tok_set(struct rulefile_parser *P, enum rulefile_tok type, size_t off,
                             size_t n)
{
	P->tok.type = type;
	P->tok.p = P->text + off;
	P->tok.n = n;
	P->tok.pos = rulefile_pos_at(P, off, n);
	P->tok.str = NULL;
	P->tok.slen = 0;
}

/* Control characters stay inside a word (which then is one bad token),
 * so a stray byte costs one error, not a cascade. */
static bool rulefile_word_byte(unsigned char c)
{
	return c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != '{' && c != '}' &&
	       c != ';' && c != '#' && c != '"';
}

/* Lines longer than the limit are reported and skipped whole. */
static void rulefile_lex_line_length(struct rulefile_parser *P)
{
	const char *nl = memchr(P->text + P->line_start, '\n', P->len - P->line_start);
	size_t end = nl ? (size_t)(nl - P->text) : P->len;
	size_t n = end - P->line_start;

	P->checked_line = P->line_start;
	if (n && P->text[end - 1] == '\r')
		n--;
	if (n > POLICY_MAX_LINE_BYTES) {
		struct srcpos pos = rulefile_pos_at(P, P->line_start, 1);

		rulefile_error(P, &pos, "line is %zu bytes long (limit %d); it is ignored", n,
		               POLICY_MAX_LINE_BYTES);
		if (!P->gave_up)
			P->off = end;
	}
}

static void rulefile_lex_comment(struct rulefile_parser *P)
{
	const unsigned char *s = (const unsigned char *)P->text;

	P->off++;
	while (P->off < P->len && s[P->off] != '\n') {
		uint32_t cp;
		size_t n;

		if (s[P->off] == '\r' && P->off + 1 < P->len && s[P->off + 1] == '\n')
			break;
		n = rulefile_utf8(s + P->off, P->len - P->off, &cp);
		if (n == 0) {
			rulefile_lex_error(P, P->off, 1, "invalid UTF-8 (byte 0x%02x) in a comment",
			                   s[P->off]);
			n = 1;
		} else if (rulefile_is_control(cp) && cp != '\t') {
			rulefile_lex_error(P, P->off, n, "control character U+%04X in a comment",
			                   (unsigned)cp);
		} else if (rulefile_is_bidi(cp)) {
			rulefile_lex_error(
			    P, P->off, n,
			    "bidirectional control character U+%04X in a comment "
			    "(it can make the line read differently from what it does)",
			    (unsigned)cp);
		}
		P->off += n;
	}
}

static void rulefile_lex_string(struct rulefile_parser *P)
{
	const unsigned char *s = (const unsigned char *)P->text;
	size_t q = P->off, off = P->off + 1;
	bool bad = false;

	strbuf_reset(&P->sval);
	for (;;) {
		uint32_t cp;
		size_t n;

		if (off >= P->len || s[off] == '\n' ||
		    (s[off] == '\r' && off + 1 < P->len && s[off + 1] == '\n')) {
			P->err_line = 0;
			rulefile_lex_error(P, q, 1,
			                   "unterminated string (a string ends on the line it "
			                   "starts)");
			P->off = off;
			rulefile_tok_set(P, TOK_BAD, q, off - q);
			return;
		}
		if (s[off] == '"') {
			off++;
			break;
		}
		if (s[off] == '\\') {
			if (off + 1 < P->len && (s[off + 1] == '"' || s[off + 1] == '\\')) {
				strbuf_putc(&P->sval, (char)s[off + 1]);
				off += 2;
				continue;
			}
			if (!bad)
				rulefile_lex_error(
				    P, off, 1, "unknown escape in a string (only \\\" and \\\\)");
			bad = true;
			off++;
			continue;
		}
		n = rulefile_utf8(s + off, P->len - off, &cp);
		if (n == 0) {
			if (!bad)
				rulefile_lex_error(
				    P, off, 1, "invalid UTF-8 (byte 0x%02x) in a string", s[off]);
			bad = true;
			off++;
			continue;
		}
		if (rulefile_is_control(cp)) {
			if (!bad)
				rulefile_lex_error(P, off, n,
				                   "control character U+%04X in a string",
				                   (unsigned)cp);
			bad = true;
		} else if (rulefile_is_bidi(cp)) {
			if (!bad)
				rulefile_lex_error(P, off, n,
				                   "bidirectional control character U+%04X in a "
				                   "string (it can make the line read differently "
				                   "from what it does)",
				                   (unsigned)cp);
			bad = true;
		} else {
			strbuf_append(&P->sval, s + off, n);
		}
		off += n;
	}
	P->off = off;
	/* a bad string is still a string: its statement parses on, the error stands */
	rulefile_tok_set(P, TOK_STRING, q, off - q);
	P->tok.str = P->sval.s ? P->sval.s : "";
	P->tok.slen = P->sval.len;
}

static void rulefile_lex_word(struct rulefile_parser *P)
{
	const unsigned char *s = (const unsigned char *)P->text;
	size_t start = P->off, off = P->off;

	while (off < P->len && rulefile_word_byte(s[off]) &&
	       !(s[off] == '-' && off + 1 < P->len && s[off + 1] == '>'))
		off++;
	P->off = off;
	for (size_t i = start; i < off;) {
		uint32_t cp;
		size_t n = rulefile_utf8(s + i, off - i, &cp);

		if (n == 0) {
			rulefile_lex_error(P, i, 1, "invalid UTF-8 (byte 0x%02x)", s[i]);
			rulefile_tok_set(P, TOK_BAD, start, off - start);
			return;
		}
		if (rulefile_is_control(cp) || rulefile_is_bidi(cp)) {
			rulefile_lex_error(P, i, n, "control character U+%04X", (unsigned)cp);
			rulefile_tok_set(P, TOK_BAD, start, off - start);
			return;
		}
		i += n;
	}
	rulefile_tok_set(P, TOK_WORD, start, off - start);
}

/* Read the next token into P->tok. */
static void rulefile_next(struct rulefile_parser *P)
{
	const unsigned char *s = (const unsigned char *)P->text;

	for (;;) {
		unsigned char c;

		if (P->off >= P->len) {
			rulefile_tok_set(P, TOK_EOF, P->len, 0);
			return;
		}
		if (P->off == P->line_start && P->checked_line != P->line_start) {
			rulefile_lex_line_length(P);
			continue;
		}
		c = s[P->off];
		switch (c) {
		case ' ':
		case '\t':
			P->off++;
			continue;
		case '\r':
			if (P->off + 1 < P->len && s[P->off + 1] == '\n') {
				P->off++;
				continue;
			}
			break;
		case '\n':
			rulefile_tok_set(P, TOK_NL, P->off, 1);
			P->off++;
			P->line++;
			P->line_start = P->off;
			return;
		case '#':
			rulefile_lex_comment(P);
			continue;
		case '"':
			rulefile_lex_string(P);
			return;
		case '{':
			rulefile_tok_set(P, TOK_LBRACE, P->off++, 1);
			return;
		case '}':
			rulefile_tok_set(P, TOK_RBRACE, P->off++, 1);
			return;
		case ';':
			rulefile_tok_set(P, TOK_SEMI, P->off++, 1);
			return;
		case '-':
			if (P->off + 1 < P->len && s[P->off + 1] == '>') {
				rulefile_tok_set(P, TOK_ARROW, P->off, 2);
				P->off += 2;
				return;
			}
			break;
		default:
			break;
		}
		if (c == '\r') {
			/* a lone CR: a word of one bad byte */
			rulefile_lex_error(P, P->off, 1, "control character U+000D");
			rulefile_tok_set(P, TOK_BAD, P->off, 1);
			P->off++;
			return;
		}
		rulefile_lex_word(P);
		return;
	}
}

/* ------------------------------------------------------------------ */
/* parser helpers */

static bool rulefile_tok_is(const struct rulefile_token *t, const char *word)
{
	size_t n = strlen(word);

	return t->type == TOK_WORD && t->n == n && memcmp(t->p, word, n) == 0;
}

static bool rulefile_is(const struct rulefile_parser *P, const char *word)
{
	return rulefile_tok_is(&P->tok, word);
}

static bool rulefile_at_end(const struct rulefile_parser *P)
{
	switch (P->tok.type) {
	case TOK_NL:
	case TOK_SEMI:
	case TOK_EOF:
	case TOK_RBRACE:
		return true;
	default:
		return false;
	}
}

/* Bytes of a token fit to quote: cut on a character boundary. */
static int rulefile_show_len(const char *p, size_t n)
{
	size_t k;

	if (n <= RULEFILE_SHOW_BYTES)
		return (int)n;
	k = RULEFILE_SHOW_BYTES;
	while (k > 0 && ((unsigned char)p[k] & 0xc0) == 0x80)
		k--;
	return (int)k;
}

static const char *rulefile_show_more(size_t n)
{
	return n > RULEFILE_SHOW_BYTES ? "..." : "";
}

static void rulefile_describe(const struct rulefile_token *t, struct strbuf *b)
{
	switch (t->type) {
	case TOK_EOF:
		strbuf_puts(b, "end of file");
		break;
	case TOK_NL:
		strbuf_puts(b, "end of line");
		break;
	case TOK_SEMI:
		strbuf_puts(b, "';'");
		break;
	case TOK_LBRACE:
		strbuf_puts(b, "'{'");
		break;
	case TOK_RBRACE:
		strbuf_puts(b, "'}'");
		break;
	case TOK_ARROW:
		strbuf_puts(b, "'->'");
		break;
	case TOK_STRING:
		strbuf_puts(b, "a string");
		break;
	case TOK_WORD:
	case TOK_BAD:
		strbuf_printf(b, "\"%.*s%s\"", rulefile_show_len(t->p, t->n), t->p,
		              rulefile_show_more(t->n));
		break;
	}
}

/* "expected X, got Y" at the current token (silent after a lexical error). */
static void rulefile_expected(struct rulefile_parser *P, const char *what)
{
	struct strbuf b;

	if (P->tok.type == TOK_BAD)
		return;
	strbuf_init(&b, 0);
	rulefile_describe(&P->tok, &b);
	rulefile_error(P, &P->tok.pos, "expected %s, got %s", what, b.s);
	strbuf_free(&b);
}

/*
 * Skip the rest of a broken statement: to the end of the line or a ';',
 * stepping over whole { } blocks.  Inside a block, its closing '}' ends
 * the skip without being consumed.
 */
static void rulefile_sync(struct rulefile_parser *P, bool in_block)
{
	int depth = 0;

	for (;;) {
		switch (P->tok.type) {
		case TOK_EOF:
			return;
		case TOK_NL:
		case TOK_SEMI:
			rulefile_next(P);
			if (depth == 0)
				return;
			continue;
		case TOK_LBRACE:
			depth++;
			break;
		case TOK_RBRACE:
			if (depth == 0 && in_block)
				return;
			if (depth > 0)
				depth--;
			break;
		default:
			break;
		}
		rulefile_next(P);
	}
}

/* The closest of a list of words to a misspelt one, or NULL. */
static const char *rulefile_suggest(const struct rulefile_token *t, const char *const *words)
{
	const char *best = NULL;
	int best_d = 3;
	char buf[POLICY_NAME_MAX + 1];

	if (t->type != TOK_WORD || t->n > POLICY_NAME_MAX)
		return NULL;
	memcpy(buf, t->p, t->n);
	buf[t->n] = '\0';
	for (size_t i = 0; words[i]; i++) {
		int d = policy_edit_distance(buf, words[i]);

		if (d < best_d && d < (int)strlen(words[i])) {
			best_d = d;
			best = words[i];
		}
	}
	return best;
}

/* "unknown X 'word'; did you mean 'y'?" */
static void rulefile_unknown(struct rulefile_parser *P, const char *what, const char *const *words)
{
	const struct rulefile_token *t = &P->tok;
	const char *s;

	if (t->type != TOK_WORD) {
		rulefile_expected(P, what);
		return;
	}
	s = rulefile_suggest(t, words);
	if (s)
		rulefile_error(P, &t->pos, "unknown %s \"%.*s%s\"; did you mean \"%s\"?", what,
		               rulefile_show_len(t->p, t->n), t->p, rulefile_show_more(t->n), s);
	else
		rulefile_error(P, &t->pos, "unknown %s \"%.*s%s\"", what,
		               rulefile_show_len(t->p, t->n), t->p, rulefile_show_more(t->n));
}

static const char *const rulefile_reserved[] = {"from", "to", "port", "mac", NULL};

/*
 * A name (host, group, segment id) at the current token, consumed.  A
 * malformed name is reported but kept (so its uses do not cascade into
 * "unknown name" errors); returns false only when there is no word at all.
 */
static bool rulefile_name(struct rulefile_parser *P, const char *what, struct nameref *r)
{
	const struct rulefile_token *t = &P->tok;
	bool ascii = true, ok;

	if (t->type != TOK_WORD) {
		struct strbuf b;

		strbuf_init(&b, 0);
		strbuf_printf(&b, "%s", what);
		rulefile_expected(P, b.s);
		strbuf_free(&b);
		return false;
	}
	for (size_t i = 0; i < t->n; i++)
		if ((unsigned char)t->p[i] >= 0x80)
			ascii = false;
	ok = ((t->p[0] >= 'a' && t->p[0] <= 'z') || (t->p[0] >= 'A' && t->p[0] <= 'Z'));
	for (size_t i = 1; ok && i < t->n; i++) {
		char c = t->p[i];

		ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		     c == '-' || c == '_';
	}
	if (!ascii)
		rulefile_error(P, &t->pos,
		               "\"%.*s%s\" is not a valid name: names are ASCII letters, digits, "
		               "'-' and '_' (Japanese text goes in a quoted label or a comment)",
		               rulefile_show_len(t->p, t->n), t->p, rulefile_show_more(t->n));
	else if (!ok)
		rulefile_error(P, &t->pos,
		               "\"%.*s%s\" is not a valid name: a name starts with a letter and "
		               "has only letters, digits, '-' and '_'",
		               rulefile_show_len(t->p, t->n), t->p, rulefile_show_more(t->n));
	else if (t->n > POLICY_NAME_MAX)
		rulefile_error(P, &t->pos, "name is %zu bytes long (limit %d)", t->n,
		               POLICY_NAME_MAX);
	else
		for (size_t i = 0; rulefile_reserved[i]; i++)
			if (rulefile_tok_is(t, rulefile_reserved[i]))
				rulefile_error(P, &t->pos,
				               "'%s' is a keyword and cannot be used as a name",
				               rulefile_reserved[i]);
	r->name = xstrndup(t->p, t->n);
	r->pos = t->pos;
	rulefile_next(P);
	return true;
}

/* A decimal number in [lo, hi] from bytes; false if not one. */
static bool rulefile_number(const char *s, size_t n, unsigned long lo, unsigned long hi,
                            unsigned long *r)
{
	unsigned long v = 0;

	if (n == 0 || n > 10)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v < lo || v > hi)
		return false;
	*r = v;
	return true;
}

/* A port number word, consumed. */
static bool rulefile_port_word(struct rulefile_parser *P, unsigned long lo, const char *what,
                               uint16_t *r)
{
	unsigned long v;

	if (P->tok.type != TOK_WORD) {
		rulefile_expected(P, what);
		return false;
	}
	if (!rulefile_number(P->tok.p, P->tok.n, lo, 65535, &v)) {
		rulefile_error(P, &P->tok.pos, "\"%.*s%s\" is not %s (%lu-65535)",
		               rulefile_show_len(P->tok.p, P->tok.n), P->tok.p,
		               rulefile_show_more(P->tok.n), what, lo);
		rulefile_next(P);
		return false;
	}
	*r = (uint16_t)v;
	rulefile_next(P);
	return true;
}

/* ------------------------------------------------------------------ */
/* values: addresses, MACs, dates, services */

/*
 * An address or network at the current token, consumed.  single: a host
 * address (no prefix length other than /32 or /128).  Networks with host
 * bits set are reported and kept masked.  Returns false if the token is no
 * address at all.
 */
static bool rulefile_prefix(struct rulefile_parser *P, bool single, struct prefix *r)
{
	const struct rulefile_token *t = &P->tok;
	char buf[80];
	struct prefix masked;
	int full;

	if (t->type != TOK_WORD) {
		rulefile_expected(P, single ? "an address" : "a network");
		return false;
	}
	if (t->n >= sizeof(buf))
		goto bad;
	memcpy(buf, t->p, t->n);
	buf[t->n] = '\0';
	if (!prefix_parse(buf, r))
		goto bad;
	full = r->family == AF_INET ? 32 : 128;
	if (single && r->len != full) {
		rulefile_error(P, &t->pos, "a host has single addresses, not networks (%s)", buf);
		rulefile_next(P);
		return false;
	}
	masked = *r;
	for (int i = 0; i < 16; i++) {
		int bits = masked.len - i * 8;

		if (bits >= 8)
			continue;
		masked.addr[i] &= bits <= 0 ? 0 : (uint8_t)(0xff << (8 - bits));
	}
	if (memcmp(masked.addr, r->addr, sizeof(r->addr)) != 0) {
		char fix[64];

		prefix_format(&masked, fix, sizeof(fix));
		rulefile_error(P, &t->pos, "%s has host bits set; did you mean %s?", buf, fix);
		*r = masked;
	}
	rulefile_next(P);
	return true;
bad:
	rulefile_error(P, &t->pos, "\"%.*s%s\" is not an IPv4 or IPv6 %s",
	               rulefile_show_len(t->p, t->n), t->p, rulefile_show_more(t->n),
	               single ? "address" : "network");
	rulefile_next(P);
	return false;
}

static int rulefile_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* A MAC aa:bb:cc:dd:ee:ff at the current token, consumed. */
static bool rulefile_mac(struct rulefile_parser *P, uint8_t mac[6])
{
	const struct rulefile_token *t = &P->tok;
	bool ok = t->type == TOK_WORD && t->n == 17;

	if (t->type != TOK_WORD) {
		rulefile_expected(P, "a MAC address (aa:bb:cc:dd:ee:ff)");
		return false;
	}
	for (int i = 0; ok && i < 6; i++) {
		int hi = rulefile_hex(t->p[i * 3]), lo = rulefile_hex(t->p[i * 3 + 1]);

		if (hi < 0 || lo < 0 || (i < 5 && t->p[i * 3 + 2] != ':'))
			ok = false;
		else
			mac[i] = (uint8_t)(hi << 4 | lo);
	}
	if (!ok) {
		rulefile_error(P, &t->pos, "\"%.*s%s\" is not a MAC address (aa:bb:cc:dd:ee:ff)",
		               rulefile_show_len(t->p, t->n), t->p, rulefile_show_more(t->n));
		rulefile_next(P);
		return false;
	}
	if (mac[0] & 1) {
		rulefile_error(P, &t->pos, "%.17s is a multicast MAC address, not a device's",
		               t->p);
		rulefile_next(P);
		return false;
	}
	rulefile_next(P);
	return true;
}

static int rulefile_days_in_month(int y, int m)
{
	static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : days[m - 1];
}

/* A date YYYY-MM-DD (a real calendar day) at the current token, consumed. */
static bool rulefile_date(struct rulefile_parser *P, struct date *d)
{
	const struct rulefile_token *t = &P->tok;
	unsigned long y, m, day;

	if (t->type != TOK_WORD) {
		rulefile_expected(P, "a date (YYYY-MM-DD)");
		return false;
	}
	if (t->n != 10 || t->p[4] != '-' || t->p[7] != '-' ||
	    !rulefile_number(t->p, 4, 1970, 9999, &y) || !rulefile_number(t->p + 5, 2, 0, 99, &m) ||
	    !rulefile_number(t->p + 8, 2, 0, 99, &day)) {
		rulefile_error(P, &t->pos, "\"%.*s%s\" is not a date (YYYY-MM-DD)",
		               rulefile_show_len(t->p, t->n), t->p, rulefile_show_more(t->n));
		rulefile_next(P);
		return false;
	}
	if (m < 1 || m > 12) {
		rulefile_error(P, &t->pos, "%.10s is not a date: there is no month %lu", t->p, m);
		rulefile_next(P);
		return false;
	}
	if (day < 1 || (int)day > rulefile_days_in_month((int)y, (int)m)) {
		rulefile_error(P, &t->pos, "%.10s is not a date: %04lu-%02lu has %d days", t->p, y,
		               m, rulefile_days_in_month((int)y, (int)m));
		rulefile_next(P);
		return false;
	}
	d->year = (int)y;
	d->month = (int)m;
	d->day = (int)day;
	rulefile_next(P);
	return true;
}

/* The port list of a service word: "80", "80,443", "8000-8080", mixed. */
static bool rulefile_ports(struct rulefile_parser *P, const struct srcpos *tpos, const char *s,
                           size_t n, size_t base, struct service *svc)
{
	size_t i = 0;
	bool ok = true;

	while (i <= n) {
		size_t j = i, dash = SIZE_MAX;
		unsigned long lo, hi;
		struct srcpos pos;

		while (j < n && s[j] != ',') {
			if (s[j] == '-' && dash == SIZE_MAX)
				dash = j;
			j++;
		}
		pos = rulefile_subpos(tpos, base + i, j - i);
		if (j == i) {
			rulefile_error(P, &pos, "empty port in a port list");
			ok = false;
		} else if (dash == SIZE_MAX) {
			if (rulefile_number(s + i, j - i, 1, 65535, &lo)) {
				struct portrange *r = VEC_PUSH(svc->ports);

				r->lo = r->hi = (uint16_t)lo;
			} else {
				rulefile_error(P, &pos, "\"%.*s\" is not a port (1-65535)",
				               rulefile_show_len(s + i, j - i), s + i);
				ok = false;
			}
		} else if (!rulefile_number(s + i, dash - i, 1, 65535, &lo) ||
		           !rulefile_number(s + dash + 1, j - dash - 1, 1, 65535, &hi)) {
			rulefile_error(P, &pos, "\"%.*s\" is not a port range (1-65535, low-high)",
			               rulefile_show_len(s + i, j - i), s + i);
			ok = false;
		} else if (lo > hi) {
			rulefile_error(P, &pos,
			               "port range %lu-%lu is reversed; did you mean %lu-%lu?", lo,
			               hi, hi, lo);
			ok = false;
		} else {
			struct portrange *r = VEC_PUSH(svc->ports);

			r->lo = (uint16_t)lo;
			r->hi = (uint16_t)hi;
		}
		i = j + 1;
	}
	return ok;
}

/* A service word (tcp/PORTS, udp/PORTS, ping), consumed. */
static bool rulefile_service(struct rulefile_parser *P, struct service *svc)
{
	const struct rulefile_token *t = &P->tok;
	bool ok = true;

	memset(svc, 0, sizeof(*svc));
	svc->pos = t->pos;
	if (rulefile_is(P, "ping")) {
		svc->proto = PROTO_PING;
	} else if (t->n > 4 && (memcmp(t->p, "tcp/", 4) == 0 || memcmp(t->p, "udp/", 4) == 0)) {
		svc->proto = t->p[0] == 't' ? PROTO_TCP : PROTO_UDP;
		ok = rulefile_ports(P, &t->pos, t->p + 4, t->n - 4, 4, svc);
	} else if (rulefile_is(P, "tcp") || rulefile_is(P, "udp") || rulefile_is(P, "tcp/") ||
	           rulefile_is(P, "udp/")) {
		rulefile_error(P, &t->pos, "'%.3s' needs ports, e.g. %.3s/443", t->p, t->p);
		ok = false;
	} else if (t->n >= 4 && memcmp(t->p, "icmp", 4) == 0) {
		rulefile_error(P, &t->pos, "\"%.*s%s\" is not a service: ICMP echo is 'ping'",
		               rulefile_show_len(t->p, t->n), t->p, rulefile_show_more(t->n));
		ok = false;
	} else {
		rulefile_error(P, &t->pos,
		               "\"%.*s%s\" is not a service (tcp/PORTS, udp/PORTS or ping)",
		               rulefile_show_len(t->p, t->n), t->p, rulefile_show_more(t->n));
		ok = false;
	}
	rulefile_next(P);
	if (!ok) {
		free(svc->ports.v);
		memset(&svc->ports, 0, sizeof(svc->ports));
	}
	return ok;
}

/* ------------------------------------------------------------------ */
/* statements */

/* Parse a { } block whose '{' is the current token, one setting a line. */
static void rulefile_block(struct rulefile_parser *P,
                           bool (*stmt)(struct rulefile_parser *, void *), void *arg)
{
	struct srcpos open = P->tok.pos;

	rulefile_next(P);
	for (;;) {
		switch (P->tok.type) {
		case TOK_NL:
		case TOK_SEMI:
			rulefile_next(P);
			continue;
		case TOK_RBRACE:
			rulefile_next(P);
			return;
		case TOK_EOF:
			rulefile_error(P, &open, "this '{' is never closed");
			return;
		default:
			break;
		}
		if (!stmt(P, arg)) {
			rulefile_sync(P, true);
			continue;
		}
		if (!rulefile_at_end(P)) {
			rulefile_expected(P, "end of line");
			rulefile_sync(P, true);
		}
	}
}

static bool rulefile_host(struct rulefile_parser *P, size_t segidx)
{
	struct policy *p = P->p;
	struct nameref name;
	struct host h;
	bool addr_error = false;

	memset(&h, 0, sizeof(h));
	rulefile_next(P);
	if (!rulefile_name(P, "a host name", &name))
		return false;
	h.name = name.name;
	h.pos = name.pos;
	while (P->tok.type == TOK_WORD) {
		if (rulefile_is(P, "mac")) {
			struct srcpos mpos = P->tok.pos;
			uint8_t mac[6];

			rulefile_next(P);
			if (!rulefile_mac(P, mac))
				continue;
			if (h.has_mac) {
				rulefile_error(P, &mpos, "host \"%s\" has a second MAC address",
				               h.name);
				continue;
			}
			h.has_mac = true;
			memcpy(h.mac, mac, sizeof(mac));
		} else {
			struct prefix a;

			struct srcpos apos = P->tok.pos;

			if (rulefile_prefix(P, true, &a)) {
				*VEC_PUSH(h.addrs) = a;
				h.addrs.pos =
				    xreallocarray(h.addrs.pos, h.addrs.cap, sizeof(*h.addrs.pos));
				h.addrs.pos[h.addrs.n - 1] = apos;
			} else {
				addr_error = true;
			}
		}
	}
	if (h.addrs.n == 0 && !addr_error)
		rulefile_error(P, &h.pos, "host \"%s\" has no address", h.name);
	if (segidx != SIZE_MAX) {
		struct rulefile_reg *r = VEC_PUSH(P->ctx->regs);

		h.segment_decl = xstrdup(p->segs.v[segidx].id);
		h.registered = true;
		r->host = p->hosts.n;
		r->seg = segidx;
	}
	*VEC_PUSH(p->hosts) = h;
	return true;
}

static bool rulefile_ifname(struct rulefile_parser *P, struct segment *seg)
{
	const struct rulefile_token *t = &P->tok;
	bool ok = t->type == TOK_WORD && t->n <= POLICY_IFNAME_MAX;

	if (t->type != TOK_WORD) {
		rulefile_expected(P, "an interface name");
		return false;
	}
	for (size_t i = 0; ok && i < t->n; i++) {
		char c = t->p[i];

		ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		     c == '-' || c == '_' || c == '.';
	}
	if (!ok) {
		rulefile_error(P, &t->pos,
		               "\"%.*s%s\" is not an interface name (at most %d letters, digits, "
		               "'-', '_' or '.')",
		               rulefile_show_len(t->p, t->n), t->p, rulefile_show_more(t->n),
		               POLICY_IFNAME_MAX);
	} else if (seg->ifaces.n == POLICY_MAX_SEGMENT_IFACES) {
		rulefile_error(P, &t->pos, "segment \"%s\" has more than %d interfaces", seg->id,
		               POLICY_MAX_SEGMENT_IFACES);
	} else {
		*VEC_PUSH(seg->ifaces) = xstrndup(t->p, t->n);
		seg->ifaces.pos =
		    xreallocarray(seg->ifaces.pos, seg->ifaces.cap, sizeof(*seg->ifaces.pos));
		seg->ifaces.pos[seg->ifaces.n - 1] = t->pos;
	}
	rulefile_next(P);
	return true;
}

static const char *const rulefile_kinds[] = {"shirei", "joho", "lgwan", "internet", "other", NULL};

static bool rulefile_kind_of(const char *s, size_t n, enum seg_kind *r)
{
	static const enum seg_kind kinds[] = {SEG_SHIREI, SEG_JOHO, SEG_LGWAN, SEG_INTERNET,
	                                      SEG_OTHER};

	for (size_t i = 0; rulefile_kinds[i]; i++) {
		if (strlen(rulefile_kinds[i]) == n && memcmp(rulefile_kinds[i], s, n) == 0) {
			*r = kinds[i];
			return true;
		}
	}
	return false;
}

static const char *const rulefile_segment_words[] = {
    "kind", "interface", "network", "registered-only", "host", NULL};

/* One setting inside segment { }; arg is the segment's index. */
static bool rulefile_segment_stmt(struct rulefile_parser *P, void *arg)
{
	size_t segidx = *(size_t *)arg;
	struct segment *seg = &P->p->segs.v[segidx];

	if (rulefile_is(P, "kind")) {
		struct srcpos kpos = P->tok.pos;
		enum seg_kind k;

		rulefile_next(P);
		if (P->tok.type != TOK_WORD) {
			rulefile_expected(P, "a kind (shirei, joho, lgwan, internet or other)");
			return false;
		}
		if (!rulefile_kind_of(P->tok.p, P->tok.n, &k)) {
			rulefile_unknown(P, "kind", rulefile_kinds);
			rulefile_next(P);
			return true;
		}
		if (seg->kind_given)
			rulefile_error(P, &kpos, "segment \"%s\" has a second kind", seg->id);
		seg->kind = k;
		seg->kind_given = true;
		rulefile_next(P);
		return true;
	}
	if (rulefile_is(P, "interface")) {
		rulefile_next(P);
		if (P->tok.type != TOK_WORD) {
			rulefile_expected(P, "an interface name");
			return false;
		}
		while (P->tok.type == TOK_WORD)
			rulefile_ifname(P, seg);
		return true;
	}
	if (rulefile_is(P, "network")) {
		rulefile_next(P);
		if (P->tok.type != TOK_WORD) {
			rulefile_expected(P, "a network");
			return false;
		}
		while (P->tok.type == TOK_WORD) {
			struct srcpos npos = P->tok.pos;
			struct prefix n;

			if (!rulefile_prefix(P, false, &n))
				continue;
			if (seg->nets.n == POLICY_MAX_SEGMENT_NETS) {
				rulefile_error(P, &npos, "segment \"%s\" has more than %d networks",
				               seg->id, POLICY_MAX_SEGMENT_NETS);
				continue;
			}
			*VEC_PUSH(seg->nets) = n;
			seg->nets.pos =
			    xreallocarray(seg->nets.pos, seg->nets.cap, sizeof(*seg->nets.pos));
			seg->nets.pos[seg->nets.n - 1] = npos;
		}
		return true;
	}
	if (rulefile_is(P, "registered-only")) {
		seg->registered_only = true;
		seg->registered_only_pos = P->tok.pos;
		rulefile_next(P);
		return true;
	}
	if (rulefile_is(P, "host"))
		return rulefile_host(P, segidx);
	rulefile_unknown(P, "segment setting", rulefile_segment_words);
	return false;
}

static bool rulefile_segment(struct rulefile_parser *P)
{
	struct policy *p = P->p;
	struct nameref id;
	char *label = NULL;
	struct segment *seg;
	size_t segidx;

	rulefile_next(P);
	if (!rulefile_name(P, "a segment id", &id))
		return false;
	for (size_t i = 0; id.name[i]; i++) {
		char c = id.name[i];

		if (!((c >= 'a' && c <= 'z') || (i > 0 && ((c >= '0' && c <= '9') || c == '-')))) {
			rulefile_error(
			    P, &id.pos,
			    "segment id \"%s\" must be lowercase letters, digits and '-', "
			    "starting with a letter",
			    id.name);
			break;
		}
	}
	if (P->tok.type == TOK_STRING) {
		label = xstrndup(P->tok.str, P->tok.slen);
		rulefile_next(P);
	}
	if (P->tok.type != TOK_LBRACE) {
		rulefile_expected(P, "'{' and the segment's settings");
		free(id.name);
		free(label);
		return false;
	}
	if (p->segs.n == POLICY_MAX_SEGMENTS) {
		rulefile_error(P, &id.pos, "more than %d segments", POLICY_MAX_SEGMENTS);
		free(id.name);
		free(label);
		return false; /* the block is skipped */
	}
	seg = VEC_PUSH(p->segs);
	segidx = p->segs.n - 1;
	seg->id = id.name;
	seg->pos = id.pos;
	seg->label = label;
	rulefile_block(P, rulefile_segment_stmt, &segidx);
	seg = &p->segs.v[segidx];
	if (!seg->kind_given && !rulefile_kind_of(seg->id, strlen(seg->id), &seg->kind))
		seg->kind = SEG_OTHER;
	return true;
}

static bool rulefile_group(struct rulefile_parser *P)
{
	struct nameref name;
	struct group g;

	memset(&g, 0, sizeof(g));
	rulefile_next(P);
	if (!rulefile_name(P, "a group name", &name))
		return false;
	g.name = name.name;
	g.pos = name.pos;
	while (P->tok.type == TOK_WORD) {
		struct nameref m;

		rulefile_name(P, "a host or group name", &m);
		*VEC_PUSH(g.members) = m;
	}
	if (g.members.n == 0)
		rulefile_error(P, &g.pos, "group \"%s\" has no members", g.name);
	*VEC_PUSH(P->p->groups) = g;
	return true;
}

static void rulefile_svc_set(struct flow *f, uint16_t port, const struct srcpos *pos)
{
	struct service *s = VEC_PUSH(f->svcs);
	struct portrange *r;

	s->proto = PROTO_TCP;
	s->pos = *pos;
	r = VEC_PUSH(s->ports);
	r->lo = r->hi = port;
}

/* approved-by / reason / expires inside exception { }; arg is the flow. */
static bool rulefile_exception_stmt(struct rulefile_parser *P, void *arg)
{
	static const char *const words[] = {"approved-by", "reason", "expires", NULL};
	struct flow *f = arg;
	struct srcpos kpos = P->tok.pos;

	if (rulefile_is(P, "approved-by") || rulefile_is(P, "reason")) {
		bool approver = rulefile_is(P, "approved-by");
		char **dst = approver ? &f->approved_by : &f->reason;
		struct srcpos *dpos = approver ? &f->approved_pos : &f->reason_pos;

		rulefile_next(P);
		if (P->tok.type != TOK_STRING) {
			rulefile_expected(P, "a quoted string");
			return false;
		}
		if (*dst) {
			rulefile_error(P, &kpos, "%s is given twice",
			               approver ? "approved-by" : "reason");
		} else {
			const char *s = P->tok.str;
			size_t k = 0;

			while (k < P->tok.slen && (s[k] == ' '))
				k++;
			if (k == P->tok.slen)
				rulefile_error(P, &P->tok.pos, "%s is empty",
				               approver ? "approved-by" : "reason");
			*dst = xstrndup(P->tok.str, P->tok.slen);
			*dpos = P->tok.pos;
		}
		rulefile_next(P);
		return true;
	}
	if (rulefile_is(P, "expires")) {
		struct date d;
		struct srcpos dpos;

		rulefile_next(P);
		dpos = P->tok.pos;
		if (!rulefile_date(P, &d)) {
			/* reported; mark it given so the check does not call it missing */
			if (f->expires_pos.line == 0)
				f->expires_pos = dpos;
			return true;
		}
		if (f->expires.year) {
			rulefile_error(P, &kpos, "expires is given twice");
			return true;
		}
		f->expires = d;
		f->expires_pos = dpos;
		return true;
	}
	rulefile_unknown(P, "exception setting", words);
	return false;
}

static const char *const rulefile_flow_words[] = {"allow", "mail", "screen", "exception", NULL};

/* allow / mail / screen / exception; the flow is kept only if it parsed cleanly. */
static bool rulefile_flow(struct rulefile_parser *P)
{
	struct flow f;
	int errors = P->nerrors;
	bool has_port = false, ok = true;
	uint16_t port = 25;
	struct srcpos port_pos = {0};

	memset(&f, 0, sizeof(f));
	f.pos = P->tok.pos;
	f.kind = rulefile_is(P, "allow")    ? FLOW_ALLOW
	         : rulefile_is(P, "mail")   ? FLOW_MAIL
	         : rulefile_is(P, "screen") ? FLOW_SCREEN
	                                    : FLOW_EXCEPTION;
	rulefile_next(P);
	if (!rulefile_name(P, "the source segment", &f.src))
		goto fail;
	if (P->tok.type != TOK_ARROW) {
		rulefile_expected(P, "'->'");
		goto fail;
	}
	rulefile_next(P);
	if (!rulefile_name(P, "the destination segment", &f.dst))
		goto fail;
	if (f.kind == FLOW_ALLOW || f.kind == FLOW_EXCEPTION) {
		while (P->tok.type == TOK_WORD && !rulefile_is(P, "from") &&
		       !rulefile_is(P, "to")) {
			struct service s;

			if (rulefile_service(P, &s))
				*VEC_PUSH(f.svcs) = s;
		}
		if (f.svcs.n == 0 && P->nerrors == errors) {
			rulefile_expected(P, "a service (tcp/PORTS, udp/PORTS or ping)");
			goto fail;
		}
	}
	while (P->tok.type == TOK_WORD) {
		struct srcpos kpos = P->tok.pos;
		bool is_from = rulefile_is(P, "from"), is_to = rulefile_is(P, "to");

		if (is_from || is_to) {
			struct nameref *r = is_from ? &f.from : &f.to;
			struct nameref tmp;

			rulefile_next(P);
			if (!rulefile_name(P, "a host or group name", &tmp))
				goto fail;
			if (r->name) {
				rulefile_error(P, &kpos, "'%s' is given twice",
				               is_from ? "from" : "to");
				free(tmp.name);
			} else {
				*r = tmp;
			}
		} else if (rulefile_is(P, "port") &&
		           (f.kind == FLOW_MAIL || f.kind == FLOW_SCREEN)) {
			rulefile_next(P);
			port_pos = P->tok.pos;
			if (!rulefile_port_word(P, 1, "a port", &port))
				continue;
			if (has_port)
				rulefile_error(P, &kpos, "'port' is given twice");
			has_port = true;
		} else {
			if ((f.kind == FLOW_MAIL || f.kind == FLOW_SCREEN) &&
			    (rulefile_is(P, "ping") ||
			     (P->tok.n >= 3 && (memcmp(P->tok.p, "tcp", 3) == 0 ||
			                        memcmp(P->tok.p, "udp", 3) == 0))))
				rulefile_error(
				    P, &P->tok.pos,
				    "a %s flow takes no services: it is tcp, to the port "
				    "given by 'port N'%s",
				    f.kind == FLOW_MAIL ? "mail" : "screen",
				    f.kind == FLOW_MAIL ? " (default 25)" : "");
			else if (f.kind == FLOW_MAIL || f.kind == FLOW_SCREEN)
				rulefile_expected(P, "'to', 'from' or 'port'");
			else
				rulefile_expected(P, "'from', 'to' or the end of the line");
			goto fail;
		}
	}
	if (f.kind == FLOW_MAIL) {
		rulefile_svc_set(&f, port, has_port ? &port_pos : &f.pos);
	} else if (f.kind == FLOW_SCREEN) {
		if (!has_port) {
			if (P->nerrors == errors)
				rulefile_error(P, &f.pos,
				               "a screen flow needs 'port N' (e.g. port 3389)");
			ok = false;
		} else {
			rulefile_svc_set(&f, port, &port_pos);
		}
	}
	if (f.kind == FLOW_EXCEPTION) {
		if (P->tok.type != TOK_LBRACE) {
			rulefile_expected(P, "'{' and approved-by, reason and expires");
			goto fail;
		}
		rulefile_block(P, rulefile_exception_stmt, &f);
	}
	if (P->tok.type == TOK_RBRACE || !rulefile_at_end(P)) {
		rulefile_expected(P, "end of line");
		goto fail;
	}
	if (!ok || P->nerrors != errors) {
		/* a flow with a syntax error is dropped: its other errors would be noise */
		policy_flow_free(&f);
		return true;
	}
	if (P->p->flows.n == POLICY_MAX_FLOWS) {
		rulefile_error(P, &f.pos, "more than %d flows", POLICY_MAX_FLOWS);
		policy_flow_free(&f);
		return true;
	}
	*VEC_PUSH(P->p->flows) = f;
	return true;
fail:
	policy_flow_free(&f);
	return false;
}

static const char *const rulefile_box_words[] = {"relay-port", "log-group", "manage", NULL};

static bool rulefile_box_stmt(struct rulefile_parser *P, void *arg)
{
	struct policy *p = P->p;
	bool *seen = arg; /* [0] relay-port, [1] log-group */
	struct srcpos kpos = P->tok.pos;

	if (rulefile_is(P, "relay-port") || rulefile_is(P, "log-group")) {
		bool relay = rulefile_is(P, "relay-port");
		uint16_t v;

		rulefile_next(P);
		if (!rulefile_port_word(P, relay ? 1 : 0,
		                        relay ? "a port" : "an nflog group number", &v))
			return true;
		if (seen[relay ? 0 : 1])
			rulefile_error(P, &kpos, "%s is given twice",
			               relay ? "relay-port" : "log-group");
		seen[relay ? 0 : 1] = true;
		if (relay)
			p->relay_port = v;
		else
			p->log_group = v;
		return true;
	}
	if (rulefile_is(P, "manage")) {
		struct mgmt m;
		int errors = P->nerrors;

		memset(&m, 0, sizeof(m));
		m.pos = kpos;
		rulefile_next(P);
		if (!rulefile_is(P, "from")) {
			rulefile_expected(P, "'from'");
			return false;
		}
		rulefile_next(P);
		if (!rulefile_name(P, "a host or group name", &m.from))
			return false;
		while (P->tok.type == TOK_WORD) {
			struct service s;

			if (rulefile_service(P, &s))
				*VEC_PUSH(m.svcs) = s;
		}
		if (m.svcs.n == 0 && P->nerrors == errors) {
			rulefile_expected(P, "a service (e.g. tcp/22)");
			free(m.from.name);
			return false;
		}
		*VEC_PUSH(p->mgmt) = m;
		return true;
	}
	rulefile_unknown(P, "box setting", rulefile_box_words);
	return false;
}

static bool rulefile_box(struct rulefile_parser *P)
{
	struct policy *p = P->p;
	struct srcpos kpos = P->tok.pos;
	bool seen[2] = {false, false};

	rulefile_next(P);
	if (P->tok.type != TOK_LBRACE) {
		rulefile_expected(P, "'{' and the box settings");
		return false;
	}
	if (p->box_seen) {
		rulefile_error(P, &kpos, "a second box block (there is one box)");
		diag_note(&p->box_pos, "the first box block");
	} else {
		p->box_seen = true;
		p->box_pos = kpos;
	}
	rulefile_block(P, rulefile_box_stmt, seen);
	return true;
}

/* Directory part of a shown path, with its '/', or "" for a bare name. */
static size_t rulefile_dirlen(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? (size_t)(slash - path) + 1 : 0;
}

/*
 * The name to show for dir + rel: "." and "x/.." steps removed (lexically;
 * the file is still opened by its unnormalised name).  Returns false if
 * it does not fit PATH_MAX.
 */
static bool rulefile_show_path(const char *dir, size_t dlen, const char *rel, size_t rlen,
                               struct strbuf *out)
{
	struct strbuf in;
	size_t parts[PATH_MAX / 2 + 1], np = 0; /* offsets in out of each kept part */
	bool abs, ok;
	size_t i = 0;

	strbuf_init(&in, PATH_MAX);
	ok = strbuf_append(&in, dir, dlen) && strbuf_append(&in, rel, rlen);
	if (!ok) {
		strbuf_free(&in);
		return false;
	}
	abs = in.s[0] == '/';
	strbuf_reset(out);
	if (abs)
		strbuf_putc(out, '/');
	while (i < in.len) {
		size_t j = i;

		while (j < in.len && in.s[j] != '/')
			j++;
		if (j == i || (j - i == 1 && in.s[i] == '.')) {
			/* empty or "." */
		} else if (j - i == 2 && in.s[i] == '.' && in.s[i + 1] == '.' && np > 0 &&
		           strcmp(out->s + parts[np - 1], "..") != 0) {
			out->len = parts[--np];
			out->s[out->len] = '\0';
			if (out->len > (abs ? 1u : 0u)) /* drop the '/' before it */
				out->s[--out->len] = '\0';
		} else if (j - i == 2 && in.s[i] == '.' && in.s[i + 1] == '.' && abs && np == 0) {
			/* "/.." is "/" */
		} else {
			if (out->len > (abs ? 1u : 0u))
				strbuf_putc(out, '/');
			parts[np++] = out->len;
			strbuf_append(out, in.s + i, j - i);
		}
		i = j + 1;
	}
	if (out->len == 0)
		strbuf_putc(out, '.');
	strbuf_free(&in);
	return !out->overflow;
}

static bool rulefile_include(struct rulefile_parser *P)
{
	struct srcpos kpos = P->tok.pos, spos;
	struct strbuf path, show;
	bool rel;

	rulefile_next(P);
	if (P->tok.type != TOK_STRING) {
		rulefile_expected(P, "a quoted file name");
		return false;
	}
	spos = P->tok.pos;
	rel = P->tok.slen && P->tok.str[0] != '/';
	strbuf_init(&path, PATH_MAX);
	strbuf_init(&show, PATH_MAX);
	if (P->tok.slen == 0) {
		rulefile_error(P, &spos, "empty file name");
	} else if (!P->ctx->allow_include) {
		rulefile_error(P, &kpos, "include is not available here (no rules directory)");
	} else if ((rel && !strbuf_append(&path, P->path, rulefile_dirlen(P->path))) ||
	           !strbuf_append(&path, P->tok.str, P->tok.slen) ||
	           !rulefile_show_path(P->file, rel ? rulefile_dirlen(P->file) : 0, P->tok.str,
	                               P->tok.slen, &show)) {
		rulefile_error(P, &spos, "file name too long");
	} else {
		rulefile_next(P);
		if (rulefile_at_end(P))
			rulefile_load_path(P->ctx, path.s, show.s, &spos);
		strbuf_free(&path);
		strbuf_free(&show);
		return true;
	}
	strbuf_free(&path);
	strbuf_free(&show);
	rulefile_next(P);
	return true;
}

static const char *const rulefile_statements[] = {
    "include", "segment", "host", "group", "allow", "mail", "screen", "exception", "box", NULL};

static bool rulefile_statement(struct rulefile_parser *P)
{
	if (rulefile_is(P, "include"))
		return rulefile_include(P);
	if (rulefile_is(P, "segment"))
		return rulefile_segment(P);
	if (rulefile_is(P, "host"))
		return rulefile_host(P, SIZE_MAX);
	if (rulefile_is(P, "group"))
		return rulefile_group(P);
	for (size_t i = 0; rulefile_flow_words[i]; i++)
		if (rulefile_is(P, rulefile_flow_words[i]))
			return rulefile_flow(P);
	if (rulefile_is(P, "box"))
		return rulefile_box(P);
	if (rulefile_is(P, "manage") || rulefile_is(P, "relay-port") ||
	    rulefile_is(P, "log-group")) {
		rulefile_error(P, &P->tok.pos, "'%.*s' belongs inside box { }", (int)P->tok.n,
		               P->tok.p);
		return false;
	}
	if (rulefile_is(P, "kind") || rulefile_is(P, "interface") || rulefile_is(P, "network") ||
	    rulefile_is(P, "registered-only")) {
		rulefile_error(P, &P->tok.pos, "'%.*s' belongs inside segment NAME { }",
		               (int)P->tok.n, P->tok.p);
		return false;
	}
	rulefile_unknown(P, "statement", rulefile_statements);
	return false;
}

/* Parse one file's text (registered with diag under `path`). */
static void rulefile_parse(struct rulefile_ctx *ctx, const char *path, const char *show,
                           const char *text, size_t len)
{
	struct policy_file *pf = VEC_PUSH(ctx->p->files);
	struct rulefile_parser P;

	memset(&P, 0, sizeof(P));
	P.ctx = ctx;
	P.p = ctx->p;
	P.file = diag_add_source(show, text, len);
	P.path = path;
	pf->path = (char *)P.file; /* interned: owned by diag */
	pf->text = xstrndup(text, len);
	pf->len = len;
	P.text = pf->text;
	P.len = len;
	P.line = 1;
	P.checked_line = SIZE_MAX;
	strbuf_init(&P.sval, 0);
	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
		P.off = 3; /* a UTF-8 byte order mark */
	rulefile_next(&P);
	while (P.tok.type != TOK_EOF) {
		switch (P.tok.type) {
		case TOK_NL:
		case TOK_SEMI:
			rulefile_next(&P);
			continue;
		case TOK_RBRACE:
			rulefile_error(&P, &P.tok.pos, "'}' without a matching '{'");
			rulefile_next(&P);
			continue;
		case TOK_WORD:
			if (!rulefile_statement(&P)) {
				rulefile_sync(&P, false);
				continue;
			}
			break;
		default:
			rulefile_expected(&P, "a statement");
			rulefile_sync(&P, false);
			continue;
		}
		if (P.tok.type == TOK_RBRACE || !rulefile_at_end(&P)) {
			rulefile_expected(&P, "end of line");
			rulefile_sync(&P, false);
		}
	}
	strbuf_free(&P.sval);
}

/* ------------------------------------------------------------------ */
/* files */

/* Read a regular file of at most POLICY_MAX_FILE_BYTES; NULL + message on failure. */
static char *rulefile_read(const char *path, size_t *len_r, const char **why_r)
{
	struct strbuf b;
	struct stat st;
	char buf[65536];
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

	if (fd < 0) {
		*why_r = strerror(errno);
		return NULL;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		*why_r = "not a regular file";
		close(fd);
		return NULL;
	}
	strbuf_init(&b, POLICY_MAX_FILE_BYTES);
	for (;;) {
		ssize_t r = read(fd, buf, sizeof(buf));

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			*why_r = strerror(errno);
			break;
		}
		if (r == 0) {
			close(fd);
			strbuf_append(&b, "", 0);
			*len_r = b.len;
			return strbuf_detach(&b);
		}
		if (!strbuf_append(&b, buf, (size_t)r)) {
			*why_r = "file is larger than 16 MiB";
			break;
		}
	}
	close(fd);
	strbuf_free(&b);
	return NULL;
}

static bool rulefile_seen(char **v, size_t n, const char *s, size_t *i_r)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(v[i], s) == 0) {
			*i_r = i;
			return true;
		}
	}
	return false;
}

/* Load one file (from a directory listing, or included at `from`). */
static void rulefile_load_path(struct rulefile_ctx *ctx, const char *path, const char *show,
                               const struct srcpos *from)
{
	struct srcpos fpos = {.file = NULL};
	const struct srcpos *where = from;
	char *real, *text;
	const char *why = NULL;
	size_t len = 0, at;

	if (!where) {
		/* only errors name the file this way: registering it here would
		 * keep its text from diag */
		fpos.file = show;
		where = &fpos;
	}
	real = realpath(path, NULL);
	if (!real) {
		if (from)
			diag_error(where, "cannot open %s: %s", show, strerror(errno));
		else
			diag_error(where, "cannot open: %s", strerror(errno));
		return;
	}
	if (rulefile_seen(ctx->stack_real.v, ctx->stack_real.n, real, &at)) {
		struct strbuf b;

		strbuf_init(&b, 0);
		for (size_t i = at; i < ctx->stack_name.n; i++)
			strbuf_printf(&b, "%s -> ", ctx->stack_name.v[i]);
		strbuf_puts(&b, show);
		diag_error(where, "include cycle: %s", b.s);
		strbuf_free(&b);
		free(real);
		return;
	}
	if (rulefile_seen(ctx->loaded.v, ctx->loaded.n, real, &at)) {
		free(real); /* each file once */
		return;
	}
	if (ctx->stack_real.n > POLICY_MAX_INCLUDE_DEPTH) {
		diag_error(where, "includes are nested more than %d deep",
		           POLICY_MAX_INCLUDE_DEPTH);
		free(real);
		return;
	}
	text = rulefile_read(path, &len, &why);
	if (!text) {
		if (from)
			diag_error(where, "cannot read %s: %s", show, why);
		else
			diag_error(where, "cannot read: %s", why);
		free(real);
		return;
	}
	*VEC_PUSH(ctx->loaded) = real;
	*VEC_PUSH(ctx->stack_real) = real;
	*VEC_PUSH(ctx->stack_name) = show;
	rulefile_parse(ctx, path, show, text, len);
	ctx->stack_real.n--;
	ctx->stack_name.n--;
	free(text);
}

static struct policy *rulefile_policy_new(void)
{
	struct policy *p = xcalloc(1, sizeof(*p));

	p->relay_port = POLICY_DEFAULT_RELAY_PORT;
	p->log_group = POLICY_DEFAULT_LOG_GROUP;
	return p;
}

/* Link each segment to the hosts declared inside it (indexes are final now). */
static void rulefile_finish(struct rulefile_ctx *ctx)
{
	struct policy *p = ctx->p;

	for (size_t i = 0; i < ctx->regs.n; i++) {
		struct segment *seg = &p->segs.v[ctx->regs.v[i].seg];

		*VEC_PUSH(seg->hosts) = &p->hosts.v[ctx->regs.v[i].host];
	}
	free(ctx->regs.v);
	for (size_t i = 0; i < ctx->loaded.n; i++)
		free(ctx->loaded.v[i]);
	free(ctx->loaded.v);
	free(ctx->stack_real.v);
	free(ctx->stack_name.v);
}

static int rulefile_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

struct policy *rulefile_load_dir(const char *dir)
{
	struct rulefile_ctx ctx;
	struct {
		char **v;
		size_t n, cap;
	} names = {0};
	struct srcpos dpos = {0};
	size_t dlen = strlen(dir);
	DIR *d;
	struct dirent *e;

	memset(&ctx, 0, sizeof(ctx));
	ctx.p = rulefile_policy_new();
	ctx.allow_include = true;
	while (dlen > 1 && dir[dlen - 1] == '/')
		dlen--;
	dpos.file = diag_add_source(dir, NULL, 0);
	d = opendir(dir);
	if (!d) {
		diag_error(&dpos, "cannot read directory: %s", strerror(errno));
		rulefile_finish(&ctx);
		return ctx.p;
	}
	while ((e = readdir(d)) != NULL) {
		size_t n = strlen(e->d_name);

		if (e->d_name[0] == '.' || n <= 6 || strcmp(e->d_name + n - 6, ".rules") != 0)
			continue;
		*VEC_PUSH(names) = xstrdup(e->d_name);
	}
	closedir(d);
	if (names.n)
		qsort(names.v, names.n, sizeof(*names.v), rulefile_cmp);
	for (size_t i = 0; i < names.n; i++) {
		struct strbuf path;
		struct stat st;

		strbuf_init(&path, PATH_MAX);
		/* "." lists files by their bare names */
		if (!(dlen == 1 && dir[0] == '.')) {
			strbuf_append(&path, dir, dlen);
			if (!(dlen == 1 && dir[0] == '/'))
				strbuf_putc(&path, '/');
		}
		strbuf_puts(&path, names.v[i]);
		if (path.overflow) {
			diag_error(&dpos, "file name too long: %s", names.v[i]);
		} else if (stat(path.s, &st) == 0 && S_ISDIR(st.st_mode)) {
			/* a directory called x.rules: not a rule file */
		} else {
			rulefile_load_path(&ctx, path.s, path.s, NULL);
		}
		strbuf_free(&path);
		free(names.v[i]);
	}
	if (names.n == 0)
		diag_error(&dpos, "no *.rules files in this directory");
	free(names.v);
	rulefile_finish(&ctx);
	return ctx.p;
}

struct policy *rulefile_load_buffer(const char *name, const char *text, size_t len)
{
	struct rulefile_ctx ctx;

	memset(&ctx, 0, sizeof(ctx));
	ctx.p = rulefile_policy_new();
	if (len > POLICY_MAX_FILE_BYTES) {
		struct srcpos pos = {.file = diag_add_source(name, NULL, 0)};

		diag_error(&pos, "file is larger than 16 MiB");
	} else {
		rulefile_parse(&ctx, name, name, text, len);
	}
	rulefile_finish(&ctx);
	return ctx.p;
}

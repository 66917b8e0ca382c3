/*
 * sanitize - the 無害化 engine (see sanitize.h): raw message in, one new
 * text/plain message and a JSON verdict out.
 *
 * Pipeline: scan the raw bytes -> limits -> mime_parse (the tree, defects)
 * -> encrypted anywhere? withheld -> choose the body (text/plain with
 * substance, else HTML -> text) and render it with embedded messages
 * quoted -> cut inline uuencode/yEnc/BinHex blocks -> scan every leaf,
 * block and TNEF content -> notice -> new message (kept headers re-encoded,
 * one text/plain part, 8bit or quoted-printable) -> verdict.
 *
 * Trust: the message is hostile; the policy and templates are the
 * operator's.  Only text from text/plain or text/html leaves that are not
 * attachments under any reading of the structure reaches the body, and
 * only after charset decoding (invalid bytes become U+FFFD) and removal of
 * inline binary blocks.  Failure: a scanner that cannot scan the raw
 * message, or a bad template file, is SANITIZE_ERROR (never "clean");
 * limits, infection and encryption give SANITIZE_WITHHELD with the notice
 * as the body.  Out of memory is fatal (xalloc).
 */
#include "sanitize.h"
#include "charset.h"
#include "html_text.h"
#include "inline_bin.h"
#include "json.h"
#include "mime.h"
#include "notice.h"
#include "tnef.h"
#include "xalloc.h"

#include <gmime/gmime.h>
#include <openssl/evp.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SANITIZE_ENGINE_NAME "sekisho 0.1"
/* alternative: the plain half lacks substance below this many visible
 * characters when the HTML half has SANITIZE_HTML_FACTOR times more (+32) */
#define SANITIZE_PLAIN_SUBSTANCE 200
#define SANITIZE_HTML_FACTOR 4
#define SANITIZE_MAX_QUOTE_DEPTH 8
#define SANITIZE_MAX_HEADER_VALUE (64u * 1024)
#define SANITIZE_MAX_MSGIDS 100
#define SANITIZE_MAX_MSGID_BYTES 250
#define SANITIZE_MAX_NAME_BYTES 200
#define SANITIZE_MAX_ADDR_BYTES 254 /* octets of an addr-spec (RFC 5321 path 256 - 2) */

struct sz_removed {
	char *path;
	char *name;
	char *name_alt;
	char *type;
	const char *kind;
	size_t size;
	char sha256[65];
	const char *scan; /* clean infected unscannable not-scanned */
	char *virus;
	bool content;
};

struct sz_removed_vec {
	struct sz_removed *v;
	size_t n, cap;
};

/* Rendered text of one leaf (cached: alternatives are compared first). */
struct sz_text {
	const struct mime_node *leaf;
	struct strbuf text;            /* UTF-8, LF */
	struct sz_removed_vec inlined; /* blocks cut from it */
	const char *charset;           /* decoder used */
	bool signed_pgp;
};

struct sz_ctx {
	const struct sanitize_policy *pol;
	struct scan_engine *scan;
	struct mime_tree tree;
	struct notice_templates *tp;
	struct sz_removed_vec removed;
	struct {
		struct {
			char *path, *name;
		} * v;
		size_t n, cap;
	} viruses;
	const char *withheld;
	char *withheld_detail;
	bool signature_removed;
	struct timespec t0;
	struct {
		struct sz_text *v;
		size_t n, cap;
	} texts;
	const struct mime_node *body; /* chosen body leaf of the top message */
	const char *body_charset;
	struct {
		const struct mime_node **v;
		size_t n, cap;
	} used; /* leaves whose text is shown */
};

/* ---- policy ------------------------------------------------------------ */

void sanitize_policy_init(struct sanitize_policy *p)
{
	memset(p, 0, sizeof(*p));
	p->lang = SANITIZE_LANG_JA;
	p->max_message_bytes = SANITIZE_MAX_MESSAGE_BYTES;
	p->max_header_bytes = SANITIZE_MAX_HEADER_BYTES;
	p->max_mime_depth = SANITIZE_MAX_MIME_DEPTH;
	p->max_parts = SANITIZE_MAX_PARTS;
	p->time_limit_ms = SANITIZE_TIME_LIMIT_MS;
}

void sanitize_policy_free(struct sanitize_policy *p)
{
	free(p->notice_dir);
	for (size_t i = 0; i < p->keep_headers.n; i++)
		free(p->keep_headers.v[i]);
	free(p->keep_headers.v);
	memset(p, 0, sizeof(*p));
}

static bool sz_parse_size(const char *v, unsigned long long max, unsigned long long *r)
{
	char *end;
	unsigned long long n;

	if (!isdigit((unsigned char)*v))
		return false;
	errno = 0;
	n = strtoull(v, &end, 10);
	if (errno || end == v)
		return false;
	if (*end == 'k' || *end == 'K') {
		if (n > max / 1024)
			return false;
		n *= 1024;
		end++;
	} else if (*end == 'm' || *end == 'M') {
		if (n > max / (1024 * 1024))
			return false;
		n *= 1024 * 1024;
		end++;
	}
	if (*end || n == 0 || n > max)
		return false;
	*r = n;
	return true;
}

static bool sz_header_name_ok(const char *s)
{
	if (!*s || strlen(s) > 76)
		return false;
	for (; *s; s++)
		if (*s <= 32 || *s >= 127 || *s == ':')
			return false;
	return true;
}

bool sanitize_policy_load(struct sanitize_policy *p, const char *path, struct strbuf *err)
{
	struct strbuf text = STRBUF_INIT;
	size_t i = 0, lineno = 0;
	bool ok = true;

	strbuf_init(&text, 1024 * 1024);
	if (!strbuf_read_file(&text, path)) {
		strbuf_printf(err, "%s: %s\n", path,
		              text.overflow ? "file too large" : strerror(errno));
		strbuf_free(&text);
		return false;
	}
	while (i < text.len) {
		const char *l = text.s + i, *nl = memchr(l, '\n', text.len - i);
		size_t n = nl ? (size_t)(nl - l) : text.len - i;
		char key[64], val[4096];
		const char *eq, *k, *v;
		size_t kl, vl;
		unsigned long long num;

		i += n + 1;
		lineno++;
		while (n && (l[n - 1] == '\r' || l[n - 1] == ' ' || l[n - 1] == '\t'))
			n--;
		while (n && (*l == ' ' || *l == '\t')) {
			l++;
			n--;
		}
		if (n == 0 || *l == '#')
			continue;
		eq = memchr(l, '=', n);
		if (!eq) {
			strbuf_printf(err, "%s:%zu: expected 'key = value'\n", path, lineno);
			ok = false;
			continue;
		}
		k = l;
		kl = (size_t)(eq - l);
		while (kl && (k[kl - 1] == ' ' || k[kl - 1] == '\t'))
			kl--;
		v = eq + 1;
		vl = n - (size_t)(v - l);
		while (vl && (*v == ' ' || *v == '\t')) {
			v++;
			vl--;
		}
		if (kl == 0 || kl >= sizeof(key) || vl >= sizeof(val)) {
			strbuf_printf(err, "%s:%zu: key or value too long or missing\n", path,
			              lineno);
			ok = false;
			continue;
		}
		memcpy(key, k, kl);
		key[kl] = '\0';
		memcpy(val, v, vl);
		val[vl] = '\0';
		if (strcmp(key, "lang") == 0) {
			if (strcmp(val, "ja") == 0)
				p->lang = SANITIZE_LANG_JA;
			else if (strcmp(val, "en") == 0)
				p->lang = SANITIZE_LANG_EN;
			else {
				strbuf_printf(err, "%s:%zu: lang must be ja or en\n", path, lineno);
				ok = false;
			}
		} else if (strcmp(key, "output-charset") == 0) {
			if (strcasecmp(val, "utf-8") == 0)
				p->out_iso2022jp = false;
			else if (strcasecmp(val, "iso-2022-jp") == 0)
				p->out_iso2022jp = true;
			else {
				strbuf_printf(
				    err, "%s:%zu: output-charset must be utf-8 or iso-2022-jp\n",
				    path, lineno);
				ok = false;
			}
		} else if (strcmp(key, "max-message-bytes") == 0 ||
		           strcmp(key, "max-header-bytes") == 0) {
			if (!sz_parse_size(val, SANITIZE_MAX_MESSAGE_BYTES, &num)) {
				strbuf_printf(
				    err, "%s:%zu: %s must be a size from 1 to %u (K/M allowed)\n",
				    path, lineno, key, SANITIZE_MAX_MESSAGE_BYTES);
				ok = false;
			} else if (key[4] == 'm')
				p->max_message_bytes = (size_t)num;
			else
				p->max_header_bytes = (size_t)num;
		} else if (strcmp(key, "max-mime-depth") == 0 || strcmp(key, "max-parts") == 0 ||
		           strcmp(key, "time-limit-ms") == 0) {
			unsigned long long max = key[4] == 'm'   ? 100
			                         : key[4] == 'p' ? 100000
			                                         : 3600000;

			if (!sz_parse_size(val, max, &num) || strpbrk(val, "kKmM")) {
				strbuf_printf(err, "%s:%zu: %s must be a number from 1 to %llu\n",
				              path, lineno, key, max);
				ok = false;
			} else if (key[4] == 'm')
				p->max_mime_depth = (unsigned)num;
			else if (key[4] == 'p')
				p->max_parts = (unsigned)num;
			else
				p->time_limit_ms = (unsigned)num;
		} else if (strcmp(key, "notice-dir") == 0) {
			const char *slash = strrchr(path, '/');

			free(p->notice_dir);
			/* relative to the policy file's directory */
			if (val[0] != '/' && slash) {
				struct strbuf d = STRBUF_INIT;

				strbuf_append(&d, path, (size_t)(slash - path) + 1);
				strbuf_puts(&d, val);
				p->notice_dir = strbuf_detach(&d);
			} else
				p->notice_dir = xstrdup(val);
		} else if (strcmp(key, "keep-header") == 0) {
			if (!sz_header_name_ok(val)) {
				strbuf_printf(err, "%s:%zu: not a header field name: %s\n", path,
				              lineno, val);
				ok = false;
			} else if (strncasecmp(val, "Content-", 8) == 0 ||
			           strcasecmp(val, "MIME-Version") == 0 ||
			           strncasecmp(val, "X-Sekisho-", 10) == 0) {
				strbuf_printf(err,
				              "%s:%zu: %s cannot be kept (the engine writes it)\n",
				              path, lineno, val);
				ok = false;
			} else
				*(char **)VEC_PUSH(p->keep_headers) = xstrdup(val);
		} else {
			strbuf_printf(err, "%s:%zu: unknown key '%s'\n", path, lineno, key);
			ok = false;
		}
	}
	strbuf_free(&text);
	return ok;
}

/* ---- helpers ------------------------------------------------------------ */

static pthread_once_t sz_once = PTHREAD_ONCE_INIT;

static void sz_init_once(void)
{
	g_mime_init();
	charset_init();
}

static unsigned long sz_elapsed_ms(const struct sz_ctx *c)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (unsigned long)((now.tv_sec - c->t0.tv_sec) * 1000 +
	                       (now.tv_nsec - c->t0.tv_nsec) / 1000000);
}

static void sz_hex(const unsigned char *md, char out[65])
{
	static const char hx[] = "0123456789abcdef";

	for (int i = 0; i < 32; i++) {
		out[2 * i] = hx[md[i] >> 4];
		out[2 * i + 1] = hx[md[i] & 15];
	}
	out[64] = '\0';
}

static void sz_sha256_hex(const void *p, size_t n, char out[65])
{
	unsigned char md[32];
	unsigned int mdlen = 0;

	EVP_Digest(p, n, md, &mdlen, EVP_sha256(), NULL);
	sz_hex(md, out);
}

/* A virus or reason name made safe for headers and JSON: printable ASCII. */
static char *sz_ascii(const char *s, size_t max)
{
	size_t n = strlen(s);
	char *r;

	if (n > max)
		n = max;
	r = xstrndup(s, n);
	for (char *p = r; *p; p++)
		if (*p < 33 || *p > 126 || *p == ';' || *p == '"' || *p == '\\')
			*p = '_';
	return r;
}

static void sz_withhold(struct sz_ctx *c, const char *reason, const char *detail)
{
	static const char *const order[] = {"infected",    "encrypted", "limit",
	                                    "unscannable", "time",      "unparsable"};
	int cur = 99, want = 99;

	for (int i = 0; i < 6; i++) {
		if (c->withheld && strcmp(c->withheld, order[i]) == 0)
			cur = i;
		if (strcmp(reason, order[i]) == 0)
			want = i;
	}
	if (want >= cur)
		return;
	c->withheld = order[want];
	free(c->withheld_detail);
	c->withheld_detail = detail ? sz_ascii(detail, 200) : NULL;
}

/* Scan one buffer; returns the verdict word and records infections. */
static const char *sz_scan(struct sz_ctx *c, const char *path, const void *p, size_t n,
                           char **virus_r)
{
	const char *name = NULL;
	enum scan_result r;

	*virus_r = NULL;
	if (c->pol->time_limit_ms && sz_elapsed_ms(c) > c->pol->time_limit_ms) {
		sz_withhold(c, "time", NULL);
		return "not-scanned";
	}
	if (n == 0)
		return "clean";
	r = scan_buffer(c->scan, p, n, &name);
	if (r == SCAN_CLEAN)
		return "clean";
	if (r == SCAN_INFECTED) {
		char *v = sz_ascii(name ? name : "unknown", 200);
		__typeof__(c->viruses.v) slot = VEC_PUSH(c->viruses);

		slot->path = xstrdup(path);
		slot->name = xstrdup(v);
		sz_withhold(c, "infected", v);
		*virus_r = v;
		return "infected";
	}
	return "unscannable";
}

static struct sz_removed *sz_removed_add(struct sz_removed_vec *vec, const char *path,
                                         const char *name, const char *name_alt, const char *type,
                                         const char *kind, const void *data, size_t size)
{
	struct sz_removed *r = VEC_PUSH(*vec);

	r->path = xstrdup(path ? path : "");
	r->name = name ? xstrdup(name) : NULL;
	r->name_alt = name_alt ? xstrdup(name_alt) : NULL;
	r->type = xstrdup(type ? type : "application/octet-stream");
	r->kind = kind;
	r->size = size;
	sz_sha256_hex(data ? data : "", size, r->sha256);
	r->scan = "not-scanned";
	return r;
}

static void sz_removed_free(struct sz_removed_vec *vec)
{
	for (size_t i = 0; i < vec->n; i++) {
		free(vec->v[i].path);
		free(vec->v[i].name);
		free(vec->v[i].name_alt);
		free(vec->v[i].type);
		free(vec->v[i].virus);
	}
	free(vec->v);
	memset(vec, 0, sizeof(*vec));
}

/* Visible characters of UTF-8 text (not whitespace, not U+3000/U+00A0). */
static size_t sz_visible(const char *s, size_t n)
{
	size_t v = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if ((ch & 0xc0) == 0x80)
			continue;
		if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r')
			continue;
		if (ch == 0xe3 && i + 2 < n && (unsigned char)s[i + 1] == 0x80 &&
		    (unsigned char)s[i + 2] == 0x80)
			continue;
		if (ch == 0xc2 && i + 1 < n && (unsigned char)s[i + 1] == 0xa0)
			continue;
		v++;
	}
	return v;
}

static bool sz_type_is_text_body(const char *t)
{
	return t && (strcmp(t, "text/plain") == 0 || strcmp(t, "text/html") == 0);
}

/* Bytes that no text carries: NUL, or many other controls, outside the
 * inline blocks (yEnc carries raw control bytes; it is cut out anyway). */
static bool sz_looks_binary(const struct mime_node *n)
{
	size_t lim = n->data.len < 65536 ? n->data.len : 65536, ctl = 0, counted = 0, nb, bi = 0;
	const unsigned char *p = (const unsigned char *)n->data.s;
	struct inline_block *blocks = NULL;

	if (n->charset &&
	    (strncmp(n->charset, "utf-16", 6) == 0 || strncmp(n->charset, "utf-32", 6) == 0 ||
	     strncmp(n->charset, "ucs", 3) == 0))
		return false;
	if (!lim)
		return false;
	nb = inline_bin_find(n->data.s, lim, &blocks);
	for (size_t i = 0; i < lim; i++) {
		while (bi < nb && blocks[bi].end <= i)
			bi++;
		if (bi < nb && blocks[bi].start <= i) {
			i = blocks[bi].end - 1;
			continue;
		}
		counted++;
		if (p[i] == 0) {
			ctl = counted + 1;
			break;
		}
		if (p[i] < 0x20 && p[i] != '\t' && p[i] != '\n' && p[i] != '\r' && p[i] != '\f' &&
		    p[i] != 0x1b && p[i] != 0x0e && p[i] != 0x0f)
			ctl++;
	}
	inline_bin_free(blocks, nb);
	return ctl * 20 > counted && ctl > 0;
}

/* Could this leaf be the body under every reading of the structure? */
static bool sz_text_leaf_ok(struct sz_ctx *c, const struct mime_node *n)
{
	if (n->kind != MIME_LEAF || n->hidden || !sz_type_is_text_body(n->type))
		return false;
	if (n->disposition && strcmp(n->disposition, "inline") != 0)
		return false;
	if (n->name || n->name_alt)
		return false;
	if (n->type_alt && !sz_type_is_text_body(n->type_alt) &&
	    strncmp(n->type_alt, "multipart/", 10) != 0)
		return false;
	for (const struct mime_node *a = n->parent; a; a = a->parent) {
		if (a->hidden)
			return false;
		if (a->type_alt && strncmp(a->type_alt, "multipart/", 10) != 0 &&
		    strncmp(a->type_alt, "message/", 8) != 0 && !sz_type_is_text_body(a->type_alt))
			return false;
	}
	if (sz_looks_binary(n)) {
		mime_defect(&c->tree, "binary_in_text_part", n->path, NULL);
		return false;
	}
	return true;
}

/* ---- text of a leaf ------------------------------------------------------ */

static void sz_html_escape(const char *s, size_t n, struct strbuf *out)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '<')
			strbuf_puts(out, "&lt;");
		else if (s[i] == '>')
			strbuf_puts(out, "&gt;");
		else if (s[i] == '&')
			strbuf_puts(out, "&amp;");
		else
			strbuf_putc(out, s[i]);
	}
}

/* Remove a PGP clear-signature: keep the signed text, drop the armour. */
static bool sz_strip_pgp_signed(struct strbuf *t)
{
	static const char begin[] = "-----BEGIN PGP SIGNED MESSAGE-----";
	static const char sbeg[] = "-----BEGIN PGP SIGNATURE-----";
	static const char send[] = "-----END PGP SIGNATURE-----";
	struct strbuf o = STRBUF_INIT;
	size_t i = 0;
	enum { OUT, HASHES, SIGNED, SIG } st = OUT;
	bool found = false;

	if (!t->s || !strstr(t->s, begin))
		return false;
	while (i < t->len) {
		const char *l = t->s + i, *nl = memchr(l, '\n', t->len - i);
		size_t n = nl ? (size_t)(nl - l) : t->len - i;

		i += n + (nl ? 1 : 0);
		if (st == OUT && n >= sizeof(begin) - 1 &&
		    memcmp(l, begin, sizeof(begin) - 1) == 0) {
			st = HASHES;
			found = true;
			continue;
		}
		if (st == HASHES) {
			if (n == 0)
				st = SIGNED;
			continue;
		}
		if (st == SIGNED && n >= sizeof(sbeg) - 1 &&
		    memcmp(l, sbeg, sizeof(sbeg) - 1) == 0) {
			st = SIG;
			continue;
		}
		if (st == SIG) {
			if (n >= sizeof(send) - 1 && memcmp(l, send, sizeof(send) - 1) == 0)
				st = OUT;
			continue;
		}
		if (st == SIGNED && n >= 2 && l[0] == '-' && l[1] == ' ') {
			l += 2;
			n -= 2;
		}
		strbuf_append(&o, l, n);
		if (nl)
			strbuf_putc(&o, '\n');
	}
	strbuf_free(t);
	*t = o;
	if (!t->s)
		strbuf_puts(t, "");
	return found;
}

static struct sz_text *sz_leaf_text(struct sz_ctx *c, const struct mime_node *n)
{
	struct sz_text *tx;
	struct inline_block *blocks = NULL;
	size_t nb, pos = 0;
	bool html = strcmp(n->type, "text/html") == 0;
	const char *label = n->charset, *used = NULL;
	char sniff[64];
	struct strbuf utf8 = STRBUF_INIT;
	struct charset_counters cc;

	for (size_t i = 0; i < c->texts.n; i++)
		if (c->texts.v[i].leaf == n)
			return &c->texts.v[i];
	tx = VEC_PUSH(c->texts);
	tx->leaf = n;
	strbuf_init(&tx->text, 0);
	if (html && !label)
		label = html_text_sniff_charset(n->data.s ? n->data.s : "", n->data.len, sniff,
		                                sizeof(sniff));
	if (!label)
		label = charset_guess(n->data.s ? n->data.s : "", n->data.len);
	charset_counters(NULL, true);
	nb = inline_bin_find(n->data.s ? n->data.s : "", n->data.len, &blocks);
	for (size_t i = 0; i <= nb; i++) {
		size_t end = i < nb ? blocks[i].start : n->data.len;

		if (end > pos)
			charset_decode(label, n->data.s + pos, end - pos, &utf8, &used);
		if (i < nb) {
			struct inline_block *b = &blocks[i];
			struct strbuf name = STRBUF_INIT, mk = STRBUF_INIT;
			char path[300];
			struct sz_removed *r;

			if (b->name)
				charset_decode_header(b->name, strlen(b->name), &name);
			snprintf(path, sizeof(path), "%s.i%zu", n->path, i + 1);
			r = sz_removed_add(&tx->inlined, path, b->name ? name.s : NULL, NULL,
			                   b->kind, b->kind, b->data.s, b->data.len);
			r->scan =
			    sz_scan(c, path, b->data.s ? b->data.s : "", b->data.len, &r->virus);
			notice_marker(c->tp, b->kind, b->name ? name.s : NULL, &mk);
			if (html) {
				strbuf_puts(&utf8, "<br>");
				sz_html_escape(mk.s ? mk.s : "", mk.len, &utf8);
				strbuf_puts(&utf8, "<br>");
			} else
				strbuf_append(&utf8, mk.s ? mk.s : "", mk.len);
			strbuf_free(&name);
			strbuf_free(&mk);
			pos = b->end;
		}
	}
	inline_bin_free(blocks, nb);
	charset_counters(&cc, true);
	if (cc.mislabelled)
		mime_defect(&c->tree, "mislabelled_charset", n->path, "%s declared, read as %s",
		            n->charset ? n->charset : "none", used ? used : "?");
	tx->charset = used ? used : "US-ASCII";
	if (html)
		html_text_convert(utf8.s ? utf8.s : "", utf8.len, &tx->text);
	else {
		tx->text = utf8;
		strbuf_init(&utf8, 0);
	}
	strbuf_free(&utf8);
	if (!tx->text.s)
		strbuf_puts(&tx->text, "");
	tx->signed_pgp = sz_strip_pgp_signed(&tx->text);
	return tx;
}

/* ---- choosing the body ------------------------------------------------- */

static const char *sz_subtype(const struct mime_node *n)
{
	const char *s = strchr(n->type, '/');

	return s ? s + 1 : "";
}

static const struct mime_node *sz_choose(struct sz_ctx *c, const struct mime_node *n);

static const struct mime_node *sz_choose_alternative(struct sz_ctx *c, const struct mime_node *n)
{
	const struct mime_node *plain = NULL, *html = NULL;
	struct sz_text *pt, *ht;
	size_t pv, hv;

	for (size_t i = 0; i < n->nkids; i++) {
		const struct mime_node *b = sz_choose(c, n->kids[i]);

		if (!b)
			continue;
		if (strcmp(b->type, "text/plain") == 0) {
			if (!plain)
				plain = b;
		} else
			html = b; /* the last HTML: alternatives go from plain to rich */
	}
	if (!plain || !html)
		return plain ? plain : html;
	pt = sz_leaf_text(c, plain);
	pv = sz_visible(pt->text.s, pt->text.len);
	if (pv >= SANITIZE_PLAIN_SUBSTANCE)
		return plain;
	ht = sz_leaf_text(c, html);
	hv = sz_visible(ht->text.s, ht->text.len);
	if ((pv == 0 && hv > 0) || hv >= SANITIZE_HTML_FACTOR * pv + 32) {
		mime_defect(&c->tree, "plain_alternative_without_substance", plain->path,
		            "%zu visible characters, HTML %zu", pv, hv);
		return html;
	}
	return plain;
}

static const struct mime_node *sz_choose(struct sz_ctx *c, const struct mime_node *n)
{
	const char *sub;

	if (!n)
		return NULL;
	if (n->kind == MIME_LEAF)
		return sz_text_leaf_ok(c, n) ? n : NULL;
	if (n->kind == MIME_MESSAGE || n->hidden)
		return NULL;
	sub = sz_subtype(n);
	if (strcmp(sub, "alternative") == 0)
		return sz_choose_alternative(c, n);
	if (strcmp(sub, "encrypted") == 0)
		return NULL;
	if (strcmp(sub, "signed") == 0 || strcmp(sub, "related") == 0 ||
	    strcmp(sub, "pkcs7-mime") == 0 || strcmp(sub, "x-pkcs7-mime") == 0)
		return n->nkids ? sz_choose(c, n->kids[0]) : NULL;
	for (size_t i = 0; i < n->nkids; i++) {
		const struct mime_node *b;

		if (n->kids[i]->kind == MIME_MESSAGE)
			continue;
		b = sz_choose(c, n->kids[i]);
		if (b)
			return b;
	}
	return NULL;
}

static void sz_mark_used(struct sz_ctx *c, const struct mime_node *n)
{
	*(const struct mime_node **)VEC_PUSH(c->used) = n;
}

static bool sz_is_used(const struct sz_ctx *c, const struct mime_node *n)
{
	for (size_t i = 0; i < c->used.n; i++)
		if (c->used.v[i] == n)
			return true;
	return false;
}

static void sz_quote(const char *s, size_t n, struct strbuf *out)
{
	size_t i = 0;

	while (i < n) {
		const char *nl = memchr(s + i, '\n', n - i);
		size_t e = nl ? (size_t)(nl - s) : n;

		strbuf_puts(out, e > i ? "> " : ">");
		strbuf_append(out, s + i, e - i);
		strbuf_putc(out, '\n');
		i = e + 1;
	}
}

static void sz_render(struct sz_ctx *c, const struct mime_node *content, unsigned qdepth,
                      struct strbuf *out, const struct mime_node **body_r);

/* Embedded messages reachable from n without entering an alternative's
 * unused branch, an encrypted part or hidden parts: quoted, in order. */
static void sz_render_embedded(struct sz_ctx *c, const struct mime_node *n, unsigned qdepth,
                               struct strbuf *out)
{
	if (!n || n->hidden)
		return;
	if (n->kind == MIME_MESSAGE) {
		struct strbuf inner = STRBUF_INIT;

		if (qdepth >= SANITIZE_MAX_QUOTE_DEPTH || n->nkids == 0)
			return;
		sz_render(c, n->kids[0], qdepth + 1, &inner, NULL);
		if (out->len && out->s[out->len - 1] != '\n')
			strbuf_putc(out, '\n');
		if (out->len)
			strbuf_putc(out, '\n');
		notice_embedded(c->tp, n->msg_from, n->msg_date, n->msg_subject, out);
		strbuf_putc(out, '\n');
		sz_quote(inner.s ? inner.s : "", inner.len, out);
		strbuf_free(&inner);
		return;
	}
	if (n->kind != MIME_MULTIPART)
		return;
	if (strcmp(sz_subtype(n), "alternative") == 0 || strcmp(sz_subtype(n), "encrypted") == 0)
		return;
	if (strcmp(sz_subtype(n), "signed") == 0) {
		if (n->nkids)
			sz_render_embedded(c, n->kids[0], qdepth, out);
		return;
	}
	for (size_t i = 0; i < n->nkids; i++)
		sz_render_embedded(c, n->kids[i], qdepth, out);
}

static void sz_render(struct sz_ctx *c, const struct mime_node *content, unsigned qdepth,
                      struct strbuf *out, const struct mime_node **body_r)
{
	const struct mime_node *b = sz_choose(c, content);

	if (body_r)
		*body_r = b;
	if (b) {
		struct sz_text *tx = sz_leaf_text(c, b);

		sz_mark_used(c, b);
		strbuf_append(out, tx->text.s, tx->text.len);
		if (tx->signed_pgp)
			c->signature_removed = true;
	}
	sz_render_embedded(c, content, qdepth, out);
}

/* ---- listing and scanning every part ----------------------------------- */

static bool sz_is_tnef(const struct mime_node *n)
{
	return strcmp(n->type, "application/ms-tnef") == 0 ||
	       strcmp(n->type, "application/vnd.ms-tnef") == 0 ||
	       (n->name && strcasecmp(n->name, "winmail.dat") == 0);
}

static bool sz_is_encrypted(const struct mime_node *n)
{
	if (strcmp(n->type, "multipart/encrypted") == 0 ||
	    strcmp(n->type, "application/pgp-encrypted") == 0)
		return true;
	if (strcmp(n->type, "application/pkcs7-mime") == 0 ||
	    strcmp(n->type, "application/x-pkcs7-mime") == 0) {
		if (n->smime_type)
			return strstr(n->smime_type, "enveloped") != NULL;
		/* no smime-type: only signed-data says what it is in the name */
		return !(n->name && strcasecmp(n->name, "smime.p7s") == 0);
	}
	return false;
}

static bool sz_is_signature(const struct mime_node *n)
{
	const struct mime_node *p = n->parent;

	return p &&
	       (strcmp(p->type, "multipart/signed") == 0 ||
	        (p->kind == MIME_MULTIPART && strstr(p->type, "pkcs7-mime") != NULL)) &&
	       p->nkids > 1 && n != p->kids[0];
}

/* An unnamed text half of a multipart/alternative (not chosen). */
static bool sz_is_alternative(const struct mime_node *n)
{
	if (n->name || strncmp(n->type, "text/", 5) != 0)
		return false;
	for (const struct mime_node *a = n->parent; a && a->kind == MIME_MULTIPART; a = a->parent)
		if (strcmp(a->type, "multipart/alternative") == 0)
			return true;
	return false;
}

static void sz_list(struct sz_ctx *c, const struct mime_node *n)
{
	if (!n)
		return;
	if (sz_is_encrypted(n))
		sz_withhold(c, "encrypted", n->type);
	if (n->kind == MIME_LEAF) {
		if (sz_is_used(c, n)) {
			char *virus = NULL;
			const char *r =
			    sz_scan(c, n->path, n->data.s ? n->data.s : "", n->data.len, &virus);

			if (strcmp(r, "unscannable") == 0)
				sz_withhold(c, "unscannable", n->path);
			free(virus);
		} else {
			struct sz_removed *r;
			bool sig = sz_is_signature(n);

			r = sz_removed_add(&c->removed, n->path, n->name, n->name_alt, n->type,
			                   n->hidden              ? "hidden"
			                   : sig                  ? "signature"
			                   : sz_is_alternative(n) ? "alternative"
			                                          : "part",
			                   n->data.s, n->data.len);
			if (sig)
				c->signature_removed = true;
			r->scan =
			    sz_scan(c, n->path, n->data.s ? n->data.s : "", n->data.len, &r->virus);
			if (sz_is_tnef(n) && n->data.len) {
				struct tnef_file *files = NULL;
				bool ok = true;
				size_t nf = tnef_list(n->data.s, n->data.len, &files, &ok);

				if (!ok)
					mime_defect(&c->tree, "damaged_tnef", n->path, NULL);
				for (size_t i = 0; i < nf; i++) {
					char path[300];
					struct sz_removed *e;

					snprintf(path, sizeof(path), "%s.t%zu", n->path, i + 1);
					e = sz_removed_add(&c->removed, path, files[i].name, NULL,
					                   "application/octet-stream",
					                   "tnef-content", files[i].data,
					                   files[i].size);
					e->content = true;
					e->scan = sz_scan(c, path, files[i].data, files[i].size,
					                  &e->virus);
				}
				tnef_free(files, nf);
			}
		}
	}
	for (size_t i = 0; i < n->nkids; i++)
		sz_list(c, n->kids[i]);
}

/* ---- the output message -------------------------------------------------- */

static bool sz_is_ew_start(const char *s, size_t n, size_t *len_r)
{
	/* =?charset?X?text?= without whitespace */
	size_t i = 2, q = 0;

	if (n < 8 || s[0] != '=' || s[1] != '?')
		return false;
	for (; i < n; i++) {
		if (s[i] == ' ' || s[i] == '\t')
			return false;
		if (s[i] == '?') {
			q++;
			if (q == 3 && i + 1 < n && s[i + 1] == '=') {
				*len_r = i + 2;
				return true;
			}
		}
	}
	return false;
}

static void sz_b64(const unsigned char *p, size_t n, struct strbuf *out)
{
	static const char tbl[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0) |
		             (i + 2 < n ? p[i + 2] : 0);

		strbuf_putc(out, tbl[v >> 18]);
		strbuf_putc(out, tbl[(v >> 12) & 63]);
		strbuf_putc(out, i + 1 < n ? tbl[(v >> 6) & 63] : '=');
		strbuf_putc(out, i + 2 < n ? tbl[v & 63] : '=');
	}
}

/* UTF-8 as RFC 2047 B words of at most 45 bytes each, on character
 * boundaries, separated by spaces. */
static void sz_utf8_words(const char *s, size_t n, struct strbuf *out)
{
	size_t i = 0;

	while (i < n) {
		size_t k = n - i > 45 ? 45 : n - i;

		while (k < n - i && k > 0 && ((unsigned char)s[i + k] & 0xc0) == 0x80)
			k--;
		if (k == 0)
			k = 1;
		if (i)
			strbuf_putc(out, ' ');
		strbuf_puts(out, "=?UTF-8?B?");
		sz_b64((const unsigned char *)s + i, k, out);
		strbuf_puts(out, "?=");
		i += k;
	}
}

/* An address header's raw value with every charset made UTF-8 before GMime
 * reads it: 8-bit text and ISO-2022-JP escapes decoded (guessed), runs of
 * encoded words decoded together (so split characters join) and written
 * back as UTF-8 words (raw UTF-8 inside quotes). */
static char *sz_addr_normalise(const char *raw)
{
	struct strbuf u = STRBUF_INIT, o = STRBUF_INIT;
	const char *s = raw;
	size_t n = strlen(raw), i = 0;
	bool eightbit = false, inq = false;

	for (size_t k = 0; k < n; k++)
		if ((unsigned char)raw[k] >= 0x80 || raw[k] == 0x1b)
			eightbit = true;
	if (eightbit) {
		charset_decode(NULL, raw, n, &u, NULL);
		s = u.s ? u.s : "";
		n = u.len;
	}
	while (i < n) {
		size_t wl;

		if (s[i] == '"') {
			inq = !inq;
			strbuf_putc(&o, s[i++]);
			continue;
		}
		if (inq && s[i] == '\\' && i + 1 < n) {
			strbuf_append(&o, s + i, 2);
			i += 2;
			continue;
		}
		if (sz_is_ew_start(s + i, n - i, &wl)) {
			size_t end = i + wl, j = end;
			struct strbuf d = STRBUF_INIT;

			/* extend over adjacent words separated by whitespace */
			for (;;) {
				size_t k = j, wl2;

				while (k < n && (s[k] == ' ' || s[k] == '\t'))
					k++;
				if (k < n && sz_is_ew_start(s + k, n - k, &wl2)) {
					j = k + wl2;
					end = j;
				} else
					break;
			}
			charset_decode_header(s + i, end - i, &d);
			if (inq) {
				for (size_t k = 0; k < d.len; k++) {
					if (d.s[k] == '"' || d.s[k] == '\\')
						strbuf_putc(&o, '\\');
					strbuf_putc(&o, d.s[k]);
				}
			} else
				sz_utf8_words(d.s ? d.s : "", d.len, &o);
			strbuf_free(&d);
			i = end;
			continue;
		}
		strbuf_putc(&o, s[i++]);
	}
	strbuf_free(&u);
	return o.s ? strbuf_detach(&o) : xstrdup("");
}

static void sz_addr_json(InternetAddressList *l, struct strbuf *j, bool *first)
{
	int cnt = l ? internet_address_list_length(l) : 0;

	for (int i = 0; i < cnt; i++) {
		InternetAddress *ia = internet_address_list_get_address(l, i);

		if (INTERNET_ADDRESS_IS_GROUP(ia)) {
			sz_addr_json(internet_address_group_get_members(INTERNET_ADDRESS_GROUP(ia)),
			             j, first);
			continue;
		}
		if (!INTERNET_ADDRESS_IS_MAILBOX(ia))
			continue;
		if (!*first)
			strbuf_putc(j, ',');
		*first = false;
		strbuf_puts(j, "{\"name\":");
		{
			const char *nm = internet_address_get_name(ia);

			json_cstr(j, nm && *nm ? nm : NULL);
		}
		strbuf_puts(j, ",\"addr\":");
		json_cstr(j, internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia)));
		strbuf_putc(j, '}');
	}
}

static void sz_addr_set_charset(InternetAddressList *l, const char *cs)
{
	int cnt = l ? internet_address_list_length(l) : 0;

	for (int i = 0; i < cnt; i++) {
		InternetAddress *ia = internet_address_list_get_address(l, i);

		internet_address_set_charset(ia, cs);
		if (INTERNET_ADDRESS_IS_GROUP(ia))
			sz_addr_set_charset(
			    internet_address_group_get_members(INTERNET_ADDRESS_GROUP(ia)), cs);
	}
}

static bool sz_addr_spec_ok(const char *a)
{
	const char *at = a ? strrchr(a, '@') : NULL;

	if (!at || at == a || at[1] == '\0')
		return false;
	/* RFC 5321 4.5.3.1.3: a path is at most 256 octets with its brackets;
	 * a longer "address" is no address and could not be folded into a
	 * header line (found by fuzz_sanitize_fast) */
	if (strlen(a) > SANITIZE_MAX_ADDR_BYTES)
		return false;
	/* the output's headers are ASCII: an internationalised address is
	 * shown as text (see sz_addr_clean) */
	for (const char *p = a; *p; p++)
		if ((unsigned char)*p <= 32 || (unsigned char)*p >= 127)
			return false;
	return true;
}

/* A display name cut to SANITIZE_MAX_NAME_BYTES on a UTF-8 boundary (a
 * new string), so that no encoded or quoted name outgrows a line. */
static char *sz_name_cap(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n <= SANITIZE_MAX_NAME_BYTES)
		return g_strdup(name ? name : "");
	n = SANITIZE_MAX_NAME_BYTES;
	while (n > 0 && ((unsigned char)name[n] & 0xc0) == 0x80)
		n--;
	return g_strdup_printf("%.*s\xe2\x80\xa6", (int)n, name);
}

/* A copy of l fit to write: a mailbox without a complete addr-spec
 * ("foo", "<>", an overlong one) becomes an empty group named with its
 * text (capped), so the reader still sees it and no parser finds a broken
 * address. */
static InternetAddressList *sz_addr_clean(struct sz_ctx *c, InternetAddressList *l)
{
	InternetAddressList *o = internet_address_list_new();
	int cnt = internet_address_list_length(l);

	for (int i = 0; i < cnt; i++) {
		InternetAddress *ia = internet_address_list_get_address(l, i);
		char *name = sz_name_cap(internet_address_get_name(ia));
		InternetAddress *n = NULL;

		if (INTERNET_ADDRESS_IS_GROUP(ia)) {
			InternetAddressList *m = sz_addr_clean(
			    c, internet_address_group_get_members(INTERNET_ADDRESS_GROUP(ia)));

			n = internet_address_group_new(name);
			internet_address_group_set_members(INTERNET_ADDRESS_GROUP(n), m);
			g_object_unref(m);
		} else if (INTERNET_ADDRESS_IS_MAILBOX(ia)) {
			const char *addr =
			    internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia));

			if (sz_addr_spec_ok(addr))
				n = internet_address_mailbox_new(name, addr);
			else {
				char *text = g_strdup_printf("%s%s<%s>", name, *name ? " " : "",
				                             addr ? addr : "");
				char *capped = sz_name_cap(text);

				mime_defect(&c->tree, "invalid_address", "", NULL);
				n = internet_address_group_new(capped);
				g_free(capped);
				g_free(text);
			}
		}
		if (n) {
			internet_address_list_add(o, n);
			g_object_unref(n);
		}
		g_free(name);
	}
	return o;
}

/* Fold a header field GMime wrote so that lines stay within 78 octets
 * where there is white space to fold at (it keeps runs of encoded words
 * of a long name on one line). */
static void sz_refold(const char *f, size_t n, struct strbuf *out)
{
	size_t i = 0;

	while (i < n) {
		const char *nl = memchr(f + i, '\n', n - i);
		size_t e = nl ? (size_t)(nl - f) : n, le = e, start = i;

		if (le > i && f[le - 1] == '\r')
			le--;
		while (le - start > 78) {
			size_t cut = 0;

			/* the last blank within 78 octets, else the first after */
			for (size_t k = start + 1; k < le; k++) {
				if (f[k] != ' ' && f[k] != '\t')
					continue;
				if (k - start <= 78 || !cut)
					cut = k;
				if (k - start > 78)
					break;
			}
			if (!cut)
				break;
			strbuf_append(out, f + start, cut - start);
			strbuf_puts(out, "\r\n");
			start = cut;
		}
		strbuf_append(out, f + start, le - start);
		strbuf_puts(out, "\r\n");
		i = e + 1;
	}
}

/* GMime writes a group whose name needs encoding as "=?cs?q?...?=: ;", but
 * an encoded-word must be separated from a special by white space (RFC
 * 2047 5(3)) and parsers flag it: put a space between an encoded-word and
 * the ':' that ends the group's name. */
static void sz_space_group_colon(GString *s)
{
	for (size_t i = 1; i + 1 < s->len; i++) {
		if (s->str[i - 1] != '?' || s->str[i] != '=' || s->str[i + 1] != ':')
			continue;
		/* the "=?" that opens it, with no white space in between and
		 * exactly charset?encoding?text inside */
		size_t k = i - 1, q = 0;
		bool found = false;
		while (k > 0) {
			char ch = s->str[k - 1];
			if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n')
				break;
			if (ch == '=' && s->str[k] == '?') {
				found = true;
				break;
			}
			if (ch == '?')
				q++;
			k--;
		}
		/* between "=?" and the final "?": the two separators */
		if (found && q == 3)
			g_string_insert_c(s, (gssize)(i + 1), ' ');
	}
}

/* Write an address header; its addresses as a JSON array into j (may be
 * NULL). */
static void sz_put_addr_header(struct sz_ctx *c, const char *name, const char *raw,
                               struct strbuf *out, struct strbuf *j)
{
	char *norm = sz_addr_normalise(raw);
	InternetAddressList *l = internet_address_list_parse(NULL, norm);
	bool first = true;

	if (j)
		strbuf_putc(j, '[');
	if (l && internet_address_list_length(l) > 0) {
		GMimeFormatOptions *fo = g_mime_format_options_new();
		GString *s = g_string_new(name);
		InternetAddressList *w = sz_addr_clean(c, l);

		g_mime_format_options_set_newline_format(fo, GMIME_NEWLINE_FORMAT_DOS);
		if (c->pol->out_iso2022jp)
			sz_addr_set_charset(w, "iso-2022-jp");
		g_string_append(s, ": ");
		internet_address_list_encode(w, fo, s);
		g_object_unref(w);
		/* GMime ends the field with its newline */
		while (s->len && (s->str[s->len - 1] == '\n' || s->str[s->len - 1] == '\r'))
			g_string_truncate(s, s->len - 1);
		sz_space_group_colon(s);
		sz_refold(s->str, s->len, out);
		g_string_free(s, TRUE);
		g_mime_format_options_free(fo);
		if (j)
			sz_addr_json(l, j, &first);
	} else {
		/* not an address list: keep its text readable as the name of an
		 * empty group, which every parser accepts */
		struct strbuf d = STRBUF_INIT;

		strbuf_init(&d, 998);
		mime_defect(&c->tree, "unparsable_address_header", "", "%s", name);
		charset_decode_header(raw, strlen(raw), &d);
		if (d.len) {
			InternetAddressList *w = internet_address_list_new();
			char *capped = sz_name_cap(d.s);
			InternetAddress *g = internet_address_group_new(capped);
			GMimeFormatOptions *fo = g_mime_format_options_new();
			GString *s = g_string_new(name);

			g_mime_format_options_set_newline_format(fo, GMIME_NEWLINE_FORMAT_DOS);
			internet_address_list_add(w, g);
			if (c->pol->out_iso2022jp)
				sz_addr_set_charset(w, "iso-2022-jp");
			g_string_append(s, ": ");
			internet_address_list_encode(w, fo, s);
			while (s->len && (s->str[s->len - 1] == '\n' || s->str[s->len - 1] == '\r'))
				g_string_truncate(s, s->len - 1);
			sz_space_group_colon(s);
			sz_refold(s->str, s->len, out);
			g_string_free(s, TRUE);
			g_mime_format_options_free(fo);
			g_object_unref(g);
			g_object_unref(w);
			g_free(capped);
		}
		strbuf_free(&d);
	}
	if (j)
		strbuf_putc(j, ']');
	if (l)
		g_object_unref(l);
	free(norm);
}

/* RFC 5322 atext */
static bool sz_atext(char ch)
{
	return isalnum((unsigned char)ch) || (ch && strchr("!#$%&'*+-/=?^_`{|}~", ch));
}

/* dot-atom-text: atext runs joined by single dots */
static bool sz_dot_atom(const char *s, size_t n)
{
	if (n == 0 || s[0] == '.' || s[n - 1] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '.') {
			if (s[i + 1] == '.')
				return false;
		} else if (!sz_atext(s[i]))
			return false;
	}
	return true;
}

/* id-left "@" id-right, as RFC 5322 msg-id (what strict parsers accept) */
static bool sz_msgid_ok(const char *s, size_t n)
{
	const char *at = memchr(s, '@', n);
	size_t l, r;

	if (!at)
		return false;
	l = (size_t)(at - s);
	r = n - l - 1;
	if (!sz_dot_atom(s, l))
		return false;
	if (r >= 2 && at[1] == '[' && s[n - 1] == ']') {
		for (size_t i = 2; i + 1 < r + 1; i++)
			if (at[i] == '[' || at[i] == ']' || at[i] == '\\')
				return false;
		return true;
	}
	return sz_dot_atom(at + 1, r);
}

/* Message-ID, In-Reply-To, References: the <id> tokens that are msg-ids. */
static void sz_put_msgid_header(const char *name, const char *raw, bool one, struct strbuf *out,
                                char **first_r)
{
	const char *p = raw;
	size_t count = 0, col;

	while ((p = strchr(p, '<')) && count < (one ? 1u : SANITIZE_MAX_MSGIDS)) {
		const char *e = p + 1;
		bool ok = true;

		while (*e && *e != '>' && *e != '<' && *e > 32 && *e < 127)
			e++;
		if (*e != '>' || e - p > SANITIZE_MAX_MSGID_BYTES)
			ok = false;
		else
			ok = sz_msgid_ok(p + 1, (size_t)(e - p - 1));
		if (!ok) {
			p++;
			continue;
		}
		if (count == 0) {
			strbuf_printf(out, "%s:", name);
			col = strlen(name) + 1;
			if (first_r)
				*first_r = xstrndup(p, (size_t)(e - p + 1));
		} else if (col + 1 + (size_t)(e - p + 1) > 78) {
			strbuf_puts(out, "\r\n");
			col = 0;
		}
		strbuf_putc(out, ' ');
		strbuf_append(out, p, (size_t)(e - p + 1));
		col += 1 + (size_t)(e - p + 1);
		count++;
		p = e + 1;
	}
	if (count)
		strbuf_puts(out, "\r\n");
}

static void sz_put_text_header(struct sz_ctx *c, const char *name, const char *raw,
                               struct strbuf *out, char **decoded_r)
{
	struct strbuf d = STRBUF_INIT;

	strbuf_init(&d, SANITIZE_MAX_HEADER_VALUE);
	charset_decode_header(raw, strlen(raw), &d);
	charset_encode_header(name, d.s ? d.s : "", d.len, c->pol->out_iso2022jp, out);
	if (decoded_r)
		*decoded_r = d.s ? strbuf_detach(&d) : xstrdup("");
	strbuf_free(&d);
}

/* Date: written again from GMime's reading (RFC 5322 form); a value that
 * is no date is dropped (the next MTA adds one) and recorded. */
static void sz_put_date_header(struct sz_ctx *c, const char *raw, struct strbuf *out)
{
	GDateTime *d = g_mime_utils_header_decode_date(raw);
	char *f;

	if (!d) {
		mime_defect(&c->tree, "invalid_date", "", NULL);
		return;
	}
	f = g_mime_utils_header_format_date(d);
	if (f && strlen(f) < 200)
		strbuf_printf(out, "Date: %s\r\n", f);
	g_free(f);
	g_date_time_unref(d);
}

static bool sz_is_addr_header(const char *name)
{
	static const char *const a[] = {"From",
	                                "To",
	                                "Cc",
	                                "Bcc",
	                                "Reply-To",
	                                "Sender",
	                                "Resent-From",
	                                "Resent-To",
	                                "Resent-Cc",
	                                "Resent-Sender",
	                                "Disposition-Notification-To",
	                                "Return-Path"};

	for (size_t i = 0; i < sizeof(a) / sizeof(a[0]); i++)
		if (strcasecmp(name, a[i]) == 0)
			return true;
	return false;
}

/* Quoted-printable, lines of at most 76 characters, CRLF. */
static void sz_qp(const char *s, size_t n, struct strbuf *out)
{
	static const char hx[] = "0123456789ABCDEF";
	size_t i = 0;

	while (i < n) {
		const char *nl = memchr(s + i, '\n', n - i);
		size_t e = nl ? (size_t)(nl - s) : n, col = 0;

		for (size_t k = i; k < e; k++) {
			unsigned char ch = (unsigned char)s[k];
			bool last = k + 1 == e;
			char enc[4];
			size_t el;

			if ((ch >= 33 && ch <= 126 && ch != '=') ||
			    ((ch == ' ' || ch == '\t') && !last)) {
				enc[0] = (char)ch;
				el = 1;
			} else {
				enc[0] = '=';
				enc[1] = hx[ch >> 4];
				enc[2] = hx[ch & 15];
				el = 3;
			}
			/* room for a soft break "=" when more follows on this line */
			if (col + el > (last ? 76u : 75u)) {
				strbuf_puts(out, "=\r\n");
				col = 0;
			}
			strbuf_append(out, enc, el);
			col += el;
		}
		strbuf_puts(out, "\r\n");
		i = e + 1;
	}
}

static void sz_body_encode(struct sz_ctx *c, const char *text, size_t len, struct strbuf *hdr,
                           struct strbuf *body)
{
	struct strbuf enc = STRBUF_INIT;
	const char *s = text;
	size_t n = len, maxline = 0, cur = 0;
	bool eight = false;

	if (c->pol->out_iso2022jp) {
		charset_encode_iso2022jp(text, len, &enc);
		s = enc.s ? enc.s : "";
		n = enc.len;
	}
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\n') {
			if (cur > maxline)
				maxline = cur;
			cur = 0;
			continue;
		}
		cur++;
		if ((unsigned char)s[i] >= 0x80)
			eight = true;
	}
	if (cur > maxline)
		maxline = cur;
	strbuf_printf(hdr, "Content-Type: text/plain; charset=%s\r\n",
	              c->pol->out_iso2022jp ? "ISO-2022-JP" : "UTF-8");
	if (maxline > 998) {
		strbuf_puts(hdr, "Content-Transfer-Encoding: quoted-printable\r\n");
		sz_qp(s, n, body);
	} else {
		strbuf_printf(hdr, "Content-Transfer-Encoding: %s\r\n", eight ? "8bit" : "7bit");
		for (size_t i = 0; i < n; i++) {
			if (s[i] == '\n')
				strbuf_puts(body, "\r\n");
			else if (s[i] != '\r')
				strbuf_putc(body, s[i]);
		}
		if (n && s[n - 1] != '\n')
			strbuf_puts(body, "\r\n");
	}
	strbuf_free(&enc);
}

/* ---- the verdict -------------------------------------------------------- */

static void sz_json_removed(struct strbuf *j, const struct sz_removed_vec *v)
{
	bool first = true;

	strbuf_putc(j, '[');
	for (size_t i = 0; i < v->n; i++) {
		const struct sz_removed *r = &v->v[i];

		if (!first)
			strbuf_putc(j, ',');
		first = false;
		strbuf_puts(j, "{\"path\":");
		json_cstr(j, r->path);
		strbuf_puts(j, ",\"name\":");
		json_cstr(j, r->name);
		if (r->name_alt) {
			strbuf_puts(j, ",\"name_alt\":");
			json_cstr(j, r->name_alt);
		}
		strbuf_puts(j, ",\"type\":");
		json_cstr(j, r->type);
		strbuf_puts(j, ",\"kind\":");
		json_cstr(j, r->kind);
		strbuf_printf(j, ",\"size\":%zu,\"sha256\":\"%s\",\"scan\":", r->size, r->sha256);
		json_cstr(j, r->scan);
		if (r->virus) {
			strbuf_puts(j, ",\"virus\":");
			json_cstr(j, r->virus);
		}
		strbuf_putc(j, '}');
	}
	strbuf_putc(j, ']');
}

/* Defects where the structure allowed another reading and the safer one
 * was used: the notice mentions these; the verdict lists every defect. */
static bool sz_defect_counts(const char *code)
{
	static const char *const codes[] = {
	    "duplicate_content_type",
	    "duplicate_transfer_encoding",
	    "duplicate_content_disposition",
	    "several_boundary_params",
	    "boundary_with_whitespace",
	    "boundary_prefix_of_other",
	    "missing_closing_boundary",
	    "extra_boundaries",
	    "hidden_parts",
	    "rfc2231_conflicts_with_plain",
	    "name_conflict",
	    "rfc2231_missing_piece",
	    "rfc2231_duplicate_piece",
	    "unknown_transfer_encoding",
	    "binary_in_text_part",
	    "multipart_without_boundary",
	    "encoded_message_part",
	    "unparsable_message",
	    "guessed_boundary",
	};

	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (strcmp(code, codes[i]) == 0)
			return true;
	return false;
}

/* ---- the engine ---------------------------------------------------------- */

static const char *const sz_std_headers[] = {
    "From", "To", "Cc", "Date", "Subject", "Message-ID", "In-Reply-To", "References", "Reply-To",
};

static void sz_ctx_free(struct sz_ctx *c)
{
	mime_tree_free(&c->tree);
	notice_templates_free(c->tp);
	sz_removed_free(&c->removed);
	for (size_t i = 0; i < c->viruses.n; i++) {
		free(c->viruses.v[i].path);
		free(c->viruses.v[i].name);
	}
	free(c->viruses.v);
	free(c->withheld_detail);
	for (size_t i = 0; i < c->texts.n; i++) {
		strbuf_free(&c->texts.v[i].text);
		sz_removed_free(&c->texts.v[i].inlined);
	}
	free(c->texts.v);
	free(c->used.v);
}

/* Cut inline blocks that only appear in the composed text (e.g. produced
 * by HTML conversion), as the reading that removes more. */
static void sz_final_inline_pass(struct sz_ctx *c, struct strbuf *text)
{
	struct inline_block *blocks = NULL;
	size_t nb = inline_bin_find(text->s ? text->s : "", text->len, &blocks), pos = 0;
	struct strbuf o = STRBUF_INIT;

	if (nb == 0)
		return;
	for (size_t i = 0; i < nb; i++) {
		struct inline_block *b = &blocks[i];
		char path[32];
		struct sz_removed *r;

		strbuf_append(&o, text->s + pos, b->start - pos);
		snprintf(path, sizeof(path), "text.i%zu", i + 1);
		r = sz_removed_add(&c->removed, path, b->name, NULL, b->kind, b->kind, b->data.s,
		                   b->data.len);
		r->scan = sz_scan(c, path, b->data.s ? b->data.s : "", b->data.len, &r->virus);
		notice_marker(c->tp, b->kind, b->name, &o);
		pos = b->end;
	}
	strbuf_append(&o, text->s + pos, text->len - pos);
	inline_bin_free(blocks, nb);
	strbuf_free(text);
	*text = o;
}

enum sanitize_status sanitize_message(const struct sanitize_policy *pol, struct scan_engine *scan,
                                      const char *raw, size_t len, const char *envelope_from,
                                      const char *const *rcpts, size_t nrcpts,
                                      struct sanitize_result *res)
{
	struct sz_ctx c;
	struct strbuf body = STRBUF_INIT, text = STRBUF_INIT, hdr = STRBUF_INIT,
	              hjson = STRBUF_INIT, err = STRBUF_INIT;
	const char *virus = NULL;
	char *msgid = NULL, *subject = NULL;
	enum scan_result sr;
	bool first;

	memset(res, 0, sizeof(*res));
	strbuf_init(&res->message, 0);
	strbuf_init(&res->verdict, 0);
	strbuf_init(&res->error, 0);
	memset(&c, 0, sizeof(c));
	c.pol = pol;
	c.scan = scan;
	clock_gettime(CLOCK_MONOTONIC, &c.t0);
	pthread_once(&sz_once, sz_init_once);

	if (!scan) {
		strbuf_puts(&res->error, "no virus scanner: nothing is clean without one");
		res->status = SANITIZE_ERROR;
		return res->status;
	}
	c.tp = notice_templates_load(
	    pol->lang == SANITIZE_LANG_EN ? NOTICE_LANG_EN : NOTICE_LANG_JA, pol->notice_dir, &err);
	if (!c.tp) {
		strbuf_printf(&res->error, "notice templates: %s", err.s ? err.s : "?");
		strbuf_free(&err);
		res->status = SANITIZE_ERROR;
		return res->status;
	}

	/* the raw original first: an engine that cannot scan it is an error.
	 * A message over the size limit is withheld unscanned: nothing of it
	 * but its headers leaves, and the scanner has its own size limit. */
	sr = len > pol->max_message_bytes ? SCAN_CLEAN : scan_buffer(scan, raw, len, &virus);
	if (sr == SCAN_ERROR) {
		strbuf_printf(&res->error, "virus scan of the message failed: %s",
		              virus ? virus : "engine error");
		sz_ctx_free(&c);
		res->status = SANITIZE_ERROR;
		return res->status;
	}
	if (sr == SCAN_INFECTED) {
		char *v = sz_ascii(virus ? virus : "unknown", 200);
		__typeof__(c.viruses.v) slot = VEC_PUSH(c.viruses);

		slot->path = xstrdup("");
		slot->name = xstrdup(v);
		sz_withhold(&c, "infected", v);
		free(v);
	}

	if (len > pol->max_message_bytes) {
		sz_withhold(&c, "limit", "message-size");
		mime_parse_headers(raw, len, pol->max_header_bytes, &c.tree);
	} else {
		struct mime_limits lim = {pol->max_header_bytes, pol->max_mime_depth,
		                          pol->max_parts};

		mime_parse(raw, len, &lim, &c.tree);
		if (c.tree.over_limit)
			sz_withhold(&c, "limit", c.tree.over_limit);
		/* no body GMime could find (no headers, nothing after them):
		 * an empty text, not a reason to withhold */
	}

	if (c.tree.root && !c.tree.over_limit && len <= pol->max_message_bytes) {
		if (!c.withheld)
			sz_render(&c, c.tree.root, 0, &text, &c.body);
		if (c.body)
			for (size_t i = 0; i < c.texts.n; i++)
				if (c.texts.v[i].leaf == c.body)
					c.body_charset = c.texts.v[i].charset;
		/* inline blocks of the texts shown are removed parts */
		for (size_t i = 0; i < c.texts.n; i++) {
			struct sz_text *tx = &c.texts.v[i];

			if (!sz_is_used(&c, tx->leaf))
				continue;
			for (size_t k = 0; k < tx->inlined.n; k++) {
				struct sz_removed *r = VEC_PUSH(c.removed);

				*r = tx->inlined.v[k];
			}
			tx->inlined.n = 0;
		}
		sz_list(&c, c.tree.root);
		if (text.s && strstr(text.s, "-----BEGIN PGP MESSAGE-----"))
			sz_withhold(&c, "encrypted", "PGP");
		sz_final_inline_pass(&c, &text);
	}

	/* headers of the new message */
	strbuf_puts(&hjson, "{");
	first = true;
	for (size_t i = 0;
	     i < sizeof(sz_std_headers) / sizeof(sz_std_headers[0]) + pol->keep_headers.n; i++) {
		const char *name =
		    i < sizeof(sz_std_headers) / sizeof(sz_std_headers[0])
		        ? sz_std_headers[i]
		        : pol->keep_headers
		              .v[i - sizeof(sz_std_headers) / sizeof(sz_std_headers[0])];
		const char *v = mime_header(&c.tree, name);
		bool dup = false;

		for (size_t k = 0; k < i; k++) {
			const char *o =
			    k < sizeof(sz_std_headers) / sizeof(sz_std_headers[0])
			        ? sz_std_headers[k]
			        : pol->keep_headers
			              .v[k - sizeof(sz_std_headers) / sizeof(sz_std_headers[0])];

			if (strcasecmp(o, name) == 0)
				dup = true;
		}
		if (!v || dup || strncasecmp(name, "Content-", 8) == 0 ||
		    strcasecmp(name, "MIME-Version") == 0 ||
		    strncasecmp(name, "X-Sekisho-", 10) == 0)
			continue;
		if (sz_is_addr_header(name)) {
			bool inj = strcasecmp(name, "From") == 0 || strcasecmp(name, "To") == 0 ||
			           strcasecmp(name, "Cc") == 0;

			if (inj) {
				json_key(&hjson, &first,
				         strcasecmp(name, "From") == 0 ? "from"
				         : strcasecmp(name, "To") == 0 ? "to"
				                                       : "cc");
			}
			sz_put_addr_header(&c, name, v, &hdr, inj ? &hjson : NULL);
		} else if (strcasecmp(name, "Message-ID") == 0)
			sz_put_msgid_header("Message-ID", v, true, &hdr, &msgid);
		else if (strcasecmp(name, "In-Reply-To") == 0 ||
		         strcasecmp(name, "References") == 0)
			sz_put_msgid_header(name, v, false, &hdr, NULL);
		else if (strcasecmp(name, "Date") == 0)
			sz_put_date_header(&c, v, &hdr);
		else if (strcasecmp(name, "Subject") == 0)
			sz_put_text_header(&c, name, v, &hdr, &subject);
		else
			sz_put_text_header(&c, name, v, &hdr, NULL);
	}
	if (subject) {
		json_key(&hjson, &first, "subject");
		json_cstr(&hjson, subject);
	}
	strbuf_puts(&hjson, "}");

	/* body: the notice, then the text (unless withheld) */
	{
		struct notice_part *np = xcalloc(c.removed.n + 1, sizeof(*np));
		struct notice nt;
		size_t ndef = 0;

		for (size_t i = 0; i < c.tree.defects.n && !c.withheld; i++)
			if (sz_defect_counts(c.tree.defects.v[i].code))
				ndef++;

		for (size_t i = 0; i < c.removed.n; i++) {
			const struct sz_removed *r = &c.removed.v[i];

			np[i] = (struct notice_part){r->path,  r->name,   r->name_alt, r->type,
			                             r->kind,  r->size,   r->sha256,   r->scan,
			                             r->virus, r->content};
		}
		memset(&nt, 0, sizeof(nt));
		nt.lang = pol->lang == SANITIZE_LANG_EN ? NOTICE_LANG_EN : NOTICE_LANG_JA;
		nt.withheld = c.withheld;
		nt.detail = c.withheld_detail;
		nt.signature_removed = c.signature_removed;
		nt.ndefects = ndef;
		nt.parts = np;
		nt.nparts = c.removed.n;
		notice_render(c.tp, &nt, &body);
		free(np);
		if (!c.withheld && text.len) {
			strbuf_append(&body, text.s, text.len);
			if (body.s[body.len - 1] != '\n')
				strbuf_putc(&body, '\n');
		}
	}

	res->status = c.withheld ? SANITIZE_WITHHELD : SANITIZE_OK;
	strbuf_append(&res->message, hdr.s ? hdr.s : "", hdr.len);
	{
		char *v = NULL;

		strbuf_puts(&res->message, "X-Sekisho-Sanitized: ");
		if (c.withheld) {
			strbuf_printf(&res->message, "withheld; reason=%s; ", c.withheld);
		} else
			strbuf_puts(&res->message, "sanitized; ");
		size_t top = 0;

		for (size_t i = 0; i < c.removed.n; i++)
			if (!c.removed.v[i].content)
				top++;
		strbuf_printf(&res->message, "removed=%zu; virus=", top);
		if (c.viruses.n)
			v = sz_ascii(c.viruses.v[0].name, 100);
		strbuf_printf(&res->message, "%s; engine=%s\r\n", v ? v : "none",
		              SANITIZE_ENGINE_NAME);
		free(v);
	}
	strbuf_puts(&res->message, "MIME-Version: 1.0\r\n");
	{
		struct strbuf mh = STRBUF_INIT, mb = STRBUF_INIT;

		sz_body_encode(&c, body.s ? body.s : "", body.len, &mh, &mb);
		strbuf_append(&res->message, mh.s, mh.len);
		strbuf_puts(&res->message, "\r\n");
		strbuf_append(&res->message, mb.s ? mb.s : "", mb.len);
		strbuf_free(&mh);
		strbuf_free(&mb);
	}

	/* verdict */
	{
		struct strbuf *j = &res->verdict;

		strbuf_puts(j, "{\"status\":");
		json_cstr(j, c.withheld ? "withheld" : "sanitized");
		strbuf_puts(j, ",\"message_id\":");
		json_cstr(j, msgid);
		strbuf_puts(j, ",\"envelope\":{\"from\":");
		json_cstr(j, envelope_from);
		strbuf_puts(j, ",\"rcpts\":[");
		for (size_t i = 0; i < nrcpts; i++) {
			if (i)
				strbuf_putc(j, ',');
			json_cstr(j, rcpts[i]);
		}
		strbuf_puts(j, "]},\"header\":");
		strbuf_append(j, hjson.s, hjson.len);
		strbuf_printf(j, ",\"size_in\":%zu,\"size_out\":%zu,\"body\":", len,
		              res->message.len);
		if (c.body && !c.withheld) {
			strbuf_puts(j, "{\"path\":");
			json_cstr(j, c.body->path);
			strbuf_puts(j, ",\"type\":");
			json_cstr(j, c.body->type);
			strbuf_puts(j, ",\"charset\":");
			json_cstr(j, c.body->charset);
			strbuf_puts(j, ",\"decoded_as\":");
			json_cstr(j, c.body_charset);
			strbuf_putc(j, '}');
		} else
			strbuf_puts(j, "null");
		strbuf_puts(j, ",\"removed\":");
		sz_json_removed(j, &c.removed);
		strbuf_puts(j, ",\"viruses\":[");
		for (size_t i = 0; i < c.viruses.n; i++) {
			if (i)
				strbuf_putc(j, ',');
			strbuf_puts(j, "{\"path\":");
			json_cstr(j, c.viruses.v[i].path);
			strbuf_puts(j, ",\"name\":");
			json_cstr(j, c.viruses.v[i].name);
			strbuf_putc(j, '}');
		}
		strbuf_printf(j, "],\"signature_removed\":%s,\"defects\":[",
		              c.signature_removed ? "true" : "false");
		for (size_t i = 0; i < c.tree.defects.n; i++) {
			const struct mime_defect *d = &c.tree.defects.v[i];

			if (i)
				strbuf_putc(j, ',');
			strbuf_puts(j, "{\"code\":");
			json_cstr(j, d->code);
			strbuf_puts(j, ",\"path\":");
			json_cstr(j, d->path);
			if (d->detail) {
				strbuf_puts(j, ",\"detail\":");
				json_cstr(j, d->detail);
			}
			strbuf_putc(j, '}');
		}
		strbuf_puts(j, "],\"withheld\":");
		if (c.withheld) {
			strbuf_puts(j, "{\"reason\":");
			json_cstr(j, c.withheld);
			strbuf_puts(j, ",\"detail\":");
			json_cstr(j, c.withheld_detail);
			strbuf_putc(j, '}');
		} else
			strbuf_puts(j, "null");
		strbuf_printf(j, ",\"time_ms\":%lu}", sz_elapsed_ms(&c));
	}

	free(msgid);
	free(subject);
	strbuf_free(&body);
	strbuf_free(&text);
	strbuf_free(&hdr);
	strbuf_free(&hjson);
	strbuf_free(&err);
	sz_ctx_free(&c);
	return res->status;
}

void sanitize_result_free(struct sanitize_result *res)
{
	strbuf_free(&res->message);
	strbuf_free(&res->verdict);
	strbuf_free(&res->error);
}

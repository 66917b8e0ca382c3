/*
 * relay_conf - parse and check /etc/sekisho/relayd.conf (see relay_conf.h,
 * docs/relayd.md).
 *
 * SUMMARY: a table of keys (name, kind, field, range) drives one line
 * parser: "key = value", '#' comments (at the start of a line or after a
 * blank), values split into blank-separated tokens.  Every value is parsed
 * to its final form here (addresses numeric, sizes in bytes), so the relay
 * never sees text it has to interpret again.
 *
 * SECURITY: operator input, but read with hard limits (file size, line
 * length, routes, listeners, client prefixes, error count) and no DNS:
 * next hops and listeners must be numeric addresses.
 *
 * DIAGNOSTICS: every error of the file in one run, as
 * "path:line:col: error: message", the offending line and a caret under the
 * token (the layout of common/diag.c, but into the caller's buffer: the
 * relay logs it, the CLI prints it).  relay_conf_check reports at the
 * position the key was given, or names the default it checked.
 */
#include "mailflows.h"
#include "relay_conf.h"
#include "xalloc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define RELAY_CONF_MAX_ERRORS 100
#define RELAY_CONF_MAX_TOKENS 64 /* per line */
#define RELAY_CONF_DEFAULT_PORT 10025
#define RELAY_CONF_SMTP_PORT 25
#define RELAY_CONF_MAX_WORKERS 256
#define RELAY_CONF_NAME_MAX 32 /* user names */

enum relay_conf_kind {
	RC_LISTEN,
	RC_HOSTNAME,
	RC_USER,
	RC_PATH,
	RC_PATH_NONE, /* an absolute path, or "none" (unset) */
	RC_TLS,
	RC_SIZE,
	RC_UINT,
	RC_ROUTE,
	RC_CLIENTS,
};

struct relay_conf_key {
	const char *name;
	enum relay_conf_kind kind;
	size_t off; /* of the field in struct relay_conf */
	unsigned long min, max;
};

#define RC_FIELD(f) offsetof(struct relay_conf, f)

/* The order is the order of docs/relayd.md and deploy/relayd.conf. */
static const struct relay_conf_key relay_conf_keys[] = {
    {"listen", RC_LISTEN, 0, 0, 0},
    {"hostname", RC_HOSTNAME, RC_FIELD(hostname), 0, 0},
    {"user", RC_USER, RC_FIELD(user), 0, 0},
    {"tls_cert_file", RC_PATH, RC_FIELD(tls_cert_file), 0, 0},
    {"tls_key_file", RC_PATH, RC_FIELD(tls_key_file), 0, 0},
    {"tls_ca_file", RC_PATH, RC_FIELD(tls_ca_file), 0, 0},
    {"transparent_tls", RC_TLS, RC_FIELD(transparent_tls), 0, 0},
    {"max_message_bytes", RC_SIZE, RC_FIELD(max_message_bytes), 1024, 2ul * 1024 * 1024 * 1024},
    {"max_recipients", RC_UINT, RC_FIELD(max_recipients), 1, 10000},
    {"max_connections", RC_UINT, RC_FIELD(max_connections), 1, 100000},
    {"max_per_client", RC_UINT, RC_FIELD(max_per_client), 1, 100000},
    {"session_timeout_s", RC_UINT, RC_FIELD(session_timeout_s), 1, 86400},
    {"idle_timeout_s", RC_UINT, RC_FIELD(idle_timeout_s), 1, 86400},
    {"nexthop_timeout_s", RC_UINT, RC_FIELD(nexthop_timeout_s), 1, 3600},
    {"data_timeout_s", RC_UINT, RC_FIELD(data_timeout_s), 1, 3600},
    {"workers", RC_UINT, RC_FIELD(workers), 1, RELAY_CONF_MAX_WORKERS},
    {"worker_timeout_s", RC_UINT, RC_FIELD(worker_timeout_s), 1, 3600},
    {"scan_db", RC_PATH, RC_FIELD(scan_db), 0, 0},
    {"sanitize_policy", RC_PATH, RC_FIELD(sanitize_policy), 0, 0},
    {"worker_tmpdir", RC_PATH, RC_FIELD(worker_tmpdir), 0, 0},
    {"quarantine_dir", RC_PATH, RC_FIELD(quarantine_dir), 0, 0},
    {"retention_days", RC_UINT, RC_FIELD(retention_days), 1, 36500},
    {"mailflows_file", RC_PATH, RC_FIELD(mailflows_file), 0, 0},
    {"stats_file", RC_PATH, RC_FIELD(stats_file), 0, 0},
    {"metrics_file", RC_PATH, RC_FIELD(metrics_file), 0, 0},
    {"audit_log", RC_PATH_NONE, RC_FIELD(audit_log), 0, 0},
    {"audit_key", RC_PATH_NONE, RC_FIELD(audit_key), 0, 0},
    {"route", RC_ROUTE, 0, 0, 0},
    {"explicit_clients", RC_CLIENTS, 0, 0, 0},
};

#define RELAY_CONF_KEYS (sizeof(relay_conf_keys) / sizeof(relay_conf_keys[0]))
_Static_assert(RELAY_CONF_KEYS <= RELAY_CONF_NKEYS, "RELAY_CONF_NKEYS too small");

/* One token of a line: where it is (1-based column) and its bytes. */
struct relay_conf_tok {
	char *s; /* NUL-terminated copy */
	unsigned col, len;
};

struct relay_conf_parser {
	struct relay_conf *c;
	const char *name, *text;
	size_t len;
	struct strbuf *err;
	unsigned nerr;
	unsigned line;
	bool seen[RELAY_CONF_NKEYS];
};

/* --- reporting ------------------------------------------------------------ */

/* Append the quoted line and a caret under [col, col+len) (cf. diag.c):
 * control characters as '?', tabs kept so the caret lines up, a UTF-8
 * character one column. */
static void relay_conf_quote(struct strbuf *err, const char *text, size_t tlen, unsigned line,
                             unsigned col, unsigned len)
{
	const char *p = text, *end = text + tlen, *start;
	unsigned n = 1, width = 0;

	if (!text || line == 0)
		return;
	while (n < line && p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			return;
		p = nl + 1;
		n++;
	}
	start = p;
	while (p < end && *p != '\n' && *p != '\r')
		p++;
	if ((size_t)(p - start) > RELAY_CONF_MAX_LINE_BYTES)
		return; /* an overlong line is not worth a terminal full of it */
	strbuf_puts(err, "    ");
	for (const char *q = start; q < p; q++) {
		unsigned char u = (unsigned char)*q;
		strbuf_putc(err, (u < 0x20 && u != '\t') || u == 0x7f ? '?' : (char)u);
	}
	strbuf_puts(err, "\n    ");
	for (const char *q = start; q < p && q < start + col - 1; q++)
		if (*q == '\t')
			strbuf_putc(err, '\t');
		else if (((unsigned char)*q & 0xc0) != 0x80)
			strbuf_putc(err, ' ');
	for (const char *q = start + col - 1; q < p && q < start + col - 1 + len; q++)
		if (((unsigned char)*q & 0xc0) != 0x80)
			width++;
	strbuf_putc(err, '^');
	for (unsigned i = 1; i < width; i++)
		strbuf_putc(err, '~');
	strbuf_putc(err, '\n');
}

static void relay_conf_vreport(struct strbuf *err, const char *level, const char *name,
                               const char *text, size_t tlen, unsigned line, unsigned col,
                               unsigned len, const char *fmt, va_list ap)
    __attribute__((format(printf, 9, 0)));

static void relay_conf_vreport(struct strbuf *err, const char *level, const char *name,
                               const char *text, size_t tlen, unsigned line, unsigned col,
                               unsigned len, const char *fmt, va_list ap)
{
	if (line)
		strbuf_printf(err, "%s:%u:%u: %s: ", name, line, col, level);
	else
		strbuf_printf(err, "%s: %s: ", name, level);
	strbuf_vprintf(err, fmt, ap);
	strbuf_putc(err, '\n');
	relay_conf_quote(err, text, tlen, line, col, len);
}

static void relay_conf_error(struct relay_conf_parser *ps, unsigned col, unsigned len,
                             const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void relay_conf_error(struct relay_conf_parser *ps, unsigned col, unsigned len,
                             const char *fmt, ...)
{
	va_list ap;

	ps->nerr++;
	if (ps->nerr > RELAY_CONF_MAX_ERRORS)
		return;
	if (ps->nerr == RELAY_CONF_MAX_ERRORS) {
		strbuf_printf(ps->err, "%s:%u: error: too many errors; giving up\n", ps->name,
		              ps->line);
		return;
	}
	va_start(ap, fmt);
	relay_conf_vreport(ps->err, "error", ps->name, ps->text, ps->len, ps->line, col, len, fmt,
	                   ap);
	va_end(ap);
}

/* --- values --------------------------------------------------------------- */

/* Decimal without sign or leading zeros; false on overflow past max. */
static bool relay_conf_number(const char *s, size_t n, unsigned long max, unsigned long *r)
{
	unsigned long v = 0;

	if (n == 0 || (s[0] == '0' && n > 1))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		if (v > (max - (unsigned long)(s[i] - '0')) / 10)
			return false;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	*r = v;
	return true;
}

/* "ADDR:PORT" or "[V6]:PORT"; port_default 0 = the port is required.
 * Returns NULL or the reason it is not an endpoint. */
static const char *relay_conf_endpoint(const char *s, unsigned port_default,
                                       struct sockaddr_storage *ss, socklen_t *len_r)
{
	char host[INET6_ADDRSTRLEN];
	const char *port = NULL, *close;
	unsigned long portv = port_default;
	bool v6 = s[0] == '[';
	size_t hn;

	memset(ss, 0, sizeof(*ss));
	if (s[0] == '[') {
		close = strchr(s, ']');
		if (!close)
			return "missing ']' after the IPv6 address";
		hn = (size_t)(close - s - 1);
		if (close[1] == ':')
			port = close + 2;
		else if (close[1])
			return "expected ':PORT' after ']'";
		s++;
	} else {
		const char *colon = strchr(s, ':');
		if (colon && strchr(colon + 1, ':'))
			return "an IPv6 address must be written in brackets: [ADDR]:PORT";
		hn = colon ? (size_t)(colon - s) : strlen(s);
		if (colon)
			port = colon + 1;
	}
	if (hn == 0 || hn >= sizeof(host))
		return "missing or overlong address";
	memcpy(host, s, hn);
	host[hn] = '\0';
	if (port) {
		if (!relay_conf_number(port, strlen(port), 65535, &portv) || portv == 0)
			return "port must be a number between 1 and 65535";
	} else if (!port_default)
		return "missing ':PORT'";
	if (v6) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
		if (inet_pton(AF_INET6, host, &in6->sin6_addr) != 1)
			return "not a numeric IPv6 address (no DNS on the box)";
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)portv);
		*len_r = sizeof(*in6);
	} else {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;
		if (inet_pton(AF_INET, host, &in->sin_addr) != 1)
			return "not a numeric IPv4 address (no DNS on the box)";
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)portv);
		*len_r = sizeof(*in);
	}
	return NULL;
}

static bool relay_conf_bits_clear(const uint8_t *a, size_t bytes, unsigned prefix)
{
	for (size_t i = 0; i < bytes; i++) {
		unsigned bit = (unsigned)i * 8;
		uint8_t mask = bit >= prefix       ? 0xff
		               : prefix - bit >= 8 ? 0
		                                   : (uint8_t)(0xff >> (prefix - bit));
		if (a[i] & mask)
			return false;
	}
	return true;
}

/* "ADDR[/LEN]" into ss and *prefix_r; NULL or the reason. */
static const char *relay_conf_prefix(const char *s, struct sockaddr_storage *ss, unsigned *prefix_r)
{
	char host[INET6_ADDRSTRLEN];
	const char *slash = strchr(s, '/');
	size_t hn = slash ? (size_t)(slash - s) : strlen(s);
	unsigned long len;
	uint8_t *bytes;
	unsigned max;

	memset(ss, 0, sizeof(*ss));
	if (hn == 0 || hn >= sizeof(host))
		return "not an address prefix";
	memcpy(host, s, hn);
	host[hn] = '\0';
	if (strchr(host, ':')) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
		if (inet_pton(AF_INET6, host, &in6->sin6_addr) != 1)
			return "not a numeric IPv6 prefix";
		in6->sin6_family = AF_INET6;
		bytes = in6->sin6_addr.s6_addr;
		max = 128;
	} else {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;
		if (inet_pton(AF_INET, host, &in->sin_addr) != 1)
			return "not a numeric IPv4 prefix";
		in->sin_family = AF_INET;
		bytes = (uint8_t *)&in->sin_addr;
		max = 32;
	}
	len = max;
	if (slash && !relay_conf_number(slash + 1, strlen(slash + 1), max, &len))
		return max == 32 ? "prefix length must be 0..32" : "prefix length must be 0..128";
	if (!relay_conf_bits_clear(bytes, max / 8, (unsigned)len))
		return "host bits set after the prefix length";
	*prefix_r = (unsigned)len;
	return NULL;
}

static bool relay_conf_tls_mode(const char *s, enum relay_tls_mode *r)
{
	static const char *const names[] = {"none", "may", "encrypt", "verify"};

	for (size_t i = 0; i < 4; i++)
		if (strcmp(s, names[i]) == 0) {
			*r = (enum relay_tls_mode)i;
			return true;
		}
	return false;
}

/* A host name or a mail domain (labels of [a-z0-9-], <= 63 each, <= 253). */
static bool relay_conf_domain_ok(const char *s)
{
	size_t label = 0, n = strlen(s);

	if (n == 0 || n > 253 || s[0] == '.' || s[n - 1] == '.')
		return false;
	for (const char *p = s; *p; p++) {
		char ch = *p;
		if (ch == '.') {
			if (label == 0 || p[-1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '-'))
			return false;
		if (ch == '-' && label == 0)
			return false;
		if (++label > 63)
			return false;
	}
	return s[n - 1] != '-';
}

static bool relay_conf_user_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > RELAY_CONF_NAME_MAX || !((s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' ||
		      *s == '-' || *s == '.'))
			return false;
	return true;
}

/* Small edit distance for "did you mean" on unknown keys. */
static unsigned relay_conf_distance(const char *a, const char *b)
{
	unsigned row[64], la = (unsigned)strlen(a), lb = (unsigned)strlen(b);

	if (la >= 64 || lb >= 64)
		return 99;
	for (unsigned j = 0; j <= lb; j++)
		row[j] = j;
	for (unsigned i = 1; i <= la; i++) {
		unsigned diag = row[0];
		row[0] = i;
		for (unsigned j = 1; j <= lb; j++) {
			unsigned up = row[j], best = diag + (a[i - 1] != b[j - 1]);
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			diag = up;
			row[j] = best;
		}
	}
	return row[lb];
}

/* --- keys ----------------------------------------------------------------- */

static void relay_conf_set_str(struct relay_conf *c, size_t off, const char *v)
{
	char **field = (char **)((char *)c + off);

	free(*field);
	*field = xstrdup(v);
}

static void relay_conf_one_value(struct relay_conf_parser *ps, const struct relay_conf_key *k,
                                 struct relay_conf_tok *t, size_t nt)
{
	struct relay_conf *c = ps->c;
	const char *v = t[0].s;
	unsigned long n;

	if (nt > 1) {
		relay_conf_error(ps, t[1].col, t[1].len, "%s takes one value; unexpected \"%s\"",
		                 k->name, t[1].s);
		return;
	}
	switch (k->kind) {
	case RC_HOSTNAME:
		if (!relay_conf_domain_ok(v)) {
			relay_conf_error(ps, t[0].col, t[0].len,
			                 "hostname \"%s\" is not a host name", v);
			return;
		}
		relay_conf_set_str(c, k->off, v);
		for (char *p = c->hostname; *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
		return;
	case RC_USER:
		if (!relay_conf_user_ok(v)) {
			relay_conf_error(ps, t[0].col, t[0].len, "user \"%s\" is not a user name",
			                 v);
			return;
		}
		relay_conf_set_str(c, k->off, v);
		return;
	case RC_PATH_NONE:
		if (strcmp(v, "none") == 0) {
			free(*(char **)((char *)c + k->off));
			*(char **)((char *)c + k->off) = NULL;
			return;
		}
		__attribute__((fallthrough));
	case RC_PATH:
		if (v[0] != '/') {
			relay_conf_error(ps, t[0].col, t[0].len, "%s must be an absolute path",
			                 k->name);
			return;
		}
		if (t[0].len >= PATH_MAX) {
			relay_conf_error(ps, t[0].col, t[0].len, "%s is longer than %d bytes",
			                 k->name, PATH_MAX - 1);
			return;
		}
		relay_conf_set_str(c, k->off, v);
		return;
	case RC_TLS:
		if (!relay_conf_tls_mode(v, (enum relay_tls_mode *)((char *)c + k->off))) {
			relay_conf_error(ps, t[0].col, t[0].len,
			                 "%s must be none, may, encrypt or verify, not \"%s\"",
			                 k->name, v);
		}
		return;
	case RC_SIZE: {
		size_t digits = strlen(v), mult = 1;
		char last = digits ? v[digits - 1] : '\0';

		if (last == 'k' || last == 'K')
			mult = 1024;
		else if (last == 'M')
			mult = 1024 * 1024;
		else if (last == 'G')
			mult = 1024ul * 1024 * 1024;
		if (mult > 1)
			digits--;
		if (!relay_conf_number(v, digits, k->max, &n) || n > k->max / mult ||
		    n * mult < k->min) {
			relay_conf_error(ps, t[0].col, t[0].len,
			                 "%s must be a size between 1k and 2G (bytes, or with the "
			                 "suffix k, M or G), not \"%s\"",
			                 k->name, v);
			return;
		}
		*(size_t *)((char *)c + k->off) = n * mult;
		return;
	}
	case RC_UINT:
		if (!relay_conf_number(v, strlen(v), k->max, &n) || n < k->min) {
			relay_conf_error(ps, t[0].col, t[0].len,
			                 "%s must be a number between %lu and %lu, not \"%s\"",
			                 k->name, k->min, k->max, v);
			return;
		}
		*(unsigned *)((char *)c + k->off) = (unsigned)n;
		return;
	default:
		return;
	}
}

static void relay_conf_listen(struct relay_conf_parser *ps, struct relay_conf_tok *t, size_t nt)
{
	struct relay_conf *c = ps->c;

	for (size_t i = 0; i < nt; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = 0;
		const char *why = relay_conf_endpoint(t[i].s, 0, &ss, &sl);

		if (why) {
			relay_conf_error(ps, t[i].col, t[i].len, "listen \"%s\": %s", t[i].s, why);
			continue;
		}
		for (size_t j = 0; j < c->nlisten; j++)
			if (c->listenlen[j] == sl && memcmp(&c->listen[j], &ss, sl) == 0) {
				relay_conf_error(ps, t[i].col, t[i].len,
				                 "listen \"%s\" given twice", t[i].s);
				why = "";
				break;
			}
		if (why)
			continue;
		if (c->nlisten >= RELAY_CONF_MAX_LISTEN) {
			relay_conf_error(ps, t[i].col, t[i].len, "more than %d listen addresses",
			                 RELAY_CONF_MAX_LISTEN);
			return;
		}
		c->listen[c->nlisten] = ss;
		c->listenlen[c->nlisten++] = sl;
	}
}

static void relay_conf_route_line(struct relay_conf_parser *ps, struct relay_conf_tok *t, size_t nt)
{
	struct relay_conf *c = ps->c;
	struct relay_route r;
	const char *why, *dom;
	bool bad = false;

	memset(&r, 0, sizeof(r));
	r.tls = RELAY_TLS_MAY;
	if (nt < 2) {
		relay_conf_error(ps, t[0].col, t[0].len,
		                 "route needs a domain and a next hop: route = DOMAIN ADDR[:PORT] "
		                 "[tls=none|may|encrypt|verify]");
		return;
	}
	dom = t[0].s;
	if (!(strcmp(dom, "*") == 0 ||
	      relay_conf_domain_ok(dom[0] == '.' && dom[1] ? dom + 1 : dom))) {
		relay_conf_error(ps, t[0].col, t[0].len,
		                 "route domain \"%s\" is not a domain, \".domain\" or \"*\"", dom);
		bad = true;
	}
	why = relay_conf_endpoint(t[1].s, RELAY_CONF_SMTP_PORT, &r.addr, &r.addrlen);
	if (why) {
		relay_conf_error(ps, t[1].col, t[1].len, "route next hop \"%s\": %s", t[1].s, why);
		bad = true;
	}
	for (size_t i = 2; i < nt; i++) {
		if (strncmp(t[i].s, "tls=", 4) == 0 && i == 2) {
			if (!relay_conf_tls_mode(t[i].s + 4, &r.tls)) {
				relay_conf_error(
				    ps, t[i].col, t[i].len,
				    "tls must be none, may, encrypt or verify, not \"%s\"",
				    t[i].s + 4);
				bad = true;
			}
			continue;
		}
		relay_conf_error(ps, t[i].col, t[i].len,
		                 "unexpected \"%s\" in route (only tls=MODE)", t[i].s);
		bad = true;
		break;
	}
	if (bad)
		return;
	r.domain = xstrdup(dom);
	for (char *p = r.domain; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	for (size_t i = 0; i < c->nroutes; i++)
		if (strcmp(c->routes[i].domain, r.domain) == 0) {
			relay_conf_error(ps, t[0].col, t[0].len,
			                 "second route for \"%s\" (the first is at line %u)",
			                 r.domain, c->routes[i].line);
			free(r.domain);
			return;
		}
	if (c->nroutes >= RELAY_CONF_MAX_ROUTES) {
		relay_conf_error(ps, t[0].col, t[0].len, "more than %d routes",
		                 RELAY_CONF_MAX_ROUTES);
		free(r.domain);
		return;
	}
	r.host = xstrdup(t[1].s);
	r.line = ps->line;
	c->routes = xreallocarray(c->routes, c->nroutes + 1, sizeof(*c->routes));
	c->routes[c->nroutes++] = r;
}

static void relay_conf_clients(struct relay_conf_parser *ps, struct relay_conf_tok *t, size_t nt)
{
	struct relay_conf *c = ps->c;

	for (size_t i = 0; i < nt; i++) {
		struct sockaddr_storage ss;
		unsigned prefix = 0;
		const char *why = relay_conf_prefix(t[i].s, &ss, &prefix);

		if (why) {
			relay_conf_error(ps, t[i].col, t[i].len, "explicit_clients \"%s\": %s",
			                 t[i].s, why);
			continue;
		}
		if (c->nexplicit_clients >= RELAY_CONF_MAX_EXPLICIT) {
			relay_conf_error(ps, t[i].col, t[i].len, "more than %d explicit_clients",
			                 RELAY_CONF_MAX_EXPLICIT);
			return;
		}
		c->explicit_clients = xreallocarray(c->explicit_clients, c->nexplicit_clients + 1,
		                                    sizeof(*c->explicit_clients));
		c->explicit_clients[c->nexplicit_clients].addr = ss;
		c->explicit_clients[c->nexplicit_clients++].prefix = prefix;
	}
}

/* --- lines ---------------------------------------------------------------- */

static bool relay_conf_blank(char ch)
{
	return ch == ' ' || ch == '\t';
}

static void relay_conf_line(struct relay_conf_parser *ps, const char *line, size_t n)
{
	struct relay_conf_tok toks[RELAY_CONF_MAX_TOKENS];
	size_t nt = 0, i = 0, kstart, kend, best = RELAY_CONF_KEYS;
	const struct relay_conf_key *k = NULL;
	unsigned bestd = 3;
	char key[64];

	while (i < n && relay_conf_blank(line[i]))
		i++;
	if (i == n || line[i] == '#')
		return;
	for (size_t j = 0; j < n; j++)
		if (((unsigned char)line[j] < 0x20 && line[j] != '\t') || line[j] == 0x7f) {
			relay_conf_error(ps, (unsigned)j + 1, 1, "control character 0x%02x",
			                 (unsigned char)line[j]);
			return;
		}
	kstart = i;
	while (i < n && !relay_conf_blank(line[i]) && line[i] != '=')
		i++;
	kend = i;
	while (i < n && relay_conf_blank(line[i]))
		i++;
	if (i == n || line[i] != '=') {
		relay_conf_error(ps, (unsigned)(i < n ? i : kstart) + 1,
		                 i < n ? 1 : (unsigned)(kend - kstart), "expected \"key = value\"");
		return;
	}
	if (kend - kstart < sizeof(key)) {
		memcpy(key, line + kstart, kend - kstart);
		key[kend - kstart] = '\0';
		for (size_t j = 0; j < RELAY_CONF_KEYS && !k; j++)
			if (strcmp(relay_conf_keys[j].name, key) == 0)
				k = &relay_conf_keys[j];
		/* an unknown key: the nearest known one, for "did you mean" (only
		 * while errors are still printed; the distance is at least the
		 * difference in length, so only keys of about the same length) */
		for (size_t j = 0; j < RELAY_CONF_KEYS && !k && ps->nerr < RELAY_CONF_MAX_ERRORS;
		     j++) {
			const char *name = relay_conf_keys[j].name;
			size_t kl = kend - kstart, nl = strlen(name);
			unsigned d;

			/* "quarantine" for "quarantine_dir": a word of the key */
			if (kl >= 4 && strncmp(name, key, kl) == 0 && name[kl] == '_')
				d = 1;
			else if (kl > nl + 2 || nl > kl + 2)
				continue;
			else
				d = relay_conf_distance(key, name);
			if (d < bestd) {
				bestd = d;
				best = j;
			}
		}
	} else
		key[0] = '\0';
	if (kend == kstart) {
		relay_conf_error(ps, (unsigned)i + 1, 1, "missing key before '='");
		return;
	}
	if (!k) {
		if (best < RELAY_CONF_KEYS)
			relay_conf_error(ps, (unsigned)kstart + 1, (unsigned)(kend - kstart),
			                 "unknown key \"%.*s\" (did you mean \"%s\"?)",
			                 (int)(kend - kstart > 63 ? 63 : kend - kstart),
			                 line + kstart, relay_conf_keys[best].name);
		else
			relay_conf_error(ps, (unsigned)kstart + 1, (unsigned)(kend - kstart),
			                 "unknown key \"%.*s\"",
			                 (int)(kend - kstart > 63 ? 63 : kend - kstart),
			                 line + kstart);
		return;
	}
	i++; /* '=' */
	/* tokens up to the end or a comment ('#' at the start of a token) */
	for (;;) {
		size_t s;
		while (i < n && relay_conf_blank(line[i]))
			i++;
		if (i == n || line[i] == '#')
			break;
		s = i;
		while (i < n && !relay_conf_blank(line[i]))
			i++;
		if (nt == RELAY_CONF_MAX_TOKENS) {
			relay_conf_error(ps, (unsigned)s + 1, (unsigned)(i - s),
			                 "more than %d values on one line", RELAY_CONF_MAX_TOKENS);
			goto out;
		}
		toks[nt].s = xstrndup(line + s, i - s);
		toks[nt].col = (unsigned)s + 1;
		toks[nt].len = (unsigned)(i - s);
		nt++;
	}
	{
		size_t ki = (size_t)(k - relay_conf_keys);
		bool repeatable =
		    k->kind == RC_LISTEN || k->kind == RC_ROUTE || k->kind == RC_CLIENTS;

		if (nt == 0) {
			relay_conf_error(ps, (unsigned)kstart + 1, (unsigned)(kend - kstart),
			                 "missing value for %s", k->name);
			goto out;
		}
		if (ps->seen[ki] && !repeatable) {
			relay_conf_error(
			    ps, (unsigned)kstart + 1, (unsigned)(kend - kstart),
			    "%s given twice (first at line %u); only listen, route and "
			    "explicit_clients may repeat",
			    k->name, ps->c->where[ki].line);
			goto out;
		}
		/* the first listen line replaces the default listener */
		if (k->kind == RC_LISTEN && !ps->seen[ki])
			ps->c->nlisten = 0;
		ps->seen[ki] = true;
		ps->c->where[ki].line = ps->line;
		ps->c->where[ki].col = toks[0].col;
		ps->c->where[ki].len = toks[nt - 1].col + toks[nt - 1].len - toks[0].col;
		switch (k->kind) {
		case RC_LISTEN:
			relay_conf_listen(ps, toks, nt);
			break;
		case RC_ROUTE:
			relay_conf_route_line(ps, toks, nt);
			break;
		case RC_CLIENTS:
			relay_conf_clients(ps, toks, nt);
			break;
		default:
			relay_conf_one_value(ps, k, toks, nt);
			break;
		}
	}
out:
	for (size_t j = 0; j < nt; j++)
		free(toks[j].s);
}

/* --- API ------------------------------------------------------------------ */

void relay_conf_init(struct relay_conf *c)
{
	struct sockaddr_in6 *any = (struct sockaddr_in6 *)&c->listen[0];
	char host[256];
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	memset(c, 0, sizeof(*c));
	any->sin6_family = AF_INET6;
	any->sin6_addr = in6addr_any;
	any->sin6_port = htons(RELAY_CONF_DEFAULT_PORT);
	c->listenlen[0] = sizeof(*any);
	c->nlisten = 1;
	if (gethostname(host, sizeof(host)) != 0 || !host[0])
		c->hostname = xstrdup("localhost");
	else {
		host[sizeof(host) - 1] = '\0';
		c->hostname = xstrdup(host);
	}
	c->user = xstrdup("sekisho");
	c->transparent_tls = RELAY_TLS_MAY;
	c->max_message_bytes = 50u * 1024 * 1024;
	c->max_recipients = 100;
	c->max_connections = 500;
	c->max_per_client = 20;
	c->session_timeout_s = 3600;
	c->idle_timeout_s = 300;
	c->nexthop_timeout_s = 120;
	c->data_timeout_s = 600;
	c->workers = ncpu < 1                        ? 1
	             : ncpu > RELAY_CONF_MAX_WORKERS ? RELAY_CONF_MAX_WORKERS
	                                             : (unsigned)ncpu;
	c->worker_timeout_s = 60;
	c->scan_db = xstrdup("/var/lib/clamav");
	c->worker_tmpdir = xstrdup("/dev/shm");
	c->quarantine_dir = xstrdup("/var/lib/sekisho/quarantine");
	c->retention_days = 365;
	c->mailflows_file = xstrdup("/var/lib/sekisho/mailflows");
	c->stats_file = xstrdup("/run/sekisho/relayd.json");
}

bool relay_conf_parse(struct relay_conf *c, const char *name, const char *text, size_t len,
                      struct strbuf *err)
{
	struct relay_conf_parser ps;
	const char *p = text, *end = text + len;

	memset(&ps, 0, sizeof(ps));
	ps.c = c;
	ps.name = name;
	ps.text = text;
	ps.len = len;
	ps.err = err;
	if (len > RELAY_CONF_MAX_FILE_BYTES) {
		strbuf_printf(err, "%s: error: larger than %d bytes\n", name,
		              RELAY_CONF_MAX_FILE_BYTES);
		return false;
	}
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);

		ps.line++;
		if (n > 0 && p[n - 1] == '\r')
			n--; /* CRLF files from Windows editors */
		if (n > RELAY_CONF_MAX_LINE_BYTES)
			relay_conf_error(&ps, RELAY_CONF_MAX_LINE_BYTES + 1, 1,
			                 "line longer than %d bytes", RELAY_CONF_MAX_LINE_BYTES);
		else if (memchr(p, '\0', n))
			relay_conf_error(&ps, (unsigned)((const char *)memchr(p, '\0', n) - p) + 1,
			                 1, "NUL byte");
		else
			relay_conf_line(&ps, p, n);
		p = nl ? nl + 1 : end;
	}
	free(c->text);
	c->text = xmalloc(len + 1);
	memcpy(c->text, text, len);
	c->text[len] = '\0';
	c->textlen = len;
	return ps.nerr == 0;
}

bool relay_conf_load(struct relay_conf *c, const char *path, struct strbuf *err)
{
	struct strbuf sb;
	bool ok;

	strbuf_init(&sb, RELAY_CONF_MAX_FILE_BYTES);
	if (!strbuf_read_file(&sb, path)) {
		strbuf_printf(err, "%s: error: %s\n", path,
		              sb.overflow ? "file too large" : strerror(errno));
		strbuf_free(&sb);
		return false;
	}
	ok = relay_conf_parse(c, path, sb.s ? sb.s : "", sb.len, err);
	strbuf_free(&sb);
	return ok;
}

/* --- check ---------------------------------------------------------------- */

struct relay_conf_checker {
	const struct relay_conf *c;
	const char *path;
	struct strbuf *err;
	unsigned nerr;
};

static size_t relay_conf_key_index(const char *name)
{
	for (size_t i = 0; i < RELAY_CONF_KEYS; i++)
		if (strcmp(relay_conf_keys[i].name, name) == 0)
			return i;
	return 0;
}

static void relay_conf_complain(struct relay_conf_checker *ck, bool error, const char *key,
                                const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* A check finding at the position key was given (or naming its default). */
static void relay_conf_complain(struct relay_conf_checker *ck, bool error, const char *key,
                                const char *fmt, ...)
{
	size_t ki = relay_conf_key_index(key);
	const struct relay_conf *c = ck->c;
	struct strbuf msg = STRBUF_INIT;
	va_list ap;

	if (error)
		ck->nerr++;
	va_start(ap, fmt);
	strbuf_vprintf(&msg, fmt, ap);
	va_end(ap);
	if (!c->where[ki].line)
		strbuf_printf(&msg, " (%s: default)", key);
	if (c->where[ki].line)
		strbuf_printf(ck->err, "%s:%u:%u: %s: %s\n", ck->path, c->where[ki].line,
		              c->where[ki].col, error ? "error" : "warning", msg.s);
	else
		strbuf_printf(ck->err, "%s: %s: %s\n", ck->path, error ? "error" : "warning",
		              msg.s);
	relay_conf_quote(ck->err, c->text, c->textlen, c->where[ki].line, c->where[ki].col,
	                 c->where[ki].len);
	strbuf_free(&msg);
}

/* A file the relay opens as root before dropping privileges. */
static bool relay_conf_check_file(struct relay_conf_checker *ck, const char *key, const char *path,
                                  struct stat *st_r)
{
	int fd;

	if (!path)
		return false;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		relay_conf_complain(ck, true, key, "%s %s: %s", key, path, strerror(errno));
		return false;
	}
	if (fstat(fd, st_r) < 0 || !S_ISREG(st_r->st_mode)) {
		relay_conf_complain(ck, true, key, "%s %s: not a regular file", key, path);
		close(fd);
		return false;
	}
	close(fd);
	return true;
}

static void relay_conf_check_dir(struct relay_conf_checker *ck, const char *key, const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0)
		relay_conf_complain(ck, true, key, "%s %s: %s", key, path, strerror(errno));
	else if (!S_ISDIR(st.st_mode))
		relay_conf_complain(ck, true, key, "%s %s: not a directory", key, path);
}

bool relay_conf_check(const struct relay_conf *c, const char *path, struct strbuf *err)
{
	struct relay_conf_checker ck = {c, path, err, 0};
	struct stat st;

	if (!getpwnam(c->user)) {
		bool given = c->where[relay_conf_key_index("user")].line != 0;
		if (given || !getpwnam("nobody"))
			relay_conf_complain(&ck, true, "user", "user \"%s\" does not exist",
			                    c->user);
		else
			relay_conf_complain(&ck, false, "user",
			                    "user \"%s\" does not exist; the relay will run as "
			                    "\"nobody\"",
			                    c->user);
	}
	if (!c->tls_cert_file != !c->tls_key_file)
		relay_conf_complain(&ck, true, c->tls_cert_file ? "tls_cert_file" : "tls_key_file",
		                    "tls_cert_file and tls_key_file go together (set both to offer "
		                    "STARTTLS, or neither)");
	if (c->tls_cert_file)
		relay_conf_check_file(&ck, "tls_cert_file", c->tls_cert_file, &st);
	if (!c->audit_log != !c->audit_key)
		relay_conf_complain(&ck, true, c->audit_log ? "audit_log" : "audit_key",
		                    "audit_log and audit_key go together (set both, or neither)");
	if (c->audit_key && relay_conf_check_file(&ck, "audit_key", c->audit_key, &st) &&
	    (st.st_mode & 077))
		relay_conf_complain(&ck, true, "audit_key",
		                    "audit_key %s is accessible by group or others (mode %04o); "
		                    "chmod 600 it",
		                    c->audit_key, (unsigned)(st.st_mode & 07777));
	if (c->tls_key_file && relay_conf_check_file(&ck, "tls_key_file", c->tls_key_file, &st) &&
	    (st.st_mode & 077))
		relay_conf_complain(&ck, true, "tls_key_file",
		                    "tls_key_file %s is readable by group or others (mode %04o); "
		                    "chmod 600 it",
		                    c->tls_key_file, (unsigned)(st.st_mode & 07777));
	if (c->tls_ca_file)
		relay_conf_check_file(&ck, "tls_ca_file", c->tls_ca_file, &st);
	if (c->sanitize_policy)
		relay_conf_check_file(&ck, "sanitize_policy", c->sanitize_policy, &st);
	relay_conf_check_dir(&ck, "scan_db", c->scan_db);
	relay_conf_check_dir(&ck, "worker_tmpdir", c->worker_tmpdir);
	/* the quarantine directory is created by the relay: it or its parent must exist */
	if (stat(c->quarantine_dir, &st) == 0) {
		if (!S_ISDIR(st.st_mode))
			relay_conf_complain(&ck, true, "quarantine_dir",
			                    "quarantine_dir %s: not a "
			                    "directory",
			                    c->quarantine_dir);
	} else {
		char *parent = xstrdup(c->quarantine_dir), *slash = strrchr(parent, '/');
		if (slash && slash != parent)
			*slash = '\0';
		else if (slash)
			slash[1] = '\0';
		if (stat(parent, &st) < 0 || !S_ISDIR(st.st_mode))
			relay_conf_complain(
			    &ck, true, "quarantine_dir",
			    "quarantine_dir %s cannot be created: %s is not a directory",
			    c->quarantine_dir, parent);
		free(parent);
	}
	{
		struct mailflows mf;
		struct strbuf mferr = STRBUF_INIT;
		bool missing = false;

		if (!mailflows_load(&mf, c->mailflows_file, &missing, &mferr)) {
			relay_conf_complain(
			    &ck, true, "mailflows_file",
			    "mailflows_file %s is unusable (every transparent session "
			    "would be refused):",
			    c->mailflows_file);
			strbuf_puts(err, mferr.s);
		} else if (missing)
			relay_conf_complain(&ck, false, "mailflows_file",
			                    "mailflows_file %s does not exist (yet): transparent "
			                    "sessions are refused until `sekisho apply` writes it",
			                    c->mailflows_file);
		mailflows_free(&mf);
		strbuf_free(&mferr);
	}
	return ck.nerr == 0;
}

/* --- lookups -------------------------------------------------------------- */

const struct relay_route *relay_conf_route(const struct relay_conf *c, const char *domain)
{
	const struct relay_route *star = NULL, *best = NULL;
	char d[256];
	size_t n, bestlen = 0;

	if (!domain)
		return NULL;
	n = strlen(domain);
	if (n > 0 && domain[n - 1] == '.')
		n--; /* the absolute form names the same domain */
	if (n >= sizeof(d))
		n = 0; /* too long to be a domain: only the default route */
	for (size_t i = 0; i < n; i++)
		d[i] = domain[i] >= 'A' && domain[i] <= 'Z' ? (char)(domain[i] - 'A' + 'a')
		                                            : domain[i];
	d[n] = '\0';
	for (size_t i = 0; i < c->nroutes; i++) {
		const struct relay_route *r = &c->routes[i];
		size_t rl = strlen(r->domain);

		if (strcmp(r->domain, "*") == 0) {
			star = r;
		} else if (r->domain[0] == '.') {
			/* ".example.jp": strictly below example.jp; the longest suffix wins */
			if (n > rl && memcmp(d + n - rl, r->domain, rl) == 0 && rl > bestlen) {
				best = r;
				bestlen = rl;
			}
		} else if (n && strcmp(r->domain, d) == 0) {
			return r;
		}
	}
	return best ? best : star;
}

bool relay_conf_explicit_client(const struct relay_conf *c, const struct sockaddr *addr)
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	const uint8_t *a;
	int family;

	if (!addr)
		return false;
	if (addr->sa_family == AF_INET) {
		family = AF_INET;
		a = (const uint8_t *)&((const struct sockaddr_in *)addr)->sin_addr;
	} else if (addr->sa_family == AF_INET6) {
		a = ((const struct sockaddr_in6 *)addr)->sin6_addr.s6_addr;
		family = AF_INET6;
		if (memcmp(a, mapped, 12) == 0) {
			family = AF_INET;
			a += 12;
		}
	} else
		return false;
	for (size_t i = 0; i < c->nexplicit_clients; i++) {
		const struct sockaddr_storage *ss = &c->explicit_clients[i].addr;
		unsigned prefix = c->explicit_clients[i].prefix, full = prefix / 8,
		         rest = prefix % 8;
		const uint8_t *net;

		if (ss->ss_family != family)
			continue;
		net = family == AF_INET
		          ? (const uint8_t *)&((const struct sockaddr_in *)ss)->sin_addr
		          : ((const struct sockaddr_in6 *)ss)->sin6_addr.s6_addr;
		if (memcmp(net, a, full) != 0)
			continue;
		if (rest && ((net[full] ^ a[full]) & (uint8_t)(0xff << (8 - rest))))
			continue;
		return true;
	}
	return false;
}

void relay_conf_free(struct relay_conf *c)
{
	if (!c)
		return;
	free(c->hostname);
	free(c->user);
	free(c->tls_cert_file);
	free(c->tls_key_file);
	free(c->tls_ca_file);
	free(c->scan_db);
	free(c->sanitize_policy);
	free(c->worker_tmpdir);
	free(c->quarantine_dir);
	free(c->mailflows_file);
	free(c->stats_file);
	free(c->metrics_file);
	free(c->audit_log);
	free(c->audit_key);
	for (size_t i = 0; i < c->nroutes; i++) {
		free(c->routes[i].domain);
		free(c->routes[i].host);
	}
	free(c->routes);
	free(c->explicit_clients);
	free(c->text);
	memset(c, 0, sizeof(*c));
}

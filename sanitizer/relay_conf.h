/*
 * relay_conf - the configuration of sekisho-relayd (/etc/sekisho/relayd.conf).
 *
 * "key = value" lines, '#' comments, UTF-8; every key has a documented
 * default (docs/relayd.md), so an empty file is a working configuration.
 * Repeated keys "route", "listen" and "explicit_clients" accumulate (the
 * first "listen" replaces the default listener); any other repeated key is
 * an error.  Every error of the file is reported in one run as
 * "file:line:col: error: message" followed by the line and a caret under
 * the offending token (warnings likewise with "warning:").  Operator-trusted
 * input, but parsed strictly with hard limits.
 */
#ifndef SEKISHO_RELAY_CONF_H
#define SEKISHO_RELAY_CONF_H

#include "strbuf.h"

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#define RELAY_CONF_DEFAULT_PATH "/etc/sekisho/relayd.conf"
#define RELAY_CONF_MAX_ROUTES 1024
#define RELAY_CONF_MAX_LISTEN 16
#define RELAY_CONF_MAX_EXPLICIT 1024 /* explicit_clients prefixes */
#define RELAY_CONF_MAX_FILE_BYTES 1048576
#define RELAY_CONF_MAX_LINE_BYTES 4096
#define RELAY_CONF_NKEYS 32 /* >= the number of keys (relay_conf.c asserts it) */

enum relay_tls_mode {
	RELAY_TLS_NONE,    /* never STARTTLS to this next hop */
	RELAY_TLS_MAY,     /* opportunistic: STARTTLS when offered, no verification */
	RELAY_TLS_ENCRYPT, /* STARTTLS required (4xx when absent or failing), no verification */
	RELAY_TLS_VERIFY,  /* STARTTLS required and the certificate verified against tls_ca_file
	                    * and the route's host name / address */
};

/* An explicit route: recipient domain -> next hop. */
struct relay_route {
	char *domain; /* lower case; "*" = default route; ".example.jp" = subdomains */
	char *host;   /* next hop as written (address literal or name) */
	struct sockaddr_storage addr; /* resolved at load time (numeric only: no DNS on the box) */
	socklen_t addrlen;
	enum relay_tls_mode tls;
	unsigned line; /* where it was declared */
};

struct relay_conf {
	/* listening */
	struct sockaddr_storage listen[RELAY_CONF_MAX_LISTEN]; /* default [::]:10025 (dual stack) */
	socklen_t listenlen[RELAY_CONF_MAX_LISTEN];
	size_t nlisten;
	char *hostname; /* default: gethostname() */
	char *user;     /* drop to this user after bind; default "sekisho" (falls back to
	                 * "nobody" when absent, with a warning) */

	/* server side TLS (STARTTLS offered only when both are set) */
	char *tls_cert_file;
	char *tls_key_file; /* refused when group- or world-readable */
	/* client side TLS */
	char *tls_ca_file; /* for RELAY_TLS_VERIFY; default system store */
	enum relay_tls_mode
	    transparent_tls; /* for transparent (redirected) sessions; default MAY */

	/* limits */
	size_t max_message_bytes;   /* SIZE; default 50 MiB */
	unsigned max_recipients;    /* per transaction; default 100 */
	unsigned max_connections;   /* in total; default 500 */
	unsigned max_per_client;    /* per client address; default 20 */
	unsigned session_timeout_s; /* whole session; default 3600 */
	unsigned idle_timeout_s;    /* between commands / data reads; default 300 */
	unsigned nexthop_timeout_s; /* per next-hop reply (connect, each command); default 120 */
	unsigned data_timeout_s;    /* next hop's reply to end-of-data; default 600 */

	/* sanitiser workers */
	unsigned workers;          /* default: number of CPUs (>= 1) */
	unsigned worker_timeout_s; /* per message; default 60 */
	char *scan_db;             /* ClamAV database dir; default /var/lib/clamav */
	char *sanitize_policy;     /* sanitize policy file (docs/sanitize.md); NULL = defaults */
	char *worker_tmpdir;       /* TMPDIR for libclamav in workers; default /dev/shm */

	/* quarantine */
	char *quarantine_dir;    /* default /var/lib/sekisho/quarantine */
	unsigned retention_days; /* default 365 */

	/* statistics (relay_stats.c), rewritten every 5 s and at exit */
	char *stats_file;   /* JSON; default /run/sekisho/relayd.json */
	char *metrics_file; /* Prometheus text; default none (NULL) */

	/* audit log (common/audit.h), opened as root at start; both or neither */
	char *audit_log; /* one record per transaction; default none (NULL) */
	char *audit_key; /* its HMAC key file (mode 0600); default none (NULL) */

	/* routing */
	char *mailflows_file;       /* written by `sekisho apply`; default
	                             * /var/lib/sekisho/mailflows (common/mailflows.h) */
	struct relay_route *routes; /* explicit routes, in file order */
	size_t nroutes;
	struct {
		struct sockaddr_storage addr; /* network address */
		unsigned prefix;
	} * explicit_clients; /* who may use explicit routes ("explicit_clients =
	                       * 198.18.2.0/24 2001:2:0:2::/64"); default none */
	size_t nexplicit_clients;

	/* private to relay_conf.c: where each key's value was given (line 0 =
	 * default) and the text, so that relay_conf_check can point at it */
	struct {
		unsigned line, col, len;
	} where[RELAY_CONF_NKEYS];
	char *text;
	size_t textlen;
};

/* Defaults as documented above. */
void relay_conf_init(struct relay_conf *c);
/* Read path over the defaults in c (call relay_conf_init first).  Returns
 * false with every error appended to err as "path:line:col: error: message\n"
 * plus the quoted line and a caret line; c then holds what did parse and
 * must not be used (only freed).  A file that cannot be read: false with
 * "path: error: <strerror>\n".  Limits: RELAY_CONF_MAX_FILE_BYTES,
 * RELAY_CONF_MAX_LINE_BYTES, 100 errors. */
bool relay_conf_load(struct relay_conf *c, const char *path, struct strbuf *err);
/* The same over a buffer; name is used in messages (tests, fuzzing). */
bool relay_conf_parse(struct relay_conf *c, const char *name, const char *text, size_t len,
                      struct strbuf *err);
/* Semantic checks that need the system (user exists, TLS files present and
 * not group/world readable, quarantine dir creatable, scan db present,
 * mailflows file parses when present).  Same reporting as load, at the
 * line of the key, or "path: error|warning: ... (KEY: default)" for a
 * default.  Returns false on any error; warnings (the default user missing
 * while "nobody" exists: the caller runs as nobody; the mailflows file not
 * written yet) leave it true. */
bool relay_conf_check(const struct relay_conf *c, const char *path, struct strbuf *err);
/* The route for a recipient's domain (case-insensitive, a trailing dot
 * ignored): the exact domain, else the longest ".suffix" strictly above it,
 * else "*", else NULL. */
const struct relay_route *relay_conf_route(const struct relay_conf *c, const char *domain);
/* true when addr (AF_INET, or AF_INET6 where ::ffff:a.b.c.d counts as
 * IPv4) is inside one of explicit_clients. */
bool relay_conf_explicit_client(const struct relay_conf *c, const struct sockaddr *addr);
void relay_conf_free(struct relay_conf *c);

#endif

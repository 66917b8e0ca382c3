/*
 * cmd_quarantine - `sekisho quarantine list|show|export|release|prune`: the
 * operator's view of the relay's quarantine store (sanitizer/quarantine.h).
 *
 *   sekisho quarantine [--dir DIR] [-c FILE] list [--since DAYS] [--json]
 *   sekisho quarantine show ID
 *   sekisho quarantine export ID -o FILE|-
 *   sekisho quarantine release ID --to ADDR --reason TEXT [--attachment NAME]
 *                      [--by NAME] [--via HOST:PORT] [--from ADDR]
 *   sekisho quarantine prune [--days N] [--dry-run]
 *
 * The store is --dir, else $SEKISHO_QUARANTINE_DIR, else quarantine_dir of
 * the relay configuration (-c FILE, else /etc/sekisho/relayd.conf when it
 * exists), else /var/lib/sekisho/quarantine.  ID is a full id or a unique
 * prefix of at least QC_MIN_PREFIX hex digits.
 *
 * SECURITY
 *	The metadata records and the messages are hostile (the relay copied
 *	them from the network): every string shown on a terminal goes through
 *	qjson_escape (control characters, C1 controls, bidi and other invisible
 *	format characters and invalid UTF-8 are written as escapes), JSON is
 *	read with a depth and node limit, records with the store's limits.
 *	`export` never writes mail to a terminal.  `release` sends the original
 *	bytes only to an operator-given recipient with an operator-given reason,
 *	and records the release only after the next hop answered 250.
 *
 * DIAGNOSTICS
 *	Exit 0 done, 1 the operation failed (store unreadable, unknown or
 *	ambiguous id, delivery refused: the next hop's reply is printed), 2
 *	usage.  Reasons go to stderr through log.h.
 */
#include "auditrec.h"
#include "cmd.h"
#include "log.h"
#include "mime.h"
#include "qjson.h"
#include "quarantine.h"
#include "relay_conf.h"
#include "sanitize.h"
#include "smtp_client.h"
#include "strbuf.h"
#include "xalloc.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <gmime/gmime.h>
#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define QC_DEFAULT_DIR "/var/lib/sekisho/quarantine"
#define QC_MIN_PREFIX 8         /* hex digits of an abbreviated id */
#define QC_LIST_ADDR_WIDTH 24   /* columns FROM and TO (longer ones push on) */
#define QC_MAX_ENTRIES 10000000 /* entries list will sort */
#define QC_MAX_RELEASES_BYTES (16u * 1024 * 1024)
#define QC_MAX_REASON_BYTES 4096
#define QC_MAX_ADDR_BYTES 254
#define QC_MAX_DAYS 36500
#define QC_NEXTHOP_TIMEOUT_S 120 /* without a relay configuration */
#define QC_DATA_TIMEOUT_S 600

/* ---- entries -------------------------------------------------------------- */

struct qc_entry {
	char id[QUARANTINE_ID_LEN + 1];
	size_t size;
	time_t stored;
	struct qjson *records; /* JSON array of records, or NULL when unreadable */
};

struct qc_entries {
	struct qc_entry *v;
	size_t n, cap;
	const char *prefix;
	size_t prefix_len;
	bool with_meta; /* parse the records (else qc_load_records later) */
	bool truncated; /* QC_MAX_ENTRIES reached */
};

static int qc_collect(void *ctx, const struct quarantine_entry *e)
{
	struct qc_entries *es = ctx;
	struct qc_entry *x;
	struct strbuf err = STRBUF_INIT;

	if (es->prefix && strncmp(e->id, es->prefix, es->prefix_len) != 0)
		return 0;
	if (es->n >= QC_MAX_ENTRIES) {
		es->truncated = true;
		return 1;
	}
	x = VEC_PUSH(*es);
	memcpy(x->id, e->id, QUARANTINE_ID_LEN);
	x->id[QUARANTINE_ID_LEN] = '\0';
	x->size = e->size;
	x->stored = e->stored;
	if (es->with_meta && e->meta_json) {
		x->records = qjson_parse(e->meta_json, strlen(e->meta_json), &err);
		if (!x->records)
			log_warn("entry %s: metadata unreadable: %s", x->id, err.s ? err.s : "");
	}
	strbuf_free(&err);
	return 0;
}

static void qc_entries_free(struct qc_entries *es)
{
	for (size_t i = 0; i < es->n; i++)
		qjson_free(es->v[i].records);
	free(es->v);
	memset(es, 0, sizeof(*es));
}

/* The caller's meta object of the first record. */
static const struct qjson *qc_meta(const struct qc_entry *e)
{
	if (!e->records || e->records->type != QJSON_ARR || e->records->n == 0)
		return NULL;
	return qjson_get(e->records->v[0], "meta");
}

static const struct qjson *qc_verdict(const struct qjson *meta)
{
	return qjson_get(meta, "verdict");
}

/* Envelope sender: meta.from, meta.envelope.from, verdict.envelope.from. */
static const char *qc_from(const struct qjson *meta)
{
	const char *s = qjson_str(qjson_get(meta, "from"));

	if (!s)
		s = qjson_str(qjson_get(qjson_get(meta, "envelope"), "from"));
	if (!s)
		s = qjson_str(qjson_get(qjson_get(qc_verdict(meta), "envelope"), "from"));
	return s;
}

static const struct qjson *qc_rcpts(const struct qjson *meta)
{
	const struct qjson *r = qjson_get(meta, "rcpts");

	if (!r || r->type != QJSON_ARR)
		r = qjson_get(qjson_get(meta, "envelope"), "rcpts");
	if (!r || r->type != QJSON_ARR)
		r = qjson_get(qjson_get(qc_verdict(meta), "envelope"), "rcpts");
	return r && r->type == QJSON_ARR ? r : NULL;
}

static const char *qc_subject(const struct qjson *meta)
{
	const char *s = qjson_str(qjson_get(meta, "subject"));

	if (!s)
		s = qjson_str(qjson_get(qjson_get(meta, "headers"), "subject"));
	if (!s)
		s = qjson_str(qjson_get(qjson_get(qc_verdict(meta), "header"), "subject"));
	return s;
}

/* "sanitised", "withheld", or the stored word (caller escapes). */
static const char *qc_status(const struct qjson *meta)
{
	const char *s = qjson_str(qjson_get(meta, "status"));

	if (!s)
		s = qjson_str(qjson_get(qc_verdict(meta), "status"));
	if (!s)
		return NULL;
	if (strcmp(s, "sanitized") == 0 || strcmp(s, "sanitised") == 0 || strcmp(s, "ok") == 0)
		return "sanitised";
	return s;
}

/* Local time as ISO 8601 with the offset (2024-04-02T10:00:00+09:00). */
static void qc_time(struct strbuf *out, time_t t)
{
	struct tm tm;
	char buf[64];
	size_t n;

	if (!localtime_r(&t, &tm) ||
	    (n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S%z", &tm)) < 5) {
		strbuf_printf(out, "@%lld", (long long)t);
		return;
	}
	/* +0900 -> +09:00 */
	strbuf_append(out, buf, n - 2);
	strbuf_putc(out, ':');
	strbuf_append(out, buf + n - 2, 2);
}

static int qc_cmp_newest(const void *a, const void *b)
{
	const struct qc_entry *x = a, *y = b;

	if (x->stored != y->stored)
		return x->stored < y->stored ? 1 : -1;
	return strcmp(x->id, y->id);
}

/* ---- options -------------------------------------------------------------- */

enum qc_opt {
	QO_DIR = 1 << 0,
	QO_CONF = 1 << 1,
	QO_SINCE = 1 << 2,
	QO_JSON = 1 << 3,
	QO_OUT = 1 << 4,
	QO_TO = 1 << 5,
	QO_REASON = 1 << 6,
	QO_ATT = 1 << 7,
	QO_BY = 1 << 8,
	QO_VIA = 1 << 9,
	QO_FROM = 1 << 10,
	QO_DAYS = 1 << 11,
	QO_DRY = 1 << 12,
};

struct qc {
	unsigned seen;
	const char *dir, *conf_path, *out, *to, *reason, *attachment, *by, *via, *from;
	unsigned long since, days;
	bool json, dry_run;
	struct relay_conf conf;
	bool conf_ready;
	struct quarantine *q;
	const char *dir_used; /* the store opened */
};

static void qc_usage(FILE *f)
{
	fputs("usage: sekisho quarantine [--dir DIR] [-c FILE] COMMAND [ARGS]\n"
	      "\n"
	      "  list [--since DAYS] [--json]  entries, newest first\n"
	      "  show ID                       metadata, removed parts, releases\n"
	      "  export ID -o FILE|-           the original message (- = stdout, never a "
	      "terminal)\n"
	      "  release ID --to ADDR --reason TEXT [--attachment NAME] [--by NAME]\n"
	      "          [--via HOST:PORT] [--from ADDR]\n"
	      "                                deliver the original (or one attachment) to "
	      "ADDR\n"
	      "                                and record who, what and why\n"
	      "  prune [--days N] [--dry-run]  remove entries older than N days\n"
	      "\n"
	      "ID is a full id or a unique prefix of at least 8 hex digits.  The store is\n"
	      "--dir, else $SEKISHO_QUARANTINE_DIR, else quarantine_dir of the relay\n"
	      "configuration (-c FILE, else " RELAY_CONF_DEFAULT_PATH " when present), else\n"
	      "" QC_DEFAULT_DIR ".  Exit 0 done, 1 failed, 2 usage.\n",
	      f);
}

static bool qc_parse_ulong(const char *s, unsigned long max, unsigned long *r)
{
	char *end;
	unsigned long v;

	if (!s || !*s || !isdigit((unsigned char)*s))
		return false;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > max)
		return false;
	*r = v;
	return true;
}

/* The relay configuration: -c FILE (must load), else the default path when
 * it exists, else the built-in defaults.  Loaded once. */
static bool qc_conf(struct qc *c)
{
	struct strbuf err = STRBUF_INIT;
	const char *path = c->conf_path;

	if (c->conf_ready)
		return true;
	relay_conf_init(&c->conf);
	if (!path && access(RELAY_CONF_DEFAULT_PATH, F_OK) == 0)
		path = RELAY_CONF_DEFAULT_PATH;
	if (path && !relay_conf_load(&c->conf, path, &err)) {
		fputs(err.s ? err.s : "", stderr);
		log_error("relay configuration %s not loaded", path);
		strbuf_free(&err);
		relay_conf_free(&c->conf);
		return false;
	}
	strbuf_free(&err);
	c->conf_ready = true;
	return true;
}

/* Open the store (must exist: reading never creates it). */
static bool qc_open(struct qc *c)
{
	struct strbuf err = STRBUF_INIT;
	const char *env = getenv("SEKISHO_QUARANTINE_DIR");
	const char *dir = c->dir;
	struct stat st;

	if (!dir && env && *env)
		dir = env;
	if (!dir) {
		if (!qc_conf(c))
			return false;
		dir = c->conf.quarantine_dir ? c->conf.quarantine_dir : QC_DEFAULT_DIR;
	}
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		log_error("no quarantine store at %s%s", dir,
		          errno == EACCES ? " (permission denied)" : "");
		return false;
	}
	c->dir_used = dir;
	if (!(c->q = quarantine_open(dir, &err))) {
		log_error("%s", err.s ? err.s : "quarantine store not opened");
		strbuf_free(&err);
		return false;
	}
	strbuf_free(&err);
	return true;
}

/* Read the entries (those whose id starts with prefix, when given). */
static bool qc_read(struct qc *c, const char *prefix, bool with_meta, struct qc_entries *es)
{
	struct strbuf err = STRBUF_INIT;

	memset(es, 0, sizeof(*es));
	es->prefix = prefix;
	es->prefix_len = prefix ? strlen(prefix) : 0;
	es->with_meta = with_meta;
	if (quarantine_list(c->q, qc_collect, es, &err) < 0) {
		log_error("%s", err.s ? err.s : "quarantine store not readable");
		strbuf_free(&err);
		qc_entries_free(es);
		return false;
	}
	if (es->truncated)
		log_warn("more than %d entries: only %d read", QC_MAX_ENTRIES, QC_MAX_ENTRIES);
	strbuf_free(&err);
	return true;
}

/* Resolve ID (full or unique prefix >= QC_MIN_PREFIX) to the one entry, in
 * es->v[0].  Exit status on failure. */
static int qc_resolve(struct qc *c, const char *arg, struct qc_entries *es)
{
	char prefix[QUARANTINE_ID_LEN + 1];
	size_t n = strlen(arg);
	struct strbuf e = STRBUF_INIT;

	if (n < QC_MIN_PREFIX || n > QUARANTINE_ID_LEN) {
		qjson_escape_cstr(&e, arg);
		log_error("id '%s': give the full id or at least %d hex digits", e.s,
		          QC_MIN_PREFIX);
		strbuf_free(&e);
		return 2;
	}
	for (size_t i = 0; i < n; i++) {
		if (!isxdigit((unsigned char)arg[i])) {
			qjson_escape_cstr(&e, arg);
			log_error("id '%s': not hexadecimal", e.s);
			strbuf_free(&e);
			return 2;
		}
		prefix[i] = (char)tolower((unsigned char)arg[i]);
	}
	prefix[n] = '\0';
	if (!qc_read(c, prefix, true, es))
		return 1;
	if (es->n == 0) {
		log_error("no quarantine entry %s", prefix);
		qc_entries_free(es);
		return 1;
	}
	if (es->n > 1) {
		log_error("id prefix %s is ambiguous: %zu entries match:", prefix, es->n);
		qsort(es->v, es->n, sizeof(es->v[0]), qc_cmp_newest);
		for (size_t i = 0; i < es->n && i < 20; i++)
			fprintf(stderr, "  %s\n", es->v[i].id);
		qc_entries_free(es);
		return 1;
	}
	return 0;
}

/* ---- list ----------------------------------------------------------------- */

/* Read the records of e (list collects entries without them) into
 * e->records; a warning when they are unreadable. */
static void qc_load_records(struct qc *c, struct qc_entry *e)
{
	struct strbuf meta, err = STRBUF_INIT;

	strbuf_init(&meta, QUARANTINE_MAX_META_BYTES);
	if (quarantine_get(c->q, e->id, NULL, &meta, &err) < 0 ||
	    !(e->records = qjson_parse(meta.s ? meta.s : "", meta.len, &err)))
		log_warn("entry %s: metadata unreadable: %s", e->id, err.s ? err.s : "");
	strbuf_free(&meta);
	strbuf_free(&err);
}

/* One entry as a line of the table, or as a member of the JSON array. */
static void qc_list_entry(struct qc *c, const struct qc_entry *e, bool first, struct strbuf *out)
{
	const struct qjson *meta = qc_meta(e), *rc = qc_rcpts(meta);
	const char *from = qc_from(meta);
	struct strbuf t = STRBUF_INIT, f = STRBUF_INIT, to = STRBUF_INIT, st = STRBUF_INIT;

	qc_time(&t, e->stored);
	if (c->json) {
		strbuf_puts(out, first ? "\n {" : ",\n {");
		strbuf_printf(out,
		              "\"id\": \"%s\", \"time\": \"%s\", \"stored\": %lld, "
		              "\"size\": %zu, \"from\": ",
		              e->id, t.s, (long long)e->stored, e->size);
		qjson_cstr(out, from);
		strbuf_puts(out, ", \"rcpts\": [");
		for (size_t k = 0; rc && k < rc->n; k++) {
			if (k)
				strbuf_puts(out, ", ");
			qjson_cstr(out, qjson_str(rc->v[k]));
		}
		strbuf_puts(out, "], \"status\": ");
		qjson_cstr(out, qc_status(meta));
		strbuf_puts(out, ", \"subject\": ");
		qjson_cstr(out, qc_subject(meta));
		strbuf_puts(out, "}");
	} else {
		if (from && !*from)
			strbuf_puts(&f, "<>");
		else
			qjson_escape_cstr(&f, from);
		if (rc && rc->n > 0) {
			qjson_escape_cstr(&to, qjson_str(rc->v[0]));
			if (rc->n > 1)
				strbuf_printf(&to, " (+%zu)", rc->n - 1);
		} else {
			strbuf_putc(&to, '-');
		}
		qjson_escape_cstr(&st, qc_status(meta));
		strbuf_printf(out, "%-25s  %.12s  %9zu  %-9s  %-*s  %-*s  ", t.s, e->id, e->size,
		              st.s, QC_LIST_ADDR_WIDTH, f.s, QC_LIST_ADDR_WIDTH, to.s);
		qjson_escape_cstr(out, qc_subject(meta));
		strbuf_putc(out, '\n');
	}
	strbuf_free(&t);
	strbuf_free(&f);
	strbuf_free(&to);
	strbuf_free(&st);
}

static int qc_list(struct qc *c)
{
	struct qc_entries es;
	struct strbuf out = STRBUF_INIT;
	time_t now = time(NULL);
	size_t shown = 0;
	bool ok = true;

	if (!qc_open(c) || !qc_read(c, NULL, false, &es))
		return 1;
	qsort(es.v, es.n, sizeof(es.v[0]), qc_cmp_newest);
	if (c->json)
		strbuf_puts(&out, "[");
	else
		strbuf_printf(&out, "%-25s  %-12s  %9s  %-9s  %-*s  %-*s  %s\n", "TIME", "ID",
		              "SIZE", "STATUS", QC_LIST_ADDR_WIDTH, "FROM", QC_LIST_ADDR_WIDTH,
		              "TO", "SUBJECT");
	for (size_t i = 0; i < es.n && ok; i++) {
		struct qc_entry *e = &es.v[i];

		if ((c->seen & QO_SINCE) && e->stored < now - (time_t)c->since * 86400)
			continue;
		qc_load_records(c, e);
		qc_list_entry(c, e, shown++ == 0, &out);
		qjson_free(e->records);
		e->records = NULL;
		ok = fwrite(out.s, 1, out.len, stdout) == out.len;
		strbuf_reset(&out);
	}
	if (c->json)
		strbuf_puts(&out, shown ? "\n]\n" : "]\n");
	if (out.len)
		ok = ok && fwrite(out.s, 1, out.len, stdout) == out.len;
	strbuf_free(&out);
	qc_entries_free(&es);
	return ok && fflush(stdout) == 0 ? 0 : 1;
}

/* ---- show ----------------------------------------------------------------- */

/* releases.jsonl of the entry, read directly (layout: docs/quarantine.md). */
static void qc_show_releases(struct qc *c, const char *id, struct strbuf *out)
{
	struct strbuf path = STRBUF_INIT, text, err = STRBUF_INIT;
	size_t nrel = 0;

	strbuf_init(&text, QC_MAX_RELEASES_BYTES);
	strbuf_puts(out, "releases:\n");
	strbuf_printf(&path, "%s/%.2s/%s/releases.jsonl", c->dir_used, id, id + 2);
	if (!strbuf_read_file(&text, path.s)) {
		if (errno != ENOENT)
			strbuf_printf(out, "  (unreadable: %s)\n", strerror(errno));
	} else {
		const char *p = text.s, *end = text.s + text.len;

		while (p < end) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
			struct qjson *r;

			strbuf_reset(&err);
			if (n && (r = qjson_parse(p, n, &err))) {
				const struct qjson *t = qjson_get(r, "time");

				strbuf_puts(out, "  ");
				if (t && t->type == QJSON_NUM)
					qc_time(out, (time_t)strtoll(t->s, NULL, 10));
				else
					strbuf_putc(out, '-');
				strbuf_puts(out, "  by ");
				qjson_escape_cstr(out, qjson_str(qjson_get(r, "who")));
				strbuf_puts(out, ": ");
				qjson_escape_cstr(out, qjson_str(qjson_get(r, "what")));
				strbuf_puts(out, "\n    reason: ");
				qjson_escape_cstr(out, qjson_str(qjson_get(r, "reason")));
				strbuf_putc(out, '\n');
				qjson_free(r);
				nrel++;
			} else if (n) {
				strbuf_puts(out, "  (unreadable line)\n");
				nrel++;
			}
			p += n + (nl ? 1 : 0);
		}
	}
	if (nrel == 0)
		strbuf_puts(out, "  (none)\n");
	strbuf_free(&path);
	strbuf_free(&text);
	strbuf_free(&err);
}

/* "\nlabel:  value" with the value escaped ("-" when absent). */
static void qc_show_field(struct strbuf *out, const char *label, const char *value)
{
	strbuf_printf(out, "\n%s:%*s", label, (int)(13 - strlen(label)), "");
	qjson_escape_cstr(out, value);
}

static int qc_show(struct qc *c, const char *arg)
{
	struct qc_entries es;
	struct strbuf out = STRBUF_INIT;
	const struct qjson *meta, *v, *rc, *removed, *wh, *vir;
	const struct qc_entry *e;
	const char *path;
	int rc_exit;

	if (!qc_open(c))
		return 1;
	if ((rc_exit = qc_resolve(c, arg, &es)) != 0)
		return rc_exit;
	e = &es.v[0];
	meta = qc_meta(e);
	v = qc_verdict(meta);
	strbuf_printf(&out, "id:           %s\nstored:       ", e->id);
	qc_time(&out, e->stored);
	strbuf_printf(&out, "\nsize:         %zu bytes\nstatus:       ", e->size);
	qjson_escape_cstr(&out, qc_status(meta));
	if ((wh = qjson_get(v, "withheld")) && wh->type == QJSON_OBJ) {
		strbuf_puts(&out, " (");
		qjson_escape_cstr(&out, qjson_str(qjson_get(wh, "reason")));
		if (qjson_str(qjson_get(wh, "detail"))) {
			strbuf_puts(&out, ": ");
			qjson_escape_cstr(&out, qjson_str(qjson_get(wh, "detail")));
		}
		strbuf_putc(&out, ')');
	}
	qc_show_field(&out, "from", qc_from(meta));
	strbuf_puts(&out, "\nto:           ");
	rc = qc_rcpts(meta);
	for (size_t i = 0; rc && i < rc->n; i++) {
		if (i)
			strbuf_puts(&out, ", ");
		qjson_escape_cstr(&out, qjson_str(rc->v[i]));
	}
	if (!rc || rc->n == 0)
		strbuf_putc(&out, '-');
	qc_show_field(&out, "subject", qc_subject(meta));
	qc_show_field(&out, "message-id", qjson_str(qjson_get(v, "message_id")));
	qc_show_field(&out, "client", qjson_str(qjson_get(meta, "client")));
	qc_show_field(&out, "helo", qjson_str(qjson_get(meta, "helo")));
	qc_show_field(&out, "original dst", qjson_str(qjson_get(meta, "original_dst")));
	qc_show_field(&out, "mode", qjson_str(qjson_get(meta, "mode")));
	if ((vir = qjson_get(v, "viruses")) && vir->type == QJSON_ARR && vir->n) {
		strbuf_puts(&out, "\nviruses:      ");
		for (size_t i = 0; i < vir->n; i++) {
			if (i)
				strbuf_puts(&out, ", ");
			qjson_escape_cstr(&out, qjson_str(qjson_get(vir->v[i], "name")));
			strbuf_puts(&out, " (");
			path = qjson_str(qjson_get(vir->v[i], "path"));
			if (path && *path)
				qjson_escape_cstr(&out, path);
			else
				strbuf_puts(&out, "message");
			strbuf_putc(&out, ')');
		}
	}
	strbuf_puts(&out, "\nremoved parts:\n");
	removed = qjson_get(v, "removed");
	if (!removed || removed->type != QJSON_ARR || removed->n == 0)
		strbuf_puts(&out, "  (none)\n");
	for (size_t i = 0; removed && removed->type == QJSON_ARR && i < removed->n; i++) {
		const struct qjson *p = removed->v[i], *sz = qjson_get(p, "size");

		strbuf_puts(&out, "  ");
		qjson_escape_cstr(&out, qjson_str(qjson_get(p, "path")));
		strbuf_puts(&out, "  name=");
		qjson_escape_cstr(&out, qjson_str(qjson_get(p, "name")));
		strbuf_puts(&out, "  type=");
		qjson_escape_cstr(&out, qjson_str(qjson_get(p, "type")));
		strbuf_puts(&out, "  size=");
		if (sz && sz->type == QJSON_NUM)
			qjson_escape(&out, sz->s, sz->len);
		else
			strbuf_putc(&out, '-');
		strbuf_puts(&out, "  scan=");
		qjson_escape_cstr(&out, qjson_str(qjson_get(p, "scan")));
		if (qjson_str(qjson_get(p, "virus"))) {
			strbuf_puts(&out, " (");
			qjson_escape_cstr(&out, qjson_str(qjson_get(p, "virus")));
			strbuf_putc(&out, ')');
		}
		strbuf_puts(&out, "\n    sha256=");
		qjson_escape_cstr(&out, qjson_str(qjson_get(p, "sha256")));
		strbuf_putc(&out, '\n');
	}
	qc_show_releases(c, e->id, &out);
	strbuf_printf(&out, "metadata (%zu record%s):\n",
	              e->records && e->records->type == QJSON_ARR ? e->records->n : 0,
	              e->records && e->records->type == QJSON_ARR && e->records->n == 1 ? "" : "s");
	if (e->records)
		qjson_pretty(&out, e->records, 0);
	else
		strbuf_puts(&out, "(unreadable)");
	strbuf_putc(&out, '\n');
	fwrite(out.s, 1, out.len, stdout);
	strbuf_free(&out);
	qc_entries_free(&es);
	return fflush(stdout) == 0 ? 0 : 1;
}

/* ---- export --------------------------------------------------------------- */

static bool qc_write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return false;
		}
		p += w;
		n -= (size_t)w;
	}
	return true;
}

/* The message of the one entry arg names, checked against its id. */
static int qc_message(struct qc *c, const char *arg, struct qc_entries *es, struct strbuf *msg)
{
	struct strbuf err = STRBUF_INIT;
	int rc;

	if ((rc = qc_resolve(c, arg, es)) != 0)
		return rc;
	strbuf_init(msg, QUARANTINE_MAX_MESSAGE_BYTES);
	if (quarantine_get(c->q, es->v[0].id, msg, NULL, &err) < 0) {
		log_error("%s", err.s ? err.s : "entry not readable");
		strbuf_free(&err);
		qc_entries_free(es);
		return 1;
	}
	strbuf_free(&err);
	return 0;
}

static int qc_export(struct qc *c, const char *arg)
{
	struct qc_entries es;
	struct strbuf msg;
	int rc, fd;

	if (!c->out) {
		log_error("export needs -o FILE (-o - for stdout)");
		return 2;
	}
	if (strcmp(c->out, "-") == 0 && isatty(1)) {
		log_error("refusing to write mail to a terminal (redirect stdout or use -o FILE)");
		return 2;
	}
	if (!qc_open(c))
		return 1;
	if ((rc = qc_message(c, arg, &es, &msg)) != 0)
		return rc;
	if (strcmp(c->out, "-") == 0) {
		fd = 1;
	} else if ((fd = open(c->out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY, 0600)) <
	           0) {
		log_error_errno("open %s", c->out);
		rc = 1;
		goto out;
	} else if (isatty(fd)) {
		log_error("refusing to write mail to a terminal (%s)", c->out);
		close(fd);
		rc = 1;
		goto out;
	}
	if (!qc_write_all(fd, msg.s ? msg.s : "", msg.len) || (fd != 1 && close(fd) < 0)) {
		log_error_errno("writing %s", fd == 1 ? "stdout" : c->out);
		rc = 1;
	}
out:
	strbuf_free(&msg);
	qc_entries_free(&es);
	return rc;
}

/* ---- release -------------------------------------------------------------- */

/* A mailbox for the SMTP envelope: printable ASCII, no space, brackets,
 * quotes or backslash, local@domain, within the limit.  Empty when
 * allow_null. */
static bool qc_addr_ok(const char *a, bool allow_null)
{
	const char *at;
	size_t n = strlen(a);

	if (n == 0)
		return allow_null;
	if (n > QC_MAX_ADDR_BYTES)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)a[i];

		if (ch <= 0x20 || ch >= 0x7f || strchr("<>\"\\()[],;:", ch))
			return false;
	}
	at = strrchr(a, '@');
	return at && at != a && at[1] && strchr(a, '@') == at;
}

/* HOST:PORT (numeric; IPv6 in brackets) into ss. */
static bool qc_parse_hostport(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *port, *h = s;
	size_t hl;
	struct addrinfo hints, *ai = NULL;

	if (*s == '[') {
		const char *rb = strchr(s, ']');

		if (!rb || rb[1] != ':')
			return false;
		h = s + 1;
		hl = (size_t)(rb - h);
		port = rb + 2;
	} else {
		const char *colon = strrchr(s, ':');

		if (!colon || strchr(s, ':') != colon)
			return false;
		hl = (size_t)(colon - s);
		port = colon + 1;
	}
	if (hl == 0 || hl >= sizeof(host) || !*port)
		return false;
	memcpy(host, h, hl);
	host[hl] = '\0';
	memset(&hints, 0, sizeof(hints));
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, port, &hints, &ai) != 0 || !ai)
		return false;
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return true;
}

/* The leaves of the original named name (decoded as the verdict shows
 * them): the first in *found, how many in *count. */
static void qc_find_attachment(const struct mime_node *n, const char *name,
                               const struct mime_node **found, size_t *count)
{
	if (!n)
		return;
	if (n->kind == MIME_LEAF && n->name && strcmp(n->name, name) == 0) {
		if (!*found)
			*found = n;
		(*count)++;
	}
	for (size_t i = 0; i < n->nkids; i++)
		qc_find_attachment(n->kids[i], name, found, count);
}

/* A new message from from to to whose only attachment is part. */
static bool qc_build_attachment(struct qc *c, const struct qc_entry *e,
                                const struct mime_node *part, const char *from, const char *by,
                                struct strbuf *out)
{
	GMimeMessage *m = g_mime_message_new(TRUE);
	GMimeMultipart *mp = g_mime_multipart_new_with_subtype("mixed");
	GMimeTextPart *text = g_mime_text_part_new_with_subtype("plain");
	GMimePart *att;
	GMimeStream *data, *ms;
	GMimeDataWrapper *w;
	GMimeFormatOptions *fo;
	GDateTime *now;
	GByteArray *ba;
	struct strbuf subj = STRBUF_INIT, body = STRBUF_INIT, msgid = STRBUF_INIT;
	char type[256], host[256];
	const char *slash, *osub = qc_subject(qc_meta(e));
	bool ok;

	if (!part->type || !(slash = strchr(part->type, '/')) ||
	    (size_t)(slash - part->type) >= sizeof(type)) {
		memcpy(type, "application", sizeof("application"));
		slash = "/octet-stream";
	} else {
		memcpy(type, part->type, (size_t)(slash - part->type));
		type[slash - part->type] = '\0';
	}
	att = g_mime_part_new_with_type(type, slash + 1);
	if (gethostname(host, sizeof(host)) < 0)
		memcpy(host, "localhost", sizeof("localhost"));
	host[sizeof(host) - 1] = '\0';
	g_mime_message_add_mailbox(m, GMIME_ADDRESS_TYPE_FROM, NULL, from);
	g_mime_message_add_mailbox(m, GMIME_ADDRESS_TYPE_TO, NULL, c->to);
	strbuf_puts(&subj, "Released from quarantine: ");
	qjson_escape_cstr(&subj, part->name);
	g_mime_message_set_subject(m, subj.s, "utf-8");
	now = g_date_time_new_now_local();
	g_mime_message_set_date(m, now);
	g_date_time_unref(now);
	strbuf_printf(&msgid, "release.%.12s.%lld.%ld@%s", e->id, (long long)time(NULL),
	              (long)getpid(), host);
	g_mime_message_set_message_id(m, msgid.s);
	/* what the original holds is hostile: escaped like on a terminal */
	strbuf_puts(&body, "This message carries one attachment released from the sekisho "
	                   "quarantine.\n\nAttachment:       ");
	qjson_escape_cstr(&body, part->name);
	strbuf_printf(&body, " (%s, %zu bytes)\nQuarantine id:    %s\nOriginal from:    ",
	              part->type ? part->type : "application/octet-stream", part->data.len, e->id);
	qjson_escape_cstr(&body, qc_from(qc_meta(e)));
	strbuf_puts(&body, "\nOriginal subject: ");
	qjson_escape_cstr(&body, osub);
	strbuf_puts(&body, "\nReleased by:      ");
	qjson_escape_cstr(&body, by);
	strbuf_puts(&body, "\nReason:           ");
	qjson_escape_cstr(&body, c->reason);
	strbuf_putc(&body, '\n');
	g_mime_text_part_set_text(text, body.s);
	/* 7-bit throughout: the next hop need not offer 8BITMIME */
	g_mime_part_set_content_encoding(GMIME_PART(text), GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE);
	data = g_mime_stream_mem_new_with_buffer(part->data.s ? part->data.s : "", part->data.len);
	w = g_mime_data_wrapper_new_with_stream(data, GMIME_CONTENT_ENCODING_DEFAULT);
	g_mime_part_set_content(att, w);
	g_mime_part_set_filename(att, part->name);
	g_mime_part_set_content_encoding(att, GMIME_CONTENT_ENCODING_BASE64);
	g_mime_multipart_add(mp, GMIME_OBJECT(text));
	g_mime_multipart_add(mp, GMIME_OBJECT(att));
	g_mime_message_set_mime_part(m, GMIME_OBJECT(mp));
	ms = g_mime_stream_mem_new();
	fo = g_mime_format_options_new();
	g_mime_format_options_set_newline_format(fo, GMIME_NEWLINE_FORMAT_DOS);
	ok = g_mime_object_write_to_stream(GMIME_OBJECT(m), fo, ms) > 0;
	ba = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(ms));
	if (ok)
		ok = strbuf_append(out, ba->data, ba->len);
	g_mime_format_options_free(fo);
	g_object_unref(ms);
	g_object_unref(w);
	g_object_unref(data);
	g_object_unref(att);
	g_object_unref(text);
	g_object_unref(mp);
	g_object_unref(m);
	strbuf_free(&subj);
	strbuf_free(&body);
	strbuf_free(&msgid);
	return ok;
}

/* Deliver msg through next hop addr; the reply (or the failure) printed.
 * Returns true only when the next hop answered 250 to the data. */
static bool qc_deliver(struct qc *c, const struct sockaddr *addr, socklen_t addrlen,
                       enum relay_tls_mode tls, const char *verify_name, const char *from,
                       const struct strbuf *msg)
{
	struct smtp_client_opts o;
	struct smtp_reply r;
	struct smtp_client *cl;
	struct strbuf err = STRBUF_INIT, line = STRBUF_INIT;
	char host[256];
	bool body8 = false, ok = false;
	int code;
	const char *step = "connect";

	for (size_t i = 0; i < msg->len && !body8; i++)
		body8 = (unsigned char)msg->s[i] >= 0x80;
	memset(&o, 0, sizeof(o));
	memset(&r, 0, sizeof(r));
	if (c->conf.hostname && *c->conf.hostname) {
		o.helo_name = c->conf.hostname;
	} else {
		if (gethostname(host, sizeof(host)) < 0)
			memcpy(host, "localhost", sizeof("localhost"));
		host[sizeof(host) - 1] = '\0';
		o.helo_name = host;
	}
	o.tls = tls;
	o.ca_file = c->conf.tls_ca_file;
	o.verify_name = verify_name;
	o.connect_timeout_s =
	    c->conf.nexthop_timeout_s ? c->conf.nexthop_timeout_s : QC_NEXTHOP_TIMEOUT_S;
	o.cmd_timeout_s = o.connect_timeout_s;
	o.data_timeout_s = c->conf.data_timeout_s ? c->conf.data_timeout_s : QC_DATA_TIMEOUT_S;
	cl = smtp_client_connect(addr, addrlen, &o, &r, &err);
	code = cl ? 250 : r.code;
	if (cl) {
		step = "MAIL FROM";
		code = smtp_client_mail(cl, from, msg->len, body8, &r, &err);
	}
	if (cl && code >= 200 && code < 300) {
		step = "RCPT TO";
		code = smtp_client_rcpt(cl, c->to, &r, &err);
	}
	if (cl && code >= 200 && code < 300) {
		step = "DATA";
		code = smtp_client_data(cl, msg->s ? msg->s : "", msg->len, &r, &err);
		ok = code == 250;
	}
	if (code > 0)
		smtp_reply_format(&r, &line);
	if (ok) {
		printf("delivered to %s: next hop answered %s", c->to, line.s);
	} else if (code > 0) {
		log_error("release not delivered: next hop answered %s: %.*s", step,
		          (int)(line.len >= 2 ? line.len - 2 : line.len), line.s);
	} else {
		log_error("release not delivered (%s): %s", step, err.s ? err.s : "no reply");
	}
	if (cl && smtp_client_alive(cl))
		smtp_client_quit(cl);
	else
		smtp_client_close(cl);
	strbuf_free(&err);
	strbuf_free(&line);
	return ok;
}

static const char *qc_default_by(char *buf, size_t len)
{
	const char *s = getenv("SUDO_USER");
	int n;

	if (s && *s)
		return s;
	if ((s = getenv("USER")) && *s)
		return s;
	n = snprintf(buf, len, "uid %lu", (unsigned long)getuid());
	return n > 0 && (size_t)n < len ? buf : "unknown";
}

static int qc_release(struct qc *c, const char *arg)
{
	struct qc_entries es;
	struct strbuf msg, out = STRBUF_INIT, what = STRBUF_INIT, err = STRBUF_INIT;
	struct sockaddr_storage ss;
	socklen_t sslen = 0;
	enum relay_tls_mode tls = RELAY_TLS_MAY;
	const char *verify_name = NULL, *from, *by, *p;
	char byb[64], domain[QC_MAX_ADDR_BYTES + 1];
	struct mime_tree tree;
	bool have_tree = false;
	int rc;

	if (!c->to || !c->reason) {
		log_error("release needs --to ADDR and --reason TEXT");
		return 2;
	}
	for (p = c->reason; *p && isspace((unsigned char)*p); p++)
		;
	if (!*p || strlen(c->reason) > QC_MAX_REASON_BYTES) {
		log_error("--reason must be non-empty text of at most %d bytes",
		          QC_MAX_REASON_BYTES);
		return 2;
	}
	if (!qc_addr_ok(c->to, false)) {
		log_error("--to: not a mail address (local@domain, ASCII)");
		return 2;
	}
	if (c->from && !qc_addr_ok(c->from, true)) {
		log_error("--from: not a mail address (local@domain, ASCII; empty = <>)");
		return 2;
	}
	by = c->by ? c->by : qc_default_by(byb, sizeof(byb));
	if (!*by || strlen(by) > 256) {
		log_error("--by must be non-empty, at most 256 bytes");
		return 2;
	}
	if (c->attachment) {
		size_t n = strlen(c->attachment);
		bool ctl = false;

		for (size_t i = 0; i < n; i++)
			ctl |= (unsigned char)c->attachment[i] < 0x20 || c->attachment[i] == 0x7f;
		if (n == 0 || n > 1024 || ctl) {
			log_error("--attachment needs a file name (no control characters)");
			return 2;
		}
	}
	if (c->via && !qc_parse_hostport(c->via, &ss, &sslen)) {
		log_error("--via: numeric HOST:PORT ([IPv6]:PORT) expected");
		return 2;
	}
	if (!qc_conf(c))
		return 1;
	if (!c->via) {
		const char *at = strrchr(c->to, '@');
		size_t dl = strlen(at + 1);
		const struct relay_route *rt;

		for (size_t i = 0; i <= dl; i++)
			domain[i] = (char)tolower((unsigned char)at[1 + i]);
		if (!(rt = relay_conf_route(&c->conf, domain))) {
			log_error(
			    "no route for %s in the relay configuration: give --via HOST:PORT",
			    domain);
			return 1;
		}
		memcpy(&ss, &rt->addr, sizeof(ss));
		sslen = rt->addrlen;
		tls = rt->tls;
		verify_name = rt->host;
	}
	if (!qc_open(c))
		return 1;
	if ((rc = qc_message(c, arg, &es, &msg)) != 0)
		return rc;
	from = c->from;
	if (!from) {
		from = qc_from(qc_meta(&es.v[0]));
		if (c->attachment || !from || !qc_addr_ok(from, true))
			from = "";
	}
	if (c->attachment) {
		struct sanitize_policy pol;
		const struct mime_node *part = NULL;
		size_t count = 0;
		struct mime_limits lim;
		char fb[QC_MAX_ADDR_BYTES + 64], host[200];

		sanitize_policy_init(&pol);
		lim.max_header_bytes = pol.max_header_bytes;
		lim.max_depth = pol.max_mime_depth;
		lim.max_parts = pol.max_parts;
		sanitize_policy_free(&pol);
		g_mime_init();
		mime_parse(msg.s ? msg.s : "", msg.len, &lim, &tree);
		have_tree = true;
		qc_find_attachment(tree.root, c->attachment, &part, &count);
		if (count != 1) {
			strbuf_reset(&err);
			qjson_escape_cstr(&err, c->attachment);
			if (count)
				log_error("%zu parts of %.12s are named '%s'", count, es.v[0].id,
				          err.s);
			else
				log_error("no part of %.12s is named '%s' (see 'show')", es.v[0].id,
				          err.s);
			rc = 1;
			goto out;
		}
		if (!*from) {
			if (gethostname(host, sizeof(host)) < 0)
				memcpy(host, "localhost", sizeof("localhost"));
			host[sizeof(host) - 1] = '\0';
			if (snprintf(fb, sizeof(fb), "postmaster@%s", host) >= (int)sizeof(fb))
				memcpy(fb, "postmaster@localhost", sizeof("postmaster@localhost"));
			from = fb;
			if (!qc_build_attachment(c, &es.v[0], part, from, by, &out)) {
				log_error("building the release message failed");
				rc = 1;
				goto out;
			}
			from = "";
		} else if (!qc_build_attachment(c, &es.v[0], part, from, by, &out)) {
			log_error("building the release message failed");
			rc = 1;
			goto out;
		}
		strbuf_printf(&what, "attachment %s to %s", c->attachment, c->to);
	} else {
		strbuf_printf(&what, "original to %s", c->to);
	}
	if (!qc_deliver(c, (struct sockaddr *)&ss, sslen, tls, verify_name, from,
	                c->attachment ? &out : &msg)) {
		rc = 1;
		goto out;
	}
	strbuf_reset(&err);
	if (quarantine_note_release(c->q, es.v[0].id, by, what.s, c->reason, &err) < 0) {
		log_error("DELIVERED but the release was not recorded: %s",
		          err.s ? err.s : "write failed");
		rc = 1;
		goto out;
	}
	printf("recorded: %s by %s\n", what.s, by);
	auditrec_release(es.v[0].id, by, what.s, c->reason, c->to);
	rc = fflush(stdout) == 0 ? 0 : 1;
out:
	if (have_tree)
		mime_tree_free(&tree);
	strbuf_free(&msg);
	strbuf_free(&out);
	strbuf_free(&what);
	strbuf_free(&err);
	qc_entries_free(&es);
	return rc;
}

/* ---- prune ---------------------------------------------------------------- */

static int qc_prune(struct qc *c)
{
	struct strbuf err = STRBUF_INIT;
	unsigned long days = c->days;
	time_t now = time(NULL);
	long n;

	if (!(c->seen & QO_DAYS)) {
		if (!qc_conf(c))
			return 1;
		days = c->conf.retention_days ? c->conf.retention_days
		                              : QUARANTINE_RETENTION_DAYS_DEFAULT;
	}
	if (!qc_open(c))
		return 1;
	if (c->dry_run) {
		struct qc_entries es;
		size_t k = 0;

		if (!qc_read(c, NULL, false, &es))
			return 1;
		for (size_t i = 0; i < es.n; i++)
			if (es.v[i].stored < now - (time_t)days * 86400)
				k++;
		printf("would remove %zu of %zu entries (older than %lu days)\n", k, es.n, days);
		qc_entries_free(&es);
		return fflush(stdout) == 0 ? 0 : 1;
	}
	n = quarantine_prune(c->q, (unsigned)days, now, &err);
	if (n < 0) {
		log_error("%s", err.s ? err.s : "prune failed");
		strbuf_free(&err);
		return 1;
	}
	strbuf_free(&err);
	printf("removed %ld entries (older than %lu days)\n", n, days);
	return fflush(stdout) == 0 ? 0 : 1;
}

/* ---- dispatch ------------------------------------------------------------- */

int cmd_quarantine(const struct cmd_opts *o, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"dir", required_argument, NULL, 'd'},
	    {"config", required_argument, NULL, 'c'},
	    {"since", required_argument, NULL, 's'},
	    {"json", no_argument, NULL, 'j'},
	    {"output", required_argument, NULL, 'o'},
	    {"to", required_argument, NULL, 't'},
	    {"reason", required_argument, NULL, 'r'},
	    {"attachment", required_argument, NULL, 'a'},
	    {"by", required_argument, NULL, 'b'},
	    {"via", required_argument, NULL, 'v'},
	    {"from", required_argument, NULL, 'f'},
	    {"days", required_argument, NULL, 'D'},
	    {"dry-run", no_argument, NULL, 'n'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	static const struct {
		const char *name;
		unsigned allowed;
		int nargs; /* positional arguments after the verb */
	} verbs[] = {
	    {"list", QO_SINCE | QO_JSON, 0},
	    {"show", 0, 1},
	    {"export", QO_OUT, 1},
	    {"release", QO_TO | QO_REASON | QO_ATT | QO_BY | QO_VIA | QO_FROM, 1},
	    {"prune", QO_DAYS | QO_DRY, 0},
	};
	struct qc c;
	int ch, rc = 2;
	size_t vi;

	(void)o;
	memset(&c, 0, sizeof(c));
	while ((ch = getopt_long(argc, argv, "d:c:o:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			c.dir = optarg, c.seen |= QO_DIR;
			break;
		case 'c':
			c.conf_path = optarg, c.seen |= QO_CONF;
			break;
		case 's':
			if (!qc_parse_ulong(optarg, QC_MAX_DAYS, &c.since)) {
				log_error("--since: days expected (0..%d)", QC_MAX_DAYS);
				return 2;
			}
			c.seen |= QO_SINCE;
			break;
		case 'j':
			c.json = true, c.seen |= QO_JSON;
			break;
		case 'o':
			c.out = optarg, c.seen |= QO_OUT;
			break;
		case 't':
			c.to = optarg, c.seen |= QO_TO;
			break;
		case 'r':
			c.reason = optarg, c.seen |= QO_REASON;
			break;
		case 'a':
			c.attachment = optarg, c.seen |= QO_ATT;
			break;
		case 'b':
			c.by = optarg, c.seen |= QO_BY;
			break;
		case 'v':
			c.via = optarg, c.seen |= QO_VIA;
			break;
		case 'f':
			c.from = optarg, c.seen |= QO_FROM;
			break;
		case 'D':
			if (!qc_parse_ulong(optarg, QC_MAX_DAYS, &c.days)) {
				log_error("--days: days expected (0..%d)", QC_MAX_DAYS);
				return 2;
			}
			c.seen |= QO_DAYS;
			break;
		case 'n':
			c.dry_run = true, c.seen |= QO_DRY;
			break;
		case 'h':
			qc_usage(stdout);
			return 0;
		default:
			qc_usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		qc_usage(stderr);
		return 2;
	}
	for (vi = 0; vi < sizeof(verbs) / sizeof(verbs[0]); vi++)
		if (strcmp(argv[optind], verbs[vi].name) == 0)
			break;
	if (vi == sizeof(verbs) / sizeof(verbs[0])) {
		log_error("unknown quarantine command '%s'", argv[optind]);
		qc_usage(stderr);
		return 2;
	}
	if (c.seen & ~(verbs[vi].allowed | QO_DIR | QO_CONF)) {
		log_error("option not valid for 'quarantine %s'", verbs[vi].name);
		qc_usage(stderr);
		return 2;
	}
	if (argc - optind - 1 != verbs[vi].nargs) {
		log_error("'quarantine %s' takes %s", verbs[vi].name,
		          verbs[vi].nargs ? "one ID" : "no arguments");
		qc_usage(stderr);
		return 2;
	}
	switch (vi) {
	case 0:
		rc = qc_list(&c);
		break;
	case 1:
		rc = qc_show(&c, argv[optind + 1]);
		break;
	case 2:
		rc = qc_export(&c, argv[optind + 1]);
		break;
	case 3:
		rc = qc_release(&c, argv[optind + 1]);
		break;
	case 4:
		rc = qc_prune(&c);
		break;
	}
	quarantine_close(c.q);
	if (c.conf_ready)
		relay_conf_free(&c.conf);
	return rc;
}

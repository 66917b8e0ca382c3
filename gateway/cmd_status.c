/*
 * cmd_status - `sekisho status` beyond the ruleset: the relay's statistics
 * (stats_file of relayd.conf), the monitor's recent alerts (JSON lines) and
 * the Prometheus text exposition of the gateway's counters.
 *
 * SECURITY
 *	The stats and alert files are read as data, never trusted: at most
 *	STATUS_FILE_MAX_BYTES of a regular file's end, a small bounded JSON
 *	reader (depth, fields, lengths), and every shown value escaped so
 *	that a hostile alert line (a spoofed packet's fields end up there)
 *	cannot send control sequences to the operator's terminal.
 *
 * DIAGNOSTICS
 *	Unreadable or malformed files are reported on the output and make
 *	the functions return false; they never abort the status.
 */
#include "cmd_status.h"

#include "xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define STATUS_JSON_DEPTH 8
#define STATUS_JSON_FIELDS 128
#define STATUS_JSON_PATH 96
#define STATUS_JSON_VALUE 4096

/* --- escaping ------------------------------------------------------------ */

/* Length of a valid UTF-8 sequence at s (at most n bytes), 0 if invalid. */
static size_t status_utf8_len(const unsigned char *s, size_t n, uint32_t *cp_r)
{
	size_t len;
	uint32_t cp, min;

	if (s[0] < 0x80) {
		*cp_r = s[0];
		return 1;
	} else if ((s[0] & 0xe0) == 0xc0) {
		len = 2, cp = s[0] & 0x1f, min = 0x80;
	} else if ((s[0] & 0xf0) == 0xe0) {
		len = 3, cp = s[0] & 0x0f, min = 0x800;
	} else if ((s[0] & 0xf8) == 0xf0) {
		len = 4, cp = s[0] & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	*cp_r = cp;
	return len;
}

void status_escape(struct strbuf *out, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < len) {
		uint32_t cp;
		size_t n = status_utf8_len(p + i, len - i, &cp);

		if (n == 0 || cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0) ||
		    cp == 0x2028 || cp == 0x2029 || (cp >= 0x202a && cp <= 0x202e) ||
		    (cp >= 0x2066 && cp <= 0x2069)) {
			/* controls, C1 (CSI 0x9b), bidi overrides: shown as bytes */
			size_t k = n ? n : 1;
			for (size_t j = 0; j < k; j++)
				strbuf_printf(out, "\\x%02x", p[i + j]);
			i += k;
		} else if (cp == '\\') {
			strbuf_puts(out, "\\\\");
			i++;
		} else {
			strbuf_append(out, p + i, n);
			i += n;
		}
	}
}

/* --- a small, bounded JSON reader: flattens objects to "a.b" = value ---- */

struct status_jfield {
	char path[STATUS_JSON_PATH];
	struct strbuf val; /* decoded string, or the literal of a number etc. */
	bool is_str;
};

struct status_json {
	struct status_jfield f[STATUS_JSON_FIELDS];
	size_t n;
	const char *p, *end;
};

static void status_json_free(struct status_json *j)
{
	for (size_t i = 0; i < j->n; i++)
		strbuf_free(&j->f[i].val);
	j->n = 0;
}

static void status_json_ws(struct status_json *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

static int status_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* A string at j->p (the opening quote) decoded into out (NULL: skipped). */
static bool status_json_string(struct status_json *j, struct strbuf *out)
{
	j->p++;
	while (j->p < j->end && *j->p != '"') {
		char c = *j->p++;
		if ((unsigned char)c < 0x20)
			return false;
		if (c != '\\') {
			if (out)
				strbuf_putc(out, c);
			continue;
		}
		if (j->p >= j->end)
			return false;
		c = *j->p++;
		switch (c) {
		case '"':
		case '\\':
		case '/':
			break;
		case 'b':
			c = '\b';
			break;
		case 'f':
			c = '\f';
			break;
		case 'n':
			c = '\n';
			break;
		case 'r':
			c = '\r';
			break;
		case 't':
			c = '\t';
			break;
		case 'u': {
			uint32_t cp = 0;
			if (j->end - j->p < 4)
				return false;
			for (int k = 0; k < 4; k++) {
				int h = status_hex(j->p[k]);
				if (h < 0)
					return false;
				cp = cp << 4 | (uint32_t)h;
			}
			j->p += 4;
			if (cp >= 0xd800 && cp <= 0xdfff)
				cp = 0xfffd; /* surrogates: shown as a replacement */
			if (out) {
				char u[4];
				size_t n;
				if (cp < 0x80) {
					u[0] = (char)cp, n = 1;
				} else if (cp < 0x800) {
					u[0] = (char)(0xc0 | cp >> 6),
					u[1] = (char)(0x80 | (cp & 0x3f)), n = 2;
				} else {
					u[0] = (char)(0xe0 | cp >> 12),
					u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
					u[2] = (char)(0x80 | (cp & 0x3f)), n = 3;
				}
				strbuf_append(out, u, n);
			}
			continue;
		}
		default:
			return false;
		}
		if (out)
			strbuf_putc(out, c);
	}
	if (j->p >= j->end)
		return false;
	j->p++;
	return true;
}

static bool status_json_value(struct status_json *j, const char *path, int depth);

static bool status_json_object(struct status_json *j, const char *path, int depth)
{
	j->p++;
	status_json_ws(j);
	if (j->p < j->end && *j->p == '}') {
		j->p++;
		return true;
	}
	for (;;) {
		struct strbuf key;
		char sub[STATUS_JSON_PATH];

		status_json_ws(j);
		if (j->p >= j->end || *j->p != '"')
			return false;
		strbuf_init(&key, 256);
		if (!status_json_string(j, &key)) {
			strbuf_free(&key);
			return false;
		}
		int n = snprintf(sub, sizeof(sub), "%s%s%s", path, path[0] ? "." : "",
		                 key.s ? key.s : "");
		strbuf_free(&key);
		if (n < 0 || (size_t)n >= sizeof(sub))
			sub[0] = '\0'; /* overlong: parsed, not kept */
		status_json_ws(j);
		if (j->p >= j->end || *j->p != ':')
			return false;
		j->p++;
		if (!status_json_value(j, sub, depth + 1))
			return false;
		status_json_ws(j);
		if (j->p < j->end && *j->p == ',') {
			j->p++;
			continue;
		}
		if (j->p < j->end && *j->p == '}') {
			j->p++;
			return true;
		}
		return false;
	}
}

static bool status_json_array(struct status_json *j, int depth)
{
	j->p++;
	status_json_ws(j);
	if (j->p < j->end && *j->p == ']') {
		j->p++;
		return true;
	}
	for (;;) {
		if (!status_json_value(j, "", depth + 1)) /* elements are not kept */
			return false;
		status_json_ws(j);
		if (j->p < j->end && *j->p == ',') {
			j->p++;
			continue;
		}
		if (j->p < j->end && *j->p == ']') {
			j->p++;
			return true;
		}
		return false;
	}
}

static bool status_json_value(struct status_json *j, const char *path, int depth)
{
	struct status_jfield *f = NULL;

	if (depth > STATUS_JSON_DEPTH)
		return false;
	status_json_ws(j);
	if (j->p >= j->end)
		return false;
	if (*j->p == '{')
		return status_json_object(j, path, depth);
	if (*j->p == '[')
		return status_json_array(j, depth);
	if (path[0] && j->n < STATUS_JSON_FIELDS) {
		f = &j->f[j->n++];
		snprintf(f->path, sizeof(f->path), "%s", path);
		strbuf_init(&f->val, STATUS_JSON_VALUE);
		f->is_str = false;
	}
	if (*j->p == '"') {
		if (f)
			f->is_str = true;
		return status_json_string(j, f ? &f->val : NULL);
	}
	const char *start = j->p;
	while (j->p < j->end && strchr("0123456789+-.eEtruefalsn", *j->p))
		j->p++;
	if (j->p == start)
		return false;
	if (f)
		strbuf_append(&f->val, start, (size_t)(j->p - start));
	return true;
}

/* Parse one JSON object (the whole of s..s+len but blanks). */
static bool status_json_parse(struct status_json *j, const char *s, size_t len)
{
	j->n = 0;
	j->p = s;
	j->end = s + len;
	status_json_ws(j);
	if (j->p >= j->end || *j->p != '{')
		return false;
	if (!status_json_value(j, "", 0))
		return false;
	status_json_ws(j);
	return j->p == j->end;
}

static const struct status_jfield *status_json_get(const struct status_json *j, const char *path)
{
	for (size_t i = 0; i < j->n; i++)
		if (strcmp(j->f[i].path, path) == 0)
			return &j->f[i];
	return NULL;
}

/* A non-negative integer field; false when missing or not one. */
static bool status_json_u64(const struct status_json *j, const char *path, uint64_t *v_r)
{
	const struct status_jfield *f = status_json_get(j, path);
	char *end;

	if (!f || f->is_str || !f->val.s || f->val.s[0] < '0' || f->val.s[0] > '9')
		return false;
	errno = 0;
	unsigned long long v = strtoull(f->val.s, &end, 10);
	if (errno || *end)
		return false;
	*v_r = v;
	return true;
}

/* --- files ---------------------------------------------------------------- */

/* The last STATUS_FILE_MAX_BYTES of a regular file.  1 read, 0 missing,
 * -1 error (errno). *cut_r: the start was cut off. */
static int status_read_tail(const char *path, struct strbuf *b, bool *cut_r)
{
	struct stat st;
	char buf[8192];
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

	*cut_r = false;
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		errno = EINVAL;
		return -1;
	}
	if (st.st_size > (off_t)STATUS_FILE_MAX_BYTES) {
		if (lseek(fd, st.st_size - (off_t)STATUS_FILE_MAX_BYTES, SEEK_SET) < 0) {
			close(fd);
			return -1;
		}
		*cut_r = true;
	}
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			close(fd);
			errno = e;
			return -1;
		}
		if (n == 0 || b->len >= STATUS_FILE_MAX_BYTES)
			break;
		strbuf_append(b, buf, (size_t)n);
	}
	close(fd);
	return 1;
}

/* Escaped and cut at STATUS_FIELD_MAX bytes. */
static void status_put_field(struct strbuf *e, const char *s, size_t len)
{
	if (len > STATUS_FIELD_MAX) {
		status_escape(e, s, STATUS_FIELD_MAX);
		strbuf_puts(e, "...");
	} else {
		status_escape(e, s, len);
	}
}

/* --- relay ----------------------------------------------------------------- */

bool status_relay_print(FILE *f, const char *path, bool explicit)
{
	struct strbuf b;
	struct status_json *j = xcalloc(1, sizeof(*j));
	bool cut, ok = false;
	uint64_t v, started = 0, updated = 0;
	char when[32] = "-";

	strbuf_init(&b, STATUS_FILE_MAX_BYTES);
	int rc = status_read_tail(path, &b, &cut);
	if (rc == 0) {
		if (explicit)
			fprintf(f, "\nrelay: no statistics file %s (relay not running?)\n", path);
		ok = !explicit;
		goto out;
	}
	fputs("\nrelay: ", f);
	if (rc < 0) {
		fprintf(f, "%s: %s\n", path, strerror(errno));
		goto out;
	}
	if (cut || !status_json_parse(j, b.s ? b.s : "", b.len)) {
		fprintf(f, "%s: not a relay statistics file\n", path);
		goto out;
	}
	status_json_u64(j, "started", &started);
	status_json_u64(j, "updated", &updated);
	if (updated) {
		time_t t = (time_t)updated;
		struct tm tm;
		if (localtime_r(&t, &tm))
			strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
	}
	fprintf(f, "statistics of %s, updated %s", path, when);
	if (updated && time(NULL) - (time_t)updated > 60)
		fputs(" (stale: is sekisho-relayd running?)", f);
	fputc('\n', f);
	static const struct {
		const char *path, *label;
	} rows[] = {
	    {"sessions.active", "sessions active"},
	    {"connections.accepted", "connections accepted"},
	    {"connections.refused", "connections refused"},
	    {"transactions.delivered", "delivered"},
	    {"transactions.delivered-notice", "delivered (notice only)"},
	    {"transactions.rejected", "rejected by next hop"},
	    {"transactions.deferred", "deferred (4xx)"},
	    {"errors.sanitiser", "  sanitiser errors"},
	    {"errors.quarantine", "  quarantine failures"},
	    {"bytes_in", "bytes in"},
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		if (status_json_u64(j, rows[i].path, &v))
			fprintf(f, "  %-26s %14" PRIu64 "\n", rows[i].label, v);
		else
			fprintf(f, "  %-26s %14s\n", rows[i].label, "-");
	}
	ok = true;
out:
	status_json_free(j);
	free(j);
	strbuf_free(&b);
	return ok;
}

/* --- alerts ---------------------------------------------------------------- */

/* Show the fields of an alert that an operator reads first, in this order:
 * the monitor's alert lines (gateway/monitor.c: time event state pair proto
 * src sport dst dport packets first last rule reason; "from"/"to" repeat
 * the pair) and common synonyms. */
static const char *const status_alert_keys[] = {
    "ts",        "time",  "event",   "state",      "pair",  "segment_pair",
    "proto",     "src",   "sport",   "dst",        "dport", "icmp_type",
    "icmp_code", "count", "packets", "first_seen", "first", "last_seen",
    "last",      "rule",  "prefix",  "reason",     "msg",   "message",
};

void status_alert_format(struct strbuf *out, const char *s, size_t len)
{
	struct status_json *j = xcalloc(1, sizeof(*j));
	size_t shown = 0;

	if (status_json_parse(j, s, len)) {
		for (size_t k = 0; k < sizeof(status_alert_keys) / sizeof(status_alert_keys[0]);
		     k++) {
			const struct status_jfield *fd = status_json_get(j, status_alert_keys[k]);
			if (!fd)
				continue;
			strbuf_printf(out, "%s%s=", shown++ ? " " : "", status_alert_keys[k]);
			status_put_field(out, fd->val.s ? fd->val.s : "", fd->val.len);
		}
		/* an object with none of them: its first scalar fields */
		for (size_t i = 0; shown == 0 && i < j->n && i < 8; i++) {
			strbuf_puts(out, i ? " " : "");
			status_put_field(out, j->f[i].path, strlen(j->f[i].path));
			strbuf_putc(out, '=');
			status_put_field(out, j->f[i].val.s ? j->f[i].val.s : "", j->f[i].val.len);
		}
	} else {
		strbuf_puts(out, "(not JSON) ");
		status_put_field(out, s, len);
	}
	status_json_free(j);
	free(j);
}

static void status_alert_line(FILE *f, const char *s, size_t len)
{
	struct strbuf b;

	strbuf_init(&b, 0);
	status_alert_format(&b, s, len);
	fprintf(f, "  %s\n", b.s ? b.s : "");
	strbuf_free(&b);
}

bool status_alerts_print(FILE *f, const char *path, bool explicit)
{
	struct strbuf b;
	bool cut;
	const char *starts[STATUS_ALERTS_SHOWN];
	size_t lens[STATUS_ALERTS_SHOWN], n = 0;

	strbuf_init(&b, STATUS_FILE_MAX_BYTES);
	int rc = status_read_tail(path, &b, &cut);
	if (rc == 0) {
		if (explicit)
			fprintf(f, "\nalerts: no alert file %s\n", path);
		strbuf_free(&b);
		return !explicit;
	}
	if (rc < 0) {
		fprintf(f, "\nalerts: %s: %s\n", path, strerror(errno));
		strbuf_free(&b);
		return false;
	}
	/* the last lines, newest last; a cut first line is incomplete: skipped */
	const char *p = b.s ? b.s : "", *end = p + b.len;
	if (cut) {
		const char *nl = memchr(p, '\n', b.len);
		p = nl ? nl + 1 : end;
	}
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		if (le > p) {
			if (n == STATUS_ALERTS_SHOWN) {
				memmove(starts, starts + 1, sizeof(starts[0]) * (n - 1));
				memmove(lens, lens + 1, sizeof(lens[0]) * (n - 1));
				n--;
			}
			starts[n] = p;
			lens[n++] = (size_t)(le - p);
		}
		p = nl ? nl + 1 : end;
	}
	fprintf(f, "\nalerts: the last %zu of %s\n", n, path);
	for (size_t i = 0; i < n; i++)
		status_alert_line(f, starts[i], lens[i]);
	if (n == 0)
		fputs("  (none)\n", f);
	strbuf_free(&b);
	return true;
}

/* --- Prometheus ------------------------------------------------------------ */

/* A label value: \\, \" and \n escaped (the exposition format). */
static void status_prom_label(struct strbuf *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			strbuf_printf(out, "\\%c", *s);
		else if (*s == '\n')
			strbuf_puts(out, "\\n");
		else
			strbuf_putc(out, *s);
	}
}

static void status_prom_head(struct strbuf *out, const char *name, const char *type,
                             const char *help)
{
	strbuf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void status_prom_pair(struct strbuf *out, const char *metric, const char *from,
                             const char *to, const char *verdict, uint64_t v)
{
	strbuf_printf(out, "%s{from=\"", metric);
	status_prom_label(out, from);
	strbuf_puts(out, "\",to=\"");
	status_prom_label(out, to);
	strbuf_printf(out, "\",verdict=\"%s\"} %" PRIu64 "\n", verdict, v);
}

void status_prometheus(struct strbuf *out, const struct netlink_running *run,
                       const struct state_version *v, time_t now)
{
	status_prom_head(out, "sekisho_gateway_ruleset_loaded", "gauge",
	                 "1 when table inet sekisho is loaded in the kernel.");
	strbuf_printf(out, "sekisho_gateway_ruleset_loaded %d\n", run->exists ? 1 : 0);
	status_prom_head(out, "sekisho_gateway_ruleset_version", "gauge",
	                 "The running ruleset version (0: none recorded).");
	strbuf_printf(out, "sekisho_gateway_ruleset_version %u\n", v ? v->num : 0);
	if (v) {
		status_prom_head(out, "sekisho_gateway_ruleset_info", "gauge",
		                 "The running ruleset's digest.");
		strbuf_puts(out, "sekisho_gateway_ruleset_info{digest=\"");
		status_prom_label(out, v->digest ? v->digest : "");
		strbuf_printf(out, "\",version=\"%06u\"} 1\n", v->num);
		status_prom_head(out, "sekisho_gateway_ruleset_applied_seconds", "gauge",
		                 "When the running ruleset was applied (Unix time).");
		strbuf_printf(out, "sekisho_gateway_ruleset_applied_seconds %lld\n",
		              (long long)v->applied);
	}
	const char *metrics[2] = {"sekisho_gateway_packets_total", "sekisho_gateway_bytes_total"};
	for (int m = 0; m < 2; m++) {
		status_prom_head(out, metrics[m], "counter",
		                 m == 0 ? "Packets per segment pair, passed or denied."
		                        : "Bytes per segment pair, passed or denied.");
		for (size_t i = 0; i < run->chains.n; i++) {
			const struct netlink_chain_stat *c = &run->chains.v[i];
			const char *to = strstr(c->name, "_to_");
			char from[80];

			if (!to)
				continue;
			snprintf(from, sizeof(from), "%.*s", (int)(to - c->name), c->name);
			status_prom_pair(out, metrics[m], from, to + 4, "pass",
			                 m == 0 ? c->accept_packets : c->accept_bytes);
			status_prom_pair(out, metrics[m], from, to + 4, "deny",
			                 m == 0 ? c->drop_packets : c->drop_bytes);
		}
	}
	status_prom_head(out, "sekisho_gateway_other_denied_packets_total", "counter",
	                 "Denied packets outside the segment pairs (ingress checks, to the box, "
	                 "unknown interfaces).");
	for (size_t i = 0; i < run->chains.n; i++) {
		const struct netlink_chain_stat *c = &run->chains.v[i];
		if (strncmp(c->name, "in_", 3) == 0) {
			strbuf_puts(out,
			            "sekisho_gateway_other_denied_packets_total{where=\"ingress\","
			            "segment=\"");
			status_prom_label(out, c->name + 3);
			strbuf_printf(out, "\"} %" PRIu64 "\n", c->drop_packets);
		} else if (strcmp(c->name, "input") == 0) {
			strbuf_printf(out,
			              "sekisho_gateway_other_denied_packets_total{where=\"box\","
			              "segment=\"\"} %" PRIu64 "\n",
			              c->drop_packets);
		} else if (strcmp(c->name, "forward") == 0) {
			strbuf_printf(out,
			              "sekisho_gateway_other_denied_packets_total{where=\"unknown_"
			              "interfaces\",segment=\"\"} %" PRIu64 "\n",
			              c->drop_packets);
		}
	}
	status_prom_head(out, "sekisho_gateway_status_time_seconds", "gauge",
	                 "When these figures were read (Unix time).");
	strbuf_printf(out, "sekisho_gateway_status_time_seconds %lld\n", (long long)now);
}

bool status_write_atomic(const char *path, const struct strbuf *b)
{
	char tmp[4096];
	int n = snprintf(tmp, sizeof(tmp), "%s.tmp", path);

	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return false;
	}
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return false;
	size_t off = 0;
	while (off < b->len) {
		ssize_t w = write(fd, b->s + off, b->len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			goto fail;
		off += (size_t)w;
	}
	if (fchmod(fd, 0644) != 0 || fsync(fd) != 0)
		goto fail;
	if (close(fd) != 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) != 0)
		goto fail;
	return true;
fail : {
	int e = errno;
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	errno = e;
	return false;
}
}

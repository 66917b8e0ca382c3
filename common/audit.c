/*
 * audit - the tamper-evident audit log (format and contracts: audit.h,
 * docs/audit.md).
 *
 * SECURITY
 *	The key never leaves this file's memory; the key file must be a
 *	regular file closed to group and others.  The log is opened with
 *	O_NOFOLLOW and O_APPEND; every append re-checks the tail another
 *	process may have written before continuing the chain, and refuses to
 *	write after a broken record.  The verifier reads untrusted bytes:
 *	lines are limited to AUDIT_LINE_MAX, data nesting to AUDIT_DEPTH_MAX.
 * DIAGNOSTICS
 *	Reasons go to the caller's err / report; audit_event logs its own
 *	failure (log_error).
 */
#include "audit.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char audit_zero_hex[AUDIT_HEX_LEN + 1] =
    "0000000000000000000000000000000000000000000000000000000000000000";

struct audit {
	int fd;
	char *path;
	unsigned char key[AUDIT_KEY_MAX];
	size_t keylen;
	uint64_t seq;                 /* last record's seq (0: empty) */
	char head[AUDIT_HEX_LEN + 1]; /* last record's hmac */
	off_t end;                    /* file size after our last look */
	pthread_mutex_t mu;
};

/* ---- a strict JSON scanner (data member, verdict summaries) ------------ */

struct audit_js {
	const char *p, *end;
};

static void audit_js_ws(struct audit_js *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

static bool audit_js_lit(struct audit_js *j, const char *lit)
{
	size_t n = strlen(lit);

	if ((size_t)(j->end - j->p) < n || memcmp(j->p, lit, n) != 0)
		return false;
	j->p += n;
	return true;
}

static bool audit_js_string(struct audit_js *j)
{
	if (j->p >= j->end || *j->p != '"')
		return false;
	j->p++;
	while (j->p < j->end) {
		unsigned char c = (unsigned char)*j->p++;

		if (c == '"')
			return true;
		if (c < 0x20)
			return false;
		if (c != '\\')
			continue;
		if (j->p >= j->end)
			return false;
		c = (unsigned char)*j->p++;
		if (c == 'u') {
			for (int i = 0; i < 4; i++, j->p++)
				if (j->p >= j->end || !strchr("0123456789abcdefABCDEF", *j->p) ||
				    *j->p == '\0')
					return false;
		} else if (!memchr("\"\\/bfnrt", c, 8)) {
			return false;
		}
	}
	return false;
}

static bool audit_js_digits(struct audit_js *j)
{
	const char *s = j->p;

	while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
		j->p++;
	return j->p > s;
}

static bool audit_js_number(struct audit_js *j)
{
	if (j->p < j->end && *j->p == '-')
		j->p++;
	if (j->p < j->end && *j->p == '0')
		j->p++;
	else if (!audit_js_digits(j))
		return false;
	if (j->p < j->end && *j->p == '.') {
		j->p++;
		if (!audit_js_digits(j))
			return false;
	}
	if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
		j->p++;
		if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
			j->p++;
		if (!audit_js_digits(j))
			return false;
	}
	return true;
}

static bool audit_js_value(struct audit_js *j, int depth)
{
	char close;

	audit_js_ws(j);
	if (j->p >= j->end)
		return false;
	switch (*j->p) {
	case '"':
		return audit_js_string(j);
	case 't':
		return audit_js_lit(j, "true");
	case 'f':
		return audit_js_lit(j, "false");
	case 'n':
		return audit_js_lit(j, "null");
	case '{':
	case '[':
		break;
	default:
		return audit_js_number(j);
	}
	if (depth >= AUDIT_DEPTH_MAX)
		return false;
	close = *j->p == '{' ? '}' : ']';
	j->p++;
	audit_js_ws(j);
	if (j->p < j->end && *j->p == close) {
		j->p++;
		return true;
	}
	for (;;) {
		if (close == '}') {
			audit_js_ws(j);
			if (!audit_js_string(j))
				return false;
			audit_js_ws(j);
			if (j->p >= j->end || *j->p != ':')
				return false;
			j->p++;
		}
		if (!audit_js_value(j, depth + 1))
			return false;
		audit_js_ws(j);
		if (j->p >= j->end)
			return false;
		if (*j->p == close) {
			j->p++;
			return true;
		}
		if (*j->p != ',')
			return false;
		j->p++;
	}
}

/* s[0..len) is exactly one JSON object (surrounding whitespace allowed). */
static bool audit_js_is_object(const char *s, size_t len)
{
	struct audit_js j = {s, s + len};

	audit_js_ws(&j);
	if (j.p >= j.end || *j.p != '{' || !audit_js_value(&j, 0))
		return false;
	audit_js_ws(&j);
	return j.p == j.end;
}

bool audit_json_member(const char *json, size_t len, const char *key, const char **val_r,
                       size_t *vlen_r)
{
	struct audit_js j = {json, json + len};
	size_t klen = strlen(key);

	audit_js_ws(&j);
	if (j.p >= j.end || *j.p != '{')
		return false;
	j.p++;
	audit_js_ws(&j);
	if (j.p < j.end && *j.p == '}')
		return false;
	for (;;) {
		const char *ks, *vs;
		bool match;

		audit_js_ws(&j);
		ks = j.p;
		if (!audit_js_string(&j))
			return false;
		match = (size_t)(j.p - ks) == klen + 2 && memcmp(ks + 1, key, klen) == 0;
		audit_js_ws(&j);
		if (j.p >= j.end || *j.p != ':')
			return false;
		j.p++;
		audit_js_ws(&j);
		vs = j.p;
		if (!audit_js_value(&j, 1))
			return false;
		if (match) {
			*val_r = vs;
			*vlen_r = (size_t)(j.p - vs);
			return true;
		}
		audit_js_ws(&j);
		if (j.p >= j.end || *j.p != ',')
			return false;
		j.p++;
	}
}

long audit_json_count(const char *val, size_t len)
{
	struct audit_js j = {val, val + len};
	long n = 0;

	if (j.p >= j.end || *j.p != '[')
		return -1;
	j.p++;
	audit_js_ws(&j);
	if (j.p < j.end && *j.p == ']')
		return 0;
	for (;;) {
		if (!audit_js_value(&j, 1))
			return -1;
		n++;
		audit_js_ws(&j);
		if (j.p >= j.end)
			return -1;
		if (*j.p == ']')
			return n;
		if (*j.p != ',')
			return -1;
		j.p++;
	}
}

/* ---- records ------------------------------------------------------------- */

static bool audit_type_ok(const char *t, size_t n)
{
	if (n == 0 || n > AUDIT_TYPE_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((t[i] >= 'a' && t[i] <= 'z') || (t[i] >= '0' && t[i] <= '9') || t[i] == '.' ||
		      t[i] == '_' || t[i] == '-'))
			return false;
	return true;
}

static bool audit_hex_ok(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/* Expect the literal lit at *p; advance. */
static bool audit_expect(const char **p, const char *end, const char *lit)
{
	size_t n = strlen(lit);

	if ((size_t)(end - *p) < n || memcmp(*p, lit, n) != 0)
		return false;
	*p += n;
	return true;
}

/* Decimal without sign or leading zeros, at most 18 digits. */
static bool audit_uint(const char **p, const char *end, uint64_t *v)
{
	const char *s = *p;

	*v = 0;
	while (*p < end && **p >= '0' && **p <= '9' && *p - s < 18)
		*v = *v * 10 + (uint64_t)(*(*p)++ - '0');
	if (*p == s || (*p < end && **p >= '0' && **p <= '9'))
		return false;
	return !(s[0] == '0' && *p - s > 1);
}

const char *audit_parse_line(const char *line, size_t len, struct audit_rec *r)
{
	const char *p = line, *end = line + len, *t;
	struct audit_js j;
	uint64_t v;

	memset(r, 0, sizeof(*r));
	if (len > AUDIT_LINE_MAX)
		return "line too long";
	if (len == 0)
		return "empty line";
	if (!audit_expect(&p, end, "{\"seq\":"))
		return "does not start with {\"seq\":";
	if (!audit_uint(&p, end, &r->seq) || r->seq == 0)
		return "bad seq";
	if (!audit_expect(&p, end, ",\"time\":") || !audit_uint(&p, end, &v))
		return "bad time";
	r->time = (int64_t)v;
	if (!audit_expect(&p, end, ",\"type\":\""))
		return "missing type";
	t = p;
	while (p < end && *p != '"')
		p++;
	if (p >= end || !audit_type_ok(t, (size_t)(p - t)))
		return "bad type";
	memcpy(r->type, t, (size_t)(p - t));
	r->type[p - t] = '\0';
	if (!audit_expect(&p, end, "\",\"data\":"))
		return "missing data";
	if (p >= end || *p != '{')
		return "data is not an object";
	j.p = p;
	j.end = end;
	if (!audit_js_value(&j, 0))
		return "data is not valid JSON";
	r->data = p;
	r->data_len = (size_t)(j.p - p);
	p = j.p;
	if (!audit_expect(&p, end, ",\"prev\":\"") || end - p < AUDIT_HEX_LEN ||
	    !audit_hex_ok(p, AUDIT_HEX_LEN))
		return "bad prev";
	memcpy(r->prev, p, AUDIT_HEX_LEN);
	p += AUDIT_HEX_LEN;
	if (!audit_expect(&p, end, "\""))
		return "bad prev";
	r->body_len = (size_t)(p - line);
	if (!audit_expect(&p, end, ",\"hmac\":\"") || end - p < AUDIT_HEX_LEN ||
	    !audit_hex_ok(p, AUDIT_HEX_LEN))
		return "bad hmac";
	memcpy(r->hmac, p, AUDIT_HEX_LEN);
	p += AUDIT_HEX_LEN;
	if (!audit_expect(&p, end, "\"}") || p != end)
		return "trailing bytes after the hmac";
	return NULL;
}

static void audit_hex(const unsigned char *md, size_t n, char *hex)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		hex[2 * i] = digits[md[i] >> 4];
		hex[2 * i + 1] = digits[md[i] & 15];
	}
	hex[2 * n] = '\0';
}

/* HMAC over body[0..len) followed by "}". */
static void audit_mac(const unsigned char *key, size_t keylen, const char *body, size_t len,
                      char hex_r[AUDIT_HEX_LEN + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	struct strbuf b;

	strbuf_init(&b, 0);
	strbuf_append(&b, body, len);
	strbuf_putc(&b, '}');
	if (!HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)b.s, b.len, md, &mdlen) ||
	    mdlen != AUDIT_HEX_LEN / 2) {
		/* cannot happen with a working libcrypto; never matches a record */
		memset(hex_r, 'x', AUDIT_HEX_LEN);
		hex_r[AUDIT_HEX_LEN] = '\0';
	} else {
		audit_hex(md, mdlen, hex_r);
	}
	OPENSSL_cleanse(md, sizeof(md));
	strbuf_free(&b);
}

void audit_hmac_hex(const unsigned char *key, size_t keylen, const char *line,
                    const struct audit_rec *r, char hex_r[AUDIT_HEX_LEN + 1])
{
	audit_mac(key, keylen, line, r->body_len, hex_r);
}

/* ---- key ------------------------------------------------------------------- */

int audit_key_load(const char *path, unsigned char key_r[AUDIT_KEY_MAX], struct strbuf *err)
{
	struct stat st;
	ssize_t n;
	size_t got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);

	if (fd < 0) {
		strbuf_printf(err, "audit key %s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		strbuf_printf(err, "audit key %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		strbuf_printf(err, "audit key %s is not a regular file; refused", path);
		close(fd);
		return -1;
	}
	if (st.st_mode & 077) {
		strbuf_printf(err,
		              "audit key %s is accessible by group or others (mode %04o); refused "
		              "-- chmod 600 it",
		              path, (unsigned)(st.st_mode & 07777));
		close(fd);
		return -1;
	}
	while (got < AUDIT_KEY_MAX) {
		n = read(fd, key_r + got, AUDIT_KEY_MAX - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			strbuf_printf(err, "audit key %s: %s", path, strerror(errno));
			close(fd);
			OPENSSL_cleanse(key_r, AUDIT_KEY_MAX);
			return -1;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	if (got == AUDIT_KEY_MAX) {
		unsigned char extra;

		if (read(fd, &extra, 1) > 0) {
			strbuf_printf(err, "audit key %s is longer than %d bytes; refused", path,
			              AUDIT_KEY_MAX);
			close(fd);
			OPENSSL_cleanse(key_r, AUDIT_KEY_MAX);
			return -1;
		}
	}
	close(fd);
	if (got < AUDIT_KEY_MIN) {
		strbuf_printf(err, "audit key %s holds %zu bytes, fewer than %d; refused", path,
		              got, AUDIT_KEY_MIN);
		OPENSSL_cleanse(key_r, AUDIT_KEY_MAX);
		return -1;
	}
	return (int)got;
}

int audit_key_generate(const char *path, struct strbuf *err)
{
	unsigned char key[AUDIT_KEY_MIN];
	int fd;
	ssize_t n;

	if (RAND_bytes(key, sizeof(key)) != 1) {
		strbuf_puts(err, "no random bytes from libcrypto");
		return -1;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		strbuf_printf(err, "%s: %s", path, strerror(errno));
		OPENSSL_cleanse(key, sizeof(key));
		return -1;
	}
	/* the umask may have taken bits away, never added; make it exact */
	n = write(fd, key, sizeof(key));
	OPENSSL_cleanse(key, sizeof(key));
	if (n != (ssize_t)sizeof(key) || fchmod(fd, 0600) < 0 || fsync(fd) < 0) {
		strbuf_printf(err, "%s: %s", path, n < 0 ? strerror(errno) : "short write");
		close(fd);
		unlink(path);
		return -1;
	}
	if (close(fd) < 0) {
		strbuf_printf(err, "%s: %s", path, strerror(errno));
		unlink(path);
		return -1;
	}
	return 0;
}

/* ---- appending ----------------------------------------------------------- */

/* Read the last record of the file (size bytes) and check it; sets a->seq,
 * a->head, a->end.  Refuses an incomplete last line or a bad HMAC. */
static int audit_read_tail(struct audit *a, off_t size, struct strbuf *err)
{
	size_t want = (size_t)size < AUDIT_LINE_MAX + 2 ? (size_t)size : AUDIT_LINE_MAX + 2;
	char *buf, *start, mac[AUDIT_HEX_LEN + 1];
	struct audit_rec r;
	size_t got = 0, len;
	const char *why;
	ssize_t n;

	if (size == 0) {
		a->seq = 0;
		memcpy(a->head, audit_zero_hex, sizeof(a->head));
		a->end = 0;
		return 0;
	}
	buf = malloc(want);
	if (!buf) {
		strbuf_puts(err, "out of memory");
		return -1;
	}
	while (got < want) {
		n = pread(a->fd, buf + got, want - got, size - (off_t)want + (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			strbuf_printf(err, "%s: reading the last record: %s", a->path,
			              n < 0 ? strerror(errno) : "file shrank");
			free(buf);
			return -1;
		}
		got += (size_t)n;
	}
	if (buf[want - 1] != '\n') {
		strbuf_printf(err,
		              "%s: the last record is incomplete (truncated, or a write was "
		              "interrupted); refusing to append -- run 'sekisho audit verify'",
		              a->path);
		free(buf);
		return -1;
	}
	start = buf + want - 1;
	while (start > buf && start[-1] != '\n')
		start--;
	if (start == buf && want < (size_t)size) {
		strbuf_printf(err, "%s: the last record is too long; refusing to append", a->path);
		free(buf);
		return -1;
	}
	len = (size_t)(buf + want - 1 - start);
	why = audit_parse_line(start, len, &r);
	if (!why) {
		audit_mac(a->key, a->keylen, start, r.body_len, mac);
		if (CRYPTO_memcmp(mac, r.hmac, AUDIT_HEX_LEN) != 0)
			why = "its HMAC does not match (altered, or another key)";
	}
	if (why) {
		strbuf_printf(err,
		              "%s: the last record is broken (%s); refusing to append -- run "
		              "'sekisho audit verify'",
		              a->path, why);
		free(buf);
		return -1;
	}
	a->seq = r.seq;
	memcpy(a->head, r.hmac, sizeof(a->head));
	a->end = size;
	free(buf);
	return 0;
}

/* Write one record at the end (flock held).  data NULL = an anchor. */
static int audit_write_one(struct audit *a, const char *type, const char *data, struct strbuf *err)
{
	struct strbuf line;
	char mac[AUDIT_HEX_LEN + 1];
	ssize_t n;
	int ret = -1;

	strbuf_init(&line, AUDIT_LINE_MAX + 1);
	strbuf_printf(&line, "{\"seq\":%llu,\"time\":%lld,\"type\":\"%s\",\"data\":",
	              (unsigned long long)(a->seq + 1), (long long)time(NULL), type);
	if (data)
		strbuf_puts(&line, data);
	else
		strbuf_printf(&line, "{\"count\":%llu,\"head\":\"%s\"}", (unsigned long long)a->seq,
		              a->head);
	strbuf_printf(&line, ",\"prev\":\"%s\"", a->head);
	if (line.overflow || line.len + 80 > AUDIT_LINE_MAX) {
		strbuf_printf(err, "audit record of type %s is too long (limit %u bytes)", type,
		              AUDIT_LINE_MAX);
		goto out;
	}
	audit_mac(a->key, a->keylen, line.s, line.len, mac);
	strbuf_printf(&line, ",\"hmac\":\"%s\"}\n", mac);
	do
		n = write(a->fd, line.s, line.len);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)line.len) {
		strbuf_printf(err, "%s: %s", a->path, n < 0 ? strerror(errno) : "short write");
		/* take a partial line back so the chain stays appendable */
		if (n > 0 && ftruncate(a->fd, a->end) < 0)
			strbuf_printf(err, " (and undoing it failed: %s)", strerror(errno));
		goto out;
	}
	if (fdatasync(a->fd) < 0) {
		strbuf_printf(err, "%s: fdatasync: %s", a->path, strerror(errno));
		goto out;
	}
	a->seq++;
	memcpy(a->head, mac, sizeof(a->head));
	a->end += (off_t)line.len;
	ret = 0;
out:
	strbuf_free(&line);
	return ret;
}

/* Under the mutex: lock the file, catch up with other writers, write. */
static int audit_append_locked(struct audit *a, const char *type, const char *data,
                               struct strbuf *err)
{
	struct stat st;
	int ret = -1;

	while (flock(a->fd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			strbuf_printf(err, "%s: flock: %s", a->path, strerror(errno));
			return -1;
		}
	}
	if (fstat(a->fd, &st) < 0) {
		strbuf_printf(err, "%s: %s", a->path, strerror(errno));
		goto out;
	}
	if (st.st_size != a->end && audit_read_tail(a, st.st_size, err) < 0)
		goto out;
	if (data && (a->seq + 1) % AUDIT_ANCHOR_EVERY == 0 &&
	    audit_write_one(a, "anchor", NULL, err) < 0)
		goto out;
	ret = audit_write_one(a, type, data, err);
out:
	flock(a->fd, LOCK_UN);
	return ret;
}

static struct audit *audit_open_flags(const char *log_path, const char *key_path, bool anchor,
                                      struct strbuf *err)
{
	struct audit *a = calloc(1, sizeof(*a));
	struct stat st;
	int k, ret;

	if (!a) {
		strbuf_puts(err, "out of memory");
		return NULL;
	}
	a->fd = -1;
	k = audit_key_load(key_path, a->key, err);
	if (k < 0) {
		free(a);
		return NULL;
	}
	a->keylen = (size_t)k;
	a->path = strdup(log_path);
	pthread_mutex_init(&a->mu, NULL);
	a->fd = open(log_path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (!a->path || a->fd < 0) {
		strbuf_printf(err, "audit log %s: %s", log_path, strerror(errno));
		audit_close(a);
		return NULL;
	}
	if (fstat(a->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		strbuf_printf(err, "audit log %s is not a regular file", log_path);
		audit_close(a);
		return NULL;
	}
	while (flock(a->fd, LOCK_EX) < 0 && errno == EINTR)
		;
	ret = fstat(a->fd, &st) < 0 ? -1 : audit_read_tail(a, st.st_size, err);
	if (ret == 0 && anchor)
		ret = audit_write_one(a, "anchor", NULL, err);
	flock(a->fd, LOCK_UN);
	if (ret < 0) {
		audit_close(a);
		return NULL;
	}
	return a;
}

struct audit *audit_open(const char *log_path, const char *key_path, struct strbuf *err)
{
	return audit_open_flags(log_path, key_path, true, err);
}

int audit_append(struct audit *a, const char *type, const char *data_json, struct strbuf *err)
{
	int ret;

	if (!audit_type_ok(type, strlen(type)) || strcmp(type, "anchor") == 0) {
		strbuf_printf(err, "bad audit record type \"%s\"", type);
		return -1;
	}
	if (strchr(data_json, '\n') || strchr(data_json, '\r') ||
	    !audit_js_is_object(data_json, strlen(data_json))) {
		strbuf_printf(err, "audit record %s: data is not one JSON object on one line",
		              type);
		return -1;
	}
	pthread_mutex_lock(&a->mu);
	ret = audit_append_locked(a, type, data_json, err);
	pthread_mutex_unlock(&a->mu);
	return ret;
}

void audit_head(struct audit *a, uint64_t *seq_r, char hmac_r[AUDIT_HEX_LEN + 1])
{
	pthread_mutex_lock(&a->mu);
	*seq_r = a->seq;
	memcpy(hmac_r, a->head, AUDIT_HEX_LEN + 1);
	pthread_mutex_unlock(&a->mu);
}

void audit_close(struct audit *a)
{
	if (!a)
		return;
	if (a->fd >= 0)
		close(a->fd);
	OPENSSL_cleanse(a->key, sizeof(a->key));
	pthread_mutex_destroy(&a->mu);
	free(a->path);
	free(a);
}

bool audit_configured(const char **log_r, const char **key_r)
{
	const char *log = getenv("SEKISHO_AUDIT_LOG"), *key = getenv("SEKISHO_AUDIT_KEY");

	*log_r = log && *log ? log : AUDIT_DEFAULT_LOG;
	*key_r = key && *key ? key : AUDIT_DEFAULT_KEY;
	if (log && strcmp(log, "none") == 0)
		return false;
	return (log && *log) || (key && *key) || access(AUDIT_DEFAULT_KEY, F_OK) == 0;
}

int audit_event(const char *type, const char *data_json)
{
	const char *log, *key;
	struct strbuf err;
	struct audit *a;
	int ret = -1;

	if (!audit_configured(&log, &key))
		return 0;
	strbuf_init(&err, 4096);
	a = audit_open_flags(log, key, false, &err);
	if (a && audit_append(a, type, data_json, &err) == 0)
		ret = 0;
	if (ret < 0)
		log_error("audit log: %s record not written: %s", type, err.s ? err.s : "failed");
	audit_close(a);
	strbuf_free(&err);
	return ret;
}

/* ---- verifying ----------------------------------------------------------- */

bool audit_head_parse(const char *s, struct audit_head_ref *h)
{
	const char *p = s, *end = s + strlen(s);

	if (!audit_uint(&p, end, &h->seq) || h->seq == 0 || !audit_expect(&p, end, ":") ||
	    end - p != AUDIT_HEX_LEN)
		return false;
	for (int i = 0; i < AUDIT_HEX_LEN; i++) {
		char c = p[i];

		if (c >= 'A' && c <= 'F')
			c = (char)(c - 'A' + 'a');
		if (!audit_hex_ok(&c, 1))
			return false;
		h->hmac[i] = c;
	}
	h->hmac[AUDIT_HEX_LEN] = '\0';
	return true;
}

struct audit_reader {
	int fd;
	char buf[65536];
	size_t pos, n;
	bool eof;
};

/* Next line into line (without '\n').  Returns 0 at end of file, 1 with a
 * line; *complete false when the file ended without '\n', *toolong when it
 * exceeded AUDIT_LINE_MAX (the rest of it skipped); -1 read error. */
static int audit_reader_line(struct audit_reader *rd, struct strbuf *line, bool *complete,
                             bool *toolong)
{
	bool any = false;

	strbuf_reset(line);
	line->overflow = false;
	*complete = false;
	*toolong = false;
	for (;;) {
		char *nl;
		size_t take;

		if (rd->pos == rd->n) {
			ssize_t n;

			if (rd->eof)
				return any ? 1 : 0;
			do
				n = read(rd->fd, rd->buf, sizeof(rd->buf));
			while (n < 0 && errno == EINTR);
			if (n < 0)
				return -1;
			rd->pos = 0;
			rd->n = (size_t)n;
			if (n == 0) {
				rd->eof = true;
				return any ? 1 : 0;
			}
		}
		any = true;
		nl = memchr(rd->buf + rd->pos, '\n', rd->n - rd->pos);
		take = nl ? (size_t)(nl - (rd->buf + rd->pos)) : rd->n - rd->pos;
		if (!*toolong && !strbuf_append(line, rd->buf + rd->pos, take))
			*toolong = true;
		rd->pos += take;
		if (nl) {
			rd->pos++;
			*complete = true;
			return 1;
		}
	}
}

int audit_verify(const char *path, const char *name, const unsigned char *key, size_t keylen,
                 const struct audit_head_ref *head, struct strbuf *report)
{
	struct audit_reader *rd;
	struct strbuf line;
	struct audit_rec r;
	char last[AUDIT_HEX_LEN + 1], mac[AUDIT_HEX_LEN + 1];
	uint64_t seq = 0, lineno = 0, expect;
	bool complete, toolong, head_seen = false;
	const char *why;
	int got, ret = 1;

	rd = calloc(1, sizeof(*rd));
	if (!rd) {
		strbuf_puts(report, "out of memory\n");
		return 2;
	}
	rd->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (rd->fd < 0) {
		strbuf_printf(report, "%s: %s\n", name, strerror(errno));
		free(rd);
		return 2;
	}
	/* writers hold LOCK_EX around each append: never read half a line */
	while (flock(rd->fd, LOCK_SH) < 0 && errno == EINTR)
		;
	strbuf_init(&line, AUDIT_LINE_MAX);
	memcpy(last, audit_zero_hex, sizeof(last));
	while ((got = audit_reader_line(rd, &line, &complete, &toolong)) == 1) {
		lineno++;
		expect = seq + 1;
		if (!complete) {
			strbuf_printf(report,
			              "%s:%llu: record seq %llu: truncated (the last line is "
			              "incomplete)\n",
			              name, (unsigned long long)lineno, (unsigned long long)expect);
			goto out;
		}
		why = toolong ? "line too long"
		              : audit_parse_line(line.s ? line.s : "", line.len, &r);
		if (why) {
			strbuf_printf(report, "%s:%llu: record seq %llu: altered (malformed: %s)\n",
			              name, (unsigned long long)lineno, (unsigned long long)expect,
			              why);
			goto out;
		}
		audit_mac(key, keylen, line.s, r.body_len, mac);
		if (CRYPTO_memcmp(mac, r.hmac, AUDIT_HEX_LEN) != 0) {
			strbuf_printf(report,
			              "%s:%llu: record seq %llu: altered (HMAC does not match)\n",
			              name, (unsigned long long)lineno, (unsigned long long)expect);
			goto out;
		}
		if (r.seq != expect) {
			uint64_t found = r.seq;
			bool later = false;
			struct audit_rec r2;

			/* is the expected record further down (reordered) or gone? */
			while (!later && audit_reader_line(rd, &line, &complete, &toolong) == 1)
				later = !toolong &&
				        !audit_parse_line(line.s ? line.s : "", line.len, &r2) &&
				        r2.seq == expect;
			if (later || found < expect)
				strbuf_printf(
				    report,
				    "%s:%llu: record seq %llu: out of order (found seq %llu "
				    "here)\n",
				    name, (unsigned long long)lineno, (unsigned long long)expect,
				    (unsigned long long)found);
			else
				strbuf_printf(
				    report,
				    "%s:%llu: record seq %llu: removed (found seq %llu here; "
				    "%llu record%s missing)\n",
				    name, (unsigned long long)lineno, (unsigned long long)expect,
				    (unsigned long long)found, (unsigned long long)(found - expect),
				    found - expect == 1 ? "" : "s");
			goto out;
		}
		if (memcmp(r.prev, last, AUDIT_HEX_LEN) != 0) {
			strbuf_printf(
			    report,
			    "%s:%llu: record seq %llu: chain broken (prev is not the HMAC "
			    "of the record before)\n",
			    name, (unsigned long long)lineno, (unsigned long long)expect);
			goto out;
		}
		if (strcmp(r.type, "anchor") == 0) {
			char want[128];
			int n = snprintf(want, sizeof(want), "{\"count\":%llu,\"head\":\"%s\"}",
			                 (unsigned long long)seq, last);

			if (n < 0 || (size_t)n != r.data_len || memcmp(want, r.data, r.data_len)) {
				strbuf_printf(report,
				              "%s:%llu: record seq %llu: anchor does not match the "
				              "chain\n",
				              name, (unsigned long long)lineno,
				              (unsigned long long)expect);
				goto out;
			}
		} else if (expect % AUDIT_ANCHOR_EVERY == 0) {
			strbuf_printf(
			    report,
			    "%s:%llu: record seq %llu: anchor missing (every %dth record is "
			    "one)\n",
			    name, (unsigned long long)lineno, (unsigned long long)expect,
			    AUDIT_ANCHOR_EVERY);
			goto out;
		}
		if (head && r.seq == head->seq) {
			head_seen = true;
			if (memcmp(r.hmac, head->hmac, AUDIT_HEX_LEN) != 0) {
				strbuf_printf(report,
				              "%s:%llu: record seq %llu: does not match the head "
				              "copied elsewhere (HMAC differs)\n",
				              name, (unsigned long long)lineno,
				              (unsigned long long)expect);
				goto out;
			}
		}
		seq = r.seq;
		memcpy(last, r.hmac, sizeof(last));
	}
	if (got < 0) {
		strbuf_printf(report, "%s: %s\n", name, strerror(errno));
		ret = 2;
		goto out;
	}
	if (head && !head_seen && head->seq > seq) {
		strbuf_printf(report,
		              "%s:%llu: record seq %llu: truncated (the log ends at seq %llu; the "
		              "head copied elsewhere is seq %llu)\n",
		              name, (unsigned long long)lineno + 1, (unsigned long long)seq + 1,
		              (unsigned long long)seq, (unsigned long long)head->seq);
		goto out;
	}
	strbuf_printf(report, "%s: %llu record%s intact, head %llu:%s\n", name,
	              (unsigned long long)seq, seq == 1 ? "" : "s", (unsigned long long)seq, last);
	ret = 0;
out:
	close(rd->fd);
	free(rd);
	strbuf_free(&line);
	return ret;
}

/*
 * smtp_client - the client side of SMTP to a next hop: blocking calls over a
 * nonblocking socket, every wait bounded by poll() against a deadline, and
 * STARTTLS through OpenSSL 3.
 *
 * SUMMARY: smtp_client_connect does connect, greeting, EHLO (HELO when EHLO
 * is refused with 5xx), STARTTLS as the TLS mode asks and EHLO again.  The
 * transaction calls send one command and read one reply (no pipelining).
 * Content is normalised (line ends to CRLF, dot-stuffing, final CRLF) into
 * a 64 KiB chunk that is written whole, so a message costs a few writes per
 * 64 KiB, not one per line.  TLS goes through a BIO of our own that sends
 * with MSG_NOSIGNAL, so a peer that vanishes never raises SIGPIPE.
 *
 * SECURITY: replies are untrusted and parsed by smtp_client_parse_reply
 * (pure, fuzzed: tests/fuzz/fuzz_smtp_reply.c) with the header's limits;
 * the reply buffer never grows past what one maximal reply needs.  Bytes
 * the server sent after its 220 to STARTTLS are refused (RFC 3207 5,
 * CVE-2011-0411 turned around).  A reply of the wrong class (a 250 to DATA,
 * a 354 to RCPT) is a protocol error, never taken for success.  Envelope
 * addresses with CR, LF or NUL are refused before anything is sent.
 *
 * DIAGNOSTICS: a failing call returns 0 with "what: why" in err and closes
 * the connection.  The only static mutable state is the SSL_CTX cache,
 * guarded by a mutex; the BIO method is made once (pthread_once).
 */
#include "smtp_client.h"
#include "xalloc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define SMTP_CLIENT_RBUF_MIN 4096
#define SMTP_CLIENT_RBUF_MAX (SMTP_CLIENT_REPLY_MAX * SMTP_CLIENT_REPLY_LINES)
#define SMTP_CLIENT_CHUNK 65536      /* content bytes per write */
#define SMTP_CLIENT_QUIT_TIMEOUT_S 5 /* QUIT is best effort */
#define SMTP_CLIENT_PATH_MAX 512     /* envelope address we agree to send */
#define SMTP_CLIENT_EXTS_MAX 4096    /* octets of EHLO keywords kept */

struct smtp_client {
	int fd; /* -1 once dead */
	SSL *ssl;
	bool tls;
	struct smtp_client_opts opts; /* strings borrowed from the caller */
	char peer[INET6_ADDRSTRLEN + 8];
	struct strbuf exts; /* " KEYWORD KEYWORD " from EHLO, upper case */
	size_t size_max;    /* SIZE from EHLO, 0 = none given */
	char *rbuf;
	size_t rcap, roff, rlen; /* unread bytes: rbuf[roff..rlen) */
	char *chunk;             /* content staging, SMTP_CLIENT_CHUNK bytes */
};

/* ---- time ---- */

static int64_t smtp_client_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t smtp_client_deadline(unsigned seconds)
{
	if (seconds == 0)
		seconds = 1;
	return smtp_client_now_ms() + (int64_t)seconds * 1000;
}

/* Wait for events on fd until deadline: 1 ready, 0 timeout, -1 error. */
static int smtp_client_wait(int fd, short events, int64_t deadline)
{
	for (;;) {
		int64_t left = deadline - smtp_client_now_ms();
		if (left <= 0)
			return 0;
		struct pollfd pfd = {.fd = fd, .events = events};
		int n = poll(&pfd, 1, left > INT32_MAX ? INT32_MAX : (int)left);
		if (n > 0)
			return 1;
		if (n == 0)
			return 0;
		if (errno != EINTR)
			return -1;
	}
}

/* ---- failure ---- */

static void smtp_client_kill(struct smtp_client *c)
{
	if (c->ssl) {
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
	c->tls = false;
}

static int smtp_client_fail(struct smtp_client *c, struct strbuf *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Append "peer: message" (and OpenSSL's queue, if any) to err, kill c,
 * return 0. */
static int smtp_client_fail(struct smtp_client *c, struct strbuf *err, const char *fmt, ...)
{
	va_list ap;
	unsigned long e;
	char ebuf[256];

	if (err) {
		if (err->len > 0)
			strbuf_puts(err, "; ");
		strbuf_printf(err, "next hop %s: ", c->peer);
		va_start(ap, fmt);
		strbuf_vprintf(err, fmt, ap);
		va_end(ap);
		while ((e = ERR_get_error()) != 0) {
			ERR_error_string_n(e, ebuf, sizeof(ebuf));
			strbuf_printf(err, " [%s]", ebuf);
		}
	}
	ERR_clear_error();
	smtp_client_kill(c);
	return 0;
}

/* ---- TLS: a socket BIO that sends with MSG_NOSIGNAL ---- */

static BIO_METHOD *smtp_client_bio_method;
static pthread_once_t smtp_client_bio_once = PTHREAD_ONCE_INIT;

static int smtp_client_bio_write(BIO *b, const char *buf, size_t n, size_t *done)
{
	ssize_t k = send(BIO_get_fd(b, NULL), buf, n, MSG_NOSIGNAL);
	BIO_clear_retry_flags(b);
	if (k < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			BIO_set_retry_write(b);
		return 0;
	}
	*done = (size_t)k;
	return 1;
}

static int smtp_client_bio_read(BIO *b, char *buf, size_t n, size_t *done)
{
	ssize_t k = recv(BIO_get_fd(b, NULL), buf, n, 0);
	BIO_clear_retry_flags(b);
	if (k < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			BIO_set_retry_read(b);
		return 0;
	}
	*done = (size_t)k;
	return k > 0;
}

static int smtp_client_bio_puts(BIO *b, const char *s)
{
	size_t done = 0;
	return smtp_client_bio_write(b, s, strlen(s), &done) ? (int)done : -1;
}

static long smtp_client_bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	switch (cmd) {
	case BIO_C_SET_FD:
		BIO_set_init(b, 1);
		BIO_set_shutdown(b, (int)num);
		if (ptr)
			*(int *)BIO_get_data(b) = *(int *)ptr;
		return 1;
	case BIO_C_GET_FD:
		if (ptr)
			*(int *)ptr = *(int *)BIO_get_data(b);
		return *(int *)BIO_get_data(b);
	case BIO_CTRL_FLUSH:
		return 1;
	default:
		return 0;
	}
}

static int smtp_client_bio_create(BIO *b)
{
	BIO_set_data(b, xcalloc(1, sizeof(int)));
	return 1;
}

static int smtp_client_bio_destroy(BIO *b)
{
	free(BIO_get_data(b)); /* the fd is ours to close, not the BIO's */
	BIO_set_data(b, NULL);
	return 1;
}

static void smtp_client_bio_init(void)
{
	BIO_METHOD *m = BIO_meth_new(
	    BIO_get_new_index() | BIO_TYPE_SOURCE_SINK | BIO_TYPE_DESCRIPTOR, "sekisho socket");
	if (!m)
		return;
	BIO_meth_set_write_ex(m, smtp_client_bio_write);
	BIO_meth_set_read_ex(m, smtp_client_bio_read);
	BIO_meth_set_puts(m, smtp_client_bio_puts);
	BIO_meth_set_ctrl(m, smtp_client_bio_ctrl);
	BIO_meth_set_create(m, smtp_client_bio_create);
	BIO_meth_set_destroy(m, smtp_client_bio_destroy);
	smtp_client_bio_method = m;
}

/* ---- TLS: the shared SSL_CTX per (mode, ca_file) ---- */

struct smtp_client_ctx {
	struct smtp_client_ctx *next;
	enum relay_tls_mode mode;
	char *ca_file; /* NULL = default store */
	SSL_CTX *ctx;
};

static pthread_mutex_t smtp_client_ctx_lock = PTHREAD_MUTEX_INITIALIZER;
static struct smtp_client_ctx *smtp_client_ctxs;

/* The context for mode and ca_file, made on first use; NULL with err
 * appended when it cannot be made (not cached: a fixed CA file works the
 * next time). */
static SSL_CTX *smtp_client_ctx_get(enum relay_tls_mode mode, const char *ca_file,
                                    struct strbuf *err)
{
	SSL_CTX *ctx = NULL;
	struct smtp_client_ctx *e;

	if (mode != RELAY_TLS_VERIFY)
		ca_file = NULL; /* MAY and ENCRYPT never look at certificates */
	pthread_mutex_lock(&smtp_client_ctx_lock);
	for (e = smtp_client_ctxs; e; e = e->next) {
		if (e->mode == mode &&
		    ((!e->ca_file && !ca_file) ||
		     (e->ca_file && ca_file && strcmp(e->ca_file, ca_file) == 0))) {
			ctx = e->ctx;
			goto out;
		}
	}
	ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx) {
		strbuf_puts(err, "SSL_CTX_new failed");
		goto out;
	}
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION)) {
		strbuf_puts(err, "cannot require TLS 1.2");
		goto bad;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (mode == RELAY_TLS_VERIFY) {
		int ok = ca_file ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL)
		                 : SSL_CTX_set_default_verify_paths(ctx);
		if (!ok) {
			strbuf_printf(err, "cannot load CA certificates from %s",
			              ca_file ? ca_file : "the default store");
			goto bad;
		}
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	} else {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	}
	e = xcalloc(1, sizeof(*e));
	e->mode = mode;
	e->ca_file = ca_file ? xstrdup(ca_file) : NULL;
	e->ctx = ctx;
	e->next = smtp_client_ctxs;
	smtp_client_ctxs = e;
	goto out;
bad:
	SSL_CTX_free(ctx);
	ctx = NULL;
out:
	pthread_mutex_unlock(&smtp_client_ctx_lock);
	return ctx;
}

/* ---- raw I/O ---- */

/* Write all of buf before deadline (refreshed by every write that makes
 * progress when idle_s is not 0).  1 done, 0 failed (c dead, err set). */
static int smtp_client_write(struct smtp_client *c, const char *buf, size_t n, int64_t deadline,
                             unsigned idle_s, const char *what, struct strbuf *err)
{
	while (n > 0) {
		short ev = POLLOUT;
		if (c->ssl) {
			size_t done = 0;
			ERR_clear_error();
			int r = SSL_write_ex(c->ssl, buf, n, &done);
			if (r > 0) {
				buf += done;
				n -= done;
				if (idle_s)
					deadline = smtp_client_deadline(idle_s);
				continue;
			}
			int e = SSL_get_error(c->ssl, r);
			if (e == SSL_ERROR_WANT_READ)
				ev = POLLIN;
			else if (e != SSL_ERROR_WANT_WRITE)
				return smtp_client_fail(c, err, "TLS write failed during %s", what);
		} else {
			ssize_t k = send(c->fd, buf, n, MSG_NOSIGNAL);
			if (k > 0) {
				buf += k;
				n -= (size_t)k;
				if (idle_s)
					deadline = smtp_client_deadline(idle_s);
				continue;
			}
			if (k < 0 && errno == EINTR)
				continue;
			if (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
				return smtp_client_fail(c, err, "write failed during %s: %s", what,
				                        strerror(errno));
		}
		int w = smtp_client_wait(c->fd, ev, deadline);
		if (w == 0)
			return smtp_client_fail(c, err, "timeout sending %s", what);
		if (w < 0)
			return smtp_client_fail(c, err, "poll: %s", strerror(errno));
	}
	return 1;
}

/* Read what is there (waiting until deadline) into rbuf.  1 read some, 0
 * failed (c dead, err set). */
static int smtp_client_fill(struct smtp_client *c, int64_t deadline, const char *what,
                            struct strbuf *err)
{
	if (c->roff > 0) {
		memmove(c->rbuf, c->rbuf + c->roff, c->rlen - c->roff);
		c->rlen -= c->roff;
		c->roff = 0;
	}
	if (c->rlen == c->rcap) {
		if (c->rcap >= SMTP_CLIENT_RBUF_MAX)
			return smtp_client_fail(c, err, "reply to %s too long", what);
		c->rcap *= 2;
		if (c->rcap > SMTP_CLIENT_RBUF_MAX)
			c->rcap = SMTP_CLIENT_RBUF_MAX;
		c->rbuf = xreallocarray(c->rbuf, c->rcap, 1);
	}
	for (;;) {
		short ev = POLLIN;
		size_t room = c->rcap - c->rlen;
		if (c->ssl) {
			size_t done = 0;
			ERR_clear_error();
			int r = SSL_read_ex(c->ssl, c->rbuf + c->rlen, room, &done);
			if (r > 0) {
				c->rlen += done;
				return 1;
			}
			int e = SSL_get_error(c->ssl, r);
			if (e == SSL_ERROR_ZERO_RETURN)
				return smtp_client_fail(
				    c, err, "connection closed waiting for reply to %s", what);
			if (e == SSL_ERROR_WANT_WRITE)
				ev = POLLOUT;
			else if (e != SSL_ERROR_WANT_READ)
				return smtp_client_fail(
				    c, err,
				    "TLS read failed or connection lost waiting for reply to %s",
				    what);
		} else {
			ssize_t k = recv(c->fd, c->rbuf + c->rlen, room, 0);
			if (k > 0) {
				c->rlen += (size_t)k;
				return 1;
			}
			if (k == 0)
				return smtp_client_fail(
				    c, err, "connection closed waiting for reply to %s", what);
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				return smtp_client_fail(c, err,
				                        "read failed waiting for reply to %s: %s",
				                        what, strerror(errno));
		}
		int w = smtp_client_wait(c->fd, ev, deadline);
		if (w == 0)
			return smtp_client_fail(c, err, "timeout waiting for reply to %s", what);
		if (w < 0)
			return smtp_client_fail(c, err, "poll: %s", strerror(errno));
	}
}

/* ---- replies ---- */

static bool smtp_client_enh(const char *s, size_t n, int cls, size_t *len_r)
{
	size_t i = 0;
	if (n < 5 || s[0] != (char)('0' + cls) || s[1] != '.')
		return false;
	i = 2;
	for (int part = 0; part < 2; part++) {
		size_t d = 0;
		while (i < n && d < 4 && s[i] >= '0' && s[i] <= '9') {
			i++;
			d++;
		}
		if (d == 0 || d > 3)
			return false;
		if (part == 0) {
			if (i >= n || s[i] != '.')
				return false;
			i++;
		}
	}
	if (i < n && s[i] != ' ')
		return false;
	*len_r = i;
	return true;
}

int smtp_client_parse_reply(const char *buf, size_t len, size_t *used_r, struct smtp_reply *r)
{
	size_t off = 0;
	unsigned nlines = 0;
	int code = 0;

	memset(r, 0, sizeof(*r));
	*used_r = 0;
	for (;;) {
		const char *l = buf + off;
		size_t avail = len - off;
		if (nlines == SMTP_CLIENT_REPLY_LINES && avail > 0)
			return -1; /* a 101st line */
		size_t lim = avail < SMTP_CLIENT_REPLY_MAX ? avail : SMTP_CLIENT_REPLY_MAX;
		const char *nl = memchr(l, '\n', lim);
		if (!nl)
			return avail >= SMTP_CLIENT_REPLY_MAX ? -1 : 0;
		size_t n = (size_t)(nl - l);
		if (n > 0 && l[n - 1] == '\r')
			n--;
		if (n < 3 || l[0] < '2' || l[0] > '5' || l[1] < '0' || l[1] > '9' || l[2] < '0' ||
		    l[2] > '9')
			return -1;
		int c = (l[0] - '0') * 100 + (l[1] - '0') * 10 + (l[2] - '0');
		if (nlines > 0 && c != code)
			return -1;
		code = c;
		nlines++;
		off = (size_t)(nl - buf) + 1;
		if (n > 3 && l[3] == '-')
			continue;
		if (n > 3 && l[3] != ' ')
			return -1;
		/* last line */
		const char *t = n > 4 ? l + 4 : l + n;
		size_t tn = n > 4 ? n - 4 : 0, elen;
		if (smtp_client_enh(t, tn, code / 100, &elen) && elen < sizeof(r->enh)) {
			memcpy(r->enh, t, elen);
			r->enh[elen] = '\0';
			t += elen;
			tn -= elen;
			while (tn > 0 && *t == ' ') {
				t++;
				tn--;
			}
		}
		while (tn > 0 && (t[tn - 1] == ' ' || t[tn - 1] == '\t'))
			tn--;
		if (tn > sizeof(r->text) - 1)
			tn = sizeof(r->text) - 1;
		for (size_t i = 0; i < tn; i++) {
			unsigned char ch = (unsigned char)t[i];
			r->text[i] = ch >= 0x20 && ch <= 0x7e ? (char)ch : '?';
		}
		r->text[tn] = '\0';
		r->code = code;
		*used_r = off;
		return 1;
	}
}

/* Read one reply (until deadline) into r; raw_r (optional) gets the reply's
 * bytes as they came.  Returns the code, or 0 (c dead, err set). */
static int smtp_client_reply(struct smtp_client *c, int64_t deadline, const char *what,
                             struct smtp_reply *r, struct strbuf *raw_r, struct strbuf *err)
{
	memset(r, 0, sizeof(*r));
	if (c->fd < 0)
		return smtp_client_fail(c, err, "not connected");
	for (;;) {
		size_t used = 0;
		int st = smtp_client_parse_reply(c->rbuf + c->roff, c->rlen - c->roff, &used, r);
		if (st < 0)
			return smtp_client_fail(c, err, "malformed reply to %s", what);
		if (st > 0) {
			if (raw_r)
				strbuf_append(raw_r, c->rbuf + c->roff, used);
			c->roff += used;
			if (c->roff == c->rlen)
				c->roff = c->rlen = 0;
			return r->code;
		}
		if (!smtp_client_fill(c, deadline, what, err))
			return 0;
	}
}

/* Send a command line and read its reply: its code, or 0 (c dead, err
 * set).  The reply's deadline is timeout_s after the send began. */
static int smtp_client_cmd(struct smtp_client *c, const char *line, size_t n, unsigned timeout_s,
                           const char *what, struct smtp_reply *r, struct strbuf *raw_r,
                           struct strbuf *err)
{
	memset(r, 0, sizeof(*r));
	if (c->fd < 0)
		return smtp_client_fail(c, err, "%s: connection already closed", what);
	int64_t deadline = smtp_client_deadline(timeout_s);
	if (!smtp_client_write(c, line, n, deadline, 0, what, err))
		return 0;
	return smtp_client_reply(c, deadline, what, r, raw_r, err);
}

/* Check a reply against what a command expects: expect is the code a
 * success has (e.g. 354), or its class times 100 (200 = any 2xx).  4xx and
 * 5xx are returned as they are (421 also ends the connection); any other
 * reply is a protocol error (0). */
static int smtp_client_check(struct smtp_client *c, int code, int expect, const char *what,
                             struct smtp_reply *r, struct strbuf *err)
{
	if (code == 0)
		return 0;
	if (code == expect || (expect % 100 == 0 && code / 100 == expect / 100))
		return code;
	if (code >= 400) {
		if (code == 421)
			smtp_client_kill(c); /* the server is closing */
		return code;
	}
	int got = code;
	memset(r, 0, sizeof(*r));
	return smtp_client_fail(c, err, "unexpected reply %d to %s", got, what);
}

/* ---- EHLO ---- */

static void smtp_client_parse_ehlo(struct smtp_client *c, const struct strbuf *raw)
{
	const char *p = raw->s, *end = raw->s + raw->len;
	bool first = true;

	strbuf_reset(&c->exts);
	strbuf_putc(&c->exts, ' ');
	c->size_max = 0;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *e = nl ? nl : end;
		const char *k = p + 4 < e ? p + 4 : e;
		size_t kn = 0;
		if (!first) {
			while (k + kn < e &&
			       ((k[kn] >= 'A' && k[kn] <= 'Z') || (k[kn] >= 'a' && k[kn] <= 'z') ||
			        (k[kn] >= '0' && k[kn] <= '9') || k[kn] == '-'))
				kn++;
			if (kn > 0 && (k + kn == e || k[kn] == ' ' || k[kn] == '\r')) {
				for (size_t i = 0; i < kn; i++) {
					char ch = k[i];
					if (ch >= 'a' && ch <= 'z')
						ch = (char)(ch - 'a' + 'A');
					strbuf_putc(&c->exts, ch);
				}
				strbuf_putc(&c->exts, ' ');
				if (kn == 4 && strncasecmp(k, "SIZE", 4) == 0 && k[kn] == ' ') {
					unsigned long long v = 0;
					const char *d = k + 5;
					while (d < e && *d >= '0' && *d <= '9' && v < (1ULL << 60))
						v = v * 10 + (unsigned)(*d++ - '0');
					c->size_max = (size_t)v;
				}
			}
		}
		first = false;
		p = nl ? nl + 1 : end;
	}
}

bool smtp_client_has_ext(const struct smtp_client *c, const char *ext)
{
	size_t n = strlen(ext);
	const char *p;

	if (!c || !c->exts.s || n == 0)
		return false;
	for (p = c->exts.s; (p = strchr(p, ' ')) != NULL && p[1]; p++) {
		if (strncasecmp(p + 1, ext, n) == 0 && p[1 + n] == ' ')
			return true;
	}
	return false;
}

/* EHLO, or HELO when EHLO gets a 5xx.  Returns the final code (2xx ok) or
 * 0. */
static int smtp_client_ehlo(struct smtp_client *c, struct smtp_reply *r, struct strbuf *err)
{
	struct strbuf line, raw;
	int code;

	strbuf_init(&line, 0);
	strbuf_init(&raw, SMTP_CLIENT_RBUF_MAX);
	strbuf_printf(&line, "EHLO %s\r\n", c->opts.helo_name);
	code = smtp_client_cmd(c, line.s, line.len, c->opts.cmd_timeout_s, "EHLO", r, &raw, err);
	code = smtp_client_check(c, code, 200, "EHLO", r, err);
	if (code >= 200 && code < 300) {
		smtp_client_parse_ehlo(c, &raw);
	} else if (code >= 500) {
		strbuf_reset(&c->exts);
		c->size_max = 0;
		strbuf_reset(&line);
		strbuf_printf(&line, "HELO %s\r\n", c->opts.helo_name);
		code = smtp_client_cmd(c, line.s, line.len, c->opts.cmd_timeout_s, "HELO", r, NULL,
		                       err);
		code = smtp_client_check(c, code, 200, "HELO", r, err);
	}
	strbuf_free(&line);
	strbuf_free(&raw);
	return code;
}

/* ---- STARTTLS ---- */

static bool smtp_client_is_ip(const char *s)
{
	unsigned char a[sizeof(struct in6_addr)];
	return inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1;
}

/* Handshake on c->fd.  1 ok, 0 failed (c dead, err set). */
static int smtp_client_handshake(struct smtp_client *c, struct strbuf *err)
{
	struct strbuf why;
	const char *name = c->opts.verify_name;
	SSL_CTX *ctx;
	BIO *bio;

	pthread_once(&smtp_client_bio_once, smtp_client_bio_init);
	if (!smtp_client_bio_method)
		return smtp_client_fail(c, err, "STARTTLS: cannot make the socket BIO");
	if (c->opts.tls == RELAY_TLS_VERIFY && (!name || !*name))
		return smtp_client_fail(c, err, "STARTTLS: verify needs a name to check");
	strbuf_init(&why, 0);
	ctx = smtp_client_ctx_get(c->opts.tls, c->opts.ca_file, &why);
	if (!ctx) {
		smtp_client_fail(c, err, "STARTTLS: %s", why.s ? why.s : "");
		strbuf_free(&why);
		return 0;
	}
	strbuf_free(&why);
	ERR_clear_error();
	c->ssl = SSL_new(ctx);
	if (!c->ssl)
		return smtp_client_fail(c, err, "STARTTLS: SSL_new failed");
	bio = BIO_new(smtp_client_bio_method);
	if (!bio)
		return smtp_client_fail(c, err, "STARTTLS: BIO_new failed");
	BIO_set_fd(bio, c->fd, BIO_NOCLOSE);
	SSL_set_bio(c->ssl, bio, bio);
	SSL_set_connect_state(c->ssl);
	if (name && *name) {
		bool ip = smtp_client_is_ip(name);
		if (!ip && !SSL_set_tlsext_host_name(c->ssl, name))
			return smtp_client_fail(c, err, "STARTTLS: cannot set SNI %s", name);
		if (c->opts.tls == RELAY_TLS_VERIFY) {
			X509_VERIFY_PARAM *param = SSL_get0_param(c->ssl);
			X509_VERIFY_PARAM_set_hostflags(param,
			                                X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
			int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(param, name)
			            : X509_VERIFY_PARAM_set1_host(param, name, 0);
			if (!ok)
				return smtp_client_fail(c, err, "STARTTLS: cannot check name %s",
				                        name);
		}
	}
	int64_t deadline = smtp_client_deadline(c->opts.cmd_timeout_s);
	for (;;) {
		ERR_clear_error();
		int r = SSL_connect(c->ssl);
		if (r == 1)
			break;
		int e = SSL_get_error(c->ssl, r);
		short ev;
		if (e == SSL_ERROR_WANT_READ)
			ev = POLLIN;
		else if (e == SSL_ERROR_WANT_WRITE)
			ev = POLLOUT;
		else {
			long v = SSL_get_verify_result(c->ssl);
			if (c->opts.tls == RELAY_TLS_VERIFY && v != X509_V_OK)
				return smtp_client_fail(
				    c, err, "STARTTLS: certificate verification failed: %s",
				    X509_verify_cert_error_string(v));
			return smtp_client_fail(c, err, "STARTTLS: TLS handshake failed");
		}
		int w = smtp_client_wait(c->fd, ev, deadline);
		if (w == 0)
			return smtp_client_fail(c, err, "STARTTLS: timeout in TLS handshake");
		if (w < 0)
			return smtp_client_fail(c, err, "poll: %s", strerror(errno));
	}
	if (c->opts.tls == RELAY_TLS_VERIFY && SSL_get_verify_result(c->ssl) != X509_V_OK)
		return smtp_client_fail(c, err, "STARTTLS: certificate verification failed");
	c->tls = true;
	return 1;
}

/* ---- connect ---- */

static void smtp_client_peer(struct smtp_client *c, const struct sockaddr *addr, socklen_t len)
{
	char host[INET6_ADDRSTRLEN], serv[8];
	int n;

	if (getnameinfo(addr, len, host, sizeof(host), serv, sizeof(serv),
	                NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
		snprintf(c->peer, sizeof(c->peer), "(unknown)");
		return;
	}
	n = snprintf(c->peer, sizeof(c->peer), addr->sa_family == AF_INET6 ? "[%s]:%s" : "%s:%s",
	             host, serv);
	if (n < 0 || (size_t)n >= sizeof(c->peer))
		snprintf(c->peer, sizeof(c->peer), "(unknown)");
}

/* Nonblocking connect, bounded by deadline.  1 ok, 0 failed. */
static int smtp_client_tcp(struct smtp_client *c, const struct sockaddr *addr, socklen_t addrlen,
                           int64_t deadline, struct strbuf *err)
{
	c->fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return smtp_client_fail(c, err, "socket: %s", strerror(errno));
	if (connect(c->fd, addr, addrlen) == 0)
		return 1;
	if (errno != EINPROGRESS && errno != EINTR)
		return smtp_client_fail(c, err, "connect: %s", strerror(errno));
	int w = smtp_client_wait(c->fd, POLLOUT, deadline);
	if (w == 0)
		return smtp_client_fail(c, err, "connect: timeout");
	if (w < 0)
		return smtp_client_fail(c, err, "poll: %s", strerror(errno));
	int soerr = 0;
	socklen_t sl = sizeof(soerr);
	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
		soerr = errno;
	if (soerr != 0)
		return smtp_client_fail(c, err, "connect: %s", strerror(soerr));
	return 1;
}

static struct smtp_client *smtp_client_refused(struct smtp_client *c, struct smtp_reply *reply_r,
                                               const struct smtp_reply *r)
{
	if (reply_r)
		*reply_r = *r;
	smtp_client_close(c);
	return NULL;
}

struct smtp_client *smtp_client_connect(const struct sockaddr *addr, socklen_t addrlen,
                                        const struct smtp_client_opts *opts,
                                        struct smtp_reply *reply_r, struct strbuf *err)
{
	struct smtp_client *c = xcalloc(1, sizeof(*c));
	struct smtp_reply r;
	int code;

	memset(&r, 0, sizeof(r));
	c->fd = -1;
	c->opts = *opts;
	if (!c->opts.helo_name || !*c->opts.helo_name)
		c->opts.helo_name = "localhost";
	strbuf_init(&c->exts, SMTP_CLIENT_EXTS_MAX);
	c->rcap = SMTP_CLIENT_RBUF_MIN;
	c->rbuf = xmalloc(c->rcap);
	smtp_client_peer(c, addr, addrlen);
	if (strpbrk(c->opts.helo_name, "\r\n") || strlen(c->opts.helo_name) > 255) {
		smtp_client_fail(c, err, "bad EHLO name");
		return smtp_client_refused(c, reply_r, &r);
	}

	int64_t deadline = smtp_client_deadline(opts->connect_timeout_s);
	if (!smtp_client_tcp(c, addr, addrlen, deadline, err))
		return smtp_client_refused(c, reply_r, &r);
	code = smtp_client_reply(c, deadline, "connect (greeting)", &r, NULL, err);
	code = smtp_client_check(c, code, 220, "connect (greeting)", &r, err);
	if (code != 220)
		return smtp_client_refused(c, reply_r, &r);
	code = smtp_client_ehlo(c, &r, err);
	if (code < 200 || code >= 300)
		return smtp_client_refused(c, reply_r, &r);

	if (opts->tls != RELAY_TLS_NONE) {
		bool required = opts->tls != RELAY_TLS_MAY;
		if (!smtp_client_has_ext(c, "STARTTLS")) {
			if (required) {
				memset(&r, 0, sizeof(r));
				smtp_client_fail(c, err, "STARTTLS required but not offered");
				return smtp_client_refused(c, reply_r, &r);
			}
		} else {
			struct smtp_reply ehlo_r = r;
			code = smtp_client_cmd(c, "STARTTLS\r\n", 10, opts->cmd_timeout_s,
			                       "STARTTLS", &r, NULL, err);
			code = smtp_client_check(c, code, 220, "STARTTLS", &r, err);
			if (code == 220) {
				if (c->roff != c->rlen) {
					memset(&r, 0, sizeof(r));
					smtp_client_fail(c, err,
					                 "STARTTLS: plaintext after the 220 "
					                 "reply (injection)");
					return smtp_client_refused(c, reply_r, &r);
				}
				if (!smtp_client_handshake(c, err)) {
					memset(&r, 0, sizeof(r));
					return smtp_client_refused(c, reply_r, &r);
				}
				code = smtp_client_ehlo(c, &r, err);
				if (code < 200 || code >= 300)
					return smtp_client_refused(c, reply_r, &r);
			} else if (code == 0 || required || !smtp_client_alive(c)) {
				if (code != 0) {
					struct smtp_reply keep = r;
					memset(&r, 0, sizeof(r));
					smtp_client_fail(c, err, "STARTTLS refused: %d %s %s",
					                 keep.code, keep.enh, keep.text);
				}
				return smtp_client_refused(c, reply_r, &r);
			}
			if (code != 220)
				r = ehlo_r; /* MAY, STARTTLS refused: go on in plaintext */
		}
	}
	if (reply_r)
		*reply_r = r;
	return c;
}

/* ---- transaction ---- */

static bool smtp_client_path_ok(const char *s)
{
	return strlen(s) <= SMTP_CLIENT_PATH_MAX && !strpbrk(s, "\r\n<>");
}

int smtp_client_mail(struct smtp_client *c, const char *from, size_t size, bool body_8bit,
                     struct smtp_reply *reply_r, struct strbuf *err)
{
	struct strbuf line;
	struct smtp_reply r;
	int code;

	memset(&r, 0, sizeof(r));
	if (!smtp_client_path_ok(from)) {
		code = smtp_client_fail(c, err, "MAIL: bad sender address");
		goto out;
	}
	strbuf_init(&line, 0);
	strbuf_printf(&line, "MAIL FROM:<%s>", from);
	if (size > 0 && smtp_client_has_ext(c, "SIZE"))
		strbuf_printf(&line, " SIZE=%zu", size);
	if (body_8bit && smtp_client_has_ext(c, "8BITMIME"))
		strbuf_puts(&line, " BODY=8BITMIME");
	strbuf_puts(&line, "\r\n");
	code = smtp_client_cmd(c, line.s, line.len, c->opts.cmd_timeout_s, "MAIL", &r, NULL, err);
	code = smtp_client_check(c, code, 200, "MAIL", &r, err);
	strbuf_free(&line);
out:
	if (reply_r)
		*reply_r = r;
	return code;
}

int smtp_client_rcpt(struct smtp_client *c, const char *to, struct smtp_reply *reply_r,
                     struct strbuf *err)
{
	struct strbuf line;
	struct smtp_reply r;
	int code;

	memset(&r, 0, sizeof(r));
	if (!smtp_client_path_ok(to) || !*to) {
		code = smtp_client_fail(c, err, "RCPT: bad recipient address");
		goto out;
	}
	strbuf_init(&line, 0);
	strbuf_printf(&line, "RCPT TO:<%s>\r\n", to);
	code = smtp_client_cmd(c, line.s, line.len, c->opts.cmd_timeout_s, "RCPT", &r, NULL, err);
	code = smtp_client_check(c, code, 200, "RCPT", &r, err);
	strbuf_free(&line);
out:
	if (reply_r)
		*reply_r = r;
	return code;
}

/* Send msg normalised: CRLF line ends, dot-stuffed, final CRLF, ".".  1 ok,
 * 0 failed. */
static int smtp_client_content(struct smtp_client *c, const char *msg, size_t len,
                               struct strbuf *err)
{
	const unsigned idle = c->opts.data_timeout_s;
	int64_t deadline = smtp_client_deadline(idle);
	const char *p = msg, *end = msg + len;
	const char *cr = NULL, *lf = NULL; /* next CR / LF at or after p, or end */
	char *out = c->chunk;
	size_t n = 0;
	bool bol = true;

	if (!c->chunk)
		out = c->chunk = xmalloc(SMTP_CLIENT_CHUNK);
	/* a step adds a dot, a run of at least one byte and CRLF */
	while (p < end) {
		if (n + 4 > SMTP_CLIENT_CHUNK) {
			if (!smtp_client_write(c, out, n, deadline, idle, "message content", err))
				return 0;
			n = 0;
		}
		if (bol && *p == '.')
			out[n++] = '.';
		bol = false;
		if (!cr || cr < p) {
			cr = memchr(p, '\r', (size_t)(end - p));
			if (!cr)
				cr = end;
		}
		if (!lf || lf < p) {
			lf = memchr(p, '\n', (size_t)(end - p));
			if (!lf)
				lf = end;
		}
		const char *eol = cr < lf ? cr : lf;
		size_t run = (size_t)(eol - p);
		if (run > SMTP_CLIENT_CHUNK - 2 - n)
			run = SMTP_CLIENT_CHUNK - 2 - n;
		memcpy(out + n, p, run);
		n += run;
		p += run;
		if (p < eol)
			continue; /* chunk full mid-line */
		if (p == end)
			break;
		/* a line end: CRLF, bare CR or bare LF -> CRLF */
		if (*p == '\r' && p + 1 < end && p[1] == '\n')
			p += 2;
		else
			p++;
		out[n++] = '\r';
		out[n++] = '\n';
		bol = true;
	}
	if (len > 0 && !bol) {
		out[n++] = '\r';
		out[n++] = '\n';
	}
	if (n + 3 > SMTP_CLIENT_CHUNK) {
		if (!smtp_client_write(c, out, n, deadline, idle, "message content", err))
			return 0;
		n = 0;
	}
	memcpy(out + n, ".\r\n", 3);
	n += 3;
	return smtp_client_write(c, out, n, deadline, idle, "message content", err);
}

int smtp_client_data(struct smtp_client *c, const char *msg, size_t len, struct smtp_reply *reply_r,
                     struct strbuf *err)
{
	struct smtp_reply r;
	int code;

	memset(&r, 0, sizeof(r));
	code = smtp_client_cmd(c, "DATA\r\n", 6, c->opts.cmd_timeout_s, "DATA", &r, NULL, err);
	code = smtp_client_check(c, code, 354, "DATA", &r, err);
	if (code != 354)
		goto out;
	if (!smtp_client_content(c, msg, len, err)) {
		memset(&r, 0, sizeof(r));
		code = 0;
		goto out;
	}
	code = smtp_client_reply(c, smtp_client_deadline(c->opts.data_timeout_s), "end of data", &r,
	                         NULL, err);
	code = smtp_client_check(c, code, 200, "end of data", &r, err);
out:
	if (reply_r)
		*reply_r = r;
	return code;
}

int smtp_client_rset(struct smtp_client *c, struct smtp_reply *reply_r, struct strbuf *err)
{
	struct smtp_reply r;
	int code = smtp_client_cmd(c, "RSET\r\n", 6, c->opts.cmd_timeout_s, "RSET", &r, NULL, err);
	code = smtp_client_check(c, code, 200, "RSET", &r, err);
	if (reply_r)
		*reply_r = r;
	return code;
}

bool smtp_client_alive(const struct smtp_client *c)
{
	return c && c->fd >= 0;
}

bool smtp_client_tls(const struct smtp_client *c)
{
	return c && c->fd >= 0 && c->tls;
}

void smtp_client_quit(struct smtp_client *c)
{
	struct smtp_reply r;

	if (!c)
		return;
	if (c->fd >= 0) {
		unsigned t = c->opts.cmd_timeout_s;
		if (t == 0 || t > SMTP_CLIENT_QUIT_TIMEOUT_S)
			t = SMTP_CLIENT_QUIT_TIMEOUT_S;
		if (smtp_client_cmd(c, "QUIT\r\n", 6, t, "QUIT", &r, NULL, NULL) && c->ssl)
			SSL_shutdown(c->ssl); /* one nonblocking try: close_notify */
	}
	smtp_client_close(c);
}

void smtp_client_close(struct smtp_client *c)
{
	if (!c)
		return;
	smtp_client_kill(c);
	strbuf_free(&c->exts);
	free(c->rbuf);
	free(c->chunk);
	free(c);
}

void smtp_reply_format(const struct smtp_reply *r, struct strbuf *out)
{
	int code = r->code;
	const char *enh = r->enh;
	const char *text = r->text;

	if (code < 200 || code > 599) {
		code = 451;
		enh = "4.4.0";
		if (!*text)
			text = "No usable reply from next hop";
	} else if (!*enh) {
		enh = code / 100 == 2   ? "2.0.0"
		      : code / 100 == 4 ? "4.0.0"
		      : code / 100 == 5 ? "5.0.0"
		                        : "";
	}
	strbuf_printf(out, "%d", code);
	if (*enh)
		strbuf_printf(out, " %s", enh);
	if (*text)
		strbuf_printf(out, " %s", text);
	strbuf_puts(out, "\r\n");
}

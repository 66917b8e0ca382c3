/*
 * smtp_client_test - sanitizer/smtp_client.c against real servers on
 * loopback: our own smtp_proto state machine with OpenSSL server-side TLS
 * (a CA and server certificate made at start with the OpenSSL API), and
 * Postfix's smtp-sink.
 *
 * The test server runs in a thread on 127.0.0.1 or ::1 (ephemeral port),
 * accepts one connection and answers through smtp_proto, except where a
 * case asks for a fault at a command: a raw reply instead, a close, or
 * silence.  Content the server takes is compared with an independent
 * normalisation of the input.  SIGPIPE keeps its default action in the
 * client's thread, so a client send without MSG_NOSIGNAL would kill us.
 *
 * Usage: smtp_client_test [CASE...]  (no CASE: all); smtp_client_test
 * bench [N] prints the client's throughput for N 1 MB messages over TLS.
 */
#include "smtp_client.h"
#include "smtp_proto.h"
#include "strbuf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int failures;
static const char *test_name;

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: %s: CHECK failed: %s\n", __FILE__, __LINE__,       \
			        test_name, #cond);                                                 \
			__atomic_add_fetch(&failures, 1, __ATOMIC_SEQ_CST);                        \
		}                                                                                  \
	} while (0)

static const char *S(const struct strbuf *b)
{
	return b->s ? b->s : "";
}

/* ---- certificates ---- */

static SSL_CTX *srv_ctx;    /* server cert for mx.test, 127.0.0.1, ::1 */
static char ca_path[64];    /* the CA that signed it */
static char other_path[64]; /* a CA that did not */

static X509 *mkcert(EVP_PKEY *key, EVP_PKEY *signer, X509 *issuer, const char *cn, bool ca,
                    const char *san)
{
	static long serial = 1;
	X509 *x = X509_new();
	X509V3_CTX v;
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, key);
	X509_NAME *n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n);
	X509V3_set_ctx_nodb(&v);
	X509V3_set_ctx(&v, issuer ? issuer : x, x, NULL, NULL, 0);
	struct {
		int nid;
		const char *val;
	} ext[] = {
	    {NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE"},
	    {NID_key_usage, ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature"},
	    {NID_subject_key_identifier, "hash"},
	    {NID_subject_alt_name, san},
	};
	for (size_t i = 0; i < sizeof(ext) / sizeof(ext[0]); i++) {
		if (!ext[i].val)
			continue;
		X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &v, ext[i].nid, ext[i].val);
		if (!e || !X509_add_ext(x, e, -1)) {
			fprintf(stderr, "cannot add extension %s\n", ext[i].val);
			exit(1);
		}
		X509_EXTENSION_free(e);
	}
	if (!X509_sign(x, signer, EVP_sha256())) {
		fprintf(stderr, "X509_sign failed\n");
		exit(1);
	}
	return x;
}

static void write_pem(char *path, X509 *x)
{
	snprintf(path, 64, "/tmp/smtp_client_test.XXXXXX");
	int fd = mkstemp(path);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!f || !PEM_write_X509(f, x) || fclose(f) != 0) {
		fprintf(stderr, "cannot write %s\n", path);
		exit(1);
	}
}

static void certs_make(void)
{
	EVP_PKEY *cakey = EVP_EC_gen("P-256"), *key = EVP_EC_gen("P-256");
	EVP_PKEY *okey = EVP_EC_gen("P-256");
	X509 *ca = mkcert(cakey, cakey, NULL, "sekisho test CA", true, NULL);
	X509 *other = mkcert(okey, okey, NULL, "sekisho other CA", true, NULL);
	X509 *leaf =
	    mkcert(key, cakey, ca, "mx.test", false, "DNS:mx.test,IP:127.0.0.1,IP:0:0:0:0:0:0:0:1");
	write_pem(ca_path, ca);
	write_pem(other_path, other);
	srv_ctx = SSL_CTX_new(TLS_server_method());
	if (!srv_ctx || !SSL_CTX_use_certificate(srv_ctx, leaf) ||
	    !SSL_CTX_use_PrivateKey(srv_ctx, key) ||
	    !SSL_CTX_set_min_proto_version(srv_ctx, TLS1_2_VERSION)) {
		fprintf(stderr, "server SSL_CTX failed\n");
		exit(1);
	}
	X509_free(ca);
	X509_free(other);
	X509_free(leaf);
	EVP_PKEY_free(cakey);
	EVP_PKEY_free(key);
	EVP_PKEY_free(okey);
}

/* ---- test server ---- */

enum fault { F_NONE, F_REPLY, F_REPLY_CLOSE, F_CLOSE, F_SILENT };

struct srv {
	/* configuration */
	int family;
	bool tls;       /* offer STARTTLS */
	const char *at; /* CONNECT, EHLO, HELO, STARTTLS, MAIL, RCPT, DATA, CONTENT, "." */
	enum fault fault;
	const char *reply; /* F_REPLY: sent raw instead of the answer */
	bool fast;         /* DATA content only scanned for its end (bench) */

	/* run time */
	int lfd, fd;
	SSL *ssl;
	unsigned short port;
	pthread_t th;
	struct smtp_proto p;
	struct strbuf cur, msg, cmds, mail_line;
	char last_rcpt[SMTP_PROTO_PATH_MAX + 1];
	int nmsg;
	bool tls_done;
	size_t fast_bytes;
	char fast_tail[5];
};

static bool srv_mail(void *ctx, const char *from)
{
	(void)ctx;
	(void)from;
	return true;
}

static enum smtp_proto_verdict srv_rcpt(void *ctx, const char *to)
{
	struct srv *s = ctx;
	snprintf(s->last_rcpt, sizeof(s->last_rcpt), "%s", to);
	return SMTP_PROTO_DEFER;
}

static void srv_data(void *ctx, const char *line, size_t len)
{
	struct srv *s = ctx;
	strbuf_append(&s->cur, line, len);
}

static enum smtp_proto_verdict srv_message(void *ctx)
{
	struct srv *s = ctx;
	strbuf_reset(&s->msg);
	strbuf_append(&s->msg, S(&s->cur), s->cur.len);
	strbuf_reset(&s->cur);
	s->nmsg++;
	return SMTP_PROTO_DEFER;
}

static void srv_abort(void *ctx)
{
	struct srv *s = ctx;
	strbuf_reset(&s->cur);
}

static const struct smtp_proto_callbacks srv_cb = {
    srv_mail, srv_rcpt, srv_data, srv_message, srv_abort,
};

static bool srv_send(struct srv *s, const char *buf, size_t n)
{
	while (n > 0) {
		ssize_t k;
		if (s->ssl) {
			int r = SSL_write(s->ssl, buf, (int)n);
			k = r > 0 ? r : -1;
		} else {
			k = send(s->fd, buf, n, MSG_NOSIGNAL);
		}
		if (k <= 0)
			return false;
		buf += k;
		n -= (size_t)k;
	}
	return true;
}

static ssize_t srv_recv(struct srv *s, char *buf, size_t n)
{
	if (s->ssl) {
		int r = SSL_read(s->ssl, buf, (int)n);
		return r > 0 ? r : 0;
	}
	return recv(s->fd, buf, n, 0);
}

/* Apply the fault; false when the session is over. */
static bool srv_fault(struct srv *s)
{
	switch (s->fault) {
	case F_REPLY:
		return srv_send(s, s->reply, strlen(s->reply));
	case F_REPLY_CLOSE:
		srv_send(s, s->reply, strlen(s->reply));
		return false;
	case F_CLOSE:
		return false;
	case F_SILENT: {
		char buf[4096];
		while (srv_recv(s, buf, sizeof(buf)) > 0)
			;
		return false;
	}
	default:
		return true;
	}
}

static bool srv_at(const struct srv *s, const char *what)
{
	return s->at && strcasecmp(s->at, what) == 0;
}

/* The answer to a deferred RCPT, by the recipient's local part. */
static void srv_rcpt_reply(struct srv *s, struct strbuf *out)
{
	char line[600];
	if (strncmp(s->last_rcpt, "rej", 3) == 0)
		snprintf(line, sizeof(line), "550 5.1.1 <%s>: Recipient address rejected\r\n",
		         s->last_rcpt);
	else if (strncmp(s->last_rcpt, "tmp", 3) == 0)
		snprintf(line, sizeof(line), "451 4.7.1 <%s>: Try again later\r\n", s->last_rcpt);
	else
		snprintf(line, sizeof(line), "250 2.1.5 Ok\r\n");
	smtp_proto_resume(&s->p, line, out);
}

static void *srv_main(void *arg)
{
	struct srv *s = arg;
	struct strbuf out;
	char *buf = malloc(1 << 16);
	sigset_t set;

	/* a write of ours to a closed client must not kill the test */
	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	strbuf_init(&out, 0);
	struct pollfd pfd = {.fd = s->lfd, .events = POLLIN};
	if (poll(&pfd, 1, 10000) != 1)
		goto done;
	s->fd = accept(s->lfd, NULL, NULL);
	if (s->fd < 0)
		goto done;
	struct timeval tv = {.tv_sec = 10};
	setsockopt(s->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(s->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (srv_at(s, "CONNECT") && !srv_fault(s))
		goto done;
	smtp_proto_init(&s->p, "mx.test", 0, 100, &srv_cb, s);
	s->p.tls_available = s->tls;
	if (!srv_at(s, "CONNECT")) {
		smtp_proto_greet(&s->p, &out);
		if (!srv_send(s, out.s, out.len))
			goto done;
	}
	for (;;) {
		ssize_t n = srv_recv(s, buf, 1 << 16);
		if (n <= 0)
			break;
		strbuf_reset(&out);
		if (s->p.state == SMTP_PROTO_S_DATA) {
			if (srv_at(s, "CONTENT"))
				break; /* close while the client sends */
			if (s->fast) {
				/* track the last five bytes; the client does not pipeline */
				s->fast_bytes += (size_t)n;
				if (n >= 5) {
					memcpy(s->fast_tail, buf + n - 5, 5);
				} else {
					memmove(s->fast_tail, s->fast_tail + n, (size_t)(5 - n));
					memcpy(s->fast_tail + 5 - n, buf, (size_t)n);
				}
				if (memcmp(s->fast_tail, "\r\n.\r\n", 5) != 0)
					continue;
				memcpy(buf, ".\r\n", 3);
				n = 3;
			}
		} else {
			char verb[16];
			size_t k = 0;
			while (k < (size_t)n && k < sizeof(verb) - 1 && buf[k] != ' ' &&
			       buf[k] != '\r')
				verb[k] = buf[k], k++;
			verb[k] = '\0';
			strbuf_printf(&s->cmds, "%s ", verb);
			if (strcasecmp(verb, "MAIL") == 0) {
				strbuf_reset(&s->mail_line);
				strbuf_append(&s->mail_line, buf, (size_t)n);
			}
			if (srv_at(s, verb)) {
				if (!srv_fault(s))
					break;
				continue;
			}
		}
		size_t off = 0;
		enum smtp_proto_status st;
		bool over = false;
		for (;;) {
			st = smtp_proto_feed(&s->p, buf + off, (size_t)n - off, &out);
			if (st != SMTP_PROTO_WAIT)
				break;
			off += s->p.consumed;
			if (!s->p.wait_message) {
				srv_rcpt_reply(s, &out);
			} else if (srv_at(s, ".")) {
				if (!srv_send(s, out.s, out.len) || !srv_fault(s)) {
					over = true;
					break;
				}
				strbuf_reset(&out);
				smtp_proto_resume(&s->p, "", &out);
			} else {
				smtp_proto_resume(&s->p, "250 2.0.0 Ok: queued as T1\r\n", &out);
			}
		}
		if (over)
			break;
		if (out.len && !srv_send(s, out.s, out.len))
			break;
		if (st == SMTP_PROTO_CLOSE)
			break;
		if (st == SMTP_PROTO_STARTTLS) {
			s->ssl = SSL_new(srv_ctx);
			SSL_set_fd(s->ssl, s->fd);
			if (SSL_accept(s->ssl) != 1) {
				ERR_clear_error();
				break;
			}
			s->tls_done = true;
			smtp_proto_tls_started(&s->p);
		}
	}
done:
	if (s->ssl) {
		SSL_shutdown(s->ssl);
		SSL_free(s->ssl);
		s->ssl = NULL;
	}
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	strbuf_free(&out);
	free(buf);
	ERR_clear_error();
	return NULL;
}

static void srv_start(struct srv *s)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	memset(&ss, 0, sizeof(ss));
	if (s->family == 0)
		s->family = AF_INET;
	if (s->family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		a->sin6_family = AF_INET6;
		a->sin6_addr = in6addr_loopback;
		sl = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		a->sin_family = AF_INET;
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sl = sizeof(*a);
	}
	s->fd = -1;
	s->lfd = socket(s->family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->lfd < 0 || bind(s->lfd, (struct sockaddr *)&ss, sl) < 0 || listen(s->lfd, 4) < 0 ||
	    getsockname(s->lfd, (struct sockaddr *)&ss, &sl) < 0) {
		perror("test server");
		exit(1);
	}
	s->port = ntohs(s->family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
	                                      : ((struct sockaddr_in *)&ss)->sin_port);
	strbuf_init(&s->cur, 0);
	strbuf_init(&s->msg, 0);
	strbuf_init(&s->cmds, 0);
	strbuf_init(&s->mail_line, 0);
	pthread_create(&s->th, NULL, srv_main, s);
}

static void srv_stop(struct srv *s)
{
	pthread_join(s->th, NULL);
	close(s->lfd);
}

static void srv_free(struct srv *s)
{
	strbuf_free(&s->cur);
	strbuf_free(&s->msg);
	strbuf_free(&s->cmds);
	strbuf_free(&s->mail_line);
}

static socklen_t addr_of(int family, unsigned short port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
		a->sin6_family = AF_INET6;
		a->sin6_addr = in6addr_loopback;
		a->sin6_port = htons(port);
		return sizeof(*a);
	}
	struct sockaddr_in *a = (struct sockaddr_in *)ss;
	a->sin_family = AF_INET;
	a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a->sin_port = htons(port);
	return sizeof(*a);
}

static struct smtp_client_opts opts_default(void)
{
	struct smtp_client_opts o = {
	    .helo_name = "relay.test",
	    .tls = RELAY_TLS_NONE,
	    .connect_timeout_s = 10,
	    .cmd_timeout_s = 10,
	    .data_timeout_s = 10,
	};
	return o;
}

static struct smtp_client *cli_connect(const struct srv *s, const struct smtp_client_opts *o,
                                       struct smtp_reply *r, struct strbuf *err)
{
	struct sockaddr_storage ss;
	socklen_t sl = addr_of(s->family, s->port, &ss);
	return smtp_client_connect((struct sockaddr *)&ss, sl, o, r, err);
}

/* ---- reference normalisation ---- */

static void normalise(const char *in, size_t n, struct strbuf *o)
{
	strbuf_reset(o);
	for (size_t i = 0; i < n; i++) {
		if (in[i] == '\r') {
			if (i + 1 < n && in[i + 1] == '\n')
				i++;
			strbuf_puts(o, "\r\n");
		} else if (in[i] == '\n') {
			strbuf_puts(o, "\r\n");
		} else {
			strbuf_putc(o, in[i]);
		}
	}
	if (o->len > 0 && (o->len < 2 || memcmp(o->s + o->len - 2, "\r\n", 2) != 0))
		strbuf_puts(o, "\r\n");
}

/* One whole delivery of msg; the server's copy must be the reference
 * normalisation. */
static void deliver_one(int family, enum relay_tls_mode tls, const char *verify_name,
                        const char *msg, size_t len)
{
	struct srv s = {.family = family, .tls = tls != RELAY_TLS_NONE};
	struct smtp_client_opts o = opts_default();
	struct smtp_reply r;
	struct strbuf err, want;
	strbuf_init(&err, 0);
	strbuf_init(&want, 0);
	o.tls = tls;
	o.ca_file = ca_path;
	o.verify_name = verify_name;
	srv_start(&s);
	struct smtp_client *c = cli_connect(&s, &o, &r, &err);
	CHECK(c != NULL);
	if (c) {
		CHECK(r.code == 250);
		CHECK(smtp_client_tls(c) == (tls != RELAY_TLS_NONE));
		CHECK(smtp_client_has_ext(c, "PIPELINING"));
		CHECK(smtp_client_has_ext(c, "8bitmime"));
		CHECK(smtp_client_has_ext(c, "ENHANCEDSTATUSCODES"));
		CHECK(!smtp_client_has_ext(c, "STARTTLS") || tls == RELAY_TLS_NONE);
		CHECK(!smtp_client_has_ext(c, "PIPE"));
		CHECK(smtp_client_mail(c, "from@x.test", len, true, &r, &err) == 250);
		CHECK(smtp_client_rcpt(c, "to@mx.test", &r, &err) == 250);
		CHECK(smtp_client_data(c, msg, len, &r, &err) == 250);
		CHECK(strcmp(r.enh, "2.0.0") == 0 && strcmp(r.text, "Ok: queued as T1") == 0);
		CHECK(smtp_client_alive(c));
		smtp_client_quit(c);
	}
	srv_stop(&s);
	normalise(msg, len, &want);
	CHECK(s.nmsg == 1);
	CHECK(s.msg.len == want.len && memcmp(S(&s.msg), S(&want), want.len) == 0);
	if (s.msg.len != want.len || memcmp(S(&s.msg), S(&want), want.len) != 0)
		fprintf(stderr, "%s: got %zu bytes, want %zu\n", test_name, s.msg.len, want.len);
	CHECK(s.tls_done == (tls != RELAY_TLS_NONE));
	CHECK(strstr(S(&s.mail_line), "BODY=8BITMIME") != NULL);
	if (err.len)
		fprintf(stderr, "%s: err: %s\n", test_name, S(&err));
	CHECK(err.len == 0);
	srv_free(&s);
	strbuf_free(&err);
	strbuf_free(&want);
}

#define D(str) deliver_one(AF_INET, RELAY_TLS_NONE, NULL, str, sizeof(str) - 1)

static void big_message(struct strbuf *b, size_t size, unsigned seed)
{
	/* lines of random length ending in CRLF, LF or CR, some starting with
	 * a dot, some lone dots; deterministic */
	strbuf_reset(b);
	while (b->len < size) {
		seed = seed * 1103515245 + 12345;
		unsigned r = seed >> 8;
		if (r % 7 == 0)
			strbuf_putc(b, '.');
		if (r % 13 != 0) {
			size_t n = (r >> 4) % 200;
			for (size_t i = 0; i < n; i++)
				strbuf_putc(b, (char)('a' + (i + r) % 26));
		}
		switch ((r >> 12) % 8) {
		case 0:
			strbuf_putc(b, '\n');
			break;
		case 1:
			strbuf_putc(b, '\r');
			break;
		default:
			strbuf_puts(b, "\r\n");
		}
	}
}

static void test_plain(void)
{
	D("Subject: hi\r\n\r\nhello\r\n");
	D("Subject: bare LF\n\nline one\nline two\n");
	D("Subject: bare CR\r\rline one\rline two\r");
	D("mixed\r\nlf\ncr\rcrlf\r\n\n\r\r\n");
	D("Subject: dots\r\n\r\n.hidden\r\n..two\r\n.\r\nend\r\n.");
	D(".\r\n");
	D(".");
	D("no final newline");
	D("\r\n");
	D("");
}

static void test_big(void)
{
	struct strbuf b;
	strbuf_init(&b, 0);
	big_message(&b, 3 << 20, 7);
	deliver_one(AF_INET, RELAY_TLS_NONE, NULL, b.s, b.len);
	deliver_one(AF_INET, RELAY_TLS_ENCRYPT, NULL, b.s, b.len);
	strbuf_free(&b);
}

/* Random messages over one connection from the bytes that matter (dot,
 * CR, LF) and one that does not, some long enough to cross the 64 KiB
 * staging chunk: each must arrive as the reference normalisation.  An
 * encoder that let a bare CR or LF or an early "." through would make
 * smtp_proto close the session or cut the message. */
static void test_random(void)
{
	struct srv s = {0};
	struct smtp_client_opts o = opts_default();
	struct smtp_reply r;
	struct strbuf err, m, want;
	unsigned seed = 12345;
	strbuf_init(&err, 0);
	strbuf_init(&m, 0);
	strbuf_init(&want, 0);
	srv_start(&s);
	struct smtp_client *c = cli_connect(&s, &o, &r, &err);
	CHECK(c != NULL);
	for (int i = 0; c && i < 400; i++) {
		size_t len;
		seed = seed * 1103515245 + 12345;
		len = i % 50 == 49 ? 65536 - 64 + (seed >> 16) % 128 : (seed >> 16) % 64;
		strbuf_reset(&m);
		for (size_t k = 0; k < len; k++) {
			seed = seed * 1103515245 + 12345;
			strbuf_putc(&m, ".\r\na"[(seed >> 16) % 4]);
		}
		if (smtp_client_mail(c, "f@x.test", 0, false, &r, &err) != 250 ||
		    smtp_client_rcpt(c, "t@mx.test", &r, &err) != 250 ||
		    smtp_client_data(c, S(&m), m.len, &r, &err) != 250) {
			fprintf(stderr, "%s: message %d failed: %s\n", test_name, i, S(&err));
			failures++;
			break;
		}
		normalise(S(&m), m.len, &want);
		if (s.msg.len != want.len || memcmp(S(&s.msg), S(&want), want.len) != 0) {
			fprintf(stderr, "%s: message %d (%zu bytes) differs\n", test_name, i, len);
			failures++;
			break;
		}
	}
	smtp_client_quit(c);
	srv_stop(&s);
	CHECK(s.nmsg == 400);
	srv_free(&s);
	strbuf_free(&err);
	strbuf_free(&m);
	strbuf_free(&want);
}

static void test_ipv6(void)
{
	deliver_one(AF_INET6, RELAY_TLS_NONE, NULL, "v6\r\n", 4);
	deliver_one(AF_INET6, RELAY_TLS_VERIFY, "::1", "v6 tls\n", 7);
}

/* per-recipient replies mapped with code, enh and text */
static void test_rcpt(void)
{
	struct srv s = {0};
	struct smtp_client_opts o = opts_default();
	struct smtp_reply r;
	struct strbuf err, f;
	strbuf_init(&err, 0);
	strbuf_init(&f, 0);
	srv_start(&s);
	struct smtp_client *c = cli_connect(&s, &o, &r, &err);
	CHECK(c != NULL);
	if (c) {
		CHECK(smtp_client_mail(c, "from@x.test", 0, false, &r, &err) == 250);
		CHECK(strcmp(r.enh, "2.1.0") == 0 && strcmp(r.text, "Ok") == 0);
		CHECK(smtp_client_rcpt(c, "ok@mx.test", &r, &err) == 250);
		CHECK(strcmp(r.enh, "2.1.5") == 0);
		CHECK(smtp_client_rcpt(c, "rej@mx.test", &r, &err) == 550);
		CHECK(strcmp(r.enh, "5.1.1") == 0);
		CHECK(strcmp(r.text, "<rej@mx.test>: Recipient address rejected") == 0);
		smtp_reply_format(&r, &f);
		CHECK(strcmp(S(&f), "550 5.1.1 <rej@mx.test>: Recipient address rejected\r\n") ==
		      0);
		CHECK(smtp_client_rcpt(c, "tmp@mx.test", &r, &err) == 451);
		CHECK(strcmp(r.enh, "4.7.1") == 0);
		CHECK(strcmp(r.text, "<tmp@mx.test>: Try again later") == 0);
		CHECK(smtp_client_alive(c));
		CHECK(smtp_client_data(c, "x\r\n", 3, &r, &err) == 250);
		/* refused before anything is sent */
		CHECK(smtp_client_rcpt(c, "a@b\r\nRSET", &r, &err) == 0);
		CHECK(!smtp_client_alive(c));
		smtp_client_close(c);
	}
	srv_stop(&s);
	CHECK(s.nmsg == 1);
	CHECK(strcmp(S(&s.msg), "x\r\n") == 0);
	CHECK(strstr(S(&s.mail_line), "SIZE=") == NULL);
	CHECK(strstr(S(&s.mail_line), "BODY=") == NULL);
	srv_free(&s);
	strbuf_free(&err);
	strbuf_free(&f);
}

/* A fault at one step: run the transaction up to it.  want: the code the
 * faulting step returns (0 = failure with err).  Returns nothing; checks. */
static void fault_case(const char *at, enum fault fault, const char *reply, int want,
                       const char *want_enh, const char *want_err)
{
	struct srv s = {.at = at, .fault = fault, .reply = reply};
	struct smtp_client_opts o = opts_default();
	struct smtp_reply r;
	struct strbuf err;
	int got = -1;
	char big[1 << 16];
	memset(big, 'x', sizeof(big));
	strbuf_init(&err, 0);
	if (fault == F_SILENT)
		o.connect_timeout_s = o.cmd_timeout_s = o.data_timeout_s = 1;
	srv_start(&s);
	struct smtp_client *c = cli_connect(&s, &o, &r, &err);
	if (!c) {
		got = r.code;
	} else if ((got = smtp_client_mail(c, "f@x.test", 0, false, &r, &err)) != 250) {
	} else if ((got = smtp_client_rcpt(c, "t@mx.test", &r, &err)) != 250) {
	} else {
		/* big enough that a close during content is seen while sending */
		size_t n = strcasecmp(at, "CONTENT") == 0 ? sizeof(big) : 5;
		struct strbuf m;
		strbuf_init(&m, 0);
		for (int i = 0; i < (n > 5 ? 64 : 1); i++)
			strbuf_append(&m, big, n);
		got = smtp_client_data(c, m.s, m.len, &r, &err);
		strbuf_free(&m);
	}
	CHECK(got == want);
	if (got != want)
		fprintf(stderr, "%s: at %s: got %d want %d (%s)\n", test_name, at, got, want,
		        S(&err));
	CHECK(r.code == want);
	if (want_enh)
		CHECK(strcmp(r.enh, want_enh) == 0);
	if (want == 0) {
		CHECK(err.len > 0);
		CHECK(!smtp_client_alive(c));
		if (want_err && !strstr(S(&err), want_err)) {
			fprintf(stderr, "%s: err \"%s\" lacks \"%s\"\n", test_name, S(&err),
			        want_err);
			failures++;
		}
	}
	if (want == 421)
		CHECK(!smtp_client_alive(c));
	smtp_client_quit(c);
	srv_stop(&s);
	srv_free(&s);
	strbuf_free(&err);
}

static void test_refusals(void)
{
	fault_case("CONNECT", F_REPLY, "554 5.7.1 No service here\r\n", 554, "5.7.1", NULL);
	fault_case("CONNECT", F_REPLY, "421-mx.test busy\r\n421 4.3.2 Try later\r\n", 421, "4.3.2",
	           NULL);
	fault_case("EHLO", F_REPLY, "421 4.3.2 Shutting down\r\n", 421, "4.3.2", NULL);
	fault_case("MAIL", F_REPLY, "451 4.3.0 Try later\r\n", 451, "4.3.0", NULL);
	fault_case("MAIL", F_REPLY, "553 5.1.8 Bad sender\r\n", 553, "5.1.8", NULL);
	fault_case("DATA", F_REPLY, "554 5.5.1 No valid recipients\r\n", 554, "5.5.1", NULL);
	fault_case("DATA", F_REPLY, "451 4.3.0 Not now\r\n", 451, "4.3.0", NULL);
	fault_case(".", F_REPLY, "552 5.3.4 Message too big\r\n", 552, "5.3.4", NULL);
	fault_case(".", F_REPLY, "451 4.3.0 Temporary failure\r\n", 451, "4.3.0", NULL);
	/* replies of the wrong class are protocol errors, never success */
	fault_case("DATA", F_REPLY, "250 2.0.0 Ok\r\n", 0, NULL, "unexpected reply 250 to DATA");
	fault_case("RCPT", F_REPLY, "354 go on\r\n", 0, NULL, "unexpected reply 354 to RCPT");
	fault_case("CONNECT", F_REPLY, "250 hello\r\n", 0, NULL, "unexpected reply 250");
	fault_case("MAIL", F_REPLY, "250-a\r\n251 b\r\n", 0, NULL, "malformed reply to MAIL");
	fault_case("MAIL", F_REPLY, "hello\r\n", 0, NULL, "malformed reply to MAIL");
}

static void test_close(void)
{
	const char *steps[] = {"CONNECT", "EHLO", "MAIL", "RCPT", "DATA", "CONTENT", "."};
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
		fault_case(steps[i], F_CLOSE, NULL, 0, NULL, NULL);
	/* a partial reply and then the close */
	fault_case("MAIL", F_REPLY_CLOSE, "250-partial\r\n", 0, NULL,
	           "connection closed waiting for reply to MAIL");
	fault_case("DATA", F_REPLY_CLOSE, "354 go\r\n", 0, NULL,
	           "connection closed waiting for reply to end of data");
}

static void test_timeout(void)
{
	fault_case("CONNECT", F_SILENT, NULL, 0, NULL, "timeout waiting for reply to connect");
	fault_case("EHLO", F_SILENT, NULL, 0, NULL, "timeout waiting for reply to EHLO");
	fault_case("MAIL", F_SILENT, NULL, 0, NULL, "timeout waiting for reply to MAIL");
	fault_case("RCPT", F_SILENT, NULL, 0, NULL, "timeout waiting for reply to RCPT");
	fault_case("DATA", F_SILENT, NULL, 0, NULL, "timeout waiting for reply to DATA");
	fault_case(".", F_SILENT, NULL, 0, NULL, "timeout waiting for reply to end of data");
}

static void test_connect_refused(void)
{
	/* a port nobody listens on: bind one, close it, connect */
	struct srv s = {0};
	struct smtp_client_opts o = opts_default();
	struct smtp_reply r;
	struct strbuf err;
	struct sockaddr_storage ss;
	strbuf_init(&err, 0);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	socklen_t sl = addr_of(AF_INET, 0, &ss);
	CHECK(bind(fd, (struct sockaddr *)&ss, sl) == 0);
	CHECK(getsockname(fd, (struct sockaddr *)&ss, &sl) == 0);
	close(fd);
	(void)s;
	struct smtp_client *c = smtp_client_connect((struct sockaddr *)&ss, sl, &o, &r, &err);
	CHECK(c == NULL);
	CHECK(r.code == 0);
	CHECK(strstr(S(&err), "connect: Connection refused") != NULL);
	strbuf_free(&err);
}

/* A connect that is never accepted: the listener's queue is full, so the
 * SYN is dropped and the connect (or the greeting) times out. */
static void test_connect_timeout(void)
{
	struct smtp_client_opts o = opts_default();
	struct smtp_reply r;
	struct strbuf err;
	struct sockaddr_storage ss;
	int fill[4], nfill = 0;
	strbuf_init(&err, 0);
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	socklen_t sl = addr_of(AF_INET, 0, &ss);
	CHECK(bind(lfd, (struct sockaddr *)&ss, sl) == 0 && listen(lfd, 0) == 0);
	CHECK(getsockname(lfd, (struct sockaddr *)&ss, &sl) == 0);
	/* fill the accept queue (backlog 0 holds one) */
	for (int i = 0; i < 2; i++) {
		fill[nfill] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		connect(fill[nfill], (struct sockaddr *)&ss, sl);
		nfill++;
	}
	o.connect_timeout_s = 1;
	struct smtp_client *c = smtp_client_connect((struct sockaddr *)&ss, sl, &o, &r, &err);
	CHECK(c == NULL && r.code == 0);
	if (!strstr(S(&err), "timeout")) {
		fprintf(stderr, "%s: err \"%s\" lacks \"timeout\"\n", test_name, S(&err));
		failures++;
	}
	for (int i = 0; i < nfill; i++)
		close(fill[i]);
	close(lfd);
	strbuf_free(&err);
}

/* Several threads deliver at once over TLS (one shared SSL_CTX per mode
 * and CA file); every message must arrive intact. */
static void *thread_main(void *arg)
{
	long i = (long)arg;
	char msg[64];
	int n = snprintf(msg, sizeof(msg), "thread %ld\n.dot\rend", i);
	for (int k = 0; k < 4; k++)
		deliver_one(i % 2 ? AF_INET6 : AF_INET,
		            i % 3 == 0 ? RELAY_TLS_ENCRYPT : RELAY_TLS_VERIFY,
		            i % 2 ? "::1" : "mx.test", msg, (size_t)n);
	return NULL;
}

static void test_threads(void)
{
	pthread_t th[8];
	for (long i = 0; i < 8; i++)
		pthread_create(&th[i], NULL, thread_main, (void *)i);
	for (int i = 0; i < 8; i++)
		pthread_join(th[i], NULL);
}

/* HELO when EHLO is refused */
static void test_helo(void)
{
	struct srv s = {.at = "EHLO", .fault = F_REPLY, .reply = "502 5.5.2 Unknown command\r\n"};
	struct smtp_client_opts o = opts_default();
	struct smtp_reply r;
	struct strbuf err;
	strbuf_init(&err, 0);
	srv_start(&s);
	struct smtp_client *c = cli_connect(&s, &o, &r, &err);
	CHECK(c != NULL);
	if (c) {
		CHECK(r.code == 250);
		CHECK(!smtp_client_has_ext(c, "PIPELINING"));
		CHECK(smtp_client_mail(c, "f@x.test", 10, true, &r, &err) == 250);
		CHECK(smtp_client_rcpt(c, "t@mx.test", &r, &err) == 250);
		CHECK(smtp_client_data(c, "helo\n", 5, &r, &err) == 250);
		CHECK(smtp_client_rset(c, &r, &err) == 250);
		smtp_client_quit(c);
	}
	srv_stop(&s);
	CHECK(strstr(S(&s.cmds), "EHLO HELO MAIL") != NULL);
	/* no ESMTP: neither SIZE nor BODY */
	CHECK(strcmp(S(&s.mail_line), "MAIL FROM:<f@x.test>\r\n") == 0);
	CHECK(strcmp(S(&s.msg), "helo\r\n") == 0);
	/* ENCRYPT without EHLO: no STARTTLS, failure */
	struct srv s2 = {
	    .at = "EHLO", .fault = F_REPLY, .reply = "500 5.5.1 What\r\n", .tls = true};
	o.tls = RELAY_TLS_ENCRYPT;
	strbuf_reset(&err);
	srv_start(&s2);
	c = cli_connect(&s2, &o, &r, &err);
	CHECK(c == NULL && r.code == 0);
	CHECK(strstr(S(&err), "STARTTLS required but not offered") != NULL);
	srv_stop(&s2);
	srv_free(&s2);
	srv_free(&s);
	strbuf_free(&err);
}

/* TLS: connect with mode/name/ca against a server offering STARTTLS or
 * not; want_tls: 1 TLS session, 0 plaintext session, -1 failure with err
 * containing want_err. */
static void tls_case(bool offer, enum relay_tls_mode mode, const char *ca, const char *name,
                     int want_tls, const char *want_err)
{
	struct srv s = {.tls = offer};
	struct smtp_client_opts o = opts_default();
	struct smtp_reply r;
	struct strbuf err;
	strbuf_init(&err, 0);
	o.tls = mode;
	o.ca_file = ca;
	o.verify_name = name;
	srv_start(&s);
	struct smtp_client *c = cli_connect(&s, &o, &r, &err);
	if (want_tls < 0) {
		CHECK(c == NULL);
		CHECK(r.code == 0);
		smtp_client_close(c);
		if (!strstr(S(&err), want_err)) {
			fprintf(stderr, "%s: err \"%s\" lacks \"%s\"\n", test_name, S(&err),
			        want_err);
			failures++;
		}
	} else {
		CHECK(c != NULL);
		if (!c)
			fprintf(stderr, "%s: err %s\n", test_name, S(&err));
		CHECK(smtp_client_tls(c) == (want_tls == 1));
		CHECK(smtp_client_mail(c, "f@x.test", 0, false, &r, &err) == 250);
		CHECK(smtp_client_rcpt(c, "t@mx.test", &r, &err) == 250);
		CHECK(smtp_client_data(c, "tls\r\n", 5, &r, &err) == 250);
		smtp_client_quit(c);
	}
	srv_stop(&s);
	if (want_tls >= 0) {
		CHECK(strcmp(S(&s.msg), "tls\r\n") == 0);
		CHECK(s.tls_done == (want_tls == 1));
		/* EHLO again after the handshake */
		CHECK(strstr(S(&s.cmds), want_tls == 1 ? "EHLO STARTTLS EHLO MAIL" : "EHLO MAIL") !=
		      NULL);
	}
	srv_free(&s);
	strbuf_free(&err);
}

static void test_tls(void)
{
	tls_case(true, RELAY_TLS_MAY, NULL, NULL, 1, NULL);
	tls_case(false, RELAY_TLS_MAY, NULL, NULL, 0, NULL);
	tls_case(true, RELAY_TLS_ENCRYPT, NULL, NULL, 1, NULL);
	tls_case(true, RELAY_TLS_ENCRYPT, NULL, "wrong.test", 1, NULL); /* not verified */
	tls_case(false, RELAY_TLS_ENCRYPT, NULL, NULL, -1, "STARTTLS required but not offered");
	tls_case(true, RELAY_TLS_VERIFY, ca_path, "mx.test", 1, NULL);
	tls_case(true, RELAY_TLS_VERIFY, ca_path, "MX.TEST", 1, NULL);
	tls_case(true, RELAY_TLS_VERIFY, ca_path, "127.0.0.1", 1, NULL);
	tls_case(true, RELAY_TLS_VERIFY, ca_path, "wrong.test", -1,
	         "certificate verification failed: hostname mismatch");
	tls_case(true, RELAY_TLS_VERIFY, ca_path, "127.0.0.2", -1,
	         "certificate verification failed: IP address mismatch");
	tls_case(true, RELAY_TLS_VERIFY, ca_path, "x.mx.test", -1, "hostname mismatch");
	tls_case(true, RELAY_TLS_VERIFY, other_path, "mx.test", -1,
	         "certificate verification failed: unable to get local issuer certificate");
	tls_case(true, RELAY_TLS_VERIFY, NULL, "mx.test", -1, "certificate verification failed");
	tls_case(true, RELAY_TLS_VERIFY, ca_path, NULL, -1, "verify needs a name");
	tls_case(false, RELAY_TLS_VERIFY, ca_path, "mx.test", -1, "STARTTLS required");
	tls_case(true, RELAY_TLS_VERIFY, "/nonexistent/ca.pem", "mx.test", -1,
	         "cannot load CA certificates from /nonexistent/ca.pem");
}

static void starttls_fault(const char *reply, enum fault fault, enum relay_tls_mode mode,
                           int want_tls, const char *want_err)
{
	struct srv s = {.tls = true, .at = "STARTTLS", .fault = fault, .reply = reply};
	struct smtp_client_opts o = opts_default();
	struct smtp_reply r;
	struct strbuf err;
	strbuf_init(&err, 0);
	o.tls = mode;
	srv_start(&s);
	struct smtp_client *c = cli_connect(&s, &o, &r, &err);
	if (want_tls < 0) {
		CHECK(c == NULL && r.code == 0);
		smtp_client_close(c);
		if (!strstr(S(&err), want_err)) {
			fprintf(stderr, "%s: err \"%s\" lacks \"%s\"\n", test_name, S(&err),
			        want_err);
			failures++;
		}
	} else {
		CHECK(c != NULL && !smtp_client_tls(c));
		CHECK(r.code == 250); /* the EHLO reply, not the refusal */
		CHECK(smtp_client_mail(c, "f@x.test", 0, false, &r, &err) == 250);
		smtp_client_quit(c);
	}
	srv_stop(&s);
	srv_free(&s);
	strbuf_free(&err);
}

static void test_starttls_faults(void)
{
	/* response injection: a reply pipelined behind the 220 */
	starttls_fault("220 Ready\r\n250 injected\r\n", F_REPLY, RELAY_TLS_MAY, -1, "injection");
	starttls_fault("220 Ready\r\n250 injected\r\n", F_REPLY, RELAY_TLS_VERIFY, -1, "injection");
	/* a 220 and then no TLS from the server */
	starttls_fault("220 Ready\r\n", F_REPLY, RELAY_TLS_ENCRYPT, -1, "TLS handshake failed");
	starttls_fault(NULL, F_CLOSE, RELAY_TLS_ENCRYPT, -1, "connection closed");
	/* refused: MAY goes on in plaintext, ENCRYPT fails */
	starttls_fault("454 4.7.0 TLS not available\r\n", F_REPLY, RELAY_TLS_MAY, 0, NULL);
	starttls_fault("454 4.7.0 TLS not available\r\n", F_REPLY, RELAY_TLS_ENCRYPT, -1,
	               "STARTTLS refused: 454 4.7.0 TLS not available");
}

/* A close during content over TLS: no SIGPIPE through OpenSSL either. */
static void test_tls_close(void)
{
	struct srv s = {.tls = true, .at = "CONTENT", .fault = F_CLOSE};
	struct smtp_client_opts o = opts_default();
	struct smtp_reply r;
	struct strbuf err, m;
	strbuf_init(&err, 0);
	strbuf_init(&m, 0);
	big_message(&m, 8 << 20, 3);
	o.tls = RELAY_TLS_ENCRYPT;
	srv_start(&s);
	struct smtp_client *c = cli_connect(&s, &o, &r, &err);
	CHECK(c != NULL);
	if (c) {
		CHECK(smtp_client_mail(c, "f@x.test", 0, false, &r, &err) == 250);
		CHECK(smtp_client_rcpt(c, "t@mx.test", &r, &err) == 250);
		CHECK(smtp_client_data(c, m.s, m.len, &r, &err) == 0);
		CHECK(err.len > 0 && !smtp_client_alive(c));
		smtp_client_quit(c);
	}
	srv_stop(&s);
	srv_free(&s);
	strbuf_free(&err);
	strbuf_free(&m);
}

/* ---- the reply parser ---- */

static int parse(const char *s, size_t n, size_t *used, struct smtp_reply *r)
{
	return smtp_client_parse_reply(s, n, used, r);
}

#define P(str) parse(str, sizeof(str) - 1, &used, &r)

static void test_parser(void)
{
	struct smtp_reply r;
	size_t used;
	struct strbuf b, f;
	strbuf_init(&b, 0);
	strbuf_init(&f, 0);

	CHECK(P("250 ok\r\n") == 1 && used == 8 && r.code == 250 && !*r.enh &&
	      strcmp(r.text, "ok") == 0);
	CHECK(P("250 ok\n") == 1 && used == 7);
	CHECK(P("250\r\n") == 1 && r.code == 250 && !*r.text);
	CHECK(P("250 \r\n") == 1 && r.code == 250 && !*r.text);
	CHECK(P("250-a\r\n250-b\r\n250 2.0.0 c d\r\n") == 1 && used == 29 &&
	      strcmp(r.enh, "2.0.0") == 0 && strcmp(r.text, "c d") == 0);
	CHECK(P("250 2.0.0\r\n") == 1 && strcmp(r.enh, "2.0.0") == 0 && !*r.text);
	CHECK(P("550 5.1.10 x\r\n") == 1 && strcmp(r.enh, "5.1.10") == 0);
	CHECK(P("550 5.123.456 x\r\n") == 1 && strcmp(r.enh, "5.123.456") == 0);
	CHECK(P("550 5.1234.1 x\r\n") == 1 && !*r.enh && strcmp(r.text, "5.1234.1 x") == 0);
	CHECK(P("550 4.1.1 x\r\n") == 1 && !*r.enh && strcmp(r.text, "4.1.1 x") == 0);
	CHECK(P("550 5.1.1x\r\n") == 1 && !*r.enh);
	CHECK(P("550 5.1. x\r\n") == 1 && !*r.enh);
	CHECK(P("250 ok\r\n221 bye\r\n") == 1 && used == 8 && r.code == 250);
	/* incomplete */
	CHECK(P("") == 0);
	CHECK(P("25") == 0);
	CHECK(P("250 ok") == 0);
	CHECK(P("250 ok\r") == 0);
	CHECK(P("250-a\r\n") == 0);
	CHECK(P("250-a\r\n250") == 0);
	/* malformed */
	CHECK(P("250-a\r\n251 b\r\n") == -1 && r.code == 0);
	CHECK(P("250-a\r\n550 b\r\n") == -1);
	CHECK(P("25 x\r\n") == -1);
	CHECK(P("\r\n") == -1);
	CHECK(P("abc x\r\n") == -1);
	CHECK(P("250x\r\n") == -1);
	CHECK(P("199 x\r\n") == -1);
	CHECK(P("650 x\r\n") == -1);
	CHECK(P("2a0 x\r\n") == -1);
	CHECK(P(" 250 x\r\n") == -1);
	/* text made printable */
	CHECK(P("550 5.1.1 bad\x01\x7f\xff text\t\r\n") == 1 && strcmp(r.text, "bad??? text") == 0);
	CHECK(P("550 a\rb\r\n") == 1 && strcmp(r.text, "a?b") == 0);
	CHECK(P("550 a\0b\r\n") == 1 && strcmp(r.text, "a?b") == 0);
	/* line length: 1000 octets with CRLF, not one more */
	strbuf_puts(&b, "250 ");
	while (b.len < 998)
		strbuf_putc(&b, 'x');
	strbuf_puts(&b, "\r\n");
	CHECK(parse(b.s, b.len, &used, &r) == 1 && used == 1000 && strlen(r.text) == 511);
	CHECK(parse(b.s, b.len - 1, &used, &r) == 0);
	strbuf_reset(&b);
	strbuf_puts(&b, "250 ");
	while (b.len < 999)
		strbuf_putc(&b, 'x');
	CHECK(parse(b.s, b.len, &used, &r) == 0);
	strbuf_putc(&b, 'x'); /* 1000 octets and no line end yet */
	CHECK(parse(b.s, b.len, &used, &r) == -1);
	strbuf_puts(&b, "\r\n");
	CHECK(parse(b.s, b.len, &used, &r) == -1);
	/* 100 lines, not 101 */
	strbuf_reset(&b);
	for (int i = 0; i < 99; i++)
		strbuf_puts(&b, "250-line\r\n");
	strbuf_puts(&b, "250 last\r\n");
	CHECK(parse(b.s, b.len, &used, &r) == 1 && used == b.len && strcmp(r.text, "last") == 0);
	strbuf_reset(&b);
	for (int i = 0; i < 100; i++)
		strbuf_puts(&b, "250-line\r\n");
	CHECK(parse(b.s, b.len, &used, &r) == 0);
	strbuf_puts(&b, "250 last\r\n");
	CHECK(parse(b.s, b.len, &used, &r) == -1);
	/* a 101st line is refused as soon as it starts */
	strbuf_reset(&b);
	for (int i = 0; i < 100; i++)
		strbuf_puts(&b, "250-line\r\n");
	strbuf_puts(&b, "2");
	CHECK(parse(b.s, b.len, &used, &r) == -1);

	/* smtp_reply_format */
	memset(&r, 0, sizeof(r));
	r.code = 550;
	snprintf(r.enh, sizeof(r.enh), "5.1.1");
	snprintf(r.text, sizeof(r.text), "<x@y>: no");
	smtp_reply_format(&r, &f);
	CHECK(strcmp(S(&f), "550 5.1.1 <x@y>: no\r\n") == 0);
	strbuf_reset(&f);
	r.enh[0] = '\0';
	smtp_reply_format(&r, &f);
	CHECK(strcmp(S(&f), "550 5.0.0 <x@y>: no\r\n") == 0);
	strbuf_reset(&f);
	r.code = 421;
	r.text[0] = '\0';
	smtp_reply_format(&r, &f);
	CHECK(strcmp(S(&f), "421 4.0.0\r\n") == 0);
	strbuf_reset(&f);
	r.code = 0;
	smtp_reply_format(&r, &f);
	CHECK(strcmp(S(&f), "451 4.4.0 No usable reply from next hop\r\n") == 0);
	strbuf_free(&b);
	strbuf_free(&f);
}

/* ---- Postfix smtp-sink ---- */

struct sink {
	pid_t pid;
	unsigned short port;
	char dir[64];
	char dump[128];
};

static bool sink_start(struct sink *k, const char *const *extra)
{
	struct sockaddr_storage ss;
	socklen_t sl = addr_of(AF_INET, 0, &ss);
	const char *argv[32];
	char listen[32];
	int n = 0;

	snprintf(k->dir, sizeof(k->dir), "/tmp/smtp_client_sink.XXXXXX");
	if (!mkdtemp(k->dir))
		return false;
	chmod(k->dir, 0777); /* smtp-sink runs as nobody under root */
	snprintf(k->dump, sizeof(k->dump), "%s/dump", k->dir);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
		return false;
	close(fd);
	k->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	snprintf(listen, sizeof(listen), "127.0.0.1:%u", k->port);
	argv[n++] = "/usr/sbin/smtp-sink";
	if (getuid() == 0) {
		argv[n++] = "-u";
		argv[n++] = "nobody";
	}
	argv[n++] = "-h";
	argv[n++] = "sink.test";
	argv[n++] = "-D";
	argv[n++] = k->dump;
	for (; extra && *extra && n < 28; extra++)
		argv[n++] = *extra;
	argv[n++] = listen;
	argv[n++] = "10";
	argv[n] = NULL;
	k->pid = fork();
	if (k->pid == 0) {
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	/* wait until it listens */
	for (int i = 0; i < 200; i++) {
		int c = socket(AF_INET, SOCK_STREAM, 0);
		int ok = connect(c, (struct sockaddr *)&ss, sl) == 0;
		close(c);
		if (ok)
			return true;
		struct timespec ts = {0, 25 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	return false;
}

static void sink_stop(struct sink *k, struct strbuf *dump)
{
	int st;
	kill(k->pid, SIGTERM);
	waitpid(k->pid, &st, 0);
	if (dump) {
		strbuf_reset(dump);
		if (!strbuf_read_file(dump, k->dump))
			strbuf_reset(dump);
	}
	unlink(k->dump);
	rmdir(k->dir);
}

static void test_sink_deliver(void)
{
	struct sink k;
	struct smtp_client_opts o = opts_default();
	struct smtp_reply r;
	struct strbuf err, dump;
	struct sockaddr_storage ss;
	const char msg[] = "Subject: sink\n\n.leading dot\nbare cr\rlast line";
	strbuf_init(&err, 0);
	strbuf_init(&dump, 0);
	if (access("/usr/sbin/smtp-sink", X_OK) != 0) {
		fprintf(stderr, "%s: /usr/sbin/smtp-sink missing\n", test_name);
		failures++;
		return;
	}
	CHECK(sink_start(&k, NULL));
	socklen_t sl = addr_of(AF_INET, k.port, &ss);
	struct smtp_client *c = smtp_client_connect((struct sockaddr *)&ss, sl, &o, &r, &err);
	CHECK(c != NULL);
	if (c) {
		CHECK(smtp_client_has_ext(c, "8BITMIME") && smtp_client_has_ext(c, "PIPELINING"));
		CHECK(smtp_client_mail(c, "from@x.test", sizeof(msg) - 1, true, &r, &err) == 250);
		CHECK(smtp_client_rcpt(c, "to@sink.test", &r, &err) == 250);
		CHECK(smtp_client_rcpt(c, "two@sink.test", &r, &err) == 250);
		CHECK(smtp_client_data(c, msg, sizeof(msg) - 1, &r, &err) == 250);
		CHECK(smtp_client_rset(c, &r, &err) == 250);
		smtp_client_quit(c);
	}
	sink_stop(&k, &dump);
	if (err.len)
		fprintf(stderr, "%s: err %s\n", test_name, S(&err));
	CHECK(strstr(S(&dump), "X-Helo-Args: relay.test\n") != NULL);
	CHECK(strstr(S(&dump), "X-Mail-Args: <from@x.test> BODY=8BITMIME\n") != NULL);
	CHECK(strstr(S(&dump), "X-Rcpt-Args: <to@sink.test>\n") != NULL);
	CHECK(strstr(S(&dump), "X-Rcpt-Args: <two@sink.test>\n") != NULL);
	CHECK(strstr(S(&dump), "Subject: sink\n\n.leading dot\nbare cr\nlast line\n") != NULL);
	if (failures)
		fprintf(stderr, "%s: dump:\n%s\n", test_name, S(&dump));
	strbuf_free(&err);
	strbuf_free(&dump);
}

/* smtp-sink's fault options: want is the code of the step that fails (0:
 * failure with err), step the step that fails ("connect", "MAIL", "RCPT",
 * "DATA" for DATA or ".", "none"). */
static void sink_fault(const char *opt, const char *cmd, const char *step, int want)
{
	struct sink k;
	struct smtp_client_opts o = opts_default();
	struct smtp_reply r;
	struct strbuf err;
	struct sockaddr_storage ss;
	const char *extra[] = {opt, cmd, NULL};
	int got = -1;
	const char *at = "none";
	strbuf_init(&err, 0);
	if (!sink_start(&k, extra)) {
		CHECK(!"smtp-sink did not start");
		return;
	}
	socklen_t sl = addr_of(AF_INET, k.port, &ss);
	struct smtp_client *c = smtp_client_connect((struct sockaddr *)&ss, sl, &o, &r, &err);
	if (!c)
		got = r.code, at = "connect";
	else if ((got = smtp_client_mail(c, "f@x.test", 0, false, &r, &err)) != 250)
		at = "MAIL";
	else if ((got = smtp_client_rcpt(c, "t@sink.test", &r, &err)) != 250)
		at = "RCPT";
	else if ((got = smtp_client_data(c, "x\n", 2, &r, &err)) != 250)
		at = "DATA"; /* the reply to DATA or to "." */
	if (got != want || strcmp(at, step) != 0) {
		fprintf(stderr, "%s: %s %s: got %d at %s, want %d at %s (%s)\n", test_name, opt,
		        cmd, got, at, want, step, S(&err));
		failures++;
	}
	if (want == 0)
		CHECK(err.len > 0 && !smtp_client_alive(c));
	if (want == 421)
		CHECK(!smtp_client_alive(c));
	smtp_client_quit(c);
	sink_stop(&k, NULL);
	strbuf_free(&err);
}

static void test_sink_faults(void)
{
	sink_fault("-f", "RCPT", "RCPT", 500);
	sink_fault("-r", "RCPT", "RCPT", 450);
	sink_fault("-r", "MAIL", "MAIL", 450);
	sink_fault("-f", "DATA", "DATA", 500);
	sink_fault("-f", ".", "DATA", 500);
	sink_fault("-r", ".", "DATA", 450);
	sink_fault("-q", "MAIL", "MAIL", 0);
	sink_fault("-q", "DATA", "DATA", 0);
	sink_fault("-Q", "RCPT", "RCPT", 421);
	sink_fault("-Q", ".", "DATA", 421);
	sink_fault("-f", "CONNECT", "connect", 500);
	sink_fault("-q", "EHLO", "connect", 0);
	/* EHLO refused with 5xx: HELO, and the transaction goes through */
	sink_fault("-f", "EHLO", "none", 250);
}

/* ---- bench ---- */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int bench(int n)
{
	struct srv s = {.tls = true, .fast = true};
	struct smtp_client_opts o = opts_default();
	struct smtp_reply r;
	struct strbuf err, m;
	strbuf_init(&err, 0);
	strbuf_init(&m, 0);
	/* a typical text message: 76-octet lines */
	while (m.len < (1 << 20)) {
		for (int i = 0; i < 76; i++)
			strbuf_putc(&m, (char)('A' + (i + m.len) % 26));
		strbuf_puts(&m, "\r\n");
	}
	o.tls = RELAY_TLS_ENCRYPT;
	srv_start(&s);
	struct smtp_client *c = cli_connect(&s, &o, &r, &err);
	if (!c) {
		fprintf(stderr, "bench: %s\n", S(&err));
		return 1;
	}
	struct timespec c0, c1, p0, p1;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &p0);
	double t0 = now_s();
	for (int i = 0; i < n; i++) {
		if (smtp_client_mail(c, "f@x.test", m.len, false, &r, &err) != 250 ||
		    smtp_client_rcpt(c, "t@mx.test", &r, &err) != 250 ||
		    smtp_client_data(c, m.s, m.len, &r, &err) != 250) {
			fprintf(stderr, "bench: %s\n", S(&err));
			return 1;
		}
	}
	double t = now_s() - t0;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &p1);
	double all = (double)(p1.tv_sec - p0.tv_sec) + (p1.tv_nsec - p0.tv_nsec) / 1e9;
	double cpu = (double)(c1.tv_sec - c0.tv_sec) + (c1.tv_nsec - c0.tv_nsec) / 1e9;
	smtp_client_quit(c);
	srv_stop(&s);
	srv_free(&s);
	/* wall time includes the server thread decrypting on the same CPUs;
	 * the client thread's CPU time is what the relay spends */
	printf("smtp_client over TLS (%s): %d x %zu-byte messages: wall %.3f s = %.2f Gbit/s; "
	       "client thread CPU %.3f s = %.2f Gbit/s per core (anchor: >= 1 Gbit/s)\n",
	       OpenSSL_version(OPENSSL_VERSION), n, m.len, t, n * (double)m.len * 8 / t / 1e9, cpu,
	       n * (double)m.len * 8 / cpu / 1e9);
	printf("  CPU of client and server threads together: %.3f s (wall time depends on the "
	       "load of the machine)\n",
	       all);
	strbuf_free(&err);
	strbuf_free(&m);
	return 0;
}

/* ---- main ---- */

static const struct {
	const char *name;
	void (*fn)(void);
} tests[] = {
    {"parser", test_parser},
    {"plain", test_plain},
    {"big", test_big},
    {"random", test_random},
    {"ipv6", test_ipv6},
    {"rcpt", test_rcpt},
    {"refusals", test_refusals},
    {"close", test_close},
    {"timeout", test_timeout},
    {"connect_refused", test_connect_refused},
    {"connect_timeout", test_connect_timeout},
    {"threads", test_threads},
    {"helo", test_helo},
    {"tls", test_tls},
    {"starttls_faults", test_starttls_faults},
    {"tls_close", test_tls_close},
    {"sink_deliver", test_sink_deliver},
    {"sink_faults", test_sink_faults},
};

int main(int argc, char **argv)
{
	int ran = 0;
	certs_make();
	if (argc > 1 && strcmp(argv[1], "bench") == 0) {
		int rc = bench(argc > 2 ? atoi(argv[2]) : 200);
		unlink(ca_path);
		unlink(other_path);
		return rc;
	}
	for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
		bool want = argc == 1;
		for (int a = 1; a < argc; a++)
			want |= strcmp(argv[a], tests[i].name) == 0;
		if (!want)
			continue;
		test_name = tests[i].name;
		int before = failures;
		tests[i].fn();
		printf("%s %s\n", failures == before ? "ok  " : "FAIL", tests[i].name);
		ran++;
	}
	unlink(ca_path);
	unlink(other_path);
	SSL_CTX_free(srv_ctx);
	if (ran == 0) {
		fprintf(stderr, "no such test\n");
		return 2;
	}
	return failures ? 1 : 0;
}

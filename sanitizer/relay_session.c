/*
 * relay_session - one client session of sekisho-relayd: the nonblocking
 * socket, server-side STARTTLS, smtp_proto and its callbacks, the memfd
 * that collects the content, and the routing decision for the session.
 *
 * SUMMARY
 *	At accept the session learns where the client meant to go
 *	(SO_ORIGINAL_DST); a redirected connection must be a declared mail
 *	flow, a direct one must come from explicit_clients, and neither may
 *	loop, else it is refused with 554 5.7.1 and closed.  Reads are fed to
 *	smtp_proto; RCPT and end-of-data are deferred to delivery jobs
 *	(relay_deliver.c) whose replies come back through
 *	relay_session_job_done.  Output is written without blocking; reading
 *	stops while a job runs, while much output waits, or during STARTTLS.
 *
 * SECURITY
 *	All client bytes go through smtp_proto (smuggling, limits).  Plaintext
 *	read before the TLS handshake is discarded.  Content is written to an
 *	anonymous memfd only.  A session with a job in flight is never freed
 *	by the loop: it is marked dead and freed when the job returns.
 *
 * DIAGNOSTICS
 *	Refused connections and TLS failures are logged, one line each;
 *	transactions are logged by relay_deliver.c.
 */
#include "log.h"
#include "relay.h"
#include "relay_stats.h"
#include "xalloc.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <linux/netfilter_ipv4.h>
#include <linux/netfilter_ipv6/ip6_tables.h>
#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static bool relay_session_process(struct relay_session *s);
static bool relay_session_flush(struct relay_session *s);
static void relay_session_bury(struct relay_session *s);

/* ---- addresses ---- */

void relay_addr_normalise(struct sockaddr_storage *ss, socklen_t *len)
{
	if (ss->ss_family != AF_INET6)
		return;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	if (!IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
		return;
	struct sockaddr_in s4;
	memset(&s4, 0, sizeof(s4));
	s4.sin_family = AF_INET;
	s4.sin_port = s6->sin6_port;
	memcpy(&s4.sin_addr, &s6->sin6_addr.s6_addr[12], 4);
	memset(ss, 0, sizeof(*ss));
	memcpy(ss, &s4, sizeof(s4));
	*len = sizeof(s4);
}

void relay_addr_text(const struct sockaddr *sa, bool with_port, char *buf, size_t size)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;
	int n;

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
		port = ntohs(s4->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
		port = ntohs(s6->sin6_port);
	}
	if (!with_port)
		n = snprintf(buf, size, "%s", ip);
	else if (sa->sa_family == AF_INET6)
		n = snprintf(buf, size, "[%s]:%u", ip, port);
	else
		n = snprintf(buf, size, "%s:%u", ip, port);
	if (n < 0 || (size_t)n >= size)
		snprintf(buf, size, "?"); /* cannot happen with RELAY_ADDR_MAX */
}

bool relay_addr_same_ip(const struct sockaddr *a, const struct sockaddr *b)
{
	if (a->sa_family != b->sa_family)
		return false;
	if (a->sa_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)b)->sin_addr.s_addr;
	if (a->sa_family == AF_INET6)
		return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
		              &((const struct sockaddr_in6 *)b)->sin6_addr, 16) == 0;
	return false;
}

static unsigned relay_addr_port(const struct sockaddr *a)
{
	if (a->sa_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)a)->sin_port);
	if (a->sa_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)a)->sin6_port);
	return 0;
}

bool relay_addr_same(const struct sockaddr *a, const struct sockaddr *b)
{
	return relay_addr_same_ip(a, b) && relay_addr_port(a) == relay_addr_port(b);
}

/* true when sending to nh would come back to us or go back to the client. */
static bool relay_session_is_loop(const struct relay_session *s, const struct sockaddr *nh)
{
	struct sockaddr_storage n;
	socklen_t nl = sizeof(n);

	memset(&n, 0, sizeof(n));
	memcpy(&n, nh,
	       nh->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
	                                 : sizeof(struct sockaddr_in));
	relay_addr_normalise(&n, &nl);
	if (relay_addr_same_ip((struct sockaddr *)&n, (const struct sockaddr *)&s->peer))
		return true;
	if (relay_addr_same((struct sockaddr *)&n, (const struct sockaddr *)&s->local))
		return true;
	/* our own address on any port we listen on */
	if (relay_addr_same_ip((struct sockaddr *)&n, (const struct sockaddr *)&s->local)) {
		for (size_t i = 0; i < s->r->conf.nlisten; i++)
			if (relay_addr_port((struct sockaddr *)&n) ==
			    relay_addr_port((const struct sockaddr *)&s->r->conf.listen[i]))
				return true;
	}
	return false;
}

/* ---- the content memfd ---- */

static void relay_session_content_flush(struct relay_session *s)
{
	size_t off = 0;

	while (off < s->content.len && !s->content_error) {
		ssize_t n = write(s->memfd, s->content.s + off, s->content.len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			log_error_errno("session %llu: content write", (unsigned long long)s->id);
			s->content_error = true;
			break;
		}
		off += (size_t)n;
	}
	strbuf_reset(&s->content);
}

static void relay_session_content_drop(struct relay_session *s)
{
	if (s->memfd >= 0)
		close(s->memfd);
	s->memfd = -1;
	strbuf_reset(&s->content);
	s->content_size = 0;
	s->content_error = false;
}

static void relay_session_envelope_clear(struct relay_session *s)
{
	free(s->from);
	s->from = NULL;
	for (size_t i = 0; i < s->rcpts.n; i++)
		free(s->rcpts.v[i]);
	s->rcpts.n = 0;
	s->route = NULL;
	s->nrefused = 0;
	s->last_refusal[0] = '\0';
}

/* Remember a refusal of this transaction for its log line. */
static void relay_session_note_refusal(struct relay_session *s, const char *reply)
{
	size_t n = strcspn(reply, "\r\n");

	if (n >= sizeof(s->last_refusal))
		n = sizeof(s->last_refusal) - 1;
	memcpy(s->last_refusal, reply, n);
	s->last_refusal[n] = '\0';
	s->nrefused++;
}

/* The log line of a transaction that ends without an end-of-data job
 * (RSET, disconnect, every recipient refused, content not stored). */
static void relay_session_log_unfinished(struct relay_session *s, const char *outcome)
{
	struct strbuf rc;

	if (!s->from)
		return;
	strbuf_init(&rc, 0);
	for (size_t i = 0; i < s->rcpts.n; i++)
		strbuf_printf(&rc, "%s<%s>", i ? "," : "", s->rcpts.v[i]);
	log_info("transaction: session=%llu client=%s orig_dst=%s mode=%s from=<%s> rcpts=%s "
	         "refused=%u outcome=%s%s%s%s",
	         (unsigned long long)s->id, s->peer_text, s->orig_text[0] ? s->orig_text : "-",
	         s->mode == RELAY_MODE_TRANSPARENT ? "transparent" : "explicit", s->from,
	         rc.s ? rc.s : "", s->nrefused, outcome, s->nrefused ? " last_refusal=\"" : "",
	         s->nrefused ? s->last_refusal : "", s->nrefused ? "\"" : "");
	strbuf_free(&rc);
}

/* ---- smtp_proto callbacks (loop thread, no job in flight) ---- */

static bool relay_session_cb_mail(void *ctx, const char *from)
{
	struct relay_session *s = ctx;

	relay_session_log_unfinished(s, "abandoned");
	relay_session_envelope_clear(s);
	relay_session_content_drop(s);
	s->from = xstrdup(from);
	s->nh_mail_ok = false; /* a next-hop transaction still open is RSET first */
	return true;
}

static void relay_session_immediate(struct relay_session *s, const char *reply)
{
	free(s->immediate);
	s->immediate = xstrdup(reply);
}

static enum smtp_proto_verdict relay_session_cb_rcpt(void *ctx, const char *to)
{
	struct relay_session *s = ctx;
	struct relay *r = s->r;
	struct relay_job *job = relay_job_new(RELAY_JOB_RCPT, s);
	char text[RELAY_ADDR_MAX];

	job->rcpt = xstrdup(to);
	if (s->mode == RELAY_MODE_TRANSPARENT) {
		memcpy(&job->nh_addr, &s->orig_dst, sizeof(job->nh_addr));
		job->nh_addrlen = s->orig_dstlen;
		job->nh_tls = r->conf.transparent_tls;
		relay_addr_text((struct sockaddr *)&s->orig_dst, false, text, sizeof(text));
		job->nh_verify_name = xstrdup(text);
	} else {
		const char *at = strrchr(to, '@');
		char *domain = xstrdup(at ? at + 1 : "");
		for (char *p = domain; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		const struct relay_route *rt = relay_conf_route(&r->conf, domain);
		free(domain);
		if (!rt) {
			relay_session_immediate(s, "550 5.7.1 Relay access denied\r\n");
			relay_job_free(job);
			return SMTP_PROTO_DEFER;
		}
		if (s->route && (s->route->addrlen != rt->addrlen ||
		                 !relay_addr_same((struct sockaddr *)&s->route->addr,
		                                  (const struct sockaddr *)&rt->addr))) {
			relay_session_immediate(s, "452 4.5.3 Recipients of one message must share "
			                           "a next hop; send this one separately\r\n");
			relay_job_free(job);
			return SMTP_PROTO_DEFER;
		}
		if (relay_session_is_loop(s, (const struct sockaddr *)&rt->addr)) {
			log_warn("session %llu: route for <%s> loops back (%s)",
			         (unsigned long long)s->id, to, rt->host);
			relay_session_immediate(s, "554 5.4.6 Routing loop detected\r\n");
			relay_job_free(job);
			return SMTP_PROTO_DEFER;
		}
		job->route = rt;
		memcpy(&job->nh_addr, &rt->addr, sizeof(job->nh_addr));
		job->nh_addrlen = rt->addrlen;
		job->nh_tls = rt->tls;
		job->nh_verify_name = xstrdup(rt->host);
	}
	s->pending = job;
	return SMTP_PROTO_DEFER;
}

static void relay_session_cb_data(void *ctx, const char *line, size_t len)
{
	struct relay_session *s = ctx;

	if (s->content_error)
		return;
	if (s->memfd < 0) {
		s->memfd = memfd_create("sekisho-message", MFD_CLOEXEC | MFD_ALLOW_SEALING);
		if (s->memfd < 0) {
			log_error_errno("session %llu: memfd_create", (unsigned long long)s->id);
			s->content_error = true;
			return;
		}
	}
	strbuf_append(&s->content, line, len);
	s->content_size += len;
	if (s->content.len >= RELAY_CONTENT_BUF)
		relay_session_content_flush(s);
}

static enum smtp_proto_verdict relay_session_cb_message(void *ctx)
{
	struct relay_session *s = ctx;

	if (s->memfd < 0 && !s->content_error) {
		s->memfd = memfd_create("sekisho-message", MFD_CLOEXEC | MFD_ALLOW_SEALING);
		if (s->memfd < 0) {
			log_error_errno("session %llu: memfd_create", (unsigned long long)s->id);
			s->content_error = true;
		}
	}
	if (!s->content_error)
		relay_session_content_flush(s);
	if (s->content_error) {
		relay_session_content_drop(s);
		relay_session_immediate(s, "451 4.3.0 Temporary local problem storing the "
		                           "content\r\n");
		return SMTP_PROTO_DEFER;
	}
	/* Sealed before the worker sees it: what the quarantine stores is
	 * exactly what the client sent, whatever the worker does. */
	if (fcntl(s->memfd, F_ADD_SEALS,
	          F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) != 0) {
		log_error_errno("session %llu: sealing the content", (unsigned long long)s->id);
		relay_session_content_drop(s);
		relay_session_immediate(s, "451 4.3.0 Temporary local problem storing the "
		                           "content\r\n");
		return SMTP_PROTO_DEFER;
	}
	struct relay_job *job = relay_job_new(RELAY_JOB_MESSAGE, s);
	job->memfd = s->memfd;
	job->size = s->content_size;
	s->memfd = -1;
	s->content_size = 0;
	s->pending = job;
	return SMTP_PROTO_DEFER;
}

static void relay_session_cb_abort(void *ctx)
{
	struct relay_session *s = ctx;

	relay_session_log_unfinished(s, "aborted");
	relay_session_content_drop(s);
	relay_session_envelope_clear(s);
	s->nh_mail_ok = false;
}

static const struct smtp_proto_callbacks relay_session_callbacks = {
    .mail = relay_session_cb_mail,
    .rcpt = relay_session_cb_rcpt,
    .data = relay_session_cb_data,
    .message = relay_session_cb_message,
    .abort = relay_session_cb_abort,
};

/* ---- start ---- */

/* The destination the client connected to before any redirect; false when
 * the connection was not redirected (no conntrack entry, or the same as
 * the local address). */
static bool relay_session_original_dst(struct relay_session *s)
{
	struct sockaddr_storage o;
	socklen_t ol = sizeof(o);
	int rc;

	memset(&o, 0, sizeof(o));
	if (s->peer.ss_family == AF_INET)
		rc = getsockopt(s->fd, SOL_IP, SO_ORIGINAL_DST, &o, &ol);
	else
		rc = getsockopt(s->fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, &o, &ol);
	if (rc != 0)
		return false;
	if (o.ss_family == AF_INET)
		ol = sizeof(struct sockaddr_in);
	else if (o.ss_family == AF_INET6)
		ol = sizeof(struct sockaddr_in6);
	else
		return false;
	relay_addr_normalise(&o, &ol);
	if (relay_addr_same((struct sockaddr *)&o, (struct sockaddr *)&s->local))
		return false;
	memcpy(&s->orig_dst, &o, sizeof(o));
	s->orig_dstlen = ol;
	return true;
}

/* Write a refusal line and close; the session was never registered. */
static void relay_session_refuse(struct relay_session *s, const char *why)
{
	struct strbuf line;

	strbuf_init(&line, 1024);
	strbuf_printf(&line, "554 5.7.1 %s %s\r\n", s->r->conf.hostname, why);
	(void)send(s->fd, line.s, line.len, MSG_DONTWAIT | MSG_NOSIGNAL);
	strbuf_free(&line);
	relay_stats_add(&relay_stats.refused, 1);
	log_info("refused: session=%llu client=%s orig_dst=%s mode=%s reason=\"%s\"",
	         (unsigned long long)s->id, s->peer_text, s->orig_text[0] ? s->orig_text : "-",
	         s->mode == RELAY_MODE_TRANSPARENT ? "transparent" : "explicit", why);
	close(s->fd);
	s->fd = -1;
	strbuf_free(&s->in);
	strbuf_free(&s->out);
	strbuf_free(&s->content);
	free(s);
}

void relay_session_start(struct relay *r, int fd, const struct sockaddr_storage *peer,
                         socklen_t peerlen)
{
	struct relay_session *s = xcalloc(1, sizeof(*s));

	s->r = r;
	s->id = ++r->next_id;
	s->fd = fd;
	s->memfd = -1;
	s->started = s->last_active = time(NULL);
	strbuf_init(&s->in, 0);
	strbuf_init(&s->out, 0);
	strbuf_init(&s->content, 0);
	memcpy(&s->peer, peer, sizeof(s->peer));
	s->peerlen = peerlen;
	relay_addr_normalise(&s->peer, &s->peerlen);
	relay_addr_text((struct sockaddr *)&s->peer, false, s->peer_text, sizeof(s->peer_text));
	s->locallen = sizeof(s->local);
	if (getsockname(fd, (struct sockaddr *)&s->local, &s->locallen) != 0) {
		log_warn_errno("getsockname");
		close(fd);
		strbuf_free(&s->in);
		strbuf_free(&s->out);
		strbuf_free(&s->content);
		free(s);
		return;
	}
	relay_addr_normalise(&s->local, &s->locallen);

	if (relay_session_original_dst(s)) {
		s->mode = RELAY_MODE_TRANSPARENT;
		relay_addr_text((struct sockaddr *)&s->orig_dst, true, s->orig_text,
		                sizeof(s->orig_text));
		if (relay_session_is_loop(s, (struct sockaddr *)&s->orig_dst)) {
			relay_session_refuse(s,
			                     "mail loop: destination is the client or this relay");
			return;
		}
		if (!mailflows_match(&r->flows, (struct sockaddr *)&s->peer,
		                     (struct sockaddr *)&s->orig_dst)) {
			relay_session_refuse(s, "not a declared mail flow");
			return;
		}
	} else {
		s->mode = RELAY_MODE_EXPLICIT;
		if (!relay_conf_explicit_client(&r->conf, (struct sockaddr *)&s->peer)) {
			relay_session_refuse(s, "not a declared mail flow");
			return;
		}
	}

	smtp_proto_init(&s->proto, r->conf.hostname, r->conf.max_message_bytes,
	                r->conf.max_recipients, &relay_session_callbacks, s);
	s->proto.tls_available = r->tls_ctx != NULL;
	smtp_proto_greet(&s->proto, &s->out);

	s->next = r->sessions;
	if (r->sessions)
		r->sessions->prev = s;
	r->sessions = s;
	r->nsessions++;
	relay_stats_add(&relay_stats.accepted, 1);
	if (r->debug)
		log_info("connect: session=%llu client=%s orig_dst=%s mode=%s",
		         (unsigned long long)s->id, s->peer_text,
		         s->orig_text[0] ? s->orig_text : "-",
		         s->mode == RELAY_MODE_TRANSPARENT ? "transparent" : "explicit");
	if (!relay_session_flush(s))
		return;
	relay_loop_update(s);
}

/* ---- I/O ---- */

uint32_t relay_session_wants(const struct relay_session *s)
{
	uint32_t ev = 0;

	if (s->dead)
		return 0;
	switch (s->tls) {
	case RELAY_TLS_FLUSHING:
		return EPOLLOUT;
	case RELAY_TLS_HANDSHAKE:
		return s->tls_want_write ? EPOLLOUT : EPOLLIN;
	default:
		break;
	}
	if (s->out_off < s->out.len || s->tls_want_write)
		ev |= EPOLLOUT;
	if (!s->closing && !s->eof && !s->job && s->proto.state != SMTP_PROTO_S_WAIT &&
	    s->in.len < RELAY_IN_MAX && s->out.len - s->out_off < RELAY_OUT_HIGH)
		ev |= EPOLLIN;
	return ev;
}

static void relay_session_tls_error(struct relay_session *s, const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[256] = "";

	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	log_warn("session %llu: client %s: TLS %s failed%s%s", (unsigned long long)s->id,
	         s->peer_text, what, buf[0] ? ": " : "", buf);
	ERR_clear_error();
}

/* One step of SSL_accept; false when the session was closed. */
static bool relay_session_handshake(struct relay_session *s)
{
	ERR_clear_error();
	int rc = SSL_accept(s->ssl);
	if (rc == 1) {
		s->tls = RELAY_TLS_ON;
		s->tls_want_write = false;
		strbuf_reset(&s->in);
		smtp_proto_tls_started(&s->proto);
		s->last_active = time(NULL);
		if (s->r->debug)
			log_info("session %llu: TLS %s %s", (unsigned long long)s->id,
			         SSL_get_version(s->ssl), SSL_get_cipher_name(s->ssl));
		return true;
	}
	int e = SSL_get_error(s->ssl, rc);
	if (e == SSL_ERROR_WANT_READ) {
		s->tls_want_write = false;
		return true;
	}
	if (e == SSL_ERROR_WANT_WRITE) {
		s->tls_want_write = true;
		return true;
	}
	relay_session_tls_error(s, "handshake");
	relay_session_close(s, NULL);
	return false;
}

static bool relay_session_start_tls(struct relay_session *s)
{
	s->ssl = SSL_new(s->r->tls_ctx);
	if (!s->ssl || SSL_set_fd(s->ssl, s->fd) != 1) {
		relay_session_tls_error(s, "setup");
		relay_session_close(s, NULL);
		return false;
	}
	SSL_set_mode(s->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	s->tls = RELAY_TLS_HANDSHAKE;
	return relay_session_handshake(s);
}

/* Write what output we can; false when the session was closed. */
static bool relay_session_flush(struct relay_session *s)
{
	while (s->out_off < s->out.len) {
		size_t n = s->out.len - s->out_off;
		const char *p = s->out.s + s->out_off;
		if (s->ssl && s->tls == RELAY_TLS_ON) {
			ERR_clear_error();
			int w = SSL_write(s->ssl, p, n > INT32_MAX ? INT32_MAX : (int)n);
			if (w > 0) {
				s->out_off += (size_t)w;
				s->tls_want_write = false;
				continue;
			}
			int e = SSL_get_error(s->ssl, w);
			if (e == SSL_ERROR_WANT_WRITE) {
				s->tls_want_write = true;
				return true;
			}
			if (e == SSL_ERROR_WANT_READ)
				return true;
			relay_session_tls_error(s, "write");
			relay_session_close(s, NULL);
			return false;
		}
		ssize_t w = send(s->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w > 0) {
			s->out_off += (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return true;
		if (s->r->debug)
			log_info("session %llu: write: %s", (unsigned long long)s->id,
			         strerror(errno));
		relay_session_close(s, NULL);
		return false;
	}
	strbuf_reset(&s->out);
	s->out_off = 0;
	if (s->tls == RELAY_TLS_FLUSHING)
		return relay_session_start_tls(s);
	if (s->closing) {
		relay_session_close(s, NULL);
		return false;
	}
	return true;
}

/* Remember the HELO/EHLO name for the metadata: the command lines of buf
 * (up to a DATA line, after which bytes may be content). */
static void relay_session_scan_helo(struct relay_session *s, const char *buf, size_t len)
{
	size_t i = 0;

	if (s->proto.state == SMTP_PROTO_S_DATA)
		return;
	while (i < len) {
		const char *line = buf + i;
		const char *nl = memchr(line, '\n', len - i);
		if (!nl)
			return;
		size_t n = (size_t)(nl - line);
		i += n + 1;
		if (n >= 4 && strncasecmp(line, "DATA", 4) == 0)
			return;
		if (n > 5 &&
		    (strncasecmp(line, "EHLO ", 5) == 0 || strncasecmp(line, "HELO ", 5) == 0)) {
			size_t k = 0;
			for (size_t j = 5; j < n && k < RELAY_HELO_MAX; j++) {
				unsigned char c = (unsigned char)line[j];
				if (c == '\r' || c == ' ')
					break;
				s->helo[k++] = (c > 0x20 && c < 0x7f) ? (char)c : '?';
			}
			s->helo[k] = '\0';
		}
	}
}

/* Feed the kept input to smtp_proto until it is used up or a job runs;
 * false when the session was closed. */
static bool relay_session_process(struct relay_session *s)
{
	while (!s->job && !s->closing && s->in.len > 0 &&
	       (s->tls == RELAY_TLS_OFF || s->tls == RELAY_TLS_ON)) {
		relay_session_scan_helo(s, s->in.s, s->in.len);
		enum smtp_proto_status st = smtp_proto_feed(&s->proto, s->in.s, s->in.len, &s->out);
		size_t used = st == SMTP_PROTO_WAIT ? s->proto.consumed : s->in.len;
		if (used > s->in.len)
			used = s->in.len;
		memmove(s->in.s, s->in.s + used, s->in.len - used);
		s->in.len -= used;
		s->in.s[s->in.len] = '\0';
		switch (st) {
		case SMTP_PROTO_OK:
			break;
		case SMTP_PROTO_STARTTLS:
			/* Anything the client sent after STARTTLS in clear is dropped
			 * (smtp_proto already answered 521 to bytes in the same read). */
			strbuf_reset(&s->in);
			s->tls = RELAY_TLS_FLUSHING;
			return relay_session_flush(s);
		case SMTP_PROTO_CLOSE:
			strbuf_reset(&s->in);
			s->closing = true;
			break;
		case SMTP_PROTO_WAIT:
			if (s->immediate) {
				bool message = s->proto.wait_message;
				if (s->immediate[0] != '2')
					relay_session_note_refusal(s, s->immediate);
				if (message) {
					relay_session_log_unfinished(s, "deferred");
					relay_session_envelope_clear(s);
				}
				smtp_proto_resume(&s->proto, s->immediate, &s->out);
				free(s->immediate);
				s->immediate = NULL;
			} else if (s->pending) {
				s->job = s->pending;
				s->pending = NULL;
				s->r->njobs++;
				relay_deliver_submit(s->r, s->job);
			} else {
				/* cannot happen: every DEFER sets one of them */
				smtp_proto_resume(&s->proto, "451 4.3.0 Internal error\r\n",
				                  &s->out);
			}
			break;
		}
	}
	if (s->eof && !s->job && s->in.len == 0)
		s->closing = true;
	return true;
}

/* Read once (or while TLS has buffered records); false when closed. */
static bool relay_session_read(struct relay_session *s)
{
	char buf[RELAY_READ_CHUNK];

	for (int rounds = 0; rounds < 64; rounds++) {
		if (!(relay_session_wants(s) & EPOLLIN))
			return true;
		ssize_t n;
		if (s->tls == RELAY_TLS_ON) {
			ERR_clear_error();
			int rc = SSL_read(s->ssl, buf, sizeof(buf));
			if (rc <= 0) {
				int e = SSL_get_error(s->ssl, rc);
				if (e == SSL_ERROR_WANT_READ)
					return true;
				if (e == SSL_ERROR_WANT_WRITE) {
					s->tls_want_write = true;
					return true;
				}
				if (e == SSL_ERROR_ZERO_RETURN ||
				    (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)) {
					n = 0;
				} else {
					relay_session_tls_error(s, "read");
					relay_session_close(s, NULL);
					return false;
				}
			} else {
				n = rc;
			}
		} else {
			n = recv(s->fd, buf, sizeof(buf), MSG_DONTWAIT);
			if (n < 0) {
				if (errno == EINTR)
					continue;
				if (errno == EAGAIN || errno == EWOULDBLOCK)
					return true;
				if (s->r->debug)
					log_info("session %llu: read: %s",
					         (unsigned long long)s->id, strerror(errno));
				relay_session_close(s, NULL);
				return false;
			}
		}
		relay_stats_add(&relay_stats.bytes_in, (uint64_t)n);
		if (n == 0) {
			s->eof = true;
			if (!relay_session_process(s))
				return false;
			return true;
		}
		s->last_active = time(NULL);
		strbuf_append(&s->in, buf, (size_t)n);
		if (!relay_session_process(s))
			return false;
		if (!relay_session_flush(s))
			return false;
		if (s->tls != RELAY_TLS_ON || SSL_pending(s->ssl) == 0)
			return true;
	}
	return true;
}

/* Run I/O for whatever the socket allows; false when closed. */
static bool relay_session_io(struct relay_session *s)
{
	if (s->tls == RELAY_TLS_HANDSHAKE) {
		if (!relay_session_handshake(s))
			return false;
		if (s->tls == RELAY_TLS_HANDSHAKE)
			return true;
	}
	if (!relay_session_flush(s))
		return false;
	if (s->tls == RELAY_TLS_HANDSHAKE)
		return true;
	if (!relay_session_read(s))
		return false;
	if (!relay_session_flush(s))
		return false;
	if (s->closing && !s->job && s->out_off >= s->out.len) {
		relay_session_close(s, NULL);
		return false;
	}
	return true;
}

void relay_session_event(struct relay_session *s, uint32_t events)
{
	if (s->dead)
		return;
	if (events & (EPOLLERR | EPOLLHUP)) {
		/* the client is gone both ways (reset): nothing more can reach it */
		relay_session_close(s, NULL);
		return;
	}
	if (!relay_session_io(s))
		return;
	relay_loop_update(s);
}

void relay_session_job_done(struct relay_session *s, struct relay_job *job)
{
	s->job = NULL;
	s->r->njobs--;
	if (job->kind == RELAY_JOB_RCPT && job->rcpt_accepted) {
		if (s->rcpts.n == s->rcpts.cap) {
			s->rcpts.cap = s->rcpts.cap ? s->rcpts.cap * 2 : 8;
			s->rcpts.v = xreallocarray(s->rcpts.v, s->rcpts.cap, sizeof(*s->rcpts.v));
		}
		s->rcpts.v[s->rcpts.n++] = job->rcpt;
		job->rcpt = NULL;
		if (job->route)
			s->route = job->route; /* the transaction's next hop from now on */
	}
	if (job->kind == RELAY_JOB_RCPT && !job->rcpt_accepted)
		relay_session_note_refusal(s, job->reply.s);
	if (job->kind == RELAY_JOB_MESSAGE)
		relay_session_envelope_clear(s);
	if (s->dead) {
		relay_session_bury(s);
		return;
	}
	s->last_active = time(NULL);
	smtp_proto_resume(&s->proto, job->reply.s, &s->out);
	if (s->r->stopping) {
		/* the answer to the finished job goes out, then we stop */
		if (relay_session_flush(s))
			relay_session_close(s, "421 4.3.2 Service shutting down");
		return;
	}
	if (!relay_session_process(s))
		return;
	if (!relay_session_io(s))
		return;
	relay_loop_update(s);
}

void relay_session_close(struct relay_session *s, const char *reason)
{
	if (s->dead)
		return;
	if (reason && s->tls != RELAY_TLS_HANDSHAKE && s->tls != RELAY_TLS_FLUSHING) {
		/* "421 4.4.2 text" goes out as "421 4.4.2 <hostname> text" */
		const char *rest = strchr(reason, ' ');
		rest = rest ? strchr(rest + 1, ' ') : NULL;
		if (rest)
			strbuf_printf(&s->out, "%.*s %s%s\r\n", (int)(rest - reason), reason,
			              s->r->conf.hostname, rest);
		else
			strbuf_printf(&s->out, "%s\r\n", reason);
		for (int i = 0; i < 4 && s->out_off < s->out.len; i++) {
			const char *p = s->out.s + s->out_off;
			size_t n = s->out.len - s->out_off;
			ssize_t w;
			if (s->ssl && s->tls == RELAY_TLS_ON)
				w = SSL_write(s->ssl, p, n > INT32_MAX ? INT32_MAX : (int)n);
			else
				w = send(s->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
			if (w <= 0)
				break;
			s->out_off += (size_t)w;
		}
	}
	if (s->r->debug)
		log_info("disconnect: session=%llu client=%s%s%s", (unsigned long long)s->id,
		         s->peer_text, reason ? " reason=" : "", reason ? reason : "");
	s->dead = true;
	if (s->registered)
		epoll_ctl(s->r->epfd, EPOLL_CTL_DEL, s->fd, NULL);
	s->registered = false;
	s->events = 0;
	if (s->ssl) {
		SSL_free(s->ssl);
		s->ssl = NULL;
	}
	close(s->fd);
	s->fd = -1;
	if (!s->job)
		relay_session_bury(s);
}

/* Unlink a closed session whose job (if any) returned; freed by
 * relay_session_reap at the end of the loop round, so that an event of
 * the same round never sees freed memory. */
static void relay_session_bury(struct relay_session *s)
{
	struct relay *r = s->r;

	if (s->prev)
		s->prev->next = s->next;
	else
		r->sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	r->nsessions--;
	s->prev = NULL;
	s->next = r->graveyard;
	r->graveyard = s;
}

static void relay_session_free(struct relay_session *s)
{
	struct relay *r = s->r;

	if (s->nh) {
		/* QUIT may block: a delivery thread does it */
		struct relay_job *q = relay_job_new(RELAY_JOB_QUIT, NULL);
		q->client = s->nh;
		s->nh = NULL;
		relay_deliver_submit(r, q);
	}
	free(s->nh_verify_name);
	relay_job_free(s->pending);
	relay_session_log_unfinished(s, "disconnected");
	relay_session_content_drop(s);
	relay_session_envelope_clear(s);
	free(s->rcpts.v);
	free(s->immediate);
	strbuf_free(&s->in);
	strbuf_free(&s->out);
	strbuf_free(&s->content);
	free(s);
}

void relay_session_reap(struct relay *r)
{
	while (r->graveyard) {
		struct relay_session *s = r->graveyard;
		r->graveyard = s->next;
		relay_session_free(s);
	}
}

void relay_session_tick(struct relay_session *s, time_t now)
{
	if (s->dead)
		return;
	if (s->r->conf.session_timeout_s &&
	    now - s->started >= (time_t)s->r->conf.session_timeout_s) {
		log_info("timeout: session=%llu client=%s session time limit",
		         (unsigned long long)s->id, s->peer_text);
		relay_session_close(s, "421 4.4.2 Error: session time limit exceeded");
		return;
	}
	if (s->job)
		return; /* waiting on us, not on the client */
	unsigned idle = s->r->conf.idle_timeout_s;
	if (s->tls == RELAY_TLS_HANDSHAKE && (idle == 0 || idle > RELAY_TLS_HANDSHAKE_S))
		idle = RELAY_TLS_HANDSHAKE_S;
	if (idle && now - s->last_active >= (time_t)idle) {
		log_info("timeout: session=%llu client=%s idle", (unsigned long long)s->id,
		         s->peer_text);
		relay_session_close(s, "421 4.4.2 Error: timeout exceeded");
	}
}

/*
 * relay_deliver - the delivery threads of sekisho-relayd and the jobs they
 * run: everything that blocks (next-hop SMTP, sanitising in a worker, the
 * quarantine's fsyncs) happens here, never in the event loop.
 *
 * SUMMARY
 *	A fixed pool of threads takes jobs from one queue.  An RCPT job opens
 *	(or reuses, after RSET) the session's next-hop connection, sends MAIL
 *	when the transaction has none yet, and forwards the recipient.  A
 *	MESSAGE job sanitises the content (sworker_sanitize), stores the
 *	original in the quarantine, sends the sanitised message (or the notice)
 *	to the next hop and maps its reply.  A QUIT job closes a next-hop
 *	connection a finished session left.  Session jobs post their reply to
 *	a completion list and wake the loop through the eventfd.
 *
 * SECURITY
 *	The original bytes go to the worker and the quarantine only; what the
 *	next hop receives is the worker's output.  250 is answered only when
 *	the quarantine store returned 0 and the next hop answered 2xx to the
 *	message; every other outcome is a 4xx, or the next hop's own 5xx.
 *
 * DIAGNOSTICS
 *	One log line per transaction (client, original destination, envelope,
 *	outcome, quarantine id, next-hop reply, our reply).
 */
#include "audit.h"
#include "json.h"
#include "log.h"
#include "quarantine.h"
#include "relay_stats.h"
#include "relay.h"
#include "xalloc.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

struct relay_deliver {
	struct relay *r;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct relay_job *queue, *queue_tail;
	struct relay_job *done, *done_tail;
};

struct relay_deliver_thread {
	struct relay_deliver *d;
	struct quarantine *q;
};

unsigned relay_deliver_threads(const struct relay_conf *c)
{
	unsigned w = c->workers < 4 ? 4 : c->workers;
	unsigned n = 2 * w;

	if (n < RELAY_DELIVERY_THREADS_MIN)
		n = RELAY_DELIVERY_THREADS_MIN;
	if (n > RELAY_DELIVERY_THREADS_MAX)
		n = RELAY_DELIVERY_THREADS_MAX;
	return n;
}

struct relay_job *relay_job_new(enum relay_job_kind kind, struct relay_session *s)
{
	struct relay_job *job = xcalloc(1, sizeof(*job));

	job->kind = kind;
	job->s = s;
	job->memfd = -1;
	strbuf_init(&job->reply, 0);
	return job;
}

void relay_job_free(struct relay_job *job)
{
	if (!job)
		return;
	free(job->rcpt);
	free(job->nh_verify_name);
	if (job->memfd >= 0)
		close(job->memfd);
	strbuf_free(&job->reply);
	free(job);
}

/* The next-hop options. */
static void relay_deliver_opts(const struct relay *r, enum relay_tls_mode tls,
                               const char *verify_name, struct smtp_client_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->helo_name = r->conf.hostname;
	o->tls = tls;
	o->ca_file = r->conf.tls_ca_file;
	o->verify_name = verify_name;
	o->connect_timeout_s = r->conf.nexthop_timeout_s;
	o->cmd_timeout_s = r->conf.nexthop_timeout_s;
	o->data_timeout_s = r->conf.data_timeout_s;
}

/* Drop the session's next-hop connection. */
static void relay_deliver_drop_nh(struct relay_session *s, bool quit)
{
	if (quit)
		smtp_client_quit(s->nh);
	else
		smtp_client_close(s->nh);
	s->nh = NULL;
	s->nh_in_transaction = false;
	s->nh_mail_ok = false;
}

/* A reply line for our client from a next-hop reply: 2xx -> ok_text, 4xx
 * and 5xx as they came, no reply -> 451 4.4.2 with what. */
static void relay_deliver_map(const struct smtp_reply *rep, const char *ok_line, const char *what,
                              struct strbuf *out)
{
	if (rep->code >= 200 && rep->code < 300) {
		strbuf_puts(out, ok_line);
	} else if (rep->code >= 400 && rep->code < 600) {
		smtp_reply_format(rep, out);
	} else {
		strbuf_printf(out, "451 4.4.2 %s\r\n", what);
	}
}

static void relay_deliver_rcpt(struct relay_deliver_thread *t, struct relay_job *job)
{
	struct relay *r = t->d->r;
	struct relay_session *s = job->s;
	struct smtp_reply rep;
	struct strbuf err;
	int code;

	strbuf_init(&err, 4096);
	memset(&rep, 0, sizeof(rep));

	/* A connection to another next hop, a dead one, or one idle so long
	 * that the next hop may have given up on it, is not reused. */
	if (s->nh &&
	    (!smtp_client_alive(s->nh) || s->nh_addrlen != job->nh_addrlen ||
	     !relay_addr_same((struct sockaddr *)&s->nh_addr, (struct sockaddr *)&job->nh_addr) ||
	     (!s->nh_mail_ok && time(NULL) - s->nh_used > RELAY_NEXTHOP_IDLE_S)))
		relay_deliver_drop_nh(s, smtp_client_alive(s->nh));
	/* Every earlier transaction on the connection (finished, failed or
	 * aborted) is followed by RSET before the next MAIL. */
	if (s->nh && s->nh_in_transaction && !s->nh_mail_ok) {
		code = smtp_client_rset(s->nh, &rep, &err);
		if (code < 200 || code >= 300) {
			relay_deliver_drop_nh(s, code != 0);
		} else {
			s->nh_in_transaction = false;
			s->nh_used = time(NULL);
		}
	}
	if (!s->nh) {
		struct smtp_client_opts o;
		relay_deliver_opts(r, job->nh_tls, job->nh_verify_name, &o);
		strbuf_reset(&err);
		s->nh = smtp_client_connect((struct sockaddr *)&job->nh_addr, job->nh_addrlen, &o,
		                            &rep, &err);
		if (!s->nh) {
			char nh[RELAY_ADDR_MAX];
			relay_addr_text((struct sockaddr *)&job->nh_addr, true, nh, sizeof(nh));
			log_warn("session %llu: next hop %s refused or failed: reply %d %s%s%s",
			         (unsigned long long)s->id, nh, rep.code, rep.text,
			         err.len ? "; " : "", err.len ? err.s : "");
			if (rep.code >= 400 && rep.code < 600)
				smtp_reply_format(&rep, &job->reply);
			else
				strbuf_puts(
				    &job->reply,
				    "451 4.4.1 Next hop not available, try again later\r\n");
			strbuf_free(&err);
			return;
		}
		memcpy(&s->nh_addr, &job->nh_addr, sizeof(s->nh_addr));
		s->nh_addrlen = job->nh_addrlen;
		s->nh_tls = job->nh_tls;
		free(s->nh_verify_name);
		s->nh_verify_name = job->nh_verify_name ? xstrdup(job->nh_verify_name) : NULL;
		s->nh_in_transaction = false;
		s->nh_mail_ok = false;
	}
	if (!s->nh_mail_ok) {
		strbuf_reset(&err);
		s->nh_in_transaction = true;
		code = smtp_client_mail(s->nh, s->from ? s->from : "", 0, true, &rep, &err);
		if (code < 200 || code >= 300) {
			relay_deliver_map(&rep, "", "Next hop did not answer MAIL", &job->reply);
			if (code == 0) {
				log_warn("session %llu: next hop MAIL: %s",
				         (unsigned long long)s->id, err.s ? err.s : "");
				relay_deliver_drop_nh(s, false);
			}
			strbuf_free(&err);
			return;
		}
		s->nh_mail_ok = true;
	}
	strbuf_reset(&err);
	code = smtp_client_rcpt(s->nh, job->rcpt, &rep, &err);
	s->nh_used = time(NULL);
	if (code >= 200 && code < 300) {
		job->rcpt_accepted = true;
		strbuf_printf(&job->reply, "250 2.1.5 Ok (next hop: %d %s)\r\n", rep.code,
		              rep.text);
	} else {
		relay_deliver_map(&rep, "", "Next hop did not answer RCPT", &job->reply);
		if (code == 0) {
			log_warn("session %llu: next hop RCPT: %s", (unsigned long long)s->id,
			         err.s ? err.s : "");
			relay_deliver_drop_nh(s, false);
		}
	}
	if (r->debug)
		log_info("session %llu: RCPT <%s>: next hop %d %s", (unsigned long long)s->id,
		         job->rcpt, rep.code, rep.text);
	strbuf_free(&err);
}

/* Open the session's next hop again (same address and TLS mode) and
 * repeat MAIL and the accepted RCPTs; true when all were accepted again.
 * For a connection that died or idled while the client sent the content
 * or the worker sanitised it. */
static bool relay_deliver_reopen(struct relay_deliver_thread *t, struct relay_session *s,
                                 struct strbuf *err)
{
	struct smtp_client_opts o;
	struct smtp_reply rep;
	int code;

	if (s->nh)
		relay_deliver_drop_nh(s, smtp_client_alive(s->nh));
	relay_deliver_opts(t->d->r, s->nh_tls, s->nh_verify_name, &o);
	s->nh = smtp_client_connect((struct sockaddr *)&s->nh_addr, s->nh_addrlen, &o, &rep, err);
	if (!s->nh)
		return false;
	s->nh_in_transaction = true;
	code = smtp_client_mail(s->nh, s->from ? s->from : "", 0, true, &rep, err);
	if (code < 200 || code >= 300)
		return false;
	for (size_t i = 0; i < s->rcpts.n; i++) {
		code = smtp_client_rcpt(s->nh, s->rcpts.v[i], &rep, err);
		if (code < 200 || code >= 300)
			return false;
	}
	s->nh_mail_ok = true;
	s->nh_used = time(NULL);
	return true;
}

/* The metadata record of a quarantined original. */
static void relay_deliver_meta(const struct relay_session *s, enum sanitize_status st,
                               const struct strbuf *verdict, struct strbuf *m)
{
	bool first = true;

	strbuf_putc(m, '{');
	json_key(m, &first, "received");
	strbuf_printf(m, "%lld", (long long)time(NULL));
	json_key(m, &first, "client");
	json_cstr(m, s->peer_text);
	json_key(m, &first, "original_dst");
	json_cstr(m, s->orig_text[0] ? s->orig_text : NULL);
	json_key(m, &first, "mode");
	json_cstr(m, s->mode == RELAY_MODE_TRANSPARENT ? "transparent" : "explicit");
	json_key(m, &first, "helo");
	json_cstr(m, s->helo[0] ? s->helo : NULL);
	json_key(m, &first, "from");
	json_cstr(m, s->from ? s->from : "");
	json_key(m, &first, "rcpts");
	strbuf_putc(m, '[');
	for (size_t i = 0; i < s->rcpts.n; i++) {
		if (i)
			strbuf_putc(m, ',');
		json_cstr(m, s->rcpts.v[i]);
	}
	strbuf_putc(m, ']');
	json_key(m, &first, "status");
	json_cstr(m, st == SANITIZE_WITHHELD ? "withheld" : "sanitised");
	json_key(m, &first, "verdict");
	if (verdict->len)
		strbuf_append(m, verdict->s, verdict->len);
	else
		strbuf_puts(m, "null");
	strbuf_putc(m, '}');
}

/* Text of a reply line without its CRLF, for the log. */
static void relay_deliver_chomp(const struct strbuf *b, char *buf, size_t size)
{
	size_t n = b->len;

	while (n && (b->s[n - 1] == '\n' || b->s[n - 1] == '\r'))
		n--;
	if (n >= size)
		n = size - 1;
	memcpy(buf, n ? b->s : "", n);
	buf[n] = '\0';
}

/* One audit record per transaction: envelope, outcome, quarantine id and
 * the verdict's summary (viruses as found, count of removed parts). */
static void relay_deliver_audit(struct relay *r, const struct relay_session *s,
                                enum sanitize_status st, const struct strbuf *verdict,
                                const char *outcome, const char *qid, size_t size,
                                const char *reply)
{
	struct strbuf d, err;
	const char *v;
	size_t vl;
	long removed = -1;
	bool first = true;

	strbuf_init(&d, 0);
	strbuf_init(&err, 4096);
	strbuf_putc(&d, '{');
	json_key(&d, &first, "session");
	strbuf_printf(&d, "%llu", (unsigned long long)s->id);
	json_key(&d, &first, "client");
	json_cstr(&d, s->peer_text);
	json_key(&d, &first, "original_dst");
	json_cstr(&d, s->orig_text[0] ? s->orig_text : NULL);
	json_key(&d, &first, "mode");
	json_cstr(&d, s->mode == RELAY_MODE_TRANSPARENT ? "transparent" : "explicit");
	json_key(&d, &first, "from");
	json_cstr(&d, s->from ? s->from : "");
	json_key(&d, &first, "rcpts");
	strbuf_putc(&d, '[');
	for (size_t i = 0; i < s->rcpts.n; i++) {
		if (i)
			strbuf_putc(&d, ',');
		json_cstr(&d, s->rcpts.v[i]);
	}
	strbuf_putc(&d, ']');
	json_key(&d, &first, "size");
	strbuf_printf(&d, "%zu", size);
	json_key(&d, &first, "status");
	json_cstr(&d, st == SANITIZE_OK         ? "sanitised"
	              : st == SANITIZE_WITHHELD ? "withheld"
	                                        : "error");
	json_key(&d, &first, "outcome");
	json_cstr(&d, outcome);
	json_key(&d, &first, "quarantine");
	json_cstr(&d, qid[0] ? qid : NULL);
	json_key(&d, &first, "viruses");
	if (verdict->len && audit_json_member(verdict->s, verdict->len, "viruses", &v, &vl))
		strbuf_append(&d, v, vl);
	else
		strbuf_puts(&d, "null");
	if (verdict->len && audit_json_member(verdict->s, verdict->len, "removed", &v, &vl))
		removed = audit_json_count(v, vl);
	json_key(&d, &first, "removed_parts");
	if (removed >= 0)
		strbuf_printf(&d, "%ld", removed);
	else
		strbuf_puts(&d, "null");
	json_key(&d, &first, "reply");
	json_cstr(&d, reply);
	strbuf_putc(&d, '}');
	if (audit_append(r->audit, "mail", d.s, &err) < 0)
		log_error("session %llu: audit record not written: %s", (unsigned long long)s->id,
		          err.s ? err.s : "failed");
	strbuf_free(&d);
	strbuf_free(&err);
}

static void relay_deliver_message(struct relay_deliver_thread *t, struct relay_job *job)
{
	struct relay *r = t->d->r;
	struct relay_session *s = job->s;
	struct sworker_result res;
	struct smtp_reply rep;
	struct strbuf err, meta, rcpts_text;
	char qid[QUARANTINE_ID_LEN + 1] = "";
	const char *outcome = "deferred";
	enum sanitize_status st;
	void *raw = MAP_FAILED;
	int code = 0;

	strbuf_init(&err, 4096);
	strbuf_init(&meta, 0);
	strbuf_init(&rcpts_text, 0);
	memset(&rep, 0, sizeof(rep));

	st = sworker_sanitize(r->pool, job->memfd, job->size, s->from ? s->from : "",
	                      (const char *const *)s->rcpts.v, s->rcpts.n, &res);
	if (st == SANITIZE_ERROR) {
		log_error("session %llu: sanitiser: %s", (unsigned long long)s->id,
		          res.error.s ? res.error.s : "failed");
		strbuf_puts(&job->reply, "451 4.3.0 Temporary failure in content processing\r\n");
		relay_stats_add(&relay_stats.sanitiser_errors, 1);
		goto done;
	}
	if (job->size) {
		raw = mmap(NULL, job->size, PROT_READ, MAP_PRIVATE, job->memfd, 0);
		if (raw == MAP_FAILED) {
			log_error_errno("session %llu: mmap of the content",
			                (unsigned long long)s->id);
			strbuf_puts(&job->reply, "451 4.3.0 Temporary local problem\r\n");
			goto done;
		}
	}
	relay_deliver_meta(s, st, &res.verdict, &meta);
	if (quarantine_store(t->q, raw == MAP_FAILED ? "" : raw, job->size, meta.s, qid, &err) !=
	    0) {
		log_error("session %llu: %s", (unsigned long long)s->id,
		          err.s ? err.s : "quarantine");
		qid[0] = '\0';
		strbuf_puts(&job->reply, "451 4.3.0 Temporary failure storing the message\r\n");
		relay_stats_add(&relay_stats.quarantine_failures, 1);
		goto done;
	}
	if (!s->nh || !smtp_client_alive(s->nh) || !s->nh_mail_ok ||
	    time(NULL) - s->nh_used > RELAY_NEXTHOP_IDLE_S) {
		if (r->debug)
			log_info("session %llu: opening the next hop again before DATA",
			         (unsigned long long)s->id);
		if (!relay_deliver_reopen(t, s, &err)) {
			log_warn("session %llu: next hop opened again: %s",
			         (unsigned long long)s->id,
			         err.len ? err.s : "a command was refused");
			strbuf_puts(&job->reply, "451 4.4.2 Next hop connection lost\r\n");
			goto done;
		}
	}
	strbuf_reset(&err);
	code = smtp_client_data(s->nh, res.message.s ? res.message.s : "", res.message.len, &rep,
	                        &err);
	s->nh_mail_ok = false;
	s->nh_used = time(NULL);
	if (code >= 200 && code < 300) {
		strbuf_printf(&job->reply,
		              "250 2.0.0 Ok: delivered (next hop: %d %s) quarantine %s\r\n",
		              rep.code, rep.text, qid);
		outcome = st == SANITIZE_WITHHELD ? "delivered-notice" : "delivered";
	} else if (code >= 500 && code < 600) {
		smtp_reply_format(&rep, &job->reply);
		outcome = "rejected";
	} else {
		if (code == 0) {
			strbuf_puts(&job->reply,
			            "451 4.4.2 Next hop did not accept the message\r\n");
			relay_deliver_drop_nh(s, false);
		} else {
			strbuf_printf(&job->reply, "451 4.4.2 Next hop deferred: %d %s\r\n",
			              rep.code, rep.text);
		}
	}
done:
	/* The message did not reach DATA (sanitiser, quarantine): reset the
	 * next hop's transaction now; a connection that fails RSET is dropped. */
	if (s->nh && s->nh_mail_ok) {
		struct smtp_reply rr;
		struct strbuf rerr;
		strbuf_init(&rerr, 4096);
		int rc = smtp_client_rset(s->nh, &rr, &rerr);
		if (rc >= 200 && rc < 300)
			s->nh_in_transaction = false;
		else
			relay_deliver_drop_nh(s, rc != 0);
		strbuf_free(&rerr);
		s->nh_mail_ok = false;
	}
	if (raw != MAP_FAILED)
		munmap(raw, job->size);
	for (size_t i = 0; i < s->rcpts.n; i++)
		strbuf_printf(&rcpts_text, "%s<%s>", i ? "," : "", s->rcpts.v[i]);
	{
		char ours[512];
		relay_deliver_chomp(&job->reply, ours, sizeof(ours));
		relay_stats_transaction(outcome);
		log_info(
		    "transaction: session=%llu client=%s orig_dst=%s mode=%s from=<%s> "
		    "rcpts=%s size=%zu sanitize=%s outcome=%s quarantine=%s nexthop=\"%d %s%s%s\" "
		    "reply=\"%s\"%s%s",
		    (unsigned long long)s->id, s->peer_text, s->orig_text[0] ? s->orig_text : "-",
		    s->mode == RELAY_MODE_TRANSPARENT ? "transparent" : "explicit",
		    s->from ? s->from : "", rcpts_text.s ? rcpts_text.s : "", job->size,
		    st == SANITIZE_OK         ? "ok"
		    : st == SANITIZE_WITHHELD ? "withheld"
		                              : "error",
		    outcome, qid[0] ? qid : "-", rep.code, rep.enh, rep.enh[0] ? " " : "", rep.text,
		    ours, err.len ? " error=" : "", err.len ? err.s : "");
		if (r->audit)
			relay_deliver_audit(r, s, st, &res.verdict, outcome, qid, job->size, ours);
	}
	sworker_result_free(&res);
	strbuf_free(&err);
	strbuf_free(&meta);
	strbuf_free(&rcpts_text);
}

static void relay_deliver_run(struct relay_deliver_thread *t, struct relay_job *job)
{
	switch (job->kind) {
	case RELAY_JOB_RCPT:
		relay_deliver_rcpt(t, job);
		break;
	case RELAY_JOB_MESSAGE:
		relay_deliver_message(t, job);
		break;
	case RELAY_JOB_QUIT:
		smtp_client_quit(job->client);
		job->client = NULL;
		break;
	}
	if (job->kind != RELAY_JOB_QUIT && job->reply.len == 0)
		strbuf_puts(&job->reply, "451 4.3.0 Temporary local problem\r\n");
}

static void *relay_deliver_main(void *arg)
{
	struct relay_deliver_thread *t = arg;
	struct relay_deliver *d = t->d;

	for (;;) {
		pthread_mutex_lock(&d->lock);
		while (!d->queue)
			pthread_cond_wait(&d->cond, &d->lock);
		struct relay_job *job = d->queue;
		d->queue = job->next;
		if (!d->queue)
			d->queue_tail = NULL;
		job->next = NULL;
		pthread_mutex_unlock(&d->lock);

		relay_deliver_run(t, job);

		if (job->kind == RELAY_JOB_QUIT) {
			relay_job_free(job);
			continue;
		}
		pthread_mutex_lock(&d->lock);
		if (d->done_tail)
			d->done_tail->next = job;
		else
			d->done = job;
		d->done_tail = job;
		pthread_mutex_unlock(&d->lock);
		uint64_t one = 1;
		while (write(d->r->evfd, &one, sizeof(one)) < 0 && errno == EINTR)
			;
	}
	return NULL;
}

/* The quarantine's retention: prune at start, then daily.  A
 * thread of its own, so that a big store never delays a delivery. */
#define RELAY_PRUNE_FIRST_S 0
#define RELAY_PRUNE_EVERY_S (24 * 3600)

static void *relay_deliver_pruner(void *arg)
{
	struct relay_deliver_thread *t = arg;
	const struct relay_conf *c = &t->d->r->conf;
	struct strbuf err;
	unsigned delay = RELAY_PRUNE_FIRST_S;

	strbuf_init(&err, 4096);
	for (;;) {
		sleep(delay);
		delay = RELAY_PRUNE_EVERY_S;
		strbuf_reset(&err);
		long n = quarantine_prune(t->q, c->retention_days, time(NULL), &err);
		if (n < 0)
			log_error("quarantine prune: %s", err.s ? err.s : "failed");
		else if (n > 0)
			log_info("quarantine prune: %ld entries older than %u days removed", n,
			         c->retention_days);
	}
	return NULL;
}

bool relay_deliver_start(struct relay *r, unsigned nthreads)
{
	struct relay_deliver *d = xcalloc(1, sizeof(*d));
	struct strbuf err;

	d->r = r;
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->cond, NULL);
	r->deliver = d;
	strbuf_init(&err, 4096);
	for (unsigned i = 0; i <= nthreads; i++) {
		struct relay_deliver_thread *t = xcalloc(1, sizeof(*t));
		void *(*fn)(void *) = i < nthreads ? relay_deliver_main : relay_deliver_pruner;
		pthread_t tid;
		pthread_attr_t attr;

		t->d = d;
		t->q = quarantine_open(r->conf.quarantine_dir, &err);
		if (!t->q) {
			log_error("%s", err.s ? err.s : "quarantine_open failed");
			strbuf_free(&err);
			free(t);
			return false;
		}
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		int e = pthread_create(&tid, &attr, fn, t);
		pthread_attr_destroy(&attr);
		if (e) {
			errno = e;
			log_error_errno("pthread_create");
			quarantine_close(t->q);
			free(t);
			strbuf_free(&err);
			return false;
		}
	}
	strbuf_free(&err);
	return true;
}

void relay_deliver_submit(struct relay *r, struct relay_job *job)
{
	struct relay_deliver *d = r->deliver;

	job->next = NULL;
	pthread_mutex_lock(&d->lock);
	if (d->queue_tail)
		d->queue_tail->next = job;
	else
		d->queue = job;
	d->queue_tail = job;
	pthread_cond_signal(&d->cond);
	pthread_mutex_unlock(&d->lock);
}

struct relay_job *relay_deliver_completed(struct relay *r)
{
	struct relay_deliver *d = r->deliver;
	struct relay_job *list;

	pthread_mutex_lock(&d->lock);
	list = d->done;
	d->done = d->done_tail = NULL;
	pthread_mutex_unlock(&d->lock);
	return list;
}

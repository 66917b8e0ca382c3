/*
 * relay - the internals shared by the parts of sekisho-relayd:
 *
 *   relayd.c        main: options, config, start-up as root, privilege drop
 *   relay_loop.c    the epoll loop: listeners, accept, limits, timers,
 *                   signals, mail flows reload, job completions
 *   relay_session.c one client session: socket and server-side TLS I/O,
 *                   smtp_proto and its callbacks, the content memfd
 *   relay_deliver.c the delivery thread pool and its jobs: next-hop SMTP
 *                   (smtp_client), sanitising (sworker), quarantine
 *
 * SECURITY
 *	Only the loop thread touches a session, except while the session has
 *	a job in flight: then the job's thread alone uses the session's
 *	next-hop connection, envelope and memfd, and the loop touches none of
 *	them (the session's smtp_proto is in WAIT, nothing is read).  A session
 *	whose client went away while its job runs is marked dead and freed by
 *	the loop when the job's completion arrives.
 */
#ifndef SEKISHO_RELAY_H
#define SEKISHO_RELAY_H

#include "mailflows.h"
#include "relay_conf.h"
#include "smtp_client.h"
#include "smtp_proto.h"
#include "strbuf.h"
#include "sworker.h"

#include <netinet/in.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>

#define RELAY_READ_CHUNK 16384         /* bytes per read from a client */
#define RELAY_IN_MAX (64u * 1024)      /* kept-back input before reads stop */
#define RELAY_OUT_HIGH (256u * 1024)   /* reads stop while this much output waits */
#define RELAY_CONTENT_BUF (64u * 1024) /* content buffered before a memfd write */
#define RELAY_DELIVERY_THREADS_MIN 8   /* pool: 2 * max(workers, 4) threads */
#define RELAY_DELIVERY_THREADS_MAX 256
#define RELAY_SHUTDOWN_GRACE_S 120 /* jobs in progress may finish this long */
#define RELAY_TLS_HANDSHAKE_S 60   /* server-side handshake time limit */
#define RELAY_NEXTHOP_IDLE_S 60    /* a next-hop connection idle longer is opened anew */
#define RELAY_MAILFLOWS_CHECK_S 1  /* mtime of the mail flows file polled */
#define RELAY_HELO_MAX 255         /* HELO name kept for the metadata */
#define RELAY_ADDR_MAX 64          /* "[ipv6]:port" text */

enum relay_mode {
	RELAY_MODE_TRANSPARENT, /* redirected by the gateway: next hop = original destination */
	RELAY_MODE_EXPLICIT,    /* addressed to us: next hop from relay_conf_route */
};

enum relay_tls_state {
	RELAY_TLS_OFF,
	RELAY_TLS_FLUSHING,  /* 220 to STARTTLS still being written in clear */
	RELAY_TLS_HANDSHAKE, /* SSL_accept in progress */
	RELAY_TLS_ON,
};

enum relay_job_kind {
	RELAY_JOB_RCPT,    /* open/reuse the next hop, MAIL when needed, RCPT */
	RELAY_JOB_MESSAGE, /* sanitise, quarantine, DATA to the next hop */
	RELAY_JOB_QUIT,    /* QUIT and free a next-hop connection (no session) */
};

struct relay_session;
struct audit;

struct relay_job {
	enum relay_job_kind kind;
	struct relay_session *s; /* NULL for RELAY_JOB_QUIT */
	struct relay_job *next;  /* queue / completion list */

	/* RCPT: the recipient and where it goes */
	char *rcpt;
	struct sockaddr_storage nh_addr;
	socklen_t nh_addrlen;
	enum relay_tls_mode nh_tls;
	char *nh_verify_name;
	const struct relay_route *route; /* explicit mode: the recipient's route */

	/* MESSAGE: the content (the job closes it) */
	int memfd;
	size_t size;

	/* QUIT */
	struct smtp_client *client;

	/* result */
	struct strbuf reply; /* complete reply line(s) for smtp_proto_resume */
	bool rcpt_accepted;
};

struct relay_session {
	struct relay *r;
	struct relay_session *prev, *next;
	uint64_t id;
	int fd;
	struct sockaddr_storage peer, local, orig_dst; /* v4-mapped made plain AF_INET */
	socklen_t peerlen, locallen, orig_dstlen;      /* orig_dstlen 0: not redirected */
	char peer_text[RELAY_ADDR_MAX];                /* "198.18.2.25" */
	char orig_text[RELAY_ADDR_MAX];                /* "198.18.3.25:25" or "" */
	enum relay_mode mode;
	time_t started, last_active;

	/* I/O */
	SSL *ssl;
	enum relay_tls_state tls;
	bool tls_want_write; /* the last SSL call wants the socket writable */
	struct strbuf in;    /* read but not consumed (kept back during WAIT) */
	struct strbuf out;   /* replies not yet written */
	size_t out_off;      /* bytes of out already written */
	bool closing;        /* close once out is written */
	bool eof;            /* the client closed its side */
	bool dead;           /* closed; freed when the job returns */
	uint32_t events;     /* registered with epoll */
	bool registered;

	/* SMTP */
	struct smtp_proto proto;
	char helo[RELAY_HELO_MAX + 1];
	char *immediate; /* reply of a callback decided at once (DEFER + resume) */

	/* transaction (used by the job thread while job != NULL) */
	struct relay_job *job;     /* in flight, or NULL */
	struct relay_job *pending; /* made by a callback, submitted when feed returns */
	char *from;
	struct {
		char **v;
		size_t n, cap;
	} rcpts;                         /* accepted by the next hop */
	unsigned nrefused;               /* recipients refused in this transaction */
	char last_refusal[128];          /* the last refusal's reply, for the log */
	const struct relay_route *route; /* explicit: route of the transaction */
	int memfd;                       /* content, or -1 */
	struct strbuf content;           /* buffered before the memfd write */
	size_t content_size;
	bool content_error; /* a memfd write failed: 451 at end-of-data */

	/* next hop (used by the job thread while job != NULL) */
	struct smtp_client *nh;
	struct sockaddr_storage nh_addr;
	socklen_t nh_addrlen;
	bool nh_in_transaction;     /* MAIL sent, not finished by DATA or RSET */
	bool nh_mail_ok;            /* MAIL of this transaction accepted */
	enum relay_tls_mode nh_tls; /* how nh was opened, to open it again */
	char *nh_verify_name;
	time_t nh_used; /* last next-hop reply */
};

struct relay {
	struct relay_conf conf;
	const char *conf_path;
	bool debug;

	/* start-up */
	SSL_CTX *tls_ctx; /* server side; NULL = no STARTTLS */
	struct sworker_pool *pool;
	uid_t uid;
	gid_t gid;

	/* loop */
	int epfd, evfd, sigfd;
	int listen_fd[RELAY_CONF_MAX_LISTEN];
	size_t nlisten;
	struct relay_session *sessions;
	struct relay_session *graveyard; /* closed, freed at the end of a loop round */
	unsigned nsessions;
	unsigned njobs; /* session jobs in flight */
	uint64_t next_id;
	bool stopping;
	time_t stop_started;

	/* mail flows (loop thread only) */
	struct mailflows flows;
	bool flows_loaded;
	struct timespec flows_mtime;
	time_t flows_checked;

	/* delivery pool */
	struct relay_deliver *deliver;

	/* audit log (audit_log in relayd.conf): opened as root; NULL = none */
	struct audit *audit;
};

/* relay_loop.c */

/* Bind every listener of r->conf (SO_REUSEADDR, dual stack for [::]).
 * Returns false with the reason logged. */
bool relay_loop_listen(struct relay *r);
/* Load the mail flows file into r->flows (logs errors; keeps the old list
 * when the new file is malformed). */
void relay_loop_load_flows(struct relay *r);
/* Run until SIGTERM/SIGINT and the jobs in progress finished (bounded).
 * Returns the exit status. */
int relay_loop_run(struct relay *r);
/* Register or update the epoll interest of s for its current state. */
void relay_loop_update(struct relay_session *s);

/* relay_session.c */

/* A new session on an accepted socket (nonblocking); greets or refuses.
 * The session is linked into r->sessions. */
void relay_session_start(struct relay *r, int fd, const struct sockaddr_storage *peer,
                         socklen_t peerlen);
/* epoll reported events for s. */
void relay_session_event(struct relay_session *s, uint32_t events);
/* The job of s completed (called by the loop thread). */
void relay_session_job_done(struct relay_session *s, struct relay_job *job);
/* Which epoll events s needs now. */
uint32_t relay_session_wants(const struct relay_session *s);
/* Close the client side (421 with reason when reason != NULL, best
 * effort); frees s now, or when its job returns. */
void relay_session_close(struct relay_session *s, const char *reason);
/* Free the sessions closed during this loop round. */
void relay_session_reap(struct relay *r);
/* Timers: close s when its idle or session time passed. */
void relay_session_tick(struct relay_session *s, time_t now);
/* Address helpers: v4-mapped IPv6 -> AF_INET; text without port. */
void relay_addr_normalise(struct sockaddr_storage *ss, socklen_t *len);
void relay_addr_text(const struct sockaddr *sa, bool with_port, char *buf, size_t size);
bool relay_addr_same_ip(const struct sockaddr *a, const struct sockaddr *b);
bool relay_addr_same(const struct sockaddr *a, const struct sockaddr *b);

/* relay_deliver.c */

/* Start nthreads delivery threads (after the privilege drop: each opens
 * its own quarantine handle).  Returns false with the reason logged. */
bool relay_deliver_start(struct relay *r, unsigned nthreads);
/* Queue a job (any kind).  Completions of session jobs are written to the
 * eventfd r->evfd and collected with relay_deliver_completed. */
void relay_deliver_submit(struct relay *r, struct relay_job *job);
/* Take the list of completed session jobs (oldest first); NULL if none. */
struct relay_job *relay_deliver_completed(struct relay *r);
/* Number of threads for the configuration: 2 * max(workers, 4). */
unsigned relay_deliver_threads(const struct relay_conf *c);
struct relay_job *relay_job_new(enum relay_job_kind kind, struct relay_session *s);
void relay_job_free(struct relay_job *job);

#endif

/*
 * smtp_proto - the server side of SMTP (RFC 5321) as a pure state machine:
 * bytes from the client in (any split), reply lines out into a strbuf, and
 * decisions and message content through a small struct of callbacks.  No
 * I/O, no clock: the daemon owns sockets, TLS and timers.
 *
 * SECURITY
 *	All input is untrusted.  Only CRLF.CRLF ends DATA.  A bare CR, a bare
 *	LF or a NUL anywhere (command or DATA) is never guessed at: the
 *	transaction is aborted, "521 5.5.2" is queued and the session is
 *	closed (SMTP_PROTO_CLOSE), so no byte after it can start a command or
 *	a second message (SMTP smuggling).  Command lines and DATA lines are
 *	limited to 1000 octets with CRLF; messages to max_size; recipients to
 *	max_rcpt; errors to SMTP_PROTO_MAX_ERRORS.  Content reaches the caller
 *	dot-unstuffed, one whole CRLF-terminated line per call, and never
 *	holds a bare CR, bare LF or NUL.
 *
 * DIAGNOSTICS
 *	Every protocol error is answered with an SMTP reply (with an enhanced
 *	status code); fatal ones make smtp_proto_feed return SMTP_PROTO_CLOSE.
 */
#ifndef SEKISHO_SMTP_PROTO_H
#define SEKISHO_SMTP_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strbuf.h"

#define SMTP_PROTO_LINE_MAX 1000 /* octets, CRLF included (RFC 5321 4.5.3.1.4, 4.5.3.1.6) */
#define SMTP_PROTO_PATH_MAX 256  /* octets of a reverse/forward path */
#define SMTP_PROTO_MAX_ERRORS 20 /* syntax/sequence errors before 421 and close */

/* What a rcpt or message callback decides. */
enum smtp_proto_verdict {
	SMTP_PROTO_REFUSE = 0, /* 550 for RCPT, 451 for the message */
	SMTP_PROTO_ACCEPT = 1, /* 250 */
	SMTP_PROTO_DEFER = 2,  /* answer later with smtp_proto_resume */
};

struct smtp_proto_callbacks {
	/* MAIL FROM accepted syntactically; return false to refuse (550). */
	bool (*mail)(void *ctx, const char *from);
	/* RCPT TO accepted syntactically (and within max_rcpt).  DEFER: the
	 * reply comes from smtp_proto_resume (a 2xx reply counts the
	 * recipient). */
	enum smtp_proto_verdict (*rcpt)(void *ctx, const char *to);
	/* One content line, dot-unstuffed, ending in CRLF. */
	void (*data)(void *ctx, const char *line, size_t len);
	/* The message ended with CRLF.CRLF and broke no limit; ACCEPT answers
	 * 250, REFUSE 451 (the sender keeps it), DEFER waits for
	 * smtp_proto_resume.  Whatever the answer, the transaction is over;
	 * abort is not called. */
	enum smtp_proto_verdict (*message)(void *ctx);
	/* The transaction (possibly with content already given) is void:
	 * RSET, new EHLO, STARTTLS, QUIT, a refused message (overlong line or
	 * size), a fatal error.  Drop whatever data gave. */
	void (*abort)(void *ctx);
};

enum smtp_proto_status {
	SMTP_PROTO_OK,       /* send the output, read more */
	SMTP_PROTO_STARTTLS, /* send the output, handshake, then smtp_proto_tls_started */
	SMTP_PROTO_CLOSE,    /* send the output, then close the connection */
	SMTP_PROTO_WAIT,     /* a callback deferred: send the output, keep the
	                      * unconsumed input (see consumed), feed nothing
	                      * until smtp_proto_resume */
};

enum smtp_proto_state {
	SMTP_PROTO_S_CONNECTED, /* before EHLO/HELO */
	SMTP_PROTO_S_GREETED,   /* no transaction */
	SMTP_PROTO_S_MAIL,      /* after MAIL, maybe with recipients */
	SMTP_PROTO_S_DATA,      /* reading content */
	SMTP_PROTO_S_TLS_WAIT,  /* 220 to STARTTLS sent; no input allowed */
	SMTP_PROTO_S_WAIT,      /* a deferred RCPT or end-of-data awaits its reply */
	SMTP_PROTO_S_CLOSED,
};

struct smtp_proto {
	/* configuration, set before smtp_proto_greet */
	const char *hostname;
	size_t max_size; /* message bytes (content as received); 0 = no limit */
	unsigned max_rcpt;
	bool tls_available;
	const struct smtp_proto_callbacks *cb;
	void *ctx;

	/* state, read only for the caller */
	enum smtp_proto_state state;
	bool tls;
	uint64_t offset;                 /* input bytes consumed over the session */
	size_t consumed;                 /* bytes of the last smtp_proto_feed call consumed */
	enum smtp_proto_state wait_from; /* state a deferral returns to */
	bool wait_message;               /* the deferred callback was message, not rcpt */
	unsigned nrcpt;                  /* accepted recipients of this transaction */
	unsigned nerrors;                /* errors answered so far */
	uint64_t size;                   /* content bytes of the current message */
	int reject;                      /* 0, or why the current DATA will be refused */
	bool pending_cr;                 /* last byte was CR */
	bool toolong;                    /* current line passed SMTP_PROTO_LINE_MAX */
	size_t len;                      /* bytes in line */
	char line[SMTP_PROTO_LINE_MAX];
};

/* Initialise with the hostname (kept by reference), limits and callbacks;
 * max_rcpt 0 means 100.  Never fails. */
void smtp_proto_init(struct smtp_proto *p, const char *hostname, size_t max_size, unsigned max_rcpt,
                     const struct smtp_proto_callbacks *cb, void *ctx);

/* Append the 220 greeting to out. */
void smtp_proto_greet(struct smtp_proto *p, struct strbuf *out);

/* Consume n bytes read from the client, appending replies to out, and set
 * p->consumed (n unless the result is SMTP_PROTO_WAIT).  Feed all
 * the bytes of one read in one call: bytes after STARTTLS in the same call
 * (or any call before smtp_proto_tls_started) are plaintext injection:
 * the 220 is replaced by 521 (same call) or followed by it (later call),
 * and the result is SMTP_PROTO_CLOSE.  After CLOSE, input is ignored.
 * Returns what the caller must do next; never fails otherwise. */
enum smtp_proto_status smtp_proto_feed(struct smtp_proto *p, const void *buf, size_t n,
                                       struct strbuf *out);

/* Answer the deferred callback with reply (one or more complete reply
 * lines, CRLF-terminated; copied to out).  For a deferred RCPT a reply
 * starting with '2' counts the recipient; after a deferred message the
 * session is ready for a new transaction.  Then feed the input kept back.
 * Returns false (and does nothing) if nothing was deferred. */
bool smtp_proto_resume(struct smtp_proto *p, const char *reply, struct strbuf *out);

/* The TLS handshake after SMTP_PROTO_STARTTLS succeeded: forget all input
 * state and the EHLO (RFC 3207 4.2); the client must greet again. */
void smtp_proto_tls_started(struct smtp_proto *p);

#endif

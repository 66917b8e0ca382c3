/*
 * smtp_client - the client side of SMTP to a next hop, blocking, with a
 * timeout on every step and STARTTLS through OpenSSL.
 *
 * One struct smtp_client is one connection, used by one thread at a time
 * (any thread).  Every function that talks returns the reply code (200..599)
 * or 0 when there was no usable reply (connect failure, timeout, connection
 * lost, TLS failure, malformed reply, or a reply of the wrong class such as
 * 250 to DATA): then err says why and the connection is dead
 * (smtp_client_alive false).  A 421 is returned as it is and also ends the
 * connection.  Nothing is retried here.  A timeout of 0 counts as 1 s.
 *
 * SECURITY
 *	Replies are untrusted: lines are limited (SMTP_CLIENT_REPLY_MAX per
 *	line, SMTP_CLIENT_REPLY_LINES lines), codes must be three digits and
 *	agree across a multi-line reply, and reply text handed back is cut to
 *	printable ASCII.  Content is sent with every line ending normalised to
 *	CRLF (a bare CR or bare LF becomes CRLF) and dot-stuffed, so no bare CR
 *	or LF and no early end-of-data can ever be emitted.  Plaintext buffered
 *	from the server after our STARTTLS is an error (no injection).
 */
#ifndef SEKISHO_SMTP_CLIENT_H
#define SEKISHO_SMTP_CLIENT_H

#include "relay_conf.h"
#include "strbuf.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#define SMTP_CLIENT_REPLY_MAX 1000 /* octets per reply line */
#define SMTP_CLIENT_REPLY_LINES 100

/* Read only during smtp_client_connect (the strings are not kept). */
struct smtp_client_opts {
	const char *helo_name;      /* our EHLO name */
	enum relay_tls_mode tls;    /* NONE, MAY, ENCRYPT, VERIFY (relay_conf.h) */
	const char *ca_file;        /* VERIFY: CA bundle (NULL = system default) */
	const char *verify_name;    /* VERIFY: name or address the certificate must match */
	unsigned connect_timeout_s; /* connect + greeting, one deadline */
	unsigned cmd_timeout_s;     /* each command: its send and reply; also the
	                             * TLS handshake */
	unsigned data_timeout_s;    /* content: each write must progress within it;
	                             * then the reply to "." within it */
};

struct smtp_reply {
	int code;       /* 0 = no reply */
	char enh[16];   /* enhanced status code ("2.0.0"), or "" */
	char text[512]; /* text of the last line after code and enh, printable ASCII */
};

struct smtp_client;

/* Connect to addr, read the greeting, EHLO (HELO if EHLO is refused), and
 * STARTTLS as opts->tls asks (then EHLO again).  Returns the client, or
 * NULL with the next hop's reply in reply_r (code 4xx/5xx: it refused us)
 * or code 0 and the reason in err.  With ENCRYPT/VERIFY a next hop that
 * does not offer STARTTLS, or whose handshake or verification fails, is a
 * failure (code 0, err says so). */
struct smtp_client *smtp_client_connect(const struct sockaddr *addr, socklen_t addrlen,
                                        const struct smtp_client_opts *opts,
                                        struct smtp_reply *reply_r, struct strbuf *err);

/* MAIL FROM:<from> [SIZE=size] [BODY=8BITMIME when body_8bit and offered]. */
int smtp_client_mail(struct smtp_client *c, const char *from, size_t size, bool body_8bit,
                     struct smtp_reply *reply_r, struct strbuf *err);
/* RCPT TO:<to>. */
int smtp_client_rcpt(struct smtp_client *c, const char *to, struct smtp_reply *reply_r,
                     struct strbuf *err);
/* DATA, then (after 354) len bytes of msg with line ends normalised to CRLF
 * and dot-stuffed, a final CRLF if missing, and ".".  Returns the reply to
 * DATA when it is not 354, else the reply to ".". */
int smtp_client_data(struct smtp_client *c, const char *msg, size_t len, struct smtp_reply *reply_r,
                     struct strbuf *err);
/* RSET (to reuse the connection for another transaction). */
int smtp_client_rset(struct smtp_client *c, struct smtp_reply *reply_r, struct strbuf *err);

bool smtp_client_alive(const struct smtp_client *c);
bool smtp_client_tls(const struct smtp_client *c); /* TLS is active */
bool smtp_client_has_ext(const struct smtp_client *c,
                         const char *ext); /* from EHLO, e.g. "8BITMIME" */

/* Send QUIT (best effort, short timeout) and free; c may be NULL. */
void smtp_client_quit(struct smtp_client *c);
/* Close without QUIT and free; c may be NULL. */
void smtp_client_close(struct smtp_client *c);

/* "code enh text" of a reply as one CRLF-terminated line for our own
 * client, e.g. "550 5.1.1 <x@y>: Recipient address rejected\r\n"; enh is
 * synthesised from the code's class when the next hop sent none (2.0.0,
 * 4.0.0, 5.0.0; none for other classes).  Code 0 (no reply) is written as
 * "451 4.4.0 " followed by the text or "No usable reply from next hop". */
void smtp_reply_format(const struct smtp_reply *r, struct strbuf *out);

/* Parse one reply at the start of buf[0..len) (pure: no I/O, no state).
 * Lines end in LF (a CR before it is dropped) and hold at most
 * SMTP_CLIENT_REPLY_MAX octets with the line end; at most
 * SMTP_CLIENT_REPLY_LINES lines; each starts with the same three-digit code
 * (2..5, 0..9, 0..9) followed by '-' (more lines follow), ' ' or the line
 * end (last line).  Returns 1 with the reply in r and the octets it used in
 * used_r (bytes after it are the next reply); 0 when buf holds no complete
 * reply yet but may once more bytes come; -1 when it is malformed (r->code
 * 0).  r->enh is the last line's enhanced code when it has one whose class
 * agrees with the code; r->text is the rest of that line, every byte outside
 * 0x20..0x7e replaced by '?', cut to fit. */
int smtp_client_parse_reply(const char *buf, size_t len, size_t *used_r, struct smtp_reply *r);

#endif

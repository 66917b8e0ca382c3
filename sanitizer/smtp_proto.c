/*
 * smtp_proto - the server side of SMTP as a pure state machine.
 *
 * SUMMARY
 *	Bytes are taken one at a time into a line buffer; a line ends only at
 *	CRLF.  Command lines are parsed and answered; in DATA each line is
 *	dot-unstuffed and handed to the data callback, and the line "." ends
 *	the message.  Replies carry RFC 3463 enhanced status codes.
 *
 * SECURITY
 *	Input is untrusted; memory is the fixed line buffer.  Bare CR, bare
 *	LF and NUL are fatal (521 and close) rather than rejected-and-read-on:
 *	after one, where the sender believes the message ends is unknowable,
 *	and closing is the one answer under which no later byte is read as a
 *	command (cf. Postfix smtpd_forbid_bare_newline).  An overlong line or
 *	an oversized message keeps the framing intact: the content is dropped
 *	and the message refused (554/552) at its real CRLF.CRLF end.
 *
 * DIAGNOSTICS
 *	SMTP replies only.
 */
#include "smtp_proto.h"

#include <string.h>

#define SMTP_PROTO_DEFAULT_RCPT 100

enum {
	SMTP_PROTO_REJ_NONE,
	SMTP_PROTO_REJ_LINE,
	SMTP_PROTO_REJ_SIZE,
};

void smtp_proto_init(struct smtp_proto *p, const char *hostname, size_t max_size, unsigned max_rcpt,
                     const struct smtp_proto_callbacks *cb, void *ctx)
{
	memset(p, 0, sizeof(*p));
	p->hostname = hostname;
	p->max_size = max_size;
	p->max_rcpt = max_rcpt ? max_rcpt : SMTP_PROTO_DEFAULT_RCPT;
	p->cb = cb;
	p->ctx = ctx;
	p->state = SMTP_PROTO_S_CONNECTED;
}

void smtp_proto_greet(struct smtp_proto *p, struct strbuf *out)
{
	strbuf_printf(out, "220 %s ESMTP\r\n", p->hostname);
}

static void smtp_proto_abort(struct smtp_proto *p)
{
	if (p->state == SMTP_PROTO_S_MAIL || p->state == SMTP_PROTO_S_DATA)
		p->cb->abort(p->ctx);
	p->nrcpt = 0;
	p->size = 0;
	p->reject = SMTP_PROTO_REJ_NONE;
	if (p->state == SMTP_PROTO_S_MAIL || p->state == SMTP_PROTO_S_DATA)
		p->state = SMTP_PROTO_S_GREETED;
}

static void smtp_proto_fatal(struct smtp_proto *p, struct strbuf *out, const char *reply)
{
	smtp_proto_abort(p);
	strbuf_puts(out, reply);
	p->state = SMTP_PROTO_S_CLOSED;
}

/* Count an error; after too many, close. */
static void smtp_proto_error(struct smtp_proto *p, struct strbuf *out, const char *reply)
{
	strbuf_puts(out, reply);
	if (++p->nerrors >= SMTP_PROTO_MAX_ERRORS)
		smtp_proto_fatal(p, out, "421 4.7.0 Too many errors\r\n");
}

static bool smtp_proto_ieq(const char *a, size_t n, const char *b)
{
	if (strlen(b) != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = a[i];
		if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		if (c != b[i])
			return false;
	}
	return true;
}

static bool smtp_proto_iprefix(const char *a, const char *prefix)
{
	size_t n = strlen(prefix);
	return strlen(a) >= n && smtp_proto_ieq(a, n, prefix);
}

/* Parse "<path>" at *s (after "FROM:"/"TO:" and optional spaces); the path
 * is copied to path_r.  Returns false on bad syntax. */
static bool smtp_proto_path(const char **s, char *path_r, bool allow_empty)
{
	const char *q = *s;
	while (*q == ' ')
		q++;
	if (*q != '<')
		return false;
	const char *end = strchr(q + 1, '>');
	if (!end)
		return false;
	size_t n = (size_t)(end - (q + 1));
	if (n >= SMTP_PROTO_PATH_MAX || (n == 0 && !allow_empty))
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)q[1 + i];
		if (c <= ' ' || c >= 0x7f || c == '<')
			return false;
	}
	memcpy(path_r, q + 1, n);
	path_r[n] = '\0';
	*s = end + 1;
	return **s == '\0' || **s == ' ';
}

static void smtp_proto_ehlo(struct smtp_proto *p, struct strbuf *out, bool ehlo, const char *arg)
{
	if (!*arg) {
		smtp_proto_error(p, out, "501 5.5.4 Syntax: EHLO hostname\r\n");
		return;
	}
	smtp_proto_abort(p);
	p->state = SMTP_PROTO_S_GREETED;
	if (!ehlo) {
		strbuf_printf(out, "250 %s\r\n", p->hostname);
		return;
	}
	strbuf_printf(out, "250-%s\r\n250-PIPELINING\r\n", p->hostname);
	if (p->max_size)
		strbuf_printf(out, "250-SIZE %zu\r\n", p->max_size);
	if (p->tls_available && !p->tls)
		strbuf_puts(out, "250-STARTTLS\r\n");
	strbuf_puts(out, "250-8BITMIME\r\n250 ENHANCEDSTATUSCODES\r\n");
}

static void smtp_proto_mail(struct smtp_proto *p, struct strbuf *out, const char *arg)
{
	char path[SMTP_PROTO_PATH_MAX];

	if (p->state == SMTP_PROTO_S_CONNECTED) {
		smtp_proto_error(p, out, "503 5.5.1 Send EHLO first\r\n");
		return;
	}
	if (p->state == SMTP_PROTO_S_MAIL) {
		smtp_proto_error(p, out, "503 5.5.1 Nested MAIL command\r\n");
		return;
	}
	if (!smtp_proto_iprefix(arg, "FROM:")) {
		smtp_proto_error(p, out, "501 5.5.4 Syntax: MAIL FROM:<address>\r\n");
		return;
	}
	arg += 5;
	if (!smtp_proto_path(&arg, path, true)) {
		smtp_proto_error(p, out, "501 5.1.7 Bad sender address syntax\r\n");
		return;
	}
	while (*arg == ' ') {
		while (*arg == ' ')
			arg++;
		if (!*arg)
			break;
		const char *param = arg;
		while (*arg && *arg != ' ')
			arg++;
		size_t n = (size_t)(arg - param);
		if (n > 5 && smtp_proto_ieq(param, 5, "SIZE=")) {
			unsigned long long v = 0;
			for (size_t i = 5; i < n; i++) {
				if (param[i] < '0' || param[i] > '9' || v > 1000000000000ULL) {
					smtp_proto_error(p, out, "501 5.5.4 Bad SIZE\r\n");
					return;
				}
				v = v * 10 + (unsigned)(param[i] - '0');
			}
			if (p->max_size && v > p->max_size) {
				smtp_proto_error(p, out,
				                 "552 5.3.4 Message size exceeds fixed limit\r\n");
				return;
			}
		} else if (smtp_proto_ieq(param, n, "BODY=8BITMIME") ||
		           smtp_proto_ieq(param, n, "BODY=7BIT")) {
			/* nothing to do: content is passed on as received */
		} else {
			smtp_proto_error(p, out, "555 5.5.4 Unsupported MAIL parameter\r\n");
			return;
		}
	}
	if (!p->cb->mail(p->ctx, path)) {
		strbuf_puts(out, "550 5.7.1 Sender rejected\r\n");
		return;
	}
	p->state = SMTP_PROTO_S_MAIL;
	p->nrcpt = 0;
	strbuf_puts(out, "250 2.1.0 Ok\r\n");
}

static void smtp_proto_rcpt(struct smtp_proto *p, struct strbuf *out, const char *arg)
{
	char path[SMTP_PROTO_PATH_MAX];

	if (p->state != SMTP_PROTO_S_MAIL) {
		smtp_proto_error(p, out, "503 5.5.1 Need MAIL before RCPT\r\n");
		return;
	}
	if (!smtp_proto_iprefix(arg, "TO:")) {
		smtp_proto_error(p, out, "501 5.5.4 Syntax: RCPT TO:<address>\r\n");
		return;
	}
	arg += 3;
	if (!smtp_proto_path(&arg, path, false)) {
		smtp_proto_error(p, out, "501 5.1.3 Bad recipient address syntax\r\n");
		return;
	}
	while (*arg == ' ')
		arg++;
	if (*arg) {
		smtp_proto_error(p, out, "555 5.5.4 Unsupported RCPT parameter\r\n");
		return;
	}
	if (p->nrcpt >= p->max_rcpt) {
		strbuf_puts(out, "452 4.5.3 Too many recipients\r\n");
		return;
	}
	enum smtp_proto_verdict v = p->cb->rcpt(p->ctx, path);
	if (v == SMTP_PROTO_DEFER) {
		p->wait_from = p->state;
		p->wait_message = false;
		p->state = SMTP_PROTO_S_WAIT;
		return;
	}
	if (v != SMTP_PROTO_ACCEPT) {
		strbuf_puts(out, "550 5.1.1 Recipient rejected\r\n");
		return;
	}
	p->nrcpt++;
	strbuf_puts(out, "250 2.1.5 Ok\r\n");
}

/* One complete command line (CRLF stripped, NUL-terminated, no CR/LF/NUL). */
static enum smtp_proto_status smtp_proto_command(struct smtp_proto *p, struct strbuf *out)
{
	const char *verb = p->line;
	size_t vlen = strcspn(verb, " ");
	const char *arg = verb + vlen;
	while (*arg == ' ')
		arg++;

	if (smtp_proto_ieq(verb, vlen, "EHLO") || smtp_proto_ieq(verb, vlen, "HELO")) {
		smtp_proto_ehlo(p, out, smtp_proto_ieq(verb, vlen, "EHLO"), arg);
	} else if (smtp_proto_ieq(verb, vlen, "MAIL")) {
		smtp_proto_mail(p, out, arg);
	} else if (smtp_proto_ieq(verb, vlen, "RCPT")) {
		smtp_proto_rcpt(p, out, arg);
	} else if (smtp_proto_ieq(verb, vlen, "DATA")) {
		if (*arg)
			smtp_proto_error(p, out, "501 5.5.4 Syntax: DATA\r\n");
		else if (p->state != SMTP_PROTO_S_MAIL)
			smtp_proto_error(p, out, "503 5.5.1 Need MAIL command\r\n");
		else if (p->nrcpt == 0)
			smtp_proto_error(p, out, "554 5.5.1 No valid recipients\r\n");
		else {
			p->state = SMTP_PROTO_S_DATA;
			p->size = 0;
			p->reject = SMTP_PROTO_REJ_NONE;
			strbuf_puts(out, "354 End data with <CR><LF>.<CR><LF>\r\n");
		}
	} else if (smtp_proto_ieq(verb, vlen, "RSET")) {
		if (*arg) {
			smtp_proto_error(p, out, "501 5.5.4 Syntax: RSET\r\n");
		} else {
			smtp_proto_abort(p);
			strbuf_puts(out, "250 2.0.0 Ok\r\n");
		}
	} else if (smtp_proto_ieq(verb, vlen, "NOOP")) {
		strbuf_puts(out, "250 2.0.0 Ok\r\n");
	} else if (smtp_proto_ieq(verb, vlen, "QUIT")) {
		smtp_proto_abort(p);
		strbuf_puts(out, "221 2.0.0 Bye\r\n");
		p->state = SMTP_PROTO_S_CLOSED;
		return SMTP_PROTO_CLOSE;
	} else if (smtp_proto_ieq(verb, vlen, "VRFY")) {
		strbuf_puts(out, "502 5.5.1 VRFY command is disabled\r\n");
	} else if (smtp_proto_ieq(verb, vlen, "BDAT")) {
		/* CHUNKING is not advertised: a conforming client never sends
		 * BDAT, and the chunk bytes of a hostile one can only be its
		 * own commands. */
		smtp_proto_error(p, out, "502 5.5.1 BDAT not implemented\r\n");
	} else if (smtp_proto_ieq(verb, vlen, "STARTTLS")) {
		if (!p->tls_available || p->tls)
			smtp_proto_error(p, out, "502 5.5.1 STARTTLS not available\r\n");
		else if (*arg)
			smtp_proto_error(p, out, "501 5.5.4 Syntax: STARTTLS\r\n");
		else if (p->state == SMTP_PROTO_S_CONNECTED)
			smtp_proto_error(p, out, "503 5.5.1 Send EHLO first\r\n");
		else {
			smtp_proto_abort(p);
			strbuf_puts(out, "220 2.0.0 Ready to start TLS\r\n");
			p->state = SMTP_PROTO_S_TLS_WAIT;
			return SMTP_PROTO_STARTTLS;
		}
	} else {
		smtp_proto_error(p, out, "500 5.5.2 Command unrecognized\r\n");
	}
	return p->state == SMTP_PROTO_S_CLOSED ? SMTP_PROTO_CLOSE : SMTP_PROTO_OK;
}

/* One complete DATA line (CRLF stripped, no CR/LF/NUL). */
static void smtp_proto_data_line(struct smtp_proto *p, struct strbuf *out)
{
	if (!p->toolong && p->len == 1 && p->line[0] == '.') {
		int reject = p->reject;
		if (reject == SMTP_PROTO_REJ_LINE) {
			smtp_proto_abort(p);
			strbuf_puts(out, "554 5.6.0 Message line too long\r\n");
		} else if (reject == SMTP_PROTO_REJ_SIZE) {
			smtp_proto_abort(p);
			strbuf_puts(out, "552 5.3.4 Message size exceeds fixed limit\r\n");
		} else {
			p->state = SMTP_PROTO_S_GREETED;
			p->nrcpt = 0;
			enum smtp_proto_verdict v = p->cb->message(p->ctx);
			if (v == SMTP_PROTO_DEFER) {
				p->wait_from = SMTP_PROTO_S_GREETED;
				p->wait_message = true;
				p->state = SMTP_PROTO_S_WAIT;
			} else if (v == SMTP_PROTO_ACCEPT) {
				strbuf_puts(out, "250 2.0.0 Ok: queued\r\n");
			} else {
				strbuf_puts(out, "451 4.3.0 Message not accepted, try again\r\n");
			}
		}
		return;
	}
	if (p->toolong)
		p->reject = SMTP_PROTO_REJ_LINE;
	p->size += p->len + 2;
	if (p->max_size && p->size > p->max_size && !p->reject)
		p->reject = SMTP_PROTO_REJ_SIZE;
	if (p->reject)
		return;
	const char *s = p->line;
	size_t n = p->len;
	if (n > 0 && s[0] == '.') {
		s++;
		n--;
	}
	/* the buffer has room for CRLF: len <= SMTP_PROTO_LINE_MAX - 2 */
	memmove(p->line, s, n);
	p->line[n] = '\r';
	p->line[n + 1] = '\n';
	p->cb->data(p->ctx, p->line, n + 2);
}

enum smtp_proto_status smtp_proto_feed(struct smtp_proto *p, const void *buf, size_t n,
                                       struct strbuf *out)
{
	const unsigned char *b = buf;
	enum smtp_proto_status st = SMTP_PROTO_OK;
	size_t tls_mark = 0;

	p->consumed = 0;
	if (p->state == SMTP_PROTO_S_WAIT)
		return SMTP_PROTO_WAIT;
	p->consumed = n;
	for (size_t i = 0; i < n; i++) {
		if (p->state == SMTP_PROTO_S_CLOSED)
			return SMTP_PROTO_CLOSE;
		if (p->state == SMTP_PROTO_S_WAIT) {
			p->consumed = i;
			return SMTP_PROTO_WAIT;
		}
		if (p->state == SMTP_PROTO_S_TLS_WAIT) {
			/* plaintext after STARTTLS: injection (CVE-2011-0411) */
			if (st == SMTP_PROTO_STARTTLS) {
				out->len = tls_mark;
				out->s[tls_mark] = '\0';
			}
			smtp_proto_fatal(
			    p, out, "521 5.5.1 Commands pipelined after STARTTLS; closing\r\n");
			return SMTP_PROTO_CLOSE;
		}
		unsigned char c = b[i];
		p->offset++;
		if (p->pending_cr) {
			p->pending_cr = false;
			if (c != '\n') {
				smtp_proto_fatal(p, out, "521 5.5.2 Bare CR received; closing\r\n");
				return SMTP_PROTO_CLOSE;
			}
			bool toolong = p->toolong;
			p->line[p->len] = '\0';
			if (p->state == SMTP_PROTO_S_DATA) {
				smtp_proto_data_line(p, out);
			} else if (toolong) {
				smtp_proto_error(p, out, "500 5.5.2 Line too long\r\n");
			} else {
				size_t mark = out->len;
				enum smtp_proto_status r = smtp_proto_command(p, out);
				if (r == SMTP_PROTO_STARTTLS)
					tls_mark = mark;
				st = r;
			}
			p->len = 0;
			p->toolong = false;
			if (p->state == SMTP_PROTO_S_CLOSED)
				return SMTP_PROTO_CLOSE;
			continue;
		}
		if (c == '\r') {
			p->pending_cr = true;
		} else if (c == '\n') {
			smtp_proto_fatal(p, out, "521 5.5.2 Bare LF received; closing\r\n");
			return SMTP_PROTO_CLOSE;
		} else if (c == '\0') {
			smtp_proto_fatal(p, out, "521 5.5.2 NUL received; closing\r\n");
			return SMTP_PROTO_CLOSE;
		} else if (p->len < SMTP_PROTO_LINE_MAX - 2) {
			p->line[p->len++] = (char)c;
		} else {
			p->toolong = true;
		}
	}
	if (p->state == SMTP_PROTO_S_CLOSED)
		return SMTP_PROTO_CLOSE;
	if (p->state == SMTP_PROTO_S_WAIT)
		return SMTP_PROTO_WAIT;
	if (p->state == SMTP_PROTO_S_TLS_WAIT) {
		if (p->pending_cr || p->len > 0) {
			smtp_proto_fatal(p, out, "521 5.5.1 Commands pipelined after STARTTLS\r\n");
			return SMTP_PROTO_CLOSE;
		}
		return SMTP_PROTO_STARTTLS;
	}
	return st == SMTP_PROTO_STARTTLS ? SMTP_PROTO_OK : st;
}

bool smtp_proto_resume(struct smtp_proto *p, const char *reply, struct strbuf *out)
{
	if (p->state != SMTP_PROTO_S_WAIT)
		return false;
	strbuf_puts(out, reply);
	p->state = p->wait_from;
	if (p->wait_message)
		p->nrcpt = 0;
	else if (reply[0] == '2')
		p->nrcpt++;
	return true;
}

void smtp_proto_tls_started(struct smtp_proto *p)
{
	if (p->state != SMTP_PROTO_S_TLS_WAIT)
		return;
	p->state = SMTP_PROTO_S_CONNECTED;
	p->tls = true;
	p->pending_cr = false;
	p->toolong = false;
	p->len = 0;
	p->nrcpt = 0;
}

/*
 * fuzz_smtp - libFuzzer target for sanitizer/smtp_proto.c.
 *
 * The input is the client's byte stream, fed whole and then in chunks whose
 * sizes come from the input itself; both feeds must give the same replies
 * and messages.  Invariants checked on every message: the input consumed so
 * far ends with CRLF.CRLF, and its content holds no bare CR, bare LF or NUL
 * and no line over 1000 octets.
 */
#include "smtp_proto.h"
#include "strbuf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct fz {
	const uint8_t *in;
	const struct smtp_proto *p;
	struct strbuf cur;
	struct strbuf msgs;
	unsigned nmsg;
	unsigned nrcpt;
};

static bool fz_yes(void *ctx, const char *s)
{
	(void)ctx;
	return s[0] != 'r';
}

/* Every second recipient is answered later through smtp_proto_resume. */
static enum smtp_proto_verdict fz_rcpt(void *ctx, const char *s)
{
	struct fz *f = ctx;
	if (s[0] == 'r')
		return SMTP_PROTO_REFUSE;
	return (f->nrcpt++ % 2) ? SMTP_PROTO_DEFER : SMTP_PROTO_ACCEPT;
}

static void fz_data(void *ctx, const char *line, size_t len)
{
	struct fz *f = ctx;
	if (len < 2 || len > SMTP_PROTO_LINE_MAX || line[len - 2] != '\r' || line[len - 1] != '\n')
		abort();
	for (size_t i = 0; i + 2 < len; i++)
		if (line[i] == '\r' || line[i] == '\n' || line[i] == '\0')
			abort();
	strbuf_append(&f->cur, line, len);
}

static enum smtp_proto_verdict fz_message(void *ctx)
{
	struct fz *f = ctx;
	uint64_t off = f->p->offset;
	if (off < 5 || memcmp(f->in + off - 5, "\r\n.\r\n", 5) != 0)
		abort();
	strbuf_append(&f->msgs, f->cur.s ? f->cur.s : "", f->cur.len);
	strbuf_puts(&f->msgs, "\n==\n");
	strbuf_reset(&f->cur);
	f->nmsg++;
	return f->nmsg % 3 == 2   ? SMTP_PROTO_REFUSE
	       : f->nmsg % 3 == 1 ? SMTP_PROTO_DEFER
	                          : SMTP_PROTO_ACCEPT;
}

static void fz_abort(void *ctx)
{
	struct fz *f = ctx;
	strbuf_reset(&f->cur);
}

static const struct smtp_proto_callbacks fz_cb = {
    fz_yes, fz_rcpt, fz_data, fz_message, fz_abort,
};

static void fz_run(const uint8_t *data, size_t size, bool chunked, struct strbuf *out, struct fz *f)
{
	struct smtp_proto p;
	memset(f, 0, sizeof(*f));
	f->in = data;
	f->p = &p;
	strbuf_init(&f->cur, 0);
	strbuf_init(&f->msgs, 0);
	smtp_proto_init(&p, "mx.fuzz", 4096, 5, &fz_cb, f);
	p.tls_available = true;
	smtp_proto_greet(&p, out);
	size_t off = 0;
	unsigned k = 0;
	while (off < size) {
		size_t n = size - off;
		if (chunked) {
			n = (size_t)(data[k++ % size] % 7) + 1;
			if (n > size - off)
				n = size - off;
		}
		enum smtp_proto_status st = smtp_proto_feed(&p, data + off, n, out);
		if (st == SMTP_PROTO_WAIT) {
			/* the kept-back bytes are fed again after the answer */
			if (p.consumed > n)
				abort();
			off += p.consumed;
			if (!smtp_proto_resume(
			        &p, p.wait_message ? "250 2.0.0 later\r\n" : "451 4.4.1 later\r\n",
			        out))
				abort();
			continue;
		}
		if (p.consumed != n)
			abort();
		off += n;
		if (st == SMTP_PROTO_CLOSE)
			break;
		if (st == SMTP_PROTO_STARTTLS && !chunked)
			smtp_proto_tls_started(&p);
	}
	strbuf_free(&f->cur);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct strbuf out1, out2;
	struct fz f1, f2;
	strbuf_init(&out1, 0);
	strbuf_init(&out2, 0);
	fz_run(data, size, false, &out1, &f1);
	fz_run(data, size, true, &out2, &f2);
	/* A STARTTLS makes the feeds differ (chunked never completes the
	 * handshake, and a whole feed has its 220 replaced by 521): compare
	 * only when neither feed reached it. */
	const char *o1 = out1.s ? out1.s : "", *o2 = out2.s ? out2.s : "";
	if (!strstr(o1, "220 2.0.0") && !strstr(o2, "220 2.0.0") && !strstr(o1, "521 5.5.1")) {
		if (strcmp(o1, o2) != 0)
			abort();
		if (strcmp(f1.msgs.s ? f1.msgs.s : "", f2.msgs.s ? f2.msgs.s : "") != 0)
			abort();
	}
	strbuf_free(&f1.msgs);
	strbuf_free(&f2.msgs);
	strbuf_free(&out1);
	strbuf_free(&out2);
	return 0;
}

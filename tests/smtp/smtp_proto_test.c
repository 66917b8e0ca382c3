/*
 * smtp_proto_test - hostile client input against sanitizer/smtp_proto.c.
 *
 * Each case is fed whole and byte by byte; both feeds must give the same
 * replies and messages.  The smuggling cases end the first message with
 * every malformed end-of-data and pipeline a second one behind it: never a
 * second message, never the smuggled content accepted.
 */
#include "smtp_proto.h"
#include "strbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rec {
	struct strbuf cur;  /* content of the open transaction */
	struct strbuf msgs; /* accepted messages, each followed by "\n==\n" */
	int nmsg;
	int naborts;
};

static bool rec_mail(void *ctx, const char *from)
{
	(void)ctx;
	return strcmp(from, "reject@x") != 0;
}

static enum smtp_proto_verdict rec_rcpt(void *ctx, const char *to)
{
	(void)ctx;
	if (strcmp(to, "later@x") == 0)
		return SMTP_PROTO_DEFER;
	return strcmp(to, "reject@x") != 0 ? SMTP_PROTO_ACCEPT : SMTP_PROTO_REFUSE;
}

static void rec_data(void *ctx, const char *line, size_t len)
{
	struct rec *r = ctx;
	strbuf_append(&r->cur, line, len);
}

static enum smtp_proto_verdict rec_message(void *ctx)
{
	struct rec *r = ctx;
	if (r->cur.s && strstr(r->cur.s, "Subject: later")) {
		strbuf_reset(&r->cur);
		return SMTP_PROTO_DEFER;
	}
	strbuf_append(&r->msgs, r->cur.s ? r->cur.s : "", r->cur.len);
	strbuf_puts(&r->msgs, "\n==\n");
	strbuf_reset(&r->cur);
	r->nmsg++;
	return SMTP_PROTO_ACCEPT;
}

static void rec_abort(void *ctx)
{
	struct rec *r = ctx;
	strbuf_reset(&r->cur);
	r->naborts++;
}

static const struct smtp_proto_callbacks rec_cb = {
    rec_mail, rec_rcpt, rec_data, rec_message, rec_abort,
};

struct run {
	struct strbuf out;
	struct rec rec;
	enum smtp_proto_status last;
	bool closed;
	int ndefer;
};

static int failures;

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: %s: CHECK failed: %s\n", __FILE__, __LINE__,       \
			        test_name, #cond);                                                 \
			failures++;                                                                \
		}                                                                                  \
	} while (0)

static const char *test_name;

/* Feed in chunks of step bytes (0 = whole). */
static void run_feed(struct run *r, const char *in, size_t n, size_t step, bool tls)
{
	struct smtp_proto p;
	memset(r, 0, sizeof(*r));
	strbuf_init(&r->out, 0);
	strbuf_init(&r->rec.cur, 0);
	strbuf_init(&r->rec.msgs, 0);
	smtp_proto_init(&p, "mx.test", 10000, 3, &rec_cb, &r->rec);
	p.tls_available = tls;
	smtp_proto_greet(&p, &r->out);
	size_t off = 0;
	r->last = SMTP_PROTO_OK;
	while (off < n && !r->closed) {
		size_t k = step ? step : n;
		if (k > n - off)
			k = n - off;
		r->last = smtp_proto_feed(&p, in + off, k, &r->out);
		if (r->last == SMTP_PROTO_WAIT) {
			/* deferred answers: recipients temp-failed, messages taken */
			off += p.consumed;
			smtp_proto_resume(&p,
			                  p.wait_message ? "250 2.0.0 Deferred ok\r\n"
			                                 : "451 4.4.1 Deferred no\r\n",
			                  &r->out);
			r->ndefer++;
			continue;
		}
		off += k;
		if (r->last == SMTP_PROTO_CLOSE)
			r->closed = true;
		else if (r->last == SMTP_PROTO_STARTTLS && step == 0)
			smtp_proto_tls_started(&p);
	}
}

static void run_free(struct run *r)
{
	strbuf_free(&r->out);
	strbuf_free(&r->rec.cur);
	strbuf_free(&r->rec.msgs);
}

static const char *S(const struct strbuf *b)
{
	return b->s ? b->s : "";
}

/* Feed whole and byte by byte; check both agree; return the whole run. */
static void run_both(struct run *whole, const char *in, size_t n)
{
	struct run bytes;
	run_feed(whole, in, n, 0, false);
	run_feed(&bytes, in, n, 1, false);
	CHECK(strcmp(S(&whole->out), S(&bytes.out)) == 0);
	CHECK(strcmp(S(&whole->rec.msgs), S(&bytes.rec.msgs)) == 0);
	CHECK(whole->rec.nmsg == bytes.rec.nmsg);
	CHECK(whole->closed == bytes.closed);
	run_free(&bytes);
}

#define HEAD "EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nhello\r\n"
#define SMUGGLE "MAIL FROM:<x>\r\nRCPT TO:<y>\r\nDATA\r\nsmuggled\r\n.\r\n"

static void test_smuggling(const char *name, const char *ending, size_t elen)
{
	char in[512];
	size_t n = 0;
	memcpy(in, HEAD, strlen(HEAD));
	n += strlen(HEAD);
	memcpy(in + n, ending, elen);
	n += elen;
	memcpy(in + n, SMUGGLE, strlen(SMUGGLE));
	n += strlen(SMUGGLE);
	test_name = name;
	struct run r;
	run_both(&r, in, n);
	CHECK(r.rec.nmsg <= 1);
	CHECK(strstr(S(&r.rec.msgs), "smuggled") == NULL);
	/* our choice: a bare CR/LF/NUL closes the session, no message at all */
	CHECK(r.rec.nmsg == 0);
	CHECK(r.closed);
	CHECK(strstr(S(&r.out), "\r\n521 5.5.2 ") != NULL);
	CHECK(strstr(S(&r.out), "250 2.0.0 Ok: queued") == NULL);
	run_free(&r);
}

#define T(name, ending) test_smuggling(name, ending, sizeof(ending) - 1)

static void expect(const char *name, const char *in, size_t n, const char *out, int nmsg,
                   const char *msgs, bool closed)
{
	struct run r;
	test_name = name;
	run_both(&r, in, n);
	if (strcmp(S(&r.out), out) != 0) {
		fprintf(stderr, "%s: output\n%s\nexpected\n%s\n", name, S(&r.out), out);
		failures++;
	}
	CHECK(r.rec.nmsg == nmsg);
	if (msgs)
		CHECK(strcmp(S(&r.rec.msgs), msgs) == 0);
	CHECK(r.closed == closed);
	run_free(&r);
}

#define E(name, in, out, nmsg, msgs, closed)                                                       \
	expect(name, in, sizeof(in) - 1, out, nmsg, msgs, closed)

#define G "220 mx.test ESMTP\r\n"
#define EH                                                                                         \
	"250-mx.test\r\n250-PIPELINING\r\n250-SIZE 10000\r\n250-8BITMIME\r\n250 "                  \
	"ENHANCEDSTATUSCODES\r\n"
#define OKS "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n"
#define Q "250 2.0.0 Ok: queued\r\n"

int main(void)
{
	T("smuggle_lf_dot_lf", "\n.\n");
	T("smuggle_cr_dot_cr", "\r.\r");
	T("smuggle_cr_dot_lf", "\r.\n");
	T("smuggle_lf_dot_cr", "\n.\r");
	T("smuggle_lf_dot_crlf", "\n.\r\n");
	T("smuggle_crlf_dot_lf", "\r\n.\n");
	T("smuggle_cr_dot_crlf", "\r.\r\n");
	T("smuggle_crlf_dot_cr", "\r\n.\r");
	T("smuggle_crlf_nul_dot_crlf", "\r\n\0.\r\n");

	E("pipelined_after_proper_end_is_second_message", HEAD ".\r\n" SMUGGLE, G EH OKS Q OKS Q, 2,
	  "hello\r\n\n==\nsmuggled\r\n\n==\n", false);
	E("dot_stuffing_removed", HEAD "..x\r\n...\r\n.\r\n", G EH OKS Q, 1,
	  "hello\r\n.x\r\n..\r\n\n==\n", false);
	E("empty_message", "EHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<c@d>\r\nDATA\r\n.\r\n", G EH OKS Q,
	  1, "\n==\n", false);
	E("bare_lf_in_command", "EHLO c\nMAIL FROM:<a@b>\r\n",
	  G "521 5.5.2 Bare LF received; closing\r\n", 0, NULL, true);
	E("bare_cr_in_command", "EHLO c\rMAIL FROM:<a@b>\r\n",
	  G "521 5.5.2 Bare CR received; closing\r\n", 0, NULL, true);
	E("nul_in_command", "EHLO c\0\r\n", G "521 5.5.2 NUL received; closing\r\n", 0, NULL, true);
	E("bare_lf_mid_data", HEAD "a\nb\r\n.\r\n",
	  G EH OKS "521 5.5.2 Bare LF received; closing\r\n", 0, NULL, true);
	E("bare_cr_mid_data", HEAD "a\rb\r\n.\r\n",
	  G EH OKS "521 5.5.2 Bare CR received; closing\r\n", 0, NULL, true);
	E("mail_before_ehlo", "MAIL FROM:<a@b>\r\n", G "503 5.5.1 Send EHLO first\r\n", 0, NULL,
	  false);
	E("rcpt_before_mail", "HELO c\r\nRCPT TO:<a@b>\r\n",
	  G "250 mx.test\r\n503 5.5.1 Need MAIL before RCPT\r\n", 0, NULL, false);
	E("data_without_rcpt", "HELO c\r\nMAIL FROM:<a@b>\r\nDATA\r\n",
	  G "250 mx.test\r\n250 2.1.0 Ok\r\n554 5.5.1 No valid recipients\r\n", 0, NULL, false);
	E("data_before_mail", "HELO c\r\nDATA\r\nhello\r\n.\r\n",
	  G "250 mx.test\r\n503 5.5.1 Need MAIL command\r\n500 5.5.2 Command unrecognized\r\n"
	    "500 5.5.2 Command unrecognized\r\n",
	  0, NULL, false);
	E("nested_mail", "HELO c\r\nMAIL FROM:<a@b>\r\nMAIL FROM:<a@b>\r\n",
	  G "250 mx.test\r\n250 2.1.0 Ok\r\n503 5.5.1 Nested MAIL command\r\n", 0, NULL, false);
	E("mail_syntax_no_brackets", "HELO c\r\nMAIL FROM:a@b\r\n",
	  G "250 mx.test\r\n501 5.1.7 Bad sender address syntax\r\n", 0, NULL, false);
	E("mail_unknown_param", "HELO c\r\nMAIL FROM:<a@b> FOO=1\r\n",
	  G "250 mx.test\r\n555 5.5.4 Unsupported MAIL parameter\r\n", 0, NULL, false);
	E("mail_size_over_limit", "HELO c\r\nMAIL FROM:<a@b> SIZE=10001 BODY=8BITMIME\r\n",
	  G "250 mx.test\r\n552 5.3.4 Message size exceeds fixed limit\r\n", 0, NULL, false);
	E("mail_size_huge_digits", "HELO c\r\nMAIL FROM:<a@b> SIZE=99999999999999999999999\r\n",
	  G "250 mx.test\r\n501 5.5.4 Bad SIZE\r\n", 0, NULL, false);
	E("mail_size_ok_8bitmime", "HELO c\r\nMAIL FROM:<a@b> SIZE=100 BODY=8BITMIME\r\n",
	  G "250 mx.test\r\n250 2.1.0 Ok\r\n", 0, NULL, false);
	E("rcpt_empty_path", "HELO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<>\r\n",
	  G "250 mx.test\r\n250 2.1.0 Ok\r\n501 5.1.3 Bad recipient address syntax\r\n", 0, NULL,
	  false);
	E("rcpt_limit",
	  "HELO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<1@d>\r\nRCPT TO:<2@d>\r\nRCPT TO:<3@d>\r\n"
	  "RCPT TO:<4@d>\r\n",
	  G "250 mx.test\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n"
	    "452 4.5.3 Too many recipients\r\n",
	  0, NULL, false);
	E("rcpt_rejected_by_callback",
	  "HELO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<reject@x>\r\nDATA\r\n",
	  G "250 mx.test\r\n250 2.1.0 Ok\r\n550 5.1.1 Recipient rejected\r\n"
	    "554 5.5.1 No valid recipients\r\n",
	  0, NULL, false);
	/* deferred answers (the relay asks the next hop first); pipelined
	 * commands after a deferred RCPT/end-of-data wait for the answer */
	E("deferred_rcpt_answered_later_then_pipelined_commands",
	  "EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<later@x>\r\nRCPT TO:<c@d>\r\nDATA\r\nhi\r\n."
	  "\r\nQUIT\r\n",
	  G EH "250 2.1.0 Ok\r\n451 4.4.1 Deferred no\r\n250 2.1.5 Ok\r\n354 End data with "
	       "<CR><LF>.<CR><LF>\r\n" Q "221 2.0.0 Bye\r\n",
	  1, "hi\r\n\n==\n", true);
	E("deferred_message_answered_later_then_next_transaction",
	  HEAD "Subject: later\r\n.\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nx\r\n.\r\n",
	  G EH OKS "250 2.0.0 Deferred ok\r\n" OKS Q, 1, "x\r\n\n==\n", false);
	E("rset_aborts_transaction", "HELO c\r\nMAIL FROM:<a@b>\r\nRSET\r\nRCPT TO:<c@d>\r\n",
	  G "250 mx.test\r\n250 2.1.0 Ok\r\n250 2.0.0 Ok\r\n503 5.5.1 Need MAIL before RCPT\r\n", 0,
	  NULL, false);
	E("vrfy_refused_bdat_refused_noop", "VRFY root\r\nBDAT 10 LAST\r\nNOOP\r\n",
	  G "502 5.5.1 VRFY command is disabled\r\n502 5.5.1 BDAT not implemented\r\n250 2.0.0 "
	    "Ok\r\n",
	  0, NULL, false);
	E("ehlo_without_argument", "EHLO\r\nHELO \r\n",
	  G "501 5.5.4 Syntax: EHLO hostname\r\n501 5.5.4 Syntax: EHLO hostname\r\n", 0, NULL,
	  false);
	E("ehlo_mid_transaction_resets", "HELO c\r\nMAIL FROM:<a@b>\r\nEHLO c\r\nRCPT TO:<c@d>\r\n",
	  G "250 mx.test\r\n250 2.1.0 Ok\r\n" EH "503 5.5.1 Need MAIL before RCPT\r\n", 0, NULL,
	  false);
	E("dot_line_split_by_bare_cr_in_data", HEAD ".\r.\r\n" SMUGGLE,
	  G EH OKS "521 5.5.2 Bare CR received; closing\r\n", 0, "", true);
	E("mail_path_with_control_byte", "HELO c\r\nMAIL FROM:<a\x01@b>\r\n",
	  G "250 mx.test\r\n501 5.1.7 Bad sender address syntax\r\n", 0, NULL, false);
	E("quit_ignores_rest", "QUIT\r\nHELO c\r\n", G "221 2.0.0 Bye\r\n", 0, NULL, true);
	E("unknown_and_empty_command", "FOO\r\n\r\n",
	  G "500 5.5.2 Command unrecognized\r\n500 5.5.2 Command unrecognized\r\n", 0, NULL, false);
	E("starttls_unavailable", "EHLO c\r\nSTARTTLS\r\n",
	  G EH "502 5.5.1 STARTTLS not available\r\n", 0, NULL, false);

	/* long lines: 998 octets + CRLF is the limit */
	{
		static char in[4096];
		size_t n = 0;
		const char *h = "HELO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n";
		memcpy(in, h, strlen(h));
		n = strlen(h);
		memset(in + n, 'x', 998);
		n += 998;
		memcpy(in + n, "\r\n", 2);
		n += 2;
		memset(in + n, 'y', 999);
		n += 999;
		const char *t = "\r\n.\r\nNOOP\r\n";
		memcpy(in + n, t, strlen(t));
		n += strlen(t);
		expect("data_line_999_octets_rejected_at_real_end", in, n,
		       G "250 mx.test\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
		         "354 End data with <CR><LF>.<CR><LF>\r\n"
		         "554 5.6.0 Message line too long\r\n250 2.0.0 Ok\r\n",
		       0, "", false);
		n = 0;
		memcpy(in, "NOOP ", 5);
		memset(in + 5, 'x', 993);
		n = 998;
		memcpy(in + n, "\r\nNOOP ", 7);
		n += 7;
		memset(in + n, 'x', 994);
		n += 994;
		memcpy(in + n, "\r\n", 2);
		n += 2;
		expect("command_line_999_octets", in, n,
		       G "250 2.0.0 Ok\r\n500 5.5.2 Line too long\r\n", 0, NULL, false);
	}
	/* 998 octets + CRLF is allowed, in a command and in DATA */
	{
		static char in[4096];
		const char *h = "HELO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n";
		size_t n = strlen(h);
		memcpy(in, h, n);
		memset(in + n, 'x', 998);
		n += 998;
		memcpy(in + n, "\r\n.\r\n", 5);
		n += 5;
		static char want[1024];
		memset(want, 'x', 998);
		memcpy(want + 998, "\r\n\n==\n", 6);
		expect("data_line_998_octets_accepted", in, n,
		       G "250 mx.test\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
		         "354 End data with <CR><LF>.<CR><LF>\r\n" Q,
		       1, want, false);
	}
	/* message size: 10000 content bytes, rejected at the real end */
	{
		static char in[16384];
		const char *h = "HELO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n";
		size_t n = strlen(h);
		memcpy(in, h, n);
		for (int i = 0; i < 110; i++) {
			memset(in + n, 'z', 98);
			n += 98;
			memcpy(in + n, "\r\n", 2);
			n += 2;
		}
		const char *t = ".\r\nNOOP\r\n";
		memcpy(in + n, t, strlen(t));
		n += strlen(t);
		expect("message_over_size_552_after_end", in, n,
		       G "250 mx.test\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
		         "354 End data with <CR><LF>.<CR><LF>\r\n"
		         "552 5.3.4 Message size exceeds fixed limit\r\n250 2.0.0 Ok\r\n",
		       0, "", false);
	}
	/* STARTTLS: a command pipelined behind it is injection */
	{
		struct run r;
		const char *in = "EHLO c\r\nSTARTTLS\r\nMAIL FROM:<evil@x>\r\n";
		test_name = "starttls_plaintext_injection";
		run_feed(&r, in, strlen(in), 0, true);
		CHECK(r.closed);
		CHECK(strstr(S(&r.out), "220 2.0.0") == NULL);
		CHECK(strstr(S(&r.out), "521 5.5.1") != NULL);
		CHECK(strstr(S(&r.out), "250 2.1.0") == NULL);
		run_free(&r);

		struct smtp_proto p;
		struct rec rec = {0};
		struct strbuf out;
		strbuf_init(&out, 0);
		test_name = "starttls_then_second_read_before_handshake";
		smtp_proto_init(&p, "mx.test", 0, 0, &rec_cb, &rec);
		p.tls_available = true;
		const char *a = "EHLO c\r\nSTARTTLS\r\n";
		CHECK(smtp_proto_feed(&p, a, strlen(a), &out) == SMTP_PROTO_STARTTLS);
		CHECK(strstr(S(&out), "250-STARTTLS\r\n") != NULL);
		CHECK(smtp_proto_feed(&p, "N", 1, &out) == SMTP_PROTO_CLOSE);

		test_name = "starttls_clean_then_ehlo_again";
		strbuf_reset(&out);
		smtp_proto_init(&p, "mx.test", 0, 0, &rec_cb, &rec);
		p.tls_available = true;
		CHECK(smtp_proto_feed(&p, a, strlen(a), &out) == SMTP_PROTO_STARTTLS);
		smtp_proto_tls_started(&p);
		CHECK(p.tls && p.state == SMTP_PROTO_S_CONNECTED);
		const char *b = "MAIL FROM:<a@b>\r\nEHLO c\r\n";
		CHECK(smtp_proto_feed(&p, b, strlen(b), &out) == SMTP_PROTO_OK);
		CHECK(strstr(S(&out), "503 5.5.1 Send EHLO first") != NULL);
		CHECK(strstr(strstr(S(&out), "503"), "STARTTLS") == NULL);
		strbuf_free(&out);
		strbuf_free(&rec.cur);
		strbuf_free(&rec.msgs);
	}
	/* too many errors */
	{
		static char in[2048];
		size_t n = 0;
		for (int i = 0; i < 25; i++) {
			memcpy(in + n, "X\r\n", 3);
			n += 3;
		}
		struct run r;
		test_name = "error_flood_closes";
		run_both(&r, in, n);
		CHECK(r.closed);
		CHECK(strstr(S(&r.out), "421 4.7.0 Too many errors\r\n") != NULL);
		run_free(&r);
	}

	if (failures) {
		fprintf(stderr, "%d failures\n", failures);
		return 1;
	}
	printf("smtp_proto_test: all passed\n");
	return 0;
}

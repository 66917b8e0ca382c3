/*
 * gmime_check - test tool: is a sanitised message what it must be, as GMime
 * reads it?
 *
 *   gmime_check FILE      (FILE "-" = stdin)
 *
 * Checks: GMime parses it as a message with no parser warning (counted
 * through g_mime_parser_options_set_warning_callback, also while the
 * address and date headers are read); the message has exactly one MIME
 * object, a leaf text/plain part; its transfer encoding is 7bit, 8bit,
 * quoted-printable or base64 (7bit only over ASCII); its decoded text is
 * valid in its charset (UTF-8 when none is named); the raw bytes have one
 * kind of line end, no bare CR, no line over 998 octets and ASCII-only
 * headers.  Prints "ok: TYPE, N bytes of text" and exits 0, or one
 * "problem: ..." line per finding and exits 1; exit 2 when the file cannot
 * be read.  Trusts nothing in FILE (it is the sanitiser's output).
 */
#include "strbuf.h"

#include <gmime/gmime.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define GMIME_CHECK_MAX_BYTES (256u * 1024 * 1024)
#define GMIME_CHECK_MAX_LINE 998

struct gmime_check {
	unsigned problems;
	unsigned warnings;
};

static void gmime_check_problem(struct gmime_check *c, const char *what, const char *detail)
{
	printf("problem: %s%s%s\n", what, detail != NULL ? ": " : "", detail != NULL ? detail : "");
	c->problems++;
}

static const char *gmime_check_warning_name(GMimeParserWarning w)
{
	switch (w) {
	case GMIME_WARN_DUPLICATED_HEADER:
		return "duplicated header";
	case GMIME_WARN_DUPLICATED_PARAMETER:
		return "duplicated parameter";
	case GMIME_WARN_UNENCODED_8BIT_HEADER:
		return "unencoded 8-bit header";
	case GMIME_WARN_INVALID_CONTENT_TYPE:
		return "invalid content type";
	case GMIME_WARN_INVALID_RFC2047_HEADER_VALUE:
		return "invalid RFC 2047 header value";
	case GMIME_WARN_MALFORMED_MULTIPART:
		return "malformed multipart";
	case GMIME_WARN_TRUNCATED_MESSAGE:
		return "truncated message";
	case GMIME_WARN_MALFORMED_MESSAGE:
		return "malformed message";
	case GMIME_CRIT_INVALID_HEADER_NAME:
		return "invalid header name";
	case GMIME_CRIT_CONFLICTING_HEADER:
		return "conflicting header";
	case GMIME_CRIT_CONFLICTING_PARAMETER:
		return "conflicting parameter";
	case GMIME_CRIT_MULTIPART_WITHOUT_BOUNDARY:
		return "multipart without boundary";
	case GMIME_WARN_INVALID_PARAMETER:
		return "invalid parameter";
	case GMIME_WARN_INVALID_ADDRESS_LIST:
		return "invalid address list";
	case GMIME_CRIT_NESTING_OVERFLOW:
		return "nesting overflow";
	case GMIME_WARN_PART_WITHOUT_CONTENT:
		return "part without content";
	case GMIME_CRIT_PART_WITHOUT_HEADERS_OR_CONTENT:
		return "part without headers or content";
	}
	return "unknown warning";
}

static void gmime_check_warning(gint64 offset, GMimeParserWarning errcode, const gchar *item,
                                gpointer user_data)
{
	struct gmime_check *c = user_data;

	printf("problem: GMime parser warning at offset %lld: %s%s%s\n", (long long)offset,
	       gmime_check_warning_name(errcode), item != NULL ? ": " : "",
	       item != NULL ? item : "");
	c->warnings++;
	c->problems++;
}

/* Line ends, line lengths, 8-bit bytes in the header section. */
static void gmime_check_raw(struct gmime_check *c, const unsigned char *p, size_t len)
{
	size_t line_start = 0;
	size_t crlf = 0, lf = 0;
	bool in_header = true, eight_bit_header = false, long_line = false, bare_cr = false;

	for (size_t i = 0; i < len; i++) {
		if (p[i] == '\r' && (i + 1 >= len || p[i + 1] != '\n'))
			bare_cr = true;
		if (p[i] >= 0x80 && in_header)
			eight_bit_header = true;
		if (p[i] != '\n')
			continue;
		size_t end = i > line_start && p[i - 1] == '\r' ? i - 1 : i;

		if (end < i)
			crlf++;
		else
			lf++;
		if (end - line_start > GMIME_CHECK_MAX_LINE)
			long_line = true;
		if (end == line_start)
			in_header = false;
		line_start = i + 1;
	}
	if (len - line_start > GMIME_CHECK_MAX_LINE)
		long_line = true;
	if (crlf != 0 && lf != 0)
		gmime_check_problem(c, "mixed line ends (CRLF and LF)", NULL);
	if (bare_cr)
		gmime_check_problem(c, "bare CR", NULL);
	if (long_line)
		gmime_check_problem(c, "line over 998 octets", NULL);
	if (eight_bit_header)
		gmime_check_problem(c, "8-bit bytes in the header section", NULL);
}

static unsigned gmime_check_count(GMimeObject *o)
{
	unsigned n = 1;

	if (GMIME_IS_MULTIPART(o)) {
		GMimeMultipart *mp = GMIME_MULTIPART(o);

		for (int i = 0; i < g_mime_multipart_get_count(mp); i++)
			n += gmime_check_count(g_mime_multipart_get_part(mp, i));
	} else if (GMIME_IS_MESSAGE_PART(o)) {
		GMimeMessage *m = g_mime_message_part_get_message(GMIME_MESSAGE_PART(o));

		if (m != NULL && g_mime_message_get_mime_part(m) != NULL)
			n += gmime_check_count(g_mime_message_get_mime_part(m));
	}
	return n;
}

/* The decoded text must be valid in its charset. */
static size_t gmime_check_text(struct gmime_check *c, GMimePart *part)
{
	GMimeDataWrapper *w = g_mime_part_get_content(part);
	GMimeContentEncoding enc = g_mime_part_get_content_encoding(part);
	const char *charset =
	    g_mime_object_get_content_type_parameter(GMIME_OBJECT(part), "charset");
	GByteArray *bytes;
	GMimeStream *mem;
	size_t n;

	switch (enc) {
	case GMIME_CONTENT_ENCODING_DEFAULT:
	case GMIME_CONTENT_ENCODING_7BIT:
	case GMIME_CONTENT_ENCODING_8BIT:
	case GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE:
	case GMIME_CONTENT_ENCODING_BASE64:
		break;
	default:
		gmime_check_problem(c, "transfer encoding not 7bit/8bit/quoted-printable/base64",
		                    g_mime_content_encoding_to_string(enc));
	}
	if (w == NULL) {
		gmime_check_problem(c, "text part without content", NULL);
		return 0;
	}
	mem = g_mime_stream_mem_new();
	if (g_mime_data_wrapper_write_to_stream(w, mem) < 0) {
		gmime_check_problem(c, "cannot decode the text part", NULL);
		g_object_unref(mem);
		return 0;
	}
	bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
	n = bytes->len;
	if (enc == GMIME_CONTENT_ENCODING_DEFAULT || enc == GMIME_CONTENT_ENCODING_7BIT) {
		for (size_t i = 0; i < n; i++)
			if (bytes->data[i] >= 0x80) {
				gmime_check_problem(c, "8-bit text declared 7bit", NULL);
				break;
			}
	}
	if (charset == NULL || g_ascii_strcasecmp(charset, "utf-8") == 0 ||
	    g_ascii_strcasecmp(charset, "us-ascii") == 0) {
		if (!g_utf8_validate((const char *)bytes->data, (gssize)n, NULL))
			gmime_check_problem(c, "text is not valid UTF-8", charset);
	} else {
		GError *err = NULL;
		gsize out_len = 0;
		gchar *u = g_convert((const gchar *)bytes->data, (gssize)n, "UTF-8", charset, NULL,
		                     &out_len, &err);

		if (u == NULL) {
			gmime_check_problem(c, "text is not valid in its charset",
			                    err != NULL ? err->message : charset);
			g_clear_error(&err);
		}
		g_free(u);
	}
	g_object_unref(mem);
	return n;
}

static int gmime_check_file(const char *path)
{
	struct gmime_check c = {0, 0};
	struct strbuf raw;
	GMimeParserOptions *opts;
	GMimeStream *stream;
	GMimeParser *parser;
	GMimeMessage *msg;
	GMimeObject *top;
	char *type = NULL;
	size_t text_len = 0;

	strbuf_init(&raw, GMIME_CHECK_MAX_BYTES);
	if (!strbuf_read_file(&raw, strcmp(path, "-") == 0 ? "/dev/stdin" : path)) {
		perror(path);
		strbuf_free(&raw);
		return 2;
	}
	gmime_check_raw(&c, (const unsigned char *)raw.s, raw.len);

	opts = g_mime_parser_options_new();
	g_mime_parser_options_set_warning_callback(opts, gmime_check_warning, &c);
	stream = g_mime_stream_mem_new_with_buffer(raw.s, raw.len);
	parser = g_mime_parser_new_with_stream(stream);
	g_object_unref(stream);
	msg = g_mime_parser_construct_message(parser, opts);
	g_object_unref(parser);
	if (msg == NULL) {
		gmime_check_problem(&c, "GMime does not parse it as a message", NULL);
		goto out;
	}
	/* Read the headers people see, so that their warnings are counted. */
	(void)g_mime_message_get_from(msg);
	(void)g_mime_message_get_to(msg);
	(void)g_mime_message_get_cc(msg);
	(void)g_mime_message_get_reply_to(msg);
	(void)g_mime_message_get_subject(msg);
	(void)g_mime_message_get_date(msg);
	(void)g_mime_message_get_message_id(msg);

	top = g_mime_message_get_mime_part(msg);
	if (top == NULL) {
		gmime_check_problem(&c, "message without a body part", NULL);
	} else {
		unsigned n = gmime_check_count(top);
		GMimeContentType *ct = g_mime_object_get_content_type(top);

		type = g_mime_content_type_get_mime_type(ct);
		if (n != 1) {
			struct strbuf detail = STRBUF_INIT;

			strbuf_printf(&detail, "%u MIME objects, top %s", n, type);
			gmime_check_problem(&c, "not exactly one part", detail.s);
			strbuf_free(&detail);
		} else if (!GMIME_IS_PART(top) ||
		           !g_mime_content_type_is_type(ct, "text", "plain")) {
			gmime_check_problem(&c, "the one part is not text/plain", type);
		} else {
			text_len = gmime_check_text(&c, GMIME_PART(top));
		}
	}
	g_object_unref(msg);
out:
	g_mime_parser_options_free(opts);
	if (c.problems == 0)
		printf("ok: %s, %zu bytes of text\n", type != NULL ? type : "?", text_len);
	g_free(type);
	strbuf_free(&raw);
	return c.problems == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	int rc;

	if (argc != 2) {
		fprintf(stderr, "usage: gmime_check FILE|-\n");
		return 2;
	}
	g_mime_init();
	rc = gmime_check_file(argv[1]);
	g_mime_shutdown();
	return rc;
}

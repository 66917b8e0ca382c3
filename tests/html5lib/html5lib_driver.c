/*
 * html5lib_driver - runs html_tok over test cases read from stdin and prints
 * the tokens as JSON lines, for run.py (the html5lib tokenizer tests).
 *
 * Input, repeated: a line "STATE CHUNK LAST LEN" (STATE: an enum
 * html_tok_content value; CHUNK: feed this many bytes at a time, 0 = all at
 * once; LAST: the last start tag, "-" for none; LEN: input bytes), then LEN
 * bytes of UTF-8.  Output per case: one JSON array per token, in the
 * html5lib format (Character tokens as the tokenizer hands them out, not
 * coalesced), then a line "#end".  Trusts its input (a test tool); exits 2
 * on malformed framing.
 */
#include "html_tok.h"
#include "strbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void driver_json_str(struct strbuf *b, const char *s, size_t len)
{
	size_t i;

	strbuf_putc(b, '"');
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\') {
			strbuf_putc(b, '\\');
			strbuf_putc(b, (char)c);
		} else if (c < 0x20 || c == 0x7F) {
			strbuf_printf(b, "\\u%04x", c);
		} else {
			strbuf_putc(b, (char)c);
		}
	}
	strbuf_putc(b, '"');
}

static void driver_json_opt(struct strbuf *b, const char *s, size_t len)
{
	if (s)
		driver_json_str(b, s, len);
	else
		strbuf_puts(b, "null");
}

static void driver_text(void *ctx, const char *s, size_t len)
{
	struct strbuf *b = ctx;

	strbuf_puts(b, "[\"Character\", ");
	driver_json_str(b, s, len);
	strbuf_puts(b, "]\n");
}

static void driver_token(void *ctx, const struct html_tok_token *tok)
{
	struct strbuf *b = ctx;
	size_t i;

	switch (tok->type) {
	case HTML_TOK_DOCTYPE:
		strbuf_puts(b, "[\"DOCTYPE\", ");
		driver_json_opt(b, tok->name, tok->name_len);
		strbuf_puts(b, ", ");
		driver_json_opt(b, tok->public_id, tok->public_len);
		strbuf_puts(b, ", ");
		driver_json_opt(b, tok->system_id, tok->system_len);
		strbuf_puts(b, tok->force_quirks ? ", false]\n" : ", true]\n");
		break;
	case HTML_TOK_START_TAG:
		strbuf_puts(b, "[\"StartTag\", ");
		driver_json_str(b, tok->name, tok->name_len);
		strbuf_puts(b, ", {");
		for (i = 0; i < tok->nattrs; i++) {
			if (i)
				strbuf_puts(b, ", ");
			driver_json_str(b, tok->attrs[i].name, tok->attrs[i].name_len);
			strbuf_puts(b, ": ");
			driver_json_str(b, tok->attrs[i].value, tok->attrs[i].value_len);
		}
		strbuf_puts(b, tok->self_closing ? "}, true]\n" : "}]\n");
		break;
	case HTML_TOK_END_TAG:
		strbuf_puts(b, "[\"EndTag\", ");
		driver_json_str(b, tok->name, tok->name_len);
		strbuf_puts(b, "]\n");
		break;
	case HTML_TOK_COMMENT:
		strbuf_puts(b, "[\"Comment\", ");
		driver_json_str(b, tok->name, tok->name_len);
		strbuf_puts(b, "]\n");
		break;
	}
}

int main(void)
{
	char line[512], last[256];
	int state;
	size_t chunk, len;
	struct strbuf out;

	strbuf_init(&out, 0);
	while (fgets(line, sizeof(line), stdin)) {
		struct html_tok *t;
		char *in;
		size_t off;

		if (sscanf(line, "%d %zu %255s %zu", &state, &chunk, last, &len) != 4) {
			fprintf(stderr, "html5lib_driver: bad header: %s", line);
			return 2;
		}
		in = malloc(len ? len : 1);
		if (!in || fread(in, 1, len, stdin) != len) {
			fprintf(stderr, "html5lib_driver: short input\n");
			return 2;
		}
		strbuf_reset(&out);
		t = html_tok_new(driver_text, driver_token, &out);
		html_tok_set_state(t, (enum html_tok_content)state);
		if (strcmp(last, "-") != 0)
			html_tok_set_last_start_tag(t, last, strlen(last));
		if (chunk == 0)
			chunk = len ? len : 1;
		for (off = 0; off < len; off += chunk)
			html_tok_feed(t, in + off, len - off < chunk ? len - off : chunk);
		html_tok_finish(t);
		html_tok_free(t);
		free(in);
		fwrite(out.s ? out.s : "", 1, out.len, stdout);
		fputs("#end\n", stdout);
		fflush(stdout);
	}
	strbuf_free(&out);
	return 0;
}

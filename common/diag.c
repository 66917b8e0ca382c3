/*
 * diag - collects and prints file:line:col diagnostics with the source line
 * and a caret.  Trusts that registered sources stay unchanged for the run.
 */
#include "diag.h"
#include "strbuf.h"
#include "xalloc.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

struct diag_source {
	char *file;
	char *text;
	size_t len;
};

static struct {
	struct diag_source *v;
	size_t n, cap;
} diag_sources;

static FILE *diag_out;
static bool diag_out_set;
static int diag_nerrors, diag_nwarnings;

const char *diag_add_source(const char *file, const char *text, size_t len)
{
	struct diag_source *s;

	for (size_t i = 0; i < diag_sources.n; i++)
		if (strcmp(diag_sources.v[i].file, file) == 0)
			return diag_sources.v[i].file;
	s = VEC_PUSH(diag_sources);
	s->file = xstrdup(file);
	s->text = text ? xstrndup(text, len) : NULL;
	s->len = text ? len : 0;
	return s->file;
}

static const struct diag_source *diag_find(const char *file)
{
	for (size_t i = 0; i < diag_sources.n; i++)
		if (diag_sources.v[i].file == file || strcmp(diag_sources.v[i].file, file) == 0)
			return &diag_sources.v[i];
	return NULL;
}

/* Terminal columns taken by byte c of UTF-8 text: 0 for continuation
 * bytes, 2 for the lead byte of a three- or four-byte sequence (East Asian
 * characters), 1 otherwise. */
static int diag_columns(unsigned char c)
{
	if ((c & 0xc0) == 0x80)
		return 0;
	return c >= 0xe0 ? 2 : 1;
}

/* Print the quoted line and a caret under the offending token.  Control
 * characters are shown as '?' so hostile bytes never reach the terminal;
 * tabs are kept so the caret lines up. */
static void diag_quote(FILE *out, const struct srcpos *pos)
{
	const struct diag_source *src = diag_find(pos->file);
	const char *p, *end, *line;
	int n = 1, width = 0;

	if (!src || !src->text || pos->line <= 0)
		return;
	p = src->text;
	end = src->text + src->len;
	while (n < pos->line && p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			return;
		p = nl + 1;
		n++;
	}
	if (n != pos->line)
		return;
	line = p;
	while (p < end && *p != '\n' && *p != '\r')
		p++;
	fputs("    ", out);
	for (const char *q = line; q < p; q++) {
		unsigned char c = (unsigned char)*q;
		fputc((c < 0x20 && c != '\t') || c == 0x7f ? '?' : c, out);
	}
	fputs("\n    ", out);
	for (int i = 1; i < pos->col && line + i - 1 < p; i++) {
		unsigned char c = (unsigned char)line[i - 1];
		int w = diag_columns(c);
		if (c == '\t')
			fputc('\t', out);
		else
			while (w-- > 0)
				fputc(' ', out);
	}
	for (int i = 0; i < (pos->len > 0 ? pos->len : 1); i++) {
		const char *q = line + pos->col - 1 + i;
		width += q < p ? diag_columns((unsigned char)*q) : (i == 0);
	}
	fputc('^', out);
	for (int i = 1; i < width; i++)
		fputc('~', out);
	fputc('\n', out);
}

void diag_report(enum diag_level level, const struct srcpos *pos, const char *fmt, ...)
{
	static const char *const names[] = {"error", "warning", "note"};
	FILE *out = diag_out_set ? diag_out : stderr;
	va_list ap;

	if (level == DIAG_ERROR)
		diag_nerrors++;
	else if (level == DIAG_WARNING)
		diag_nwarnings++;
	if (!out)
		return;
	if (pos && pos->file && pos->line > 0)
		fprintf(out, "%s:%d:%d: ", pos->file, pos->line, pos->col);
	else if (pos && pos->file)
		fprintf(out, "%s: ", pos->file);
	fprintf(out, "%s: ", names[level]);
	va_start(ap, fmt);
	vfprintf(out, fmt, ap);
	va_end(ap);
	fputc('\n', out);
	if (pos && pos->file && pos->line > 0)
		diag_quote(out, pos);
}

int diag_errors(void)
{
	return diag_nerrors;
}

int diag_warnings(void)
{
	return diag_nwarnings;
}

void diag_set_output(FILE *f)
{
	diag_out = f;
	diag_out_set = true;
}

void diag_reset(void)
{
	for (size_t i = 0; i < diag_sources.n; i++) {
		free(diag_sources.v[i].file);
		free(diag_sources.v[i].text);
	}
	free(diag_sources.v);
	memset(&diag_sources, 0, sizeof(diag_sources));
	diag_nerrors = diag_nwarnings = 0;
}

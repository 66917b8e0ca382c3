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

/* Terminal columns of the UTF-8 character starting at *p (before end);
 * *len_r gets its length in bytes.  East Asian wide characters take two
 * columns; invalid bytes are taken one at a time, one column each. */
static int diag_char_columns(const char *p, const char *end, int *len_r)
{
	const unsigned char *u = (const unsigned char *)p;
	unsigned cp;
	int n;

	if (u[0] < 0x80 || (u[0] & 0xe0) == 0x80 || u[0] >= 0xf8) {
		*len_r = 1;
		return 1;
	}
	n = u[0] >= 0xf0 ? 4 : u[0] >= 0xe0 ? 3 : 2;
	if (end - p < n) {
		*len_r = 1;
		return 1;
	}
	cp = u[0] & (0x7f >> n);
	for (int i = 1; i < n; i++) {
		if ((u[i] & 0xc0) != 0x80) {
			*len_r = 1;
			return 1;
		}
		cp = (cp << 6) | (u[i] & 0x3f);
	}
	*len_r = n;
	if ((cp >= 0x1100 && cp <= 0x115f) || (cp >= 0x2e80 && cp <= 0xa4cf) ||
	    (cp >= 0xac00 && cp <= 0xd7a3) || (cp >= 0xf900 && cp <= 0xfaff) ||
	    (cp >= 0xfe30 && cp <= 0xfe4f) || (cp >= 0xff00 && cp <= 0xff60) ||
	    (cp >= 0xffe0 && cp <= 0xffe6) || (cp >= 0x20000 && cp <= 0x3fffd))
		return 2;
	return 1;
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
		const unsigned char *u = (const unsigned char *)q;
		/* bidirectional overrides (U+202A..E, U+2066..9) reorder the line */
		if (p - q >= 3 && u[0] == 0xe2 &&
		    ((u[1] == 0x80 && u[2] >= 0xaa && u[2] <= 0xae) ||
		     (u[1] == 0x81 && u[2] >= 0xa6 && u[2] <= 0xa9))) {
			fputc('?', out);
			q += 2;
			continue;
		}
		fputc((u[0] < 0x20 && u[0] != '\t') || u[0] == 0x7f ? '?' : u[0], out);
	}
	fputs("\n    ", out);
	/* pad up to the token, then measure the token, character by character */
	for (const char *q = line; q < p && q < line + pos->col - 1;) {
		int len, w = diag_char_columns(q, p, &len);
		if (*q == '\t')
			fputc('\t', out);
		else
			while (w-- > 0)
				fputc(' ', out);
		q += len;
	}
	for (const char *q = line + pos->col - 1; q < p && q < line + pos->col - 1 + pos->len;) {
		int len;
		width += diag_char_columns(q, p, &len);
		q += len;
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

/*
 * strbuf - the one bounded, growable string buffer (cf. Postfix VSTRING).
 *
 * Always NUL-terminated.  A buffer may carry a hard limit (max bytes of
 * content); appends beyond it fail and set the overflow flag instead of
 * growing, so readers of untrusted data can stop hard.
 */
#ifndef SEKISHO_STRBUF_H
#define SEKISHO_STRBUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

struct strbuf {
	char *s;
	size_t len;
	size_t cap;
	size_t max;    /* 0 = unlimited */
	bool overflow; /* set once an append hit max */
};

#define STRBUF_INIT                                                                                \
	{                                                                                          \
		0                                                                                  \
	}

/* Initialise with a content limit in bytes (0 = unlimited). */
void strbuf_init(struct strbuf *b, size_t max);
void strbuf_free(struct strbuf *b);
void strbuf_reset(struct strbuf *b);
/* Append; returns false (and sets overflow) when the limit would be exceeded. */
bool strbuf_append(struct strbuf *b, const void *p, size_t n);
bool strbuf_puts(struct strbuf *b, const char *s);
bool strbuf_putc(struct strbuf *b, char c);
bool strbuf_printf(struct strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool strbuf_vprintf(struct strbuf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/* Return the content as a malloc'd string and reset the buffer. */
char *strbuf_detach(struct strbuf *b);
/* Read a whole file; returns false with errno set on failure (limit: b->max). */
bool strbuf_read_file(struct strbuf *b, const char *path);

#endif

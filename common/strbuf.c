/*
 * strbuf - bounded growable strings.  Allocation failure is fatal (xalloc);
 * exceeding the caller's limit is reported, never silently truncated.
 */
#include "strbuf.h"
#include "xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void strbuf_init(struct strbuf *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->max = max;
}

void strbuf_free(struct strbuf *b)
{
	free(b->s);
	b->s = NULL;
	b->len = b->cap = 0;
	b->overflow = false;
}

void strbuf_reset(struct strbuf *b)
{
	b->len = 0;
	b->overflow = false;
	if (b->s)
		b->s[0] = '\0';
}

static bool strbuf_reserve(struct strbuf *b, size_t n)
{
	if (b->max && (n > b->max || b->len > b->max - n)) {
		b->overflow = true;
		return false;
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 64;
		while (cap < b->len + n + 1)
			cap *= 2;
		b->s = xreallocarray(b->s, cap, 1);
		b->cap = cap;
	}
	return true;
}

bool strbuf_append(struct strbuf *b, const void *p, size_t n)
{
	if (!strbuf_reserve(b, n))
		return false;
	if (n)
		memcpy(b->s + b->len, p, n);
	b->len += n;
	b->s[b->len] = '\0';
	return true;
}

bool strbuf_puts(struct strbuf *b, const char *s)
{
	return strbuf_append(b, s, strlen(s));
}

bool strbuf_putc(struct strbuf *b, char c)
{
	return strbuf_append(b, &c, 1);
}

bool strbuf_vprintf(struct strbuf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	int n;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return false;
	if (!strbuf_reserve(b, (size_t)n))
		return false;
	vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return true;
}

bool strbuf_printf(struct strbuf *b, const char *fmt, ...)
{
	va_list ap;
	bool ok;

	va_start(ap, fmt);
	ok = strbuf_vprintf(b, fmt, ap);
	va_end(ap);
	return ok;
}

char *strbuf_detach(struct strbuf *b)
{
	char *s = b->s ? b->s : xstrdup("");
	b->s = NULL;
	b->len = b->cap = 0;
	b->overflow = false;
	return s;
}

bool strbuf_read_file(struct strbuf *b, const char *path)
{
	char buf[65536];
	ssize_t r;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return false;
	for (;;) {
		r = read(fd, buf, sizeof(buf));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			close(fd);
			return false;
		}
		if (r == 0)
			break;
		if (!strbuf_append(b, buf, (size_t)r)) {
			close(fd);
			errno = EFBIG;
			return false;
		}
	}
	close(fd);
	if (!b->s)
		strbuf_append(b, "", 0);
	return true;
}

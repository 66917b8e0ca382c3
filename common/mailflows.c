/*
 * mailflows - parse, match, format and atomically write the mail flows file
 * (see mailflows.h for the format).
 *
 * SECURITY: the file is written by root (`sekisho apply`) but read by the
 * relay, so it is parsed strictly with hard limits (line length, flows,
 * networks per flow, name lengths); nothing in it is ever executed or used
 * as a path.  Addresses are compared byte-wise after IPv4-mapped IPv6
 * addresses (a dual-stack listener's view of IPv4 clients) were turned
 * into IPv4.
 *
 * DIAGNOSTICS: every malformed line is reported ("name:line: message"), not
 * only the first; the list is then empty, so a damaged file declares no
 * flow at all rather than a part of them.
 */
#include "mailflows.h"
#include "xalloc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAILFLOWS_MAX_LINE_BYTES 32768
#define MAILFLOWS_MAX_FILE_BYTES (64u * 1024 * 1024)
#define MAILFLOWS_MAX_ERRORS 100 /* then "too many errors" */
#define MAILFLOWS_FILE_MODE 0644 /* the relay reads it after dropping root */

/* One parsed line's fields, pointing into a private copy of the line. */
struct mailflows_line {
	struct strbuf *err;
	const char *name;
	unsigned lineno;
	unsigned nerr;
};

static void mailflows_err(struct mailflows_line *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void mailflows_err(struct mailflows_line *l, const char *fmt, ...)
{
	va_list ap;

	l->nerr++;
	if (l->nerr > MAILFLOWS_MAX_ERRORS)
		return;
	strbuf_printf(l->err, "%s:%u: ", l->name, l->lineno);
	if (l->nerr == MAILFLOWS_MAX_ERRORS) {
		strbuf_puts(l->err, "too many errors; giving up\n");
		return;
	}
	va_start(ap, fmt);
	strbuf_vprintf(l->err, fmt, ap);
	va_end(ap);
	strbuf_putc(l->err, '\n');
}

/* Address without brackets or prefix; returns the family or 0. */
static int mailflows_addr(const char *s, uint8_t addr[16])
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	memset(addr, 0, 16);
	/* IPv4-mapped IPv6 is refused: IPv4 is written as IPv4, so that one
	 * address has one spelling (the matcher maps clients the same way) */
	if (strchr(s, ':'))
		return inet_pton(AF_INET6, s, addr) == 1 && memcmp(addr, mapped, 12) != 0 ? AF_INET6
		                                                                          : 0;
	/* inet_pton(AF_INET) accepts only the dotted quad: what we want */
	return inet_pton(AF_INET, s, addr) == 1 ? AF_INET : 0;
}

/* Decimal without sign or leading zeros, at most max. */
static bool mailflows_number(const char *s, unsigned long max, unsigned long *r)
{
	unsigned long v = 0;

	if (!*s || (s[0] == '0' && s[1]))
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		v = v * 10 + (unsigned long)(*s - '0');
		if (v > max)
			return false;
	}
	*r = v;
	return true;
}

static bool mailflows_host_bits_clear(const uint8_t *a, size_t bytes, unsigned prefix)
{
	for (size_t i = 0; i < bytes; i++) {
		unsigned bit = (unsigned)i * 8;
		uint8_t mask = bit >= prefix       ? 0xff
		               : prefix - bit >= 8 ? 0
		                                   : (uint8_t)(0xff >> (prefix - bit));
		if (a[i] & mask)
			return false;
	}
	return true;
}

static bool mailflows_net(struct mailflows_line *l, char *s, struct mailflow_net *n)
{
	char *slash = strchr(s, '/');
	unsigned long len;

	if (!slash) {
		mailflows_err(l, "source network \"%s\" lacks /LEN", s);
		return false;
	}
	*slash = '\0';
	n->family = mailflows_addr(s, n->addr);
	if (!n->family) {
		mailflows_err(l, "bad source network address \"%s\"", s);
		return false;
	}
	if (!mailflows_number(slash + 1, n->family == AF_INET ? 32 : 128, &len)) {
		mailflows_err(l, "bad prefix length \"/%s\" of %s", slash + 1, s);
		return false;
	}
	n->prefix = (unsigned)len;
	if (!mailflows_host_bits_clear(n->addr, n->family == AF_INET ? 4 : 16, n->prefix)) {
		mailflows_err(l, "source network %s/%u has host bits set", s, n->prefix);
		return false;
	}
	return true;
}

static bool mailflows_name_ok(const char *s)
{
	if (!*s || strlen(s) >= 64)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '-' || *s == '_'))
			return false;
	return true;
}

/* Next field separated by blanks; NULL at the end of the line. */
static char *mailflows_field(char **p)
{
	char *s = *p, *start;

	while (*s == ' ' || *s == '\t')
		s++;
	if (!*s) {
		*p = s;
		return NULL;
	}
	start = s;
	while (*s && *s != ' ' && *s != '\t')
		s++;
	if (*s)
		*s++ = '\0';
	*p = s;
	return start;
}

static void mailflow_free(struct mailflow *f)
{
	free(f->nets);
}

static bool mailflows_line(struct mailflows_line *l, char *line, struct mailflow *f)
{
	char *p = line, *kw, *src, *dst, *addr, *port, *nets, *origin, *end;
	unsigned long portv;
	size_t n;

	kw = mailflows_field(&p);
	if (strcmp(kw, "mailflow") != 0) {
		mailflows_err(l, "expected \"mailflow\", got \"%s\"", kw);
		return false;
	}
	src = mailflows_field(&p);
	dst = mailflows_field(&p);
	addr = mailflows_field(&p);
	port = mailflows_field(&p);
	nets = mailflows_field(&p);
	while (*p == ' ' || *p == '\t')
		p++;
	origin = p;
	if (!nets || !*origin) {
		mailflows_err(l, "too few fields (want: mailflow SRCSEG DSTSEG ADDR PORT "
		                 "SRCNET[,SRCNET...] FILE:LINE)");
		return false;
	}
	end = origin + strlen(origin);
	while (end > origin && (end[-1] == ' ' || end[-1] == '\t'))
		*--end = '\0';
	if (!mailflows_name_ok(src) || !mailflows_name_ok(dst)) {
		mailflows_err(l, "bad segment name \"%s\"", mailflows_name_ok(src) ? dst : src);
		return false;
	}
	memcpy(f->src_seg, src, strlen(src) + 1);
	memcpy(f->dst_seg, dst, strlen(dst) + 1);
	f->family = mailflows_addr(addr, f->addr);
	if (!f->family) {
		mailflows_err(l, "bad destination address \"%s\"", addr);
		return false;
	}
	if (!mailflows_number(port, 65535, &portv) || portv == 0) {
		mailflows_err(l, "bad port \"%s\"", port);
		return false;
	}
	f->port = (uint16_t)portv;
	if ((size_t)(end - origin) >= sizeof(f->origin)) {
		mailflows_err(l, "origin longer than %zu bytes", sizeof(f->origin) - 1);
		return false;
	}
	memcpy(f->origin, origin, (size_t)(end - origin) + 1);
	n = 1;
	for (const char *q = nets; *q; q++)
		n += *q == ',';
	if (n > MAILFLOWS_MAX_NETS) {
		mailflows_err(l, "more than %d source networks", MAILFLOWS_MAX_NETS);
		return false;
	}
	f->nets = xcalloc(n, sizeof(*f->nets));
	for (char *q = nets;;) {
		char *comma = strchr(q, ',');
		if (comma)
			*comma = '\0';
		if (!*q) {
			mailflows_err(l, "empty source network");
			return false;
		}
		if (!mailflows_net(l, q, &f->nets[f->nnets]))
			return false;
		f->nnets++;
		if (!comma)
			break;
		q = comma + 1;
	}
	return true;
}

bool mailflows_parse(struct mailflows *mf, const char *name, const char *text, size_t len,
                     struct strbuf *err)
{
	struct mailflows_line l = {err, name, 0, 0};
	struct {
		struct mailflow *v;
		size_t n, cap;
	} vec = {NULL, 0, 0};
	const char *p = text, *end = text + len;
	char *buf = xmalloc(MAILFLOWS_MAX_LINE_BYTES + 1);
	bool too_many = false;

	memset(mf, 0, sizeof(*mf));
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		struct mailflow f;
		bool bad = false;

		l.lineno++;
		if (n > MAILFLOWS_MAX_LINE_BYTES) {
			mailflows_err(&l, "line longer than %d bytes", MAILFLOWS_MAX_LINE_BYTES);
			p += n + (nl ? 1 : 0);
			continue;
		}
		for (size_t i = 0; i < n && !bad; i++)
			if ((unsigned char)p[i] < 0x20 && p[i] != '\t') {
				mailflows_err(&l, "control character 0x%02x", (unsigned char)p[i]);
				bad = true;
			} else if ((unsigned char)p[i] >= 0x7f) {
				mailflows_err(&l, "non-ASCII byte 0x%02x", (unsigned char)p[i]);
				bad = true;
			}
		memcpy(buf, p, n);
		buf[n] = '\0';
		p += n + (nl ? 1 : 0);
		if (bad)
			continue;
		{
			const char *q = buf;
			while (*q == ' ' || *q == '\t')
				q++;
			if (!*q || *q == '#')
				continue;
		}
		if (vec.n >= MAILFLOWS_MAX_FLOWS) {
			if (!too_many)
				mailflows_err(&l, "more than %d flows", MAILFLOWS_MAX_FLOWS);
			too_many = true;
			continue;
		}
		memset(&f, 0, sizeof(f));
		if (mailflows_line(&l, buf, &f))
			*VEC_PUSH(vec) = f;
		else
			mailflow_free(&f);
	}
	free(buf);
	if (l.nerr) {
		for (size_t i = 0; i < vec.n; i++)
			mailflow_free(&vec.v[i]);
		free(vec.v);
		return false;
	}
	mf->v = vec.v;
	mf->n = vec.n;
	return true;
}

bool mailflows_load(struct mailflows *mf, const char *path, bool *missing_r, struct strbuf *err)
{
	struct strbuf sb;
	bool ok;

	memset(mf, 0, sizeof(*mf));
	if (missing_r)
		*missing_r = false;
	strbuf_init(&sb, MAILFLOWS_MAX_FILE_BYTES);
	if (!strbuf_read_file(&sb, path)) {
		int e = errno;
		strbuf_free(&sb);
		if (e == ENOENT) {
			if (missing_r)
				*missing_r = true;
			return true;
		}
		strbuf_printf(err, "%s: %s\n", path, sb.overflow ? "file too large" : strerror(e));
		return false;
	}
	ok = mailflows_parse(mf, path, sb.s ? sb.s : "", sb.len, err);
	strbuf_free(&sb);
	return ok;
}

/* sa's address as family + bytes, IPv4-mapped IPv6 turned into IPv4. */
static bool mailflows_sockaddr(const struct sockaddr *sa, int *family, uint8_t addr[16],
                               uint16_t *port)
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	memset(addr, 0, 16);
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		*family = AF_INET;
		memcpy(addr, &in->sin_addr, 4);
		*port = ntohs(in->sin_port);
		return true;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		*port = ntohs(in6->sin6_port);
		if (memcmp(in6->sin6_addr.s6_addr, mapped, 12) == 0) {
			*family = AF_INET;
			memcpy(addr, in6->sin6_addr.s6_addr + 12, 4);
		} else {
			*family = AF_INET6;
			memcpy(addr, in6->sin6_addr.s6_addr, 16);
		}
		return true;
	}
	return false;
}

static bool mailflows_in_net(const struct mailflow_net *n, int family, const uint8_t *addr)
{
	unsigned full = n->prefix / 8, rest = n->prefix % 8;

	if (n->family != family)
		return false;
	if (memcmp(n->addr, addr, full) != 0)
		return false;
	if (rest) {
		uint8_t mask = (uint8_t)(0xff << (8 - rest));
		if ((n->addr[full] & mask) != (addr[full] & mask))
			return false;
	}
	return true;
}

const struct mailflow *mailflows_match(const struct mailflows *mf, const struct sockaddr *client,
                                       const struct sockaddr *orig_dst)
{
	int cfam, dfam;
	uint8_t caddr[16], daddr[16];
	uint16_t cport, dport;

	if (!mf || !client || !orig_dst || !mailflows_sockaddr(client, &cfam, caddr, &cport) ||
	    !mailflows_sockaddr(orig_dst, &dfam, daddr, &dport))
		return NULL;
	for (size_t i = 0; i < mf->n; i++) {
		const struct mailflow *f = &mf->v[i];
		if (f->family != dfam || f->port != dport ||
		    memcmp(f->addr, daddr, dfam == AF_INET ? 4 : 16) != 0)
			continue;
		for (size_t j = 0; j < f->nnets; j++)
			if (mailflows_in_net(&f->nets[j], cfam, caddr))
				return f;
	}
	return NULL;
}

void mailflows_format(const struct mailflow *f, struct strbuf *out)
{
	char a[INET6_ADDRSTRLEN];

	if (!inet_ntop(f->family, f->addr, a, sizeof(a)))
		a[0] = '\0';
	strbuf_printf(out, "mailflow %s %s %s %u ", f->src_seg, f->dst_seg, a, f->port);
	for (size_t i = 0; i < f->nnets; i++) {
		char n[INET6_ADDRSTRLEN];
		if (!inet_ntop(f->nets[i].family, f->nets[i].addr, n, sizeof(n)))
			n[0] = '\0';
		strbuf_printf(out, "%s%s/%u", i ? "," : "", n, f->nets[i].prefix);
	}
	strbuf_putc(out, ' ');
	/* the origin is a file name: keep the line one line of printable ASCII */
	for (const char *p = f->origin; *p; p++)
		strbuf_putc(out,
		            ((unsigned char)*p < 0x20 && *p != '\t') || (unsigned char)*p >= 0x7f
		                ? '?'
		                : *p);
	strbuf_putc(out, '\n');
}

bool mailflows_write_file(const char *path, const char *text, size_t len, struct strbuf *err)
{
	struct strbuf tmp = STRBUF_INIT, dir = STRBUF_INIT;
	const char *slash = strrchr(path, '/');
	size_t off = 0;
	int fd, dfd;
	bool ok = false;

	strbuf_printf(&tmp, "%s.tmp-XXXXXX", path);
	if (slash)
		strbuf_append(&dir, path, slash == path ? 1 : (size_t)(slash - path));
	else
		strbuf_putc(&dir, '.');
	fd = mkstemp(tmp.s);
	if (fd < 0) {
		strbuf_printf(err, "mailflows: cannot create %s: %s", tmp.s, strerror(errno));
		goto out;
	}
	while (off < len) {
		ssize_t n = write(fd, text + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			strbuf_printf(err, "mailflows: writing %s: %s", tmp.s,
			              n < 0 ? strerror(errno) : "short write");
			close(fd);
			unlink(tmp.s);
			goto out;
		}
		off += (size_t)n;
	}
	if (fchmod(fd, MAILFLOWS_FILE_MODE) < 0 || fsync(fd) < 0) {
		strbuf_printf(err, "mailflows: %s: %s", tmp.s, strerror(errno));
		close(fd);
		unlink(tmp.s);
		goto out;
	}
	if (close(fd) < 0 || rename(tmp.s, path) < 0) {
		strbuf_printf(err, "mailflows: cannot move %s to %s: %s", tmp.s, path,
		              strerror(errno));
		unlink(tmp.s);
		goto out;
	}
	dfd = open(dir.s, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) < 0) {
		strbuf_printf(err, "mailflows: fsync of %s: %s", dir.s, strerror(errno));
		if (dfd >= 0)
			close(dfd);
		goto out;
	}
	close(dfd);
	ok = true;
out:
	strbuf_free(&tmp);
	strbuf_free(&dir);
	return ok;
}

void mailflows_free(struct mailflows *mf)
{
	if (!mf)
		return;
	for (size_t i = 0; i < mf->n; i++)
		mailflow_free(&mf->v[i]);
	free(mf->v);
	memset(mf, 0, sizeof(*mf));
}

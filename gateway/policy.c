/*
 * policy - the guideline invariants over a parsed policy (docs/rules.md),
 * name resolution, and the helpers the parser and compiler share
 * (prefixes, lookups, dates).
 *
 * TRUSTS: the policy was built by rulefile.c, so every string is bounded
 * and every flow parsed cleanly; nothing else (names may dangle, refer to
 * themselves, repeat, span segments).
 *
 * FAILS: policy_check() never stops at the first problem: it reports every
 * error and warning through diag, each at the offending token, and returns
 * false if any error was found.  Passes run in a fixed order (segments,
 * names, hosts, groups, flows, redundancy, management) so the output is
 * stable.  Work stays near O(n log n) in hosts and groups; what is
 * quadratic runs over segments, interfaces and networks (bounded by the
 * POLICY_MAX_* counts) or has a budget (redundancy, did-you-mean), so a
 * hostile file cannot make the check run for long.
 */
#include "policy.h"
#include "log.h"
#include "strbuf.h"
#include "xalloc.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define POLICY_SHIREI_MAX_PORTS 256 /* widest port range into or out of 指令系 */
#define POLICY_MAX_SIDE_ERRORS 5    /* per from/to: group members reported, then a count */
#define POLICY_MAX_SUGGESTIONS 64   /* "did you mean" searches per check (each is O(names)) */
#define POLICY_REDUNDANCY_WORK (64u * 1024 * 1024) /* host and port steps spent on redundancy */

/* ------------------------------------------------------------------ */
/* prefixes */

bool prefix_parse(const char *s, struct prefix *r)
{
	char buf[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	int full;

	memset(r, 0, sizeof(*r));
	if (n == 0 || n >= sizeof(buf))
		return false;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (strchr(buf, ':')) {
		r->family = AF_INET6;
		full = 128;
	} else {
		r->family = AF_INET;
		full = 32;
	}
	if (inet_pton(r->family, buf, r->addr) != 1)
		return false;
	r->len = full;
	if (slash) {
		const char *d = slash + 1;
		size_t dn = strlen(d);
		int len = 0;

		if (dn == 0 || dn > 3 || (dn > 1 && d[0] == '0'))
			return false;
		for (size_t i = 0; i < dn; i++) {
			if (d[i] < '0' || d[i] > '9')
				return false;
			len = len * 10 + (d[i] - '0');
		}
		if (len > full)
			return false;
		r->len = len;
	}
	return true;
}

void prefix_format(const struct prefix *p, char *buf, size_t n)
{
	char a[INET6_ADDRSTRLEN];
	int full = p->family == AF_INET ? 32 : 128;
	int w;

	if (n == 0)
		return;
	if (!inet_ntop(p->family, p->addr, a, sizeof(a))) {
		buf[0] = '\0';
		return;
	}
	if (p->len == full)
		w = snprintf(buf, n, "%s", a);
	else
		w = snprintf(buf, n, "%s/%d", a, p->len);
	if (w < 0 || (size_t)w >= n)
		buf[0] = '\0'; /* a cut address would mislead: show nothing */
}

static bool prefix_bits_equal(const uint8_t *a, const uint8_t *b, int bits)
{
	int bytes = bits / 8, rest = bits % 8;

	if (memcmp(a, b, (size_t)bytes) != 0)
		return false;
	if (rest) {
		uint8_t mask = (uint8_t)(0xff << (8 - rest));

		return (a[bytes] & mask) == (b[bytes] & mask);
	}
	return true;
}

bool prefix_overlap(const struct prefix *a, const struct prefix *b)
{
	if (a->family != b->family)
		return false;
	return prefix_bits_equal(a->addr, b->addr, a->len < b->len ? a->len : b->len);
}

bool prefix_contains(const struct prefix *net, const struct prefix *addr)
{
	if (net->family != addr->family || addr->len < net->len)
		return false;
	return prefix_bits_equal(net->addr, addr->addr, net->len);
}

static int prefix_cmp(const struct prefix *a, const struct prefix *b)
{
	int c;

	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	c = memcmp(a->addr, b->addr, sizeof(a->addr));
	if (c)
		return c;
	return a->len < b->len ? -1 : a->len > b->len;
}

/* ------------------------------------------------------------------ */
/* small helpers */

const char *seg_kind_name(enum seg_kind k)
{
	switch (k) {
	case SEG_SHIREI:
		return "shirei";
	case SEG_JOHO:
		return "joho";
	case SEG_LGWAN:
		return "lgwan";
	case SEG_INTERNET:
		return "internet";
	case SEG_OTHER:
		return "other";
	}
	return "?";
}

int policy_edit_distance(const char *a, const char *b)
{
	int prev[POLICY_NAME_MAX + 2], cur[POLICY_NAME_MAX + 2];
	size_t na = strlen(a), nb = strlen(b);

	if (na > POLICY_NAME_MAX || nb > POLICY_NAME_MAX)
		return 1000;
	for (size_t j = 0; j <= nb; j++)
		prev[j] = (int)j;
	for (size_t i = 1; i <= na; i++) {
		cur[0] = (int)i;
		for (size_t j = 1; j <= nb; j++) {
			int del = prev[j] + 1, ins = cur[j - 1] + 1;
			int sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
			int m = del < ins ? del : ins;

			cur[j] = m < sub ? m : sub;
		}
		memcpy(prev, cur, sizeof(int) * (nb + 1));
	}
	return prev[nb];
}

struct segment *policy_segment(const struct policy *p, const char *id)
{
	for (size_t i = 0; i < p->segs.n; i++)
		if (strcmp(p->segs.v[i].id, id) == 0)
			return &p->segs.v[i];
	return NULL;
}

struct host *policy_host(const struct policy *p, const char *name)
{
	for (size_t i = 0; i < p->hosts.n; i++)
		if (strcmp(p->hosts.v[i].name, name) == 0)
			return &p->hosts.v[i];
	return NULL;
}

struct group *policy_group(const struct policy *p, const char *name)
{
	for (size_t i = 0; i < p->groups.n; i++)
		if (strcmp(p->groups.v[i].name, name) == 0)
			return &p->groups.v[i];
	return NULL;
}

/* Days since 1970-01-01 of a civil date (proleptic Gregorian). */
static long policy_days(const struct date *d)
{
	long y = d->year - (d->month <= 2);
	long era = (y >= 0 ? y : y - 399) / 400;
	long yoe = y - era * 400;
	long mp = (d->month + 9) % 12;
	long doy = (153 * mp + 2) / 5 + d->day - 1;
	long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return era * 146097 + doe - 719468;
}

static bool policy_parse_date(const char *s, struct date *d)
{
	static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int v[3] = {0, 0, 0};
	size_t widths[3] = {4, 2, 2};
	const char *p = s;

	for (int i = 0; i < 3; i++) {
		for (size_t k = 0; k < widths[i]; k++, p++) {
			if (*p < '0' || *p > '9')
				return false;
			v[i] = v[i] * 10 + (*p - '0');
		}
		if (i < 2 && *p++ != '-')
			return false;
	}
	if (*p || v[0] < 1970 || v[1] < 1 || v[1] > 12 || v[2] < 1)
		return false;
	if (v[2] > mdays[v[1] - 1] +
	               (v[1] == 2 && ((v[0] % 4 == 0 && v[0] % 100 != 0) || v[0] % 400 == 0)))
		return false;
	d->year = v[0];
	d->month = v[1];
	d->day = v[2];
	return true;
}

struct date policy_today(void)
{
	struct date d = {1970, 1, 1};
	const char *env = getenv("SEKISHO_TODAY");
	time_t now = time(NULL);
	struct tm tm;

	if (env && *env) {
		if (policy_parse_date(env, &d))
			return d;
		log_warn("SEKISHO_TODAY=%s is not a date (YYYY-MM-DD); using the clock", env);
	}
	if (localtime_r(&now, &tm)) {
		d.year = tm.tm_year + 1900;
		d.month = tm.tm_mon + 1;
		d.day = tm.tm_mday;
	}
	return d;
}

/* ------------------------------------------------------------------ */
/* freeing */

static void policy_svcs_free(struct service *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].ports.v);
	free(v);
}

void policy_flow_free(struct flow *f)
{
	free(f->src.name);
	free(f->dst.name);
	free(f->from.name);
	free(f->to.name);
	policy_svcs_free(f->svcs.v, f->svcs.n);
	free(f->approved_by);
	free(f->reason);
	memset(&f->svcs, 0, sizeof(f->svcs));
	f->src.name = f->dst.name = f->from.name = f->to.name = NULL;
	f->approved_by = f->reason = NULL;
}

void policy_free(struct policy *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->files.n; i++)
		free(p->files.v[i].text); /* path is interned by diag */
	free(p->files.v);
	for (size_t i = 0; i < p->segs.n; i++) {
		struct segment *s = &p->segs.v[i];

		free(s->id);
		free(s->label);
		for (size_t k = 0; k < s->ifaces.n; k++)
			free(s->ifaces.v[k]);
		free(s->ifaces.v);
		free(s->ifaces.pos);
		free(s->nets.v);
		free(s->nets.pos);
		free(s->hosts.v);
	}
	free(p->segs.v);
	for (size_t i = 0; i < p->hosts.n; i++) {
		free(p->hosts.v[i].name);
		free(p->hosts.v[i].addrs.v);
		free(p->hosts.v[i].addrs.pos);
		free(p->hosts.v[i].segment_decl);
	}
	free(p->hosts.v);
	for (size_t i = 0; i < p->groups.n; i++) {
		struct group *g = &p->groups.v[i];

		free(g->name);
		for (size_t k = 0; k < g->members.n; k++)
			free(g->members.v[k].name);
		free(g->members.v);
		free(g->hosts.v);
	}
	free(p->groups.v);
	for (size_t i = 0; i < p->flows.n; i++)
		policy_flow_free(&p->flows.v[i]);
	free(p->flows.v);
	for (size_t i = 0; i < p->mgmt.n; i++) {
		free(p->mgmt.v[i].from.name);
		policy_svcs_free(p->mgmt.v[i].svcs.v, p->mgmt.v[i].svcs.n);
	}
	free(p->mgmt.v);
	free(p);
}

/* ------------------------------------------------------------------ */
/* the checker */

/* One name of the host/group namespace. */
struct policy_name {
	const char *name;
	const struct srcpos *pos;
	struct host *host; /* exactly one of host, group */
	struct group *group;
};

struct policy_checker {
	struct policy *p;
	struct policy_name *names; /* sorted by name, then by position */
	size_t nnames;
	bool *spans;    /* per host: addresses in more than one segment (or in and out) */
	bool *flow_bad; /* per flow: an error was found in it */
	const struct segment **group_ok; /* per group: a segment all its hosts are known in */
	size_t *mark;                    /* per host: scratch for set operations */
	size_t stamp;
	int suggestions; /* searches done (POLICY_MAX_SUGGESTIONS) */
	size_t work;     /* redundancy steps done (POLICY_REDUNDANCY_WORK) */
	size_t expanded; /* group hosts in all (POLICY_MAX_GROUP_HOSTS) */
};

/* Order of positions: file load order, then line, then column. */
static size_t policy_file_index(const struct policy *p, const char *file)
{
	for (size_t i = 0; i < p->files.n; i++)
		if (p->files.v[i].path == file)
			return i;
	return p->files.n;
}

static struct policy *policy_sort_ctx; /* qsort has no context argument */

static int policy_pos_cmp(const struct srcpos *a, const struct srcpos *b)
{
	size_t fa, fb;

	if (a->file != b->file) {
		fa = policy_file_index(policy_sort_ctx, a->file);
		fb = policy_file_index(policy_sort_ctx, b->file);
		if (fa != fb)
			return fa < fb ? -1 : 1;
	}
	if (a->line != b->line)
		return a->line < b->line ? -1 : 1;
	return a->col < b->col ? -1 : a->col > b->col;
}

static int policy_name_cmp(const void *x, const void *y)
{
	const struct policy_name *a = x, *b = y;
	int c = strcmp(a->name, b->name);

	return c ? c : policy_pos_cmp(a->pos, b->pos);
}

/* The first definition of a host or group name, or NULL. */
static const struct policy_name *policy_lookup(const struct policy_checker *C, const char *name)
{
	size_t lo = 0, hi = C->nnames;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(C->names[mid].name, name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < C->nnames && strcmp(C->names[lo].name, name) == 0)
		return &C->names[lo];
	return NULL;
}

/* Closest host/group name (or segment id when segs) to a misspelt one. */
static const char *policy_suggest(struct policy_checker *C, const char *name, bool segs)
{
	const char *best = NULL;
	int best_d = 3, len = (int)strlen(name);

	if (C->suggestions++ >= POLICY_MAX_SUGGESTIONS)
		return NULL;

	if (segs) {
		for (size_t i = 0; i < C->p->segs.n; i++) {
			int d = policy_edit_distance(name, C->p->segs.v[i].id);

			if (d < best_d && d < len) {
				best_d = d;
				best = C->p->segs.v[i].id;
			}
		}
		return best;
	}
	for (size_t i = 0; i < C->nnames; i++) {
		int d, diff = len - (int)strlen(C->names[i].name);

		if (diff > 2 || diff < -2)
			continue; /* cannot be within distance 2 */
		d = policy_edit_distance(name, C->names[i].name);

		if (d < best_d && d < len) {
			best_d = d;
			best = C->names[i].name;
		}
	}
	return best;
}

static void policy_unknown(struct policy_checker *C, const struct nameref *r, const char *what,
                           bool segs)
{
	const char *s = policy_suggest(C, r->name, segs);

	if (s)
		diag_error(&r->pos, "unknown %s \"%s\"; did you mean \"%s\"?", what, r->name, s);
	else
		diag_error(&r->pos, "unknown %s \"%s\"", what, r->name);
}

static const char *policy_seg_label(const struct segment *s)
{
	switch (s->kind) {
	case SEG_SHIREI:
		return "指令系";
	case SEG_JOHO:
		return "情報系";
	case SEG_LGWAN:
		return "LGWAN接続系";
	case SEG_INTERNET:
		return "インターネット";
	case SEG_OTHER:
		break;
	}
	return s->label ? s->label : s->id;
}

/* Segments: ids, kinds, interfaces, networks. */
static void policy_check_segments(struct policy_checker *C)
{
	struct policy *p = C->p;

	for (size_t i = 0; i < p->segs.n; i++) {
		struct segment *s = &p->segs.v[i];

		for (size_t j = 0; j < i; j++) {
			if (strcmp(p->segs.v[j].id, s->id) == 0) {
				diag_error(&s->pos, "segment \"%s\" is defined twice", s->id);
				diag_note(&p->segs.v[j].pos, "the first definition of \"%s\"",
				          s->id);
				break;
			}
		}
		if (s->ifaces.n == 0)
			diag_error(&s->pos, "segment \"%s\" has no interface: add 'interface NAME'",
			           s->id);
		if (s->kind == SEG_INTERNET) {
			for (size_t k = 0; k < s->nets.n; k++)
				diag_error(&s->nets.pos[k],
				           "the internet segment \"%s\" has no networks of its own "
				           "(it stands for every address not in a segment)",
				           s->id);
			if (s->registered_only)
				diag_error(&s->registered_only_pos,
				           "registered-only does not apply to the internet segment "
				           "\"%s\"",
				           s->id);
			if (s->hosts.n)
				diag_error(&s->hosts.v[0]->pos,
				           "hosts cannot be registered in the internet segment "
				           "\"%s\": declare internet hosts at top level",
				           s->id);
		} else {
			if (s->nets.n == 0)
				diag_error(&s->pos,
				           "segment \"%s\" has no network: add 'network "
				           "ADDRESS/LENGTH'",
				           s->id);
			if (s->registered_only && s->hosts.n == 0)
				diag_warn(
				    &s->registered_only_pos,
				    "segment \"%s\" is registered-only but registers no host: "
				    "every packet from it will be dropped",
				    s->id);
		}
	}
	/* an interface belongs to one segment */
	for (size_t i = 0; i < p->segs.n; i++) {
		struct segment *s = &p->segs.v[i];

		for (size_t k = 0; k < s->ifaces.n; k++) {
			bool dup = false;

			for (size_t j = 0; j <= i && !dup; j++) {
				struct segment *t = &p->segs.v[j];
				size_t lim = j == i ? k : t->ifaces.n;

				for (size_t m = 0; m < lim && !dup; m++) {
					if (strcmp(t->ifaces.v[m], s->ifaces.v[k]) != 0)
						continue;
					dup = true;
					if (t == s)
						diag_error(
						    &s->ifaces.pos[k],
						    "interface %s is listed twice in segment "
						    "\"%s\"",
						    s->ifaces.v[k], s->id);
					else
						diag_error(&s->ifaces.pos[k],
						           "interface %s is already claimed by "
						           "segment \"%s\"",
						           s->ifaces.v[k], t->id);
					diag_note(&t->ifaces.pos[m], "%s",
					          t == s ? "first listed here" : "claimed here");
				}
			}
		}
	}
	/* networks never overlap between segments (the internet's are errors already) */
	for (size_t i = 0; i < p->segs.n; i++) {
		struct segment *s = &p->segs.v[i];

		if (s->kind == SEG_INTERNET)
			continue;

		for (size_t k = 0; k < s->nets.n; k++) {
			bool dup = false;

			for (size_t j = 0; j <= i && !dup; j++) {
				struct segment *t = &p->segs.v[j];
				size_t lim = j == i ? k : t->nets.n;

				if (t->kind == SEG_INTERNET)
					continue;

				for (size_t m = 0; m < lim && !dup; m++) {
					char a[64], b[64];

					if (!prefix_overlap(&t->nets.v[m], &s->nets.v[k]))
						continue;
					dup = true;
					prefix_format(&s->nets.v[k], a, sizeof(a));
					prefix_format(&t->nets.v[m], b, sizeof(b));
					if (t == s)
						diag_warn(
						    &s->nets.pos[k],
						    "network %s overlaps %s of the same segment", a,
						    b);
					else
						diag_error(
						    &s->nets.pos[k],
						    "network %s of segment \"%s\" overlaps %s "
						    "of segment \"%s\"",
						    a, s->id, b, t->id);
					diag_note(&t->nets.pos[m], "%s is here", b);
				}
			}
		}
	}
}

/* Hosts and groups share one namespace; build it sorted and report duplicates. */
static void policy_check_names(struct policy_checker *C)
{
	struct policy *p = C->p;
	size_t n = 0;

	C->names = xreallocarray(NULL, p->hosts.n + p->groups.n + 1, sizeof(*C->names));
	for (size_t i = 0; i < p->hosts.n; i++) {
		C->names[n].name = p->hosts.v[i].name;
		C->names[n].pos = &p->hosts.v[i].pos;
		C->names[n].host = &p->hosts.v[i];
		C->names[n++].group = NULL;
	}
	for (size_t i = 0; i < p->groups.n; i++) {
		C->names[n].name = p->groups.v[i].name;
		C->names[n].pos = &p->groups.v[i].pos;
		C->names[n].host = NULL;
		C->names[n++].group = &p->groups.v[i];
	}
	C->nnames = n;
	policy_sort_ctx = p;
	qsort(C->names, n, sizeof(*C->names), policy_name_cmp);
	for (size_t i = 1; i < n; i++) {
		const struct policy_name *a = &C->names[i - 1], *b = &C->names[i];
		size_t first = i - 1;

		if (strcmp(a->name, b->name) != 0)
			continue;
		while (first > 0 && strcmp(C->names[first - 1].name, b->name) == 0)
			first--;
		diag_error(b->pos, "\"%s\" is defined twice (hosts and groups share one namespace)",
		           b->name);
		diag_note(C->names[first].pos, "the first definition of \"%s\" (a %s)", b->name,
		          C->names[first].host ? "host" : "group");
	}
}

struct policy_addr_ref {
	const struct prefix *a;
	struct host *h;
	size_t k;
};

static int policy_addr_cmp(const void *x, const void *y)
{
	const struct policy_addr_ref *a = x, *b = y;
	int c = prefix_cmp(a->a, b->a);

	return c ? c : policy_pos_cmp(&a->h->addrs.pos[a->k], &b->h->addrs.pos[b->k]);
}

/* The segment whose networks contain addr, or NULL. */
static struct segment *policy_seg_of(const struct policy *p, const struct prefix *addr)
{
	for (size_t i = 0; i < p->segs.n; i++) {
		struct segment *s = &p->segs.v[i];

		for (size_t k = 0; k < s->nets.n; k++)
			if (prefix_contains(&s->nets.v[k], addr))
				return s;
	}
	return NULL;
}

/* Hosts: their segment, addresses inside it, addresses used twice. */
static void policy_check_hosts(struct policy_checker *C)
{
	struct policy *p = C->p;
	struct policy_addr_ref *refs;
	size_t nrefs = 0, total = 0;

	C->spans = xcalloc(p->hosts.n + 1, sizeof(*C->spans));
	for (size_t i = 0; i < p->hosts.n; i++)
		p->hosts.v[i].segment = NULL;
	for (size_t i = 0; i < p->segs.n; i++)
		for (size_t k = 0; k < p->segs.v[i].hosts.n; k++)
			p->segs.v[i].hosts.v[k]->segment = &p->segs.v[i];
	for (size_t i = 0; i < p->hosts.n; i++) {
		struct host *h = &p->hosts.v[i];

		total += h->addrs.n;
		if (h->registered) {
			struct segment *s = h->segment;

			if (!s || s->kind == SEG_INTERNET)
				continue; /* reported with the segment */
			for (size_t k = 0; k < h->addrs.n; k++) {
				char a[64];
				bool in = false;

				for (size_t m = 0; m < s->nets.n && !in; m++)
					in = prefix_contains(&s->nets.v[m], &h->addrs.v[k]);
				if (in || s->nets.n == 0)
					continue;
				prefix_format(&h->addrs.v[k], a, sizeof(a));
				diag_error(&h->addrs.pos[k],
				           "address %s of host \"%s\" is outside the networks of "
				           "segment \"%s\"",
				           a, h->name, s->id);
			}
			continue;
		}
		/* a top-level host belongs where all its addresses are */
		for (size_t k = 0; k < h->addrs.n; k++) {
			struct segment *s = policy_seg_of(p, &h->addrs.v[k]);

			if (k == 0)
				h->segment = s;
			else if (s != h->segment)
				C->spans[i] = true;
		}
		if (C->spans[i])
			h->segment = NULL;
	}
	/* the same address twice: an error between registered devices */
	refs = xreallocarray(NULL, total + 1, sizeof(*refs));
	for (size_t i = 0; i < p->hosts.n; i++)
		for (size_t k = 0; k < p->hosts.v[i].addrs.n; k++) {
			refs[nrefs].a = &p->hosts.v[i].addrs.v[k];
			refs[nrefs].h = &p->hosts.v[i];
			refs[nrefs++].k = k;
		}
	policy_sort_ctx = p;
	qsort(refs, nrefs, sizeof(*refs), policy_addr_cmp);
	for (size_t i = 1; i < nrefs; i++) {
		const struct policy_addr_ref *a = &refs[i - 1], *b = &refs[i];
		char s[64];

		if (prefix_cmp(a->a, b->a) != 0)
			continue;
		prefix_format(b->a, s, sizeof(s));
		if (a->h == b->h)
			diag_warn(&b->h->addrs.pos[b->k], "host \"%s\" lists %s twice", b->h->name,
			          s);
		else if (a->h->registered && b->h->registered)
			diag_error(
			    &b->h->addrs.pos[b->k],
			    "address %s of registered host \"%s\" is already registered host "
			    "\"%s\"'s",
			    s, b->h->name, a->h->name);
		else
			continue; /* a top-level name for an address: an alias */
		diag_note(&a->h->addrs.pos[a->k], "%s of \"%s\" is here", s, a->h->name);
	}
	free(refs);
}

/* Add h to g->hosts unless already there (mark[] holds the last group that added it). */
static void policy_group_add(struct policy_checker *C, struct group *g, struct host *h,
                             size_t stamp)
{
	size_t hi = (size_t)(h - C->p->hosts.v);

	if (C->mark[hi] == stamp)
		return;
	C->mark[hi] = stamp;
	if (C->expanded == POLICY_MAX_GROUP_HOSTS) {
		C->expanded++;
		diag_error(&g->pos, "groups expand to more than %u hosts in all",
		           POLICY_MAX_GROUP_HOSTS);
	}
	if (C->expanded >= POLICY_MAX_GROUP_HOSTS)
		return;
	C->expanded++;
	*VEC_PUSH(g->hosts) = h;
}

/* Groups: resolve members, find cycles, flatten to hosts (iterative DFS). */
static void policy_check_groups(struct policy_checker *C)
{
	struct policy *p = C->p;
	size_t ng = p->groups.n;
	unsigned char *color = xcalloc(ng + 1, 1); /* 0 new, 1 on the path, 2 done */

	struct frame {
		size_t g, next;
	} *stack = xreallocarray(NULL, ng + 1, sizeof(*stack));

	for (size_t i = 0; i < ng; i++) {
		struct group *g = &p->groups.v[i];

		g->hosts.n = 0;
		for (size_t k = 0; k < g->members.n; k++)
			if (!policy_lookup(C, g->members.v[k].name))
				policy_unknown(C, &g->members.v[k], "host or group", false);
	}
	for (size_t root = 0; root < ng; root++) {
		size_t depth = 0;

		if (color[root])
			continue;
		stack[depth].g = root;
		stack[depth++].next = 0;
		color[root] = 1;
		while (depth) {
			struct frame *f = &stack[depth - 1];
			struct group *g = &p->groups.v[f->g];
			const struct policy_name *n;
			size_t h;

			if (f->next == g->members.n) {
				size_t stamp = ++C->stamp;

				/* all members done: flatten */
				for (size_t k = 0; k < g->members.n; k++) {
					n = policy_lookup(C, g->members.v[k].name);
					if (!n)
						continue;
					if (n->host) {
						policy_group_add(C, g, n->host, stamp);
						continue;
					}
					if (color[n->group - p->groups.v] != 2)
						continue; /* a cycle, reported */
					for (size_t m = 0; m < n->group->hosts.n; m++)
						policy_group_add(C, g, n->group->hosts.v[m], stamp);
				}
				color[f->g] = 2;
				depth--;
				continue;
			}
			n = policy_lookup(C, g->members.v[f->next].name);
			f->next++;
			if (!n || !n->group)
				continue;
			h = (size_t)(n->group - p->groups.v);
			if (color[h] == 0) {
				color[h] = 1;
				stack[depth].g = h;
				stack[depth++].next = 0;
			} else if (color[h] == 1) {
				struct strbuf b;
				size_t at = 0;

				while (stack[at].g != h)
					at++;
				strbuf_init(&b, 0);
				for (size_t k = at; k < depth; k++)
					strbuf_printf(&b, "%s -> ", p->groups.v[stack[k].g].name);
				strbuf_puts(&b, p->groups.v[h].name);
				diag_error(&g->members.v[f->next - 1].pos, "group cycle: %s", b.s);
				strbuf_free(&b);
			}
		}
	}
	free(stack);
	free(color);
}

/* Resolve a from/to/manage reference; false (reported) if unknown. */
static bool policy_resolve(struct policy_checker *C, const struct nameref *r, struct host **h_r,
                           struct group **g_r)
{
	const struct policy_name *n;

	*h_r = NULL;
	*g_r = NULL;
	if (!r->name)
		return true;
	n = policy_lookup(C, r->name);
	if (!n) {
		policy_unknown(C, r, "host or group", false);
		return false;
	}
	*h_r = n->host;
	*g_r = n->group;
	return true;
}

/* Does host h belong to segment s as one side of a flow?  Reports if not. */
static bool policy_check_side_host(const struct policy_checker *C, const struct nameref *r,
                                   const struct group *g, const struct host *h,
                                   const struct segment *s, const char *side)
{
	struct strbuf who;
	bool ok = true;
	size_t hi = (size_t)(h - C->p->hosts.v);

	strbuf_init(&who, 0);
	if (g)
		strbuf_printf(&who, "host \"%s\" of group \"%s\"", h->name, g->name);
	else
		strbuf_printf(&who, "host \"%s\"", h->name);
	if (C->spans[hi]) {
		diag_error(&r->pos,
		           "%s has addresses in more than one segment (or in and out of "
		           "them); it cannot be used in a flow",
		           who.s);
		ok = false;
	} else if (s->kind == SEG_INTERNET) {
		if (h->segment) {
			diag_error(&r->pos,
			           "%s is in segment \"%s\", not on the internet (the flow's %s)",
			           who.s, h->segment->id, side);
			ok = false;
		}
	} else if (h->segment != s) {
		if (h->segment)
			diag_error(&r->pos,
			           "%s is in segment \"%s\", not in \"%s\" (the flow's %s)", who.s,
			           h->segment->id, s->id, side);
		else
			diag_error(&r->pos, "%s is in no segment, not in \"%s\" (the flow's %s)",
			           who.s, s->id, side);
		ok = false;
	}
	strbuf_free(&who);
	return ok;
}

static void policy_check_side(struct policy_checker *C, const struct nameref *r,
                              const struct host *h, const struct group *g, const struct segment *s,
                              const char *side)
{
	size_t bad = 0;

	if (!s || (!h && !g))
		return;
	if (h) {
		policy_check_side_host(C, r, NULL, h, s, side);
		return;
	}
	if (C->group_ok[g - C->p->groups.v] == s)
		return; /* checked for this segment already */
	for (size_t i = 0; i < g->hosts.n; i++) {
		if (bad == POLICY_MAX_SIDE_ERRORS) {
			size_t more = 0;

			for (size_t k = i; k < g->hosts.n; k++)
				if (g->hosts.v[k]->segment != s)
					more++;
			if (more)
				diag_note(&r->pos, "and up to %zu more hosts of group \"%s\"", more,
				          g->name);
			return;
		}
		if (!policy_check_side_host(C, r, g, g->hosts.v[i], s, side))
			bad++;
	}
	if (bad == 0)
		C->group_ok[g - C->p->groups.v] = s;
}

static const char *policy_flow_word(enum flow_kind k)
{
	switch (k) {
	case FLOW_ALLOW:
		return "allow";
	case FLOW_MAIL:
		return "mail";
	case FLOW_SCREEN:
		return "screen";
	case FLOW_EXCEPTION:
		return "exception";
	}
	return "?";
}

/* tcp/25, 465, 587 in a service: the first SMTP port it covers, or 0. */
static int policy_smtp_port(const struct service *s)
{
	static const int smtp[] = {25, 465, 587};

	if (s->proto != PROTO_TCP)
		return 0;
	for (size_t i = 0; i < s->ports.n; i++)
		for (size_t k = 0; k < 3; k++)
			if (s->ports.v[i].lo <= smtp[k] && smtp[k] <= s->ports.v[i].hi)
				return smtp[k];
	return 0;
}

static void policy_check_flow(struct policy_checker *C, struct flow *f)
{
	struct segment *src, *dst;
	const char *kw = policy_flow_word(f->kind);

	f->src_seg = src = policy_segment(C->p, f->src.name);
	f->dst_seg = dst = policy_segment(C->p, f->dst.name);
	f->from_host = f->to_host = NULL;
	f->from_group = f->to_group = NULL;
	f->expired = f->redundant = false;
	if (!src)
		policy_unknown(C, &f->src, "segment", true);
	if (!dst)
		policy_unknown(C, &f->dst, "segment", true);
	policy_resolve(C, &f->from, &f->from_host, &f->from_group);
	policy_resolve(C, &f->to, &f->to_host, &f->to_group);
	if ((f->kind == FLOW_MAIL || f->kind == FLOW_SCREEN) && !f->to.name)
		diag_error(&f->pos, "a %s flow needs 'to HOST' (the %s it goes to)", kw,
		           f->kind == FLOW_MAIL ? "mail server" : "screen-transfer server");
	if (f->kind == FLOW_EXCEPTION) {
		if (!f->approved_by)
			diag_error(&f->pos, "exception without approved-by (who approved it)");
		if (!f->reason)
			diag_error(&f->pos, "exception without reason (why it is needed)");
		if (f->expires_pos.line == 0)
			diag_error(&f->pos, "exception without expires (the last day it applies, "
			                    "YYYY-MM-DD)");
	}
	if (!src || !dst)
		return;
	if (src == dst) {
		diag_error(&f->dst.pos,
		           "source and destination are both segment \"%s\": traffic inside a "
		           "segment never crosses the box",
		           src->id);
		return;
	}
	policy_check_side(C, &f->from, f->from_host, f->from_group, src, "source");
	policy_check_side(C, &f->to, f->to_host, f->to_group, dst, "destination");

	if ((src->kind == SEG_SHIREI && dst->kind == SEG_INTERNET) ||
	    (src->kind == SEG_INTERNET && dst->kind == SEG_SHIREI))
		diag_error(&f->pos,
		           "指令系 never talks to the internet: no flow between \"%s\" and \"%s\" "
		           "compiles, not even an exception",
		           src->id, dst->id);
	if (f->kind == FLOW_ALLOW && (src->kind == SEG_LGWAN || dst->kind == SEG_LGWAN)) {
		const struct segment *l = src->kind == SEG_LGWAN ? src : dst;

		diag_error(&f->pos,
		           "plain allow across the boundary of %s \"%s\": only mail, screen or an "
		           "approved exception may cross it",
		           policy_seg_label(l), l->id);
	}
	if (dst->kind == SEG_SHIREI && !f->to.name)
		diag_error(&f->dst.pos,
		           "a flow into 指令系 \"%s\" must name its hosts there: add 'to HOST'",
		           dst->id);
	if (src->kind == SEG_SHIREI && !f->from.name)
		diag_error(&f->src.pos,
		           "a flow out of 指令系 \"%s\" must name its hosts there: add 'from HOST'",
		           src->id);
	for (size_t i = 0; i < f->svcs.n; i++) {
		const struct service *s = &f->svcs.v[i];
		int smtp = policy_smtp_port(s);

		if (src->kind == SEG_SHIREI || dst->kind == SEG_SHIREI) {
			for (size_t k = 0; k < s->ports.n; k++) {
				unsigned width = (unsigned)s->ports.v[k].hi - s->ports.v[k].lo + 1u;

				if (width > POLICY_SHIREI_MAX_PORTS) {
					diag_error(&s->pos,
					           "a flow into or out of 指令系 names its ports: "
					           "%u-%u is %u ports (at most %d)",
					           s->ports.v[k].lo, s->ports.v[k].hi, width,
					           POLICY_SHIREI_MAX_PORTS);
					break;
				}
			}
		}
		if (smtp && (f->kind == FLOW_ALLOW || f->kind == FLOW_EXCEPTION)) {
			bool exact = s->ports.n == 1 && s->ports.v[0].lo == s->ports.v[0].hi;

			if (exact)
				diag_error(&s->pos,
				           "SMTP (tcp/%d) across segments must pass the sanitiser: "
				           "use 'mail %s -> %s to HOST'",
				           smtp, src->id, dst->id);
			else
				diag_error(
				    &s->pos,
				    "this service includes SMTP (tcp/%d), which across "
				    "segments must pass the sanitiser: use 'mail %s -> %s to "
				    "HOST'",
				    smtp, src->id, dst->id);
		}
	}
	if (f->kind == FLOW_EXCEPTION && f->expires.year) {
		long left = policy_days(&f->expires) - policy_days(&C->p->today);

		if (left < 0) {
			f->expired = true;
			diag_warn(&f->expires_pos,
			          "exception expired on %04d-%02d-%02d; it is not applied",
			          f->expires.year, f->expires.month, f->expires.day);
		} else if (left == 0) {
			diag_warn(&f->expires_pos, "exception expires today (%04d-%02d-%02d)",
			          f->expires.year, f->expires.month, f->expires.day);
		} else if (left <= POLICY_EXPIRY_WARN_DAYS) {
			diag_warn(&f->expires_pos,
			          "exception expires on %04d-%02d-%02d, in %ld day%s",
			          f->expires.year, f->expires.month, f->expires.day, left,
			          left == 1 ? "" : "s");
		}
	}
}

/* ------------------------------------------------------------------ */
/* redundancy */

/* Hosts a side stands for; all = everything in the segment. */
struct policy_side {
	struct host *const *v;
	size_t n;
	bool all;
};

static struct policy_side policy_side_of(struct host *const *one, const struct group *g)
{
	struct policy_side s = {NULL, 0, true};

	if (*one) {
		s.v = one;
		s.n = 1;
		s.all = false;
	} else if (g) {
		s.v = g->hosts.v;
		s.n = g->hosts.n;
		s.all = false;
	}
	return s;
}

/* Is the redundancy budget spent?  Counts n steps. */
static bool policy_spent(struct policy_checker *C, size_t n)
{
	C->work += n;
	return C->work > POLICY_REDUNDANCY_WORK;
}

static bool policy_side_covers(struct policy_checker *C, const struct policy_side *a,
                               const struct policy_side *b)
{
	size_t stamp;

	if (a->all)
		return true;
	if (b->all)
		return false;
	if (policy_spent(C, a->n + b->n))
		return false;
	stamp = ++C->stamp;
	for (size_t i = 0; i < a->n; i++)
		C->mark[a->v[i] - C->p->hosts.v] = stamp;
	for (size_t i = 0; i < b->n; i++)
		if (C->mark[b->v[i] - C->p->hosts.v] != stamp)
			return false;
	return true;
}

/* Is every port of lo-hi covered by the ranges of proto in v? */
static bool policy_range_covered(struct policy_checker *C, const struct service *v, size_t n,
                                 enum proto proto, unsigned lo, unsigned hi)
{
	unsigned at = lo;

	while (at <= hi) {
		unsigned best = 0;

		for (size_t i = 0; i < n; i++) {
			if (v[i].proto != proto)
				continue;
			if (policy_spent(C, v[i].ports.n))
				return false;
			for (size_t k = 0; k < v[i].ports.n; k++)
				if (v[i].ports.v[k].lo <= at && at <= v[i].ports.v[k].hi &&
				    v[i].ports.v[k].hi >= best)
					best = v[i].ports.v[k].hi;
		}
		if (best < at)
			return false;
		at = best + 1;
	}
	return true;
}

static bool policy_svcs_cover(struct policy_checker *C, const struct flow *a, const struct flow *b)
{
	for (size_t i = 0; i < b->svcs.n; i++) {
		const struct service *s = &b->svcs.v[i];

		if (s->proto == PROTO_PING) {
			bool ping = false;

			for (size_t k = 0; k < a->svcs.n && !ping; k++)
				ping = a->svcs.v[k].proto == PROTO_PING;
			if (!ping)
				return false;
			continue;
		}
		for (size_t k = 0; k < s->ports.n; k++)
			if (!policy_range_covered(C, a->svcs.v, a->svcs.n, s->proto,
			                          s->ports.v[k].lo, s->ports.v[k].hi))
				return false;
	}
	return true;
}

static int policy_date_cmp(const struct date *a, const struct date *b)
{
	long x = policy_days(a), y = policy_days(b);

	return x < y ? -1 : x > y;
}

/* Does the earlier flow e already do everything the later flow l does? */
static bool policy_flow_covers(struct policy_checker *C, const struct flow *e, const struct flow *l)
{
	struct policy_side ef, et, lf, lt;

	if (e->src_seg != l->src_seg || e->dst_seg != l->dst_seg)
		return false;
	if ((e->kind == FLOW_MAIL) != (l->kind == FLOW_MAIL))
		return false; /* a redirect and a pass are different things */
	/* an exception ends: it covers only exceptions that end no later */
	if (e->kind == FLOW_EXCEPTION &&
	    (l->kind != FLOW_EXCEPTION || policy_date_cmp(&e->expires, &l->expires) < 0))
		return false;
	ef = policy_side_of(&e->from_host, e->from_group);
	et = policy_side_of(&e->to_host, e->to_group);
	lf = policy_side_of(&l->from_host, l->from_group);
	lt = policy_side_of(&l->to_host, l->to_group);
	return policy_side_covers(C, &ef, &lf) && policy_side_covers(C, &et, &lt) &&
	       policy_svcs_cover(C, e, l);
}

static bool policy_flow_usable(const struct policy_checker *C, size_t i)
{
	const struct flow *f = &C->p->flows.v[i];

	return !C->flow_bad[i] && f->src_seg && f->dst_seg && f->src_seg != f->dst_seg &&
	       !f->expired && (!f->from.name || f->from_host || f->from_group) &&
	       (!f->to.name || f->to_host || f->to_group);
}

static const struct policy *policy_flow_sort_ctx;

/* Flows by segment pair, then in file order. */
static int policy_flow_cmp(const void *x, const void *y)
{
	const struct flow *v = policy_flow_sort_ctx->flows.v;
	size_t a = *(const size_t *)x, b = *(const size_t *)y;
	const struct segment *sa = v[a].src_seg, *sb = v[b].src_seg;
	const struct segment *da = v[a].dst_seg, *db = v[b].dst_seg;

	if (sa != sb)
		return sa < sb ? -1 : 1;
	if (da != db)
		return da < db ? -1 : 1;
	return a < b ? -1 : a > b;
}

/* Warn about flows an earlier flow between the same segments already covers. */
static void policy_check_redundant(struct policy_checker *C)
{
	struct policy *p = C->p;
	size_t *idx = xreallocarray(NULL, p->flows.n + 1, sizeof(*idx));
	size_t *by = xreallocarray(NULL, p->flows.n + 1, sizeof(*by)); /* the covering flow */
	bool *dup = xcalloc(p->flows.n + 1, sizeof(*dup));
	size_t n = 0, stopped = SIZE_MAX;

	for (size_t i = 0; i < p->flows.n; i++)
		if (policy_flow_usable(C, i))
			idx[n++] = i;
	policy_flow_sort_ctx = p;
	qsort(idx, n, sizeof(*idx), policy_flow_cmp);
	for (size_t bucket = 0; bucket < n;) {
		size_t end = bucket;

		while (end < n && p->flows.v[idx[end]].src_seg == p->flows.v[idx[bucket]].src_seg &&
		       p->flows.v[idx[end]].dst_seg == p->flows.v[idx[bucket]].dst_seg)
			end++;
		for (size_t i = bucket + 1; i < end; i++) {
			struct flow *l = &p->flows.v[idx[i]];

			for (size_t k = bucket; k < i; k++) {
				struct flow *e = &p->flows.v[idx[k]];

				if (e->redundant || !policy_flow_covers(C, e, l))
					continue;
				l->redundant = true;
				by[idx[i]] = idx[k];
				dup[idx[i]] = policy_flow_covers(C, l, e);
				break;
			}
			if (C->work > POLICY_REDUNDANCY_WORK) {
				stopped = idx[i];
				goto report;
			}
		}
		bucket = end;
	}
report:
	/* in file order */
	for (size_t i = 0; i < p->flows.n; i++) {
		struct flow *l = &p->flows.v[i];

		if (!l->redundant)
			continue;
		if (dup[i])
			diag_warn(&l->pos, "duplicate flow: the same as an earlier one");
		else
			diag_warn(&l->pos,
			          "redundant flow: an earlier flow already allows all of it");
		diag_note(&p->flows.v[by[i]].pos, "the earlier flow");
	}
	if (stopped != SIZE_MAX)
		diag_warn(
		    &p->flows.v[stopped].pos,
		    "too many flows to compare them all for redundancy; some were not compared");
	free(dup);
	free(by);
	free(idx);
}

static void policy_check_mgmt(struct policy_checker *C)
{
	for (size_t i = 0; i < C->p->mgmt.n; i++) {
		struct mgmt *m = &C->p->mgmt.v[i];

		policy_resolve(C, &m->from, &m->from_host, &m->from_group);
	}
}

bool policy_check(struct policy *p)
{
	struct policy_checker C;
	int errors = diag_errors();

	memset(&C, 0, sizeof(C));
	C.p = p;
	C.mark = xcalloc(p->hosts.n + 1, sizeof(*C.mark));
	if (p->today.year == 0)
		p->today = policy_today();
	policy_check_segments(&C);
	policy_check_names(&C);
	policy_check_hosts(&C);
	policy_check_groups(&C);
	C.flow_bad = xcalloc(p->flows.n + 1, sizeof(*C.flow_bad));
	C.group_ok = xcalloc(p->groups.n + 1, sizeof(*C.group_ok));
	for (size_t i = 0; i < p->flows.n; i++) {
		int before = diag_errors();

		policy_check_flow(&C, &p->flows.v[i]);
		C.flow_bad[i] = diag_errors() != before;
	}
	policy_check_redundant(&C);
	policy_check_mgmt(&C);
	free(C.names);
	free(C.spans);
	free(C.flow_bad);
	free(C.group_ok);
	free(C.mark);
	return diag_errors() == errors;
}

/*
 * fixture - hand-built policies for unit tests (see fixture.h).  Resolves
 * names the way policy_check() does, for the few features the tests use.
 */
#include "fixture.h"
#include "xalloc.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int fx_failures;

static const char *fx_file = "rules/test.rules";

static bool fx_prefix(const char *s, struct prefix *r)
{
	char buf[64];
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);

	if (n >= sizeof(buf))
		return false;
	memcpy(buf, s, n);
	buf[n] = '\0';
	memset(r, 0, sizeof(*r));
	if (inet_pton(AF_INET, buf, r->addr) == 1) {
		r->family = AF_INET;
		r->len = 32;
	} else if (inet_pton(AF_INET6, buf, r->addr) == 1) {
		r->family = AF_INET6;
		r->len = 128;
	} else {
		return false;
	}
	if (slash)
		r->len = atoi(slash + 1);
	return true;
}

struct policy *fx_policy(void)
{
	struct policy *p = xcalloc(1, sizeof(*p));

	p->relay_port = POLICY_DEFAULT_RELAY_PORT;
	p->log_group = POLICY_DEFAULT_LOG_GROUP;
	p->today = (struct date){2026, 11, 22};
	/* room so that pointers into the vectors stay valid while building */
	p->segs.cap = 16;
	p->segs.v = xcalloc(p->segs.cap, sizeof(*p->segs.v));
	p->hosts.cap = 8192;
	p->hosts.v = xcalloc(p->hosts.cap, sizeof(*p->hosts.v));
	p->groups.cap = 16;
	p->groups.v = xcalloc(p->groups.cap, sizeof(*p->groups.v));
	return p;
}

/* Call fn for each space/comma separated word of s. */
static void fx_words(const char *s, const char *seps, void (*fn)(void *, const char *), void *arg)
{
	char *copy = xstrdup(s ? s : ""), *save = NULL;

	for (char *w = strtok_r(copy, seps, &save); w; w = strtok_r(NULL, seps, &save))
		fn(arg, w);
	free(copy);
}

static void fx_add_iface(void *arg, const char *w)
{
	struct segment *s = arg;
	*VEC_PUSH(s->ifaces) = xstrdup(w);
}

static void fx_add_net(void *arg, const char *w)
{
	struct segment *s = arg;
	if (!fx_prefix(w, VEC_PUSH(s->nets)))
		abort();
}

struct segment *fx_segment(struct policy *p, const char *id, enum seg_kind kind, const char *ifaces,
                           const char *nets)
{
	struct segment *s;

	if (p->segs.n == p->segs.cap)
		abort();
	s = VEC_PUSH(p->segs);
	s->id = xstrdup(id);
	s->label = xstrdup(id);
	s->kind = kind;
	s->pos = (struct srcpos){fx_file, (int)p->segs.n, 1, 7};
	fx_words(ifaces, " ", fx_add_iface, s);
	fx_words(nets, " ", fx_add_net, s);
	return s;
}

static void fx_add_addr(void *arg, const char *w)
{
	struct host *h = arg;
	if (!fx_prefix(w, VEC_PUSH(h->addrs)))
		abort();
}

struct host *fx_host(struct policy *p, struct segment *seg, const char *name, const char *addrs,
                     const char *mac)
{
	struct host *h;

	if (p->hosts.n == p->hosts.cap)
		abort();
	h = VEC_PUSH(p->hosts);
	h->name = xstrdup(name);
	fx_words(addrs, " ", fx_add_addr, h);
	if (mac) {
		unsigned m[6];
		if (sscanf(mac, "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]) != 6)
			abort();
		for (int i = 0; i < 6; i++)
			h->mac[i] = (uint8_t)m[i];
		h->has_mac = true;
	}
	if (seg) {
		h->segment_decl = xstrdup(seg->id);
		h->segment = seg;
		h->registered = true;
		*VEC_PUSH(seg->hosts) = h;
	}
	return h;
}

struct fx_group_ctx {
	struct policy *p;
	struct group *g;
};

static void fx_add_member(void *arg, const char *w)
{
	struct fx_group_ctx *c = arg;
	struct host *h = policy_host(c->p, w);

	VEC_PUSH(c->g->members)->name = xstrdup(w);
	if (h)
		*VEC_PUSH(c->g->hosts) = h;
}

struct group *fx_group(struct policy *p, const char *name, const char *hosts)
{
	struct fx_group_ctx c = {p, NULL};

	if (p->groups.n == p->groups.cap)
		abort();
	c.g = VEC_PUSH(p->groups);
	c.g->name = xstrdup(name);
	fx_words(hosts, " ", fx_add_member, &c);
	return c.g;
}

struct fx_svcs {
	void *owner_svcs; /* the svcs vector */
	bool mgmt;
	struct flow *f;
	struct mgmt *m;
};

static void fx_add_port(void *arg, const char *w)
{
	struct service *s = arg;
	struct portrange *r = VEC_PUSH(s->ports);
	unsigned lo, hi;

	if (sscanf(w, "%u-%u", &lo, &hi) == 2) {
		r->lo = (uint16_t)lo;
		r->hi = (uint16_t)hi;
	} else {
		r->lo = r->hi = (uint16_t)atoi(w);
	}
}

static void fx_add_svc(void *arg, const char *w)
{
	struct fx_svcs *c = arg;
	struct service *s = c->mgmt ? VEC_PUSH(c->m->svcs) : VEC_PUSH(c->f->svcs);

	if (strcmp(w, "ping") == 0) {
		s->proto = PROTO_PING;
		return;
	}
	s->proto = strncmp(w, "udp/", 4) == 0 ? PROTO_UDP : PROTO_TCP;
	fx_words(w + 4, ",", fx_add_port, s);
}

static void fx_endpoint(struct policy *p, const char *name, struct host **h, struct group **g)
{
	if (!name)
		return;
	*h = policy_host(p, name);
	if (!*h)
		*g = policy_group(p, name);
	if (!*h && !*g)
		abort();
}

struct flow *fx_flow(struct policy *p, enum flow_kind kind, const char *src, const char *dst,
                     const char *svcs, const char *from, const char *to, int line)
{
	struct flow *f = VEC_PUSH(p->flows);
	struct fx_svcs c = {NULL, false, f, NULL};

	f->kind = kind;
	f->pos = (struct srcpos){fx_file, line, 1, 5};
	f->src.name = xstrdup(src);
	f->dst.name = xstrdup(dst);
	f->src_seg = policy_segment(p, src);
	f->dst_seg = policy_segment(p, dst);
	if (!f->src_seg || !f->dst_seg)
		abort();
	fx_endpoint(p, from, &f->from_host, &f->from_group);
	fx_endpoint(p, to, &f->to_host, &f->to_group);
	if (kind == FLOW_MAIL && !svcs)
		svcs = "tcp/25";
	fx_words(svcs, " ", fx_add_svc, &c);
	if (kind == FLOW_EXCEPTION) {
		f->approved_by = xstrdup("test");
		f->reason = xstrdup("test");
		f->expires = (struct date){2027, 3, 31};
	}
	return f;
}

void fx_mgmt(struct policy *p, const char *from, const char *svcs, int line)
{
	struct mgmt *m = VEC_PUSH(p->mgmt);
	struct fx_svcs c = {NULL, true, NULL, m};

	m->pos = (struct srcpos){fx_file, line, 5, 6};
	fx_endpoint(p, from, &m->from_host, &m->from_group);
	fx_words(svcs, " ", fx_add_svc, &c);
}

/* The fixture cannot use policy.c (another file's role); these few lookups
 * are all the tests need.  Weak so that the real ones win once linked. */
__attribute__((weak)) struct segment *policy_segment(const struct policy *p, const char *id)
{
	for (size_t i = 0; i < p->segs.n; i++)
		if (strcmp(p->segs.v[i].id, id) == 0)
			return &p->segs.v[i];
	return NULL;
}

__attribute__((weak)) struct host *policy_host(const struct policy *p, const char *name)
{
	for (size_t i = 0; i < p->hosts.n; i++)
		if (strcmp(p->hosts.v[i].name, name) == 0)
			return &p->hosts.v[i];
	return NULL;
}

__attribute__((weak)) struct group *policy_group(const struct policy *p, const char *name)
{
	for (size_t i = 0; i < p->groups.n; i++)
		if (strcmp(p->groups.v[i].name, name) == 0)
			return &p->groups.v[i];
	return NULL;
}

struct policy *fx_default(void)
{
	struct policy *p = fx_policy();
	struct segment *shirei, *joho, *lgwan;

	joho = fx_segment(p, "joho", SEG_JOHO, "joho0", "198.18.2.0/24 2001:2:0:2::/64");
	fx_host(p, joho, "admin-pc", "198.18.2.5 2001:2:0:2::5", NULL);
	fx_host(p, joho, "ops-pc", "198.18.2.10 2001:2:0:2::10", NULL);
	fx_host(p, joho, "ntp-joho", "198.18.2.12 2001:2:0:2::12", NULL);
	fx_host(p, joho, "mail-joho", "198.18.2.25 2001:2:0:2::25", NULL);
	fx_host(p, joho, "mirror-joho", "198.18.2.30 2001:2:0:2::30", NULL);
	fx_segment(p, "internet", SEG_INTERNET, "inet0", NULL);
	lgwan = fx_segment(p, "lgwan", SEG_LGWAN, "lgwan0", "198.18.3.0/24 2001:2:0:3::/64");
	fx_host(p, lgwan, "mail-lgwan", "198.18.3.25 2001:2:0:3::25", NULL);
	fx_host(p, lgwan, "vdi-lgwan", "198.18.3.50 2001:2:0:3::50", NULL);
	fx_host(p, lgwan, "update-srv", "198.18.3.80 2001:2:0:3::80", NULL);
	shirei = fx_segment(p, "shirei", SEG_SHIREI, "shirei0", "198.18.1.0/24 2001:2:0:1::/64");
	shirei->registered_only = true;
	fx_host(p, shirei, "dispatch", "198.18.1.10 2001:2:0:1::10", NULL);
	fx_host(p, shirei, "radio-gw", "198.18.1.20 2001:2:0:1::20", NULL);

	fx_flow(p, FLOW_ALLOW, "joho", "internet", "tcp/80,443 udp/53 ping", NULL, NULL, 19);
	fx_flow(p, FLOW_MAIL, "joho", "lgwan", NULL, NULL, "mail-lgwan", 22);
	fx_flow(p, FLOW_MAIL, "lgwan", "joho", NULL, NULL, "mail-joho", 13);
	fx_flow(p, FLOW_SCREEN, "joho", "lgwan", "tcp/3389", NULL, "vdi-lgwan", 16);
	fx_flow(p, FLOW_EXCEPTION, "lgwan", "joho", "tcp/8080", "update-srv", "mirror-joho", 20);
	fx_flow(p, FLOW_ALLOW, "joho", "shirei", "tcp/8443", "ops-pc", "dispatch", 16);
	fx_flow(p, FLOW_ALLOW, "shirei", "joho", "udp/123", "dispatch", "ntp-joho", 19);
	fx_mgmt(p, "admin-pc", "tcp/22", 10);
	p->box_seen = true;
	return p;
}

void fx_free(struct policy *p)
{
	for (size_t i = 0; i < p->segs.n; i++) {
		struct segment *s = &p->segs.v[i];
		for (size_t j = 0; j < s->ifaces.n; j++)
			free(s->ifaces.v[j]);
		free(s->ifaces.v);
		free(s->ifaces.pos);
		free(s->nets.v);
		free(s->nets.pos);
		free(s->hosts.v);
		free(s->id);
		free(s->label);
	}
	free(p->segs.v);
	for (size_t i = 0; i < p->hosts.n; i++) {
		free(p->hosts.v[i].name);
		free(p->hosts.v[i].addrs.v);
		free(p->hosts.v[i].segment_decl);
	}
	free(p->hosts.v);
	for (size_t i = 0; i < p->groups.n; i++) {
		struct group *g = &p->groups.v[i];
		for (size_t j = 0; j < g->members.n; j++)
			free(g->members.v[j].name);
		free(g->members.v);
		free(g->hosts.v);
		free(g->name);
	}
	free(p->groups.v);
	for (size_t i = 0; i < p->flows.n; i++) {
		struct flow *f = &p->flows.v[i];
		for (size_t j = 0; j < f->svcs.n; j++)
			free(f->svcs.v[j].ports.v);
		free(f->svcs.v);
		free(f->src.name);
		free(f->dst.name);
		free(f->approved_by);
		free(f->reason);
	}
	free(p->flows.v);
	for (size_t i = 0; i < p->mgmt.n; i++) {
		for (size_t j = 0; j < p->mgmt.v[i].svcs.n; j++)
			free(p->mgmt.v[i].svcs.v[j].ports.v);
		free(p->mgmt.v[i].svcs.v);
	}
	free(p->mgmt.v);
	free(p);
}

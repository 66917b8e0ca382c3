/*
 * nftgen - policy -> nftables IR (see nftgen.h for the layout).
 *
 * TRUST: a policy that passed policy_check(); the compiler re-derives
 * nothing the checker guarantees (names resolve, hosts lie in their
 * segments, networks do not overlap between segments).
 * FAILURE: out of memory is fatal; a flow that can match no address family
 * is warned about through diag and compiles to nothing.
 */
#include "nftgen.h"
#include "nftprint.h"
#include "strbuf.h"
#include "xalloc.h"

#include <netinet/in.h>
#include <linux/netfilter.h> /* after netinet/in.h */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define NFTGEN_ICMP_ECHO_REQUEST 8
#define NFTGEN_ICMPV6_ECHO_REQUEST 128

size_t nftgen_addr_len(int family)
{
	return family == AF_INET6 ? 16 : 4;
}

uint64_t nftgen_fnv1a64(const void *p, size_t n)
{
	const unsigned char *s = p;
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++) {
		h ^= s[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

/* --- building blocks ----------------------------------------------------- */

static char *nftgen_strdupf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *nftgen_strdupf(const char *fmt, ...)
{
	struct strbuf sb = STRBUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	strbuf_vprintf(&sb, fmt, ap);
	va_end(ap);
	return strbuf_detach(&sb);
}

/* A comment nft and the kernel accept: no double quotes or control bytes,
 * at most NFTGEN_COMMENT_MAX bytes (long paths keep their tail). */
static char *nftgen_comment_clean(const char *s)
{
	size_t n = strlen(s);
	const char *start = s;
	char *out;

	if (n > NFTGEN_COMMENT_MAX) {
		start = s + (n - (NFTGEN_COMMENT_MAX - 3));
		/* do not start inside a UTF-8 sequence */
		while (((unsigned char)*start & 0xc0) == 0x80)
			start++;
	}
	out = nftgen_strdupf("%s%s", start == s ? "" : "...", start);
	for (char *c = out; *c; c++)
		if (*c == '"' || (unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '_';
	return out;
}

static char *nftgen_pos_comment(const struct nftgen_opts *o, const struct srcpos *pos)
{
	const char *file = pos && pos->file ? pos->file : "?";
	char *raw, *c;

	if (o && o->from_prefix && o->to_prefix &&
	    strncmp(file, o->from_prefix, strlen(o->from_prefix)) == 0)
		raw = nftgen_strdupf("%s%s:%d", o->to_prefix, file + strlen(o->from_prefix),
		                     pos ? pos->line : 0);
	else
		raw = nftgen_strdupf("%s:%d", file, pos ? pos->line : 0);
	c = nftgen_comment_clean(raw);
	free(raw);
	return c;
}

static struct nftgen_set *nftgen_add_set(struct nftgen_table *t, char *name,
                                         enum nftgen_set_type type)
{
	struct nftgen_set *s = VEC_PUSH(t->sets);

	s->name = name;
	s->type = type;
	return s;
}

static struct nftgen_chain *nftgen_add_chain(struct nftgen_table *t, char *name,
                                             enum nftgen_chain_kind kind)
{
	struct nftgen_chain *c = VEC_PUSH(t->chains);

	c->name = name;
	c->kind = kind;
	return c;
}

static void nftgen_base(struct nftgen_chain *c, const char *type, int hook, int prio, bool drop)
{
	c->base = true;
	c->type = type;
	c->hook = hook;
	c->prio = prio;
	c->policy_drop = drop;
}

static struct nftgen_rule *nftgen_add_rule(struct nftgen_table *t, struct nftgen_chain *c,
                                           char *comment)
{
	struct nftgen_rule *r = VEC_PUSH(c->rules);

	r->comment = comment;
	r->action = NFTGEN_A_VERDICT;
	t->nrules++;
	return r;
}

static struct nftgen_match *nftgen_add_match(struct nftgen_rule *r, enum nftgen_match_type type)
{
	struct nftgen_match *m = VEC_PUSH(r->matches);

	m->type = type;
	return m;
}

static void nftgen_ifname_copy(char dst[NFTGEN_IFNAME_LEN], const char *src)
{
	size_t n = strlen(src);

	memset(dst, 0, NFTGEN_IFNAME_LEN);
	memcpy(dst, src, n < NFTGEN_IFNAME_LEN - 1 ? n : NFTGEN_IFNAME_LEN - 1);
}

static void nftgen_verdict_set(struct nftgen_rule *r, enum nftgen_verdict_code code)
{
	r->action = NFTGEN_A_VERDICT;
	r->verdict.code = code;
}

/* log prefix "..." ... counter drop */
static void nftgen_deny(struct nftgen_rule *r, char *prefix)
{
	r->log_prefix = prefix;
	r->counter = true;
	nftgen_verdict_set(r, NFTGEN_V_DROP);
}

static void nftgen_match_ct(struct nftgen_rule *r, uint32_t bits)
{
	nftgen_add_match(r, NFTGEN_M_CT_STATE)->ct_bits = bits;
}

static void nftgen_match_iifnames(struct nftgen_rule *r, const struct segment *s)
{
	struct nftgen_match *m = nftgen_add_match(r, NFTGEN_M_IIFNAME);

	for (size_t i = 0; i < s->ifaces.n; i++)
		nftgen_ifname_copy(*VEC_PUSH(m->ifnames), s->ifaces.v[i]);
}

static void nftgen_match_set(struct nftgen_rule *r, int family, bool daddr, bool negate,
                             const char *set)
{
	struct nftgen_match *m = nftgen_add_match(r, NFTGEN_M_ADDR);

	m->family = family;
	m->daddr = daddr;
	m->negate = negate;
	m->set = xstrdup(set);
}

static void nftgen_match_icmp(struct nftgen_rule *r, int family, const uint8_t *types, size_t n)
{
	struct nftgen_match *m = nftgen_add_match(r, NFTGEN_M_ICMP_TYPES);

	m->family = family;
	for (size_t i = 0; i < n; i++)
		*VEC_PUSH(m->types) = types[i];
}

static int nftgen_cmp_port(const void *a, const void *b)
{
	const struct portrange *x = a, *y = b;

	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	return (x->hi > y->hi) - (x->hi < y->hi);
}

/* tcp/udp dport: sorted, overlapping and adjacent ranges merged (nft merges
 * them in inline sets too, so the printed and the sent forms agree). */
static void nftgen_match_ports(struct nftgen_rule *r, const struct service *svc)
{
	struct nftgen_match *m = nftgen_add_match(r, NFTGEN_M_PORTS);
	size_t k = 0;

	m->proto = svc->proto == PROTO_UDP ? IPPROTO_UDP : IPPROTO_TCP;
	for (size_t i = 0; i < svc->ports.n; i++)
		*VEC_PUSH(m->ports) = svc->ports.v[i];
	if (m->ports.n == 0)
		return;
	qsort(m->ports.v, m->ports.n, sizeof(*m->ports.v), nftgen_cmp_port);
	for (size_t i = 1; i < m->ports.n; i++) {
		struct portrange *cur = &m->ports.v[k];
		if ((uint32_t)m->ports.v[i].lo <= (uint32_t)cur->hi + 1) {
			if (m->ports.v[i].hi > cur->hi)
				cur->hi = m->ports.v[i].hi;
		} else {
			m->ports.v[++k] = m->ports.v[i];
		}
	}
	m->ports.n = k + 1;
}

static int nftgen_cmp_addr(const void *a, const void *b)
{
	return memcmp(a, b, 16);
}

/* --- sets -------------------------------------------------------------- */

static void nftgen_prefix_range(const struct prefix *p, uint8_t lo[16], uint8_t hi[16])
{
	size_t len = nftgen_addr_len(p->family);

	memset(lo, 0, 16);
	memset(hi, 0, 16);
	for (size_t i = 0; i < len; i++) {
		int bits = p->len - (int)i * 8;
		uint8_t mask = bits >= 8 ? 0xff : bits <= 0 ? 0 : (uint8_t)(0xff << (8 - bits));
		lo[i] = p->addr[i] & mask;
		hi[i] = lo[i] | (uint8_t)~mask;
	}
}

/* a + 1 == b over len bytes (b follows a directly) */
static bool nftgen_addr_next(const uint8_t a[16], const uint8_t b[16], size_t len)
{
	uint8_t n[16];
	int i;

	memcpy(n, a, 16);
	for (i = (int)len - 1; i >= 0; i--)
		if (++n[i] != 0)
			break;
	if (i < 0)
		return false; /* a is the last address */
	return memcmp(n, b, len) == 0;
}

static int nftgen_cmp_elem_lo(const void *a, const void *b)
{
	const struct nftgen_elem *x = a, *y = b;
	return memcmp(x->lo, y->lo, 16);
}

/* Sort and merge overlapping or adjacent ranges. */
static void nftgen_set_merge_ranges(struct nftgen_set *s, size_t len)
{
	size_t k = 0;

	if (s->elems.n == 0)
		return;
	qsort(s->elems.v, s->elems.n, sizeof(*s->elems.v), nftgen_cmp_elem_lo);
	for (size_t i = 1; i < s->elems.n; i++) {
		struct nftgen_elem *cur = &s->elems.v[k], *e = &s->elems.v[i];
		if (memcmp(e->lo, cur->hi, 16) <= 0 || nftgen_addr_next(cur->hi, e->lo, len)) {
			if (memcmp(e->hi, cur->hi, 16) > 0)
				memcpy(cur->hi, e->hi, 16);
		} else {
			s->elems.v[++k] = *e;
		}
	}
	s->elems.n = k + 1;
}

static int nftgen_cmp_elem_addr_mac(const void *a, const void *b)
{
	const struct nftgen_elem *x = a, *y = b;
	int c = memcmp(x->lo, y->lo, 16);
	return c ? c : memcmp(x->mac, y->mac, 6);
}

static void nftgen_set_unique(struct nftgen_set *s)
{
	size_t k = 0;

	if (s->elems.n == 0)
		return;
	qsort(s->elems.v, s->elems.n, sizeof(*s->elems.v), nftgen_cmp_elem_addr_mac);
	for (size_t i = 1; i < s->elems.n; i++)
		if (nftgen_cmp_elem_addr_mac(&s->elems.v[i], &s->elems.v[k]) != 0)
			s->elems.v[++k] = s->elems.v[i];
	s->elems.n = k + 1;
}

static void nftgen_set_add_addr(struct nftgen_set *s, const struct prefix *a, const uint8_t *mac)
{
	struct nftgen_elem *e = VEC_PUSH(s->elems);

	memcpy(e->lo, a->addr, nftgen_addr_len(a->family));
	memcpy(e->hi, e->lo, 16);
	if (mac)
		memcpy(e->mac, mac, 6);
}

static void nftgen_segment_sets(struct nftgen_table *t, const struct segment *seg)
{
	static const int fams[] = {AF_INET, AF_INET6};
	size_t reg;

	if (seg->kind == SEG_INTERNET)
		return;
	for (size_t f = 0; f < 2; f++) {
		struct nftgen_set *n;

		n = nftgen_add_set(t,
		                   nftgen_strdupf("%s_net%d", seg->id, fams[f] == AF_INET ? 4 : 6),
		                   fams[f] == AF_INET ? NFTGEN_SET_NET4 : NFTGEN_SET_NET6);
		for (size_t i = 0; i < seg->nets.n; i++)
			if (seg->nets.v[i].family == fams[f]) {
				struct nftgen_elem *e = VEC_PUSH(n->elems);
				nftgen_prefix_range(&seg->nets.v[i], e->lo, e->hi);
			}
		nftgen_set_merge_ranges(n, nftgen_addr_len(fams[f]));
	}
	if (!seg->registered_only)
		return;
	/* reg4, reg6, reg4mac, reg6mac: indices, the vector grows meanwhile */
	reg = t->sets.n;
	nftgen_add_set(t, nftgen_strdupf("%s_reg4", seg->id), NFTGEN_SET_ADDR4);
	nftgen_add_set(t, nftgen_strdupf("%s_reg6", seg->id), NFTGEN_SET_ADDR6);
	nftgen_add_set(t, nftgen_strdupf("%s_reg4mac", seg->id), NFTGEN_SET_ADDR4_MAC);
	nftgen_add_set(t, nftgen_strdupf("%s_reg6mac", seg->id), NFTGEN_SET_ADDR6_MAC);
	for (size_t i = 0; i < seg->hosts.n; i++) {
		const struct host *h = seg->hosts.v[i];
		for (size_t j = 0; j < h->addrs.n; j++) {
			const struct prefix *a = &h->addrs.v[j];
			size_t k = reg + (a->family == AF_INET ? 0 : 1) + (h->has_mac ? 2 : 0);
			nftgen_set_add_addr(&t->sets.v[k], a, h->has_mac ? h->mac : NULL);
		}
	}
	for (size_t k = reg; k < reg + 4; k++)
		nftgen_set_unique(&t->sets.v[k]);
}

static char *nftgen_group_set_name(const struct group *g, int family)
{
	return nftgen_strdupf("grp_%s_%d", g->name, family == AF_INET ? 4 : 6);
}

static bool nftgen_group_has(const struct group *g, int family)
{
	for (size_t i = 0; i < g->hosts.n; i++)
		for (size_t j = 0; j < g->hosts.v[i]->addrs.n; j++)
			if (g->hosts.v[i]->addrs.v[j].family == family)
				return true;
	return false;
}

/* grp_<name>_4/_6 for a group used by a compiled statement (once each). */
static void nftgen_group_sets(struct nftgen_table *t, const struct group *g)
{
	static const int fams[] = {AF_INET, AF_INET6};

	if (!g)
		return;
	for (size_t f = 0; f < 2; f++) {
		char *name;
		struct nftgen_set *s;

		if (!nftgen_group_has(g, fams[f]))
			continue;
		name = nftgen_group_set_name(g, fams[f]);
		if (nftgen_set(t, name)) {
			free(name);
			continue;
		}
		s = nftgen_add_set(t, name,
		                   fams[f] == AF_INET ? NFTGEN_SET_ADDR4 : NFTGEN_SET_ADDR6);
		for (size_t i = 0; i < g->hosts.n; i++)
			for (size_t j = 0; j < g->hosts.v[i]->addrs.n; j++)
				if (g->hosts.v[i]->addrs.v[j].family == fams[f])
					nftgen_set_add_addr(s, &g->hosts.v[i]->addrs.v[j], NULL);
		nftgen_set_unique(s);
	}
}

/* --- endpoints (from / to) -------------------------------------------- */

struct nftgen_ep {
	const struct host *host;
	const struct group *group;
};

static bool nftgen_ep_any(const struct nftgen_ep *ep)
{
	return !ep->host && !ep->group;
}

static bool nftgen_ep_has(const struct nftgen_ep *ep, int family)
{
	if (ep->group)
		return nftgen_group_has(ep->group, family);
	if (ep->host) {
		for (size_t i = 0; i < ep->host->addrs.n; i++)
			if (ep->host->addrs.v[i].family == family)
				return true;
		return false;
	}
	return true;
}

static void nftgen_match_ep(struct nftgen_rule *r, const struct nftgen_ep *ep, int family,
                            bool daddr)
{
	struct nftgen_match *m;
	size_t k = 0;

	if (ep->group) {
		char *name = nftgen_group_set_name(ep->group, family);
		nftgen_match_set(r, family, daddr, false, name);
		free(name);
		return;
	}
	if (!ep->host)
		return;
	m = nftgen_add_match(r, NFTGEN_M_ADDR);
	m->family = family;
	m->daddr = daddr;
	for (size_t i = 0; i < ep->host->addrs.n; i++)
		if (ep->host->addrs.v[i].family == family) {
			uint8_t *a = *VEC_PUSH(m->addrs);
			memcpy(a, ep->host->addrs.v[i].addr, nftgen_addr_len(family));
		}
	qsort(m->addrs.v, m->addrs.n, sizeof(*m->addrs.v), nftgen_cmp_addr);
	for (size_t i = 1; i < m->addrs.n; i++)
		if (memcmp(m->addrs.v[i], m->addrs.v[k], 16) != 0)
			memmove(m->addrs.v[++k], m->addrs.v[i], 16);
	if (m->addrs.n)
		m->addrs.n = k + 1;
}

/* --- flows ------------------------------------------------------------- */

static const char *nftgen_kind_word(enum flow_kind k)
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

/*
 * One rule per service and per address family the endpoints need: a
 * service without endpoints is family-agnostic (tcp/udp), ping always
 * yields one rule per family (icmp / icmpv6).  Returns how many rules.
 */
static size_t nftgen_svc_rules(struct nftgen_table *t, struct nftgen_chain *c,
                               const struct nftgen_opts *o, const struct srcpos *pos,
                               const struct flow *flow, const struct nftgen_ep *from,
                               const struct nftgen_ep *to, const struct service *svc)
{
	static const int fams[] = {AF_INET, AF_INET6};
	size_t n = 0;

	if (svc->proto != PROTO_PING && nftgen_ep_any(from) && nftgen_ep_any(to)) {
		struct nftgen_rule *r = nftgen_add_rule(t, c, nftgen_pos_comment(o, pos));
		r->flow = flow;
		nftgen_match_ports(r, svc);
		r->counter = true;
		nftgen_verdict_set(r, NFTGEN_V_ACCEPT);
		return 1;
	}
	for (size_t f = 0; f < 2; f++) {
		struct nftgen_rule *r;

		if (!nftgen_ep_has(from, fams[f]) || !nftgen_ep_has(to, fams[f]))
			continue;
		r = nftgen_add_rule(t, c, nftgen_pos_comment(o, pos));
		r->flow = flow;
		nftgen_match_ep(r, from, fams[f], false);
		nftgen_match_ep(r, to, fams[f], true);
		if (svc->proto == PROTO_PING) {
			uint8_t type = fams[f] == AF_INET ? NFTGEN_ICMP_ECHO_REQUEST
			                                  : NFTGEN_ICMPV6_ECHO_REQUEST;
			nftgen_match_icmp(r, fams[f], &type, 1);
		} else {
			nftgen_match_ports(r, svc);
		}
		r->counter = true;
		nftgen_verdict_set(r, NFTGEN_V_ACCEPT);
		n++;
	}
	return n;
}

static void nftgen_flow(struct nftgen_table *t, const struct nftgen_opts *o, const struct flow *f)
{
	struct nftgen_ep from = {f->from_host, f->from_group}, to = {f->to_host, f->to_group};
	struct nftgen_chain *c;
	char *name;
	size_t n = 0;

	if (f->kind == FLOW_MAIL || (f->kind == FLOW_EXCEPTION && f->expired))
		return;
	if (!f->src_seg || !f->dst_seg || f->src_seg == f->dst_seg)
		return;
	name = nftgen_strdupf("%s_to_%s", f->src_seg->id, f->dst_seg->id);
	c = nftgen_chain(t, name);
	free(name);
	if (!c)
		return;
	for (size_t i = 0; i < f->svcs.n; i++)
		n += nftgen_svc_rules(t, c, o, &f->pos, f, &from, &to, &f->svcs.v[i]);
	if (n == 0)
		diag_warn(&f->pos,
		          "%s %s -> %s matches no address family (the hosts share none);"
		          " nothing compiled",
		          nftgen_kind_word(f->kind), f->src_seg->id, f->dst_seg->id);
}

/* Mail: redirect to the relay in prerouting (per family of the `to` hosts),
 * and accept the redirected connection in input. */
static void nftgen_mail(struct nftgen_table *t, const struct nftgen_opts *o,
                        struct nftgen_chain *redirect, struct nftgen_chain *input,
                        const struct flow *f, bool input_pass)
{
	static const int fams[] = {AF_INET, AF_INET6};
	struct nftgen_ep to = {f->to_host, f->to_group};
	struct service relay = {.proto = PROTO_TCP};
	struct portrange pr = {t->relay_port, t->relay_port};

	if (f->kind != FLOW_MAIL || !f->src_seg)
		return;
	if (input_pass) {
		struct nftgen_rule *r = nftgen_add_rule(t, input, nftgen_pos_comment(o, &f->pos));
		r->flow = f;
		nftgen_match_iifnames(r, f->src_seg);
		nftgen_add_match(r, NFTGEN_M_CT_STATUS_DNAT);
		relay.ports.v = &pr;
		relay.ports.n = 1;
		nftgen_match_ports(r, &relay);
		r->counter = true;
		nftgen_verdict_set(r, NFTGEN_V_ACCEPT);
		return;
	}
	for (size_t i = 0; i < f->svcs.n; i++)
		for (size_t fi = 0; fi < 2; fi++) {
			struct nftgen_rule *r;

			if (!nftgen_ep_has(&to, fams[fi]) || nftgen_ep_any(&to))
				continue;
			r = nftgen_add_rule(t, redirect, nftgen_pos_comment(o, &f->pos));
			r->flow = f;
			nftgen_match_iifnames(r, f->src_seg);
			nftgen_match_ep(r, &to, fams[fi], true);
			nftgen_match_ports(r, &f->svcs.v[i]);
			r->counter = true;
			r->action = NFTGEN_A_REDIRECT;
			r->redirect_port = t->relay_port;
		}
}

/* --- chains ------------------------------------------------------------ */

static void nftgen_ingress(struct nftgen_table *t, const struct nftgen_opts *o,
                           const struct policy *p, const struct segment *seg)
{
	static const int fams[] = {AF_INET, AF_INET6};
	const struct srcpos *regpos = &seg->pos;
	struct nftgen_chain *c;

	c = nftgen_add_chain(t, nftgen_strdupf("in_%s", seg->id), NFTGEN_CHAIN_INGRESS);
	c->src = seg;
	if (seg->kind == SEG_INTERNET) {
		/* the uplink may not bring any segment's addresses */
		for (size_t f = 0; f < 2; f++)
			for (size_t i = 0; i < p->segs.n; i++) {
				const struct segment *s = &p->segs.v[i];
				struct nftgen_rule *r;
				char *set;

				if (s->kind == SEG_INTERNET)
					continue;
				set = nftgen_strdupf("%s_net%d", s->id, fams[f] == AF_INET ? 4 : 6);
				r = nftgen_add_rule(t, c, nftgen_pos_comment(o, &seg->pos));
				nftgen_match_set(r, fams[f], false, false, set);
				free(set);
				nftgen_deny(r, nftgen_strdupf("sekisho deny %s spoofed ", seg->id));
			}
		return;
	}
	for (size_t f = 0; f < 2; f++) {
		struct nftgen_rule *r = nftgen_add_rule(t, c, nftgen_pos_comment(o, &seg->pos));
		char *set = nftgen_strdupf("%s_net%d", seg->id, fams[f] == AF_INET ? 4 : 6);
		nftgen_match_set(r, fams[f], false, true, set);
		free(set);
		nftgen_deny(r, nftgen_strdupf("sekisho deny %s spoofed ", seg->id));
	}
	if (!seg->registered_only)
		return;
	/* the registered-only rules name the line that asked for them */
	if (seg->registered_only_pos.line > 0)
		regpos = &seg->registered_only_pos;
	for (size_t f = 0; f < 2; f++) {
		int v = fams[f] == AF_INET ? 4 : 6;
		struct nftgen_rule *r = nftgen_add_rule(t, c, nftgen_pos_comment(o, regpos));
		struct nftgen_match *m;
		char *set = nftgen_strdupf("%s_reg%d", seg->id, v);

		nftgen_match_set(r, fams[f], false, false, set);
		free(set);
		nftgen_verdict_set(r, NFTGEN_V_RETURN);
		r = nftgen_add_rule(t, c, nftgen_pos_comment(o, regpos));
		m = nftgen_add_match(r, NFTGEN_M_ADDR_MAC);
		m->family = fams[f];
		m->set = nftgen_strdupf("%s_reg%dmac", seg->id, v);
		nftgen_verdict_set(r, NFTGEN_V_RETURN);
	}
	nftgen_deny(nftgen_add_rule(t, c, nftgen_pos_comment(o, regpos)),
	            nftgen_strdupf("sekisho deny %s unregistered ", seg->id));
}

static size_t nftgen_nifaces(const struct policy *p)
{
	size_t n = 0;

	for (size_t i = 0; i < p->segs.n; i++)
		n += p->segs.v[i].ifaces.n;
	return n;
}

/* iifname vmap { "<if>" : jump in_<seg>, ... } */
static void nftgen_ingress_vmap(struct nftgen_table *t, const struct policy *p,
                                struct nftgen_chain *c)
{
	struct nftgen_rule *r;

	if (nftgen_nifaces(p) == 0)
		return;
	r = nftgen_add_rule(t, c, xstrdup("sekisho: ingress checks"));
	r->action = NFTGEN_A_VMAP_IIFNAME;
	for (size_t i = 0; i < p->segs.n; i++) {
		const struct segment *s = &p->segs.v[i];
		char *name = nftgen_strdupf("in_%s", s->id);
		const struct nftgen_chain *in = nftgen_chain(t, name);

		free(name);
		for (size_t j = 0; j < s->ifaces.n; j++) {
			struct nftgen_elem *e = VEC_PUSH(r->vmap);
			nftgen_ifname_copy(e->ifname[0], s->ifaces.v[j]);
			e->verdict.code = NFTGEN_V_JUMP;
			e->verdict.chain = in->name;
		}
	}
}

static void nftgen_pairs_map(struct nftgen_table *t, const struct policy *p)
{
	struct nftgen_set *m = nftgen_add_set(t, xstrdup(NFTGEN_PAIRS_MAP), NFTGEN_SET_IFPAIR_VMAP);

	for (size_t i = 0; i < p->segs.n; i++)
		for (size_t j = 0; j < p->segs.n; j++) {
			const struct segment *a = &p->segs.v[i], *b = &p->segs.v[j];
			const struct nftgen_chain *c = NULL;

			if (a != b) {
				char *name = nftgen_strdupf("%s_to_%s", a->id, b->id);
				c = nftgen_chain(t, name);
				free(name);
			}
			/* within a segment there is nothing to separate; the uplink
			 * never forwards back to itself */
			if (a == b && a->kind == SEG_INTERNET)
				continue;
			for (size_t x = 0; x < a->ifaces.n; x++)
				for (size_t y = 0; y < b->ifaces.n; y++) {
					struct nftgen_elem *e = VEC_PUSH(m->elems);
					nftgen_ifname_copy(e->ifname[0], a->ifaces.v[x]);
					nftgen_ifname_copy(e->ifname[1], b->ifaces.v[y]);
					e->verdict.code = c ? NFTGEN_V_GOTO : NFTGEN_V_ACCEPT;
					e->verdict.chain = c ? c->name : NULL;
				}
		}
}

static void nftgen_mgmt(struct nftgen_table *t, const struct nftgen_opts *o, struct nftgen_chain *c,
                        const struct mgmt *mg)
{
	struct nftgen_ep from = {mg->from_host, mg->from_group}, to = {NULL, NULL};

	for (size_t i = 0; i < mg->svcs.n; i++)
		nftgen_svc_rules(t, c, o, &mg->pos, NULL, &from, &to, &mg->svcs.v[i]);
}

static void nftgen_chains(struct nftgen_table *t, const struct policy *p,
                          const struct nftgen_opts *o)
{
	static const uint8_t nd[] = {133, 134, 135, 136};
	struct nftgen_chain *fwd, *in, *mail;
	struct nftgen_rule *r;
	size_t first_pair;

	/* every chain first (pointers into the vector are taken afterwards) */
	nftgen_base(nftgen_add_chain(t, xstrdup("forward"), NFTGEN_CHAIN_FORWARD), "filter",
	            NF_INET_FORWARD, 0, true);
	for (size_t i = 0; i < p->segs.n; i++)
		nftgen_ingress(t, o, p, &p->segs.v[i]);
	first_pair = t->chains.n;
	for (size_t i = 0; i < p->segs.n; i++)
		for (size_t j = 0; j < p->segs.n; j++) {
			struct nftgen_chain *c;
			if (i == j)
				continue;
			c = nftgen_add_chain(
			    t, nftgen_strdupf("%s_to_%s", p->segs.v[i].id, p->segs.v[j].id),
			    NFTGEN_CHAIN_PAIR);
			c->src = &p->segs.v[i];
			c->dst = &p->segs.v[j];
		}
	nftgen_base(nftgen_add_chain(t, xstrdup("input"), NFTGEN_CHAIN_INPUT), "filter",
	            NF_INET_LOCAL_IN, 0, true);
	nftgen_base(nftgen_add_chain(t, xstrdup("mail_redirect"), NFTGEN_CHAIN_MAIL), "nat",
	            NF_INET_PRE_ROUTING, -100, false);
	fwd = nftgen_chain(t, "forward");
	in = nftgen_chain(t, "input");
	mail = nftgen_chain(t, "mail_redirect");

	/* forward */
	r = nftgen_add_rule(t, fwd, xstrdup("sekisho: established, related"));
	nftgen_match_ct(r, NFTGEN_CT_ESTABLISHED | NFTGEN_CT_RELATED);
	nftgen_verdict_set(r, NFTGEN_V_ACCEPT);
	r = nftgen_add_rule(t, fwd, xstrdup("sekisho: invalid"));
	nftgen_match_ct(r, NFTGEN_CT_INVALID);
	nftgen_verdict_set(r, NFTGEN_V_DROP);
	nftgen_ingress_vmap(t, p, fwd);
	r = nftgen_add_rule(t, fwd, xstrdup("sekisho: segment pairs"));
	r->action = NFTGEN_A_VMAP_PAIRS;
	nftgen_deny(nftgen_add_rule(t, fwd, xstrdup("sekisho: default deny unknown")),
	            xstrdup("sekisho deny unknown "));

	/* pair chains: the flows in file order, then the logged default deny */
	for (size_t i = 0; i < p->flows.n; i++)
		nftgen_flow(t, o, &p->flows.v[i]);
	for (size_t i = first_pair; i < t->chains.n; i++) {
		struct nftgen_chain *c = &t->chains.v[i];
		if (c->kind != NFTGEN_CHAIN_PAIR)
			continue;
		nftgen_deny(nftgen_add_rule(t, c,
		                            nftgen_strdupf("sekisho: default deny %s->%s",
		                                           c->src->id, c->dst->id)),
		            nftgen_strdupf("sekisho deny %s->%s ", c->src->id, c->dst->id));
	}

	/* input: the box itself */
	r = nftgen_add_rule(t, in, xstrdup("sekisho: loopback"));
	nftgen_add_match(r, NFTGEN_M_IIF_LO);
	nftgen_verdict_set(r, NFTGEN_V_ACCEPT);
	r = nftgen_add_rule(t, in, xstrdup("sekisho: established, related"));
	nftgen_match_ct(r, NFTGEN_CT_ESTABLISHED | NFTGEN_CT_RELATED);
	nftgen_verdict_set(r, NFTGEN_V_ACCEPT);
	r = nftgen_add_rule(t, in, xstrdup("sekisho: invalid"));
	nftgen_match_ct(r, NFTGEN_CT_INVALID);
	nftgen_verdict_set(r, NFTGEN_V_DROP);
	/* before the ingress checks: neighbour discovery uses link-local sources */
	r = nftgen_add_rule(t, in, xstrdup("sekisho: IPv6 neighbour discovery"));
	nftgen_match_icmp(r, AF_INET6, nd, sizeof(nd));
	nftgen_verdict_set(r, NFTGEN_V_ACCEPT);
	nftgen_ingress_vmap(t, p, in);
	/* nothing else reaches the box (docs/rules.md), not even ping: that is
	 * granted per host with `manage from X ping` */
	for (size_t i = 0; i < p->mgmt.n; i++)
		nftgen_mgmt(t, o, in, &p->mgmt.v[i]);
	for (size_t i = 0; i < p->flows.n; i++)
		nftgen_mail(t, o, mail, in, &p->flows.v[i], true);
	nftgen_deny(nftgen_add_rule(t, in, xstrdup("sekisho: default deny box")),
	            xstrdup("sekisho deny box "));

	/* prerouting: mail to the relay */
	for (size_t i = 0; i < p->flows.n; i++)
		nftgen_mail(t, o, mail, in, &p->flows.v[i], false);
}

struct nftgen_table *nftgen_compile(const struct policy *p, const struct nftgen_opts *o)
{
	struct nftgen_table *t = xcalloc(1, sizeof(*t));
	struct strbuf body = STRBUF_INIT;

	t->log_group = p->log_group ? p->log_group : POLICY_DEFAULT_LOG_GROUP;
	t->relay_port = p->relay_port ? p->relay_port : POLICY_DEFAULT_RELAY_PORT;
	for (size_t i = 0; i < p->segs.n; i++)
		nftgen_segment_sets(t, &p->segs.v[i]);
	for (size_t i = 0; i < p->flows.n; i++) {
		const struct flow *f = &p->flows.v[i];
		if (f->kind == FLOW_EXCEPTION && f->expired)
			continue;
		nftgen_group_sets(t, f->from_group);
		nftgen_group_sets(t, f->to_group);
	}
	for (size_t i = 0; i < p->mgmt.n; i++)
		nftgen_group_sets(t, p->mgmt.v[i].from_group);
	nftgen_chains(t, p, o);
	/* the map refers to the pair chains, so it is filled after them */
	nftgen_pairs_map(t, p);
	for (size_t i = 0; i < t->sets.n; i++) {
		struct nftgen_set *s = &t->sets.v[i];
		if (s->type != NFTGEN_SET_NET4 && s->type != NFTGEN_SET_NET6 &&
		    s->elems.n >= NFTGEN_SIZE_HINT_MIN && s->elems.n <= UINT32_MAX)
			s->size = (uint32_t)s->elems.n;
	}

	nftprint_table(t, &body, false);
	snprintf(t->digest, sizeof(t->digest), "%016llx",
	         (unsigned long long)nftgen_fnv1a64(body.s, body.len));
	/* kept: printing the table again only inserts the comment line */
	t->body_len = body.len;
	t->body = strbuf_detach(&body);
	return t;
}

/* --- lookup and free ----------------------------------------------------- */

struct nftgen_chain *nftgen_chain(const struct nftgen_table *t, const char *name)
{
	for (size_t i = 0; i < t->chains.n; i++)
		if (strcmp(t->chains.v[i].name, name) == 0)
			return &t->chains.v[i];
	return NULL;
}

struct nftgen_set *nftgen_set(const struct nftgen_table *t, const char *name)
{
	for (size_t i = 0; i < t->sets.n; i++)
		if (strcmp(t->sets.v[i].name, name) == 0)
			return &t->sets.v[i];
	return NULL;
}

void nftgen_free(struct nftgen_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->sets.n; i++) {
		free(t->sets.v[i].name);
		free(t->sets.v[i].elems.v);
	}
	free(t->sets.v);
	for (size_t i = 0; i < t->chains.n; i++) {
		struct nftgen_chain *c = &t->chains.v[i];
		for (size_t j = 0; j < c->rules.n; j++) {
			struct nftgen_rule *r = &c->rules.v[j];
			for (size_t k = 0; k < r->matches.n; k++) {
				struct nftgen_match *m = &r->matches.v[k];
				free(m->set);
				free(m->ports.v);
				free(m->addrs.v);
				free(m->ifnames.v);
				free(m->types.v);
			}
			free(r->matches.v);
			free(r->log_prefix);
			free(r->vmap.v);
			free(r->comment);
		}
		free(c->rules.v);
		free(c->name);
	}
	free(t->chains.v);
	free(t->body);
	free(t);
}

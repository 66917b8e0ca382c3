/*
 * ctcut - cut connections the new policy no longer permits (see ctcut.h).
 *
 * The evaluator walks the IR the way the kernel walks the chains, for a
 * packet in conntrack state "new": jump/goto/return, the inline and named
 * verdict maps, named sets (interval ranges, addresses, address . MAC with
 * the MAC unknown), literal addresses, ports and ICMP types.
 *
 * TRUST: IR and policy; conntrack entries are parsed by libnetfilter_conntrack.
 * FAILURE: -1 with a message when conntrack cannot be dumped.
 */
#include "ctcut.h"
#include "xalloc.h"

#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <libnetfilter_conntrack/libnetfilter_conntrack.h>

#define CTCUT_MAX_DEPTH 16 /* jump nesting (the layout uses 2) */

enum ctcut_v { CTCUT_V_CONTINUE, CTCUT_V_ACCEPT, CTCUT_V_DROP, CTCUT_V_RETURN, CTCUT_V_REDIRECT };

/* The packet with the path the evaluator assumes. */
struct ctcut_ctx {
	const struct nftgen_table *t;
	const struct ctcut_pkt *pk;
	const char *iif, *oif; /* interface names; NULL = unknown */
	bool iif_lo;
};

static bool ctcut_in_range(const uint8_t *a, const uint8_t *lo, const uint8_t *hi, size_t len)
{
	return memcmp(a, lo, len) >= 0 && memcmp(a, hi, len) <= 0;
}

static bool ctcut_set_has(const struct nftgen_set *s, int family, const uint8_t *a)
{
	size_t len = nftgen_addr_len(family);

	switch (s->type) {
	case NFTGEN_SET_NET4:
	case NFTGEN_SET_ADDR4:
	case NFTGEN_SET_ADDR4_MAC:
		if (family != AF_INET)
			return false;
		break;
	case NFTGEN_SET_NET6:
	case NFTGEN_SET_ADDR6:
	case NFTGEN_SET_ADDR6_MAC:
		if (family != AF_INET6)
			return false;
		break;
	case NFTGEN_SET_IFPAIR_VMAP:
		return false;
	}
	for (size_t i = 0; i < s->elems.n; i++)
		if (ctcut_in_range(a, s->elems.v[i].lo, s->elems.v[i].hi, len))
			return true;
	return false;
}

static bool ctcut_match(const struct ctcut_ctx *c, const struct nftgen_match *m)
{
	const struct ctcut_pkt *pk = c->pk;

	switch (m->type) {
	case NFTGEN_M_IIF_LO:
		return c->iif_lo;
	case NFTGEN_M_IIFNAME:
		for (size_t i = 0; c->iif && i < m->ifnames.n; i++)
			if (strcmp(m->ifnames.v[i], c->iif) == 0)
				return true;
		return false;
	case NFTGEN_M_CT_STATE:
		return false; /* the rules test established/related/invalid; this is new */
	case NFTGEN_M_CT_STATUS_DNAT:
		return pk->dnat;
	case NFTGEN_M_ADDR: {
		const uint8_t *a = m->daddr ? pk->dst : pk->src;
		bool hit = false;

		if (pk->family != m->family)
			return false; /* meta nfproto */
		if (m->set) {
			const struct nftgen_set *s = nftgen_set(c->t, m->set);
			hit = s && ctcut_set_has(s, pk->family, a);
			return m->negate ? !hit : hit;
		}
		for (size_t i = 0; i < m->addrs.n; i++)
			if (memcmp(m->addrs.v[i], a, nftgen_addr_len(pk->family)) == 0)
				return true;
		return false;
	}
	case NFTGEN_M_ADDR_MAC: {
		const struct nftgen_set *s = nftgen_set(c->t, m->set);
		return pk->family == m->family && s && ctcut_set_has(s, pk->family, pk->src);
	}
	case NFTGEN_M_PORTS:
		if (pk->proto != m->proto)
			return false;
		for (size_t i = 0; i < m->ports.n; i++)
			if (pk->dport >= m->ports.v[i].lo && pk->dport <= m->ports.v[i].hi)
				return true;
		return false;
	case NFTGEN_M_ICMP_TYPES:
		if (pk->family != m->family ||
		    pk->proto != (m->family == AF_INET6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP))
			return false;
		for (size_t i = 0; i < m->types.n; i++)
			if (m->types.v[i] == pk->icmp_type)
				return true;
		return false;
	}
	return false;
}

static enum ctcut_v ctcut_chain(const struct ctcut_ctx *c, const struct nftgen_chain *ch,
                                int depth);

/* Apply a verdict as the kernel does: jump returns here, goto does not. */
static enum ctcut_v ctcut_verdict(const struct ctcut_ctx *c, const struct nftgen_verdict *v,
                                  int depth)
{
	const struct nftgen_chain *target;
	enum ctcut_v r;

	switch (v->code) {
	case NFTGEN_V_ACCEPT:
		return CTCUT_V_ACCEPT;
	case NFTGEN_V_DROP:
		return CTCUT_V_DROP;
	case NFTGEN_V_RETURN:
		return CTCUT_V_RETURN;
	case NFTGEN_V_JUMP:
	case NFTGEN_V_GOTO:
		target = v->chain ? nftgen_chain(c->t, v->chain) : NULL;
		if (!target || depth >= CTCUT_MAX_DEPTH)
			return CTCUT_V_DROP;
		r = ctcut_chain(c, target, depth + 1);
		if (v->code == NFTGEN_V_JUMP)
			return r == CTCUT_V_RETURN ? CTCUT_V_CONTINUE : r;
		return r; /* goto: the end of the target ends this chain too */
	case NFTGEN_V_NONE:
		break;
	}
	return CTCUT_V_CONTINUE;
}

static enum ctcut_v ctcut_chain(const struct ctcut_ctx *c, const struct nftgen_chain *ch, int depth)
{
	for (size_t i = 0; i < ch->rules.n; i++) {
		const struct nftgen_rule *r = &ch->rules.v[i];
		enum ctcut_v v = CTCUT_V_CONTINUE;
		bool all = true;

		for (size_t j = 0; j < r->matches.n && all; j++)
			all = ctcut_match(c, &r->matches.v[j]);
		if (!all)
			continue;
		switch (r->action) {
		case NFTGEN_A_VERDICT:
			v = ctcut_verdict(c, &r->verdict, depth);
			break;
		case NFTGEN_A_VMAP_IIFNAME:
			for (size_t k = 0; c->iif && k < r->vmap.n; k++)
				if (strcmp(r->vmap.v[k].ifname[0], c->iif) == 0) {
					v = ctcut_verdict(c, &r->vmap.v[k].verdict, depth);
					break;
				}
			break;
		case NFTGEN_A_VMAP_PAIRS: {
			const struct nftgen_set *m = nftgen_set(c->t, NFTGEN_PAIRS_MAP);
			for (size_t k = 0; m && c->iif && c->oif && k < m->elems.n; k++)
				if (strcmp(m->elems.v[k].ifname[0], c->iif) == 0 &&
				    strcmp(m->elems.v[k].ifname[1], c->oif) == 0) {
					v = ctcut_verdict(c, &m->elems.v[k].verdict, depth);
					break;
				}
			break;
		}
		case NFTGEN_A_REDIRECT:
			v = CTCUT_V_REDIRECT;
			break;
		}
		if (v != CTCUT_V_CONTINUE)
			return v;
	}
	return CTCUT_V_RETURN;
}

/* The segment an address belongs to: by networks, else the internet. */
static const struct segment *ctcut_segment(const struct policy *p, int family, const uint8_t *a)
{
	struct prefix addr = {.family = family, .len = family == AF_INET ? 32 : 128};
	const struct segment *internet = NULL;

	memcpy(addr.addr, a, nftgen_addr_len(family));
	for (size_t i = 0; i < p->segs.n; i++) {
		const struct segment *s = &p->segs.v[i];
		if (s->kind == SEG_INTERNET && !internet)
			internet = s;
		for (size_t j = 0; j < s->nets.n; j++) {
			const struct prefix *n = &s->nets.v[j];
			uint8_t lo[16] = {0}, hi[16] = {0};
			size_t len = nftgen_addr_len(family);

			if (n->family != family)
				continue;
			for (size_t k = 0; k < len; k++) {
				int bits = n->len - (int)k * 8;
				uint8_t mask = bits >= 8   ? 0xff
				               : bits <= 0 ? 0
				                           : (uint8_t)(0xff << (8 - bits));
				lo[k] = n->addr[k] & mask;
				hi[k] = lo[k] | (uint8_t)~mask;
			}
			if (ctcut_in_range(a, lo, hi, len))
				return s;
		}
	}
	return internet;
}

static bool ctcut_is_local(const struct ctcut_locals *loc, int family, const uint8_t *a)
{
	for (size_t i = 0; loc && i < loc->addrs.n; i++)
		if (loc->addrs.v[i].family == family &&
		    memcmp(loc->addrs.v[i].addr, a, nftgen_addr_len(family)) == 0)
			return true;
	return false;
}

static bool ctcut_accepted(enum ctcut_v v)
{
	return v == CTCUT_V_ACCEPT; /* drop, or the end of a base chain with policy drop */
}

bool ctcut_permits(const struct nftgen_table *t, const struct policy *p,
                   const struct ctcut_locals *loc, const struct ctcut_pkt *pk)
{
	const struct segment *src = ctcut_segment(p, pk->family, pk->src);
	const struct segment *dst = ctcut_segment(p, pk->family, pk->dst);
	struct ctcut_ctx c = {t, pk, NULL, NULL, false};
	const struct nftgen_chain *fwd = nftgen_chain(t, "forward");
	const struct nftgen_chain *in = nftgen_chain(t, "input");
	const struct nftgen_chain *mail = nftgen_chain(t, "mail_redirect");

	if (ctcut_is_local(loc, pk->family, pk->src))
		return true; /* the box's own connections: output is not filtered */
	c.iif = src && src->ifaces.n ? src->ifaces.v[0] : NULL;
	if (pk->dnat) {
		/* redirected mail: still redirected, and still accepted by input */
		struct ctcut_pkt redirected = *pk;

		redirected.dnat = false;
		c.pk = &redirected;
		if (!mail || ctcut_chain(&c, mail, 0) != CTCUT_V_REDIRECT)
			return false;
		redirected = *pk;
		redirected.dport = t->relay_port;
		return in && ctcut_accepted(ctcut_chain(&c, in, 0));
	}
	if (ctcut_is_local(loc, pk->family, pk->dst))
		return in && ctcut_accepted(ctcut_chain(&c, in, 0));
	if (!src || !dst)
		return true; /* no segment and no internet segment: path unknown */
	c.oif = dst->ifaces.n ? dst->ifaces.v[0] : NULL;
	return fwd && ctcut_accepted(ctcut_chain(&c, fwd, 0));
}

/* --- the system side --------------------------------------------------- */

int ctcut_locals_read(struct ctcut_locals *loc, struct strbuf *err_r)
{
	struct ifaddrs *ifa, *i;

	memset(loc, 0, sizeof(*loc));
	if (getifaddrs(&ifa) < 0) {
		strbuf_printf(err_r, "getifaddrs: %s", strerror(errno));
		return -1;
	}
	for (i = ifa; i; i = i->ifa_next) {
		struct prefix *a;

		if (!i->ifa_addr)
			continue;
		if (i->ifa_addr->sa_family == AF_INET) {
			a = VEC_PUSH(loc->addrs);
			a->family = AF_INET;
			a->len = 32;
			memcpy(a->addr, &((struct sockaddr_in *)(void *)i->ifa_addr)->sin_addr, 4);
		} else if (i->ifa_addr->sa_family == AF_INET6) {
			a = VEC_PUSH(loc->addrs);
			a->family = AF_INET6;
			a->len = 128;
			memcpy(a->addr, &((struct sockaddr_in6 *)(void *)i->ifa_addr)->sin6_addr,
			       16);
		}
	}
	freeifaddrs(ifa);
	return 0;
}

void ctcut_locals_free(struct ctcut_locals *loc)
{
	free(loc->addrs.v);
	memset(loc, 0, sizeof(*loc));
}

struct ctcut_dump {
	const struct nftgen_table *t;
	const struct policy *p;
	const struct ctcut_locals *loc;
	size_t seen;
	struct {
		struct nf_conntrack **v;
		size_t n, cap;
	} cut;
};

static int ctcut_dump_cb(enum nf_conntrack_msg_type type, struct nf_conntrack *ct, void *data)
{
	struct ctcut_dump *d = data;
	struct ctcut_pkt pk = {0};
	uint8_t l3 = nfct_get_attr_u8(ct, ATTR_ORIG_L3PROTO);

	d->seen++;
	if (l3 == AF_INET) {
		pk.family = AF_INET;
		memcpy(pk.src, nfct_get_attr(ct, ATTR_ORIG_IPV4_SRC), 4);
		memcpy(pk.dst, nfct_get_attr(ct, ATTR_ORIG_IPV4_DST), 4);
	} else if (l3 == AF_INET6) {
		pk.family = AF_INET6;
		memcpy(pk.src, nfct_get_attr(ct, ATTR_ORIG_IPV6_SRC), 16);
		memcpy(pk.dst, nfct_get_attr(ct, ATTR_ORIG_IPV6_DST), 16);
	} else {
		return NFCT_CB_CONTINUE;
	}
	pk.proto = nfct_get_attr_u8(ct, ATTR_ORIG_L4PROTO);
	if (pk.proto == IPPROTO_TCP || pk.proto == IPPROTO_UDP)
		pk.dport = ntohs(nfct_get_attr_u16(ct, ATTR_ORIG_PORT_DST));
	else if (pk.proto == IPPROTO_ICMP || pk.proto == IPPROTO_ICMPV6)
		pk.icmp_type = nfct_get_attr_u8(ct, ATTR_ICMP_TYPE);
	pk.dnat = (nfct_get_attr_u32(ct, ATTR_STATUS) & IPS_DST_NAT) != 0;
	if (!ctcut_permits(d->t, d->p, d->loc, &pk)) {
		struct nf_conntrack *copy = nfct_clone(ct);
		if (copy)
			*VEC_PUSH(d->cut) = copy;
	}
	return NFCT_CB_CONTINUE;
}

int ctcut_run(const struct nftgen_table *t, const struct policy *p, struct ctcut_result *r,
              struct strbuf *err_r)
{
	struct ctcut_locals loc;
	struct ctcut_dump d = {0};
	struct nfct_handle *h;
	uint32_t family = AF_UNSPEC;
	int ret = 0;

	memset(r, 0, sizeof(*r));
	if (ctcut_locals_read(&loc, err_r) < 0)
		return -1;
	d.t = t;
	d.p = p;
	d.loc = &loc;
	h = nfct_open(CONNTRACK, 0);
	if (!h) {
		strbuf_printf(err_r, "conntrack: %s", strerror(errno));
		ctcut_locals_free(&loc);
		return -1;
	}
	nfct_callback_register(h, NFCT_T_ALL, ctcut_dump_cb, &d);
	if (nfct_query(h, NFCT_Q_DUMP, &family) < 0) {
		strbuf_printf(err_r, "conntrack dump: %s", strerror(errno));
		ret = -1;
	}
	/* delete after the dump: the handle cannot take requests during one */
	for (size_t i = 0; i < d.cut.n; i++) {
		if (ret == 0 && nfct_query(h, NFCT_Q_DESTROY, d.cut.v[i]) == 0)
			r->cut++;
		nfct_destroy(d.cut.v[i]);
	}
	free(d.cut.v);
	r->seen = d.seen;
	nfct_close(h);
	ctcut_locals_free(&loc);
	return ret;
}

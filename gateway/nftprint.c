/*
 * nftprint - the nftgen IR as nft syntax (`sekisho show`).
 *
 * The text follows `nft list` closely (tabs, one block per set and chain)
 * so that reading it next to a listing is easy; named set elements go one
 * per line so that `sekisho diff` shows element changes line by line.
 *
 * TRUST: the IR; FAILURE: none.
 */
#include "nftprint.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <linux/netfilter.h> /* after netinet/in.h */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

void nftprint_addr(int family, const uint8_t *a, char *buf, size_t n)
{
	if (!inet_ntop(family, a, buf, (socklen_t)n))
		snprintf(buf, n, "?");
}

void nftprint_table_comment(const struct nftgen_table *t, char *buf, size_t n)
{
	snprintf(buf, n, "%s%s", NFTGEN_DIGEST_PREFIX, t->digest);
}

/* Prefix length if [lo, hi] is exactly one prefix, else -1. */
static int nftprint_range_prefix(const uint8_t *lo, const uint8_t *hi, size_t len)
{
	int plen = 0;
	size_t i = 0;

	while (i < len && lo[i] == hi[i]) {
		plen += 8;
		i++;
	}
	if (i == len)
		return plen;
	for (int bit = 7; bit >= 0; bit--) {
		uint8_t m = (uint8_t)(1u << bit);
		if ((lo[i] & m) == (hi[i] & m)) {
			plen++;
			continue;
		}
		/* from here on lo must be all zeros, hi all ones */
		for (int b = bit; b >= 0; b--)
			if ((lo[i] & (1u << b)) || !(hi[i] & (1u << b)))
				return -1;
		for (size_t j = i + 1; j < len; j++)
			if (lo[j] != 0 || hi[j] != 0xff)
				return -1;
		return plen;
	}
	return plen;
}

static void nftprint_range(struct strbuf *sb, int family, const uint8_t *lo, const uint8_t *hi)
{
	size_t len = nftgen_addr_len(family);
	char a[64], b[64];
	int plen = nftprint_range_prefix(lo, hi, len);

	nftprint_addr(family, lo, a, sizeof(a));
	if (plen == (int)len * 8) {
		strbuf_puts(sb, a);
	} else if (plen >= 0) {
		strbuf_printf(sb, "%s/%d", a, plen);
	} else {
		nftprint_addr(family, hi, b, sizeof(b));
		strbuf_printf(sb, "%s-%s", a, b);
	}
}

static void nftprint_verdict(struct strbuf *sb, const struct nftgen_verdict *v)
{
	switch (v->code) {
	case NFTGEN_V_ACCEPT:
		strbuf_puts(sb, "accept");
		break;
	case NFTGEN_V_DROP:
		strbuf_puts(sb, "drop");
		break;
	case NFTGEN_V_RETURN:
		strbuf_puts(sb, "return");
		break;
	case NFTGEN_V_JUMP:
		strbuf_printf(sb, "jump %s", v->chain);
		break;
	case NFTGEN_V_GOTO:
		strbuf_printf(sb, "goto %s", v->chain);
		break;
	case NFTGEN_V_NONE:
		break;
	}
}

static const char *nftprint_set_type(enum nftgen_set_type type)
{
	switch (type) {
	case NFTGEN_SET_NET4:
	case NFTGEN_SET_ADDR4:
		return "ipv4_addr";
	case NFTGEN_SET_NET6:
	case NFTGEN_SET_ADDR6:
		return "ipv6_addr";
	case NFTGEN_SET_ADDR4_MAC:
		return "ipv4_addr . ether_addr";
	case NFTGEN_SET_ADDR6_MAC:
		return "ipv6_addr . ether_addr";
	case NFTGEN_SET_IFPAIR_VMAP:
		return "ifname . ifname : verdict";
	}
	return "?";
}

/* IPv4 and MAC text without printf: named sets can hold 100k elements */
static size_t nftprint_ipv4_fast(const uint8_t *a, char *out)
{
	size_t n = 0;

	for (int i = 0; i < 4; i++) {
		unsigned v = a[i];
		if (i)
			out[n++] = '.';
		if (v >= 100)
			out[n++] = (char)('0' + v / 100);
		if (v >= 10)
			out[n++] = (char)('0' + v / 10 % 10);
		out[n++] = (char)('0' + v % 10);
	}
	out[n] = '\0';
	return n;
}

static size_t nftprint_mac_fast(const uint8_t *m, char *out)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = 0;

	for (int i = 0; i < 6; i++) {
		if (i)
			out[n++] = ':';
		out[n++] = hex[m[i] >> 4];
		out[n++] = hex[m[i] & 15];
	}
	out[n] = '\0';
	return n;
}

static void nftprint_elem(struct strbuf *sb, enum nftgen_set_type type, const struct nftgen_elem *e)
{
	char buf[128];
	size_t n;

	switch (type) {
	case NFTGEN_SET_NET4:
		nftprint_range(sb, AF_INET, e->lo, e->hi);
		break;
	case NFTGEN_SET_NET6:
		nftprint_range(sb, AF_INET6, e->lo, e->hi);
		break;
	case NFTGEN_SET_ADDR4:
	case NFTGEN_SET_ADDR4_MAC:
	case NFTGEN_SET_ADDR6:
	case NFTGEN_SET_ADDR6_MAC:
		if (type == NFTGEN_SET_ADDR4 || type == NFTGEN_SET_ADDR4_MAC) {
			n = nftprint_ipv4_fast(e->lo, buf);
		} else {
			nftprint_addr(AF_INET6, e->lo, buf, 64);
			n = strlen(buf);
		}
		if (type == NFTGEN_SET_ADDR4_MAC || type == NFTGEN_SET_ADDR6_MAC) {
			memcpy(buf + n, " . ", 3);
			n += 3;
			n += nftprint_mac_fast(e->mac, buf + n);
		}
		strbuf_append(sb, buf, n);
		break;
	case NFTGEN_SET_IFPAIR_VMAP:
		strbuf_printf(sb, "\"%s\" . \"%s\" : ", e->ifname[0], e->ifname[1]);
		nftprint_verdict(sb, &e->verdict);
		break;
	}
}

static void nftprint_set(struct strbuf *sb, const struct nftgen_set *s)
{
	strbuf_printf(sb, "\t%s %s {\n", s->type == NFTGEN_SET_IFPAIR_VMAP ? "map" : "set",
	              s->name);
	strbuf_printf(sb, "\t\ttype %s\n", nftprint_set_type(s->type));
	if (s->type == NFTGEN_SET_NET4 || s->type == NFTGEN_SET_NET6)
		strbuf_puts(sb, "\t\tflags interval\n");
	if (s->size)
		strbuf_printf(sb, "\t\tsize %u\n", s->size);
	if (s->elems.n) {
		strbuf_puts(sb, "\t\telements = {\n");
		for (size_t i = 0; i < s->elems.n; i++) {
			strbuf_append(sb, "\t\t\t", 3);
			nftprint_elem(sb, s->type, &s->elems.v[i]);
			strbuf_append(sb, ",\n", 2);
		}
		strbuf_puts(sb, "\t\t}\n");
	}
	strbuf_puts(sb, "\t}\n");
}

static const char *nftprint_icmp_name(int family, uint8_t type)
{
	if (family == AF_INET)
		return type == 8 ? "echo-request" : NULL;
	switch (type) {
	case 128:
		return "echo-request";
	case 133:
		return "nd-router-solicit";
	case 134:
		return "nd-router-advert";
	case 135:
		return "nd-neighbor-solicit";
	case 136:
		return "nd-neighbor-advert";
	}
	return NULL;
}

static void nftprint_icmp_type(struct strbuf *sb, int family, uint8_t type)
{
	const char *name = nftprint_icmp_name(family, type);

	if (name)
		strbuf_puts(sb, name);
	else
		strbuf_printf(sb, "%u", type);
}

static void nftprint_port(struct strbuf *sb, const struct portrange *p)
{
	if (p->lo == p->hi)
		strbuf_printf(sb, "%u", p->lo);
	else
		strbuf_printf(sb, "%u-%u", p->lo, p->hi);
}

static void nftprint_match(struct strbuf *sb, const struct nftgen_match *m)
{
	const char *ip = m->family == AF_INET6 ? "ip6" : "ip";

	switch (m->type) {
	case NFTGEN_M_IIF_LO:
		strbuf_puts(sb, "iif \"lo\"");
		break;
	case NFTGEN_M_IIFNAME:
		strbuf_puts(sb, "iifname ");
		if (m->ifnames.n == 1) {
			strbuf_printf(sb, "\"%s\"", m->ifnames.v[0]);
			break;
		}
		strbuf_puts(sb, "{ ");
		for (size_t i = 0; i < m->ifnames.n; i++)
			strbuf_printf(sb, "%s\"%s\"", i ? ", " : "", m->ifnames.v[i]);
		strbuf_puts(sb, " }");
		break;
	case NFTGEN_M_CT_STATE: {
		static const struct {
			uint32_t bit;
			const char *name;
		} names[] = {{NFTGEN_CT_INVALID, "invalid"},
		             {NFTGEN_CT_ESTABLISHED, "established"},
		             {NFTGEN_CT_RELATED, "related"}};
		bool first = true;

		strbuf_puts(sb, "ct state ");
		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			if (m->ct_bits & names[i].bit) {
				strbuf_printf(sb, "%s%s", first ? "" : ",", names[i].name);
				first = false;
			}
		break;
	}
	case NFTGEN_M_CT_STATUS_DNAT:
		strbuf_puts(sb, "ct status dnat");
		break;
	case NFTGEN_M_ADDR:
		strbuf_printf(sb, "%s %s ", ip, m->daddr ? "daddr" : "saddr");
		if (m->set) {
			strbuf_printf(sb, "%s@%s", m->negate ? "!= " : "", m->set);
			break;
		}
		if (m->addrs.n != 1)
			strbuf_puts(sb, "{ ");
		for (size_t i = 0; i < m->addrs.n; i++) {
			char a[64];
			nftprint_addr(m->family, m->addrs.v[i], a, sizeof(a));
			strbuf_printf(sb, "%s%s", i ? ", " : "", a);
		}
		if (m->addrs.n != 1)
			strbuf_puts(sb, " }");
		break;
	case NFTGEN_M_ADDR_MAC:
		strbuf_printf(sb, "%s saddr . ether saddr @%s", ip, m->set);
		break;
	case NFTGEN_M_PORTS:
		strbuf_printf(sb, "%s dport ", m->proto == IPPROTO_UDP ? "udp" : "tcp");
		if (m->ports.n == 1) {
			nftprint_port(sb, &m->ports.v[0]);
			break;
		}
		strbuf_puts(sb, "{ ");
		for (size_t i = 0; i < m->ports.n; i++) {
			if (i)
				strbuf_puts(sb, ", ");
			nftprint_port(sb, &m->ports.v[i]);
		}
		strbuf_puts(sb, " }");
		break;
	case NFTGEN_M_ICMP_TYPES:
		strbuf_printf(sb, "%s type ", m->family == AF_INET6 ? "icmpv6" : "icmp");
		if (m->types.n == 1) {
			nftprint_icmp_type(sb, m->family, m->types.v[0]);
			break;
		}
		strbuf_puts(sb, "{ ");
		for (size_t i = 0; i < m->types.n; i++) {
			if (i)
				strbuf_puts(sb, ", ");
			nftprint_icmp_type(sb, m->family, m->types.v[i]);
		}
		strbuf_puts(sb, " }");
		break;
	}
}

static void nftprint_rule(struct strbuf *sb, const struct nftgen_table *t,
                          const struct nftgen_rule *r)
{
	strbuf_puts(sb, "\t\t");
	for (size_t i = 0; i < r->matches.n; i++) {
		nftprint_match(sb, &r->matches.v[i]);
		strbuf_putc(sb, ' ');
	}
	if (r->log_prefix)
		strbuf_printf(sb, "log prefix \"%s\" group %u queue-threshold %u ", r->log_prefix,
		              t->log_group, NFTGEN_LOG_QTHRESHOLD);
	if (r->counter)
		strbuf_puts(sb, "counter ");
	switch (r->action) {
	case NFTGEN_A_VERDICT:
		nftprint_verdict(sb, &r->verdict);
		break;
	case NFTGEN_A_VMAP_IIFNAME:
		strbuf_puts(sb, "iifname vmap { ");
		for (size_t i = 0; i < r->vmap.n; i++) {
			strbuf_printf(sb, "%s\"%s\" : ", i ? ", " : "", r->vmap.v[i].ifname[0]);
			nftprint_verdict(sb, &r->vmap.v[i].verdict);
		}
		strbuf_puts(sb, " }");
		break;
	case NFTGEN_A_VMAP_PAIRS:
		strbuf_puts(sb, "iifname . oifname vmap @" NFTGEN_PAIRS_MAP);
		break;
	case NFTGEN_A_REDIRECT:
		strbuf_printf(sb, "redirect to :%u", r->redirect_port);
		break;
	}
	if (r->comment)
		strbuf_printf(sb, " comment \"%s\"", r->comment);
	strbuf_putc(sb, '\n');
}

static const char *nftprint_hook(int hook)
{
	switch (hook) {
	case NF_INET_PRE_ROUTING:
		return "prerouting";
	case NF_INET_LOCAL_IN:
		return "input";
	case NF_INET_FORWARD:
		return "forward";
	case NF_INET_LOCAL_OUT:
		return "output";
	case NF_INET_POST_ROUTING:
		return "postrouting";
	}
	return "?";
}

static void nftprint_chain(struct strbuf *sb, const struct nftgen_table *t,
                           const struct nftgen_chain *c)
{
	strbuf_printf(sb, "\tchain %s {\n", c->name);
	if (c->base) {
		strbuf_printf(sb, "\t\ttype %s hook %s priority ", c->type, nftprint_hook(c->hook));
		if (c->prio == 0)
			strbuf_puts(sb, "filter");
		else if (c->prio == -100)
			strbuf_puts(sb, "dstnat");
		else
			strbuf_printf(sb, "%d", c->prio);
		strbuf_printf(sb, "; policy %s;\n", c->policy_drop ? "drop" : "accept");
	}
	for (size_t i = 0; i < c->rules.n; i++)
		nftprint_rule(sb, t, &c->rules.v[i]);
	strbuf_puts(sb, "\t}\n");
}

void nftprint_table(const struct nftgen_table *t, struct strbuf *sb, bool with_digest)
{
	static const char head[] = "table inet " NFTGEN_TABLE " {\n";
	bool first = true;

	if (with_digest) {
		char c[64];

		nftprint_table_comment(t, c, sizeof(c));
		strbuf_puts(sb, head);
		strbuf_printf(sb, "\tcomment \"%s\"\n", c);
		if (t->body && t->body_len >= sizeof(head) - 1) {
			/* the body printed at compile time, after its first line */
			strbuf_append(sb, t->body + sizeof(head) - 1,
			              t->body_len - (sizeof(head) - 1));
			return;
		}
	} else {
		strbuf_puts(sb, head);
	}
	for (size_t i = 0; i < t->sets.n; i++) {
		if (!first)
			strbuf_putc(sb, '\n');
		first = false;
		nftprint_set(sb, &t->sets.v[i]);
	}
	for (size_t i = 0; i < t->chains.n; i++) {
		if (!first)
			strbuf_putc(sb, '\n');
		first = false;
		nftprint_chain(sb, t, &t->chains.v[i]);
	}
	strbuf_puts(sb, "}\n");
}

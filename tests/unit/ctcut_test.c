/*
 * ctcut_test - the conntrack cut's userspace evaluation (ctcut_permits) on
 * the default policy built by hand: which connections a policy lets start,
 * across segments, within one, to and from the box, redirected mail,
 * registered-only sources, the internet segment, exceptions that expire.
 */
#include "ctcut.h"
#include "fixture.h"
#include "nftgen.h"
#include "xalloc.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

static struct ctcut_pkt pkt(const char *src, const char *dst, int proto, int dport)
{
	struct ctcut_pkt p;

	memset(&p, 0, sizeof(p));
	p.family = strchr(src, ':') ? AF_INET6 : AF_INET;
	inet_pton(p.family, src, p.src);
	inet_pton(p.family, dst, p.dst);
	p.proto = (uint8_t)proto;
	if (proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6)
		p.icmp_type = (uint8_t)dport;
	else
		p.dport = (uint16_t)dport;
	return p;
}

static struct ctcut_locals box_addrs(void)
{
	static const char *const addrs[] = {"198.18.2.1", "198.18.3.1", "2001:2:0:2::1"};
	struct ctcut_locals l;

	memset(&l, 0, sizeof(l));
	for (size_t i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
		struct prefix *a = VEC_PUSH(l.addrs);
		a->family = strchr(addrs[i], ':') ? AF_INET6 : AF_INET;
		a->len = a->family == AF_INET ? 32 : 128;
		inet_pton(a->family, addrs[i], a->addr);
	}
	return l;
}

int main(void)
{
	struct policy *p = fx_default();
	struct nftgen_table *t = nftgen_compile(p, NULL);
	struct ctcut_locals loc = box_addrs();
	struct ctcut_pkt k;

	/* across segments: exactly the flows */
	k = pkt("198.18.2.10", "198.18.3.50", IPPROTO_TCP, 3389);
	FX_CHECK(ctcut_permits(t, p, &loc, &k));
	k = pkt("2001:2:0:2::10", "2001:2:0:3::50", IPPROTO_TCP, 3389);
	FX_CHECK(ctcut_permits(t, p, &loc, &k));
	k = pkt("198.18.2.10", "198.18.3.50", IPPROTO_TCP, 22);
	FX_CHECK(!ctcut_permits(t, p, &loc, &k));
	k = pkt("198.18.3.50", "198.18.2.10", IPPROTO_TCP, 3389); /* the other way */
	FX_CHECK(!ctcut_permits(t, p, &loc, &k));
	/* the internet: any address in no segment */
	k = pkt("198.18.2.10", "198.18.4.100", IPPROTO_TCP, 443);
	FX_CHECK(ctcut_permits(t, p, &loc, &k));
	k = pkt("198.18.2.10", "198.18.4.100", IPPROTO_UDP, 53);
	FX_CHECK(ctcut_permits(t, p, &loc, &k));
	k = pkt("198.18.2.10", "198.18.4.100", IPPROTO_ICMP, 8);
	FX_CHECK(ctcut_permits(t, p, &loc, &k));
	k = pkt("2001:2:0:2::10", "2001:2:0:4::100", IPPROTO_ICMPV6, 128);
	FX_CHECK(ctcut_permits(t, p, &loc, &k));
	k = pkt("198.18.3.50", "198.18.4.100", IPPROTO_TCP, 443); /* lgwan: no internet */
	FX_CHECK(!ctcut_permits(t, p, &loc, &k));
	k = pkt("198.18.4.100", "198.18.2.10", IPPROTO_TCP, 443);
	FX_CHECK(!ctcut_permits(t, p, &loc, &k));
	/* within a segment */
	k = pkt("198.18.2.10", "198.18.2.11", IPPROTO_TCP, 445);
	FX_CHECK(ctcut_permits(t, p, &loc, &k));
	/* registered-only 指令系 */
	k = pkt("198.18.1.10", "198.18.2.12", IPPROTO_UDP, 123);
	FX_CHECK(ctcut_permits(t, p, &loc, &k));
	k = pkt("198.18.1.10", "198.18.2.12", IPPROTO_UDP, 124);
	FX_CHECK(!ctcut_permits(t, p, &loc, &k));
	k = pkt("198.18.1.99", "198.18.1.10", IPPROTO_TCP, 80); /* unregistered, even inside */
	FX_CHECK(!ctcut_permits(t, p, &loc, &k));
	k = pkt("198.18.1.20", "198.18.1.10", IPPROTO_TCP, 80);
	FX_CHECK(ctcut_permits(t, p, &loc, &k));
	/* the box */
	k = pkt("198.18.2.5", "198.18.2.1", IPPROTO_TCP, 22);
	FX_CHECK(ctcut_permits(t, p, &loc, &k));
	k = pkt("2001:2:0:2::5", "2001:2:0:2::1", IPPROTO_TCP, 22);
	FX_CHECK(ctcut_permits(t, p, &loc, &k));
	k = pkt("198.18.2.10", "198.18.2.1", IPPROTO_TCP, 22);
	FX_CHECK(!ctcut_permits(t, p, &loc, &k));
	k = pkt("198.18.2.1", "198.18.3.25", IPPROTO_TCP, 25); /* the relay's own delivery */
	FX_CHECK(ctcut_permits(t, p, &loc, &k));
	/* redirected mail */
	k = pkt("198.18.2.10", "198.18.3.25", IPPROTO_TCP, 25);
	k.dnat = true;
	FX_CHECK(ctcut_permits(t, p, &loc, &k));
	k = pkt("198.18.2.10", "198.18.3.26", IPPROTO_TCP, 25);
	k.dnat = true;
	FX_CHECK(!ctcut_permits(t, p, &loc, &k));
	k = pkt("198.18.2.10", "198.18.3.25", IPPROTO_TCP, 25); /* not redirected: no mail path */
	FX_CHECK(!ctcut_permits(t, p, &loc, &k));
	/* an exception, then the same policy once it expired */
	k = pkt("198.18.3.80", "198.18.2.30", IPPROTO_TCP, 8080);
	FX_CHECK(ctcut_permits(t, p, &loc, &k));
	nftgen_free(t);
	for (size_t i = 0; i < p->flows.n; i++)
		if (p->flows.v[i].kind == FLOW_EXCEPTION)
			p->flows.v[i].expired = true;
	t = nftgen_compile(p, NULL);
	FX_CHECK(!ctcut_permits(t, p, &loc, &k));

	nftgen_free(t);
	ctcut_locals_free(&loc);
	fx_free(p);
	if (fx_failures)
		fprintf(stderr, "ctcut_test: %d failures\n", fx_failures);
	return fx_failures ? 1 : 0;
}

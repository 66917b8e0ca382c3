/*
 * ctcut - after an apply, deletes the conntrack entries (current network
 * namespace, libnetfilter_conntrack) of connections the new policy would no
 * longer let start, so `ct state established` does not keep them alive.
 *
 * Each entry's original tuple is evaluated in userspace against the
 * compiled table (the nftgen IR), as the connection's first packet:
 *   - source or destination a local address of the box: a connection the
 *     box started is kept (output is not filtered); one to the box goes
 *     through the input chain (management, redirected mail);
 *   - a redirected mail connection (IPS_DST_NAT) must still be redirected by
 *     mail_redirect and accepted by input;
 *   - anything else goes through forward: the segments are found from the
 *     addresses (an address in no segment network belongs to the internet
 *     segment), the interfaces from the segments, then the ingress checks,
 *     the pairs map and the pair chain decide.  Within a segment the map
 *     accepts, so such entries stay unless an ingress check (registered-only)
 *     rejects the source.
 * Entries whose addresses match no segment and no internet segment exists
 * are kept (their path is unknown).  MAC conditions of registered hosts
 * cannot be checked from conntrack; the address part decides.
 *
 * TRUST: the IR and policy; conntrack entries are kernel data.
 * FAILURE: -1 with err_r when conntrack cannot be read; entries that vanish
 * before they are deleted are not errors.
 */
#ifndef SEKISHO_CTCUT_H
#define SEKISHO_CTCUT_H

#include "nftgen.h"
#include "policy.h"
#include "strbuf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A connection's first packet, as conntrack's original tuple shows it. */
struct ctcut_pkt {
	int family; /* AF_INET / AF_INET6 */
	uint8_t src[16], dst[16];
	uint8_t proto;  /* IPPROTO_* */
	uint16_t dport; /* tcp/udp, host order */
	uint8_t icmp_type;
	bool dnat; /* IPS_DST_NAT: redirected (mail) */
};

/* The box's own addresses. */
struct ctcut_locals {
	struct {
		struct prefix *v;
		size_t n, cap;
	} addrs;
};

struct ctcut_result {
	size_t seen; /* entries looked at */
	size_t cut;  /* entries deleted */
};

/* Would the compiled table let this connection start?  Pure (no system
 * access); the unit tests call it directly. */
bool ctcut_permits(const struct nftgen_table *t, const struct policy *p,
                   const struct ctcut_locals *loc, const struct ctcut_pkt *pk);

/* The local addresses of the current network namespace (getifaddrs). */
int ctcut_locals_read(struct ctcut_locals *loc, struct strbuf *err_r);
void ctcut_locals_free(struct ctcut_locals *loc);

/* Dump conntrack (IPv4 and IPv6) and delete every entry ctcut_permits()
 * rejects.  Returns 0 with the counts in r, or -1 with err_r. */
int ctcut_run(const struct nftgen_table *t, const struct policy *p, struct ctcut_result *r,
              struct strbuf *err_r);

#endif

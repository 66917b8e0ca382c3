/*
 * fixture - builds small checked policies in code for the unit tests of
 * nftgen, netlink and ctcut (so they do not depend on the rule-file parser).
 */
#ifndef SEKISHO_TEST_FIXTURE_H
#define SEKISHO_TEST_FIXTURE_H

#include "policy.h"

struct policy *fx_policy(void);
struct segment *fx_segment(struct policy *p, const char *id, enum seg_kind kind, const char *ifaces,
                           const char *nets);
/* addrs: space separated; mac may be NULL; seg NULL = top-level host */
struct host *fx_host(struct policy *p, struct segment *seg, const char *name, const char *addrs,
                     const char *mac);
struct group *fx_group(struct policy *p, const char *name, const char *hosts);
/* svcs like "tcp/80,443 udp/53 ping"; from/to: host or group name or NULL */
struct flow *fx_flow(struct policy *p, enum flow_kind kind, const char *src, const char *dst,
                     const char *svcs, const char *from, const char *to, int line);
void fx_mgmt(struct policy *p, const char *from, const char *svcs, int line);
/* The default rules/ of the repository, built by hand. */
struct policy *fx_default(void);
/* Free a fixture policy. */
void fx_free(struct policy *p);

#define FX_CHECK(cond)                                                                             \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);   \
			fx_failures++;                                                             \
		}                                                                                  \
	} while (0)
extern int fx_failures;

#endif

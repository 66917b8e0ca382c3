/*
 * netlink - the nftgen IR to the kernel through libnftnl + libmnl (never the
 * nft binary): replaces table inet sekisho in one atomic batch, reads the
 * running table back (digest comment, object counts, rule counters) and
 * deletes it.  Other tables are never touched.
 *
 * The batch: GETGEN first, then whether the table exists; BATCH_BEGIN
 * carrying that generation id (NFNL_BATCH_GENID), so a ruleset changed
 * meanwhile fails the batch with ERESTART and the apply is retried once;
 * DELTABLE when the table exists (never an add + delete of a missing table:
 * that leaves kernel cleanup work every netfilter socket close then waits
 * for), NEWTABLE with the digest comment; chains; named sets with their elements split over as many
 * NEWSETELEM messages as the 64 KiB attribute limit needs; then each rule,
 * preceded by its inline (anonymous) sets; BATCH_END.  Every message asks
 * for an ack; a kernel error is reported with the rule's comment (its
 * file:line), found through a sequence number -> object map.
 *
 * TRUST: the IR.  Needs CAP_NET_ADMIN in the current network namespace.
 * FAILURE: returns -1 with a message in err_r; a batch the kernel rejects
 * changes nothing (the old table stays).
 *
 * Test hooks: SEKISHO_TEST_FAIL_RULE="file:line" makes the rule whose
 * comment is exactly that carry an invalid expression (a meta load of an
 * unknown key), so the kernel rejects the batch at that rule.
 * SEKISHO_TEST_STALE_GENID=1 sends the first attempt with an outdated
 * generation id, as if the ruleset had changed meanwhile (the retry path).
 */
#ifndef SEKISHO_NETLINK_H
#define SEKISHO_NETLINK_H

#include "nftgen.h"
#include "strbuf.h"

#include <stdbool.h>
#include <stdint.h>

#define NETLINK_FAIL_RULE_ENV "SEKISHO_TEST_FAIL_RULE"
#define NETLINK_STALE_GENID_ENV "SEKISHO_TEST_STALE_GENID"

/* Per chain of the running table: rule counters summed by final verdict. */
struct netlink_chain_stat {
	char *name;
	size_t nrules;
	uint64_t accept_packets, accept_bytes; /* rules whose counter is followed by accept */
	uint64_t drop_packets, drop_bytes;     /* ... by drop */
	uint64_t other_packets, other_bytes;   /* redirect and the rest */
};

struct netlink_running {
	bool exists;
	char *comment; /* the table comment (digest marker); NULL if none */
	size_t nsets;  /* named sets and maps (inline sets not counted) */
	size_t nchains;
	size_t nrules;
	struct {
		struct netlink_chain_stat *v;
		size_t n, cap;
	} chains; /* in listing order */
};

/*
 * Replace table inet sekisho with t in one batch.  Returns 0 when every
 * message was acknowledged without error (the batch is committed), -1 on
 * failure with the reason (naming the rule's file:line when a rule was
 * rejected) in err_r.  A concurrent ruleset change is retried once.
 */
int netlink_apply(const struct nftgen_table *t, struct strbuf *err_r);

/*
 * Read the running table inet sekisho into r (zeroed first).  A missing
 * table is not an error: r->exists is false.  Returns -1 with err_r on a
 * netlink failure.  Free with netlink_running_free().
 */
int netlink_read(struct netlink_running *r, struct strbuf *err_r);
void netlink_running_free(struct netlink_running *r);

/* Delete table inet sekisho if it exists.  Returns 0, or -1 with err_r. */
int netlink_delete(struct strbuf *err_r);

#endif

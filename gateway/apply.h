/*
 * apply - the apply transaction shared by `sekisho apply`, `rollback`, the
 * apply --confirm waiter and sekisho-gatewayd:
 *   load the rule files -> policy_check (refuse on any error) -> nftgen ->
 *   prepare the new version on disk -> netlink_apply (one batch) -> commit
 *   the version (only now is it `current`) -> write <state>/mailflows for
 *   sekisho-relayd (mailgen.h) -> cut conntrack entries the new policy no
 *   longer permits.
 * Rules that compile to the digest of the current version are applied
 * again (the kernel table is re-asserted) but not recorded as a new version,
 * so repeated applies and reloads do not push real history out.
 *
 * TRUST: rule files are parsed by rulefile.c as untrusted input; the state
 * directory is locked by the caller.
 * FAILURE: APPLY_REFUSED when the rules fail the check or the kernel rejects
 * the batch (the running table is unchanged, the reason has been printed),
 * APPLY_ERROR on system errors.
 */
#ifndef SEKISHO_APPLY_H
#define SEKISHO_APPLY_H

#include "ctcut.h"
#include "nftgen.h"
#include "policy.h"
#include "state.h"

#include <stdbool.h>

enum { APPLY_OK = 0, APPLY_REFUSED = 1, APPLY_ERROR = 2 };

struct apply_opts {
	const char *rules_dir; /* where to load the rule files from */
	const char *source;    /* rules directory to record; NULL = rules_dir */
	const char *prefix;    /* how comments name the files; NULL = as loaded */
	const char *reason;    /* recorded with the version */
	bool cut;              /* cut conntrack entries afterwards */
};

struct apply_result {
	unsigned version; /* the new version (or the current one when unchanged) */
	bool unchanged; /* the rules compiled to the current version: re-applied, not recorded again
	                 */
	char digest[17];
	size_t nrules, nsets, nchains;
	size_t expired; /* expired exceptions left out */
	bool cut_done;
	struct ctcut_result ct;
	double ms; /* load .. commit */
};

/*
 * Load and check the rule files of dir and compile them.  On success
 * returns APPLY_OK with *p_r and *t_r set (free with policy_free and
 * nftgen_free); otherwise the diagnostics have been printed.
 */
int apply_compile(const char *dir, const struct nftgen_opts *no, struct policy **p_r,
                  struct nftgen_table **t_r);

/* The whole transaction (see above); prints nothing on success. */
int apply_run(struct state *st, const struct apply_opts *o, struct apply_result *r);

/* Re-apply recorded version num as a new version (rollback, confirm
 * timeout): its snapshot is recompiled today, its file names kept. */
int apply_version(struct state *st, unsigned num, const char *reason, bool cut,
                  struct apply_result *r);

#endif

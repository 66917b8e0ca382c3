/*
 * auditrec - what the gateway writes to the audit log (common/audit.h).
 * Every function is silent when no audit log is configured; a record that
 * cannot be written is logged (log_error) and the operation stands.
 */
#ifndef SEKISHO_AUDITREC_H
#define SEKISHO_AUDITREC_H

#include "apply.h"
#include "policy.h"

/* `sekisho check`: the rules directory and its error/warning counts. */
void auditrec_check(const char *dir, int errors, int warnings);

/* One apply transaction (apply, rollback, confirm-revert: from reason):
 * outcome from ret (APPLY_*), version and ruleset digest (NULL when none
 * was compiled); on success one "exception" record per exception of p,
 * applied or expired. */
void auditrec_apply(const char *reason, const char *rules_dir, const struct apply_result *r,
                    const struct policy *p, const char *digest, int ret);

/* `sekisho confirm` (what = "confirmed") or a confirm timeout that deleted
 * the table (what says so). */
void auditrec_confirm(unsigned version, const char *what);

/* A quarantine release delivered and noted. */
void auditrec_release(const char *id, const char *by, const char *what, const char *reason,
                      const char *to);

#endif

/*
 * mailgen - the mail flows file (common/mailflows.h) from a checked policy:
 * one line per destination address x port of each `mail` flow, the source
 * segment's networks as the allowed clients.  Written into the state
 * directory whenever the running ruleset changes (apply, rollback, the
 * confirm-timeout revert, gatewayd at boot), so that sekisho-relayd only
 * accepts the redirected connections the rules declare.
 *
 * TRUST: the policy has passed policy_check(); the state directory is
 * root's.  FAILURE: -1 with the reason in err_r.
 */
#ifndef SEKISHO_MAILGEN_H
#define SEKISHO_MAILGEN_H

#include "nftgen.h"
#include "policy.h"
#include "state.h"
#include "strbuf.h"

#define MAILGEN_FILE "mailflows" /* in the state directory */

/*
 * Append the file's text for p to out: a comment naming source (the rules
 * directory as given), then the flows in rule order.  p NULL = no ruleset
 * runs: the comment only.  File names in FILE:LINE are renamed like rule
 * comments when no->from_prefix/to_prefix are set (no may be NULL).
 * Returns 0, or -1 with err_r when the text would exceed what the reader
 * accepts (MAILFLOWS_MAX_FLOWS lines).
 */
int mailgen_text(const struct policy *p, const struct nftgen_opts *no, const char *source,
                 struct strbuf *out, struct strbuf *err_r);
/* Write text atomically to <state dir>/mailflows (mode 0644) and make the
 * state directory searchable for the relay's user.  Returns 0 or -1. */
int mailgen_write(const struct state *st, const char *text, size_t len, struct strbuf *err_r);

#endif

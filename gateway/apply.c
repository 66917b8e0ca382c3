/*
 * apply - load, check, compile, apply, record, cut (see apply.h).
 *
 * TRUST: rule files via rulefile.c; the caller holds the state lock.
 * FAILURE: APPLY_REFUSED / APPLY_ERROR with the reason printed; the kernel
 * batch is atomic and the version becomes current only after it succeeded.
 */
#include "apply.h"
#include "auditrec.h"
#include "log.h"
#include "mailgen.h"
#include "netlink.h"
#include "nftprint.h"
#include "xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double apply_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* SEKISHO_TIMING=1: where an apply spends its time, logged at the end */
static struct {
	double load, check, compile, print, record, kernel, cut;
} apply_timing;

int apply_compile(const char *dir, const struct nftgen_opts *no, struct policy **p_r,
                  struct nftgen_table **t_r)
{
	double t0 = apply_now_ms(), t1, t2;
	struct policy *p;
	DIR *d;
	int before = diag_errors();

	*p_r = NULL;
	*t_r = NULL;
	d = opendir(dir);
	if (!d) {
		log_error_errno("cannot read rules directory %s", dir);
		return APPLY_ERROR;
	}
	closedir(d);
	p = rulefile_load_dir(dir);
	t1 = apply_now_ms();
	apply_timing.load = t1 - t0;
	if (!policy_check(p) || diag_errors() > before) {
		log_error("%s: %d error%s in the rule files; nothing compiled or applied", dir,
		          diag_errors() - before, diag_errors() - before == 1 ? "" : "s");
		policy_free(p);
		return APPLY_REFUSED;
	}
	t2 = apply_now_ms();
	apply_timing.check = t2 - t1;
	*t_r = nftgen_compile(p, no);
	apply_timing.compile = apply_now_ms() - t2;
	*p_r = p;
	return APPLY_OK;
}

/* Is t what the current version recorded?  Then *num_r is that version. */
static bool apply_same_as_current(struct state *st, const struct nftgen_table *t, unsigned *num_r)
{
	struct state_version v;
	struct strbuf err = STRBUF_INIT, want = STRBUF_INIT;
	unsigned cur = state_current(st);
	bool same = false;

	if (cur && state_version(st, cur, &v, &err) == 0) {
		strbuf_printf(&want, "%s%s", NFTGEN_DIGEST_PREFIX, t->digest);
		same = strcmp(v.digest, want.s) == 0;
		state_version_free(&v);
	}
	strbuf_free(&err);
	strbuf_free(&want);
	if (same)
		*num_r = cur;
	return same;
}

int apply_run(struct state *st, const struct apply_opts *o, struct apply_result *r)
{
	double t0 = apply_now_ms();
	char *load_prefix = state_dir_prefix(o->rules_dir);
	struct nftgen_opts no = {NULL, NULL};
	struct state_record rec;
	struct state_txn txn;
	struct strbuf show = STRBUF_INIT, err = STRBUF_INIT, mail = STRBUF_INIT;
	struct policy *p = NULL;
	struct nftgen_table *t = NULL;
	double tm = 0;
	bool mail_failed = false;
	int ret;

	memset(r, 0, sizeof(*r));
	memset(&apply_timing, 0, sizeof(apply_timing));
	if (o->prefix && strcmp(o->prefix, load_prefix) != 0) {
		no.from_prefix = load_prefix;
		no.to_prefix = o->prefix;
	}
	ret = apply_compile(o->rules_dir, &no, &p, &t);
	if (ret != APPLY_OK)
		goto out;
	for (size_t i = 0; i < p->flows.n; i++)
		if (p->flows.v[i].kind == FLOW_EXCEPTION && p->flows.v[i].expired)
			r->expired++;
	if (mailgen_text(p, &no, o->source ? o->source : o->rules_dir, &mail, &err) < 0) {
		log_error("%s; nothing applied", err.s);
		ret = APPLY_REFUSED;
		goto out;
	}
	/* the same ruleset again: re-assert it in the kernel, keep the history */
	if (apply_same_as_current(st, t, &r->version)) {
		tm = apply_now_ms();
		if (netlink_apply(t, &err) < 0) {
			fprintf(stderr, "%s\n", err.s);
			log_error("apply failed; the running ruleset is unchanged");
			ret = APPLY_REFUSED;
			goto out;
		}
		r->unchanged = true;
		apply_timing.kernel = apply_now_ms() - tm;
		goto done;
	}
	tm = apply_now_ms();
	nftprint_table(t, &show, true);
	apply_timing.print = apply_now_ms() - tm;
	tm = apply_now_ms();
	rec.load_prefix = load_prefix;
	rec.source = o->source ? o->source : o->rules_dir;
	rec.prefix = o->prefix ? o->prefix : load_prefix;
	rec.reason = o->reason ? o->reason : "apply";
	rec.show = show.s;
	if (state_prepare(st, p, t, &rec, &txn, &err) < 0) {
		log_error("%s", err.s);
		ret = APPLY_ERROR;
		goto out;
	}
	apply_timing.record = apply_now_ms() - tm;
	tm = apply_now_ms();
	if (netlink_apply(t, &err) < 0) {
		fprintf(stderr, "%s\n", err.s);
		log_error("apply failed; the running ruleset is unchanged");
		state_abort(st, &txn);
		ret = APPLY_REFUSED;
		goto out;
	}
	apply_timing.kernel = apply_now_ms() - tm;
	r->version = txn.num;
	if (state_commit(st, &txn, &err) < 0) {
		log_error("the ruleset is applied but could not be recorded: %s", err.s);
		state_abort(st, &txn);
		ret = APPLY_ERROR;
		goto out;
	}
done:
	/* sekisho-relayd's list of mail flows follows the running ruleset */
	strbuf_reset(&err);
	if (mailgen_write(st, mail.s, mail.len, &err) < 0) {
		log_error("the ruleset is applied but the mail flows file was not written: %s",
		          err.s);
		mail_failed = true;
	}
	memcpy(r->digest, t->digest, sizeof(r->digest));
	r->nrules = t->nrules;
	r->nsets = t->sets.n;
	r->nchains = t->chains.n;
	r->ms = apply_now_ms() - t0;
	if (o->cut) {
		tm = apply_now_ms();
		strbuf_reset(&err);
		if (ctcut_run(t, p, &r->ct, &err) == 0)
			r->cut_done = true;
		else
			log_warn("could not cut connections the new rules do not permit: %s",
			         err.s);
		apply_timing.cut = apply_now_ms() - tm;
	}
	if (getenv("SEKISHO_TIMING"))
		log_info(
		    "timing (ms): load %.1f, check %.1f, compile %.1f, print %.1f, record %.1f, "
		    "kernel %.1f, cut %.1f",
		    apply_timing.load, apply_timing.check, apply_timing.compile, apply_timing.print,
		    apply_timing.record, apply_timing.kernel, apply_timing.cut);
	ret = mail_failed ? APPLY_ERROR : APPLY_OK;
out:
	auditrec_apply(o->reason, o->source ? o->source : o->rules_dir, r, p, t ? t->digest : NULL,
	               ret);
	strbuf_free(&mail);
	strbuf_free(&show);
	strbuf_free(&err);
	nftgen_free(t);
	if (p)
		policy_free(p);
	free(load_prefix);
	return ret;
}

int apply_version(struct state *st, unsigned num, const char *reason, bool cut,
                  struct apply_result *r)
{
	struct state_version v;
	struct strbuf err = STRBUF_INIT, rules = STRBUF_INIT;
	struct apply_opts o;
	int ret;

	if (state_verify(st, num, &err) < 0 || state_version(st, num, &v, &err) < 0) {
		log_error("%s", err.s);
		strbuf_free(&err);
		return APPLY_ERROR;
	}
	strbuf_printf(&rules, "%s/rules", v.dir);
	o.rules_dir = rules.s;
	o.source = v.source;
	o.prefix = v.prefix;
	o.reason = reason;
	o.cut = cut;
	ret = apply_run(st, &o, r);
	state_version_free(&v);
	strbuf_free(&rules);
	strbuf_free(&err);
	return ret;
}

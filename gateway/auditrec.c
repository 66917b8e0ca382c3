/*
 * auditrec - the gateway's audit records (common/audit.h): rule check,
 * apply / rollback / confirm-revert with the ruleset digest, confirm,
 * exceptions applied and expired, quarantine releases.  Each builds the
 * data object and hands it to audit_event, which does nothing when no
 * audit log is configured.
 *
 * SECURITY
 *	Every string goes through json_cstr (escaped); nothing here decides
 *	anything -- a failed record is logged by audit_event and the
 *	operation it describes stands.
 */
#include "auditrec.h"
#include "audit.h"
#include "json.h"

#include <stdio.h>
#include <string.h>

static void auditrec_emit(const char *type, struct strbuf *d)
{
	strbuf_putc(d, '}');
	if (!d->overflow)
		audit_event(type, d->s);
	strbuf_free(d);
}

void auditrec_check(const char *dir, int errors, int warnings)
{
	struct strbuf d;
	bool first = true;

	strbuf_init(&d, 0);
	strbuf_putc(&d, '{');
	json_key(&d, &first, "dir");
	json_cstr(&d, dir);
	json_key(&d, &first, "errors");
	strbuf_printf(&d, "%d", errors);
	json_key(&d, &first, "warnings");
	strbuf_printf(&d, "%d", warnings);
	json_key(&d, &first, "result");
	json_cstr(&d, errors ? "errors" : "ok");
	auditrec_emit("check", &d);
}

static void auditrec_exception(const struct flow *f, unsigned version)
{
	struct strbuf d, at = STRBUF_INIT;
	bool first = true;
	char date[16];

	strbuf_init(&d, 0);
	strbuf_putc(&d, '{');
	json_key(&d, &first, "state");
	json_cstr(&d, f->expired ? "expired" : "applied");
	json_key(&d, &first, "version");
	strbuf_printf(&d, "%u", version);
	json_key(&d, &first, "src");
	json_cstr(&d, f->src.name);
	json_key(&d, &first, "dst");
	json_cstr(&d, f->dst.name);
	json_key(&d, &first, "from");
	json_cstr(&d, f->from.name);
	json_key(&d, &first, "to");
	json_cstr(&d, f->to.name);
	json_key(&d, &first, "approved_by");
	json_cstr(&d, f->approved_by);
	json_key(&d, &first, "reason");
	json_cstr(&d, f->reason);
	json_key(&d, &first, "expires");
	if (snprintf(date, sizeof(date), "%04d-%02d-%02d", f->expires.year, f->expires.month,
	             f->expires.day) >= (int)sizeof(date))
		date[0] = '\0';
	json_cstr(&d, date);
	json_key(&d, &first, "at");
	strbuf_printf(&at, "%s:%d", f->pos.file ? f->pos.file : "?", f->pos.line);
	json_string(&d, at.s, at.len);
	strbuf_free(&at);
	auditrec_emit("exception", &d);
}

void auditrec_apply(const char *reason, const char *rules_dir, const struct apply_result *r,
                    const struct policy *p, const char *digest, int ret)
{
	struct strbuf d;
	bool first = true;
	const char *type = "apply";

	if (reason && strncmp(reason, "rollback", 8) == 0)
		type = "rollback";
	else if (reason && strncmp(reason, "confirm timeout", 15) == 0)
		type = "confirm-revert";
	strbuf_init(&d, 0);
	strbuf_putc(&d, '{');
	json_key(&d, &first, "reason");
	json_cstr(&d, reason ? reason : "apply");
	json_key(&d, &first, "rules");
	json_cstr(&d, rules_dir);
	json_key(&d, &first, "outcome");
	json_cstr(&d, ret == 0   ? (r->unchanged ? "unchanged" : "applied")
	              : ret == 1 ? "refused"
	                         : "error");
	json_key(&d, &first, "version");
	if (ret == 0 || r->version)
		strbuf_printf(&d, "%u", r->version);
	else
		strbuf_puts(&d, "null");
	json_key(&d, &first, "digest");
	json_cstr(&d, digest && digest[0] ? digest : NULL);
	json_key(&d, &first, "rules_count");
	strbuf_printf(&d, "%zu", r->nrules);
	json_key(&d, &first, "expired_exceptions");
	strbuf_printf(&d, "%zu", r->expired);
	auditrec_emit(type, &d);
	if (ret != 0 || !p)
		return;
	for (size_t i = 0; i < p->flows.n; i++)
		if (p->flows.v[i].kind == FLOW_EXCEPTION)
			auditrec_exception(&p->flows.v[i], r->version);
}

void auditrec_confirm(unsigned version, const char *what)
{
	struct strbuf d;
	bool first = true;

	strbuf_init(&d, 0);
	strbuf_putc(&d, '{');
	json_key(&d, &first, "version");
	strbuf_printf(&d, "%u", version);
	json_key(&d, &first, "outcome");
	json_cstr(&d, what);
	auditrec_emit(strcmp(what, "confirmed") == 0 ? "confirm" : "confirm-revert", &d);
}

void auditrec_release(const char *id, const char *by, const char *what, const char *reason,
                      const char *to)
{
	struct strbuf d;
	bool first = true;

	strbuf_init(&d, 0);
	strbuf_putc(&d, '{');
	json_key(&d, &first, "quarantine_id");
	json_cstr(&d, id);
	json_key(&d, &first, "by");
	json_cstr(&d, by);
	json_key(&d, &first, "what");
	json_cstr(&d, what);
	json_key(&d, &first, "reason");
	json_cstr(&d, reason);
	json_key(&d, &first, "to");
	json_cstr(&d, to);
	auditrec_emit("quarantine-release", &d);
}

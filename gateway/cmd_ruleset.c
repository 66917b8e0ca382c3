/*
 * cmd_ruleset - the ruleset subcommands of the sekisho CLI:
 *
 *   show [DIR]                 the compiled table in nft syntax (touches nothing)
 *   show --mailflows [DIR]     the mail flows file apply would write (mailgen.h)
 *   apply [--confirm S] [DIR]  compile and replace table inet sekisho atomically
 *   confirm                    keep a ruleset applied with --confirm
 *   diff [DIR]                 running table vs what DIR compiles to
 *   rollback [N]               re-apply the version N steps back (default 1)
 *   status [--relay-stats F] [--alerts F] [--prometheus [FILE]]
 *                              running version, digest, per-pair counters,
 *                              relay figures, recent alerts (cmd_status.c)
 *
 * apply --confirm S: after the apply a `pending` marker names the version
 * that ran before, and a detached waiter process (own session, no terminal,
 * output to <state>/confirm.log) sleeps S seconds.  Unless `sekisho confirm`
 * removed the marker by then, the waiter re-applies that version (as a new
 * version, reason "confirm timeout") or, when nothing ran before, deletes
 * the table, and logs what it did.  A plain apply or a rollback cancels a
 * pending confirmation; a second apply --confirm keeps the version that was
 * confirmed last as the one to revert to.
 *
 * rollback N counts N versions back from the running one in the recorded
 * history (the last STATE_KEEP_VERSIONS); the old snapshot is recompiled
 * today (exceptions that expired meanwhile stay out) and applied as a new
 * version, so a second `rollback` undoes the first.
 *
 * TRUST: rule files through rulefile.c; the state directory is root's.
 * FAILURE: exit 0 success, 1 refused or problems found (check errors, the
 * kernel rejected the batch, diff found differences, nothing to confirm),
 * 2 usage or system errors (cmd.h).
 */
#include "apply.h"
#include "auditrec.h"
#include "cmd.h"
#include "cmd_status.h"
#include "log.h"
#include "mailgen.h"
#include "netlink.h"
#include "nftprint.h"
#include "state.h"
#include "xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CMD_CONFIRM_MAX_S (24 * 3600)  /* longest --confirm window */
#define CMD_DIFF_CONTEXT 3             /* lines of context in diff hunks */
#define CMD_DIFF_MAX_CELLS (16u << 20) /* LCS table limit; beyond it one big hunk */

static const char *cmd_rules_arg(const struct cmd_opts *o, int argc, char **argv)
{
	return optind < argc ? argv[optind] : o->rules_dir;
}

static void cmd_time_str(time_t t, char *buf, size_t n)
{
	struct tm tm;

	if (t == 0 || !localtime_r(&t, &tm) || strftime(buf, n, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		snprintf(buf, n, "-");
}

/* --- show -------------------------------------------------------------- */

int cmd_show(const struct cmd_opts *o, int argc, char **argv)
{
	struct policy *p;
	struct nftgen_table *t;
	struct strbuf sb = STRBUF_INIT, err = STRBUF_INIT;
	static const struct option longopts[] = {{"mailflows", no_argument, NULL, 'm'},
	                                         {NULL, 0, NULL, 0}};
	bool mailflows = false;
	int c, ret;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (c != 'm')
			goto usage;
		mailflows = true;
	}
	if (optind + 1 < argc)
		goto usage;
	ret = apply_compile(cmd_rules_arg(o, argc, argv), NULL, &p, &t);
	if (ret != APPLY_OK)
		return ret;
	if (!mailflows)
		nftprint_table(t, &sb, true);
	else if (mailgen_text(p, NULL, cmd_rules_arg(o, argc, argv), &sb, &err) < 0) {
		log_error("%s", err.s);
		ret = 1;
		goto out;
	}
	if (fwrite(sb.s, 1, sb.len, stdout) != sb.len || fflush(stdout) != 0) {
		log_error_errno("writing the ruleset");
		ret = 2;
	}
out:
	strbuf_free(&sb);
	strbuf_free(&err);
	nftgen_free(t);
	policy_free(p);
	return ret;
usage:
	fputs("usage: sekisho show [--mailflows] [DIR]\n", stderr);
	return 2;
}

/* --- apply, confirm ------------------------------------------------------ */

static void cmd_report(const char *what, const struct apply_result *r)
{
	log_info("%s: version %06u %s (digest %s, %zu rules, %zu sets, %zu chains) in %.1f ms",
	         what, r->version, r->unchanged ? "re-applied, unchanged" : "applied", r->digest,
	         r->nrules, r->nsets, r->nchains, r->ms);
	if (r->expired)
		log_warn("%zu expired exception%s not applied (see the warnings above)", r->expired,
		         r->expired == 1 ? "" : "s");
	if (r->cut_done)
		log_info("%zu of %zu tracked connection%s cut (no longer permitted)", r->ct.cut,
		         r->ct.seen, r->ct.seen == 1 ? "" : "s");
}

static void cmd_cancel_pending(struct state *st)
{
	struct state_pending pend;

	if (state_pending_read(st, &pend) == 1) {
		log_info("the pending confirmation of version %06u is cancelled", pend.applied);
		state_pending_clear(st);
	}
}

/* The detached waiter of apply --confirm (see the file header). */
static void cmd_confirm_waiter(const char *state_dir, unsigned long token)
{
	struct state_pending pend;
	struct state st;
	struct strbuf err = STRBUF_INIT;
	struct apply_result r;
	char when[32];
	int fd;

	log_init("sekisho-confirm");
	/* wait: the marker is checked every second, so `confirm` ends us early */
	for (;;) {
		struct state peek = {(char *)state_dir, -1};
		int got = state_pending_read(&peek, &pend);

		if (got != 1 || pend.token != token) {
			log_info("version confirmed (or superseded); nothing to revert");
			return;
		}
		if (time(NULL) >= pend.deadline)
			break;
		sleep(1);
	}
	if (state_open(&st, state_dir, &err) < 0) {
		log_error("cannot revert: %s", err.s);
		strbuf_free(&err);
		return;
	}
	fd = state_pending_read(&st, &pend);
	if (fd != 1 || pend.token != token) {
		log_info("version confirmed at the last moment; nothing to revert");
	} else if (pend.prev == 0) {
		struct strbuf none = STRBUF_INIT;

		if (netlink_delete(&err) == 0) {
			log_warn(
			    "version %06u was not confirmed: table inet sekisho deleted (none ran "
			    "before)",
			    pend.applied);
			auditrec_confirm(pend.applied, "not confirmed: table deleted");
			/* no redirect rules run: the relay gets no mail flow either */
			mailgen_text(NULL, NULL, "(none: the table was deleted)", &none, &err);
			if (mailgen_write(&st, none.s, none.len, &err) < 0)
				log_error("%s", err.s);
		} else
			log_error("version %06u was not confirmed; deleting it failed: %s",
			          pend.applied, err.s);
		strbuf_free(&none);
		state_pending_clear(&st);
	} else {
		char reason[96];

		snprintf(reason, sizeof(reason), "confirm timeout: revert to %06u", pend.prev);
		state_pending_clear(&st);
		if (apply_version(&st, pend.prev, reason, true, &r) == APPLY_OK) {
			cmd_time_str(time(NULL), when, sizeof(when));
			log_warn("%s: version %06u was not confirmed; reverted to version %06u "
			         "(now version %06u)",
			         when, pend.applied, pend.prev, r.version);
			cmd_report("revert", &r);
		} else {
			log_error("version %06u was not confirmed; reverting to %06u FAILED",
			          pend.applied, pend.prev);
		}
	}
	state_close(&st);
	strbuf_free(&err);
}

/* Fork the waiter: double fork, new session, no terminal, logs to
 * <state>/confirm.log.  Returns its pid (the grandchild) or -1. */
static pid_t cmd_spawn_waiter(struct state *st, unsigned long token)
{
	int pfd[2];
	pid_t child, waiter = -1;

	if (pipe(pfd) < 0)
		return -1;
	fflush(NULL);
	child = fork();
	if (child < 0) {
		close(pfd[0]);
		close(pfd[1]);
		return -1;
	}
	if (child == 0) {
		char *logpath = state_path(st, "confirm.log");
		int devnull, logfd;
		pid_t gc;

		close(pfd[0]);
		close(st->lock_fd); /* the lock belongs to the parent's command */
		setsid();
		gc = fork();
		if (gc != 0) {
			if (write(pfd[1], &gc, sizeof(gc)) < 0)
				_exit(1);
			_exit(0);
		}
		close(pfd[1]);
		if (chdir("/") < 0)
			_exit(1);
		devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
		logfd = open(logpath, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
		dup2(devnull, 0);
		dup2(devnull, 1);
		dup2(logfd >= 0 ? logfd : devnull, 2);
		for (int fd = 3; fd < 1024; fd++)
			close(fd);
		signal(SIGHUP, SIG_IGN);
		cmd_confirm_waiter(st->dir, token);
		free(logpath);
		_exit(0);
	}
	close(pfd[1]);
	if (read(pfd[0], &waiter, sizeof(waiter)) != sizeof(waiter))
		waiter = -1;
	close(pfd[0]);
	waitpid(child, NULL, 0);
	return waiter;
}

int cmd_apply(const struct cmd_opts *o, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"confirm", required_argument, NULL, 'c'},
	    {NULL, 0, NULL, 0},
	};
	struct state st;
	struct strbuf err = STRBUF_INIT;
	struct apply_opts ao = {0};
	struct apply_result r;
	struct state_pending pend, old;
	long confirm = 0;
	unsigned prev;
	char *end;
	int c, ret;

	while ((c = getopt_long(argc, argv, "c:", longopts, NULL)) != -1) {
		if (c != 'c')
			goto usage;
		confirm = strtol(optarg, &end, 10);
		if (*end || confirm <= 0 || confirm > CMD_CONFIRM_MAX_S) {
			log_error("--confirm takes 1..%d seconds", CMD_CONFIRM_MAX_S);
			return 2;
		}
	}
	if (optind + 1 < argc)
		goto usage;
	if (state_open(&st, o->state_dir, &err) < 0) {
		log_error("%s", err.s);
		strbuf_free(&err);
		state_close(&st);
		return 2;
	}
	prev = state_current(&st);
	/* a second apply --confirm reverts to the version confirmed last */
	if (confirm && state_pending_read(&st, &old) == 1)
		prev = old.prev;
	ao.rules_dir = cmd_rules_arg(o, argc, argv);
	ao.reason = confirm ? "apply --confirm" : "apply";
	ao.cut = true;
	ret = apply_run(&st, &ao, &r);
	if (ret == APPLY_OK) {
		cmd_report("apply", &r);
		if (!confirm) {
			cmd_cancel_pending(&st);
		} else {
			memset(&pend, 0, sizeof(pend));
			pend.prev = prev;
			pend.applied = r.version;
			pend.deadline = time(NULL) + confirm;
			pend.token = ((unsigned long)getpid() << 20) ^ (unsigned long)time(NULL) ^
			             ((unsigned long)r.version << 40);
			if (state_pending_write(&st, &pend, &err) < 0 ||
			    (pend.waiter = cmd_spawn_waiter(&st, pend.token)) < 0 ||
			    state_pending_write(&st, &pend, &err) < 0) {
				log_error("could not arm the confirmation: %s",
				          err.len ? err.s : strerror(errno));
				state_pending_clear(&st);
				ret = 2;
			} else if (prev) {
				log_info("run 'sekisho confirm' within %ld s, or version %06u is "
				         "re-applied (waiter pid %ld, log %s/confirm.log)",
				         confirm, prev, (long)pend.waiter, st.dir);
			} else {
				log_info(
				    "run 'sekisho confirm' within %ld s, or the table is deleted "
				    "(waiter pid %ld, log %s/confirm.log)",
				    confirm, (long)pend.waiter, st.dir);
			}
		}
	}
	state_close(&st);
	strbuf_free(&err);
	return ret;
usage:
	fputs("usage: sekisho apply [--confirm SECONDS] [DIR]\n", stderr);
	return 2;
}

int cmd_confirm(const struct cmd_opts *o, int argc, char **argv)
{
	struct state st;
	struct strbuf err = STRBUF_INIT;
	struct state_pending pend;
	int ret = 0, got;

	if (getopt(argc, argv, "") != -1 || optind != argc) {
		fputs("usage: sekisho confirm\n", stderr);
		return 2;
	}
	if (state_open(&st, o->state_dir, &err) < 0) {
		log_error("%s", err.s);
		strbuf_free(&err);
		state_close(&st);
		return 2;
	}
	got = state_pending_read(&st, &pend);
	if (got < 0) {
		log_error_errno("reading the pending confirmation");
		ret = 2;
	} else if (got == 0) {
		log_error("nothing waits for confirmation");
		ret = 1;
	} else if (state_pending_clear(&st) < 0) {
		log_error_errno("removing the pending confirmation");
		ret = 2;
	} else {
		log_info("version %06u confirmed", pend.applied);
		auditrec_confirm(pend.applied, "confirmed");
	}
	state_close(&st);
	strbuf_free(&err);
	return ret;
}

/* --- rollback ------------------------------------------------------------ */

int cmd_rollback(const struct cmd_opts *o, int argc, char **argv)
{
	struct state st;
	struct strbuf err = STRBUF_INIT;
	struct state_version *v = NULL;
	struct apply_result r;
	size_t n = 0, i;
	unsigned cur;
	long steps = 1;
	char *end, reason[64];
	int ret;

	if (getopt(argc, argv, "") != -1 || optind + 1 < argc) {
		fputs("usage: sekisho rollback [N]\n", stderr);
		return 2;
	}
	if (optind < argc) {
		steps = strtol(argv[optind], &end, 10);
		if (*end || steps < 1 || steps >= STATE_KEEP_VERSIONS) {
			log_error("rollback takes 1..%d steps", STATE_KEEP_VERSIONS - 1);
			return 2;
		}
	}
	if (state_open(&st, o->state_dir, &err) < 0 || state_list(&st, &v, &n, &err) < 0) {
		log_error("%s", err.s);
		strbuf_free(&err);
		state_close(&st);
		return 2;
	}
	cur = state_current(&st);
	for (i = 0; i < n && v[i].num != cur; i++)
		;
	if (i == n) {
		log_error("no running version is recorded in %s", st.dir);
		ret = 1;
	} else if ((size_t)steps > i) {
		log_error("only %zu older version%s recorded (keeping the last %d)", i,
		          i == 1 ? " is" : "s are", STATE_KEEP_VERSIONS);
		ret = 1;
	} else {
		unsigned target = v[i - (size_t)steps].num;

		snprintf(reason, sizeof(reason), "rollback to %06u", target);
		ret = apply_version(&st, target, reason, true, &r);
		if (ret == APPLY_OK) {
			cmd_report(reason, &r);
			cmd_cancel_pending(&st);
		}
	}
	state_versions_free(v, n);
	state_close(&st);
	strbuf_free(&err);
	return ret;
}

/* --- diff ---------------------------------------------------------------- */

struct cmd_lines {
	const char **v; /* line starts */
	size_t *len;
	size_t n;
};

static void cmd_split(const char *s, struct cmd_lines *l)
{
	size_t cap = 0;

	memset(l, 0, sizeof(*l));
	while (s && *s) {
		const char *nl = strchr(s, '\n');
		size_t len = nl ? (size_t)(nl - s) : strlen(s);

		if (l->n == cap) {
			cap = cap ? cap * 2 : 256;
			l->v = xreallocarray(l->v, cap, sizeof(*l->v));
			l->len = xreallocarray(l->len, cap, sizeof(*l->len));
		}
		l->v[l->n] = s;
		l->len[l->n++] = len;
		s = nl ? nl + 1 : s + len;
	}
}

static bool cmd_line_eq(const struct cmd_lines *a, size_t i, const struct cmd_lines *b, size_t j)
{
	return a->len[i] == b->len[j] && memcmp(a->v[i], b->v[j], a->len[i]) == 0;
}

/* One edit script entry: ' ' same, '-' only in a, '+' only in b. */
struct cmd_edit {
	char op;
	size_t a, b; /* line indices */
};

/*
 * A line diff: common prefix and suffix are trimmed, the middle is aligned
 * with a longest-common-subsequence table when it fits CMD_DIFF_MAX_CELLS,
 * else shown as one replacement.
 */
static size_t cmd_diff_edits(const struct cmd_lines *a, const struct cmd_lines *b,
                             struct cmd_edit **e_r)
{
	size_t pre = 0, suf = 0, n, m, k = 0;
	struct cmd_edit *e = xcalloc(a->n + b->n + 1, sizeof(*e));

	while (pre < a->n && pre < b->n && cmd_line_eq(a, pre, b, pre))
		pre++;
	while (suf < a->n - pre && suf < b->n - pre &&
	       cmd_line_eq(a, a->n - 1 - suf, b, b->n - 1 - suf))
		suf++;
	n = a->n - pre - suf;
	m = b->n - pre - suf;
	for (size_t i = 0; i < pre; i++)
		e[k++] = (struct cmd_edit){' ', i, i};
	if (n && m && (n + 1) * (m + 1) <= CMD_DIFF_MAX_CELLS) {
		uint32_t *T = xcalloc((n + 1) * (m + 1), sizeof(*T));
		size_t i = 0, j = 0;

#define CELL(x, y) T[(x) * (m + 1) + (y)]
		for (size_t x = n; x-- > 0;)
			for (size_t y = m; y-- > 0;)
				CELL(x, y) =
				    cmd_line_eq(a, pre + x, b, pre + y)
				        ? CELL(x + 1, y + 1) + 1
				        : (CELL(x + 1, y) >= CELL(x, y + 1) ? CELL(x + 1, y)
				                                            : CELL(x, y + 1));
		while (i < n || j < m) {
			if (i < n && j < m && cmd_line_eq(a, pre + i, b, pre + j)) {
				e[k++] = (struct cmd_edit){' ', pre + i, pre + j};
				i++;
				j++;
			} else if (i < n && (j == m || CELL(i + 1, j) >= CELL(i, j + 1))) {
				e[k++] = (struct cmd_edit){'-', pre + i, pre + j};
				i++;
			} else {
				e[k++] = (struct cmd_edit){'+', pre + i, pre + j};
				j++;
			}
		}
#undef CELL
		free(T);
	} else {
		for (size_t i = 0; i < n; i++)
			e[k++] = (struct cmd_edit){'-', pre + i, pre};
		for (size_t j = 0; j < m; j++)
			e[k++] = (struct cmd_edit){'+', pre + n, pre + j};
	}
	for (size_t i = 0; i < suf; i++)
		e[k++] = (struct cmd_edit){' ', a->n - suf + i, b->n - suf + i};
	*e_r = e;
	return k;
}

/* Print a unified diff; returns the number of changed lines. */
static size_t cmd_unified(FILE *out, const char *a_name, const char *a_text, const char *b_name,
                          const char *b_text)
{
	struct cmd_lines a, b;
	struct cmd_edit *e;
	size_t n, changes = 0;

	cmd_split(a_text, &a);
	cmd_split(b_text, &b);
	n = cmd_diff_edits(&a, &b, &e);
	for (size_t i = 0; i < n; i++)
		if (e[i].op != ' ')
			changes++;
	if (changes)
		fprintf(out, "--- %s\n+++ %s\n", a_name, b_name);
	for (size_t i = 0; i < n;) {
		size_t start, stop, an = 0, bn = 0, last;

		if (e[i].op == ' ') {
			i++;
			continue;
		}
		/* a hunk: context before, changes joined while the gaps are small */
		start = i > CMD_DIFF_CONTEXT ? i - CMD_DIFF_CONTEXT : 0;
		last = i;
		stop = i;
		while (stop < n) {
			if (e[stop].op != ' ')
				last = stop;
			else if (stop - last > 2 * CMD_DIFF_CONTEXT)
				break;
			stop++;
		}
		stop = last + CMD_DIFF_CONTEXT + 1 < n ? last + CMD_DIFF_CONTEXT + 1 : n;
		for (size_t k = start; k < stop; k++) {
			an += e[k].op != '+';
			bn += e[k].op != '-';
		}
		fprintf(out, "@@ -%zu,%zu +%zu,%zu @@\n", an ? e[start].a + 1 : e[start].a, an,
		        bn ? e[start].b + 1 : e[start].b, bn);
		for (size_t k = start; k < stop; k++) {
			const struct cmd_lines *l = e[k].op == '+' ? &b : &a;
			size_t idx = e[k].op == '+' ? e[k].b : e[k].a;
			fprintf(out, "%c%.*s\n", e[k].op, (int)l->len[idx], l->v[idx]);
		}
		i = stop;
	}
	free(e);
	free(a.v);
	free(a.len);
	free(b.v);
	free(b.len);
	return changes;
}

/* The recorded version whose digest the running table carries; 0 if none. */
static unsigned cmd_find_digest(struct state *st, const char *comment, struct state_version *v_r)
{
	struct state_version *v = NULL;
	size_t n = 0;
	struct strbuf err = STRBUF_INIT;
	unsigned found = 0, cur = state_current(st);

	memset(v_r, 0, sizeof(*v_r));
	if (!comment || state_list(st, &v, &n, &err) < 0) {
		strbuf_free(&err);
		return 0;
	}
	/* the current version first: it is the one expected to run */
	for (size_t i = n; i-- > 0 && !found;)
		if (v[i].num == cur && strcmp(v[i].digest, comment) == 0)
			found = v[i].num;
	for (size_t i = n; i-- > 0 && !found;)
		if (strcmp(v[i].digest, comment) == 0)
			found = v[i].num;
	for (size_t i = 0; i < n; i++)
		if (v[i].num == found) {
			*v_r = v[i];
			memset(&v[i], 0, sizeof(v[i]));
		}
	state_versions_free(v, n);
	strbuf_free(&err);
	return found;
}

/* Is the running table the recorded version?  Explains on stdout if not. */
static bool cmd_kernel_matches(const struct netlink_running *run, const struct state_version *v)
{
	if (!v->num)
		return false;
	if (run->nrules != v->nrules || run->nsets != v->nsets || run->nchains != v->nchains) {
		printf(
		    "note: the running table differs from version %06u as recorded: %zu rules, %zu "
		    "sets, %zu chains running, %zu, %zu, %zu recorded (modified outside "
		    "sekisho?)\n",
		    v->num, run->nrules, run->nsets, run->nchains, v->nrules, v->nsets, v->nchains);
		return false;
	}
	return true;
}

int cmd_diff(const struct cmd_opts *o, int argc, char **argv)
{
	const char *dir;
	struct state st;
	struct strbuf err = STRBUF_INIT, old = STRBUF_INIT, new = STRBUF_INIT, name = STRBUF_INIT;
	struct netlink_running run;
	struct state_version v;
	struct policy *p;
	struct nftgen_table *t;
	bool modified = false;
	int ret;

	if (getopt(argc, argv, "") != -1 || optind + 1 < argc) {
		fputs("usage: sekisho diff [DIR]\n", stderr);
		return 2;
	}
	dir = cmd_rules_arg(o, argc, argv);
	ret = apply_compile(dir, NULL, &p, &t);
	if (ret != APPLY_OK)
		return ret;
	nftprint_table(t, &new, true);
	if (state_open(&st, o->state_dir, &err) < 0 || netlink_read(&run, &err) < 0) {
		log_error("%s", err.s);
		ret = 2;
		goto out;
	}
	if (!run.exists) {
		printf("no table inet sekisho is running\n");
		strbuf_puts(&name, "running (none)");
	} else if (!cmd_find_digest(&st, run.comment, &v)) {
		printf("note: the running table carries %s%s%s, which no recorded version has "
		       "(modified outside sekisho?); comparing against nothing\n",
		       run.comment ? "\"" : "no digest", run.comment ? run.comment : "",
		       run.comment ? "\"" : "");
		strbuf_puts(&name, "running (unknown)");
	} else {
		modified = !cmd_kernel_matches(&run, &v);
		if (state_verify(&st, v.num, &err) < 0 ||
		    state_show_text(&st, v.num, &old, &err) < 0)
			log_warn("%s", err.s);
		strbuf_printf(&name, "running (version %06u, applied from %s)", v.num, v.source);
		state_version_free(&v);
	}
	if (cmd_unified(stdout, name.s, old.s ? old.s : "", dir, new.s) != 0) {
		ret = 1;
	} else if (modified || !run.exists) {
		printf(
		    "the recorded text is the same, but the kernel's table is not (see above)\n");
		ret = 1;
	} else {
		printf("no differences\n");
		ret = 0;
	}
	netlink_running_free(&run);
out:
	state_close(&st);
	nftgen_free(t);
	policy_free(p);
	strbuf_free(&err);
	strbuf_free(&old);
	strbuf_free(&new);
	strbuf_free(&name);
	return ret;
}

/* --- status -------------------------------------------------------------- */

int cmd_status(const struct cmd_opts *o, int argc, char **argv)
{
	struct state st;
	struct strbuf err = STRBUF_INIT;
	struct netlink_running run;
	struct state_version v;
	struct state_pending pend;
	char when[32];
	int ret = 0, ch;
	static const struct option longopts[] = {
	    {"relay-stats", required_argument, NULL, 'r'},
	    {"alerts", required_argument, NULL, 'a'},
	    {"prometheus", no_argument, NULL, 'p'},
	    {NULL, 0, NULL, 0},
	};
	const char *relay_stats = getenv("SEKISHO_RELAY_STATS");
	const char *alerts = getenv("SEKISHO_ALERTS");
	bool relay_explicit = relay_stats != NULL, alerts_explicit = alerts != NULL;
	bool prometheus = false;
	const char *prom_file = NULL;

	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'r':
			relay_stats = optarg, relay_explicit = true;
			break;
		case 'a':
			alerts = optarg, alerts_explicit = true;
			break;
		case 'p':
			prometheus = true;
			break;
		default:
			goto usage;
		}
	}
	if (prometheus && optind < argc)
		prom_file = argv[optind++];
	if (optind != argc) {
	usage:
		fputs("usage: sekisho status [--relay-stats FILE] [--alerts FILE]\n"
		      "       sekisho status --prometheus [FILE]\n",
		      stderr);
		return 2;
	}
	if (!relay_stats)
		relay_stats = STATUS_DEFAULT_RELAY_STATS;
	if (!alerts)
		alerts = STATUS_DEFAULT_ALERTS;
	if (state_open(&st, o->state_dir, &err) < 0 || netlink_read(&run, &err) < 0) {
		log_error("%s", err.s);
		strbuf_free(&err);
		state_close(&st);
		return 2;
	}
	if (prometheus) {
		struct strbuf text = STRBUF_INIT;
		bool found = run.exists && cmd_find_digest(&st, run.comment, &v);

		status_prometheus(&text, &run, found ? &v : NULL, time(NULL));
		if (found)
			state_version_free(&v);
		if (!prom_file) {
			fwrite(text.s ? text.s : "", 1, text.len, stdout);
		} else if (!status_write_atomic(prom_file, &text)) {
			log_error("%s: %s", prom_file, strerror(errno));
			ret = 2;
		}
		strbuf_free(&text);
		netlink_running_free(&run);
		state_close(&st);
		strbuf_free(&err);
		return ret;
	}
	if (!run.exists) {
		printf("running: none (no table inet sekisho)\n");
		ret = 1;
	} else if (!cmd_find_digest(&st, run.comment, &v)) {
		printf("running: an unrecorded table (digest %s; modified outside sekisho?)\n",
		       run.comment ? run.comment : "none");
		ret = 1;
	} else {
		cmd_time_str(v.applied, when, sizeof(when));
		printf("running: version %06u%s\n", v.num,
		       v.num == state_current(&st) ? "" : " (not the one recorded as current)");
		printf("digest:  %s\n", v.digest);
		printf("applied: %s from %s (%s)\n", when, v.source, v.reason);
		printf("kernel:  %zu chains, %zu sets, %zu rules\n", run.nchains, run.nsets,
		       run.nrules);
		if (!cmd_kernel_matches(&run, &v))
			ret = 1;
		state_version_free(&v);
	}
	if (state_pending_read(&st, &pend) == 1) {
		cmd_time_str(pend.deadline, when, sizeof(when));
		printf("pending: version %06u reverts to %s%06u at %s unless 'sekisho confirm'\n",
		       pend.applied, pend.prev ? "version " : "nothing ", pend.prev, when);
	}
	if (run.exists) {
		printf("\n%-28s %14s %14s %14s %14s\n", "segment pair", "allowed pkts", "bytes",
		       "denied pkts", "bytes");
		for (size_t i = 0; i < run.chains.n; i++) {
			const struct netlink_chain_stat *c = &run.chains.v[i];
			const char *to = strstr(c->name, "_to_");
			char pair[80];

			if (!to)
				continue;
			snprintf(pair, sizeof(pair), "%.*s -> %s", (int)(to - c->name), c->name,
			         to + 4);
			printf("%-28s %14llu %14llu %14llu %14llu\n", pair,
			       (unsigned long long)c->accept_packets,
			       (unsigned long long)c->accept_bytes,
			       (unsigned long long)c->drop_packets,
			       (unsigned long long)c->drop_bytes);
		}
		/* the other logged drops: ingress checks, the box, unknown interfaces */
		/* ingress: spoofed or unregistered sources */
		printf("\n%-28s %14s %14s\n", "other denials", "pkts", "bytes");
		for (size_t i = 0; i < run.chains.n; i++) {
			const struct netlink_chain_stat *c = &run.chains.v[i];
			char what[80];

			if (strncmp(c->name, "in_", 3) == 0)
				snprintf(what, sizeof(what), "ingress %s", c->name + 3);
			else if (strcmp(c->name, "input") == 0)
				snprintf(what, sizeof(what), "to the box");
			else if (strcmp(c->name, "forward") == 0)
				snprintf(what, sizeof(what), "unknown interfaces");
			else
				continue;
			printf("%-28s %14llu %14llu\n", what, (unsigned long long)c->drop_packets,
			       (unsigned long long)c->drop_bytes);
		}
	}
	fflush(stdout);
	status_relay_print(stdout, relay_stats, relay_explicit);
	status_alerts_print(stdout, alerts, alerts_explicit);
	netlink_running_free(&run);
	state_close(&st);
	strbuf_free(&err);
	return ret;
}

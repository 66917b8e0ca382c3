/*
 * sekisho-gatewayd - keeps the compiled rules applied.
 *
 *   sekisho-gatewayd [-f] [--rules DIR] [--state-dir DIR]
 *                    [-m [--log-group N] [--alerts FILE] [--evidence DIR]
 *                     [--monitor-state FILE] [--evidence-file-max BYTES]
 *                     [--evidence-total-max BYTES] [--evidence-age-max SECONDS]]
 *
 * At start it applies the rule files (the same transaction as `sekisho
 * apply`: check, one netlink batch, a recorded version, connections the
 * rules no longer permit cut).  SIGHUP re-applies them; when the new rules
 * fail the check or the kernel rejects the batch, the running ruleset stays
 * and the reason is logged.  SIGTERM or SIGINT end the daemon cleanly; the
 * ruleset stays in the kernel (stopping the daemon must not open the box).
 * Without -f it detaches and logs to syslog; with -f it stays in the
 * foreground and logs to stderr (systemd: Type=simple with -f).
 * DIR defaults to $SEKISHO_RULES or /etc/sekisho/rules, the state directory
 * to $SEKISHO_STATE_DIR or /var/lib/sekisho.
 * With -m (--monitor) it also runs the monitor (monitor.h, docs/monitor.md):
 * the nflog group read into alerts, pcap evidence and a reconcile against
 * the deny counters; SIGUSR1 reconciles now.  --no-monitor turns it off.
 *
 * TRUST: rule files through rulefile.c/policy.c; needs CAP_NET_ADMIN.
 * FAILURE: exit 2 on usage or when signals cannot be set up; a failed apply
 * is logged and the daemon keeps running.
 */
#include "apply.h"
#include "cmd.h"
#include "diag.h"
#include "monitor.h"
#include "log.h"
#include "state.h"
#include "xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void gatewayd_usage(FILE *f)
{
	fputs("usage: sekisho-gatewayd [-f] [--rules DIR] [--state-dir DIR]\n"
	      "         [-m|--monitor] [--no-monitor] [--log-group N] [--alerts FILE]\n"
	      "         [--evidence DIR] [--monitor-state FILE] [--evidence-file-max BYTES]\n"
	      "         [--evidence-total-max BYTES] [--evidence-age-max SECONDS]\n",
	      f);
}

static bool gatewayd_syslog;             /* detached: diagnostics go to the log too */
static struct monitor *gatewayd_monitor; /* NULL unless -m */

/* A path option made absolute (the daemon runs from /); malloc'd. */
static char *gatewayd_abs(const char *path)
{
	char cwd[4096];
	struct strbuf b = STRBUF_INIT;

	if (path[0] == '/' || !getcwd(cwd, sizeof(cwd)))
		return xstrdup(path);
	strbuf_printf(&b, "%s/%s", cwd, path);
	return strbuf_detach(&b);
}

/* A numeric option; exits 2 when it is not a positive number. */
static unsigned long long gatewayd_number(const char *opt, const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || v == 0 || s[0] == '-') {
		fprintf(stderr, "sekisho-gatewayd: %s: not a positive number: %s\n", opt, s);
		exit(2);
	}
	return v;
}

/* One apply; returns true when the rules now run. */
static bool gatewayd_apply_once(const char *rules, const char *state_dir, const char *why)
{
	struct state st;
	struct strbuf err = STRBUF_INIT;
	struct apply_opts o = {0};
	struct apply_result r;
	unsigned before;
	int ret;

	if (state_open(&st, state_dir, &err) < 0) {
		log_error("%s: %s", why, err.s);
		strbuf_free(&err);
		state_close(&st);
		return false;
	}
	before = state_current(&st);
	o.rules_dir = rules;
	o.reason = why;
	o.cut = true;
	ret = apply_run(&st, &o, &r);
	if (ret == APPLY_OK)
		monitor_rebase(gatewayd_monitor); /* the new table's counters start at zero */
	if (ret == APPLY_OK) {
		log_info("%s: version %06u %s from %s (digest %s, %zu rules) in %.1f ms", why,
		         r.version, r.unchanged ? "re-applied (unchanged)" : "applied", rules,
		         r.digest, r.nrules, r.ms);
		if (r.expired)
			log_warn("%zu expired exception%s not applied", r.expired,
			         r.expired == 1 ? "" : "s");
		if (r.cut_done && r.ct.cut)
			log_info("%zu tracked connection%s no longer permitted were cut", r.ct.cut,
			         r.ct.cut == 1 ? "" : "s");
	} else if (before) {
		log_error("%s: the rules in %s were not applied; version %06u keeps running", why,
		          rules, before);
	} else {
		log_error("%s: the rules in %s were not applied", why, rules);
	}
	state_close(&st);
	strbuf_free(&err);
	return ret == APPLY_OK;
}

/* One apply with fresh diagnostics; detached, they are logged line by line. */
static bool gatewayd_apply(const char *rules, const char *state_dir, const char *why)
{
	char *buf = NULL, *line, *save = NULL;
	size_t len = 0;
	FILE *out = NULL;
	bool ok;

	diag_reset(); /* each load reports its own diagnostics */
	if (gatewayd_syslog && (out = open_memstream(&buf, &len)) != NULL)
		diag_set_output(out);
	ok = gatewayd_apply_once(rules, state_dir, why);
	if (out) {
		fclose(out);
		diag_set_output(stderr);
		for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
			log_warn("%s", line);
		free(buf);
	}
	return ok;
}

static void gatewayd_detach(void)
{
	pid_t pid = fork();
	int fd;

	if (pid < 0)
		log_fatal_errno("fork");
	if (pid > 0)
		_exit(0);
	if (setsid() < 0)
		log_fatal_errno("setsid");
	pid = fork();
	if (pid < 0)
		log_fatal_errno("fork");
	if (pid > 0)
		_exit(0);
	if (chdir("/") < 0)
		log_fatal_errno("chdir /");
	fd = open("/dev/null", O_RDWR);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"rules", required_argument, NULL, 'r'},
	    {"state-dir", required_argument, NULL, 's'},
	    {"foreground", no_argument, NULL, 'f'},
	    {"monitor", no_argument, NULL, 'm'},
	    {"no-monitor", no_argument, NULL, 'M'},
	    {"log-group", required_argument, NULL, 'g'},
	    {"alerts", required_argument, NULL, 'A'},
	    {"evidence", required_argument, NULL, 'E'},
	    {"monitor-state", required_argument, NULL, 'S'},
	    {"evidence-file-max", required_argument, NULL, 1},
	    {"evidence-total-max", required_argument, NULL, 2},
	    {"evidence-age-max", required_argument, NULL, 3},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *rules =
	    getenv("SEKISHO_RULES") ? getenv("SEKISHO_RULES") : CMD_DEFAULT_RULES_DIR;
	const char *state_dir =
	    getenv("SEKISHO_STATE_DIR") ? getenv("SEKISHO_STATE_DIR") : CMD_DEFAULT_STATE_DIR;
	char rules_abs[4096], state_abs[4096];
	bool foreground = false, monitor = false;
	struct monitor_opts mo = {.group = MONITOR_DEFAULT_GROUP};
	char *alerts = xstrdup(MONITOR_DEFAULT_ALERTS), *evidence = xstrdup(EVIDENCE_DEFAULT_DIR);
	char *mstate = xstrdup(MONITOR_DEFAULT_STATE);
	time_t last_tick = 0;
	sigset_t mask;
	int c, sfd;
	bool group_given = false;

	log_init("sekisho-gatewayd");
	while ((c = getopt_long(argc, argv, "fr:s:hm", longopts, NULL)) != -1) {
		switch (c) {
		case 'f':
			foreground = true;
			break;
		case 'r':
			rules = optarg;
			break;
		case 's':
			state_dir = optarg;
			break;
		case 'm':
			monitor = true;
			break;
		case 'M':
			monitor = false;
			break;
		case 'g':
			group_given = true;
			mo.group = (unsigned)gatewayd_number("--log-group", optarg);
			if (mo.group > 65535) {
				gatewayd_usage(stderr);
				return 2;
			}
			break;
		case 'A':
			free(alerts);
			alerts = gatewayd_abs(optarg);
			break;
		case 'E':
			free(evidence);
			evidence = gatewayd_abs(optarg);
			break;
		case 'S':
			free(mstate);
			mstate = gatewayd_abs(optarg);
			break;
		case 1:
			mo.evidence.max_file_bytes = gatewayd_number("--evidence-file-max", optarg);
			break;
		case 2:
			mo.evidence.max_total_bytes =
			    gatewayd_number("--evidence-total-max", optarg);
			break;
		case 3:
			mo.evidence.max_age_s =
			    (unsigned)gatewayd_number("--evidence-age-max", optarg);
			break;
		case 'h':
			gatewayd_usage(stdout);
			return 0;
		default:
			gatewayd_usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		gatewayd_usage(stderr);
		return 2;
	}
	/* the daemon runs from /: keep the directories as given, made absolute */
	if (rules[0] != '/' && realpath(rules, rules_abs))
		rules = rules_abs;
	if (state_dir[0] != '/') {
		if (mkdir(state_dir, 0700) < 0 && errno != EEXIST)
			log_fatal_errno("state directory %s", state_dir);
		if (realpath(state_dir, state_abs))
			state_dir = state_abs;
	}

	sigemptyset(&mask);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		log_fatal_errno("sigprocmask");
	if (!foreground) {
		gatewayd_detach();
		log_use_syslog(true);
		gatewayd_syslog = true;
	}
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (sfd < 0)
		log_fatal_errno("signalfd");

	log_info("starting (rules %s, state %s, pid %ld)", rules, state_dir, (long)getpid());
	if (monitor) {
		/* before the apply: no denial between the apply and the monitor goes unseen */
		mo.alerts = alerts;
		mo.evidence.dir = evidence;
		mo.state_file = mstate;
		if (!group_given) {
			/* the group the rules log to (box { log-group N }); a change
			 * of it takes a restart */
			struct policy *p = rulefile_load_dir(rules);
			if (p && p->log_group)
				mo.group = p->log_group;
			policy_free(p);
			diag_reset();
		}
		gatewayd_monitor = monitor_open(&mo);
	}
	gatewayd_apply(rules, state_dir, "start");
	for (;;) {
		struct pollfd pfd[2] = {{sfd, POLLIN, 0}, {-1, POLLIN, 0}};
		struct signalfd_siginfo si;
		time_t now;

		if (gatewayd_monitor)
			pfd[1].fd = monitor_fd(gatewayd_monitor);
		if (poll(pfd, 2, gatewayd_monitor ? 1000 : -1) < 0) {
			if (errno == EINTR)
				continue;
			log_fatal_errno("poll");
		}
		if (gatewayd_monitor) {
			if (pfd[1].revents)
				monitor_read(gatewayd_monitor);
			now = time(NULL);
			if (now != last_tick) {
				monitor_tick(gatewayd_monitor, now);
				last_tick = now;
			}
		}
		if (!(pfd[0].revents & POLLIN))
			continue;
		if (read(sfd, &si, sizeof(si)) != (ssize_t)sizeof(si))
			continue;
		if (si.ssi_signo == SIGUSR1) {
			monitor_reconcile(gatewayd_monitor, "SIGUSR1");
		} else if (si.ssi_signo == SIGHUP) {
			log_info("SIGHUP: reloading %s", rules);
			gatewayd_apply(rules, state_dir, "reload");
		} else {
			log_info("%s: exiting; the ruleset stays applied",
			         si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
			break;
		}
	}
	monitor_close(gatewayd_monitor);
	free(alerts);
	free(evidence);
	free(mstate);
	close(sfd);
	diag_reset();
	return 0;
}

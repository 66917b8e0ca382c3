/*
 * sekisho-relayd - the sanitising SMTP relay (before-queue proxy) of the
 * sekisho box.  See docs/relay.md.
 *
 *   sekisho-relayd [-c FILE] [-n] [-d]
 *	-c FILE  configuration (default /etc/sekisho/relayd.conf; when the
 *	         default file is missing every key has its default)
 *	-n       check the configuration, print every error, exit 0 or 1;
 *	         touches nothing
 *	-d       debug: log to stderr (also when it is no terminal), with one
 *	         more line per connection, RCPT and TLS handshake
 *
 * SUMMARY
 *	As root: load and check the configuration, create the quarantine
 *	directory (0700, owned by the run user), load the server TLS
 *	certificate, open the audit log and its key (audit_log, audit_key),
 *	bind the listeners, start the sanitiser workers; then
 *	drop to the run user (setgroups, setgid, setuid, checked, and
 *	PR_SET_NO_NEW_PRIVS), load the mail flows, start the delivery threads
 *	and run the event loop (relay_loop.c) until SIGTERM or SIGINT.
 *
 * SECURITY
 *	No client byte is read before the privilege drop.  The key file's
 *	permissions are checked by relay_conf_check (refused when group- or
 *	world-readable).  Hostile content is parsed only in the workers.
 *
 * DIAGNOSTICS
 *	Start-up failures are fatal (exit 1 for configuration errors, 2 for
 *	system errors, via log_fatal); the exit status after a clean stop is 0.
 */
#include "audit.h"
#include "log.h"
#include "relay.h"
#include "xalloc.h"

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

static void relayd_usage(void)
{
	fprintf(stderr, "usage: sekisho-relayd [-c FILE] [-n] [-d]\n");
	exit(1);
}

/* Load (and with check, check) the configuration; prints errors and
 * warnings to stderr.  Returns false on any error. */
static bool relayd_config(struct relay_conf *c, const char *path, bool is_default, bool check)
{
	struct strbuf err;
	bool ok = true;
	struct stat st;

	strbuf_init(&err, 0);
	relay_conf_init(c);
	if (is_default && stat(path, &st) != 0 && errno == ENOENT) {
		/* no file: all defaults */
	} else if (!relay_conf_load(c, path, &err)) {
		ok = false;
	}
	if (ok && check && !relay_conf_check(c, path, &err))
		ok = false;
	if (err.len)
		fputs(err.s, stderr);
	strbuf_free(&err);
	return ok;
}

/* Create dir (and missing parents, 0755) and make the last component 0700
 * owned by uid:gid. */
static void relayd_quarantine_dir(const char *dir, uid_t uid, gid_t gid)
{
	char *p = xstrdup(dir);
	struct stat st;

	for (char *q = p + 1; *q; q++) {
		if (*q != '/')
			continue;
		*q = '\0';
		if (mkdir(p, 0755) != 0 && errno != EEXIST)
			log_fatal_errno("quarantine: mkdir %s", p);
		*q = '/';
	}
	if (mkdir(p, 0700) != 0 && errno != EEXIST)
		log_fatal_errno("quarantine: mkdir %s", p);
	if (lstat(p, &st) != 0 || !S_ISDIR(st.st_mode))
		log_fatal("quarantine: %s is not a directory", p);
	if ((st.st_uid != uid || st.st_gid != gid) && chown(p, uid, gid) != 0)
		log_fatal_errno("quarantine: chown %s", p);
	if ((st.st_mode & 07777) != 0700 && chmod(p, 0700) != 0)
		log_fatal_errno("quarantine: chmod %s", p);
	free(p);
}

/* The directory of a statistics file: created when missing (0755, owned by
 * uid:gid) so that the relay can write it after the drop; an existing one
 * is left as it is (docs/status.md). */
static void relayd_stats_dir(const char *file, uid_t uid, gid_t gid)
{
	char *p;
	char *slash;

	if (!file)
		return;
	p = xstrdup(file);
	slash = strrchr(p, '/');
	if (slash && slash != p) {
		*slash = '\0';
		if (mkdir(p, 0755) == 0) {
			if (chown(p, uid, gid) != 0)
				log_warn_errno("statistics: chown %s", p);
		} else if (errno != EEXIST) {
			log_warn_errno("statistics: mkdir %s", p);
		}
	}
	free(p);
}

static SSL_CTX *relayd_tls(const struct relay_conf *c)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	char buf[256];

	if (!ctx)
		log_fatal("TLS: SSL_CTX_new failed");
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	if (SSL_CTX_use_certificate_chain_file(ctx, c->tls_cert_file) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, c->tls_key_file, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		ERR_error_string_n(ERR_get_error(), buf, sizeof(buf));
		log_fatal("TLS: certificate %s / key %s: %s", c->tls_cert_file, c->tls_key_file,
		          buf);
	}
	return ctx;
}

/* The run user; "sekisho" missing falls back to "nobody" with a warning. */
static void relayd_user(struct relay *r)
{
	const char *name = r->conf.user;
	struct passwd *pw;

	if (geteuid() != 0) {
		r->uid = getuid();
		r->gid = getgid();
		log_warn("not started as root: running as uid %u, no privilege drop",
		         (unsigned)r->uid);
		return;
	}
	pw = getpwnam(name);
	if (!pw && strcmp(name, "sekisho") == 0) {
		log_warn("user sekisho does not exist; running as nobody");
		pw = getpwnam("nobody");
	}
	if (!pw)
		log_fatal("user %s does not exist", name);
	if (pw->pw_uid == 0)
		log_fatal("user %s is root: refusing to run the relay as root", name);
	r->uid = pw->pw_uid;
	r->gid = pw->pw_gid;
}

static void relayd_drop(const struct relay *r)
{
	if (geteuid() != 0)
		return;
	if (setgroups(1, &r->gid) != 0)
		log_fatal_errno("setgroups");
	if (setgid(r->gid) != 0)
		log_fatal_errno("setgid");
	if (setuid(r->uid) != 0)
		log_fatal_errno("setuid");
	if (getuid() != r->uid || geteuid() != r->uid || getgid() != r->gid ||
	    getegid() != r->gid || setuid(0) == 0)
		log_fatal("privilege drop did not take");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		log_fatal_errno("PR_SET_NO_NEW_PRIVS");
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--worker") == 0)
		return sworker_main_args(argc, argv);

	static struct relay r;
	const char *path = RELAY_CONF_DEFAULT_PATH;
	bool is_default = true, check_only = false;
	int ch;

	log_init("sekisho-relayd");
	while ((ch = getopt(argc, argv, "c:nd")) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			is_default = false;
			break;
		case 'n':
			check_only = true;
			break;
		case 'd':
			r.debug = true;
			break;
		default:
			relayd_usage();
		}
	}
	if (optind != argc)
		relayd_usage();

	if (check_only) {
		bool ok = relayd_config(&r.conf, path, is_default, true);
		fprintf(stderr, "sekisho-relayd: %s: %s\n", path,
		        ok ? "configuration ok" : "configuration has errors");
		relay_conf_free(&r.conf);
		return ok ? 0 : 1;
	}
	if (!relayd_config(&r.conf, path, is_default, true))
		return 1;
	r.conf_path = path;
	if (!r.debug && !isatty(STDERR_FILENO))
		log_use_syslog(true);
	signal(SIGPIPE, SIG_IGN);

	/* as root */
	relayd_user(&r);
	relayd_quarantine_dir(r.conf.quarantine_dir, r.uid, r.gid);
	relayd_stats_dir(r.conf.stats_file, r.uid, r.gid);
	relayd_stats_dir(r.conf.metrics_file, r.uid, r.gid);
	if (r.conf.audit_log) {
		/* key and log opened now, as root; the fd and key are kept */
		struct strbuf aerr = STRBUF_INIT;
		r.audit = audit_open(r.conf.audit_log, r.conf.audit_key, &aerr);
		if (!r.audit)
			log_fatal("audit log: %s", aerr.s ? aerr.s : "cannot open");
		strbuf_free(&aerr);
	}
	if (r.conf.tls_cert_file && r.conf.tls_key_file)
		r.tls_ctx = relayd_tls(&r.conf);
	if (!relay_loop_listen(&r))
		return 2;

	char exe[PATH_MAX];
	if (!realpath("/proc/self/exe", exe))
		log_fatal_errno("realpath /proc/self/exe");
	struct sworker_conf wc = {
	    .exe = exe,
	    .nworkers = r.conf.workers ? r.conf.workers : 1,
	    .timeout_s = r.conf.worker_timeout_s,
	    .scan_db = r.conf.scan_db,
	    .policy_file = r.conf.sanitize_policy,
	    .tmpdir = r.conf.worker_tmpdir,
	    .uid = r.uid,
	    .gid = r.gid,
	};
	struct strbuf err;
	strbuf_init(&err, 0);
	r.pool = sworker_pool_start(&wc, &err);
	if (!r.pool)
		log_fatal("sanitiser workers: %s", err.s ? err.s : "failed to start");
	strbuf_free(&err);

	relayd_drop(&r);

	/* Signals arrive through the loop's signalfd; every thread started
	 * from here on inherits the blocked mask. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL) != 0)
		log_fatal_errno("sigprocmask");
	r.sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	r.evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	r.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (r.sigfd < 0 || r.evfd < 0 || r.epfd < 0)
		log_fatal_errno("signalfd/eventfd/epoll");

	relay_loop_load_flows(&r);
	unsigned nthreads = relay_deliver_threads(&r.conf);
	if (!relay_deliver_start(&r, nthreads))
		return 2;
	log_info("started: user %u, %u workers, %u delivery threads, STARTTLS %s, hostname %s",
	         (unsigned)r.uid, wc.nworkers, nthreads, r.tls_ctx ? "offered" : "not offered",
	         r.conf.hostname);

	int status = relay_loop_run(&r);
	if (r.njobs == 0) {
		sworker_pool_stop(r.pool);
		log_info("stopped");
	} else {
		/* delivery threads still use the pool: leave without stopping it
		 * (the workers see their socket close and exit) */
		log_info("stopped with %u jobs abandoned", r.njobs);
		_exit(status);
	}
	if (r.flows_loaded)
		mailflows_free(&r.flows);
	if (r.tls_ctx)
		SSL_CTX_free(r.tls_ctx);
	relay_conf_free(&r.conf);
	return status;
}

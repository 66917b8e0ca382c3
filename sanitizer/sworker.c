/*
 * sworker - the sanitiser's worker processes (the pool in the relay, and
 * the worker's own side).
 *
 * SUMMARY: sworker_pool_start spawns conf->nworkers copies of conf->exe
 * with posix_spawn ("--worker FD ...", see sworker.h), each with its end
 * of a SOCK_SEQPACKET socketpair, and waits for every worker's READY
 * packet (sent once the policy and the ClamAV database are loaded and the
 * sandbox is up).  sworker_sanitize takes an idle worker (mutex + condvar),
 * sends a REQUEST packet (envelope inline) with a read-only descriptor of
 * the raw message (SCM_RIGHTS), and polls for the REPLY: a header (status,
 * lengths, error text) and, for OK / WITHHELD, a sealed memfd holding the
 * sanitised message followed by the verdict.  A worker that passes its
 * time limit, dies or answers anything malformed is SIGKILLed, reaped by
 * pid and replaced at once (the replacement loads its database while the
 * caller gets SANITIZE_ERROR); the next caller that picks it waits for
 * its READY.  Nothing here installs a signal handler: workers are reaped
 * with waitpid(pid), so the caller's SIGCHLD handling is left alone (a
 * SIGCHLD set to SIG_IGN is fine too: ECHILD counts as reaped).
 *
 * WORKER: sworker_main closes every other descriptor, sets TMPDIR, loads
 * the policy and scan_open(), warms up the charset converters and runs one
 * tiny message through the engine, then locks itself down: a network
 * namespace of its own (unshare(CLONE_NEWNET) as root, else
 * CLONE_NEWUSER|CLONE_NEWNET, else none: reported in READY and logged once
 * by the pool), setgroups/setgid/setuid to conf->uid/gid when root,
 * PR_SET_NO_NEW_PRIVS, no core dumps, and a seccomp filter.  Then it
 * serves one request at a time until the socket closes.
 *
 * SECCOMP: default allow with a deny list (EPERM): new sockets and
 * networking (socket, socketpair, connect, bind, listen, accept, accept4,
 * sendto, sendmmsg), new programs and processes (execve, execveat, fork,
 * vfork, clone without CLONE_THREAD; clone3 gives ENOSYS so glibc falls
 * back to clone), other processes' memory and descriptors (ptrace,
 * process_vm_readv/writev, pidfd_getfd, kcmp), identity (the set*id
 * family), the kernel's attack surface a mail parser never needs (mount
 * and the new mount API, umount2, chroot, pivot_root, unshare, setns,
 * keyctl, add_key, request_key, bpf, perf_event_open, userfaultfd,
 * io_uring_*, open_by_handle_at, name_to_handle_at, module loading,
 * kexec, reboot, swapon/off, acct, quotactl, syslog).  An allow list
 * would be tighter but GMime, glib, libclamav and the sanitizers' runtime
 * use a moving set of syscalls (mmap flavours, futex, getrandom, rseq,
 * membarrier, statx, ...): an allow list that misses one kills a worker
 * on a rare mail, which is an outage; what a deny list leaves open (files
 * the uid may read, memory) is not a way out to the network.  Syscalls of
 * another architecture (int 0x80, x32) kill the process.
 *
 * SECURITY: once a worker has read one hostile byte it is untrusted.  The
 * pool checks every packet (exact size, magic, version, kind, sequence
 * number, status, lengths against the limits in sworker.h), accepts only
 * a memfd sealed against writes and resizing whose size is exactly the
 * announced lengths, rejects a message with NUL bytes and a verdict that
 * is not one line of valid JSON (UTF-8 checked), and cleans the error
 * text to printable ASCII.  The raw message goes to the worker through a
 * read-only descriptor (reopened from /proc/self/fd), so a worker cannot
 * change the original the relay quarantines.  Descriptors received beyond
 * the one expected are closed.
 *
 * TEST HOOK: SEKISHO_TEST_WORKER_FAULT (see sworker.h and
 * docs/relay-workers.md): crash, hang, garbage, socket.
 *
 * DIAGNOSTICS: sworker_sanitize gives the reason of a SANITIZE_ERROR in
 * res->error ("sanitiser worker 123 ...: ..."); pool_start logs each
 * worker that failed to start and, once, a missing network namespace.
 */
#include "charset.h"
#include "log.h"
#include "sworker.h"
#include "utf8.h"
#include "xalloc.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <iconv.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <spawn.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define SWORKER_MAGIC 0x534b5752u /* "SKWR" */
#define SWORKER_VERSION 1
#define SWORKER_STOP_GRACE_MS 2000
#define SWORKER_ALARM_SLACK_S 30 /* the worker's own alarm, past the pool's limit */
#define SWORKER_JSON_MAX_DEPTH 64
#define SWORKER_MAX_FDS 4 /* descriptors a packet may carry before MSG_CTRUNC */

enum sworker_kind {
	SWORKER_READY = 1,
	SWORKER_REQUEST = 2,
	SWORKER_REPLY = 3,
};

/* request flags */
#define SWORKER_F_FROM 1u /* an envelope sender is present (else NULL) */
/* ready flags */
#define SWORKER_F_NETNS 1u  /* a network namespace of its own */
#define SWORKER_F_USERNS 2u /* ... inside a new user namespace */
#define SWORKER_F_UID_DROPPED 4u

/* One header for every packet; the text follows it in the same packet. */
struct sworker_wire {
	uint32_t magic;
	uint16_t version;
	uint16_t kind;
	uint64_t seq;
	uint64_t len;         /* request: raw bytes; reply: message bytes in the memfd */
	uint64_t verdict_len; /* reply: verdict bytes after the message */
	uint32_t status;      /* reply, ready: enum sanitize_status */
	uint32_t flags;
	uint32_t nrcpts;     /* request */
	uint32_t text_len;   /* envelope (request) or error text (reply, ready) */
	uint32_t signatures; /* ready */
	uint32_t pad;
};
_Static_assert(sizeof(struct sworker_wire) == 56, "wire header has no padding");

#define SWORKER_MAX_PACKET (sizeof(struct sworker_wire) + SWORKER_MAX_ENVELOPE_BYTES)

/* ======================================================================
 * The pool (parent side)
 * ====================================================================== */

struct sworker_slot {
	pid_t pid;  /* 0: no process */
	int sock;   /* -1: none */
	bool ready; /* READY received */
	bool busy;  /* owned by a caller (no lock needed for its I/O) */
	bool quits; /* said it cannot start: it exits by itself */
};

struct sworker_pool {
	struct sworker_conf conf; /* strings owned */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct sworker_slot *slot;
	unsigned n;
	uint64_t seq;
	char **env; /* environ at pool start: replacements start like the first */
	bool stopping;
	bool isolation_logged;
};

static int64_t sworker_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait for input on fd until deadline_ms; 1 ready (or hangup), 0 timeout,
 * -1 error. */
static int sworker_wait(int fd, int64_t deadline_ms)
{
	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		int64_t left = deadline_ms - sworker_now_ms();
		int r;

		if (left < 0)
			left = 0;
		r = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (r > 0)
			return 1;
		if (r == 0) {
			if (sworker_now_ms() >= deadline_ms)
				return 0;
			continue;
		}
		if (errno != EINTR)
			return -1;
	}
}

static void sworker_describe_status(struct strbuf *b, int st)
{
	if (WIFEXITED(st)) {
		strbuf_printf(b, "exited with status %d", WEXITSTATUS(st));
	} else if (WIFSIGNALED(st)) {
		const char *abbrev = sigabbrev_np(WTERMSIG(st));

		strbuf_printf(b, "was killed by signal %d (SIG%s)", WTERMSIG(st),
		              abbrev ? abbrev : "?");
	} else {
		strbuf_printf(b, "ended (status 0x%x)", (unsigned)st);
	}
}

/* SIGKILL (unless graceful) and reap s's process; describe how it ended
 * into why (may be NULL).  Closes the socket.  s->pid is 0 after. */
static void sworker_reap(struct sworker_slot *s, bool graceful, struct strbuf *why)
{
	int st = 0;
	pid_t r = 0;

	if (s->sock >= 0) {
		close(s->sock);
		s->sock = -1;
	}
	if (s->pid <= 0)
		return;
	if (graceful || s->quits) {
		int64_t deadline = sworker_now_ms() + SWORKER_STOP_GRACE_MS;

		for (;;) {
			struct timespec ts = {0, 10 * 1000 * 1000};

			r = waitpid(s->pid, &st, WNOHANG);
			if (r < 0 && errno == EINTR)
				r = 0;
			else if (r != 0 || sworker_now_ms() >= deadline)
				break;
			nanosleep(&ts, NULL);
		}
	}
	if (r == 0) {
		kill(s->pid, SIGKILL);
		do
			r = waitpid(s->pid, &st, 0);
		while (r < 0 && errno == EINTR);
	}
	if (why) {
		if (r == s->pid)
			sworker_describe_status(why, st);
		else
			strbuf_puts(why, "is gone (not reaped here)");
	}
	__atomic_store_n(&s->pid, 0, __ATOMIC_RELAXED); /* sworker_pool_pids reads it */
	s->ready = false;
	s->quits = false;
}

/* Start a process for slot s (not ready until its READY arrives). */
static bool sworker_spawn(struct sworker_pool *p, struct sworker_slot *s, struct strbuf *err)
{
	const struct sworker_conf *c = &p->conf;
	char fdarg[16], tmo[16], uid[16], gid[16];
	char *argv[20];
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, all;
	int sv[2], target, e, i = 0;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		strbuf_printf(err, "socketpair: %s", strerror(errno));
		return false;
	}
	/* dup2 onto another number clears close-on-exec for the child only, so
	 * a worker spawned by another thread meanwhile never gets this end */
	target = sv[1] == 3 ? 4 : 3;
	snprintf(fdarg, sizeof(fdarg), "%d", target);
	snprintf(tmo, sizeof(tmo), "%u", c->timeout_s);
	snprintf(uid, sizeof(uid), "%u", (unsigned)c->uid);
	snprintf(gid, sizeof(gid), "%u", (unsigned)c->gid);
	argv[i++] = (char *)c->exe;
	argv[i++] = (char *)"--worker";
	argv[i++] = fdarg;
	argv[i++] = (char *)"--worker-timeout";
	argv[i++] = tmo;
	argv[i++] = (char *)"--scan-db";
	argv[i++] = (char *)c->scan_db;
	if (c->policy_file) {
		argv[i++] = (char *)"--policy";
		argv[i++] = (char *)c->policy_file;
	}
	argv[i++] = (char *)"--tmpdir";
	argv[i++] = (char *)c->tmpdir;
	argv[i++] = (char *)"--uid";
	argv[i++] = uid;
	argv[i++] = (char *)"--gid";
	argv[i++] = gid;
	argv[i] = NULL;

	posix_spawn_file_actions_init(&fa);
	/* stdin and stdout are /dev/null; stderr stays for the worker's log */
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, sv[1], target);
	posix_spawnattr_init(&at);
	sigemptyset(&none);
	sigfillset(&all);
	sigdelset(&all, SIGKILL);
	sigdelset(&all, SIGSTOP);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &all);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	e = posix_spawn(&pid, c->exe, &fa, &at, argv, p->env);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	close(sv[1]);
	if (e != 0) {
		close(sv[0]);
		strbuf_printf(err, "cannot start %s: %s", c->exe, strerror(e));
		return false;
	}
	__atomic_store_n(&s->pid, pid, __ATOMIC_RELAXED);
	s->sock = sv[0];
	s->ready = false;
	return true;
}

/* Receive one packet of at most max bytes and at most one descriptor.
 * Returns the size, 0 on EOF, -1 on error or a malformed packet (reason in
 * why); *fd_r gets the descriptor or -1 (extra ones are closed). */
static ssize_t sworker_recv(int sock, void *buf, size_t max, int *fd_r, struct strbuf *why)
{
	union {
		char buf[CMSG_SPACE(SWORKER_MAX_FDS * sizeof(int))];
		struct cmsghdr align;
	} cbuf;
	struct iovec iov = {.iov_base = buf, .iov_len = max};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
	struct cmsghdr *c;
	ssize_t n;
	int nfds = 0;

	*fd_r = -1;
	m.msg_control = cbuf.buf;
	m.msg_controllen = sizeof(cbuf.buf);
	do
		n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		strbuf_printf(why, "recvmsg: %s", strerror(errno));
		return -1;
	}
	for (c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
		size_t k, cnt;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
		    c->cmsg_len < CMSG_LEN(0))
			continue;
		cnt = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (k = 0; k < cnt; k++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + k * sizeof(int), sizeof(int));
			if (nfds++ == 0)
				*fd_r = fd;
			else
				close(fd);
		}
	}
	if (nfds > 1 || (m.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
		if (*fd_r >= 0)
			close(*fd_r);
		*fd_r = -1;
		strbuf_puts(why,
		            nfds > 1 ? "sent more than one descriptor" : "sent an overlong packet");
		return -1;
	}
	return n;
}

/* Wait (until deadline) for slot s's READY; false with the reason. */
static bool sworker_await_ready(struct sworker_pool *p, struct sworker_slot *s, int64_t deadline,
                                struct strbuf *why)
{
	char buf[sizeof(struct sworker_wire) + SWORKER_MAX_ERROR_BYTES + 1];
	struct sworker_wire w;
	ssize_t n;
	int fd, r;

	r = sworker_wait(s->sock, deadline);
	if (r == 0) {
		strbuf_printf(why, "did not get ready within %u s", SWORKER_START_TIMEOUT_S);
		return false;
	}
	if (r < 0) {
		strbuf_printf(why, "poll: %s", strerror(errno));
		return false;
	}
	n = sworker_recv(s->sock, buf, sizeof(buf), &fd, why);
	if (fd >= 0) {
		close(fd);
		strbuf_puts(why, "sent a descriptor with its ready message");
		return false;
	}
	if (n <= 0) {
		if (n == 0)
			strbuf_puts(why, "closed its socket while starting");
		return false;
	}
	if ((size_t)n < sizeof(w)) {
		strbuf_puts(why, "sent a short ready message");
		return false;
	}
	memcpy(&w, buf, sizeof(w));
	if (w.magic != SWORKER_MAGIC || w.version != SWORKER_VERSION || w.kind != SWORKER_READY ||
	    w.text_len != (size_t)n - sizeof(w) || w.text_len > SWORKER_MAX_ERROR_BYTES) {
		strbuf_puts(why, "sent a malformed ready message");
		return false;
	}
	if (w.status != SANITIZE_OK) {
		size_t k;

		s->quits = true;
		strbuf_puts(why, "could not start: ");
		for (k = 0; k < w.text_len; k++) {
			unsigned char ch = (unsigned char)buf[sizeof(w) + k];

			strbuf_putc(why, ch >= 0x20 && ch < 0x7f ? (char)ch : '?');
		}
		return false;
	}
	s->ready = true;
	pthread_mutex_lock(&p->lock);
	if (!(w.flags & SWORKER_F_NETNS) && !p->isolation_logged) {
		p->isolation_logged = true;
		log_warn("sanitiser workers have no network namespace of their own (%.*s); "
		         "the seccomp filter still forbids sockets",
		         (int)w.text_len, buf + sizeof(w));
	}
	pthread_mutex_unlock(&p->lock);
	return true;
}

static char *sworker_dup(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

struct sworker_pool *sworker_pool_start(const struct sworker_conf *conf, struct strbuf *err)
{
	struct sworker_pool *p;
	int64_t deadline;
	unsigned i, ok = 0;

	if (!conf->exe || !conf->scan_db || !conf->tmpdir || conf->nworkers == 0 ||
	    conf->timeout_s == 0) {
		strbuf_puts(err, "sanitiser workers: exe, scan_db, tmpdir, nworkers and timeout "
		                 "must be set");
		return NULL;
	}
	p = xcalloc(1, sizeof(*p));
	p->conf = *conf;
	p->conf.exe = sworker_dup(conf->exe);
	p->conf.scan_db = sworker_dup(conf->scan_db);
	p->conf.policy_file = sworker_dup(conf->policy_file);
	p->conf.tmpdir = sworker_dup(conf->tmpdir);
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	for (i = 0; environ && environ[i]; i++)
		;
	p->env = xcalloc(i + 1, sizeof(*p->env));
	for (i = 0; environ && environ[i]; i++)
		p->env[i] = xstrdup(environ[i]);
	p->n = conf->nworkers;
	p->slot = xcalloc(p->n, sizeof(*p->slot));
	for (i = 0; i < p->n; i++)
		p->slot[i].sock = -1;

	for (i = 0; i < p->n; i++) {
		struct strbuf why = STRBUF_INIT;

		if (!sworker_spawn(p, &p->slot[i], &why)) {
			log_error("sanitiser worker %u: %s", i, why.s);
			if (err->len == 0)
				strbuf_printf(err, "sanitiser worker: %s", why.s);
		}
		strbuf_free(&why);
	}
	/* the workers load their databases in parallel: one deadline */
	deadline = sworker_now_ms() + (int64_t)SWORKER_START_TIMEOUT_S * 1000;
	for (i = 0; i < p->n; i++) {
		struct sworker_slot *s = &p->slot[i];
		struct strbuf why = STRBUF_INIT;

		if (s->pid == 0)
			continue;
		if (sworker_await_ready(p, s, deadline, &why)) {
			ok++;
		} else {
			pid_t pid = s->pid;

			strbuf_puts(&why, "; the process ");
			sworker_reap(s, false, &why);
			log_error("sanitiser worker %d %s", (int)pid, why.s);
			if (err->len == 0)
				strbuf_printf(err, "sanitiser worker %d %s", (int)pid, why.s);
		}
		strbuf_free(&why);
	}
	if (ok == 0) {
		sworker_pool_stop(p);
		return NULL;
	}
	strbuf_reset(err);
	return p;
}

unsigned sworker_pool_pids(struct sworker_pool *p, pid_t *pids_r, unsigned max)
{
	unsigned i;

	pthread_mutex_lock(&p->lock);
	for (i = 0; i < p->n && i < max; i++)
		pids_r[i] = __atomic_load_n(&p->slot[i].pid, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&p->lock);
	return i;
}

/* Take a slot (ready ones first, then starting, then empty); -1 when the
 * pool is stopping. */
static int sworker_acquire(struct sworker_pool *p)
{
	int pick = -1;

	pthread_mutex_lock(&p->lock);
	while (!p->stopping) {
		unsigned i;
		int best = -1, rank = 0;

		for (i = 0; i < p->n; i++) {
			const struct sworker_slot *s = &p->slot[i];
			int r = s->busy ? 0 : s->ready ? 3 : s->pid ? 2 : 1;

			if (r > rank) {
				rank = r;
				best = (int)i;
			}
		}
		if (best >= 0) {
			p->slot[best].busy = true;
			pick = best;
			break;
		}
		pthread_cond_wait(&p->cond, &p->lock);
	}
	pthread_mutex_unlock(&p->lock);
	return pick;
}

static void sworker_release(struct sworker_pool *p, int i)
{
	pthread_mutex_lock(&p->lock);
	p->slot[i].busy = false;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

/* Kill and reap slot s, start its replacement; the reason goes to err. */
static void sworker_replace(struct sworker_pool *p, struct sworker_slot *s, struct strbuf *err)
{
	struct strbuf why = STRBUF_INIT;

	strbuf_puts(err, "; the process ");
	sworker_reap(s, false, err);
	if (!sworker_spawn(p, s, &why))
		log_error("sanitiser worker: no replacement: %s", why.s);
	strbuf_free(&why);
}

/* ---- checking what a worker sends -------------------------------------- */

/* One UTF-8 sequence at s[*i] (well-formed per RFC 3629). */
static bool sworker_utf8_seq(const unsigned char *s, size_t n, size_t *i)
{
	uint32_t cp;
	size_t len = utf8_decode(s + *i, n - *i, &cp);

	*i += len;
	return len != 0;
}

struct sworker_json {
	const unsigned char *s;
	size_t n, i;
};

static void sworker_json_ws(struct sworker_json *j)
{
	while (j->i < j->n && j->s[j->i] == ' ')
		j->i++;
}

static bool sworker_json_string(struct sworker_json *j)
{
	if (j->i >= j->n || j->s[j->i] != '"')
		return false;
	j->i++;
	while (j->i < j->n) {
		unsigned char c = j->s[j->i];

		if (c == '"') {
			j->i++;
			return true;
		}
		if (c < 0x20)
			return false;
		if (c == '\\') {
			if (++j->i >= j->n)
				return false;
			c = j->s[j->i];
			if (c == 'u') {
				size_t k;

				for (k = 1; k <= 4; k++)
					if (j->i + k >= j->n || !isxdigit(j->s[j->i + k]))
						return false;
				j->i += 5;
			} else if (c && strchr("\"\\/bfnrt", c)) {
				j->i++;
			} else {
				return false;
			}
			continue;
		}
		if (!sworker_utf8_seq(j->s, j->n, &j->i))
			return false;
	}
	return false;
}

static bool sworker_json_value(struct sworker_json *j, unsigned depth);

static bool sworker_json_number(struct sworker_json *j)
{
	size_t start = j->i;

	if (j->i < j->n && j->s[j->i] == '-')
		j->i++;
	if (j->i >= j->n || j->s[j->i] < '0' || j->s[j->i] > '9')
		return false;
	if (j->s[j->i] == '0')
		j->i++;
	else
		while (j->i < j->n && j->s[j->i] >= '0' && j->s[j->i] <= '9')
			j->i++;
	if (j->i < j->n && j->s[j->i] == '.') {
		j->i++;
		if (j->i >= j->n || j->s[j->i] < '0' || j->s[j->i] > '9')
			return false;
		while (j->i < j->n && j->s[j->i] >= '0' && j->s[j->i] <= '9')
			j->i++;
	}
	if (j->i < j->n && (j->s[j->i] == 'e' || j->s[j->i] == 'E')) {
		j->i++;
		if (j->i < j->n && (j->s[j->i] == '+' || j->s[j->i] == '-'))
			j->i++;
		if (j->i >= j->n || j->s[j->i] < '0' || j->s[j->i] > '9')
			return false;
		while (j->i < j->n && j->s[j->i] >= '0' && j->s[j->i] <= '9')
			j->i++;
	}
	return j->i > start;
}

static bool sworker_json_word(struct sworker_json *j, const char *w)
{
	size_t l = strlen(w);

	if (j->n - j->i < l || memcmp(j->s + j->i, w, l) != 0)
		return false;
	j->i += l;
	return true;
}

/* A container: '{' members '}' or '[' values ']'. */
static bool sworker_json_container(struct sworker_json *j, unsigned depth, bool object)
{
	char close = object ? '}' : ']';

	j->i++;
	sworker_json_ws(j);
	if (j->i < j->n && j->s[j->i] == close) {
		j->i++;
		return true;
	}
	for (;;) {
		if (object) {
			if (!sworker_json_string(j))
				return false;
			sworker_json_ws(j);
			if (j->i >= j->n || j->s[j->i] != ':')
				return false;
			j->i++;
		}
		if (!sworker_json_value(j, depth + 1))
			return false;
		sworker_json_ws(j);
		if (j->i >= j->n)
			return false;
		if (j->s[j->i] == close) {
			j->i++;
			return true;
		}
		if (j->s[j->i] != ',')
			return false;
		j->i++;
		sworker_json_ws(j);
	}
}

static bool sworker_json_value(struct sworker_json *j, unsigned depth)
{
	if (depth > SWORKER_JSON_MAX_DEPTH)
		return false;
	sworker_json_ws(j);
	if (j->i >= j->n)
		return false;
	switch (j->s[j->i]) {
	case '{':
		return sworker_json_container(j, depth, true);
	case '[':
		return sworker_json_container(j, depth, false);
	case '"':
		return sworker_json_string(j);
	case 't':
		return sworker_json_word(j, "true");
	case 'f':
		return sworker_json_word(j, "false");
	case 'n':
		return sworker_json_word(j, "null");
	default:
		return sworker_json_number(j);
	}
}

/* One line of JSON holding one object (spaces only between tokens). */
static bool sworker_json_object_ok(const char *s, size_t n)
{
	struct sworker_json j = {(const unsigned char *)s, n, 0};

	if (n == 0 || s[0] != '{' || !sworker_json_value(&j, 0))
		return false;
	sworker_json_ws(&j);
	return j.i == n;
}

/* Read and check a REPLY on slot s; false with the reason in why. */
static bool sworker_read_reply(struct sworker_slot *s, uint64_t seq, struct sworker_result *res,
                               struct strbuf *why)
{
	char buf[sizeof(struct sworker_wire) + SWORKER_MAX_ERROR_BYTES + 1];
	struct sworker_wire w;
	struct stat st;
	ssize_t n;
	uint64_t total;
	int fd = -1, seals;
	bool ok = false;
	void *map = MAP_FAILED;

	n = sworker_recv(s->sock, buf, sizeof(buf), &fd, why);
	if (n <= 0) {
		if (n == 0)
			strbuf_puts(why, "closed its socket (crashed?)");
		goto out;
	}
	if ((size_t)n < sizeof(w)) {
		strbuf_puts(why, "sent a short answer");
		goto out;
	}
	memcpy(&w, buf, sizeof(w));
	if (w.magic != SWORKER_MAGIC || w.version != SWORKER_VERSION || w.kind != SWORKER_REPLY ||
	    w.seq != seq || w.text_len != (size_t)n - sizeof(w) ||
	    w.text_len > SWORKER_MAX_ERROR_BYTES) {
		strbuf_puts(why, "sent a malformed answer header");
		goto out;
	}
	if (w.status == SANITIZE_ERROR) {
		size_t k;

		if (fd >= 0 || w.len || w.verdict_len || w.text_len == 0) {
			strbuf_puts(why, "sent an error answer with content");
			goto out;
		}
		res->status = SANITIZE_ERROR;
		for (k = 0; k < w.text_len; k++) {
			unsigned char ch = (unsigned char)buf[sizeof(w) + k];

			strbuf_putc(&res->error, ch >= 0x20 && ch < 0x7f ? (char)ch : '?');
		}
		ok = true;
		goto out;
	}
	if (w.status != SANITIZE_OK && w.status != SANITIZE_WITHHELD) {
		strbuf_printf(why, "sent an unknown status %u", (unsigned)w.status);
		goto out;
	}
	if (fd < 0 || w.text_len != 0 || w.len == 0 || w.len > SWORKER_MAX_OUTPUT_BYTES ||
	    w.verdict_len == 0 || w.verdict_len > SWORKER_MAX_VERDICT_BYTES) {
		strbuf_puts(why, "sent an answer without a descriptor or with bad lengths");
		goto out;
	}
	total = w.len + w.verdict_len;
	seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0 || (seals & (F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW)) !=
	                     (F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW)) {
		strbuf_puts(why, "sent a descriptor that is not a sealed memfd");
		goto out;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != total) {
		strbuf_puts(why, "sent a memfd whose size is not the announced one");
		goto out;
	}
	map = mmap(NULL, total, PROT_READ, MAP_PRIVATE, fd, 0);
	if (map == MAP_FAILED) {
		strbuf_printf(why, "answer not readable: %s", strerror(errno));
		goto out;
	}
	if (memchr(map, 0, w.len)) {
		strbuf_puts(why, "sent a message with NUL bytes");
		goto out;
	}
	if (!sworker_json_object_ok((const char *)map + w.len, w.verdict_len)) {
		strbuf_puts(why, "sent a verdict that is not one line of JSON");
		goto out;
	}
	strbuf_append(&res->message, map, w.len);
	strbuf_append(&res->verdict, (const char *)map + w.len, w.verdict_len);
	res->status = (enum sanitize_status)w.status;
	ok = true;
out:
	if (map != MAP_FAILED)
		munmap(map, total);
	if (fd >= 0)
		close(fd);
	return ok;
}

/* Build the REQUEST packet; false (reason in err) over a limit. */
static bool sworker_build_request(struct strbuf *pkt, uint64_t seq, size_t len, const char *from,
                                  const char *const *rcpts, size_t nrcpts, struct strbuf *err)
{
	struct sworker_wire w = {0};
	size_t i;

	if (nrcpts > SWORKER_MAX_RCPTS) {
		strbuf_printf(err, "sanitiser: more than %u recipients", SWORKER_MAX_RCPTS);
		return false;
	}
	w.magic = SWORKER_MAGIC;
	w.version = SWORKER_VERSION;
	w.kind = SWORKER_REQUEST;
	w.seq = seq;
	w.len = len;
	w.flags = from ? SWORKER_F_FROM : 0;
	w.nrcpts = (uint32_t)nrcpts;
	strbuf_append(pkt, &w, sizeof(w));
	for (i = 0; i <= nrcpts; i++) {
		const char *a = i == 0 ? (from ? from : "") : rcpts[i - 1];
		size_t l = a ? strlen(a) : 0;

		if (l >= SWORKER_MAX_ADDR_BYTES) {
			strbuf_printf(err, "sanitiser: envelope address over %u bytes",
			              SWORKER_MAX_ADDR_BYTES);
			return false;
		}
		strbuf_append(pkt, a ? a : "", l + 1);
	}
	if (pkt->len - sizeof(w) > SWORKER_MAX_ENVELOPE_BYTES) {
		strbuf_printf(err, "sanitiser: envelope over %u bytes", SWORKER_MAX_ENVELOPE_BYTES);
		return false;
	}
	w.text_len = (uint32_t)(pkt->len - sizeof(w));
	memcpy(pkt->s, &w, sizeof(w));
	return true;
}

static bool sworker_send(int sock, const void *buf, size_t len, int fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} cbuf;
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
	ssize_t n;

	if (fd >= 0) {
		struct cmsghdr *c;

		memset(&cbuf, 0, sizeof(cbuf));
		m.msg_control = cbuf.buf;
		m.msg_controllen = sizeof(cbuf.buf);
		c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	do
		n = sendmsg(sock, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)len;
}

/* Is an idle worker still there with nothing unasked in its socket? */
static bool sworker_idle_ok(const struct sworker_slot *s)
{
	struct pollfd pfd = {.fd = s->sock, .events = POLLIN};

	return poll(&pfd, 1, 0) == 0;
}

static void sworker_result_init(struct sworker_result *res)
{
	res->status = SANITIZE_ERROR;
	strbuf_init(&res->message, 0);
	strbuf_init(&res->verdict, 0);
	strbuf_init(&res->error, 0);
}

enum sanitize_status sworker_sanitize(struct sworker_pool *p, int raw_fd, size_t len,
                                      const char *envelope_from, const char *const *rcpts,
                                      size_t nrcpts, struct sworker_result *res)
{
	struct strbuf pkt = STRBUF_INIT;
	char path[64];
	struct stat st;
	int ro = -1, attempt;

	sworker_result_init(res);
	if (fstat(raw_fd, &st) < 0 || (uint64_t)st.st_size < len) {
		strbuf_puts(&res->error,
		            "sanitiser: the message descriptor is shorter than its length");
		goto out;
	}
	/* a read-only description: a worker cannot change the original */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", raw_fd);
	ro = open(path, O_RDONLY | O_CLOEXEC);
	if (ro < 0) {
		strbuf_printf(&res->error, "sanitiser: reopening the message read-only: %s",
		              strerror(errno));
		goto out;
	}
	if (!sworker_build_request(&pkt, 0, len, envelope_from, rcpts, nrcpts, &res->error))
		goto out;
	/* a worker found gone before it was asked anything is replaced and
	 * the message tried once more; after the request is sent, never */
	for (attempt = 0; attempt < 2; attempt++) {
		struct sworker_slot *s;
		struct strbuf why = STRBUF_INIT;
		uint64_t seq;
		int i, r;
		pid_t pid;

		i = sworker_acquire(p);
		if (i < 0) {
			strbuf_puts(&res->error, "sanitiser: the worker pool is stopping");
			break;
		}
		s = &p->slot[i];
		if (s->pid == 0 && !sworker_spawn(p, s, &why)) {
			strbuf_printf(&res->error, "sanitiser: no worker: %s", why.s);
			strbuf_free(&why);
			sworker_release(p, i);
			break;
		}
		pid = s->pid;
		if (!s->ready &&
		    !sworker_await_ready(p, s, sworker_now_ms() + SWORKER_START_TIMEOUT_S * 1000LL,
		                         &why)) {
			strbuf_printf(&res->error, "sanitiser worker %d %s", (int)pid, why.s);
			strbuf_puts(&res->error, "; the process ");
			sworker_reap(s, false, &res->error);
			strbuf_free(&why);
			sworker_release(p, i);
			break;
		}
		pthread_mutex_lock(&p->lock);
		seq = ++p->seq;
		pthread_mutex_unlock(&p->lock);
		memcpy(pkt.s + offsetof(struct sworker_wire, seq), &seq, sizeof(seq));
		if (!sworker_idle_ok(s) || !sworker_send(s->sock, pkt.s, pkt.len, ro)) {
			strbuf_printf(&why, "sanitiser worker %d was gone before the request",
			              (int)pid);
			sworker_replace(p, s, &why);
			log_warn("%s", why.s);
			strbuf_free(&why);
			sworker_release(p, i);
			continue;
		}
		r = sworker_wait(s->sock, sworker_now_ms() + (int64_t)p->conf.timeout_s * 1000);
		if (r == 1 && sworker_read_reply(s, seq, res, &why)) {
			strbuf_free(&why);
			sworker_release(p, i);
			break;
		}
		strbuf_reset(&res->message);
		strbuf_reset(&res->verdict);
		strbuf_reset(&res->error);
		res->status = SANITIZE_ERROR;
		if (r == 0)
			strbuf_printf(
			    &res->error,
			    "sanitiser worker %d passed its time limit of %u s and was killed",
			    (int)pid, p->conf.timeout_s);
		else if (r < 0)
			strbuf_printf(&res->error, "sanitiser worker %d: poll: %s", (int)pid,
			              strerror(errno));
		else
			strbuf_printf(&res->error, "sanitiser worker %d %s", (int)pid, why.s);
		strbuf_free(&why);
		sworker_replace(p, s, &res->error);
		log_error("%s", res->error.s);
		sworker_release(p, i);
		break;
	}
	if (attempt == 2)
		strbuf_puts(&res->error, "sanitiser: no worker took the message");
out:
	if (ro >= 0)
		close(ro);
	strbuf_free(&pkt);
	if (res->status == SANITIZE_ERROR && res->error.len == 0)
		strbuf_puts(&res->error, "sanitiser: failed");
	return res->status;
}

void sworker_result_free(struct sworker_result *res)
{
	strbuf_free(&res->message);
	strbuf_free(&res->verdict);
	strbuf_free(&res->error);
}

void sworker_pool_stop(struct sworker_pool *p)
{
	unsigned i;
	bool busy;

	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stopping = true;
	pthread_cond_broadcast(&p->cond);
	do {
		busy = false;
		for (i = 0; i < p->n; i++)
			busy |= p->slot[i].busy;
		if (busy)
			pthread_cond_wait(&p->cond, &p->lock);
	} while (busy);
	pthread_mutex_unlock(&p->lock);
	/* EOF on every socket first, so the workers leave together */
	for (i = 0; i < p->n; i++) {
		if (p->slot[i].sock >= 0) {
			close(p->slot[i].sock);
			p->slot[i].sock = -1;
		}
	}
	for (i = 0; i < p->n; i++)
		sworker_reap(&p->slot[i], true, NULL);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->cond);
	free((char *)p->conf.exe);
	free((char *)p->conf.scan_db);
	free((char *)p->conf.policy_file);
	free((char *)p->conf.tmpdir);
	for (i = 0; p->env[i]; i++)
		free(p->env[i]);
	free(p->env);
	free(p->slot);
	free(p);
}

/* ======================================================================
 * The worker
 * ====================================================================== */

enum {
	SWORKER_FAULT_CRASH = 1,
	SWORKER_FAULT_HANG = 2,
	SWORKER_FAULT_SOCKET = 4,
	SWORKER_FAULT_GARBAGE = 8,
};

static unsigned sworker_faults(void)
{
	const char *v = getenv("SEKISHO_TEST_WORKER_FAULT");
	unsigned f = 0;

	while (v && *v) {
		size_t l = strcspn(v, ",");

		if (l == 5 && memcmp(v, "crash", 5) == 0)
			f |= SWORKER_FAULT_CRASH;
		else if (l == 4 && memcmp(v, "hang", 4) == 0)
			f |= SWORKER_FAULT_HANG;
		else if (l == 6 && memcmp(v, "socket", 6) == 0)
			f |= SWORKER_FAULT_SOCKET;
		else if (l == 7 && memcmp(v, "garbage", 7) == 0)
			f |= SWORKER_FAULT_GARBAGE;
		v += l + (v[l] == ',');
	}
	return f;
}

/* Does the message hold the line "X-Sekisho-Test: <word>"? */
static bool sworker_test_line(const char *raw, size_t len, const char *word)
{
	char line[64];
	size_t l;
	const char *p = raw, *end = raw + len;

	snprintf(line, sizeof(line), "X-Sekisho-Test: %s", word);
	l = strlen(line);
	while ((p = memmem(p, (size_t)(end - p), line, l)) != NULL) {
		if ((p == raw || p[-1] == '\n') && (p + l == end || p[l] == '\r' || p[l] == '\n'))
			return true;
		p++;
	}
	return false;
}

static bool sworker_send_packet(int sock, struct sworker_wire *w, const char *text, size_t tlen,
                                int fd)
{
	char buf[sizeof(*w) + SWORKER_MAX_ERROR_BYTES];

	if (tlen > SWORKER_MAX_ERROR_BYTES)
		tlen = SWORKER_MAX_ERROR_BYTES;
	w->magic = SWORKER_MAGIC;
	w->version = SWORKER_VERSION;
	w->text_len = (uint32_t)tlen;
	memcpy(buf, w, sizeof(*w));
	if (tlen)
		memcpy(buf + sizeof(*w), text, tlen);
	return sworker_send(sock, buf, sizeof(*w) + tlen, fd);
}

static bool sworker_send_ready(int sock, enum sanitize_status status, unsigned flags, unsigned sigs,
                               const char *text)
{
	struct sworker_wire w = {0};

	w.kind = SWORKER_READY;
	w.status = status;
	w.flags = flags;
	w.signatures = sigs;
	return sworker_send_packet(sock, &w, text, text ? strlen(text) : 0, -1);
}

static bool sworker_reply_error(int sock, uint64_t seq, const char *text)
{
	struct sworker_wire w = {0};

	w.kind = SWORKER_REPLY;
	w.seq = seq;
	w.status = SANITIZE_ERROR;
	if (!text || !*text)
		text = "sanitiser worker: error";
	return sworker_send_packet(sock, &w, text, strlen(text), -1);
}

static bool sworker_write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return false;
		}
		p += w;
		n -= (size_t)w;
	}
	return true;
}

/* Send the result: message then verdict in a sealed memfd. */
static bool sworker_reply(int sock, uint64_t seq, const struct sanitize_result *r, bool seal)
{
	struct sworker_wire w = {0};
	int fd;
	bool ok;

	if (r->status == SANITIZE_ERROR)
		return sworker_reply_error(sock, seq, r->error.s);
	fd = memfd_create("sekisho-sanitised", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return sworker_reply_error(sock, seq, "sanitiser worker: memfd_create failed");
	if (!sworker_write_all(fd, r->message.s, r->message.len) ||
	    !sworker_write_all(fd, r->verdict.s, r->verdict.len) ||
	    (seal && fcntl(fd, F_ADD_SEALS,
	                   F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)) {
		close(fd);
		return sworker_reply_error(sock, seq,
		                           "sanitiser worker: writing the answer failed");
	}
	w.kind = SWORKER_REPLY;
	w.seq = seq;
	w.status = r->status;
	w.len = r->message.len;
	w.verdict_len = r->verdict.len;
	ok = sworker_send_packet(sock, &w, NULL, 0, fd);
	close(fd);
	return ok;
}

/* Test hook: turn the result into an error saying what the sandbox let
 * through. */
static void sworker_test_breach(struct sanitize_result *r, const char *what)
{
	strbuf_reset(&r->message);
	strbuf_reset(&r->verdict);
	strbuf_reset(&r->error);
	r->status = SANITIZE_ERROR;
	strbuf_printf(&r->error, "sworker test: %s", what);
}

/* Test hook: add "key":"value" to the verdict object. */
static void sworker_test_note(struct sanitize_result *r, const char *key, const char *what, int e)
{
	if (r->status == SANITIZE_ERROR || r->verdict.len < 2 ||
	    r->verdict.s[r->verdict.len - 1] != '}')
		return;
	r->verdict.len--;
	r->verdict.s[r->verdict.len] = 0;
	strbuf_printf(&r->verdict, "%s\"%s\":\"%s%s\"}", r->verdict.len > 1 ? "," : "", key, what,
	              e ? (strerrorname_np(e) ? strerrorname_np(e) : "?") : "");
}

static void *sworker_test_thread(void *arg)
{
	return arg;
}

/* The "socket" test hook: try the network, a new process and a thread,
 * and note what happened (the first two must be refused, the third work). */
static void sworker_test_sandbox(struct sanitize_result *r)
{
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), e = errno;
	pthread_t t;
	pid_t pid;

	if (s >= 0) {
		close(s);
		sworker_test_breach(r, "socket(AF_INET) was allowed in the worker");
		return;
	}
	sworker_test_note(r, "test_socket", "refused: ", e);
	pid = fork();
	if (pid == 0)
		_exit(0);
	if (pid > 0) {
		waitpid(pid, NULL, 0);
		sworker_test_breach(r, "fork() was allowed in the worker");
		return;
	}
	sworker_test_note(r, "test_fork", "refused: ", errno);
	e = pthread_create(&t, NULL, sworker_test_thread, NULL);
	if (e != 0) {
		sworker_test_breach(r, "pthread_create failed in the worker");
		return;
	}
	pthread_join(t, NULL);
	sworker_test_note(r, "test_thread", "ok", 0);
}

/* Serve one request packet (n bytes in buf, raw message in fd). */
static bool sworker_serve(int sock, const struct sworker_conf *conf,
                          const struct sanitize_policy *pol, struct scan_engine *eng,
                          unsigned faults, const char *buf, size_t n, int fd)
{
	static const char *rcpt[SWORKER_MAX_RCPTS];
	struct sworker_wire w;
	struct sanitize_result res;
	const char *env, *from, *raw = "";
	void *map = MAP_FAILED;
	struct stat st;
	size_t off, i;
	bool ok;

	memcpy(&w, buf, sizeof(w));
	env = buf + sizeof(w);
	if (w.magic != SWORKER_MAGIC || w.version != SWORKER_VERSION || w.kind != SWORKER_REQUEST ||
	    w.text_len != n - sizeof(w) || w.nrcpts > SWORKER_MAX_RCPTS || w.text_len == 0 ||
	    env[w.text_len - 1] != 0) {
		log_error("sanitiser worker: malformed request");
		return false;
	}
	from = env;
	off = strlen(env) + 1;
	for (i = 0; i < w.nrcpts; i++) {
		if (off >= w.text_len) {
			log_error("sanitiser worker: malformed envelope");
			return false;
		}
		rcpt[i] = env + off;
		off += strlen(env + off) + 1;
	}
	if (off != w.text_len) {
		log_error("sanitiser worker: malformed envelope");
		return false;
	}
	if (fstat(fd, &st) < 0 || (uint64_t)st.st_size < w.len || w.len > SIZE_MAX / 2)
		return sworker_reply_error(sock, w.seq,
		                           "sanitiser worker: message shorter than said");
	if (w.len) {
		map = mmap(NULL, w.len, PROT_READ, MAP_PRIVATE, fd, 0);
		if (map == MAP_FAILED)
			return sworker_reply_error(sock, w.seq, "sanitiser worker: mmap failed");
		raw = map;
	}
	alarm(conf->timeout_s + SWORKER_ALARM_SLACK_S);
	if ((faults & SWORKER_FAULT_CRASH) && sworker_test_line(raw, w.len, "crash"))
		abort();
	if ((faults & SWORKER_FAULT_HANG) && sworker_test_line(raw, w.len, "hang")) {
		alarm(0);
		for (;;)
			pause();
	}
	sanitize_message(pol, eng, raw, w.len, (w.flags & SWORKER_F_FROM) ? from : NULL, rcpt,
	                 w.nrcpts, &res);
	if (faults & SWORKER_FAULT_SOCKET)
		sworker_test_sandbox(&res);
	if ((faults & SWORKER_FAULT_GARBAGE) && res.status != SANITIZE_ERROR &&
	    sworker_test_line(raw, w.len, "garbage")) {
		strbuf_reset(&res.verdict);
		strbuf_puts(&res.verdict, "{\"verdict\":\"clean\",");
	}
	ok = sworker_reply(
	    sock, w.seq, &res,
	    !((faults & SWORKER_FAULT_GARBAGE) && sworker_test_line(raw, w.len, "unsealed")));
	alarm(0);
	sanitize_result_free(&res);
	if (map != MAP_FAILED)
		munmap(map, w.len);
	return ok;
}

/* Load the gconv modules charset.c may need now, while files and memory
 * are all ours; the handles stay open so the modules stay loaded. */
static void sworker_warm_iconv(void)
{
	static const char *const extra[] = {
	    "ISO-2022-JP", "ISO-2022-JP-2", "ISO-2022-JP-3", "SHIFT_JIS",    "CP932",
	    "EUC-JP",      "BIG5",          "KOI8-R",        "KOI8-U",       "ISO-8859-2",
	    "ISO-8859-5",  "ISO-8859-15",   "WINDOWS-1250",  "WINDOWS-1251", "WINDOWS-1254",
	    "CP874",       "UTF-7",         "UTF-16BE",      "UTF-32",
	};
	static iconv_t kept[sizeof(extra) / sizeof(extra[0])];
	size_t i;

	charset_init();
	for (i = 0; i < sizeof(extra) / sizeof(extra[0]); i++)
		kept[i] = iconv_open("WCHAR_T", extra[i]);
}

/* A tiny message through the engine, which must come out sanitised (not
 * withheld): before the lock-down GMime and libclamav initialise; after it,
 * a TMPDIR the dropped uid cannot write, or a syscall the filter refuses
 * to the engine, shows before READY instead of on every mail. */
static bool sworker_self_test(const struct sanitize_policy *pol, struct scan_engine *eng,
                              const char *when, struct strbuf *err)
{
	static const char msg[] =
	    "From: a@example.com\r\nTo: b@example.com\r\n"
	    "Subject: =?ISO-2022-JP?B?GyRCJDMkcyRLJEEkTxsoQg==?=\r\n"
	    "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
	    "--b\r\nContent-Type: text/html; charset=shift_jis\r\n\r\n"
	    "<p>\x82\xb1\x82\xf1</p>\r\n--b\r\nContent-Type: "
	    "application/octet-stream; name=x.bin\r\n\r\nxyz\r\n--b--\r\n";
	struct sanitize_result r;
	bool ok;

	sanitize_message(pol, eng, msg, sizeof(msg) - 1, "a@example.com", NULL, 0, &r);
	ok = r.status == SANITIZE_OK;
	if (r.status == SANITIZE_ERROR) {
		strbuf_printf(err, "self-test %s: %s", when, r.error.s ? r.error.s : "error");
	} else if (!ok) {
		const char *w = r.verdict.s ? strstr(r.verdict.s, "\"withheld\":") : NULL;

		strbuf_printf(err, "self-test %s: the test message was withheld: %.300s", when,
		              w ? w : "?");
	}
	sanitize_result_free(&r);
	return ok;
}

/* libclamav logs, but scans on and reports "clean", when it cannot create
 * its per-scan directory under TMPDIR (seen with 1.4): so the worker, as
 * the uid it serves with, must be able to create one, or it does not start. */
static bool sworker_tmpdir_ok(const char *tmpdir, struct strbuf *err)
{
	char path[PATH_MAX];
	int n = snprintf(path, sizeof(path), "%s/sekisho-worker-XXXXXX", tmpdir ? tmpdir : "/tmp");

	if (n < 0 || (size_t)n >= sizeof(path)) {
		strbuf_puts(err, "TMPDIR path too long");
		return false;
	}
	if (!mkdtemp(path)) {
		strbuf_printf(err, "TMPDIR %s: the worker (uid %u) cannot create a directory: %s",
		              tmpdir ? tmpdir : "/tmp", (unsigned)geteuid(), strerror(errno));
		return false;
	}
	rmdir(path);
	return true;
}

static bool sworker_seccomp(struct strbuf *err)
{
	static const int deny[] = {
	    SCMP_SYS(socket),
	    SCMP_SYS(socketpair),
	    SCMP_SYS(connect),
	    SCMP_SYS(bind),
	    SCMP_SYS(listen),
	    SCMP_SYS(accept),
	    SCMP_SYS(accept4),
	    SCMP_SYS(sendto),
	    SCMP_SYS(sendmmsg),
	    SCMP_SYS(execve),
	    SCMP_SYS(execveat),
	    SCMP_SYS(fork),
	    SCMP_SYS(vfork),
	    SCMP_SYS(ptrace),
	    SCMP_SYS(process_vm_readv),
	    SCMP_SYS(process_vm_writev),
	    SCMP_SYS(pidfd_getfd),
	    SCMP_SYS(kcmp),
	    SCMP_SYS(setuid),
	    SCMP_SYS(setgid),
	    SCMP_SYS(setreuid),
	    SCMP_SYS(setregid),
	    SCMP_SYS(setresuid),
	    SCMP_SYS(setresgid),
	    SCMP_SYS(setgroups),
	    SCMP_SYS(setfsuid),
	    SCMP_SYS(setfsgid),
	    SCMP_SYS(mount),
	    SCMP_SYS(umount2),
	    SCMP_SYS(move_mount),
	    SCMP_SYS(open_tree),
	    SCMP_SYS(fsopen),
	    SCMP_SYS(fsconfig),
	    SCMP_SYS(fsmount),
	    SCMP_SYS(fspick),
	    SCMP_SYS(mount_setattr),
	    SCMP_SYS(chroot),
	    SCMP_SYS(pivot_root),
	    SCMP_SYS(unshare),
	    SCMP_SYS(setns),
	    SCMP_SYS(keyctl),
	    SCMP_SYS(add_key),
	    SCMP_SYS(request_key),
	    SCMP_SYS(bpf),
	    SCMP_SYS(perf_event_open),
	    SCMP_SYS(userfaultfd),
	    SCMP_SYS(io_uring_setup),
	    SCMP_SYS(io_uring_enter),
	    SCMP_SYS(io_uring_register),
	    SCMP_SYS(open_by_handle_at),
	    SCMP_SYS(name_to_handle_at),
	    SCMP_SYS(init_module),
	    SCMP_SYS(finit_module),
	    SCMP_SYS(delete_module),
	    SCMP_SYS(kexec_load),
	    SCMP_SYS(kexec_file_load),
	    SCMP_SYS(reboot),
	    SCMP_SYS(swapon),
	    SCMP_SYS(swapoff),
	    SCMP_SYS(acct),
	    SCMP_SYS(quotactl),
	    SCMP_SYS(syslog),
	};
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	size_t i;
	int rc = 0;

	if (!ctx) {
		strbuf_puts(err, "seccomp_init failed");
		return false;
	}
	/* a binary tree of the rules: every syscall of the worker passes
	 * the filter, most of them allowed */
	seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
	/* every thread (a library may have started one), not just this one;
	 * the load fails rather than leave one unfiltered */
	if (seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1) != 0) {
		seccomp_release(ctx);
		strbuf_puts(err, "seccomp: no thread synchronisation");
		return false;
	}
	for (i = 0; i < sizeof(deny) / sizeof(deny[0]) && rc == 0; i++) {
		/* a syscall this architecture lacks (negative pseudo number) is
		 * skipped: nothing to deny */
		if (deny[i] < 0)
			continue;
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), deny[i], 0);
	}
	/* threads only: clone without CLONE_THREAD would be a new process */
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
		                      SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, 0));
	/* clone3 passes its flags in memory the filter cannot read */
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	if (rc == 0)
		rc = seccomp_load(ctx);
	seccomp_release(ctx);
	if (rc != 0) {
		strbuf_printf(err, "seccomp: %s", strerror(-rc));
		return false;
	}
	return true;
}

/* Leave the network, the uid, the chance of new privileges; then seccomp.
 * Returns the READY flags, or -1 with the reason in err; note gets why
 * there is no network namespace. */
static int sworker_lockdown(const struct sworker_conf *conf, struct strbuf *note,
                            struct strbuf *err)
{
	int flags = 0;

	if (unshare(CLONE_NEWNET) == 0) {
		flags |= SWORKER_F_NETNS;
	} else {
		int e = errno;

		if (unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0)
			flags |= SWORKER_F_NETNS | SWORKER_F_USERNS;
		else
			strbuf_printf(note, "unshare: %s; with a user namespace: %s", strerror(e),
			              strerror(errno));
	}
	if (geteuid() == 0 && !(flags & SWORKER_F_USERNS)) {
		gid_t g = conf->gid;
		uid_t u;

		if (conf->uid == 0) {
			strbuf_puts(err, "refusing to run the worker as root (uid 0)");
			return -1;
		}
		if (setgroups(0, NULL) < 0 || setresgid(g, g, g) < 0 ||
		    setresuid(conf->uid, conf->uid, conf->uid) < 0) {
			strbuf_printf(err, "dropping to uid %u gid %u: %s", (unsigned)conf->uid,
			              (unsigned)g, strerror(errno));
			return -1;
		}
		u = conf->uid;
		if (getuid() != u || geteuid() != u || getgid() != g || getegid() != g ||
		    getgroups(0, NULL) != 0 || setuid(0) == 0) {
			strbuf_puts(err, "the uid drop did not hold");
			return -1;
		}
		flags |= SWORKER_F_UID_DROPPED;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		strbuf_printf(err, "PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
		return -1;
	}
	if (!sworker_seccomp(err))
		return -1;
	return flags;
}

int sworker_main(int sock, const struct sworker_conf *conf)
{
	static char buf[SWORKER_MAX_PACKET + 1];
	struct sanitize_policy pol;
	struct strbuf err = STRBUF_INIT, note = STRBUF_INIT;
	struct scan_engine *eng = NULL;
	struct rlimit nocore = {0, 0};
	unsigned faults;
	int flags, rc = 0;

	/* nothing of the relay's but the socket and stdio */
	if (sock > 3)
		close_range(3, (unsigned)sock - 1, 0);
	close_range((unsigned)sock + 1, ~0u, 0);
	signal(SIGPIPE, SIG_IGN);
	/* hostile mail in a core file would be a copy outside the quarantine */
	setrlimit(RLIMIT_CORE, &nocore);
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	if (conf->tmpdir && setenv("TMPDIR", conf->tmpdir, 1) != 0)
		log_warn_errno("setenv TMPDIR");
	faults = sworker_faults();
	sanitize_policy_init(&pol);
	if (conf->policy_file && !sanitize_policy_load(&pol, conf->policy_file, &err))
		goto fail;
	eng = scan_open(conf->scan_db, &err);
	if (!eng)
		goto fail;
	sworker_warm_iconv();
	if (!sworker_self_test(&pol, eng, "before the sandbox", &err))
		goto fail;
	flags = sworker_lockdown(conf, &note, &err);
	if (flags < 0 || !sworker_tmpdir_ok(conf->tmpdir, &err) ||
	    !sworker_self_test(&pol, eng, "in the sandbox", &err))
		goto fail;
	if (!sworker_send_ready(sock, SANITIZE_OK, (unsigned)flags, scan_signatures(eng), note.s))
		goto out;

	for (;;) {
		ssize_t n;
		int fd = -1;

		struct pollfd pfd = {.fd = sock, .events = POLLIN};

		strbuf_reset(&err);
		if (poll(&pfd, 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_error_errno("sanitiser worker: poll");
			rc = 3;
			break;
		}
		n = sworker_recv(sock, buf, sizeof(buf), &fd, &err);
		if (n == 0)
			break;
		if (n < 0) {
			log_error("sanitiser worker: %s", err.s);
			rc = 3;
			break;
		}
		if ((size_t)n < sizeof(struct sworker_wire) || fd < 0) {
			if (fd >= 0)
				close(fd);
			log_error("sanitiser worker: malformed request");
			rc = 3;
			break;
		}
		if (!sworker_serve(sock, conf, &pol, eng, faults, buf, (size_t)n, fd)) {
			close(fd);
			rc = 3;
			break;
		}
		close(fd);
	}
	goto out;
fail:
	log_error("sanitiser worker: %s", err.s ? err.s : "failed");
	sworker_send_ready(sock, SANITIZE_ERROR, 0, 0, err.s ? err.s : "failed");
	rc = 2;
out:
	if (eng)
		scan_close(eng);
	sanitize_policy_free(&pol);
	strbuf_free(&err);
	strbuf_free(&note);
	return rc;
}

static bool sworker_arg_uint(const char *s, unsigned long max, unsigned long *r)
{
	char *end;

	if (!s || *s < '0' || *s > '9')
		return false;
	errno = 0;
	*r = strtoul(s, &end, 10);
	return errno == 0 && *end == 0 && *r <= max;
}

int sworker_main_args(int argc, char **argv)
{
	struct sworker_conf c = {0};
	unsigned long fd = 0, v;
	int i;

	log_init("sekisho-worker");
	if (argc < 3 || strcmp(argv[1], "--worker") != 0 ||
	    !sworker_arg_uint(argv[2], INT_MAX, &fd))
		goto usage;
	c.nworkers = 1;
	for (i = 3; i + 1 < argc; i += 2) {
		const char *k = argv[i], *a = argv[i + 1];

		if (strcmp(k, "--worker-timeout") == 0 && sworker_arg_uint(a, 86400, &v) && v)
			c.timeout_s = (unsigned)v;
		else if (strcmp(k, "--scan-db") == 0)
			c.scan_db = a;
		else if (strcmp(k, "--policy") == 0)
			c.policy_file = a;
		else if (strcmp(k, "--tmpdir") == 0)
			c.tmpdir = a;
		else if (strcmp(k, "--uid") == 0 && sworker_arg_uint(a, UINT32_MAX - 1, &v))
			c.uid = (uid_t)v;
		else if (strcmp(k, "--gid") == 0 && sworker_arg_uint(a, UINT32_MAX - 1, &v))
			c.gid = (gid_t)v;
		else
			goto usage;
	}
	if (i != argc || !c.timeout_s || !c.scan_db || !c.tmpdir)
		goto usage;
	fflush(NULL);
	_exit(sworker_main((int)fd, &c));
usage:
	log_error("usage: %s --worker FD --worker-timeout S --scan-db DIR [--policy FILE] "
	          "--tmpdir DIR --uid U --gid G",
	          argv[0] ? argv[0] : "sekisho");
	_exit(2);
}

/*
 * sworker - the sanitiser's worker processes: hostile bytes are parsed
 * here, never in the daemon.
 *
 * A pool of long-lived processes, each started by posix_spawn of the
 * relay binary with "--worker FD" (safe from a threaded parent), connected
 * by a SOCK_SEQPACKET socketpair.  Each worker loads the sanitize policy
 * and the ClamAV database, leaves the network (unshare of a new network
 * namespace when it can, and seccomp in any case), installs a seccomp
 * filter (libseccomp: no socket, connect, bind, execve, ptrace, fork), and
 * then serves one message at a time: the raw message arrives as a memfd
 * (SCM_RIGHTS) with the envelope; the sanitised message and the verdict
 * go back as a memfd and a header.
 *
 * DIAGNOSTICS
 *	A worker that crashes, answers garbage or passes its time limit is
 *	killed and replaced; the message it held gets an error (the relay
 *	answers 4xx).  The pool never blocks the caller past the time limit.
 *
 * ARGUMENTS (the pool's contract with the worker it spawns):
 *	EXE --worker FD --worker-timeout S --scan-db DIR [--policy FILE]
 *	    --tmpdir DIR --uid U --gid G
 *	FD is the worker's end of the socketpair.  The relay's main() starts
 *	with: if (argc > 1 && !strcmp(argv[1], "--worker"))
 *	          return sworker_main_args(argc, argv);
 *
 * TEST HOOK: SEKISHO_TEST_WORKER_FAULT in the worker's environment, a
 * comma-separated list: "crash" (abort() on a message holding the line
 * "X-Sekisho-Test: crash"), "hang" (sleep for ever on "X-Sekisho-Test:
 * hang"), "garbage" (an invalid verdict on "X-Sekisho-Test: garbage", an
 * unsealed memfd on "X-Sekisho-Test: unsealed"), "socket" (every message:
 * try socket(AF_INET) and fork(), start a thread; the verdict gets
 * "test_socket":"refused: EPERM","test_fork":"refused: EPERM",
 * "test_thread":"ok"; anything let through makes it SANITIZE_ERROR).
 * docs/relay-workers.md.
 */
#ifndef SEKISHO_SWORKER_H
#define SEKISHO_SWORKER_H

#include "sanitize.h"
#include "strbuf.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Limits of what crosses the socket (the worker is untrusted). */
#define SWORKER_MAX_RCPTS 1000                  /* envelope recipients per message */
#define SWORKER_MAX_ADDR_BYTES 512              /* one envelope address */
#define SWORKER_MAX_ENVELOPE_BYTES (64u * 1024) /* all addresses, NULs included */
#define SWORKER_MAX_ERROR_BYTES 1024            /* error text of an answer */
#define SWORKER_MAX_VERDICT_BYTES (4u * 1024 * 1024)
#define SWORKER_MAX_OUTPUT_BYTES (3u * SANITIZE_MAX_MESSAGE_BYTES + 1024u * 1024)
#define SWORKER_START_TIMEOUT_S 300 /* loading the policy and the database */

struct sworker_conf {
	const char *exe;         /* the relay binary (e.g. /proc/self/exe resolved) */
	unsigned nworkers;       /* >= 1 */
	unsigned timeout_s;      /* per message */
	const char *scan_db;     /* ClamAV database directory */
	const char *policy_file; /* sanitize policy (NULL = defaults) */
	const char *tmpdir;      /* TMPDIR in the workers (libclamav temp files) */
	uid_t uid;               /* the workers drop to these (when started as root) */
	gid_t gid;
};

struct sworker_result {
	enum sanitize_status status; /* SANITIZE_OK / WITHHELD / ERROR */
	struct strbuf message;       /* the sanitised message (OK / WITHHELD) */
	struct strbuf verdict;       /* JSON object, one line */
	struct strbuf error;         /* why, for SANITIZE_ERROR (includes worker failure) */
};

struct sworker_pool;

/* Start conf->nworkers workers and wait until each has loaded its
 * database and is ready (or failed).  Returns NULL with the reason in err
 * when no worker could start.  Call before dropping privileges if the
 * workers should unshare their network as root. */
struct sworker_pool *sworker_pool_start(const struct sworker_conf *conf, struct strbuf *err);

/* Sanitise len bytes read from raw_fd (a memfd or file; read from offset 0,
 * the caller keeps it) with the envelope.  Thread-safe: blocks until a
 * worker is free (when only a replacement still loading its database is
 * free: until its READY, at most SWORKER_START_TIMEOUT_S), then at most
 * conf->timeout_s for the answer.  The worker gets a read-only descriptor
 * (reopened through /proc/self/fd): it cannot change the original.  res is
 * initialised here; free with sworker_result_free.  Returns res->status;
 * a worker crash, timeout or bad answer gives SANITIZE_ERROR with the
 * reason in res->error, and the worker is replaced.  Over an envelope
 * limit above: SANITIZE_ERROR without asking a worker. */
enum sanitize_status sworker_sanitize(struct sworker_pool *p, int raw_fd, size_t len,
                                      const char *envelope_from, const char *const *rcpts,
                                      size_t nrcpts, struct sworker_result *res);
void sworker_result_free(struct sworker_result *res);

/* Stop and reap every worker; p may be NULL.  Waits for calls in progress
 * (at most their time limit), closes each worker's socket (the worker
 * exits), and SIGKILLs a worker still there after 2 s.  No zombies. */
void sworker_pool_stop(struct sworker_pool *p);

/* The process ids of the pool's workers, for status and tests: copies at
 * most max ids (0 for a slot without a process) and returns how many. */
unsigned sworker_pool_pids(struct sworker_pool *p, pid_t *pids_r, unsigned max);

/* The worker's side: serve requests on sock until it closes.  Called by
 * the relay's main() for "--worker FD"; conf comes from the arguments the
 * pool passed.  Returns the exit status. */
int sworker_main(int sock, const struct sworker_conf *conf);

/* Parse the ARGUMENTS above (argv[1] is "--worker") and run sworker_main.
 * Does not return: the worker leaves with _exit(status) (2 for bad
 * arguments), so no atexit handler (LeakSanitizer's, for one) runs under
 * the seccomp filter. */
int sworker_main_args(int argc, char **argv) __attribute__((noreturn));

#endif

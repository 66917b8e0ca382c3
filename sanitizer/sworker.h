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
 */
#ifndef SEKISHO_SWORKER_H
#define SEKISHO_SWORKER_H

#include "sanitize.h"
#include "strbuf.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct sworker_conf {
	const char *exe;           /* the relay binary (e.g. /proc/self/exe resolved) */
	unsigned nworkers;         /* >= 1 */
	unsigned timeout_s;        /* per message */
	const char *scan_db;       /* ClamAV database directory */
	const char *policy_file;   /* sanitize policy (NULL = defaults) */
	const char *tmpdir;        /* TMPDIR in the workers (libclamav temp files) */
	uid_t uid;                 /* the workers drop to these (when started as root) */
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
 * worker is free, then at most conf->timeout_s for the answer.  res is
 * initialised here; free with sworker_result_free.  Returns res->status;
 * a worker crash, timeout or bad answer gives SANITIZE_ERROR with the
 * reason in res->error, and the worker is replaced. */
enum sanitize_status sworker_sanitize(struct sworker_pool *p, int raw_fd, size_t len,
                                      const char *envelope_from, const char *const *rcpts,
                                      size_t nrcpts, struct sworker_result *res);
void sworker_result_free(struct sworker_result *res);

/* Stop and reap every worker; p may be NULL. */
void sworker_pool_stop(struct sworker_pool *p);

/* The worker's side: serve requests on sock until it closes.  Called by
 * the relay's main() for "--worker FD"; conf comes from the arguments the
 * pool passed.  Returns the exit status. */
int sworker_main(int sock, const struct sworker_conf *conf);

#endif

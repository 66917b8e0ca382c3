/*
 * state - the applied-ruleset history on disk, for diff, rollback, status
 * and apply --confirm.
 *
 * Layout of the state directory (default /var/lib/sekisho, --state-dir,
 * SEKISHO_STATE_DIR):
 *   lock                  flock()ed by every command that changes state
 *   current               symlink to versions/NNNNNN: the running version
 *   versions/NNNNNN/      one applied version (numbers only grow):
 *       rules/...         the rule files exactly as compiled (same layout
 *                         relative to the rules directory)
 *       show.nft          the `sekisho show` text that was applied
 *       info              key=value: digest, applied (epoch), source (the
 *                         rules directory as given), prefix (how rule files
 *                         were named in comments), reason, rules/sets/chains,
 *                         and file=<fnv1a64> <size> <path> for every file
 *   pending               during `apply --confirm`: the version to revert
 *                         to, the deadline and a token (see cmd_ruleset.c)
 *   confirm.log           what the confirm waiters did
 *   mailflows             the running ruleset's mail flows for sekisho-relayd
 *                         (0644, written by apply_run via mailgen.h; the
 *                         directory is made searchable for the relay)
 * The last STATE_KEEP_VERSIONS versions are kept; older ones are removed
 * after each apply (the running one is never removed).
 *
 * TRUST: the state directory is root's; its files are still read with
 * limits (STATE_MAX_FILE_BYTES) and parsed defensively.
 * FAILURE: functions return -1 with a message in err_r; a new version is
 * prepared in a temporary directory and becomes visible (renamed, then
 * `current` switched atomically) only after the kernel accepted it.
 * DURABILITY: the history is not fsync()ed (an fsync per file cost more than
 * the kernel apply of the default rules).  The kernel's ruleset does not
 * survive a reboot either: gatewayd re-applies the rules directory at boot.
 * A version torn by a crash is detected by state_verify() (sizes and FNV-1a
 * of every file are in info) and is then refused for diff and rollback.
 */
#ifndef SEKISHO_STATE_H
#define SEKISHO_STATE_H

#include "nftgen.h"
#include "policy.h"
#include "strbuf.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#define STATE_KEEP_VERSIONS 10
#define STATE_MAX_FILE_BYTES (64u * 1024 * 1024)

struct state {
	char *dir;
	int lock_fd; /* -1 when not locked */
};

struct state_version {
	unsigned num;
	char *dir;    /* <state>/versions/NNNNNN */
	char *digest; /* the table comment it was applied with */
	time_t applied;
	char *source; /* rules directory as given to apply */
	char *prefix; /* file name prefix in rule comments ("rules/") */
	char *reason; /* "apply", "rollback to 000005", "confirm timeout: ..." */
	size_t nrules, nsets, nchains;
};

struct state_pending {
	unsigned prev;    /* version to revert to; 0 = none ran before (delete the table) */
	unsigned applied; /* the version waiting for confirmation */
	time_t deadline;
	unsigned long token;
	pid_t waiter;
};

/* A version being written. */
struct state_txn {
	char *tmpdir;
	unsigned num;
};

/* Create the directory if needed and take the lock (blocking).  Returns 0,
 * or -1 with err_r. */
int state_open(struct state *st, const char *dir, struct strbuf *err_r);
void state_close(struct state *st);

/* Versions present, ascending by number (v_r malloc'd).  Returns 0 or -1. */
int state_list(struct state *st, struct state_version **v_r, size_t *n_r, struct strbuf *err_r);
void state_versions_free(struct state_version *v, size_t n);
/* The running version's number from `current`; 0 if none. */
unsigned state_current(struct state *st);
/* Read one version's info.  Returns 0, or -1 with err_r. */
int state_version(struct state *st, unsigned num, struct state_version *v_r, struct strbuf *err_r);
void state_version_free(struct state_version *v);
/* Check that every file of a version is as recorded.  Returns 0, or -1
 * with err_r naming the damaged file. */
int state_verify(struct state *st, unsigned num, struct strbuf *err_r);
/* Append a version's show text to sb.  Returns 0 or -1. */
int state_show_text(struct state *st, unsigned num, struct strbuf *sb, struct strbuf *err_r);

/* The comment prefix of rule files loaded from dir ("rules/", "" for "."),
 * as rulefile_load_dir() names them.  Malloc'd. */
char *state_dir_prefix(const char *dir);

/* What a new version records. */
struct state_record {
	const char
	    *load_prefix;   /* the loaded files' name prefix: snapshot names are relative to it */
	const char *source; /* the rules directory to record */
	const char *prefix; /* how comments name the files */
	const char *reason;
	const char *show; /* the show text applied */
};

/*
 * Write a new version into a temporary directory: a snapshot of every
 * policy file, the show text and info.  Returns 0 and fills txn, or -1 with
 * err_r (nothing left behind).
 */
int state_prepare(struct state *st, const struct policy *p, const struct nftgen_table *t,
                  const struct state_record *rec, struct state_txn *txn, struct strbuf *err_r);
/* Make the prepared version the current one and prune old versions. */
int state_commit(struct state *st, struct state_txn *txn, struct strbuf *err_r);
/* Throw a prepared version away. */
void state_abort(struct state *st, struct state_txn *txn);

/* The pending-confirmation marker.  read: 1 present, 0 absent, -1 error. */
int state_pending_write(struct state *st, const struct state_pending *p, struct strbuf *err_r);
int state_pending_read(struct state *st, struct state_pending *p_r);
int state_pending_clear(struct state *st);
/* Path of a file in the state directory (malloc'd). */
char *state_path(const struct state *st, const char *name);

#endif

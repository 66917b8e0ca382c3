/*
 * audit - the tamper-evident audit log: append-only JSON lines, each
 * carrying an HMAC-SHA256 chained over the previous record.
 *
 *   {"seq":N,"time":T,"type":"...","data":{...},"prev":"<64 hex>","hmac":"<64 hex>"}
 *
 * hmac = HMAC-SHA256(key, the line up to and including prev's closing quote,
 * followed by "}") -- i.e. the record without its hmac member; prev is the
 * hmac of record N-1 (64 zeros for seq 1).  seq starts at 1 and grows by 1.
 * Anchor records (type "anchor", data {"count":N-1,"head":"<prev>"}) are
 * written at every seq that is a multiple of AUDIT_ANCHOR_EVERY and
 * whenever a long-running process opens the log (audit_open).
 * Layout, key handling, what is recorded: docs/audit.md.
 *
 * SECURITY
 *	The key file is raw bytes (>= AUDIT_KEY_MIN); it is refused unless it
 *	is a regular file that neither group nor others may access.  The key
 *	is read at open (as root for the relay) and kept in memory.  The
 *	verifier's line parser takes untrusted bytes with hard limits
 *	(AUDIT_LINE_MAX, nesting depth of data).
 * DIAGNOSTICS
 *	Functions fail with a one-line reason in err; nothing is logged except
 *	by audit_event.
 */
#ifndef SEKISHO_AUDIT_H
#define SEKISHO_AUDIT_H

#include "strbuf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AUDIT_KEY_MIN 32              /* bytes of key, at least */
#define AUDIT_KEY_MAX 4096            /* bytes of key, at most */
#define AUDIT_LINE_MAX (1024u * 1024) /* bytes of one record (without '\n') */
#define AUDIT_TYPE_MAX 32             /* bytes of a type: [a-z0-9._-] */
#define AUDIT_DEPTH_MAX 64            /* nesting of data */
#define AUDIT_ANCHOR_EVERY 100        /* an anchor at every seq multiple of this */
#define AUDIT_HEX_LEN 64              /* hex digits of an HMAC-SHA256 */
#define AUDIT_DEFAULT_LOG "/var/log/sekisho/audit.jsonl"
#define AUDIT_DEFAULT_KEY "/etc/sekisho/audit.key"

struct audit;

/* One parsed line (pointers into the line). */
struct audit_rec {
	uint64_t seq;
	int64_t time;
	char type[AUDIT_TYPE_MAX + 1];
	const char *data; /* the data object's text */
	size_t data_len;
	char prev[AUDIT_HEX_LEN + 1];
	char hmac[AUDIT_HEX_LEN + 1];
	size_t body_len; /* bytes of the line before ,"hmac": */
};

/*
 * Parse one line (len bytes, without the newline) in the exact layout the
 * writer produces.  Returns NULL on success, otherwise a static string
 * saying what is wrong.  Does not check the HMAC.
 */
const char *audit_parse_line(const char *line, size_t len, struct audit_rec *r);

/* Compute the record's HMAC (hex, NUL-terminated) from its parsed body. */
void audit_hmac_hex(const unsigned char *key, size_t keylen, const char *line,
                    const struct audit_rec *r, char hex_r[AUDIT_HEX_LEN + 1]);

/*
 * Read the key file: refused (-1, reason in err) when it is not a regular
 * file, is accessible by group or others (mode & 077), or holds fewer than
 * AUDIT_KEY_MIN or more than AUDIT_KEY_MAX bytes.  Returns the length.
 */
int audit_key_load(const char *path, unsigned char key_r[AUDIT_KEY_MAX], struct strbuf *err);

/* Write a new random key (AUDIT_KEY_MIN bytes, mode 0600) to path, which
 * must not exist.  Returns 0, or -1 with the reason in err. */
int audit_key_generate(const char *path, struct strbuf *err);

/*
 * Open the log for appending (created 0600 if missing) with the key of
 * key_path; resume the chain from the last record after checking its HMAC
 * (a broken tail -- bad HMAC, incomplete line -- refuses the open: nothing
 * is appended after damage), then write an anchor record.  Returns NULL
 * with the reason in err.
 */
struct audit *audit_open(const char *log_path, const char *key_path, struct strbuf *err);

/*
 * Append one record: type [a-z0-9._-]{1,32}, data_json a JSON object text
 * (checked).  One write(2) of the whole line with O_APPEND under flock
 * (other processes) and a mutex (other threads), then fdatasync; an anchor
 * is written first when the seq reaches a multiple of AUDIT_ANCHOR_EVERY.
 * When another process appended meanwhile its last record is checked
 * before the chain continues.  Returns 0, or -1 with the reason in err.
 */
int audit_append(struct audit *a, const char *type, const char *data_json, struct strbuf *err);

/* The chain head: seq and hmac of the last record (seq 0 when empty). */
void audit_head(struct audit *a, uint64_t *seq_r, char hmac_r[AUDIT_HEX_LEN + 1]);

void audit_close(struct audit *a);

/*
 * Which log and key the operator's tools use: env SEKISHO_AUDIT_LOG /
 * SEKISHO_AUDIT_KEY, else the defaults.  Returns true when an audit log is
 * configured: either variable is set (and the log is not "none"), or the
 * default key file exists.
 */
bool audit_configured(const char **log_r, const char **key_r);

/*
 * Record one event from a short-lived command (sekisho check/apply/...):
 * opens the configured log (no anchor at open), appends, closes.  Silent
 * and 0 when no audit log is configured; -1 when recording failed (logged
 * with log_error -- the caller's work is not undone).
 */
int audit_event(const char *type, const char *data_json);

/* The head an operator copied elsewhere: `sekisho audit head` prints it. */
struct audit_head_ref {
	uint64_t seq;
	char hmac[AUDIT_HEX_LEN + 1];
};

/* Parse "SEQ:HMAC"; false when malformed. */
bool audit_head_parse(const char *s, struct audit_head_ref *h);

/*
 * Verify the whole log at path (name is what reports call it): every
 * record's HMAC, seq, prev and anchors; with head, that the record of
 * that seq exists and carries that hmac.  Reports the first problem on
 * report as "NAME:LINE: record seq N: what"; on success a summary line.
 * Returns 0 intact, 1 broken, 2 could not read.
 */
int audit_verify(const char *path, const char *name, const unsigned char *key, size_t keylen,
                 const struct audit_head_ref *head, struct strbuf *report);

/*
 * Helpers for summarising JSON written by the project (the verdict): the
 * value of top-level member key of the object json[0..len) -> *val_r,
 * *vlen_r; false when absent or not parsable.  audit_json_count: elements
 * of an array value (-1 when it is not an array).
 */
bool audit_json_member(const char *json, size_t len, const char *key, const char **val_r,
                       size_t *vlen_r);
long audit_json_count(const char *val, size_t len);

#endif

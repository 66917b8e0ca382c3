/*
 * quarantine - the durable, content-addressed store of original messages.
 *
 * An entry is dir/ab/cdef.../ (the SHA-256 of the raw bytes in lower-case
 * hex, split after two digits) holding message.eml (the original, never
 * rewritten), meta.json (the first metadata record), meta-<time>-<n>.json
 * (one more record per later store of the same bytes) and releases.jsonl
 * (one line per release).  Directories are 0700, files 0600.  When
 * quarantine_store returns 0 the message and its record are on disk
 * (file, directory and created parents fsync'd).  See docs/quarantine.md.
 */
#ifndef SEKISHO_QUARANTINE_H
#define SEKISHO_QUARANTINE_H

#include "strbuf.h"

#include <stddef.h>
#include <time.h>

/* Limits and defaults. */
#define QUARANTINE_RETENTION_DAYS_DEFAULT 365
#define QUARANTINE_ID_LEN 64                              /* hex digits of SHA-256 */
#define QUARANTINE_MAX_MESSAGE_BYTES (256u * 1024 * 1024) /* read back by get */
#define QUARANTINE_MAX_META_BYTES (16u * 1024 * 1024)     /* records of one entry */
#define QUARANTINE_MAX_RECORDS 10000                      /* records per entry */
#define QUARANTINE_STALE_INCOMPLETE_S 3600                /* crash leftovers pruned after */

/* One handle per thread: the handle's temporary-name counter is not locked.
 * Several processes may share a store. */
struct quarantine;

struct quarantine_entry {
	const char *id;        /* QUARANTINE_ID_LEN hex digits */
	size_t size;           /* bytes of message.eml */
	time_t stored;         /* mtime of message.eml: when first stored */
	const char *meta_json; /* JSON array of the entry's metadata records */
};

/* Open (creating with mode 0700 when absent, one level) the store at dir.
 * Returns NULL with the reason appended to err when dir cannot be created
 * or opened as a directory. */
struct quarantine *quarantine_open(const char *dir, struct strbuf *err);
/* Close the store; q may be NULL. */
void quarantine_close(struct quarantine *q);

/* Store raw (len bytes) with meta_json (a JSON value given by the caller:
 * time, envelope, headers summary, verdict, removed parts; NULL = null),
 * written as {"id":..,"time":<unix s>,"size":..,"meta":<meta_json>}.
 * Writes the id (QUARANTINE_ID_LEN hex digits and NUL) into id_r.  The same
 * bytes stored again keep message.eml and add a record.  Returns 0 once
 * everything is durable; -1 with the reason appended to err on any failure
 * (nothing partial is ever visible under the final names). */
int quarantine_store(struct quarantine *q, const void *raw, size_t len, const char *meta_json,
                     char id_r[QUARANTINE_ID_LEN + 1], struct strbuf *err);

/* Call fn for each complete entry (one with message.eml) in no set order;
 * stop when fn returns non-zero.  Returns fn's non-zero value, 0 when all
 * were visited, or -1 with the reason in err when the store cannot be
 * read. */
int quarantine_list(struct quarantine *q, int (*fn)(void *ctx, const struct quarantine_entry *e),
                    void *ctx, struct strbuf *err);

/* Read back entry id: the message into msg_r (may be NULL) and the
 * metadata records as a JSON array into meta_r (may be NULL).  Fails (-1,
 * reason in err) on a malformed id, a missing entry, a read error, a limit
 * exceeded, or a message whose bytes no longer match its id. */
int quarantine_get(struct quarantine *q, const char *id, struct strbuf *msg_r,
                   struct strbuf *meta_r, struct strbuf *err);

/* Remove every entry first stored more than days days before now, and any
 * entry directory a crash left without message.eml once untouched for
 * QUARANTINE_STALE_INCOMPLETE_S.  Returns the number of complete entries
 * removed, or -1 with the reason in err (entries removed before
 * the failure stay removed). */
long quarantine_prune(struct quarantine *q, unsigned days, time_t now, struct strbuf *err);

/* Append {"time","who","what","reason"} as one line to the entry's
 * releases.jsonl and fsync it.  who and reason must be non-empty.  Returns
 * 0, or -1 with the reason in err (unknown id, write failure). */
int quarantine_note_release(struct quarantine *q, const char *id, const char *who, const char *what,
                            const char *reason, struct strbuf *err);

#endif

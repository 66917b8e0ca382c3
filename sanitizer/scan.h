/*
 * scan - virus scanning with libclamav.
 *
 * One engine per process, loaded once (signature databases from a
 * directory: freshclam's in production, a small database built by sigtool
 * in the tests).  Scans memory buffers; a buffer libclamav cannot scan, or
 * an engine error, is SCAN_ERROR, never "clean".  A directory without
 * signatures is an error at scan_open, never an engine that finds nothing.
 *
 * THREADS: scan_open and scan_close must not run concurrently with anything
 * else on the same engine.  Once open, scan_buffer may be called from several
 * threads at once on one engine (libclamav scans share the compiled engine
 * read-only; our per-call state is on the stack or thread-local).
 */
#ifndef SEKISHO_SCAN_H
#define SEKISHO_SCAN_H

#include "strbuf.h"

#include <stdbool.h>
#include <stddef.h>

#define SCAN_DEFAULT_DB_DIR "/var/lib/clamav"
/* Largest buffer scan_buffer accepts; larger ones are SCAN_ERROR, never
 * skipped (above a 64 MiB message with its headers and line ends). */
#define SCAN_MAX_BUFFER_BYTES (80u * 1024 * 1024)

enum scan_result {
	SCAN_CLEAN,
	SCAN_INFECTED,
	SCAN_ERROR, /* unscannable or engine failure */
};

struct scan_engine;

/* Initialise libclamav and load every database in dbdir (NULL = default).
 * Returns NULL and a reason in err when the directory holds no usable
 * signatures or the engine fails to compile. */
struct scan_engine *scan_open(const char *dbdir, struct strbuf *err);
/* Scan len bytes.  On SCAN_INFECTED *virname_r points at the signature name
 * (valid until the next call); on SCAN_ERROR at a reason (valid until the
 * calling thread's next call).  virname_r may be NULL. */
enum scan_result scan_buffer(struct scan_engine *e, const void *buf, size_t len,
                             const char **virname_r);
/* libclamav's cache of clean buffers (on after scan_open: a buffer whose
 * MD5 was found clean is not scanned again).  Benchmarks turn it off so that
 * repeated passes over one corpus measure scanning.  Not while scans run. */
void scan_set_cache(struct scan_engine *e, bool on);
/* Number of signatures loaded. */
unsigned scan_signatures(const struct scan_engine *e);
void scan_close(struct scan_engine *e);

#endif

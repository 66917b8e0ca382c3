/*
 * relay_stats - the counters of sekisho-relayd and the files that publish
 * them: a JSON stats file (stats_file, read by `sekisho status`) and an
 * optional Prometheus textfile (metrics_file).  See docs/status.md.
 *
 * The counters are process-wide atomics: the loop thread counts
 * connections and bytes, the delivery threads count transactions.  Only the
 * loop thread writes the files (relay_stats_tick, relay_stats_write).
 */
#ifndef SEKISHO_RELAY_STATS_H
#define SEKISHO_RELAY_STATS_H

#include "strbuf.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#define RELAY_STATS_INTERVAL_S 5 /* the files are rewritten this often */

/* Transaction outcomes, as in the "transaction:" log line of relay_deliver.c. */
enum relay_stats_outcome {
	RELAY_OUTCOME_DELIVERED,
	RELAY_OUTCOME_DELIVERED_NOTICE,
	RELAY_OUTCOME_REJECTED,
	RELAY_OUTCOME_DEFERRED,
	RELAY_OUTCOME_N,
};

struct relay_stats {
	atomic_uint_fast64_t accepted; /* sessions greeted */
	atomic_uint_fast64_t refused;  /* connections refused (limits, not a mail flow) */
	atomic_uint_fast64_t outcomes[RELAY_OUTCOME_N];
	atomic_uint_fast64_t sanitiser_errors;    /* also counted as deferred */
	atomic_uint_fast64_t quarantine_failures; /* also counted as deferred */
	atomic_uint_fast64_t bytes_in;            /* bytes read from clients */
};

extern struct relay_stats relay_stats;

static inline void relay_stats_add(atomic_uint_fast64_t *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

/* The outcome for its log name ("delivered", ...); RELAY_OUTCOME_N when unknown. */
enum relay_stats_outcome relay_stats_outcome(const char *name);
/* Count one transaction by its log name. */
void relay_stats_transaction(const char *outcome);

/* The JSON document / the Prometheus text of the counters now, with the
 * active sessions gauge, the start time and now.  Appended to out. */
void relay_stats_json(struct strbuf *out, unsigned sessions_active, time_t started, time_t now);
void relay_stats_prometheus(struct strbuf *out, unsigned sessions_active, time_t started,
                            time_t now);

/* Write both files (metrics_file may be NULL) atomically: a temporary file
 * in the same directory, then rename.  A failure is logged once until the
 * next success.  Returns false when a file could not be written. */
bool relay_stats_write(const char *stats_file, const char *metrics_file, unsigned sessions_active,
                       time_t started);
/* Write when RELAY_STATS_INTERVAL_S passed since the last write (*last). */
void relay_stats_tick(const char *stats_file, const char *metrics_file, unsigned sessions_active,
                      time_t started, time_t now, time_t *last);

#endif

/*
 * relay_stats - counters of sekisho-relayd, published as a JSON stats file
 * and a Prometheus textfile.
 *
 * SUMMARY
 *	The counters are incremented where the events happen (relay_loop.c,
 *	relay_session.c, relay_deliver.c) with relaxed atomics; the loop
 *	thread writes the files every RELAY_STATS_INTERVAL_S and at exit.
 *
 * SECURITY
 *	Writes only the two configured paths and their ".tmp" siblings,
 *	opened with O_NOFOLLOW; the content is numbers only (no client bytes).
 *
 * DIAGNOSTICS
 *	A file that cannot be written is logged once (warning) until a write
 *	succeeds again; the relay goes on.
 */
#include "relay_stats.h"

#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct relay_stats relay_stats;

static const char *const relay_stats_names[RELAY_OUTCOME_N] = {
    [RELAY_OUTCOME_DELIVERED] = "delivered",
    [RELAY_OUTCOME_DELIVERED_NOTICE] = "delivered-notice",
    [RELAY_OUTCOME_REJECTED] = "rejected",
    [RELAY_OUTCOME_DEFERRED] = "deferred",
};

static bool relay_stats_failed; /* the last write failed (logged) */

enum relay_stats_outcome relay_stats_outcome(const char *name)
{
	for (int i = 0; i < RELAY_OUTCOME_N; i++)
		if (strcmp(name, relay_stats_names[i]) == 0)
			return (enum relay_stats_outcome)i;
	return RELAY_OUTCOME_N;
}

void relay_stats_transaction(const char *outcome)
{
	enum relay_stats_outcome o = relay_stats_outcome(outcome);

	if (o != RELAY_OUTCOME_N)
		relay_stats_add(&relay_stats.outcomes[o], 1);
}

static uint64_t relay_stats_get(atomic_uint_fast64_t *c)
{
	return (uint64_t)atomic_load_explicit(c, memory_order_relaxed);
}

void relay_stats_json(struct strbuf *out, unsigned sessions_active, time_t started, time_t now)
{
	strbuf_printf(out,
	              "{\"version\":1,\"pid\":%ld,\"started\":%lld,\"updated\":%lld,"
	              "\"connections\":{\"accepted\":%" PRIu64 ",\"refused\":%" PRIu64 "},"
	              "\"sessions\":{\"active\":%u},\"transactions\":{",
	              (long)getpid(), (long long)started, (long long)now,
	              relay_stats_get(&relay_stats.accepted), relay_stats_get(&relay_stats.refused),
	              sessions_active);
	for (int i = 0; i < RELAY_OUTCOME_N; i++)
		strbuf_printf(out, "%s\"%s\":%" PRIu64, i ? "," : "", relay_stats_names[i],
		              relay_stats_get(&relay_stats.outcomes[i]));
	strbuf_printf(out,
	              "},\"errors\":{\"sanitiser\":%" PRIu64 ",\"quarantine\":%" PRIu64 "},"
	              "\"bytes_in\":%" PRIu64 "}\n",
	              relay_stats_get(&relay_stats.sanitiser_errors),
	              relay_stats_get(&relay_stats.quarantine_failures),
	              relay_stats_get(&relay_stats.bytes_in));
}

static void relay_stats_prom_head(struct strbuf *out, const char *name, const char *type,
                                  const char *help)
{
	strbuf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void relay_stats_prometheus(struct strbuf *out, unsigned sessions_active, time_t started,
                            time_t now)
{
	relay_stats_prom_head(out, "sekisho_relay_connections_total", "counter",
	                      "Client connections of sekisho-relayd by result.");
	strbuf_printf(out, "sekisho_relay_connections_total{result=\"accepted\"} %" PRIu64 "\n",
	              relay_stats_get(&relay_stats.accepted));
	strbuf_printf(out, "sekisho_relay_connections_total{result=\"refused\"} %" PRIu64 "\n",
	              relay_stats_get(&relay_stats.refused));
	relay_stats_prom_head(out, "sekisho_relay_sessions_active", "gauge",
	                      "Client sessions open now.");
	strbuf_printf(out, "sekisho_relay_sessions_active %u\n", sessions_active);
	relay_stats_prom_head(out, "sekisho_relay_transactions_total", "counter",
	                      "Mail transactions by outcome.");
	for (int i = 0; i < RELAY_OUTCOME_N; i++)
		strbuf_printf(out, "sekisho_relay_transactions_total{outcome=\"%s\"} %" PRIu64 "\n",
		              relay_stats_names[i], relay_stats_get(&relay_stats.outcomes[i]));
	relay_stats_prom_head(out, "sekisho_relay_sanitiser_errors_total", "counter",
	                      "Messages the sanitiser failed on (deferred).");
	strbuf_printf(out, "sekisho_relay_sanitiser_errors_total %" PRIu64 "\n",
	              relay_stats_get(&relay_stats.sanitiser_errors));
	relay_stats_prom_head(out, "sekisho_relay_quarantine_failures_total", "counter",
	                      "Messages that could not be quarantined (deferred).");
	strbuf_printf(out, "sekisho_relay_quarantine_failures_total %" PRIu64 "\n",
	              relay_stats_get(&relay_stats.quarantine_failures));
	relay_stats_prom_head(out, "sekisho_relay_bytes_in_total", "counter",
	                      "Bytes read from clients.");
	strbuf_printf(out, "sekisho_relay_bytes_in_total %" PRIu64 "\n",
	              relay_stats_get(&relay_stats.bytes_in));
	relay_stats_prom_head(out, "sekisho_relay_start_time_seconds", "gauge",
	                      "Start time of sekisho-relayd (Unix time).");
	strbuf_printf(out, "sekisho_relay_start_time_seconds %lld\n", (long long)started);
	relay_stats_prom_head(out, "sekisho_relay_stats_updated_seconds", "gauge",
	                      "When these figures were written (Unix time).");
	strbuf_printf(out, "sekisho_relay_stats_updated_seconds %lld\n", (long long)now);
}

/* path.tmp written, then renamed over path.  false with errno set. */
static bool relay_stats_put(const char *path, const struct strbuf *b)
{
	char tmp[4096];
	int n = snprintf(tmp, sizeof(tmp), "%s.tmp", path);

	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return false;
	}
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return false;
	(void)fchmod(fd, 0644); /* whatever the umask: node_exporter reads it */
	size_t off = 0;
	while (off < b->len) {
		ssize_t w = write(fd, b->s + off, b->len - off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			close(fd);
			unlink(tmp);
			errno = e;
			return false;
		}
		off += (size_t)w;
	}
	if (close(fd) != 0 || rename(tmp, path) != 0) {
		int e = errno;
		unlink(tmp);
		errno = e;
		return false;
	}
	return true;
}

bool relay_stats_write(const char *stats_file, const char *metrics_file, unsigned sessions_active,
                       time_t started)
{
	time_t now = time(NULL);
	struct strbuf b;
	bool ok = true;
	const char *bad = NULL;
	int e = 0;

	strbuf_init(&b, 0);
	if (stats_file) {
		relay_stats_json(&b, sessions_active, started, now);
		if (!relay_stats_put(stats_file, &b)) {
			ok = false;
			bad = stats_file;
			e = errno;
		}
	}
	if (metrics_file) {
		strbuf_reset(&b);
		relay_stats_prometheus(&b, sessions_active, started, now);
		if (!relay_stats_put(metrics_file, &b) && ok) {
			ok = false;
			bad = metrics_file;
			e = errno;
		}
	}
	strbuf_free(&b);
	if (!ok && !relay_stats_failed)
		log_warn("statistics: cannot write %s: %s (further failures are not logged)", bad,
		         strerror(e));
	relay_stats_failed = !ok;
	return ok;
}

void relay_stats_tick(const char *stats_file, const char *metrics_file, unsigned sessions_active,
                      time_t started, time_t now, time_t *last)
{
	if (*last && now - *last < RELAY_STATS_INTERVAL_S && now >= *last)
		return;
	*last = now;
	relay_stats_write(stats_file, metrics_file, sessions_active, started);
}

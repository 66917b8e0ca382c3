/*
 * monitor - denied traffic, watched: reads the gateway's nflog group with
 * libpcap, attributes each logged packet to its segment pair and rule (the
 * "sekisho deny <what> " prefix and the interfaces), aggregates packets
 * into flows (pair, protocol, source, destination, destination port) and
 * emits JSON alert lines: one when a flow is first seen, an update every
 * MONITOR_UPDATE_S while it goes on.  Alert lines are rate limited (token
 * bucket, MONITOR_ALERTS_PER_S; a "suppressed" line says how many were
 * held back).  Every packet also goes to the pcap evidence (evidence.h).
 *
 * Reconcile: every MONITOR_RECONCILE_S, on request (SIGUSR1 in gatewayd) and
 * at exit, the kernel's deny counters of table inet sekisho are read and
 * logged beside what the monitor saw per chain, together with libpcap's
 * drop counters, and the state file (JSON) is rewritten.
 *
 * TRUST: logged packets are hostile bytes (parsed by nflog.c only).  Needs
 * CAP_NET_ADMIN (nflog binding, counters) in the box's namespace.
 * FAILURE: monitor_open() returns NULL with a logged error when the nflog
 * group cannot be opened; later failures (alert file, evidence, state file)
 * are logged and the monitor goes on.
 */
#ifndef SEKISHO_MONITOR_H
#define SEKISHO_MONITOR_H

#include "evidence.h"

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#define MONITOR_DEFAULT_GROUP 5
#define MONITOR_DEFAULT_ALERTS "/var/log/sekisho/alerts.jsonl"
#define MONITOR_DEFAULT_STATE "/run/sekisho/monitor.json"
#define MONITOR_UPDATE_S 10     /* an ongoing flow's update line */
#define MONITOR_FLOW_IDLE_S 120 /* a flow quiet this long is forgotten */
#define MONITOR_RECONCILE_S 60
#define MONITOR_ALERTS_PER_S 100 /* token bucket rate and burst */
#define MONITOR_MAX_FLOWS 16384
#define MONITOR_PCAP_BUFFER_BYTES (16 << 20) /* the nflog socket's receive buffer */

struct monitor_opts {
	unsigned group;                /* nflog group */
	const char *alerts;            /* alert file (JSON lines), NULL = none */
	const char *state_file;        /* NULL = none */
	struct evidence_opts evidence; /* evidence.dir NULL = no evidence */
};

struct monitor;

/*
 * Open nflog:group (immediate mode, snaplen 65535, a generous buffer), the
 * alert file and the evidence directory.  Returns NULL after logging why
 * when the group cannot be opened.
 */
struct monitor *monitor_open(const struct monitor_opts *o);

/* The descriptor to poll for input. */
int monitor_fd(struct monitor *m);

/* Read what is waiting (never blocks). */
void monitor_read(struct monitor *m);

/*
 * Periodic work (call about once a second): flow updates and expiry, the
 * alert budget, evidence flush and rotation by age, pcap drop counters,
 * the reconcile every MONITOR_RECONCILE_S.
 */
void monitor_tick(struct monitor *m, time_t now);

/* Read what is waiting, then log counters beside what was seen and write the state file. */
void monitor_reconcile(struct monitor *m, const char *why);

/*
 * After the ruleset was replaced (counters start from zero): read what is
 * waiting, then take the kernel counters and the monitor's per-chain counts
 * as the new base of the comparison.
 */
void monitor_rebase(struct monitor *m);

/* Reconcile ("exit"), then close everything (NULL is fine). */
void monitor_close(struct monitor *m);

#endif

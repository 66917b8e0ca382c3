/*
 * cmd_status - the parts of `sekisho status` beyond the ruleset (which
 * cmd_ruleset.c prints): the relay's statistics file, the monitor's recent
 * alerts and the Prometheus text exposition.  See docs/status.md.
 */
#ifndef SEKISHO_CMD_STATUS_H
#define SEKISHO_CMD_STATUS_H

#include "netlink.h"
#include "state.h"
#include "strbuf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define STATUS_DEFAULT_RELAY_STATS "/run/sekisho/relayd.json"
#define STATUS_DEFAULT_ALERTS "/var/log/sekisho/alerts.jsonl"
#define STATUS_ALERTS_SHOWN 10             /* last alert lines shown */
#define STATUS_FILE_MAX_BYTES (64u * 1024) /* read at most this much of a file's end */
#define STATUS_FIELD_MAX 200               /* bytes of one shown value */

/* Append s (len bytes) for a terminal: printable ASCII and valid UTF-8
 * pass, except C0/C1 controls and DEL, which (like invalid bytes) become
 * \xNN; a backslash becomes \\. */
void status_escape(struct strbuf *out, const char *s, size_t len);

/* One alert line (untrusted bytes) as shown: "key=value ..." of the known
 * fields of a JSON object, else "(not JSON) " and the line; every value
 * escaped with status_escape and cut at STATUS_FIELD_MAX bytes.  Appends to
 * out (no newline). */
void status_alert_format(struct strbuf *out, const char *line, size_t len);

/* Print the relay section from the JSON stats file at path.  explicit: the
 * operator named the file (a missing one is then reported, else silent).
 * Returns false when the file exists but cannot be read or parsed. */
bool status_relay_print(FILE *f, const char *path, bool explicit);

/* Print the key fields of the last STATUS_ALERTS_SHOWN lines of the alert
 * file (JSON lines); lines that are not JSON objects are shown escaped as
 * they are.  Silent when the file does not exist and !explicit. */
bool status_alerts_print(FILE *f, const char *path, bool explicit);

/* The gateway's figures as Prometheus text: per segment pair pass/deny
 * packets and bytes, the other denials, the running version (v NULL: none
 * recorded / no table). */
void status_prometheus(struct strbuf *out, const struct netlink_running *run,
                       const struct state_version *v, time_t now);

/* Write b to path atomically (path.tmp, fsync, rename; mode 0644).
 * Returns false with errno set. */
bool status_write_atomic(const char *path, const struct strbuf *b);

#endif

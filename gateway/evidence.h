/*
 * evidence - denied packets kept as pcap files (LINKTYPE_RAW: the IP
 * packet as logged), for tshark / Wireshark.
 *
 * Files are DIR/evidence-YYYYmmddTHHMMSSZ-NNNNNN.pcap, opened when the
 * first packet comes, closed when they reach max_file_bytes or are
 * max_age_s old; after each close the oldest files are removed until the
 * directory's evidence files fit in max_total_bytes.
 *
 * TRUST: the packets are hostile bytes but are only copied.  The directory
 * is the operator's.
 * FAILURE: a file that cannot be written is logged once and its packets are
 * counted as lost (evidence_stats.lost); the monitor keeps running.
 */
#ifndef SEKISHO_EVIDENCE_H
#define SEKISHO_EVIDENCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/time.h>

#define EVIDENCE_DEFAULT_DIR "/var/lib/sekisho/evidence"
#define EVIDENCE_DEFAULT_FILE_BYTES (64ULL << 20)
#define EVIDENCE_DEFAULT_TOTAL_BYTES (1ULL << 30)
#define EVIDENCE_DEFAULT_AGE_S 3600
#define EVIDENCE_SNAPLEN 65535

struct evidence_opts {
	const char *dir;
	uint64_t max_file_bytes, max_total_bytes;
	unsigned max_age_s;
};

struct evidence_stats {
	uint64_t packets, lost; /* written / not written */
	uint64_t files_opened, files_removed;
};

struct evidence;

/*
 * Create the writer (the directory is made if missing, mode 0750) and prune
 * to the total cap.  Returns NULL with a logged error when the directory
 * cannot be used.
 */
struct evidence *evidence_open(const struct evidence_opts *o);

/* Append one IP packet (len bytes, of orig_len on the wire) stamped ts. */
void evidence_write(struct evidence *e, const struct timeval *ts, const uint8_t *pkt, size_t len,
                    size_t orig_len);

/* Flush the current file; close it when it is older than max_age_s. */
void evidence_tick(struct evidence *e, time_t now);

/* The counters, and the number and total size of the evidence files now. */
void evidence_stats(struct evidence *e, struct evidence_stats *s_r, size_t *files_r,
                    uint64_t *bytes_r);

/* Flush, close and free (NULL is fine). */
void evidence_close(struct evidence *e);

#endif

/*
 * evidence - denied packets as rotated pcap files (see evidence.h).
 *
 * TRUST: packets are copied, never interpreted.  File names are ours
 * (time and a sequence number); only names of that shape are removed.
 * FAILURE: logged once per file; packets that could not be written are
 * counted as lost.
 */
#include "evidence.h"

#include "log.h"
#include "xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define EVIDENCE_NAME_PREFIX "evidence-"
#define EVIDENCE_NAME_SUFFIX ".pcap"
#define EVIDENCE_FILE_HDR_BYTES 24 /* pcap file header */
#define EVIDENCE_REC_HDR_BYTES 16  /* per packet */

struct evidence {
	char *dir;
	uint64_t max_file_bytes, max_total_bytes;
	unsigned max_age_s;
	pcap_t *dead;
	pcap_dumper_t *d;
	char cur[PATH_MAX]; /* the open file's name ("" when none) */
	time_t opened;
	uint64_t size; /* of the open file, counted here: ftell costs a syscall per packet */
	unsigned seq;
	bool failing; /* the last open failed: logged once until one succeeds */
	struct evidence_stats st;
};

static int evidence_is_ours(const struct dirent *de)
{
	size_t n = strlen(de->d_name);
	size_t np = sizeof(EVIDENCE_NAME_PREFIX) - 1, ns = sizeof(EVIDENCE_NAME_SUFFIX) - 1;

	return n > np + ns && strncmp(de->d_name, EVIDENCE_NAME_PREFIX, np) == 0 &&
	       strcmp(de->d_name + n - ns, EVIDENCE_NAME_SUFFIX) == 0;
}

/*
 * Walk the evidence files oldest first (the names sort by time); with prune,
 * remove the oldest until the total fits the cap (never the open file).
 */
static void evidence_scan(struct evidence *e, bool prune, size_t *files_r, uint64_t *bytes_r)
{
	struct dirent **list = NULL;
	uint64_t *sizes, total = 0;
	size_t files = 0;
	int n = scandir(e->dir, &list, evidence_is_ours, alphasort);

	if (n < 0) {
		*files_r = 0;
		*bytes_r = 0;
		return;
	}
	sizes = xcalloc((size_t)n + 1, sizeof(*sizes));
	for (int i = 0; i < n; i++) {
		char path[PATH_MAX];
		struct stat sb;

		if (snprintf(path, sizeof(path), "%s/%s", e->dir, list[i]->d_name) >=
		        (int)sizeof(path) ||
		    stat(path, &sb) < 0 || !S_ISREG(sb.st_mode)) {
			sizes[i] = UINT64_MAX; /* not counted, never removed */
			continue;
		}
		sizes[i] = (uint64_t)sb.st_size;
		total += sizes[i];
		files++;
	}
	for (int i = 0; prune && i < n && total > e->max_total_bytes; i++) {
		char path[PATH_MAX];

		if (sizes[i] == UINT64_MAX || strcmp(list[i]->d_name, e->cur) == 0)
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", e->dir, list[i]->d_name) >=
		    (int)sizeof(path))
			continue;
		if (unlink(path) < 0) {
			log_warn_errno("evidence: cannot remove %s", path);
			continue;
		}
		log_info(
		    "evidence: removed %s (%llu bytes): the evidence files exceeded %llu bytes",
		    path, (unsigned long long)sizes[i], (unsigned long long)e->max_total_bytes);
		total -= sizes[i];
		files--;
		e->st.files_removed++;
	}
	for (int i = 0; i < n; i++)
		free(list[i]);
	free(list);
	free(sizes);
	*files_r = files;
	*bytes_r = total;
}

static void evidence_prune(struct evidence *e)
{
	size_t files;
	uint64_t bytes;

	evidence_scan(e, true, &files, &bytes);
}

static void evidence_close_current(struct evidence *e, const char *why)
{
	if (!e->d)
		return;
	log_info("evidence: closed %s/%s (%llu bytes, %s)", e->dir, e->cur,
	         (unsigned long long)e->size, why);
	pcap_dump_close(e->d);
	e->d = NULL;
	e->cur[0] = '\0';
	evidence_prune(e);
}

static bool evidence_open_file(struct evidence *e)
{
	time_t now = time(NULL);
	struct tm tm;
	char stamp[32];

	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	for (int tries = 0; tries < 1000; tries++) {
		char path[PATH_MAX];
		FILE *f;
		int n = snprintf(e->cur, sizeof(e->cur),
		                 EVIDENCE_NAME_PREFIX "%s-%06u" EVIDENCE_NAME_SUFFIX, stamp,
		                 e->seq++ % 1000000);

		if (n >= (int)sizeof(e->cur) ||
		    snprintf(path, sizeof(path), "%s/%s", e->dir, e->cur) >= (int)sizeof(path))
			break;
		f = fopen(path, "wbxe");
		if (!f && errno == EEXIST)
			continue;
		if (!f) {
			if (!e->failing)
				log_error_errno("evidence: cannot create %s", path);
			e->failing = true;
			break;
		}
		e->d = pcap_dump_fopen(e->dead, f);
		if (!e->d) {
			if (!e->failing)
				log_error("evidence: %s: %s", path, pcap_geterr(e->dead));
			e->failing = true;
			fclose(f);
			unlink(path);
			break;
		}
		e->failing = false;
		e->opened = now;
		e->size = EVIDENCE_FILE_HDR_BYTES;
		e->st.files_opened++;
		return true;
	}
	e->cur[0] = '\0';
	return false;
}

struct evidence *evidence_open(const struct evidence_opts *o)
{
	struct evidence *e;

	if (mkdir(o->dir, 0750) < 0 && errno != EEXIST) {
		log_error_errno("evidence: cannot create %s", o->dir);
		return NULL;
	}
	if (access(o->dir, W_OK | X_OK) < 0) {
		log_error_errno("evidence: cannot write to %s", o->dir);
		return NULL;
	}
	e = xcalloc(1, sizeof(*e));
	e->dir = xstrdup(o->dir);
	e->max_file_bytes = o->max_file_bytes ? o->max_file_bytes : EVIDENCE_DEFAULT_FILE_BYTES;
	e->max_total_bytes = o->max_total_bytes ? o->max_total_bytes : EVIDENCE_DEFAULT_TOTAL_BYTES;
	e->max_age_s = o->max_age_s ? o->max_age_s : EVIDENCE_DEFAULT_AGE_S;
	e->dead = pcap_open_dead(DLT_RAW, EVIDENCE_SNAPLEN);
	if (!e->dead)
		log_fatal("evidence: pcap_open_dead failed");
	evidence_prune(e);
	return e;
}

void evidence_write(struct evidence *e, const struct timeval *ts, const uint8_t *pkt, size_t len,
                    size_t orig_len)
{
	struct pcap_pkthdr h;

	if (!e->d && !evidence_open_file(e)) {
		e->st.lost++;
		return;
	}
	if (len > EVIDENCE_SNAPLEN)
		len = EVIDENCE_SNAPLEN;
	h.ts = *ts;
	h.caplen = (bpf_u_int32)len;
	h.len = (bpf_u_int32)(orig_len > len ? orig_len : len);
	pcap_dump((u_char *)e->d, &h, pkt);
	e->st.packets++;
	e->size += EVIDENCE_REC_HDR_BYTES + len;
	if (e->size >= e->max_file_bytes)
		evidence_close_current(e, "size limit");
}

void evidence_tick(struct evidence *e, time_t now)
{
	if (!e || !e->d)
		return;
	if (pcap_dump_flush(e->d) < 0 && !e->failing) {
		log_error("evidence: cannot write %s/%s", e->dir, e->cur);
		e->failing = true;
	}
	if (now - e->opened >= (time_t)e->max_age_s)
		evidence_close_current(e, "age limit");
}

void evidence_stats(struct evidence *e, struct evidence_stats *s_r, size_t *files_r,
                    uint64_t *bytes_r)
{
	*s_r = e->st;
	if (e->d)
		pcap_dump_flush(e->d);
	evidence_scan(e, false, files_r, bytes_r);
}

void evidence_close(struct evidence *e)
{
	if (!e)
		return;
	if (e->d) {
		pcap_dump_close(e->d);
		e->d = NULL;
	}
	pcap_close(e->dead);
	free(e->dir);
	free(e);
}

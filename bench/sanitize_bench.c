/*
 * sanitize_bench - in-process throughput of the 無害化 engine beside its
 * floor, over the same messages (bench/sanitize_bench.sh drives it).
 *
 *   sanitize_bench [-c] [-d DBDIR] [-t SECONDS] [-m MODE]... FILE...
 *
 * Modes (default: all that were built):
 *   engine      sanitize_message() with the default policy and a ClamAV
 *               engine loaded from DBDIR (built only when sanitizer/sanitize.c
 *               exists: SANITIZE_BENCH_ENGINE)
 *   gmime       the floor: GMime parse of the message (zero-copy memory
 *               stream) and transfer-decoding of every leaf part into memory
 *   gmime+scan  reference: the floor plus scan_buffer() of the raw message
 *               and of every decoded leaf (what scanning alone costs)
 * libclamav's cache of clean buffers is turned off (every pass scans the
 * same messages again; the cache would answer from the second pass on) unless
 * -c keeps it.  Files are read into memory first; a class is the file name up to its
 * first '-' (jp-0001.eml: class jp).  Each mode runs one untimed pass, then
 * whole passes over all files until SECONDS (default 3) have gone by; every
 * message is timed on its own and added to its class.  Prints per mode and
 * class:
 *   RESULT MODE CLASS MSGS BYTES SECONDS MB/S MSGS/S
 * (MSGS and BYTES summed over the passes; MB = 10^6 bytes) and a line
 * "RESULT MODE all ..." over the mix.  Exit 2 on a usage, read or engine
 * error; a message the engine answers SANITIZE_ERROR for is counted and
 * reported, not fatal.  Trusts its files no more than the engine does.
 */
#include "scan.h"
#include "strbuf.h"
#ifdef SANITIZE_BENCH_ENGINE
#include "sanitize.h"
#endif

#include <gmime/gmime.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SANITIZE_BENCH_MAX_FILE_BYTES (80u * 1024 * 1024)
#define SANITIZE_BENCH_MAX_CLASSES 16

struct sanitize_bench_msg {
	GByteArray *raw; /* the file; GMime streams read it without copying */
	unsigned cls;
};

struct sanitize_bench_class {
	char name[32];
	unsigned long long msgs, bytes;
	double seconds;
};

struct sanitize_bench {
	struct sanitize_bench_msg *msgs;
	size_t n;
	char cls_names[SANITIZE_BENCH_MAX_CLASSES][32];
	unsigned ncls;
	struct scan_engine *scan;
	unsigned long long errors;
	unsigned long long infected;
#ifdef SANITIZE_BENCH_ENGINE
	struct sanitize_policy pol;
#endif
};

static double sanitize_bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static unsigned sanitize_bench_class(struct sanitize_bench *b, const char *path)
{
	const char *base = strrchr(path, '/');
	char name[32];
	size_t len;

	base = base != NULL ? base + 1 : path;
	len = strcspn(base, "-.");
	if (len == 0 || len >= sizeof(name))
		len = strlen(base) < sizeof(name) - 1 ? strlen(base) : sizeof(name) - 1;
	memcpy(name, base, len);
	name[len] = '\0';
	for (unsigned i = 0; i < b->ncls; i++)
		if (strcmp(b->cls_names[i], name) == 0)
			return i;
	if (b->ncls == SANITIZE_BENCH_MAX_CLASSES)
		return b->ncls - 1; /* the last class takes the rest */
	memcpy(b->cls_names[b->ncls], name, len + 1);
	return b->ncls++;
}

/* The floor: every leaf transfer-decoded into memory. */
struct sanitize_bench_walk {
	struct sanitize_bench *b;
	unsigned long long decoded;
	bool scan;
	bool failed;
};

static void sanitize_bench_scan(struct sanitize_bench *b, const void *p, size_t len)
{
	const char *name = NULL;

	switch (scan_buffer(b->scan, p, len, &name)) {
	case SCAN_CLEAN:
		break;
	case SCAN_INFECTED:
		b->infected++;
		break;
	case SCAN_ERROR:
		b->errors++;
		break;
	}
}

static void sanitize_bench_leaf(GMimeObject *parent, GMimeObject *part, gpointer data)
{
	struct sanitize_bench_walk *w = data;
	GMimeDataWrapper *content;
	GMimeStream *mem;
	GByteArray *bytes;

	(void)parent;
	if (!GMIME_IS_PART(part))
		return;
	content = g_mime_part_get_content(GMIME_PART(part));
	if (content == NULL)
		return;
	mem = g_mime_stream_mem_new();
	if (g_mime_data_wrapper_write_to_stream(content, mem) < 0)
		w->failed = true;
	bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
	w->decoded += bytes->len;
	if (w->scan)
		sanitize_bench_scan(w->b, bytes->data, bytes->len);
	g_object_unref(mem);
}

static bool sanitize_bench_gmime(struct sanitize_bench *b, const struct sanitize_bench_msg *m,
                                 bool scan)
{
	struct sanitize_bench_walk w = {b, 0, scan, false};
	GMimeStream *stream = g_mime_stream_mem_new_with_byte_array(m->raw);
	GMimeParser *parser;
	GMimeMessage *msg;

	g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(stream), FALSE);
	parser = g_mime_parser_new_with_stream(stream);
	g_object_unref(stream);
	msg = g_mime_parser_construct_message(parser, NULL);
	g_object_unref(parser);
	if (msg == NULL)
		return false;
	if (scan)
		sanitize_bench_scan(b, m->raw->data, m->raw->len);
	g_mime_message_foreach(msg, sanitize_bench_leaf, &w);
	g_object_unref(msg);
	return !w.failed;
}

#ifdef SANITIZE_BENCH_ENGINE
static bool sanitize_bench_engine(struct sanitize_bench *b, const struct sanitize_bench_msg *m)
{
	struct sanitize_result res;
	enum sanitize_status st;

	memset(&res, 0, sizeof(res));
	st = sanitize_message(&b->pol, b->scan, (const char *)m->raw->data, m->raw->len, NULL, NULL,
	                      0, &res);
	if (st == SANITIZE_WITHHELD)
		b->infected++;
	sanitize_result_free(&res);
	return st != SANITIZE_ERROR;
}
#endif

static bool sanitize_bench_one(struct sanitize_bench *b, const char *mode,
                               const struct sanitize_bench_msg *m)
{
#ifdef SANITIZE_BENCH_ENGINE
	if (strcmp(mode, "engine") == 0)
		return sanitize_bench_engine(b, m);
#endif
	if (strcmp(mode, "gmime") == 0)
		return sanitize_bench_gmime(b, m, false);
	return sanitize_bench_gmime(b, m, true);
}

static void sanitize_bench_mode(struct sanitize_bench *b, const char *mode, double min_s)
{
	struct sanitize_bench_class cls[SANITIZE_BENCH_MAX_CLASSES];
	struct sanitize_bench_class all = {"all", 0, 0, 0};
	unsigned long long failed = 0;
	double start;

	memset(cls, 0, sizeof(cls));
	for (size_t i = 0; i < b->n; i++) /* warm-up, untimed */
		(void)sanitize_bench_one(b, mode, &b->msgs[i]);
	b->errors = b->infected = 0;
	start = sanitize_bench_now();
	do {
		for (size_t i = 0; i < b->n; i++) {
			const struct sanitize_bench_msg *m = &b->msgs[i];
			double t0 = sanitize_bench_now();
			bool ok = sanitize_bench_one(b, mode, m);
			double dt = sanitize_bench_now() - t0;

			failed += !ok;
			cls[m->cls].msgs++;
			cls[m->cls].bytes += m->raw->len;
			cls[m->cls].seconds += dt;
		}
	} while (sanitize_bench_now() - start < min_s);

	for (unsigned c = 0; c < b->ncls; c++) {
		all.msgs += cls[c].msgs;
		all.bytes += cls[c].bytes;
		all.seconds += cls[c].seconds;
	}
	for (unsigned c = 0; c <= b->ncls; c++) {
		const struct sanitize_bench_class *k = c < b->ncls ? &cls[c] : &all;
		const char *name = c < b->ncls ? b->cls_names[c] : "all";
		double s = k->seconds > 0 ? k->seconds : 1e-9;

		printf("RESULT %s %s %llu %llu %.6f %.2f %.1f\n", mode, name, k->msgs, k->bytes,
		       k->seconds, (double)k->bytes / 1e6 / s, (double)k->msgs / s);
	}
	if (failed != 0 || b->errors != 0)
		printf("NOTE %s: %llu messages failed, %llu scan errors\n", mode, failed,
		       b->errors);
	if (b->infected != 0)
		printf("NOTE %s: %llu infected/withheld verdicts\n", mode, b->infected);
	fflush(stdout);
}

static void sanitize_bench_usage(void)
{
	fprintf(stderr, "usage: sanitize_bench [-c] [-d DBDIR] [-t SECONDS] [-m engine|gmime|"
	                "gmime+scan]... FILE...\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct sanitize_bench b;
	const char *dbdir = NULL;
	const char *modes[4];
	unsigned nmodes = 0;
	double min_s = 3.0;
	bool need_scan = false;
	bool keep_cache = false;
	int opt;

	memset(&b, 0, sizeof(b));
	while ((opt = getopt(argc, argv, "cd:t:m:")) != -1) {
		switch (opt) {
		case 'c':
			keep_cache = true;
			break;
		case 'd':
			dbdir = optarg;
			break;
		case 't':
			min_s = atof(optarg);
			break;
		case 'm':
			if (nmodes == 4)
				sanitize_bench_usage();
			modes[nmodes++] = optarg;
			break;
		default:
			sanitize_bench_usage();
		}
	}
	if (optind >= argc)
		sanitize_bench_usage();
	if (nmodes == 0) {
#ifdef SANITIZE_BENCH_ENGINE
		modes[nmodes++] = "engine";
#else
		printf("NOTE engine: not built (no sanitizer/sanitize.c yet)\n");
#endif
		modes[nmodes++] = "gmime";
		modes[nmodes++] = "gmime+scan";
	}
	for (unsigned i = 0; i < nmodes; i++) {
		bool known = strcmp(modes[i], "gmime") == 0 || strcmp(modes[i], "gmime+scan") == 0;
#ifdef SANITIZE_BENCH_ENGINE
		known = known || strcmp(modes[i], "engine") == 0;
#endif
		if (!known) {
			fprintf(stderr, "sanitize_bench: unknown or unbuilt mode %s\n", modes[i]);
			return 2;
		}
		need_scan = need_scan || strcmp(modes[i], "gmime") != 0;
	}

	g_mime_init();
	b.n = (size_t)(argc - optind);
	b.msgs = calloc(b.n, sizeof(*b.msgs));
	if (b.msgs == NULL)
		return 2;
	for (size_t i = 0; i < b.n; i++) {
		const char *path = argv[optind + (int)i];
		struct strbuf sb;

		strbuf_init(&sb, SANITIZE_BENCH_MAX_FILE_BYTES);
		if (!strbuf_read_file(&sb, path)) {
			perror(path);
			return 2;
		}
		b.msgs[i].raw = g_byte_array_sized_new((guint)sb.len);
		g_byte_array_append(b.msgs[i].raw, (const guint8 *)sb.s, (guint)sb.len);
		b.msgs[i].cls = sanitize_bench_class(&b, path);
		strbuf_free(&sb);
	}
	if (need_scan) {
		struct strbuf err = STRBUF_INIT;
		double t0 = sanitize_bench_now();

		b.scan = scan_open(dbdir, &err);
		if (b.scan == NULL) {
			fprintf(stderr, "sanitize_bench: %s\n",
			        err.s != NULL ? err.s : "scan_open");
			return 2;
		}
		printf("NOTE clamav: %u signatures from %s loaded in %.2f s; clean cache %s\n",
		       scan_signatures(b.scan), dbdir != NULL ? dbdir : SCAN_DEFAULT_DB_DIR,
		       sanitize_bench_now() - t0, keep_cache ? "on" : "off");
		scan_set_cache(b.scan, keep_cache);
		strbuf_free(&err);
	}
#ifdef SANITIZE_BENCH_ENGINE
	sanitize_policy_init(&b.pol);
#endif
	for (unsigned i = 0; i < nmodes; i++)
		sanitize_bench_mode(&b, modes[i], min_s);

#ifdef SANITIZE_BENCH_ENGINE
	sanitize_policy_free(&b.pol);
#endif
	scan_close(b.scan);
	for (size_t i = 0; i < b.n; i++)
		g_byte_array_unref(b.msgs[i].raw);
	free(b.msgs);
	g_mime_shutdown();
	return 0;
}

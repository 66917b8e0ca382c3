/*
 * fuzz_scan_fake - a deterministic stand-in for scan.c (the scan.h API)
 * for fuzz_sanitize_fast: libclamav costs about 20 ms per input (it writes a
 * temporary file per mail scan), which leaves the engine's own code
 * under-fuzzed.  This scanner answers from the bytes, so that every verdict
 * path of the engine is reachable by the fuzzer:
 *   "EICAR" anywhere in the buffer      -> SCAN_INFECTED ("Fake.EICAR")
 *   "UNSCANNABLE" anywhere in the buffer -> SCAN_ERROR
 *   else                                -> SCAN_CLEAN
 * Only ever linked into fuzz targets; the engine with libclamav is fuzzed by
 * fuzz_sanitize (tests/fuzz/CMakeLists.txt).
 */
#include "scan.h"

#include <string.h>

struct scan_engine {
	int unused;
};

static struct scan_engine fuzz_scan_fake_engine;

struct scan_engine *scan_open(const char *dbdir, struct strbuf *err)
{
	(void)dbdir;
	(void)err;
	return &fuzz_scan_fake_engine;
}

enum scan_result scan_buffer(struct scan_engine *e, const void *buf, size_t len,
                             const char **virname_r)
{
	(void)e;
	if (memmem(buf, len, "EICAR", 5)) {
		if (virname_r)
			*virname_r = "Fake.EICAR";
		return SCAN_INFECTED;
	}
	if (memmem(buf, len, "UNSCANNABLE", 11)) {
		if (virname_r)
			*virname_r = "fake: unscannable";
		return SCAN_ERROR;
	}
	return SCAN_CLEAN;
}

void scan_set_cache(struct scan_engine *e, bool on)
{
	(void)e;
	(void)on;
}

unsigned scan_signatures(const struct scan_engine *e)
{
	(void)e;
	return 1;
}

void scan_close(struct scan_engine *e)
{
	(void)e;
}

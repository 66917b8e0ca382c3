/*
 * scan - virus scanning of memory buffers with libclamav (1.0 API).
 *
 * SUMMARY: scan_open initialises libclamav once per process, loads every
 * database of a directory (cl_load, CL_DB_STDOPT), refuses a directory that
 * yields no signature, sets limits for messages up to 64 MiB and compiles
 * the engine.  scan_buffer maps a buffer (cl_fmap_open_memory) and scans it
 * with archives, mail, PDF, OLE2 and HTML parsing and heuristic alerts on.
 *
 * SECURITY: the buffers are hostile; libclamav parses them (it may write
 * temporary files under $TMPDIR while unpacking).  Run it where the
 * sanitiser worker runs: no network, sandboxed.
 *
 * DIAGNOSTICS: libclamav's own warnings and errors go through log.h; a
 * buffer that could not be scanned is SCAN_ERROR with cl_strerror's text,
 * never "clean".
 */
#include "scan.h"

#include "log.h"
#include "xalloc.h"

#include <clamav.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Per-buffer limits: the whole raw message is one buffer; unpacked content
 * inside it (archives in archives) may add up to SCAN_MAX_SCAN_BYTES. */
#define SCAN_MAX_SCAN_BYTES (4ull * SCAN_MAX_BUFFER_BYTES)
#define SCAN_MAX_RECURSION 17
#define SCAN_MAX_FILES 10000
#define SCAN_MAX_TIME_MS 30000
/* freshclam updates several times a day; older than this, say so. */
#define SCAN_DB_STALE_S (7 * 24 * 3600)

struct scan_engine {
	struct cl_engine *cl;
	unsigned sigs;
	struct cl_scan_options opts;
};

static pthread_once_t scan_once = PTHREAD_ONCE_INIT;
static cl_error_t scan_init_rc = CL_SUCCESS;

/* Reasons for SCAN_ERROR outlive the call (virname_r points at them). */
static _Thread_local char scan_reason[160];
/* libclamav answers CL_CLEAN when it cannot create its temporary files
 * (seen with 1.4: "Can't create temporary directory for scan"): such an
 * error message during a scan makes the scan fail instead. */
static _Thread_local bool scan_tmp_failed;
static _Thread_local char scan_tmp_msg[120];

static void scan_msg(enum cl_msg severity, const char *fullmsg, const char *msg, void *ctx)
{
	size_t n = strlen(msg);

	(void)fullmsg;
	(void)ctx;
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		n--;
	if (severity == CL_MSG_ERROR) {
		log_error("clamav: %.*s", (int)n, msg);
		if (strstr(msg, "emporary") || strstr(msg, "tmp") || strstr(msg, "TMP")) {
			if (!scan_tmp_failed)
				snprintf(scan_tmp_msg, sizeof(scan_tmp_msg), "clamav: %.*s",
				         (int)(n < 100 ? n : 100), msg);
			scan_tmp_failed = true;
		}
	} else if (severity == CL_MSG_WARN)
		log_warn("clamav: %.*s", (int)n, msg);
	/* CL_MSG_INFO_VERBOSE: only with cl_debug(), not wanted here */
}

static void scan_init_once(void)
{
	/* Before cl_init, so that cl_init's own messages are routed too. */
	cl_set_clcb_msg(scan_msg);
	scan_init_rc = cl_init(CL_INIT_DEFAULT);
}

static bool scan_set_num(struct scan_engine *e, enum cl_engine_field f, long long v,
                         const char *what, struct strbuf *err)
{
	cl_error_t rc = cl_engine_set_num(e->cl, f, v);

	if (rc != CL_SUCCESS) {
		strbuf_printf(err, "clamav: cannot set %s: %s", what, cl_strerror(rc));
		return false;
	}
	return true;
}

struct scan_engine *scan_open(const char *dbdir, struct strbuf *err)
{
	struct scan_engine *e;
	cl_error_t rc;
	time_t dbtime;

	if (dbdir == NULL)
		dbdir = SCAN_DEFAULT_DB_DIR;
	pthread_once(&scan_once, scan_init_once);
	if (scan_init_rc != CL_SUCCESS) {
		strbuf_printf(err, "clamav: cl_init: %s", cl_strerror(scan_init_rc));
		return NULL;
	}
	e = xcalloc(1, sizeof(*e));
	e->cl = cl_engine_new();
	if (e->cl == NULL) {
		strbuf_puts(err, "clamav: cannot create an engine (out of memory?)");
		free(e);
		return NULL;
	}
	if (!scan_set_num(e, CL_ENGINE_MAX_FILESIZE, SCAN_MAX_BUFFER_BYTES, "max file size", err) ||
	    !scan_set_num(e, CL_ENGINE_MAX_SCANSIZE, (long long)SCAN_MAX_SCAN_BYTES,
	                  "max scan size", err) ||
	    !scan_set_num(e, CL_ENGINE_MAX_RECURSION, SCAN_MAX_RECURSION, "max recursion", err) ||
	    !scan_set_num(e, CL_ENGINE_MAX_FILES, SCAN_MAX_FILES, "max files", err) ||
	    !scan_set_num(e, CL_ENGINE_MAX_SCANTIME, SCAN_MAX_TIME_MS, "max scan time", err) ||
	    !scan_set_num(e, CL_ENGINE_PCRE_MAX_FILESIZE, SCAN_MAX_BUFFER_BYTES,
	                  "max PCRE file size", err))
		goto fail;

	rc = cl_load(dbdir, e->cl, &e->sigs, CL_DB_STDOPT);
	if (rc == CL_EOPEN || rc == CL_ESTAT || (rc == CL_SUCCESS && e->sigs == 0)) {
		/* An engine without signatures would call everything clean. */
		strbuf_printf(err,
		              "clamav: signature database missing: no signatures in %s (%s); "
		              "run freshclam, or give a directory of .cvd/.cld/.hdb/.ndb files",
		              dbdir, rc == CL_SUCCESS ? "0 loaded" : cl_strerror(rc));
		goto fail;
	}
	if (rc != CL_SUCCESS) {
		strbuf_printf(err, "clamav: cannot load the signature databases in %s: %s", dbdir,
		              cl_strerror(rc));
		goto fail;
	}
	rc = cl_engine_compile(e->cl);
	if (rc != CL_SUCCESS) {
		strbuf_printf(err, "clamav: cannot compile the engine for %s: %s", dbdir,
		              cl_strerror(rc));
		goto fail;
	}
	dbtime = (time_t)cl_engine_get_num(e->cl, CL_ENGINE_DB_TIME, NULL);
	if (dbtime > 0 && time(NULL) - dbtime > SCAN_DB_STALE_S)
		log_warn("clamav: the signature databases in %s are more than 7 days old "
		         "(is freshclam running?)",
		         dbdir);

	e->opts.general = CL_SCAN_GENERAL_HEURISTICS;
	e->opts.parse = CL_SCAN_PARSE_ARCHIVE | CL_SCAN_PARSE_ELF | CL_SCAN_PARSE_PDF |
	                CL_SCAN_PARSE_SWF | CL_SCAN_PARSE_HWP3 | CL_SCAN_PARSE_XMLDOCS |
	                CL_SCAN_PARSE_MAIL | CL_SCAN_PARSE_OLE2 | CL_SCAN_PARSE_HTML |
	                CL_SCAN_PARSE_PE | CL_SCAN_PARSE_ONENOTE;
	/* The heuristic alerts clamscan turns on by default (none of the
	 * optional ones: broken executables, macros, encrypted archives and
	 * exceeded limits would withhold ordinary office mail). */
	e->opts.heuristic = 0;
	e->opts.mail = 0;
	e->opts.dev = 0;
	return e;
fail:
	cl_engine_free(e->cl);
	free(e);
	return NULL;
}

static const char *scan_set_reason(const char *what, cl_error_t rc)
{
	int n = snprintf(scan_reason, sizeof(scan_reason), "%s: %s", what, cl_strerror(rc));

	if (n < 0)
		return what;
	/* truncation only shortens the reason; it stays NUL-terminated */
	return scan_reason;
}

enum scan_result scan_buffer(struct scan_engine *e, const void *buf, size_t len,
                             const char **virname_r)
{
	const char *dummy;
	const char *virname = NULL;
	unsigned long scanned = 0;
	struct cl_scan_options opts;
	cl_fmap_t *map;
	cl_error_t rc;

	if (virname_r == NULL)
		virname_r = &dummy;
	if (e == NULL || e->cl == NULL) {
		*virname_r = "no scan engine";
		return SCAN_ERROR;
	}
	if (len > SCAN_MAX_BUFFER_BYTES) {
		/* libclamav would skip it silently and answer clean. */
		*virname_r = "too large to scan";
		return SCAN_ERROR;
	}
	/* libclamav's fmap wants a non-NULL start even for zero bytes. */
	if (buf == NULL || len == 0) {
		if (len != 0) {
			*virname_r = "no buffer";
			return SCAN_ERROR;
		}
		buf = "";
	}
	map = cl_fmap_open_memory(buf, len);
	if (map == NULL) {
		*virname_r = "clamav: cannot map the buffer";
		return SCAN_ERROR;
	}
	opts = e->opts; /* libclamav takes a non-const pointer */
	scan_tmp_failed = false;
	rc = cl_scanmap_callback(map, NULL, &virname, &scanned, e->cl, &opts, NULL);
	cl_fmap_close(map);
	if (rc == CL_CLEAN && scan_tmp_failed) {
		/* not scanned, whatever libclamav says */
		*virname_r = scan_tmp_msg;
		return SCAN_ERROR;
	}
	switch (rc) {
	case CL_CLEAN:
		*virname_r = NULL;
		return SCAN_CLEAN;
	case CL_VIRUS:
		*virname_r = virname != NULL ? virname : "unnamed signature";
		return SCAN_INFECTED;
	default:
		*virname_r = scan_set_reason("clamav", rc);
		return SCAN_ERROR;
	}
}

void scan_set_cache(struct scan_engine *e, bool on)
{
	cl_error_t rc;

	if (e == NULL)
		return;
	/* libclamav allocates the cache again when it is turned back on */
	rc = cl_engine_set_num(e->cl, CL_ENGINE_DISABLE_CACHE, on ? 0 : 1);
	if (rc != CL_SUCCESS)
		log_warn("clamav: cannot turn the cache %s: %s", on ? "on" : "off",
		         cl_strerror(rc));
}

unsigned scan_signatures(const struct scan_engine *e)
{
	return e != NULL ? e->sigs : 0;
}

void scan_close(struct scan_engine *e)
{
	if (e == NULL)
		return;
	cl_engine_free(e->cl);
	free(e);
}

/*
 * fuzz_sanitize - libFuzzer target over the whole 無害化 engine:
 * sanitize_message() on any bytes, then checks of what must hold for every
 * input, trapping (abort) when one fails:
 *
 *  - the status is OK or WITHHELD; ERROR only when the scanner fails on the
 *    raw message, and then nothing is in result.message;
 *  - the output has ASCII-only headers, CRLF line ends, no bare CR or LF,
 *    no NUL, no line over 998 octets, and GMime reads it as one text/plain
 *    leaf (never a multipart, never a second part).
 *
 * Built twice (tests/fuzz/CMakeLists.txt):
 *  - fuzz_sanitize: the real libclamav engine and the tests' tiny database
 *    (tests/clamav/make_db.sh): the engine as deployed, about 50 inputs/s
 *    (libclamav writes a temporary file per mail scan; use TMPDIR on tmpfs);
 *  - fuzz_sanitize_fast (FUZZ_FAKE_SCAN): tests/fuzz/fuzz_scan_fake.c
 *    answers from the bytes ("EICAR" infected, "UNSCANNABLE" error), so the
 *    engine's own code gets ~20x the inputs and every verdict path
 *    (infected, unscannable body or part, scanner error) is reachable.
 *
 * A first input byte below 8 chooses the policy (bit 0: English notice,
 * bit 1: ISO-2022-JP output, bit 2: small limits so the limit paths run)
 * and the rest is the message; any other input is a message as it is (so
 * the golden .eml files of tests/sanitize seed the corpus unchanged).  The
 * scanner's clean cache is off so runs are reproducible.  The database
 * directory is $SEKISHO_SCAN_DB, else the one the build's ctest fixture
 * writes (FUZZ_SCAN_DB); without one the real target exits at start.
 */
#include "sanitize.h"
#include "scan.h"

#include <gmime/gmime.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct scan_engine *fuzz_engine;

/* libclamav keeps pointers in its own mmap'd pools, which LeakSanitizer
 * does not scan, so what the engine allocated at load looks leaked when
 * libFuzzer checks for leaks after an input: those reports (stacks through
 * libclamav) are suppressed; leaks in our code are not. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:libclamav.so\n";
}

/* And close the engine before the exit-time leak check. */
static void fuzz_close(void)
{
	scan_close(fuzz_engine);
	fuzz_engine = NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct strbuf err = STRBUF_INIT;
	const char *db = getenv("SEKISHO_SCAN_DB");

	(void)argc;
	(void)argv;
#ifdef FUZZ_SCAN_DB
	if (!db || !*db)
		db = FUZZ_SCAN_DB;
#endif
	fuzz_engine = scan_open(db, &err);
	if (!fuzz_engine) {
		fprintf(stderr, "fuzz_sanitize: no scanner (%s): set SEKISHO_SCAN_DB\n",
		        err.s ? err.s : "?");
		exit(1);
	}
	scan_set_cache(fuzz_engine, false);
	atexit(fuzz_close);
	strbuf_free(&err);
	return 0;
}

static void fuzz_fail(const char *why)
{
	fprintf(stderr, "fuzz_sanitize: output check failed: %s\n", why);
	abort();
}

static void fuzz_check_output(const struct strbuf *m)
{
	size_t i = 0, line = 0;
	bool in_headers = true;
	GMimeStream *st;
	GMimeParser *pr;
	GMimeMessage *msg;
	GMimeObject *body;

	if (m->len == 0)
		fuzz_fail("empty output");
	while (i < m->len) {
		unsigned char c = (unsigned char)m->s[i];

		if (c == '\0')
			fuzz_fail("NUL");
		if (c == '\r') {
			if (i + 1 >= m->len || m->s[i + 1] != '\n')
				fuzz_fail("bare CR");
			if (line == 0)
				in_headers = false;
			line = 0;
			i += 2;
			continue;
		}
		if (c == '\n')
			fuzz_fail("bare LF");
		if (in_headers && c >= 0x80)
			fuzz_fail("8-bit header");
		if (++line > 998)
			fuzz_fail("line over 998 octets");
		i++;
	}
	st = g_mime_stream_mem_new_with_buffer(m->s, m->len);
	pr = g_mime_parser_new_with_stream(st);
	msg = g_mime_parser_construct_message(pr, NULL);
	if (!msg)
		fuzz_fail("GMime cannot read it");
	body = g_mime_message_get_mime_part(msg);
	if (!body || !GMIME_IS_PART(body) ||
	    !g_mime_content_type_is_type(g_mime_object_get_content_type(body), "text", "plain"))
		fuzz_fail("not one text/plain part");
	g_object_unref(msg);
	g_object_unref(pr);
	g_object_unref(st);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sanitize_policy pol;
	struct sanitize_result res;
	enum sanitize_status st;
	uint8_t flags = size && data[0] < 8 ? data[0] : 0;

	sanitize_policy_init(&pol);
	if (flags & 1)
		pol.lang = SANITIZE_LANG_EN;
	if (flags & 2)
		pol.out_iso2022jp = true;
	if (flags & 4) {
		pol.max_header_bytes = 2048;
		pol.max_mime_depth = 4;
		pol.max_parts = 16;
		pol.max_message_bytes = 16384;
	}
	if (size && data[0] < 8) {
		size--;
		data++;
	}
	st = sanitize_message(&pol, fuzz_engine, (const char *)data, size, "fuzz@example.jp", NULL,
	                      0, &res);
	if (st == SANITIZE_ERROR) {
#ifdef FUZZ_FAKE_SCAN
		if (memmem(data, size, "UNSCANNABLE", 11) && res.message.len == 0) {
			sanitize_result_free(&res);
			sanitize_policy_free(&pol);
			return 0;
		}
#endif
		fprintf(stderr, "fuzz_sanitize: error: %s\n", res.error.s ? res.error.s : "?");
		abort();
	}
	fuzz_check_output(&res.message);
	if (res.verdict.len == 0 || res.verdict.s[0] != '{')
		fuzz_fail("no verdict");
	sanitize_result_free(&res);
	sanitize_policy_free(&pol);
	return 0;
}

/*
 * sanitize - the 無害化 engine: one message in, a new text/plain message out.
 *
 * Parses with GMime (mime.c), scans the raw original and every decoded leaf
 * (scan.c), picks the body text (text/plain with substance, else HTML ->
 * text), decodes charsets (charset.c), lists every other part as removed
 * (name, type, size, SHA-256) in a notice (notice.c) at the top of the body,
 * and builds a new RFC 5322 message with one text/plain part.  Never edits
 * the original.  Untrusted input: every limit is enforced; beyond a limit,
 * or when the message is infected or encrypted, it is withheld: the output
 * is the notice alone.
 */
#ifndef SEKISHO_SANITIZE_H
#define SEKISHO_SANITIZE_H

#include "scan.h"
#include "strbuf.h"

#include <stdbool.h>
#include <stddef.h>

#define SANITIZE_MAX_MESSAGE_BYTES (64u * 1024 * 1024)
#define SANITIZE_MAX_HEADER_BYTES (1024u * 1024)
#define SANITIZE_MAX_MIME_DEPTH 32
#define SANITIZE_MAX_PARTS 1000
#define SANITIZE_TIME_LIMIT_MS 30000

enum sanitize_lang { SANITIZE_LANG_JA, SANITIZE_LANG_EN };

struct sanitize_policy {
	enum sanitize_lang lang;  /* notice language (default ja) */
	bool out_iso2022jp;       /* ISO-2022-JP output for old clients (default UTF-8) */
	size_t max_message_bytes; /* withheld beyond these */
	size_t max_header_bytes;
	unsigned max_mime_depth;
	unsigned max_parts;
	unsigned time_limit_ms;
	char *notice_dir; /* operator's templates (NULL = built in) */
	struct {
		char **v;
		size_t n, cap;
	} keep_headers; /* more headers to keep, beyond the standard set */
};

/* Defaults as documented above. */
void sanitize_policy_init(struct sanitize_policy *p);
/* Read a policy file ("key = value" lines, see docs/sanitize.md); false with
 * a file:line: message in err on any error. */
bool sanitize_policy_load(struct sanitize_policy *p, const char *path, struct strbuf *err);
void sanitize_policy_free(struct sanitize_policy *p);

enum sanitize_status {
	/* sanitised message in result.message */
	SANITIZE_OK = 0,
	/* infected, encrypted, over a limit, body unscannable or over time:
	 * result.message is the notice (a removed part that cannot be scanned
	 * is listed as such, not withheld: its bytes never leave) */
	SANITIZE_WITHHELD = 1,
	/* nothing usable (scanner failure, bad template): reason in result.error */
	SANITIZE_ERROR = 2,
};

struct sanitize_result {
	enum sanitize_status status;
	struct strbuf message; /* the new RFC 5322 message, CRLF line ends */
	struct strbuf verdict; /* JSON object, one line */
	struct strbuf error;   /* reason for SANITIZE_ERROR */
};

/*
 * Sanitise len bytes of a raw RFC 5322 message (LF or CRLF line ends).
 * scan may not be NULL: without a scanner nothing is "clean".
 * envelope_from / rcpts (may be NULL / 0) go into the verdict.
 * res is initialised here (free it with sanitize_result_free whatever the
 * status); on SANITIZE_ERROR message and verdict are empty.  Thread-safe
 * (GMime is initialised once per process).  The rules: docs/sanitize.md.
 */
enum sanitize_status sanitize_message(const struct sanitize_policy *pol, struct scan_engine *scan,
                                      const char *raw, size_t len, const char *envelope_from,
                                      const char *const *rcpts, size_t nrcpts,
                                      struct sanitize_result *res);
void sanitize_result_free(struct sanitize_result *res);

#endif

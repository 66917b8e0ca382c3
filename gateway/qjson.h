/*
 * qjson - a small JSON reader for the quarantine's records and
 * terminal-safe writers of untrusted text (used by cmd_quarantine.c).
 */
#ifndef SEKISHO_QJSON_H
#define SEKISHO_QJSON_H

#include "strbuf.h"

#include <stdbool.h>
#include <stddef.h>

#define QJSON_MAX_DEPTH 64      /* nesting */
#define QJSON_MAX_NODES 1000000 /* values in one JSON text */

enum qjson_type { QJSON_NULL, QJSON_BOOL, QJSON_NUM, QJSON_STR, QJSON_ARR, QJSON_OBJ };

struct qjson {
	enum qjson_type type;
	char *s;       /* QJSON_STR: decoded bytes (NUL-terminated, may hold NUL); QJSON_NUM:
	                  the literal */
	size_t len;    /* of s */
	bool b;        /* QJSON_BOOL */
	size_t n, cap; /* QJSON_ARR, QJSON_OBJ: members */
	struct qjson **v;
	struct qjson **k; /* QJSON_OBJ: keys (QJSON_STR) */
};

/* Parse len bytes holding one JSON text (RFC 8259; \u escapes decoded to
 * UTF-8, a lone surrogate to U+FFFD; raw bytes of strings kept as they
 * are).  Returns the tree, or NULL with "JSON: why at byte N" appended to
 * err (syntax, depth or value limit). */
struct qjson *qjson_parse(const char *s, size_t len, struct strbuf *err);
/* Free a tree; j may be NULL. */
void qjson_free(struct qjson *j);
/* The member key of object j (first of that name), or NULL (j NULL or not
 * an object, or no such member). */
const struct qjson *qjson_get(const struct qjson *j, const char *key);
/* The string of j, or NULL when j is NULL or not a string. */
const char *qjson_str(const struct qjson *j);

/* true for code points a terminal may act on or that hide or reorder
 * text: C0, DEL, C1, soft hyphen, zero-width and bidi controls, line and
 * paragraph separators, BOM, interlinear annotation. */
bool qjson_unsafe_cp(unsigned cp);
/* Append s (len bytes) for a terminal: printable UTF-8 as is, '\\'
 * doubled, unsafe ASCII and invalid bytes as \xNN, other unsafe code
 * points as \u{XXXX}. */
void qjson_escape(struct strbuf *out, const char *s, size_t len);
/* Same for a C string; NULL is written as "-". */
void qjson_escape_cstr(struct strbuf *out, const char *s);
/* Append s as a JSON string that is also terminal-safe (unsafe code points
 * as \uXXXX, invalid UTF-8 as \ufffd). */
void qjson_string(struct strbuf *out, const char *s, size_t len);
/* Same for a C string; NULL is written as null. */
void qjson_cstr(struct strbuf *out, const char *s);
/* Append j as JSON indented by two spaces per level (starting at level),
 * strings through qjson_string, numbers through qjson_escape. */
void qjson_pretty(struct strbuf *out, const struct qjson *j, unsigned level);

#endif

/*
 * notice - the text at the top of a sanitised message (or the whole body
 * of a withheld one): that the message was sanitised, each removed part
 * with its name, type, size and SHA-256, the signature removed, or why the
 * message was withheld.
 *
 * Japanese by default, English as an option.  Built-in templates, which the
 * operator can replace section by section with a file NOTICE_DIR/notice.ja
 * (or notice.en); the format is in docs/sanitize.md:
 *
 *   # comment
 *   [section]
 *   text with ${variable} ... ($$ is a literal $)
 *
 * Trust: the template file is the operator's (read once, bounded); every
 * value substituted is untrusted (names, types, virus names) and is made
 * one line, without control characters.  Failure: a template file that
 * cannot be read or parsed is an error (file:line: message); the caller
 * decides (the engine fails rather than send a wrong notice).
 */
#ifndef SEKISHO_NOTICE_H
#define SEKISHO_NOTICE_H

#include "strbuf.h"

#include <stdbool.h>
#include <stddef.h>

#define NOTICE_MAX_TEMPLATE_BYTES (64u * 1024)

enum notice_lang { NOTICE_LANG_JA, NOTICE_LANG_EN };

struct notice_part {
	const char *path;     /* part path, may be "" */
	const char *name;     /* decoded file name or NULL */
	const char *name_alt; /* another reading of the name, or NULL */
	const char *type;     /* declared type, or the inline block kind */
	const char *kind;     /* "part", "hidden", "signature", "uuencode", "yEnc", "BinHex",
	                         "tnef-content", "preamble", ... */
	size_t size;          /* decoded bytes */
	const char *sha256;   /* 64 hex digits */
	const char *scan;     /* "clean", "infected", "unscannable", "not-scanned" */
	const char *virus;    /* signature name when infected */
	bool content;         /* listed under the part before it (TNEF contents) */
};

struct notice {
	enum notice_lang lang;
	const char *withheld; /* NULL, or "infected", "encrypted", "limit", "unscannable",
	                         "time", "unparsable" */
	const char *detail;   /* virus name, limit name, ... */
	bool signature_removed;
	size_t ndefects; /* structural defects seen (the safer reading was used) */
	const struct notice_part *parts;
	size_t nparts;
};

struct notice_templates;

/* Load the templates for lang: the built-in ones, overridden by the
 * sections of dir/notice.<lang> when dir is not NULL and the file exists.
 * NULL with "file:line: message" lines in err on a bad file. */
struct notice_templates *notice_templates_load(enum notice_lang lang, const char *dir,
                                               struct strbuf *err);
void notice_templates_free(struct notice_templates *tp);

/* Append the notice (UTF-8, LF line ends, ending in a blank line) to out. */
void notice_render(const struct notice_templates *tp, const struct notice *n, struct strbuf *out);

/* Append the one-line marker left in the body where an inline block (or
 * hidden text) was cut out, e.g. "[削除: uuencode a.bin]". */
void notice_marker(const struct notice_templates *tp, const char *kind, const char *name,
                   struct strbuf *out);

/* The header line above a quoted embedded message, with its From/Date/Subject
 * (any may be NULL); LF line ends. */
void notice_embedded(const struct notice_templates *tp, const char *from, const char *date,
                     const char *subject, struct strbuf *out);

#endif

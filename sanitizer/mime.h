/*
 * mime - the raw message as a tree of parts, read with GMime within hard
 * limits, with every structural defect recorded.
 *
 * GMime gives one reading of the structure.  Where the raw bytes allow
 * another (two Content-Type headers, several boundary parameters, a
 * boundary with whitespace or that prefixes another, boundary lines GMime
 * ignored, parts after the closing boundary), this module records the
 * defect and keeps the reading that removes more: a text leaf that holds a
 * line of any boundary declared anywhere in the message is cut there, and
 * what follows becomes hidden parts (mime_node.hidden) that are listed and
 * removed like any attachment; a node whose other declared type is not text
 * is marked so that it can never become the body.
 *
 * Leaves carry their decoded bytes (transfer encoding normalised: odd
 * spellings accepted, unknown = binary), size and SHA-256; file names are
 * decoded from RFC 2231 (pieces reordered) and RFC 2047.
 *
 * Untrusted input: the message size, header bytes, part count and depth
 * are checked before GMime sees the bytes where possible (GMime costs about
 * a kilobyte per part), and again on the tree.  Beyond a limit the tree is
 * still returned (as far as it was read) with over_limit set.  Never fails
 * on bad input; decoded sizes never exceed encoded sizes.
 */
#ifndef SEKISHO_MIME_H
#define SEKISHO_MIME_H

#include "strbuf.h"

#include <stdbool.h>
#include <stddef.h>

enum mime_kind {
	MIME_LEAF,      /* a part with content */
	MIME_MULTIPART, /* kids in order */
	MIME_MESSAGE,   /* message/rfc822 (or global): kids[0] is its content */
};

struct mime_node {
	enum mime_kind kind;
	char *path;        /* IMAP section: "" (root multipart), "1", "2.1"; hidden
	                      parts: "1h1" (cut from leaf 1), "e1"/"p1" (epilogue/preamble) */
	unsigned depth;    /* 0 for the root */
	char *type;        /* lowercased "type/subtype" of the reading used */
	char *type_alt;    /* another declared type (duplicate Content-Type), or NULL */
	char *charset;     /* charset parameter, or NULL */
	char *name;        /* decoded file name (filename*, filename, name*, name), or NULL */
	char *name_alt;    /* a conflicting other reading of the name, or NULL */
	char *disposition; /* lowercased disposition type, or NULL */
	char *cte;         /* normalised: 7bit 8bit binary base64 quoted-printable x-uuencode */
	char *protocol;    /* multipart/signed, multipart/encrypted: protocol parameter */
	char *smime_type;  /* application/pkcs7-mime: smime-type parameter */
	bool hidden;       /* found only by the raw boundary check (another reading) */
	/* MIME_LEAF */
	struct strbuf data; /* decoded bytes */
	unsigned char sha256[32];
	/* MIME_MESSAGE: the embedded message's headers, decoded to UTF-8 */
	char *msg_from, *msg_to, *msg_date, *msg_subject;
	struct mime_node **kids;
	size_t nkids;
	struct mime_node *parent;
};

struct mime_defect {
	char *code;   /* e.g. "duplicate_content_type" (docs/sanitize.md lists them) */
	char *path;   /* part path, "" for the message */
	char *detail; /* short, UTF-8, may be NULL */
};

struct mime_header {
	char *name;  /* as written */
	char *value; /* raw value, unfolded, leading/trailing whitespace trimmed */
};

struct mime_limits {
	size_t max_header_bytes; /* top-level header block */
	unsigned max_depth;
	unsigned max_parts;
};

struct mime_tree {
	struct mime_node *root; /* NULL only when nothing could be read */
	struct {
		struct mime_defect *v;
		size_t n, cap;
	} defects;
	struct {
		struct mime_header *v;
		size_t n, cap;
	} headers;              /* the top-level header fields, in order */
	unsigned nparts;        /* nodes in the tree */
	const char *over_limit; /* NULL, or "header-bytes", "header-fields", "mime-depth",
	                           "part-count" */
	struct {
		char **v;
		size_t n, cap;
	} boundaries; /* every boundary declared anywhere in the raw bytes, sorted */
};

/* Read len raw bytes (LF or CRLF) into t (zeroed by this call).  Always
 * returns a usable tree; limits breached are in t->over_limit. */
void mime_parse(const char *raw, size_t len, const struct mime_limits *lim, struct mime_tree *t);
/* Parse only the top-level header block (at most max_header_bytes of it)
 * into t->headers: for messages withheld before parsing. */
void mime_parse_headers(const char *raw, size_t len, size_t max_header_bytes, struct mime_tree *t);
void mime_tree_free(struct mime_tree *t);

/* Record a defect (detail is printf-style, may be NULL). */
void mime_defect(struct mime_tree *t, const char *code, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The raw value of the first top-level header called name (any case), or
 * NULL. */
const char *mime_header(const struct mime_tree *t, const char *name);

/* Offset of the first line in buf that starts with "--" and a boundary of
 * t (prefix match: the reading that cuts more), or len when none. */
size_t mime_boundary_line(const struct mime_tree *t, const char *buf, size_t len);

/* Size of the header block at the start of raw (up to and including the
 * empty line), or len + 1 when there is no empty line. */
size_t mime_header_block_size(const char *raw, size_t len);

#endif

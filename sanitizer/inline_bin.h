/*
 * inline_bin - binary payloads hidden inside text: uuencode ("begin 644
 * name" ... "end"), yEnc ("=ybegin ... =yend") and BinHex 4.0 ("(This file
 * must be converted with BinHex 4.0)").  They count as attachments: the
 * sanitiser removes the block from the body text and lists it.
 *
 * Untrusted input: bounded (a block's decoded size never exceeds its encoded
 * size), never fails; a truncated or damaged block is still found and
 * removed (complete = false).
 */
#ifndef SEKISHO_INLINE_BIN_H
#define SEKISHO_INLINE_BIN_H

#include "strbuf.h"

#include <stdbool.h>
#include <stddef.h>

struct inline_block {
	size_t start, end; /* byte range in the text, whole lines, end exclusive */
	const char *kind;  /* "uuencode", "yEnc", "BinHex" */
	char *name;        /* file name as declared (may be NULL) */
	struct strbuf data; /* decoded bytes (what was found) */
	bool complete;      /* terminator seen and data decoded cleanly */
};

/* Find every block in text (LF or CRLF lines).  Returns the count and a
 * malloc'd array in *blocks_r (NULL when 0), sorted by start. */
size_t inline_bin_find(const char *text, size_t len, struct inline_block **blocks_r);
void inline_bin_free(struct inline_block *blocks, size_t n);

#endif

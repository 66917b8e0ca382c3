/*
 * inline_bin - binary payloads hidden inside text: uuencode ("begin 644
 * name" ... "end", also "begin-base64 644 name" ... "===="), yEnc
 * ("=ybegin ... =yend") and BinHex 4.0 ("(This file must be converted with
 * BinHex 4.0)").  They count as attachments: the sanitiser removes the block
 * from the body text and lists it.
 *
 * Where a block starts (only at the start of a line):
 *  - uuencode: "begin", 3 or 4 octal digits, the name; it counts only when
 *    the next line looks like uuencode: only characters 0x20..0x60 and
 *    either a length character that matches the line's length (padding may
 *    be missing) or 'M' (45 bytes) with 40 to 64 characters after it; or
 *    the empty-file pair "`" then "end".  So "begin 644 things" in prose
 *    followed by prose (lower case) is not a block.  The price: a header
 *    followed by a junk line and then uuencode is not a block either, and
 *    lenient decoders would still decode it; whoever writes the text out
 *    should not leave a "begin NNN " line at the start of a line.
 *  - begin-base64: the next line is base64 of 16 or more characters (a
 *    multiple of 4), or shorter and followed by "====", or "====" itself.
 *  - yEnc: "=ybegin" followed by a blank or the line end.
 *  - BinHex: a line starting "(This file must be converted" (any case: the
 *    BinHex 4.0 marker and the variants other encoders write), always a
 *    block, even without data after it; the data is the first line that
 *    starts with ':' after it (blank lines between) up to the closing ':'.
 * Where it ends: after its terminator line ("end", "====", "=yend", the
 * closing ':'), else (complete = false) before the first line that cannot
 * belong to it (uuencode: a character outside the alphabet; yEnc: an empty
 * line or another "=ybegin"; BinHex: a character outside the alphabet) or at
 * the end of the text.
 *
 * Untrusted input: bounded and linear in len, never fails.  A block's
 * decoded size never exceeds its encoded size, except BinHex run-length
 * data, which is cut (complete = false) at INLINE_BIN_BINHEX_EXPAND times
 * the block's size.  At most INLINE_BIN_MAX_BLOCKS blocks: the last one then
 * runs to the end of the text, so nothing after it escapes removal.
 */
#ifndef SEKISHO_INLINE_BIN_H
#define SEKISHO_INLINE_BIN_H

#include "strbuf.h"

#include <stdbool.h>
#include <stddef.h>

#define INLINE_BIN_MAX_BLOCKS 1000
#define INLINE_BIN_BINHEX_EXPAND 8
#define INLINE_BIN_MAX_NAME_BYTES 1024

struct inline_block {
	size_t start, end;  /* byte range in the text, whole lines, end exclusive */
	const char *kind;   /* "uuencode", "yEnc", "BinHex" (static strings) */
	char *name;         /* file name as declared, control characters as '?'
	                       (may be NULL; at most INLINE_BIN_MAX_NAME_BYTES) */
	struct strbuf data; /* decoded bytes (what was found; BinHex: the data fork) */
	bool complete;      /* terminator seen and data decoded cleanly (yEnc:
	                       size and CRC-32 match; BinHex: CRCs match) */
};

/* Find every block in text (LF or CRLF lines).  Returns the count and a
 * malloc'd array in *blocks_r (NULL when 0), sorted by start, not
 * overlapping.  Never fails (out of memory is fatal). */
size_t inline_bin_find(const char *text, size_t len, struct inline_block **blocks_r);
/* Free what inline_bin_find returned (blocks may be NULL). */
void inline_bin_free(struct inline_block *blocks, size_t n);

#endif

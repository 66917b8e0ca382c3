/*
 * charset - bytes in a declared (or guessed) charset to UTF-8, and back for
 * the output; RFC 2047 header words.
 *
 * Japanese mail is the norm: ISO-2022-JP is decoded as CP50220 (JIS X 0208
 * plus the NEC row 13 and IBM extensions of CP932: ①②, ㈱, Ⅰ…), Shift_JIS
 * and its aliases as CP932, EUC-JP with the same extensions; anything else
 * through iconv.  Bytes that are invalid or cannot be mapped become U+FFFD
 * (visible), never dropped silently.  Input is untrusted; no input can make
 * these functions fail other than by producing replacements.
 */
#ifndef SEKISHO_CHARSET_H
#define SEKISHO_CHARSET_H

#include "strbuf.h"

#include <stdbool.h>
#include <stddef.h>

/* What the decoders of this thread have seen since the last reset. */
struct charset_counters {
	unsigned long unknown_labels; /* labels no decoder knows: text was guessed */
	unsigned long mislabelled;    /* labels overruled by the bytes (see charset.c) */
};

/*
 * Build the CP932/JIS tables and open the common iconv converters now.
 * Optional (everything initialises on first use), but a sandboxed worker
 * calls it before seccomp forbids loading gconv modules.  Returns false
 * when glibc has no CP932 converter (Japanese text is then replaced).
 */
bool charset_init(void);
/* Close this thread's cached iconv handles (at thread or process exit). */
void charset_cleanup(void);
/* Copy this thread's counters to *r (may be NULL); zero them if reset. */
void charset_counters(struct charset_counters *r, bool reset);
/* True if the label names a charset we decode (ours or iconv's). */
bool charset_known(const char *charset);

/*
 * Decode len bytes labelled `charset` (a MIME charset name, any case; NULL,
 * empty or unknown = guessed with charset_guess) and append UTF-8 to out.
 * *used_r (may be NULL) gets the canonical name of the decoder used
 * ("UTF-8", "ISO-2022-JP", "CP932", "EUC-JP", or iconv's name).
 * Returns the number of U+FFFD replacements made.
 */
size_t charset_decode(const char *charset, const void *in, size_t len, struct strbuf *out,
                      const char **used_r);

/* Guess the charset of unlabelled or mislabelled bytes: "US-ASCII",
 * "UTF-8", "ISO-2022-JP", "CP932", "EUC-JP" or "windows-1252". */
const char *charset_guess(const void *in, size_t len);

/*
 * Decode a header value (unfolded or folded) with RFC 2047 encoded words to
 * UTF-8, tolerant of what is seen in the wild: words without surrounding
 * whitespace, multibyte characters split across adjacent words, unknown
 * charsets and bad base64/Q (decoded as far as possible, rest U+FFFD), raw
 * 8-bit bytes (guessed).  Folding whitespace is unfolded; control characters
 * are removed.  Returns the number of replacements.
 */
size_t charset_decode_header(const char *in, size_t len, struct strbuf *out);

/*
 * Decode an RFC 2231 extended parameter value (charset'language'%XX...)
 * to UTF-8 and append it to out.  For continuations, join the pieces
 * first (the charset'language' prefix comes from piece 0; '%' in pieces
 * that were not extended must be escaped as %25 by the caller).  Without
 * the prefix the bytes are guessed.  Bad %-escapes are kept as text;
 * one line out (TAB, CR, LF -> space).  Returns the number of
 * replacements.
 */
size_t charset_decode_rfc2231(const char *value, size_t len, struct strbuf *out);

/* Encode UTF-8 text as ISO-2022-JP (CP50220, ending in ASCII); characters it
 * cannot carry become U+3013 (〓).  Returns the number of such characters. */
size_t charset_encode_iso2022jp(const char *utf8, size_t len, struct strbuf *out);

/*
 * Append a complete header field "Name: value\r\n" to out, encoding the
 * UTF-8 value as RFC 2047 words (B encoding; UTF-8, or ISO-2022-JP when
 * iso2022jp) where it is not plain ASCII, folded so no line exceeds 78
 * bytes.  Addresses are the caller's business (encode display names only).
 */
void charset_encode_header(const char *name, const char *utf8, size_t len, bool iso2022jp,
                           struct strbuf *out);

#endif

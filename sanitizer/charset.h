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
 *
 * Decoded text is valid UTF-8 in which CR LF and a lone CR are LF; TAB and
 * LF stay in bodies, and become spaces in headers and parameters; other C0
 * controls, DEL, C1 controls and the bidi embedding/override/isolate
 * controls (U+202A-202E, U+2066-2069) are U+FFFD and counted.  Output is
 * appended to the strbuf; when its limit is hit the rest is dropped and
 * out->overflow says so.  Thread-safe (per-thread iconv cache).
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
 * ("US-ASCII", "UTF-8", "ISO-2022-JP", "CP932", "EUC-JP", "windows-1252"
 * or the name given to iconv); the string lives as long as the process.
 * The label is overruled when the bytes clearly say otherwise (8-bit bytes
 * under us-ascii or iso-2022-jp, JIS escapes in 7-bit text, valid UTF-8
 * under an 8-bit label, clean Japanese under utf-8): counted in
 * charset_counters().mislabelled.  A leading UTF-8 BOM is dropped.
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
 * 8-bit bytes (guessed).  Also: lowercase b/q, a missing "?=", a language
 * suffix (=?ISO-2022-JP*ja?B?...?=), base64 split mid-quantum across
 * words, folding inside a B word.  Folding is unfolded (CR LF before white
 * space goes, elsewhere it is a space), white space between adjacent
 * encoded words is dropped, leading and trailing white space is trimmed.
 * The result is one line: TAB, CR and LF (also encoded ones) are spaces,
 * other controls are U+FFFD.  Returns the number of replacements.
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

/* Encode UTF-8 text as ISO-2022-JP (CP50220: half-width katakana are sent
 * full width, every line and the text end in ASCII); characters it cannot
 * carry and invalid UTF-8 become U+3013 (〓).  Returns the number of those. */
size_t charset_encode_iso2022jp(const char *utf8, size_t len, struct strbuf *out);

/*
 * Append a complete header field "Name: value\r\n" to out, encoding the
 * UTF-8 value as RFC 2047 words (B encoding; UTF-8, or ISO-2022-JP when
 * iso2022jp) where it is not plain ASCII, folded so no line exceeds 78
 * bytes.  Addresses are the caller's business (encode display names only).
 * Words are at most 75 bytes, never split a character, and ISO-2022-JP
 * words end in ASCII.  White space runs (and controls: no CR or LF from
 * the value reaches the output) become one space.  Tokens containing "=?"
 * or longer than a line are encoded too, except in Message-ID,
 * In-Reply-To, References, Content-ID and Resent-Message-ID, whose tokens
 * are written as they are.  ISO-2022-JP output is as charset_encode_iso2022jp.
 */
void charset_encode_header(const char *name, const char *utf8, size_t len, bool iso2022jp,
                           struct strbuf *out);

#endif

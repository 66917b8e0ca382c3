/*
 * html_text - HTML to readable plain text, streaming, following the HTML5
 * tokenizer (html_tok.c).
 *
 * Dropped: the content of script, style, title, template, iframe, noembed,
 * noframes, comments (and so Outlook's conditional comments), and content
 * hidden with display:none, visibility:hidden or the hidden attribute.
 * Block elements give line breaks (at most one blank line in a row), lists
 * get "・ " / "1. " (or a. i. per <ol type>) markers indented by nesting,
 * blockquote lines "> ", table cells are separated by " | " with a row to
 * a line; pre keeps its whitespace.  Links are shown as their text plus the
 * URL in a neutralised form, "text <hxxps://example[.]com/...>", so nothing
 * is clickable (omitted when it equals the text or is "#..."; javascript:,
 * vbscript: and data: URLs become "[removed link]"); images as "[alt]";
 * every named and numeric character reference is decoded.
 *
 * Input is UTF-8 (the caller decodes the part's charset first; see
 * html_text_sniff_charset); invalid bytes become U+FFFD.  Output is valid
 * UTF-8 with LF line ends, ending in one LF (nothing if there is no text),
 * without C0/C1 controls (but LF, and tab inside pre), bidi embedding,
 * override or isolate controls, or BOMs.  Untrusted input: memory is
 * bounded (element depth 256, URLs shown up to 2 KiB, tokens up to
 * HTML_TOK_MAX_TOKEN_BYTES), time linear; never fails.  A content limit on
 * out (strbuf max) is respected: the text is then cut short.
 */
#ifndef SEKISHO_HTML_TEXT_H
#define SEKISHO_HTML_TEXT_H

#include "strbuf.h"

#include <stddef.h>

struct html_text;

/* Start a conversion appending to out (which must outlive it).  Never NULL. */
struct html_text *html_text_new(struct strbuf *out);
/*
 * Feed the next chunk (any split, even inside a tag or a UTF-8 sequence):
 * the output does not depend on how the input is split.  Text may reach out
 * before html_text_finish, but only html_text_finish makes it final (it
 * trims trailing blank space).
 */
void html_text_feed(struct html_text *h, const char *buf, size_t len);
/* End of input: flush, end the text with one LF, and free h. */
void html_text_finish(struct html_text *h);
/* One shot: convert len bytes of HTML and append the text to out. */
void html_text_convert(const char *html, size_t len, struct strbuf *out);

/* The charset a <meta charset=...> or <meta http-equiv="content-type"
 * content="...; charset=..."> in the first 1024 bytes declares (the first
 * such meta; a name of letters, digits and "-_.:+" only), copied into buf
 * and returned; NULL if none, or if it does not fit in bufsize. */
const char *html_text_sniff_charset(const char *html, size_t len, char *buf, size_t bufsize);

#endif

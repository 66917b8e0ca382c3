/*
 * html_text - HTML to readable plain text, streaming, following the HTML5
 * tokenizer (html_tok.c).
 *
 * Dropped: script, style, head, template, comments (and so conditional
 * comments).  Block elements give line breaks, lists get "・"/"1." markers,
 * table cells are separated so rows stay readable; links are shown as their
 * text plus the URL in a neutralised form ("hxxps://example[.]com/...") so
 * nothing is clickable; images as their alt text; every named and numeric
 * character reference is decoded.  Input is UTF-8 (the caller decodes the
 * part's charset first; see html_text_sniff_charset); output is UTF-8 with
 * LF line ends.  Untrusted input: bounded memory per open element (depth
 * limit), never fails.
 */
#ifndef SEKISHO_HTML_TEXT_H
#define SEKISHO_HTML_TEXT_H

#include "strbuf.h"

#include <stddef.h>

struct html_text;

/* Start a conversion appending to out. */
struct html_text *html_text_new(struct strbuf *out);
/* Feed the next chunk (any split, even inside a tag or a UTF-8 sequence). */
void html_text_feed(struct html_text *h, const char *buf, size_t len);
/* Flush and free. */
void html_text_finish(struct html_text *h);
/* One shot: convert len bytes of HTML and append the text to out. */
void html_text_convert(const char *html, size_t len, struct strbuf *out);

/* The charset a <meta charset=...> or <meta http-equiv content="...;
 * charset=..."> in the first 1024 bytes declares, copied into buf; NULL if
 * none. */
const char *html_text_sniff_charset(const char *html, size_t len, char *buf, size_t bufsize);

#endif

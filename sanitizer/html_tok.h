/*
 * html_tok - a streaming HTML tokenizer following the WHATWG HTML standard,
 * section 13.2.5 "Tokenization": every state, including RCDATA, RAWTEXT,
 * script data (escaped and double-escaped), PLAINTEXT and CDATA sections,
 * and all named (the full 2231-name table) and numeric character
 * references.
 *
 * Input is UTF-8 in chunks of any size, split anywhere (inside a tag, an
 * entity or a UTF-8 sequence).  The input stream is preprocessed as the
 * standard says: CR and CRLF become LF, and invalid UTF-8 becomes U+FFFD
 * (WHATWG decoder rules), so every token is valid UTF-8.  Text pieces handed
 * to the text callback always hold whole UTF-8 sequences.
 *
 * There is no tree builder: the caller does the tree builder's part of the
 * job by switching the tokenizer to RCDATA/RAWTEXT/script data/PLAINTEXT
 * (html_tok_set_state, from its start-tag callback) and by allowing CDATA
 * sections in foreign content (html_tok_set_cdata_allowed).
 *
 * Untrusted input: memory is bounded by HTML_TOK_MAX_TOKEN_BYTES per token
 * and HTML_TOK_MAX_ATTRS per tag; what lies beyond is dropped and counted in
 * html_tok_truncations().  Parse errors are counted, not reported one by
 * one.  Never fails.
 */
#ifndef SEKISHO_HTML_TOK_H
#define SEKISHO_HTML_TOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Bytes of one tag (name and every attribute), comment or DOCTYPE kept. */
#define HTML_TOK_MAX_TOKEN_BYTES (1024 * 1024)
/* Attributes kept per tag; later ones are dropped. */
#define HTML_TOK_MAX_ATTRS 256

enum html_tok_type {
	HTML_TOK_DOCTYPE,
	HTML_TOK_START_TAG,
	HTML_TOK_END_TAG,
	HTML_TOK_COMMENT,
};

/* The states a caller may switch to (the tree builder's choices). */
enum html_tok_content {
	HTML_TOK_DATA,
	HTML_TOK_RCDATA,
	HTML_TOK_RAWTEXT,
	HTML_TOK_SCRIPT_DATA,
	HTML_TOK_PLAINTEXT,
	HTML_TOK_CDATA_SECTION,
};

struct html_tok_attr {
	const char *name; /* lower case, NUL-terminated */
	size_t name_len;
	const char *value; /* character references decoded, NUL-terminated */
	size_t value_len;
};

/*
 * One token.  Every string is NUL-terminated and valid only during the
 * callback.  name: tag name (lower case), DOCTYPE name or comment data.
 */
struct html_tok_token {
	enum html_tok_type type;
	const char *name;
	size_t name_len;
	/* tags */
	const struct html_tok_attr *attrs;
	size_t nattrs;
	bool self_closing;
	/* DOCTYPE: a missing name/identifier is NULL (not the same as "") */
	const char *public_id;
	size_t public_len;
	const char *system_id;
	size_t system_len;
	bool force_quirks;
};

/* Character data: len > 0 bytes of whole UTF-8 sequences. */
typedef void (*html_tok_text_fn)(void *ctx, const char *s, size_t len);
/* Any other token. */
typedef void (*html_tok_token_fn)(void *ctx, const struct html_tok_token *tok);

struct html_tok;

/* A tokenizer in the data state; both callbacks are required.  Never NULL. */
struct html_tok *html_tok_new(html_tok_text_fn text, html_tok_token_fn token, void *ctx);
void html_tok_free(struct html_tok *t);
/* Tokenize the next len bytes; a no-op after html_tok_finish. */
void html_tok_feed(struct html_tok *t, const char *buf, size_t len);
/* End of input: emit what the standard emits at EOF in the current state. */
void html_tok_finish(struct html_tok *t);
/*
 * Switch to a content state.  Called from the start-tag callback it applies
 * to the bytes after that tag, as a tree builder's switch would.
 */
void html_tok_set_state(struct html_tok *t, enum html_tok_content state);
/*
 * Set "the last start tag emitted" (used to recognise the end tag of RCDATA,
 * RAWTEXT and script data); the tokenizer sets it itself on each start tag.
 */
void html_tok_set_last_start_tag(struct html_tok *t, const char *name, size_t len);
/*
 * Keep only the attributes whose (lower-case) name keep() accepts: the
 * others are tokenized but neither stored nor passed on (a speed-up for
 * callers that look at a few attributes).  NULL, the default, keeps all.
 */
typedef bool (*html_tok_keep_fn)(const char *name, size_t len);
void html_tok_set_attr_filter(struct html_tok *t, html_tok_keep_fn keep);
/* Whether "<![CDATA[" opens a CDATA section (foreign content) or a bogus comment. */
void html_tok_set_cdata_allowed(struct html_tok *t, bool allowed);
/* Parse errors seen so far (an approximation: counted, not classified). */
unsigned long html_tok_errors(const struct html_tok *t);
/* Bytes or attributes dropped by the limits above. */
unsigned long html_tok_truncations(const struct html_tok *t);

/* memcpy for the short strings that are most of what is copied: no call. */
static inline void html_tok_copy(char *d, const void *src, size_t n)
{
	const char *s = src;

	if (n > 16) {
		memcpy(d, s, n);
	} else if (n >= 8) {
		uint64_t a, b;

		memcpy(&a, s, 8);
		memcpy(&b, s + n - 8, 8);
		memcpy(d, &a, 8);
		memcpy(d + n - 8, &b, 8);
	} else if (n >= 4) {
		uint32_t a, b;

		memcpy(&a, s, 4);
		memcpy(&b, s + n - 4, 4);
		memcpy(d, &a, 4);
		memcpy(d + n - 4, &b, 4);
	} else if (n) {
		d[0] = s[0];
		d[n / 2] = s[n / 2];
		d[n - 1] = s[n - 1];
	}
}

#endif

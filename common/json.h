/*
 * json - writing JSON text into a strbuf (the verdict, audit records,
 * alerts).  Strings are escaped per RFC 8259; invalid UTF-8 is written as
 * U+FFFD so the output is always valid JSON.
 */
#ifndef SEKISHO_JSON_H
#define SEKISHO_JSON_H

#include "strbuf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Append s (len bytes) as a quoted, escaped JSON string. */
void json_string(struct strbuf *b, const char *s, size_t len);
/* Same for a NUL-terminated string; NULL is written as null. */
void json_cstr(struct strbuf *b, const char *s);
/* Append "key": (with a leading comma unless *first), for building objects. */
void json_key(struct strbuf *b, bool *first, const char *key);

#endif

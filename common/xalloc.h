/*
 * xalloc - allocation that cannot return NULL: out of memory is fatal.
 */
#ifndef SEKISHO_XALLOC_H
#define SEKISHO_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
/* Resize p to nmemb * size bytes, checking the multiplication for overflow. */
void *xreallocarray(void *p, size_t nmemb, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

/*
 * Growable arrays: a struct with fields `T *v; size_t n, cap;`.
 * VEC_PUSH(vec) returns a pointer to a new zeroed slot at the end.
 */
#define VEC_PUSH(vec)                                                                              \
	(((vec).n == (vec).cap ? ((vec).cap = (vec).cap ? (vec).cap * 2 : 8,                       \
	                          (vec).v = xreallocarray((vec).v, (vec).cap, sizeof(*(vec).v)))   \
	                       : 0),                                                               \
	 memset(&(vec).v[(vec).n], 0, sizeof(*(vec).v)), &(vec).v[(vec).n++])

#endif

/*
 * tnef - list the attachments inside an MS-TNEF stream (winmail.dat,
 * application/ms-tnef) by name, size and content, so the notice can say what
 * was inside.  Untrusted input: every length is checked against the buffer;
 * a damaged stream yields what could be read and ok = false.
 */
#ifndef SEKISHO_TNEF_H
#define SEKISHO_TNEF_H

#include <stdbool.h>
#include <stddef.h>

struct tnef_file {
	char *name;             /* attachment title / long file name (UTF-8), may be NULL */
	const unsigned char *data; /* points into the input buffer */
	size_t size;
};

/* Parse buf.  Returns the number of attachments found and a malloc'd array
 * in *files_r; *ok_r is false when the stream was not TNEF or was damaged. */
size_t tnef_list(const void *buf, size_t len, struct tnef_file **files_r, bool *ok_r);
void tnef_free(struct tnef_file *files, size_t n);

#endif

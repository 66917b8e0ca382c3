/*
 * tnef - list the attachments inside an MS-TNEF stream (winmail.dat,
 * application/ms-tnef) by name, size and content, so the notice can say what
 * was inside.  Untrusted input: every length is checked against the buffer;
 * at most 1000 attachments and 10000 MAPI properties are read; a damaged
 * stream yields what could be read and ok = false.
 *
 * The name is the first found of PR_ATTACH_LONG_FILENAME, attAttachTitle,
 * PR_ATTACH_FILENAME, PR_DISPLAY_NAME; UTF-16 names are converted by hand,
 * 8-bit names from the stream's attOemCodepage (iconv "CP<n>"; UTF-8 when
 * none is declared); undecodable bytes and control characters become U+FFFD.
 * The data is attAttachData, else PR_ATTACH_DATA_BIN, else the contents of
 * PR_ATTACH_DATA_OBJ (an embedded message is itself a TNEF stream).
 */
#ifndef SEKISHO_TNEF_H
#define SEKISHO_TNEF_H

#include <stdbool.h>
#include <stddef.h>

struct tnef_file {
	char *name;                /* attachment title / long file name (UTF-8), may be NULL */
	const unsigned char *data; /* points into the input buffer */
	size_t size;
};

/* Parse buf.  Returns the number of attachments found and a malloc'd array
 * in *files_r (NULL when 0); *ok_r is false when the stream was not TNEF or
 * was damaged (bad signature, short or overlong attribute, checksum
 * mismatch, unreadable property list, a cap reached).  Never fails. */
size_t tnef_list(const void *buf, size_t len, struct tnef_file **files_r, bool *ok_r);
/* Free what tnef_list returned (files may be NULL). */
void tnef_free(struct tnef_file *files, size_t n);

#endif

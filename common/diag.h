/*
 * diag - operator-facing diagnostics for configuration files, in the form
 *
 *   rules/joho.rules:12:8: error: unknown host "mail-lgwn"
 *       allow joho -> lgwan tcp/443 to mail-lgwn
 *                                      ^~~~~~~~~
 *
 * Every error of a run is collected (not only the first); the caller decides
 * the exit status from diag_errors().  Source lines are kept by registering
 * each file's text with diag_add_source().
 */
#ifndef SEKISHO_DIAG_H
#define SEKISHO_DIAG_H

#include <stdbool.h>
#include <stdio.h>

struct srcpos {
	const char *file; /* interned: valid for the whole run */
	int line;         /* 1-based; 0 = no position */
	int col;          /* 1-based, in bytes */
	int len;          /* length of the offending token in bytes (>= 1 for a caret) */
};

enum diag_level { DIAG_ERROR, DIAG_WARNING, DIAG_NOTE };

/* Register the text of a file so that diagnostics can quote its lines.
 * Returns the interned file name to store in srcpos.file. */
const char *diag_add_source(const char *file, const char *text, size_t len);
/* Report one diagnostic.  pos may be NULL (no location). */
void diag_report(enum diag_level level, const struct srcpos *pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define diag_error(pos, ...) diag_report(DIAG_ERROR, pos, __VA_ARGS__)
#define diag_warn(pos, ...) diag_report(DIAG_WARNING, pos, __VA_ARGS__)
#define diag_note(pos, ...) diag_report(DIAG_NOTE, pos, __VA_ARGS__)

int diag_errors(void);
int diag_warnings(void);
/* Where diagnostics go (default stderr); NULL silences them (fuzzing). */
void diag_set_output(FILE *f);
/* Forget all sources and counts (between independent runs, e.g. fuzzing). */
void diag_reset(void);

#endif

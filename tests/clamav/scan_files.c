/*
 * scan_files - test tool: scan files with sanitizer/scan.c, one line each.
 *
 *   scan_files DBDIR FILE...
 *
 * Prints "FILE: CLEAN", "FILE: INFECTED NAME" or "FILE: ERROR REASON" per
 * file on stdout.  Exit status: 0 all clean, 1 something infected, 2 an
 * error (the engine could not be opened, a file could not be read or
 * scanned).  When scan_open fails its reason goes to stderr as
 * "scan_files: REASON".  Trusts its arguments (a test tool).
 */
#include "scan.h"

#include "log.h"
#include "strbuf.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	struct strbuf err = STRBUF_INIT;
	struct scan_engine *e;
	int status = 0;

	log_init("scan_files");
	if (argc < 2) {
		fprintf(stderr, "usage: scan_files DBDIR FILE...\n");
		return 2;
	}
	e = scan_open(argv[1], &err);
	if (e == NULL) {
		fprintf(stderr, "scan_files: %s\n", err.s != NULL ? err.s : "scan_open failed");
		strbuf_free(&err);
		return 2;
	}
	for (int i = 2; i < argc; i++) {
		struct strbuf data;
		const char *name = NULL;

		/* whole files, however large: scan_buffer enforces its own limit */
		strbuf_init(&data, 0);
		if (!strbuf_read_file(&data, argv[i])) {
			printf("%s: ERROR %s\n", argv[i], strerror(errno));
			status = 2;
		} else {
			switch (scan_buffer(e, data.s, data.len, &name)) {
			case SCAN_CLEAN:
				printf("%s: CLEAN\n", argv[i]);
				break;
			case SCAN_INFECTED:
				printf("%s: INFECTED %s\n", argv[i], name);
				if (status == 0)
					status = 1;
				break;
			case SCAN_ERROR:
				printf("%s: ERROR %s\n", argv[i], name);
				status = 2;
				break;
			}
		}
		strbuf_free(&data);
	}
	fflush(stdout);
	scan_close(e);
	strbuf_free(&err);
	return status;
}

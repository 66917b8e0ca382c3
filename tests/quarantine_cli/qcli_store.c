/*
 * qcli_store - test helper of tests/quarantine_cli: stores one message in
 * a quarantine store as the relay does, then dates it.
 *
 *   qcli_store DIR MESSAGE META_JSON_FILE MTIME
 *
 * Stores the bytes of MESSAGE with the JSON in META_JSON_FILE through
 * quarantine_store, sets the mtime of the entry's message.eml (the time
 * the store uses as "first stored") to MTIME (unix seconds) and prints the
 * id.  Exit 0, or 1 with the reason on stderr.
 */
#include "quarantine.h"
#include "strbuf.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

int main(int argc, char **argv)
{
	struct strbuf msg = STRBUF_INIT, meta = STRBUF_INIT, err = STRBUF_INIT, path = STRBUF_INIT;
	char id[QUARANTINE_ID_LEN + 1];
	struct timespec ts[2];
	struct quarantine *q;
	int rc = 1;

	if (argc != 5) {
		fputs("usage: qcli_store DIR MESSAGE META_JSON_FILE MTIME\n", stderr);
		return 2;
	}
	if (!strbuf_read_file(&msg, argv[2]) || !strbuf_read_file(&meta, argv[3])) {
		perror("read");
		return 1;
	}
	if (!(q = quarantine_open(argv[1], &err))) {
		fprintf(stderr, "%s\n", err.s);
		return 1;
	}
	if (quarantine_store(q, msg.s ? msg.s : "", msg.len, meta.s, id, &err) < 0) {
		fprintf(stderr, "%s\n", err.s);
		goto out;
	}
	ts[0].tv_sec = ts[1].tv_sec = (time_t)strtoll(argv[4], NULL, 10);
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	strbuf_printf(&path, "%s/%.2s/%s/message.eml", argv[1], id, id + 2);
	if (utimensat(AT_FDCWD, path.s, ts, AT_SYMLINK_NOFOLLOW) < 0) {
		perror(path.s);
		goto out;
	}
	printf("%s\n", id);
	rc = 0;
out:
	quarantine_close(q);
	strbuf_free(&msg);
	strbuf_free(&meta);
	strbuf_free(&err);
	strbuf_free(&path);
	return rc;
}

/*
 * html_text_driver - converts one HTML file with html_text and writes the
 * text to stdout, for the golden tests (run.sh).  "-c N" feeds the file N
 * bytes at a time (0 = html_text_convert in one call), so the tests also
 * check that the output does not depend on how the input is split.
 * Exit 2 if the file cannot be read.
 */
#include "html_text.h"
#include "strbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
	struct strbuf in, out;
	size_t chunk = 0, off;
	const char *path;

	if (argc == 4 && strcmp(argv[1], "-c") == 0) {
		chunk = strtoul(argv[2], NULL, 10);
		path = argv[3];
	} else if (argc == 2) {
		path = argv[1];
	} else {
		fprintf(stderr, "usage: html_text_driver [-c CHUNK] FILE\n");
		return 2;
	}
	strbuf_init(&in, 64 * 1024 * 1024);
	strbuf_init(&out, 0);
	if (!strbuf_read_file(&in, path)) {
		perror(path);
		return 2;
	}
	if (chunk == 0) {
		html_text_convert(in.s ? in.s : "", in.len, &out);
	} else {
		struct html_text *h = html_text_new(&out);

		for (off = 0; off < in.len; off += chunk)
			html_text_feed(h, in.s + off, in.len - off < chunk ? in.len - off : chunk);
		html_text_finish(h);
	}
	fwrite(out.s ? out.s : "", 1, out.len, stdout);
	strbuf_free(&in);
	strbuf_free(&out);
	return 0;
}

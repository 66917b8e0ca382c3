/*
 * cmd_check - `sekisho check [--quiet] [DIR]`: parse and check the rule
 * files, print every diagnostic and a one-line summary on stderr.
 *
 * TRUSTS: nothing; reads the rule files only and touches nothing else
 * (like nginx -t, pfctl -n).
 * FAILS: exit 0 when there is no error (warnings allowed), 1 when there are
 * errors, 2 on usage errors or when DIR cannot be read.
 */
#include "auditrec.h"
#include "cmd.h"
#include "log.h"
#include "policy.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

static const char *cmd_check_plural(int n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

int cmd_check(const struct cmd_opts *o, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"quiet", no_argument, NULL, 'q'},
	    {NULL, 0, NULL, 0},
	};
	const char *dir = o->rules_dir;
	bool quiet = false;
	struct policy *p;
	size_t dlen;
	DIR *d;
	int c, errors, warnings;

	while ((c = getopt_long(argc, argv, "q", longopts, NULL)) != -1) {
		if (c != 'q') {
			fputs("usage: sekisho check [--quiet] [DIR]\n", stderr);
			return 2;
		}
		quiet = true;
	}
	if (optind + 1 < argc) {
		fputs("usage: sekisho check [--quiet] [DIR]\n", stderr);
		return 2;
	}
	if (optind < argc)
		dir = argv[optind];
	d = opendir(dir);
	if (!d) {
		log_error_errno("cannot read rules directory %s", dir);
		return 2;
	}
	closedir(d);

	p = rulefile_load_dir(dir);
	policy_check(p);
	errors = diag_errors();
	warnings = diag_warnings();
	if (!quiet) {
		dlen = strlen(dir);
		fprintf(stderr, "%s%s: %zu %s, %zu %s, %zu %s, %zu %s: ", dir,
		        dlen && dir[dlen - 1] == '/' ? "" : "/", p->files.n,
		        cmd_check_plural((int)p->files.n, "file", "files"), p->segs.n,
		        cmd_check_plural((int)p->segs.n, "segment", "segments"), p->hosts.n,
		        cmd_check_plural((int)p->hosts.n, "host", "hosts"), p->flows.n,
		        cmd_check_plural((int)p->flows.n, "flow", "flows"));
		if (errors == 0 && warnings == 0)
			fputs("OK\n", stderr);
		else
			fprintf(stderr, "%d %s, %d %s\n", errors,
			        cmd_check_plural(errors, "error", "errors"), warnings,
			        cmd_check_plural(warnings, "warning", "warnings"));
	}
	auditrec_check(dir, errors, warnings);
	policy_free(p);
	return errors ? 1 : 0;
}

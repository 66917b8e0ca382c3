/*
 * cmd_sanitize - `sekisho sanitize`: one message from stdin through the
 * 無害化 engine to stdout.
 *
 *   sekisho sanitize [--policy FILE] [--verdict FILE] [--scan-db DIR]
 *                    [--lang ja|en] < in.eml > out.eml
 *
 * Exit 0: the sanitised message was written; 1: the message is withheld
 * and the notice that replaces it was written; 2: error, nothing on stdout,
 * the reason on stderr.  The scan database is --scan-db, else
 * $SEKISHO_SCAN_DB, else SCAN_DEFAULT_DB_DIR.
 *
 * Trust: stdin is hostile (read up to the policy's message limit plus one
 * byte, so an oversized message is still withheld, not cut); the policy
 * file is the operator's.  Output is written whole or not at all.
 */
#include "cmd.h"
#include "log.h"
#include "sanitize.h"
#include "scan.h"
#include "strbuf.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bool cmd_sanitize_write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return false;
		}
		p += w;
		n -= (size_t)w;
	}
	return true;
}

/* Read stdin up to max + 1 bytes; past max the rest is drained. */
static bool cmd_sanitize_read(struct strbuf *in, size_t max)
{
	char buf[65536];

	for (;;) {
		ssize_t r = read(0, buf, sizeof(buf));

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return false;
		}
		if (r == 0)
			return true;
		if (in->len <= max) {
			size_t take = (size_t)r;

			if (in->len + take > max + 1)
				take = max + 1 - in->len;
			strbuf_append(in, buf, take);
		}
	}
}

static void cmd_sanitize_usage(FILE *f)
{
	fputs("usage: sekisho sanitize [--policy FILE] [--verdict FILE] [--scan-db DIR]\n"
	      "                        [--lang ja|en] < in.eml > out.eml\n",
	      f);
}

int cmd_sanitize(const struct cmd_opts *o, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"policy", required_argument, NULL, 'p'},  {"verdict", required_argument, NULL, 'v'},
	    {"scan-db", required_argument, NULL, 'd'}, {"lang", required_argument, NULL, 'l'},
	    {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
	};
	const char *policy = NULL, *verdict = NULL, *lang = NULL;
	const char *db = getenv("SEKISHO_SCAN_DB");
	struct sanitize_policy pol;
	struct strbuf err = STRBUF_INIT, in = STRBUF_INIT;
	struct sanitize_result res;
	struct scan_engine *eng;
	enum sanitize_status st;
	int ch, rc = 2;

	(void)o;
	while ((ch = getopt_long(argc, argv, "p:v:d:l:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'p':
			policy = optarg;
			break;
		case 'v':
			verdict = optarg;
			break;
		case 'd':
			db = optarg;
			break;
		case 'l':
			lang = optarg;
			break;
		case 'h':
			cmd_sanitize_usage(stdout);
			return 0;
		default:
			cmd_sanitize_usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		cmd_sanitize_usage(stderr);
		return 2;
	}
	sanitize_policy_init(&pol);
	if (policy && !sanitize_policy_load(&pol, policy, &err)) {
		fputs(err.s ? err.s : "", stderr);
		log_error("policy %s not loaded", policy);
		goto out;
	}
	if (lang) {
		if (strcmp(lang, "ja") == 0)
			pol.lang = SANITIZE_LANG_JA;
		else if (strcmp(lang, "en") == 0)
			pol.lang = SANITIZE_LANG_EN;
		else {
			log_error("--lang must be ja or en");
			goto out;
		}
	}
	eng = scan_open(db && *db ? db : SCAN_DEFAULT_DB_DIR, &err);
	if (!eng) {
		log_error("virus scanner: %s", err.s ? err.s : "cannot open");
		goto out;
	}
	if (!cmd_sanitize_read(&in, pol.max_message_bytes)) {
		log_error_errno("reading the message");
		scan_close(eng);
		goto out;
	}
	st = sanitize_message(&pol, eng, in.s ? in.s : "", in.len, NULL, NULL, 0, &res);
	if (st == SANITIZE_ERROR) {
		log_error("%s", res.error.s ? res.error.s : "sanitiser error");
	} else {
		rc = st == SANITIZE_WITHHELD ? 1 : 0;
		if (verdict) {
			FILE *f = fopen(verdict, "w");

			if (!f || fputs(res.verdict.s, f) == EOF || fputc('\n', f) == EOF ||
			    fclose(f) != 0) {
				log_error_errno("writing the verdict to %s", verdict);
				rc = 2;
			}
		}
		if (rc != 2 && !cmd_sanitize_write_all(1, res.message.s, res.message.len)) {
			log_error_errno("writing the message");
			rc = 2;
		}
	}
	sanitize_result_free(&res);
	scan_close(eng);
out:
	strbuf_free(&in);
	strbuf_free(&err);
	sanitize_policy_free(&pol);
	return rc;
}

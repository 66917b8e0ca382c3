/*
 * cmd_audit - `sekisho audit verify|head|keygen`: the operator's tools for
 * the tamper-evident audit log (common/audit.h, docs/audit.md).
 *
 *   sekisho audit verify [FILE] [--key KEYFILE] [--head SEQ:HMAC]
 *   sekisho audit head [FILE] [--key KEYFILE]
 *   sekisho audit keygen FILE
 *
 * FILE defaults to $SEKISHO_AUDIT_LOG or /var/log/sekisho/audit.jsonl,
 * KEYFILE to $SEKISHO_AUDIT_KEY or /etc/sekisho/audit.key.
 *
 * TRUSTS: the key file (refused when group or others may read it); the log
 * is untrusted input to the verifier.
 * FAILS: verify exits 0 intact, 1 broken (the first problem as
 * FILE:LINE: record seq N: what), 2 usage or unreadable log/key.
 */
#include "audit.h"
#include "cmd.h"
#include "log.h"
#include "strbuf.h"

#include <getopt.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

static void cmd_audit_usage(FILE *f)
{
	fputs("usage: sekisho audit verify [FILE] [--key KEYFILE] [--head SEQ:HMAC]\n"
	      "       sekisho audit head [FILE] [--key KEYFILE]\n"
	      "       sekisho audit keygen FILE\n",
	      f);
}

int cmd_audit(const struct cmd_opts *o, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"key", required_argument, NULL, 'k'},
	    {"head", required_argument, NULL, 'H'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	static unsigned char key[AUDIT_KEY_MAX];
	struct audit_head_ref head;
	struct strbuf out = STRBUF_INIT;
	const char *log, *keyfile, *sub;
	bool have_head = false;
	int c, keylen, ret;

	(void)o;
	if (argc < 2) {
		cmd_audit_usage(stderr);
		return 2;
	}
	sub = argv[1];
	if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0) {
		cmd_audit_usage(stdout);
		return 0;
	}
	audit_configured(&log, &keyfile);
	/* options may follow FILE: getopt afresh (optind 0) over argv from sub */
	argc--;
	argv++;
	optind = 0;
	while ((c = getopt_long(argc, argv, "k:H:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'k':
			keyfile = optarg;
			break;
		case 'H':
			if (!audit_head_parse(optarg, &head)) {
				log_error("--head takes SEQ:HMAC (as 'sekisho audit head' prints)");
				return 2;
			}
			have_head = true;
			break;
		case 'h':
			cmd_audit_usage(stdout);
			return 0;
		default:
			cmd_audit_usage(stderr);
			return 2;
		}
	}
	if (strcmp(sub, "keygen") == 0) {
		if (optind + 1 != argc) {
			cmd_audit_usage(stderr);
			return 2;
		}
		if (audit_key_generate(argv[optind], &out) < 0) {
			log_error("%s", out.s);
			strbuf_free(&out);
			return 2;
		}
		log_info("new audit key written to %s (mode 0600)", argv[optind]);
		return 0;
	}
	if ((strcmp(sub, "verify") != 0 && strcmp(sub, "head") != 0) || optind + 1 < argc ||
	    (have_head && strcmp(sub, "verify") != 0)) {
		cmd_audit_usage(stderr);
		return 2;
	}
	if (optind < argc)
		log = argv[optind];
	keylen = audit_key_load(keyfile, key, &out);
	if (keylen < 0) {
		log_error("%s", out.s);
		strbuf_free(&out);
		return 2;
	}
	ret = audit_verify(log, log, key, (size_t)keylen, have_head ? &head : NULL, &out);
	OPENSSL_cleanse(key, sizeof(key));
	if (strcmp(sub, "head") == 0 && ret == 0) {
		/* the summary ends "head SEQ:HMAC\n": print that for the operator */
		const char *h = strstr(out.s, ", head ");

		fputs(h ? h + 7 : out.s, stdout);
	} else {
		fputs(out.s ? out.s : "", ret == 2 ? stderr : stdout);
		if (ret == 1 && strcmp(sub, "head") == 0)
			log_error("the log is broken; no head printed");
	}
	strbuf_free(&out);
	return fflush(stdout) == 0 ? ret : 2;
}

/*
 * sekisho - the operator's command line: dispatches to the subcommands in
 * cmd_*.c.  Global options come before the subcommand.
 */
#include "cmd.h"
#include "log.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
	fputs("usage: sekisho [--rules DIR] [--state-dir DIR] COMMAND [ARGS]\n"
	      "\n"
	      "commands:\n"
	      "  check [DIR]                 parse and check the rule files; touches nothing\n"
	      "  show [DIR]                  print the compiled ruleset in nft syntax\n"
	      "  apply [--confirm SECONDS] [DIR]\n"
	      "                              compile and apply atomically; with --confirm,\n"
	      "                              revert unless 'sekisho confirm' arrives in time\n"
	      "  confirm                     keep a ruleset applied with --confirm\n"
	      "  diff [DIR]                  compare the running ruleset with the rule files\n"
	      "  rollback [N]                re-apply the version N steps back (default 1)\n"
	      "  status [--relay-stats FILE] [--alerts FILE] [--prometheus [FILE]]\n"
	      "                              the running ruleset, counters, relay, alerts\n"
	      "  sanitize [--policy FILE] [--verdict FILE] [--scan-db DIR] [--lang ja|en]\n"
	      "                              無害化 one message: stdin -> stdout (exit 0\n"
	      "                              sanitised, 1 withheld, 2 error)\n"
	      "  quarantine list|show|export|release|prune ...\n"
	      "                              the relay's quarantine store (see\n"
	      "                              'sekisho quarantine --help')\n"
	      "  audit verify|head|keygen    the audit log (see 'sekisho audit --help')\n"
	      "\n"
	      "DIR defaults to $SEKISHO_RULES or " CMD_DEFAULT_RULES_DIR ";\n"
	      "the state directory to $SEKISHO_STATE_DIR or " CMD_DEFAULT_STATE_DIR ".\n",
	      f);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"rules", required_argument, NULL, 'r'},
	    {"state-dir", required_argument, NULL, 's'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	static const struct {
		const char *name;
		int (*fn)(const struct cmd_opts *, int, char **);
	} cmds[] = {
	    {"check", cmd_check},     {"show", cmd_show},         {"apply", cmd_apply},
	    {"confirm", cmd_confirm}, {"diff", cmd_diff},         {"rollback", cmd_rollback},
	    {"status", cmd_status},   {"sanitize", cmd_sanitize}, {"quarantine", cmd_quarantine},
	    {"audit", cmd_audit},
	};
	struct cmd_opts o;
	int c;

	log_init("sekisho");
	o.rules_dir = getenv("SEKISHO_RULES") ? getenv("SEKISHO_RULES") : CMD_DEFAULT_RULES_DIR;
	o.state_dir =
	    getenv("SEKISHO_STATE_DIR") ? getenv("SEKISHO_STATE_DIR") : CMD_DEFAULT_STATE_DIR;
	while ((c = getopt_long(argc, argv, "+r:s:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'r':
			o.rules_dir = optarg;
			break;
		case 's':
			o.state_dir = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (strcmp(argv[optind], cmds[i].name) == 0) {
			int sub_argc = argc - optind;
			char **sub_argv = argv + optind;

			optind = 0; /* subcommands run getopt afresh over their own argv */
			return cmds[i].fn(&o, sub_argc, sub_argv);
		}
	}
	log_error("unknown command '%s'", argv[optind]);
	usage(stderr);
	return 2;
}

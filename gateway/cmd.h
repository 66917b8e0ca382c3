/*
 * cmd - the subcommands of the sekisho CLI.  Each returns the process exit
 * status: 0 success, 1 the operation was refused or found problems (check
 * errors, a failed apply), 2 usage or system error.
 */
#ifndef SEKISHO_CMD_H
#define SEKISHO_CMD_H

/* Global options, parsed by sekisho.c before the subcommand. */
struct cmd_opts {
	const char *rules_dir; /* default /etc/sekisho/rules, env SEKISHO_RULES */
	const char *state_dir; /* default /var/lib/sekisho, env SEKISHO_STATE_DIR */
};

#define CMD_DEFAULT_RULES_DIR "/etc/sekisho/rules"
#define CMD_DEFAULT_STATE_DIR "/var/lib/sekisho"

/* argv[0] is the subcommand name; a trailing DIR argument overrides rules_dir. */
int cmd_check(const struct cmd_opts *o, int argc, char **argv);    /* cmd_check.c */
int cmd_show(const struct cmd_opts *o, int argc, char **argv);     /* cmd_ruleset.c */
int cmd_apply(const struct cmd_opts *o, int argc, char **argv);    /* cmd_ruleset.c */
int cmd_confirm(const struct cmd_opts *o, int argc, char **argv);  /* cmd_ruleset.c */
int cmd_diff(const struct cmd_opts *o, int argc, char **argv);     /* cmd_ruleset.c */
int cmd_rollback(const struct cmd_opts *o, int argc, char **argv); /* cmd_ruleset.c */
int cmd_status(const struct cmd_opts *o, int argc, char **argv);   /* cmd_ruleset.c */
/* stdin -> stdout through the sanitiser; 0 sanitised, 1 withheld, 2 error */
int cmd_sanitize(const struct cmd_opts *o, int argc, char **argv); /* cmd_sanitize.c */
/* the relay's quarantine store: 0 done, 1 failed, 2 usage */
int cmd_quarantine(const struct cmd_opts *o, int argc, char **argv); /* cmd_quarantine.c */

/* audit verify|head|keygen: 0 intact, 1 broken, 2 usage */
int cmd_audit(const struct cmd_opts *o, int argc, char **argv); /* cmd_audit.c */

#endif

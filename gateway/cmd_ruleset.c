/* placeholder until the compiler lands; replaced by its owner */
#include "cmd.h"
#include "log.h"
#define NOT_YET(n) int n(const struct cmd_opts *o, int argc, char **argv) { log_error(#n ": not built yet"); return 2; }
NOT_YET(cmd_show)
NOT_YET(cmd_apply)
NOT_YET(cmd_confirm)
NOT_YET(cmd_diff)
NOT_YET(cmd_rollback)
NOT_YET(cmd_status)

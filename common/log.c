/*
 * log - stderr/syslog logging with fixed levels.  Trusts nothing; never fails
 * (a failed write to stderr is ignored).
 */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

static const char *log_progname = "sekisho";
static bool log_syslog;
static bool log_quiet;

void log_init(const char *progname)
{
	log_progname = progname;
}

void log_use_syslog(bool on)
{
	if (on && !log_syslog)
		openlog(log_progname, LOG_PID, LOG_DAEMON);
	log_syslog = on;
}

void log_set_quiet(bool on)
{
	log_quiet = on;
}

__attribute__((format(printf, 4, 0))) static void log_emit(int prio, const char *tag, int errnum,
                                                           const char *fmt, va_list ap)
{
	char msg[2048];

	vsnprintf(msg, sizeof(msg), fmt, ap); /* truncation of a log line is acceptable */
	if (log_syslog) {
		if (errnum)
			syslog(prio, "%s: %s", msg, strerror(errnum));
		else
			syslog(prio, "%s", msg);
		return;
	}
	if (errnum)
		fprintf(stderr, "%s: %s%s: %s\n", log_progname, tag, msg, strerror(errnum));
	else
		fprintf(stderr, "%s: %s%s\n", log_progname, tag, msg);
}

#define LOG_BODY(prio, tag, errnum)                                                                \
	do {                                                                                       \
		va_list ap;                                                                        \
		va_start(ap, fmt);                                                                 \
		log_emit(prio, tag, errnum, fmt, ap);                                              \
		va_end(ap);                                                                        \
	} while (0)

void log_info(const char *fmt, ...)
{
	if (log_quiet)
		return;
	LOG_BODY(LOG_INFO, "", 0);
}

void log_warn(const char *fmt, ...)
{
	LOG_BODY(LOG_WARNING, "warning: ", 0);
}

void log_warn_errno(const char *fmt, ...)
{
	int e = errno;
	LOG_BODY(LOG_WARNING, "warning: ", e);
}

void log_error(const char *fmt, ...)
{
	LOG_BODY(LOG_ERR, "error: ", 0);
}

void log_error_errno(const char *fmt, ...)
{
	int e = errno;
	LOG_BODY(LOG_ERR, "error: ", e);
}

void log_fatal(const char *fmt, ...)
{
	LOG_BODY(LOG_CRIT, "fatal: ", 0);
	exit(2);
}

void log_fatal_errno(const char *fmt, ...)
{
	int e = errno;
	LOG_BODY(LOG_CRIT, "fatal: ", e);
	exit(2);
}

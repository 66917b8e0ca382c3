/*
 * log - the one logging API of sekisho.
 *
 * Fixed meanings: info (what happened), warn (something is off but work goes
 * on), error (this operation failed), fatal (the program cannot go on; exits
 * with status 2).  The *_errno variants append ": strerror(errno)".
 * Messages go to stderr, prefixed with the program name; daemons may switch to
 * syslog with log_use_syslog().
 */
#ifndef SEKISHO_LOG_H
#define SEKISHO_LOG_H

#include <stdbool.h>

/* Set the program name used as prefix (default "sekisho"). */
void log_init(const char *progname);
/* Send messages to syslog (LOG_DAEMON) instead of stderr. */
void log_use_syslog(bool on);
/* Suppress info messages (warnings and errors still print). */
void log_set_quiet(bool on);

void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn_errno(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error_errno(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void log_fatal_errno(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif

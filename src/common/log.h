/*
 * The one log API of every Lifeline program: stderr in the foreground (-d),
 * syslog otherwise. errno is preserved across every call.
 */
#ifndef LIFELINE_LOG_H
#define LIFELINE_LOG_H

#include <stdarg.h>

enum log_dest { LOG_TO_STDERR, LOG_TO_SYSLOG };

/* Call once at start-up; verbose > 0 turns on log_debug. */
void log_init(enum log_dest dest, int verbose, const char *progname);
void log_setverbose(int verbose);
int  log_getverbose(void);

void log_info(const char *fmt, ...)  __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...)  __attribute__((format(printf, 1, 2)));  /* appends strerror(errno) */
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void fatal(const char *fmt, ...)  __attribute__((format(printf, 1, 2)));
_Noreturn void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif

/*
 * Starting a daemon detached from the caller: a new session, a grandchild
 * of the caller (so the caller's SIGCHLD handling never reaps it), stdin
 * from /dev/null, nothing of the caller's open but 0-2. lifelined starts
 * lifeline-repl this way; lifeline and lifeline-repl start lifelined.
 */
#ifndef LIFELINE_SPAWN_H
#define LIFELINE_SPAWN_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Start argv[0] with argv. out_path, when not NULL, receives the program's
 * stdout and stderr (appended, created 0600); otherwise it keeps the
 * caller's. The only wait is for the middle process, which forks and exits
 * at once. Returns the program's pid, with *report_fd set to a
 * non-blocking, close-on-exec descriptor on which a failed exec reports
 * its errno (spawn_exec_errno; close it when done), or -1 with err.
 */
pid_t	 spawn_detached(char *const argv[], const char *out_path, int *report_fd,
	    char *err, size_t errlen);

/* The errno of a failed exec reported on report_fd so far, 0 if none. */
int	 spawn_exec_errno(int report_fd);

/*
 * NAME beside the running executable (the build folder's bin/ or an
 * install's), or in ../sbin or ../bin from there; NULL when none is
 * executable.
 */
char	*spawn_program_beside(const char *name);

#endif

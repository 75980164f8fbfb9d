/*
 * Child processes of lifelined: one SIGCHLD handler reaps every child and
 * hands each exit status to whoever started that child (a service, a
 * health check, a stop command), so no module reaps another's children.
 */
#ifndef LIFELINE_CHILDREN_H
#define LIFELINE_CHILDREN_H

#include <sys/types.h>

struct event_base;
struct children;

/*
 * fork(2) for a child that will exec: signals are blocked across the fork,
 * and the child gets every handler back to its default and an empty mask
 * before it runs anything, so a signal sent to it early is never handled
 * by the parent's handlers in the child. Returns as fork does.
 */
pid_t children_fork(void);

/* status is the one waitpid(2) gave. */
typedef void child_exit_fn(void *arg, pid_t pid, int status);

struct children *children_new(struct event_base *base);
void children_free(struct children *c);

/* Call fn(arg, pid, status) once when pid ends (it must be our child). */
void children_watch(struct children *c, pid_t pid, child_exit_fn *fn, void *arg);

/*
 * Stop telling anyone about pid (its owner went away): it is still reaped
 * when it ends, silently.
 */
void children_forget(struct children *c, pid_t pid);

/*
 * Reap what has ended now, without waiting for the signal: for callers
 * that must know at once (a blocking stop at exit).
 */
void children_reap(struct children *c);

#endif

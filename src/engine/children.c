/*
 * Child processes of lifelined: reaped in one place, each exit handed to
 * the callback its starter registered.
 */
#include "engine/children.h"
#include "common/log.h"
#include "common/util.h"

#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

struct watch {
	pid_t          pid;
	child_exit_fn *fn;
	void          *arg;
};

struct children {
	struct event  *sigchld_ev;
	struct watch  *v;
	size_t         n;
};

pid_t
children_fork(void)
{
	sigset_t all, old;
	pid_t pid;
	int saved;

	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	pid = fork();
	if (pid == 0) {
		sigset_t none;

		for (int sig = 1; sig < NSIG; sig++)
			signal(sig, SIG_DFL);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		return 0;
	}
	saved = errno;
	sigprocmask(SIG_SETMASK, &old, NULL);
	errno = saved;
	return pid;
}

static void
on_sigchld(evutil_socket_t sig, short what, void *arg)
{
	children_reap(arg);
}

struct children *
children_new(struct event_base *base)
{
	struct children *c = xcalloc(1, sizeof(*c));

	c->sigchld_ev = evsignal_new(base, SIGCHLD, on_sigchld, c);
	event_add(c->sigchld_ev, NULL);
	return c;
}

void
children_free(struct children *c)
{
	if (c == NULL)
		return;
	event_free(c->sigchld_ev);
	free(c->v);
	free(c);
}

void
children_watch(struct children *c, pid_t pid, child_exit_fn *fn, void *arg)
{
	c->v = xrealloc(c->v, (c->n + 1) * sizeof(*c->v));
	c->v[c->n++] = (struct watch){ pid, fn, arg };
}

/* Remove pid's entry; returns it in *out when found. */
static bool
take(struct children *c, pid_t pid, struct watch *out)
{
	for (size_t i = 0; i < c->n; i++) {
		if (c->v[i].pid != pid)
			continue;
		if (out != NULL)
			*out = c->v[i];
		c->v[i] = c->v[--c->n];
		return true;
	}
	return false;
}

void
children_forget(struct children *c, pid_t pid)
{
	take(c, pid, NULL);
}

/*
 * Each entry is taken out before its callback runs, so a callback may
 * start and watch new children, or forget others, safely.
 */
void
children_reap(struct children *c)
{
	struct watch w;
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (take(c, pid, &w))
			w.fn(w.arg, pid, status);
		else
			log_debug("reaped pid %ld, which nobody watched", (long)pid);
	}
}

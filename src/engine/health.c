/*
 * Health probes of protected services: a TCP connect, a command's exit
 * status, or the main process being there. Each ends in one callback on
 * the loop, within its timeout.
 */
#include "engine/health.h"
#include "engine/children.h"
#include "common/config.h"
#include "common/log.h"
#include "common/util.h"
#include "common/values.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* What an exec check printed first is kept for the reason it failed. */
#define OUTPUT_KEEP 160

struct health {
	struct event_base *base;
	struct children   *kids;
	bool               busy;
	health_result_fn  *fn;
	void              *arg;
	enum check_kind    kind;
	uint64_t           timeout_ms;
	char               target[80];       /* "192.0.2.10:8080", or the command */
	struct event      *timer;            /* the timeout, or an answer known at once */
	bool               answer_ok;        /* the answer known at once */
	char               answer_why[256];
	int                fd;               /* the socket, or the exec check's output */
	struct event      *io;
	pid_t              child;            /* the exec check's shell, or 0 */
	char               out[OUTPUT_KEEP];
	size_t             outlen;
};

/*
 * End the probe: everything is released before fn runs, so fn may start
 * the next probe or free h.
 */
static void
finish(struct health *h, bool ok, const char *why)
{
	health_result_fn *fn = h->fn;
	void *arg = h->arg;
	char copy[sizeof(h->answer_why) + OUTPUT_KEEP + 64];

	snprintf(copy, sizeof(copy), "%s", why != NULL ? why : "");
	health_cancel(h);
	fn(arg, ok, ok ? NULL : copy);
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct health *h = arg;
	char why[256];

	if (h->answer_why[0] != '\0' || h->answer_ok) {
		snprintf(why, sizeof(why), "%s", h->answer_why);
		finish(h, h->answer_ok, why);
		return;
	}
	if (h->kind == CHECK_EXEC)
		snprintf(why, sizeof(why), "check \"%s\" did not finish within %llu ms (killed)",
		    h->target, (unsigned long long)h->timeout_ms);
	else
		snprintf(why, sizeof(why), "no connection to %s within %llu ms", h->target,
		    (unsigned long long)h->timeout_ms);
	finish(h, false, why);
}

/* Answer on the next turn of the loop, never from inside health_probe. */
static void
answer_soon(struct health *h, bool ok, const char *fmt, ...)
{
	struct timeval now = { 0, 0 };
	va_list ap;

	h->answer_ok = ok;
	va_start(ap, fmt);
	vsnprintf(h->answer_why, sizeof(h->answer_why), fmt, ap);
	va_end(ap);
	if (!ok && h->answer_why[0] == '\0')
		snprintf(h->answer_why, sizeof(h->answer_why), "failed");
	evtimer_add(h->timer, &now);
}

static void
arm_timeout(struct health *h)
{
	struct timeval tv = { (time_t)(h->timeout_ms / 1000),
	    (suseconds_t)(h->timeout_ms % 1000) * 1000 };

	evtimer_add(h->timer, &tv);
}

static void
on_connected(evutil_socket_t fd, short what, void *arg)
{
	struct health *h = arg;
	int err = 0;
	socklen_t len = sizeof(err);
	char why[256];

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err == 0) {
		finish(h, true, NULL);
		return;
	}
	snprintf(why, sizeof(why), "cannot connect to %s: %s", h->target, strerror(err));
	finish(h, false, why);
}

static void
probe_tcp(struct health *h, const struct service_conf *sc)
{
	struct sockaddr_storage ss;
	socklen_t sslen = ipaddr_sockaddr(&sc->check_addr, sc->check_port, &ss);
	char addr[64];

	ipaddr_str(&sc->check_addr, addr, sizeof(addr));
	snprintf(h->target, sizeof(h->target), sc->check_addr.family == AF_INET6 ?
	    "[%s]:%u" : "%s:%u", addr, sc->check_port);
	h->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (h->fd < 0) {
		answer_soon(h, false, "cannot make a socket for %s: %s", h->target, strerror(errno));
		return;
	}
	if (connect(h->fd, (struct sockaddr *)&ss, sslen) == 0) {
		answer_soon(h, true, "");
		return;
	}
	if (errno != EINPROGRESS) {
		answer_soon(h, false, "cannot connect to %s: %s", h->target, strerror(errno));
		return;
	}
	h->io = event_new(h->base, h->fd, EV_WRITE, on_connected, h);
	event_add(h->io, NULL);
	arm_timeout(h);
}

/* Keep the first bytes the check prints; drain the rest so it never blocks. */
static void
on_output(evutil_socket_t fd, short what, void *arg)
{
	struct health *h = arg;
	char buf[4096];
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		size_t room = sizeof(h->out) - 1 - h->outlen;
		size_t keep = (size_t)n < room ? (size_t)n : room;

		memcpy(h->out + h->outlen, buf, keep);
		h->outlen += keep;
	}
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
		event_del(h->io);     /* EOF: the exit says how it went */
}

/* The first line the check printed, for the reason: "" when none. */
static const char *
first_line(struct health *h)
{
	h->out[h->outlen] = '\0';
	h->out[strcspn(h->out, "\r\n")] = '\0';
	return h->out;
}

static void
on_check_exit(void *arg, pid_t pid, int status)
{
	struct health *h = arg;
	char why[sizeof(h->answer_why) + OUTPUT_KEEP];
	const char *said;

	h->child = 0;
	on_output(h->fd, EV_READ, h);          /* what it wrote just before */
	said = first_line(h);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		finish(h, true, NULL);
		return;
	}
	if (WIFEXITED(status))
		snprintf(why, sizeof(why), "check \"%s\" exited with status %d%s%s", h->target,
		    WEXITSTATUS(status), *said ? ": " : "", said);
	else
		snprintf(why, sizeof(why), "check \"%s\" was killed by signal %s%s%s", h->target,
		    sigabbrev_np(WTERMSIG(status)) ? sigabbrev_np(WTERMSIG(status)) : "?",
		    *said ? ": " : "", said);
	finish(h, false, why);
}

/* The child side of an exec check: its own group, output to the pipe. */
static _Noreturn void
exec_check(const char *cmd, const char *service, pid_t pid, int out)
{
	sigset_t none;
	char pidstr[24];
	int fd;

	setpgid(0, 0);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (int sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
	if ((fd = open("/dev/null", O_RDONLY)) >= 0) {
		dup2(fd, 0);
		close(fd);
	}
	dup2(out, 1);
	dup2(out, 2);
	if (out > 2)
		close(out);
	snprintf(pidstr, sizeof(pidstr), "%ld", (long)pid);
	setenv("LIFELINE_SERVICE", service, 1);
	setenv("LIFELINE_PID", pidstr, 1);
	execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
	_exit(127);
}

static void
probe_exec(struct health *h, const struct service_conf *sc, pid_t pid)
{
	int p[2];
	pid_t child;

	snprintf(h->target, sizeof(h->target), "%s", sc->check_cmd);
	if (pipe2(p, O_CLOEXEC) < 0) {
		answer_soon(h, false, "cannot run check \"%s\": pipe: %s", h->target, strerror(errno));
		return;
	}
	child = fork();
	if (child < 0) {
		close(p[0]);
		close(p[1]);
		answer_soon(h, false, "cannot run check \"%s\": fork: %s", h->target, strerror(errno));
		return;
	}
	if (child == 0) {
		close(p[0]);
		exec_check(sc->check_cmd, sc->name, pid, p[1]);
	}
	setpgid(child, child);       /* also here: a timeout may kill the group at once */
	close(p[1]);
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	h->fd = p[0];
	h->child = child;
	h->io = event_new(h->base, h->fd, EV_READ | EV_PERSIST, on_output, h);
	event_add(h->io, NULL);
	children_watch(h->kids, child, on_check_exit, h);
	arm_timeout(h);
}

static void
probe_pid(struct health *h, pid_t pid)
{
	if (pid > 0 && (kill(pid, 0) == 0 || errno == EPERM))
		answer_soon(h, true, "");
	else if (pid > 0)
		answer_soon(h, false, "its process %ld is gone", (long)pid);
	else
		answer_soon(h, false, "it has no process");
}

struct health *
health_new(struct event_base *base, struct children *kids)
{
	struct health *h = xcalloc(1, sizeof(*h));

	h->base = base;
	h->kids = kids;
	h->fd = -1;
	h->timer = evtimer_new(base, on_timer, h);
	return h;
}

void
health_probe(struct health *h, const struct service_conf *sc, pid_t pid,
    health_result_fn *fn, void *arg)
{
	health_cancel(h);
	h->busy = true;
	h->fn = fn;
	h->arg = arg;
	h->kind = sc->check_kind;
	h->timeout_ms = sc->check_timeout_ms;
	h->answer_ok = false;
	h->answer_why[0] = '\0';
	h->outlen = 0;
	switch (sc->check_kind) {
	case CHECK_TCP:
		probe_tcp(h, sc);
		break;
	case CHECK_EXEC:
		probe_exec(h, sc, pid);
		break;
	case CHECK_PID:
		probe_pid(h, pid);
		break;
	}
}

void
health_cancel(struct health *h)
{
	if (h->child > 0) {
		kill(-h->child, SIGKILL);
		children_forget(h->kids, h->child);     /* reaped silently */
		h->child = 0;
	}
	if (h->io != NULL)
		event_free(h->io);
	h->io = NULL;
	if (h->fd >= 0)
		close(h->fd);
	h->fd = -1;
	evtimer_del(h->timer);
	h->busy = false;
}

bool
health_busy(const struct health *h)
{
	return h->busy;
}

void
health_free(struct health *h)
{
	if (h == NULL)
		return;
	health_cancel(h);
	event_free(h->timer);
	free(h);
}

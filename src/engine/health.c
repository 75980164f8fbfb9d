/*
 * Health probes of protected services: a TCP connect, a command's exit
 * status, or the main process being there. Each ends in one callback on
 * the loop, within its timeout.
 */
#include "engine/health.h"
#include "engine/children.h"
#include "common/config.h"
#include "common/log.h"
#include "common/spawn.h"
#include "common/util.h"
#include "common/values.h"
#include "plugin/pluginhost.h"

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
	char              *plugin_dir;
	bool               busy;
	health_result_fn  *fn;
	void              *arg;
	enum check_kind    kind;
	uint64_t           timeout_ms;
	char               target[200];      /* "192.0.2.10:8080", the command, "plug-in P check C" */
	struct event      *timer;            /* the timeout, or an answer known at once */
	enum health_outcome answer;          /* the answer known at once */
	bool               answered;
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
finish(struct health *h, enum health_outcome outcome, const char *why)
{
	health_result_fn *fn = h->fn;
	void *arg = h->arg;
	char copy[sizeof(h->answer_why) + sizeof(h->target) + OUTPUT_KEEP + 64];

	snprintf(copy, sizeof(copy), "%s", why != NULL ? why : "");
	health_cancel(h);
	fn(arg, outcome, outcome == HEALTH_OK ? NULL : copy);
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct health *h = arg;
	char why[sizeof(h->answer_why) + sizeof(h->target)];

	if (h->answered) {
		snprintf(why, sizeof(why), "%s", h->answer_why);
		finish(h, h->answer, why);
		return;
	}
	if (h->kind == CHECK_EXEC || h->kind == CHECK_PLUGIN)
		snprintf(why, sizeof(why), "%s did not finish within %llu ms (killed)",
		    h->target, (unsigned long long)h->timeout_ms);
	else
		snprintf(why, sizeof(why), "no connection to %s within %llu ms", h->target,
		    (unsigned long long)h->timeout_ms);
	finish(h, HEALTH_FAILED, why);
}

/* Answer on the next turn of the loop, never from inside health_probe. */
static void
answer_soon(struct health *h, enum health_outcome outcome, const char *fmt, ...)
{
	struct timeval now = { 0, 0 };
	va_list ap;

	h->answered = true;
	h->answer = outcome;
	va_start(ap, fmt);
	vsnprintf(h->answer_why, sizeof(h->answer_why), fmt, ap);
	va_end(ap);
	if (outcome != HEALTH_OK && h->answer_why[0] == '\0')
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
		finish(h, HEALTH_OK, NULL);
		return;
	}
	snprintf(why, sizeof(why), "cannot connect to %s: %s", h->target, strerror(err));
	finish(h, HEALTH_FAILED, why);
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
		answer_soon(h, HEALTH_FAILED, "cannot make a socket for %s: %s", h->target,
		    strerror(errno));
		return;
	}
	if (connect(h->fd, (struct sockaddr *)&ss, sslen) == 0) {
		answer_soon(h, HEALTH_OK, "");
		return;
	}
	if (errno != EINPROGRESS) {
		answer_soon(h, HEALTH_FAILED, "cannot connect to %s: %s", h->target, strerror(errno));
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
	char why[sizeof(h->target) + OUTPUT_KEEP + 64];
	const char *said;

	h->child = 0;
	on_output(h->fd, EV_READ, h);          /* what it wrote just before */
	said = first_line(h);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		finish(h, HEALTH_OK, NULL);
		return;
	}
	if (h->kind == CHECK_PLUGIN && WIFEXITED(status) && WEXITSTATUS(status) == PLUGIN_EXIT_UNHEALTHY) {
		snprintf(why, sizeof(why), "%s: %s", h->target, *said ? said : "(no reason given)");
		finish(h, HEALTH_FAILED, why);
		return;
	}
	if (h->kind == CHECK_PLUGIN && WIFEXITED(status) && WEXITSTATUS(status) == PLUGIN_EXIT_BROKEN)
		snprintf(why, sizeof(why), "%s: %s", h->target, *said ? said : "refused");
	else if (WIFEXITED(status))
		snprintf(why, sizeof(why), "%s exited with status %d%s%s", h->target,
		    WEXITSTATUS(status), *said ? ": " : "", said);
	else
		snprintf(why, sizeof(why), "%s %s signal %s%s%s", h->target,
		    h->kind == CHECK_PLUGIN ? "crashed with" : "was killed by",
		    sigabbrev_np(WTERMSIG(status)) ? sigabbrev_np(WTERMSIG(status)) : "?",
		    *said ? ": " : "", said);
	finish(h, h->kind == CHECK_PLUGIN ? HEALTH_BROKEN : HEALTH_FAILED, why);
}

/*
 * The child side of an exec or plug-in check: its own group, output to
 * the pipe, then argv.
 */
static _Noreturn void
exec_check(char *const argv[], const char *service, pid_t pid, int out)
{
	char pidstr[24];
	int fd;

	setpgid(0, 0);
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
	execv(argv[0], argv);
	_exit(127);
}

/* Run argv as the check, watched until it ends or its timeout. */
static void
run_check(struct health *h, char *const argv[], const char *service, pid_t pid)
{
	int p[2];
	pid_t child;

	if (pipe2(p, O_CLOEXEC) < 0) {
		answer_soon(h, HEALTH_FAILED, "cannot run %s: pipe: %s", h->target, strerror(errno));
		return;
	}
	child = children_fork();
	if (child < 0) {
		close(p[0]);
		close(p[1]);
		answer_soon(h, HEALTH_FAILED, "cannot run %s: fork: %s", h->target, strerror(errno));
		return;
	}
	if (child == 0) {
		close(p[0]);
		exec_check(argv, service, pid, p[1]);
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
probe_exec(struct health *h, const struct service_conf *sc, pid_t pid)
{
	char *argv[] = { (char *)"/bin/sh", (char *)"-c", sc->check_cmd, NULL };

	snprintf(h->target, sizeof(h->target), "check \"%s\"", sc->check_cmd);
	run_check(h, argv, sc->name, pid);
}

/* The runner of plug-in calls: $LIFELINE_PLUGIN_RUNNER, or beside this program. */
static char *
plugin_runner(void)
{
	const char *env = getenv("LIFELINE_PLUGIN_RUNNER");

	if (env != NULL && env[0] != '\0')
		return xstrdup(env);
	return spawn_program_beside("lifeline-plugin");
}

/* lifeline-plugin CALL (check or hook) ARG for sc's plug-in, with its settings. */
static void
run_plugin(struct health *h, const struct service_conf *sc, pid_t pid, const char *call,
    const char *arg)
{
	char *runner = plugin_runner();
	char *so = xasprintf("%s/%s.so", h->plugin_dir, sc->check_plugin);
	char *settings = xasprintf("%s/%s.json", h->plugin_dir, sc->check_plugin);
	char *argv[] = { runner, (char *)call, so, (char *)arg, (char *)"--settings",
	    settings, NULL };

	snprintf(h->target, sizeof(h->target), "plug-in %s %s %s", sc->check_plugin, call, arg);
	if (runner == NULL)
		answer_soon(h, HEALTH_BROKEN, "%s: lifeline-plugin is not installed beside "
		    "lifelined", h->target);
	else if (access(so, R_OK) != 0)
		answer_soon(h, HEALTH_BROKEN, "%s: %s: %s (is the plug-in installed?)", h->target,
		    so, strerror(errno));
	else {
		if (access(settings, R_OK) != 0)
			argv[4] = NULL;               /* installed without settings */
		run_check(h, argv, sc->name, pid);
	}
	free(runner);
	free(so);
	free(settings);
}

static void
probe_pid(struct health *h, pid_t pid)
{
	if (pid > 0 && (kill(pid, 0) == 0 || errno == EPERM))
		answer_soon(h, HEALTH_OK, "");
	else if (pid > 0)
		answer_soon(h, HEALTH_FAILED, "its process %ld is gone", (long)pid);
	else
		answer_soon(h, HEALTH_FAILED, "it has no process");
}

struct health *
health_new(struct event_base *base, struct children *kids, const char *plugin_dir)
{
	struct health *h = xcalloc(1, sizeof(*h));

	h->base = base;
	h->kids = kids;
	h->plugin_dir = xstrdup(plugin_dir);
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
	h->answered = false;
	h->answer_why[0] = '\0';
	h->outlen = 0;
	switch (sc->check_kind) {
	case CHECK_TCP:
		probe_tcp(h, sc);
		break;
	case CHECK_EXEC:
		probe_exec(h, sc, pid);
		break;
	case CHECK_PLUGIN:
		run_plugin(h, sc, pid, "check", sc->check_name);
		break;
	case CHECK_PID:
		probe_pid(h, pid);
		break;
	}
}

void
health_hook(struct health *h, const struct service_conf *sc, pid_t pid, const char *when,
    uint64_t timeout_ms, health_result_fn *fn, void *arg)
{
	health_cancel(h);
	h->busy = true;
	h->fn = fn;
	h->arg = arg;
	h->kind = CHECK_PLUGIN;
	h->timeout_ms = timeout_ms;
	h->answered = false;
	h->answer_why[0] = '\0';
	h->outlen = 0;
	run_plugin(h, sc, pid, "hook", when);
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
	free(h->plugin_dir);
	free(h);
}

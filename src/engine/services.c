/*
 * Supervision of protected services with the exec back end. Each service is
 * a process group led by /bin/sh -c "exec START"; SIGCHLD tells us when it
 * ends, and its action list says what to do about it.
 */
#include "engine/services.h"
#include "engine/engine.h"
#include "common/log.h"
#include "common/util.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RESTART_DELAY_MS 500

enum svc_state { SVC_STOPPED, SVC_RUNNING, SVC_RESTARTING, SVC_FAILED, SVC_UNMANAGED,
	SVC_STOPPING };

static const char *const svc_state_names[] = {
	[SVC_STOPPED] = "stopped", [SVC_RUNNING] = "running",
	[SVC_RESTARTING] = "restarting", [SVC_FAILED] = "failed",
	[SVC_UNMANAGED] = "unmanaged", [SVC_STOPPING] = "stopping",
};

#define STOP_POLL_MS 50

struct service {
	char            *name;
	enum svc_state   state;
	pid_t            pid;
	unsigned         failures;        /* consecutive, inside the window */
	uint64_t         first_failure_ms;
	struct event    *restart_ev;
	uint64_t         kill_at_ms;      /* SVC_STOPPING: SIGKILL after this */
	int              pidfd;           /* adopted (not our child): its end, or -1 */
	struct event    *pidfd_ev;
	bool             retired;         /* dropped by a reload: freed once it is gone */
	struct services *owner;
};

struct services {
	struct engine   *e;
	struct service **v;               /* each its own allocation: timers point at it */
	size_t           n;
	struct event    *sigchld_ev;
	struct event    *stop_ev;         /* polls an asynchronous stop */
	void           (*stop_done)(void *);
	void            *stop_arg;
	struct service **retiring;        /* dropped by a reload, still stopping */
	size_t           nretiring;
	struct event    *retire_ev;       /* polls them for their SIGKILL time */
};

static void check_stop(struct services *s);
static void retired_gone(struct service *svc);

static void start_service(struct service *svc);

static const struct service_conf *
service_conf(const struct service *svc)
{
	return config_service(svc->owner->e->conf, svc->name);
}

static void
on_restart_due(evutil_socket_t fd, short what, void *arg)
{
	start_service(arg);
}

/* The child side of a start: own process group, plain signals, log file. */
static _Noreturn void
exec_service(const struct service_conf *sc, const char *logpath)
{
	sigset_t none;
	int fd;

	setpgid(0, 0);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (int sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
	fd = open("/dev/null", O_RDONLY);
	if (fd >= 0) {
		dup2(fd, 0);
		close(fd);
	}
	fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0600);
	if (fd >= 0) {
		dup2(fd, 1);
		dup2(fd, 2);
		close(fd);
	}
	execl("/bin/sh", "sh", "-c", xasprintf("exec %s", sc->start), (char *)NULL);
	_exit(127);
}

static void
start_service(struct service *svc)
{
	const struct service_conf *sc = service_conf(svc);
	struct engine *e = svc->owner->e;
	char *logdir, *logpath;
	pid_t pid;

	if (sc == NULL) {
		svc->state = SVC_UNMANAGED;
		return;
	}
	if (svc->state == SVC_RUNNING || svc->state == SVC_STOPPING)
		return;
	logdir = xasprintf("%s/log", e->conf->state_dir);
	logpath = xasprintf("%s/%s.log", logdir, svc->name);
	if (mkdir_p(logdir, 0700) < 0)
		log_warn("service %s: cannot create %s", svc->name, logdir);
	pid = fork();
	if (pid < 0) {
		log_warn("service %s: fork", svc->name);
		svc->state = SVC_FAILED;
		goto out;
	}
	if (pid == 0)
		exec_service(sc, logpath);
	setpgid(pid, pid);       /* also here: no race with an early stop */
	svc->pid = pid;
	svc->state = SVC_RUNNING;
	log_info("service %s started, pid %ld, output in %s", svc->name, (long)pid, logpath);
out:
	free(logdir);
	free(logpath);
}

/*
 * A service died without being asked to. Count the failure inside the
 * window and take the action the list gives for this count; the last
 * action repeats once the list is exhausted.
 */
static void
on_service_died(struct service *svc, int status)
{
	const struct service_conf *sc = service_conf(svc);
	uint64_t now = now_mono_ms();
	const struct service_action *act;
	struct timeval delay = { 0, RESTART_DELAY_MS * 1000 };

	if (status == -1)
		log_warnx("service %s (pid %ld, adopted) exited", svc->name, (long)svc->pid);
	else if (WIFEXITED(status))
		log_warnx("service %s (pid %ld) exited with status %d", svc->name,
		    (long)svc->pid, WEXITSTATUS(status));
	else
		log_warnx("service %s (pid %ld) killed by signal %d", svc->name,
		    (long)svc->pid, WTERMSIG(status));
	svc->pid = -1;
	svc->state = SVC_FAILED;
	if (sc == NULL || sc->nactions == 0)
		return;
	if (svc->failures == 0 || now - svc->first_failure_ms > sc->window_ms) {
		svc->failures = 0;
		svc->first_failure_ms = now;
	}
	svc->failures++;
	act = &sc->actions[svc->failures <= sc->nactions ? svc->failures - 1 : sc->nactions - 1];
	switch (act->kind) {
	case ACTION_RESTART:
		log_info("service %s: failure %u in the window, restarting", svc->name, svc->failures);
		svc->state = SVC_RESTARTING;
		evtimer_add(svc->restart_ev, &delay);
		break;
	case ACTION_LOG:
	case ACTION_IGNORE:
		log_info("service %s: failure %u, action %s: left stopped", svc->name,
		    svc->failures, act->kind == ACTION_LOG ? "log" : "ignore");
		break;
	case ACTION_SWITCHOVER:
	case ACTION_TASK:
		/* Needs the cluster engine and tasks; say so rather than pretend. */
		log_warnx("service %s: failure %u, action %s is not available in this "
		    "version; the service is left stopped", svc->name, svc->failures,
		    act->kind == ACTION_SWITCHOVER ? "switchover" : "task");
		break;
	}
}

static void
on_sigchld(evutil_socket_t sig, short what, void *arg)
{
	struct services *s = arg;
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (size_t i = 0; i < s->n; i++) {
			struct service *svc = s->v[i];

			if (svc->pid != pid)
				continue;
			if (svc->state == SVC_STOPPING) {
				log_info("service %s stopped", svc->name);
				svc->pid = -1;
				svc->state = SVC_STOPPED;
			} else
				on_service_died(svc, status);
			break;
		}
		for (size_t i = 0; i < s->nretiring; i++)
			if (s->retiring[i]->pid == pid) {
				retired_gone(s->retiring[i]);
				break;
			}
	}
	check_stop(s);
}

static void
add_service(struct services *s, const char *name)
{
	struct service *svc = xcalloc(1, sizeof(*svc));

	svc->name = xstrdup(name);
	svc->pid = -1;
	svc->owner = s;
	svc->restart_ev = evtimer_new(s->e->base, on_restart_due, svc);
	svc->pidfd = -1;
	svc->state = config_service(s->e->conf, name) != NULL ? SVC_STOPPED : SVC_UNMANAGED;
	if (svc->state == SVC_UNMANAGED)
		log_warnx("service %s has no [service %s] section; systemd units are "
		    "not supervised in this version", name, name);
	s->v = xrealloc(s->v, (s->n + 1) * sizeof(*s->v));
	s->v[s->n++] = svc;
}

/* Stop watching an adopted process (it ended, or the engine leaves it). */
static void
drop_pidfd(struct service *svc)
{
	if (svc->pidfd_ev != NULL)
		event_free(svc->pidfd_ev);
	if (svc->pidfd >= 0)
		close(svc->pidfd);
	svc->pidfd_ev = NULL;
	svc->pidfd = -1;
}

static void
free_service(struct service *svc)
{
	drop_pidfd(svc);
	event_free(svc->restart_ev);
	free(svc->name);
	free(svc);
}

struct services *
services_new(struct engine *e)
{
	struct services *s = xcalloc(1, sizeof(*s));

	s->e = e;
	for (size_t i = 0; i < e->conf->protect_service.n; i++)
		add_service(s, e->conf->protect_service.v[i]);
	s->sigchld_ev = evsignal_new(e->base, SIGCHLD, on_sigchld, s);
	event_add(s->sigchld_ev, NULL);
	return s;
}

void
services_start_all(struct services *s)
{
	for (size_t i = 0; i < s->n; i++)
		start_service(s->v[i]);
}

/* Wait for pid up to timeout_ms; returns 1 when it was reaped. */
static int
reap_within(pid_t pid, uint64_t timeout_ms)
{
	uint64_t deadline = now_mono_ms() + timeout_ms;
	struct timespec pause = { 0, 20 * 1000 * 1000 };
	int status;

	do {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid)
			return 1;
		/* Not our child (adopted): gone when it cannot be signalled. */
		if (r < 0 && errno == ECHILD && kill(pid, 0) < 0 && errno == ESRCH)
			return 1;
		nanosleep(&pause, NULL);
	} while (now_mono_ms() < deadline);
	return 0;
}


/*
 * Send a service the stop method of sc (its section) without waiting for
 * it to act; sc NULL: SIGTERM, SIGKILL 10 s later.
 */
static void
begin_stop_as(struct service *svc, const struct service_conf *sc)
{
	uint64_t timeout = sc != NULL ? sc->stop_timeout_ms : 10000;

	evtimer_del(svc->restart_ev);
	if (svc->pid <= 0) {
		if (svc->state != SVC_UNMANAGED)
			svc->state = SVC_STOPPED;
		return;
	}
	svc->state = SVC_STOPPING;
	svc->kill_at_ms = now_mono_ms() + timeout;
	if (sc != NULL && sc->stop_kind == STOP_EXEC) {
		/* The stop command is reaped by on_sigchld like any child. */
		pid_t pid = fork();

		if (pid == 0) {
			execl("/bin/sh", "sh", "-c", sc->stop_cmd, (char *)NULL);
			_exit(127);
		}
		if (pid < 0)
			log_warn("service %s: cannot run its stop command", svc->name);
	} else {
		kill(-svc->pid, sc != NULL ? sc->stop_signal : SIGTERM);
	}
}

/* Send a service its stop method, as its section in force says. */
static void
begin_stop(struct service *svc)
{
	begin_stop_as(svc, service_conf(svc));
}

/*
 * Stop one service and wait for it: its stop method, then SIGKILL at its
 * stop_timeout. Blocks, so only for the engine's exit.
 */
static void
stop_service(struct service *svc)
{
	uint64_t now;

	begin_stop(svc);
	if (svc->state != SVC_STOPPING)
		return;
	now = now_mono_ms();
	if (!reap_within(svc->pid, svc->kill_at_ms > now ? svc->kill_at_ms - now : 0)) {
		log_warnx("service %s did not stop within its stop_timeout, killing it", svc->name);
		kill(-svc->pid, SIGKILL);
		reap_within(svc->pid, 5000);
	}
	log_info("service %s stopped", svc->name);
	drop_pidfd(svc);
	svc->pid = -1;
	svc->state = SVC_STOPPED;
}

/* Escalate overdue stops, and report when every service is down. */
static void
check_stop(struct services *s)
{
	uint64_t now = now_mono_ms();
	bool pending = false;
	void (*done)(void *) = s->stop_done;

	if (done == NULL)
		return;
	for (size_t i = 0; i < s->n; i++) {
		struct service *svc = s->v[i];

		if (svc->state != SVC_STOPPING)
			continue;
		pending = true;
		if (now >= svc->kill_at_ms && svc->kill_at_ms != 0) {
			log_warnx("service %s did not stop within its stop_timeout, killing it", svc->name);
			kill(-svc->pid, SIGKILL);
			svc->kill_at_ms = 0;        /* once; SIGCHLD completes it */
		}
	}
	if (pending)
		return;
	evtimer_del(s->stop_ev);
	s->stop_done = NULL;
	done(s->stop_arg);
}

static void
on_stop_poll(evutil_socket_t fd, short what, void *arg)
{
	check_stop(arg);
}

void
services_stop_async(struct services *s, void (*done)(void *arg), void *arg)
{
	struct timeval tv = { 0, STOP_POLL_MS * 1000 };

	for (size_t i = s->n; i-- > 0;)
		begin_stop(s->v[i]);
	s->stop_done = done;
	s->stop_arg = arg;
	if (s->stop_ev == NULL)
		s->stop_ev = event_new(s->e->base, -1, EV_PERSIST, on_stop_poll, s);
	event_add(s->stop_ev, &tv);
	check_stop(s);
}

void
services_stop_all(struct services *s)
{
	for (size_t i = s->n; i-- > 0;)
		stop_service(s->v[i]);
	/* Already told to stop; the engine exits, so they get no more time. */
	while (s->nretiring > 0) {
		struct service *svc = s->retiring[0];

		if (!reap_within(svc->pid, svc->kill_at_ms > now_mono_ms() ?
		    svc->kill_at_ms - now_mono_ms() : 0)) {
			kill(-svc->pid, SIGKILL);
			reap_within(svc->pid, 5000);
		}
		retired_gone(svc);
	}
}

/* A retired service's process ended: say so and free it. */
static void
retired_gone(struct service *svc)
{
	struct services *s = svc->owner;

	log_info("service %s stopped (no longer protected)", svc->name);
	for (size_t i = 0; i < s->nretiring; i++)
		if (s->retiring[i] == svc) {
			memmove(&s->retiring[i], &s->retiring[i + 1],
			    (s->nretiring - i - 1) * sizeof(*s->retiring));
			s->nretiring--;
			break;
		}
	free_service(svc);
	if (s->nretiring == 0 && s->retire_ev != NULL)
		event_del(s->retire_ev);
}

/* Retired services past their stop_timeout get SIGKILL; their end is seen as usual. */
static void
on_retire_poll(evutil_socket_t fd, short what, void *arg)
{
	struct services *s = arg;
	uint64_t now = now_mono_ms();

	for (size_t i = 0; i < s->nretiring; i++) {
		struct service *svc = s->retiring[i];

		if (svc->kill_at_ms != 0 && now >= svc->kill_at_ms) {
			log_warnx("service %s did not stop within its stop_timeout, killing it",
			    svc->name);
			kill(-svc->pid, SIGKILL);
			svc->kill_at_ms = 0;
		}
	}
}

/*
 * A service the new configuration no longer protects: its stop method as
 * the old section said (old), without waiting, since this runs on the
 * engine's loop and heartbeats must not wait (invariant 7). It leaves the
 * list at once and is freed when its process is gone.
 */
static void
retire_service(struct services *s, struct service *svc, const struct config *old)
{
	struct timeval tv = { 0, STOP_POLL_MS * 1000 };

	evtimer_del(svc->restart_ev);
	begin_stop_as(svc, config_service(old, svc->name));
	if (svc->state != SVC_STOPPING) {
		free_service(svc);
		return;
	}
	log_info("service %s is no longer protected: stopping it (pid %ld)", svc->name,
	    (long)svc->pid);
	svc->retired = true;
	s->retiring = xrealloc(s->retiring, (s->nretiring + 1) * sizeof(*s->retiring));
	s->retiring[s->nretiring++] = svc;
	if (s->retire_ev == NULL)
		s->retire_ev = event_new(s->e->base, -1, EV_PERSIST, on_retire_poll, s);
	event_add(s->retire_ev, &tv);
}

void
services_reconcile(struct services *s, const struct config *old)
{
	const struct strlist *want = &s->e->conf->protect_service;

	/* Services no longer protected are stopped and dropped. */
	for (size_t i = 0; i < s->n;) {
		struct service *svc = s->v[i];
		bool kept = false;

		for (size_t j = 0; j < want->n; j++)
			kept |= strcmp(want->v[j], svc->name) == 0;
		if (kept) {
			i++;
			continue;
		}
		memmove(&s->v[i], &s->v[i + 1], (s->n - i - 1) * sizeof(*s->v));
		s->n--;
		retire_service(s, svc, old);
	}
	for (size_t j = 0; j < want->n; j++) {
		bool have = false;

		for (size_t i = 0; i < s->n; i++)
			have |= strcmp(want->v[j], s->v[i]->name) == 0;
		if (!have)
			add_service(s, want->v[j]);
	}
	if (s->e->role == ROLE_ACTIVE)
		services_start_all(s);
}

/* An adopted process ended: the pidfd became readable. */
static void
on_adopted_exit(evutil_socket_t fd, short what, void *arg)
{
	struct service *svc = arg;

	drop_pidfd(svc);
	if (svc->retired)
		return retired_gone(svc);
	if (svc->state == SVC_STOPPING) {
		log_info("service %s stopped", svc->name);
		svc->pid = -1;
		svc->state = SVC_STOPPED;
		check_stop(svc->owner);
	} else
		on_service_died(svc, -1);
}

int
services_adopt(struct services *s, const char *name, pid_t pid)
{
	for (size_t i = 0; i < s->n; i++) {
		struct service *svc = s->v[i];
		int fd;

		if (strcmp(svc->name, name) != 0)
			continue;
		if ((fd = (int)syscall(SYS_pidfd_open, pid, 0)) < 0) {
			log_warn("service %s: cannot adopt pid %ld", name, (long)pid);
			return -1;
		}
		svc->pidfd = fd;
		svc->pidfd_ev = event_new(s->e->base, fd, EV_READ, on_adopted_exit, svc);
		event_add(svc->pidfd_ev, NULL);
		svc->pid = pid;
		svc->state = SVC_RUNNING;
		log_info("service %s: adopted the running pid %ld", name, (long)pid);
		return 0;
	}
	log_warnx("service %s (pid %ld) is no longer protected; left alone", name, (long)pid);
	return -1;
}

json_t *
services_running_pids(const struct services *s)
{
	json_t *obj = json_object();

	for (size_t i = 0; i < s->n; i++)
		if (s->v[i]->pid > 0 && s->v[i]->state == SVC_RUNNING)
			json_object_set_new(obj, s->v[i]->name, json_integer(s->v[i]->pid));
	return obj;
}

json_t *
services_json(const struct services *s)
{
	json_t *arr = json_array();

	for (size_t i = 0; i < s->n; i++) {
		const struct service *svc = s->v[i];

		json_array_append_new(arr, json_pack("{s:s, s:s, s:o}",
		    "name", svc->name, "state", svc_state_names[svc->state],
		    "pid", svc->pid > 0 ? json_integer(svc->pid) : json_null()));
	}
	return arr;
}

void
services_free(struct services *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->n; i++)
		free_service(s->v[i]);
	for (size_t i = 0; i < s->nretiring; i++)
		free_service(s->retiring[i]);
	free(s->retiring);
	if (s->retire_ev != NULL)
		event_free(s->retire_ev);
	if (s->sigchld_ev != NULL)
		event_free(s->sigchld_ev);
	if (s->stop_ev != NULL)
		event_free(s->stop_ev);
	free(s->v);
	free(s);
}

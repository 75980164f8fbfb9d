/*
 * Supervision of protected services, with two back ends: exec (a process
 * group led by /bin/sh -c "exec START", whose end comes through
 * engine/children) and systemd (a unit started and stopped over D-Bus,
 * whose state comes through engine/sdunit). Health comes through
 * engine/health, and the action list says what to do about a failure of
 * either. Services start after the ones their `after` names are up, and
 * stop before them.
 */
#include "engine/services.h"
#include "engine/children.h"
#include "engine/engine.h"
#include "engine/events.h"
#include "engine/health.h"
#include "engine/sdunit.h"
#include "common/log.h"
#include "common/util.h"
#include "common/values.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RESTART_DELAY_MS  500
#define STOP_POLL_MS      50
#define FIRST_PROBE_MS    100   /* after a start: the check's first try */
#define STARTING_PROBE_MS 250   /* then, until it first passes */
#define HOOK_MS           30000 /* a plug-in's hook, at most */

enum svc_state { SVC_STOPPED, SVC_WAITING, SVC_STARTING, SVC_RUNNING, SVC_RESTARTING,
	SVC_FAILED, SVC_UNMANAGED, SVC_STOPPING };

static const char *const svc_state_names[] = {
	[SVC_STOPPED] = "stopped", [SVC_WAITING] = "waiting",
	[SVC_STARTING] = "starting", [SVC_RUNNING] = "running",
	[SVC_RESTARTING] = "restarting", [SVC_FAILED] = "failed",
	[SVC_UNMANAGED] = "unmanaged", [SVC_STOPPING] = "stopping",
};

/* A hook nobody waits for, in flight. */
struct loose_hook {
	struct health          *h;
	struct service         *svc;
	LIST_ENTRY(loose_hook)  entry;
};

struct service {
	char            *name;
	enum svc_state   state;
	pid_t            pid;
	uint64_t         started_ms;
	unsigned long    oom_kills_at_start;
	unsigned         failures;        /* consecutive, inside the window */
	uint64_t         first_failure_ms;
	char             last_failure[320];
	struct event    *restart_ev;      /* a start after a restart action */
	struct event    *probe_ev;        /* the next health probe */
	struct health   *health;
	struct health   *hooks;           /* its plug-in's pre-start hook */
	LIST_HEAD(, loose_hook) loose_hooks; /* post-start, post-stop in flight */
	bool             pre_started;     /* the pre-start hook ran for this start */
	struct sdunit   *unit;            /* the systemd back end, or NULL */
	bool             unit_seen;       /* its first state has come */
	struct service_conf unit_conf;    /* a unit with no section: the defaults */
	bool             plugin_disabled; /* its plug-in check broke: checked by pid */
	bool             restart_after_stop; /* stopping for a restart action */
	uint64_t         kill_at_ms;      /* SVC_STOPPING: SIGKILL after this */
	int              pidfd;           /* adopted (not our child): its end, or -1 */
	struct event    *pidfd_ev;
	bool             retired;         /* dropped by a reload: freed once it is gone */
	struct services *owner;
};

struct services {
	struct engine   *e;
	struct children *kids;
	struct sdbus    *bus;             /* systemd's, or NULL where it is not PID 1 */
	char            *plugin_dir;      /* STATE_DIR/plugins */
	bool             wanted;          /* the node is active: services should run */
	struct service **v;               /* each its own allocation: timers point at it */
	size_t           n;
	struct event    *stop_ev;         /* polls an asynchronous stop */
	void           (*stop_done)(void *);
	void            *stop_arg;
	struct service **retiring;        /* dropped by a reload, still stopping */
	size_t           nretiring;
	struct event    *retire_ev;       /* polls them for their SIGKILL time */
	services_switchover_fn *switchover;
};

static void check_stop(struct services *s);
static void stop_ready(struct services *s);
static void start_ready(struct services *s);
static void retired_gone(struct service *svc);
static void start_service(struct service *svc);
static void failure(struct service *svc, const char *why);

/* The service's section, or for a unit without one its defaults. */
static const struct service_conf *
service_conf(const struct service *svc)
{
	const struct service_conf *sc = config_service(svc->owner->e->conf, svc->name);

	return sc != NULL ? sc : svc->unit_conf.name != NULL ? &svc->unit_conf : NULL;
}

/* Whether something of the service runs that a stop has to end. */
static bool
is_up(const struct service *svc)
{
	if (svc->unit != NULL) {
		enum sdunit_state st = sdunit_state(svc->unit);

		return st == SDUNIT_ACTIVE || st == SDUNIT_ACTIVATING || st == SDUNIT_DEACTIVATING;
	}
	return svc->pid > 0;
}

/* The main process, for checks and status: the unit's MainPID for a unit. */
static pid_t
main_pid(const struct service *svc)
{
	return svc->unit != NULL ? sdunit_main_pid(svc->unit) : svc->pid;
}

static struct service *
find(const struct services *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->v[i]->name, name) == 0)
			return s->v[i];
	return NULL;
}

/*
 * Whether every service svc starts after is up. A systemd unit this
 * version does not supervise never holds anything back.
 */
static bool
dependencies_up(const struct service *svc)
{
	const struct service_conf *sc = service_conf(svc);

	for (size_t i = 0; sc != NULL && i < sc->after.n; i++) {
		const struct service *d = find(svc->owner, sc->after.v[i]);

		if (d != NULL && d->state != SVC_RUNNING && d->state != SVC_UNMANAGED)
			return false;
	}
	return true;
}

/* Whether some service that starts after svc still has a process. */
static bool
dependents_running(const struct service *svc)
{
	const struct services *s = svc->owner;

	for (size_t i = 0; i < s->n; i++) {
		const struct service_conf *sc = service_conf(s->v[i]);

		if (!is_up(s->v[i]) || sc == NULL)
			continue;
		for (size_t j = 0; j < sc->after.n; j++)
			if (strcmp(sc->after.v[j], svc->name) == 0)
				return true;
	}
	return false;
}

/* The kernel's count of processes its out-of-memory killer has killed. */
static unsigned long
oom_kills(void)
{
	FILE *fp = fopen("/proc/vmstat", "r");
	char line[128];
	unsigned long n = 0;

	if (fp == NULL)
		return 0;
	while (fgets(line, sizeof(line), fp) != NULL)
		if (sscanf(line, "oom_kill %lu", &n) == 1)
			break;
	fclose(fp);
	return n;
}

/*
 * How a service's process ended, in words an administrator can act on:
 * who stopped it, as far as that can be known. A signal's sender is not
 * recorded anywhere for a process, but the kernel's out-of-memory killer
 * counts its kills.
 */
static void
describe_exit(const struct service *svc, int status, char *buf, size_t len)
{
	const char *sig;
	unsigned long oom;

	if (WIFEXITED(status)) {
		snprintf(buf, len, "its process %ld exited with status %d%s", (long)svc->pid,
		    WEXITSTATUS(status), WEXITSTATUS(status) == 0 ? " (it ended by itself, "
		    "or something outside Lifeline stopped it)" : "");
		return;
	}
	sig = sigabbrev_np(WTERMSIG(status));
	sig = sig != NULL ? sig : "?";
	oom = oom_kills();
	if (WTERMSIG(status) == SIGKILL && oom > svc->oom_kills_at_start)
		snprintf(buf, len, "its process %ld was killed by signal KILL; the kernel's "
		    "out-of-memory killer killed %lu process(es) since it started",
		    (long)svc->pid, oom - svc->oom_kills_at_start);
	else if (WCOREDUMP(status) || (WTERMSIG(status) != SIGTERM && WTERMSIG(status) != SIGINT &&
	    WTERMSIG(status) != SIGHUP && WTERMSIG(status) != SIGQUIT && WTERMSIG(status) != SIGKILL))
		snprintf(buf, len, "its process %ld crashed with signal %s%s", (long)svc->pid, sig,
		    WCOREDUMP(status) ? " (core dumped)" : "");
	else
		snprintf(buf, len, "its process %ld was stopped behind Lifeline's back by signal "
		    "%s, sent by another process (which one cannot be known)", (long)svc->pid, sig);
}

static void
on_restart_due(evutil_socket_t fd, short what, void *arg)
{
	struct service *svc = arg;

	if (!svc->owner->wanted || svc->state != SVC_RESTARTING)
		return;
	svc->state = SVC_STOPPED;
	start_ready(svc->owner);
}

static void
stop_probing(struct service *svc)
{
	evtimer_del(svc->probe_ev);
	health_cancel(svc->health);
}

/* Whether the service's plug-in (its check's) has hooks to run now. */
static bool
has_plugin(const struct service *svc, const struct service_conf *sc)
{
	return sc != NULL && sc->check_kind == CHECK_PLUGIN && !svc->plugin_disabled;
}

/* A hook's answer that nobody waits for: said when it went wrong, then freed. */
static void
on_hook_done(void *arg, enum health_outcome outcome, const char *why)
{
	struct loose_hook *lh = arg;
	struct service *svc = lh->svc;

	if (outcome != HEALTH_OK)
		event(svc->owner->e, EV_WARNING, "service", "%s: %s", svc->name, why);
	LIST_REMOVE(lh, entry);
	health_free(lh->h);          /* finish() touches it no more once this runs */
	free(lh);
}

/*
 * Run a hook of the service's plug-in without waiting for it (post-start,
 * post-stop), each in a runner of its own so that one never cancels
 * another; those still running when the service goes are killed with it.
 */
static void
hook_and_go(struct service *svc, const char *when)
{
	const struct service_conf *sc = service_conf(svc);
	struct loose_hook *lh;

	if (!has_plugin(svc, sc))
		return;
	lh = xcalloc(1, sizeof(*lh));
	lh->svc = svc;
	lh->h = health_new(svc->owner->e->base, svc->owner->kids, svc->owner->plugin_dir);
	LIST_INSERT_HEAD(&svc->loose_hooks, lh, entry);
	health_hook(lh->h, sc, main_pid(svc), when, HOOK_MS, on_hook_done, lh);
}

static void
probe_in(struct service *svc, uint64_t ms)
{
	struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000 };

	evtimer_add(svc->probe_ev, &tv);
}

/*
 * A probe's answer: the first pass makes a starting service running. A
 * plug-in that broke is not the service's failure: the plug-in check is
 * disabled for it, with an event, and its process is checked instead.
 */
static void
on_probe_result(void *arg, enum health_outcome outcome, const char *why)
{
	struct service *svc = arg;
	const struct service_conf *sc = service_conf(svc);
	uint64_t now = now_mono_ms();
	char msg[sizeof(svc->last_failure)];
	char d[32];

	if (sc == NULL || (svc->state != SVC_STARTING && svc->state != SVC_RUNNING))
		return;
	if (outcome == HEALTH_BROKEN) {
		svc->plugin_disabled = true;
		event(svc->owner->e, EV_WARNING, "service", "%s: plug-in check disabled: %s; the "
		    "service is checked by its process until the configuration is reloaded",
		    svc->name, why);
		probe_in(svc, 0);
		return;
	}
	if (outcome == HEALTH_OK) {
		if (svc->state == SVC_STARTING) {
			svc->state = SVC_RUNNING;
			event(svc->owner->e, EV_INFO, "service", "%s is up: its check passed %llu ms "
			    "after it started", svc->name,
			    (unsigned long long)(now - svc->started_ms));
			hook_and_go(svc, "post-start");
			start_ready(svc->owner);
		}
		probe_in(svc, sc->check_interval_ms);
		return;
	}
	if (svc->state == SVC_STARTING) {
		if (now - svc->started_ms < sc->start_timeout_ms) {
			probe_in(svc, STARTING_PROBE_MS < sc->check_interval_ms ?
			    STARTING_PROBE_MS : sc->check_interval_ms);
			return;
		}
		snprintf(msg, sizeof(msg), "its check did not pass within start_timeout %s (%s)",
		    format_duration(sc->start_timeout_ms, d, sizeof(d)), why);
	} else
		snprintf(msg, sizeof(msg), "its check failed (%s)", why);
	failure(svc, msg);
}

static void
on_probe_due(evutil_socket_t fd, short what, void *arg)
{
	struct service *svc = arg;
	const struct service_conf *sc = service_conf(svc);
	struct service_conf by_pid;

	if (sc == NULL || (svc->state != SVC_STARTING && svc->state != SVC_RUNNING))
		return;
	if (sc->check_kind == CHECK_PLUGIN && svc->plugin_disabled) {
		by_pid = *sc;
		by_pid.check_kind = CHECK_PID;
		sc = &by_pid;
	}
	health_probe(svc->health, sc, main_pid(svc), on_probe_result, svc);
}

/* The child side of a start: own process group, plain signals, log file. */
static _Noreturn void
exec_service(const struct service_conf *sc, const char *logpath)
{
	int fd;

	setpgid(0, 0);
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

static void on_service_exit(void *arg, pid_t pid, int status);
static void stopped_as_asked(struct service *svc);
static void send_stop_method(struct service *svc, const struct service_conf *sc);
static void on_pre_stop(void *arg, enum health_outcome outcome, const char *why);

/*
 * Its plug-in's pre-start hook answered: start it, or count a failure;
 * a broken plug-in is disabled and the service started all the same.
 */
static void
on_pre_start(void *arg, enum health_outcome outcome, const char *why)
{
	struct service *svc = arg;
	char msg[sizeof(svc->last_failure)];

	if (svc->state != SVC_STARTING || !svc->owner->wanted)
		return;
	if (outcome == HEALTH_FAILED) {
		snprintf(msg, sizeof(msg), "its plug-in's pre-start hook failed (%s)", why);
		failure(svc, msg);
		return;
	}
	if (outcome == HEALTH_BROKEN) {
		svc->plugin_disabled = true;
		event(svc->owner->e, EV_WARNING, "service", "%s: plug-in disabled: %s; started "
		    "without it and checked by its process until the configuration is reloaded",
		    svc->name, why);
	}
	svc->pre_started = true;
	svc->state = SVC_STOPPED;
	start_service(svc);
}

/*
 * Run the service. With a pid check it is up as soon as its process is
 * there; any other check must pass once, within start_timeout, first.
 */
static void
start_service(struct service *svc)
{
	const struct service_conf *sc = service_conf(svc);
	struct engine *e = svc->owner->e;
	char *logdir, *logpath;
	pid_t pid;

	if (sc == NULL || (sc->unit != NULL && svc->unit == NULL)) {
		svc->state = SVC_UNMANAGED;
		return;
	}
	if (is_up(svc))
		return;
	if (has_plugin(svc, sc) && !svc->pre_started) {
		svc->state = SVC_STARTING;
		svc->started_ms = now_mono_ms();
		health_hook(svc->hooks, sc, 0, "pre-start", HOOK_MS, on_pre_start, svc);
		return;
	}
	svc->pre_started = false;            /* the next start runs it again */
	if (svc->unit != NULL) {
		svc->started_ms = now_mono_ms();
		svc->state = SVC_STARTING;
		if (sdunit_start(svc->unit) < 0)
			failure(svc, "its unit cannot be started: the connection to systemd is lost");
		else
			log_info("service %s: starting unit %s", svc->name, sc->unit);
		return;
	}
	logdir = xasprintf("%s/log", e->conf->state_dir);
	logpath = xasprintf("%s/%s.log", logdir, svc->name);
	if (mkdir_p(logdir, 0700) < 0)
		log_warn("service %s: cannot create %s", svc->name, logdir);
	svc->oom_kills_at_start = oom_kills();
	pid = children_fork();
	if (pid < 0) {
		log_warn("service %s: fork", svc->name);
		svc->state = SVC_FAILED;
		goto out;
	}
	if (pid == 0)
		exec_service(sc, logpath);
	setpgid(pid, pid);       /* also here: no race with an early stop */
	children_watch(svc->owner->kids, pid, on_service_exit, svc);
	svc->pid = pid;
	svc->started_ms = now_mono_ms();
	log_info("service %s started, pid %ld, output in %s", svc->name, (long)pid, logpath);
	if (sc->check_kind == CHECK_PID) {
		svc->state = SVC_RUNNING;
		probe_in(svc, sc->check_interval_ms);
	} else {
		svc->state = SVC_STARTING;
		probe_in(svc, FIRST_PROBE_MS);
	}
out:
	free(logdir);
	free(logpath);
}

/* Start every wanted service whose dependencies are up; the rest wait. */
static void
start_ready(struct services *s)
{
	if (!s->wanted)
		return;
	for (size_t i = 0; i < s->n; i++) {
		struct service *svc = s->v[i];

		if (svc->state != SVC_STOPPED && svc->state != SVC_WAITING)
			continue;
		if (dependencies_up(svc))
			start_service(svc);
		else
			svc->state = SVC_WAITING;
	}
}

/*
 * Send a service the stop method of sc (its section) without waiting for
 * it to act; sc NULL: SIGTERM, SIGKILL 10 s later.
 */
static void
begin_stop_as(struct service *svc, const struct service_conf *sc, bool with_hook)
{
	uint64_t timeout = sc != NULL ? sc->stop_timeout_ms : 10000;

	evtimer_del(svc->restart_ev);
	stop_probing(svc);
	if (!is_up(svc)) {
		if (svc->state == SVC_STARTING)
			health_cancel(svc->hooks);   /* its pre-start hook, under way */
		if (svc->state != SVC_UNMANAGED)
			svc->state = SVC_STOPPED;
		return;
	}
	if (svc->state == SVC_STOPPING)
		return;
	svc->state = SVC_STOPPING;
	svc->kill_at_ms = now_mono_ms() + timeout;
	/* Its plug-in's pre-stop first, within half the stop_timeout: the rest is the stop's. */
	if (with_hook && has_plugin(svc, sc) && sc == service_conf(svc)) {
		health_hook(svc->hooks, sc, main_pid(svc), "pre-stop",
		    timeout / 2 < HOOK_MS ? timeout / 2 : HOOK_MS, on_pre_stop, svc);
		return;
	}
	send_stop_method(svc, sc);
}

/* The stop method itself: systemd's stop for a unit, else the signal or command. */
static void
send_stop_method(struct service *svc, const struct service_conf *sc)
{
	if (svc->unit != NULL) {
		if (sdunit_stop(svc->unit) < 0)
			log_warnx("service %s: cannot ask systemd to stop it", svc->name);
	} else if (sc != NULL && sc->stop_kind == STOP_EXEC) {
		pid_t pid = children_fork();

		if (pid == 0) {
			setpgid(0, 0);
			execl("/bin/sh", "sh", "-c", sc->stop_cmd, (char *)NULL);
			_exit(127);
		}
		if (pid < 0)     /* else reaped quietly by engine/children */
			log_warn("service %s: cannot run its stop command", svc->name);
	} else {
		kill(-svc->pid, sc != NULL ? sc->stop_signal : SIGTERM);
	}
}

/* Send a service its stop method, as its section in force says, after its pre-stop hook. */
static void
begin_stop(struct service *svc)
{
	begin_stop_as(svc, service_conf(svc), true);
}

/* The pre-stop hook answered, whatever it said: the stop goes on. */
static void
on_pre_stop(void *arg, enum health_outcome outcome, const char *why)
{
	struct service *svc = arg;

	if (svc->state != SVC_STOPPING)
		return;
	if (outcome != HEALTH_OK)
		event(svc->owner->e, EV_WARNING, "service", "%s: %s; stopping it all the same",
		    svc->name, why);
	send_stop_method(svc, service_conf(svc));
}

/*
 * Restart a service: stopped first with its stop method when its process
 * is still there (a failed check), started again RESTART_DELAY_MS after
 * it is gone.
 */
static void
restart_service(struct service *svc)
{
	struct timeval delay = { 0, RESTART_DELAY_MS * 1000 };

	if (is_up(svc)) {
		svc->restart_after_stop = true;
		begin_stop(svc);
		return;
	}
	svc->state = SVC_RESTARTING;
	evtimer_add(svc->restart_ev, &delay);
}

/* The action of a failure: restart unless told otherwise. */
static void
switch_over(struct service *svc, const char *why)
{
	struct services *s = svc->owner;
	char err[512] = "no switchover is possible here";

	if (s->switchover != NULL && s->switchover(s->e, why, err, sizeof(err)) == 0)
		return;
	event(s->e, EV_WARNING, "service", "%s: the switchover was refused (%s); restarting "
	    "it here instead", svc->name, err);
	restart_service(svc);
}

/*
 * A service failed: its process ended without being asked to, or its check
 * failed. Count the failure inside the window and take the action the list
 * gives for this count; the last action repeats once the list is used up.
 */
static void
failure(struct service *svc, const char *why)
{
	const struct service_conf *sc = service_conf(svc);
	struct engine *e = svc->owner->e;
	uint64_t now = now_mono_ms();
	const struct service_action *act;
	char window[32], msg[sizeof(svc->last_failure) + 64];

	snprintf(svc->last_failure, sizeof(svc->last_failure), "%s", why);
	utf8_sanitize(svc->last_failure);    /* a check's output may be anything */
	stop_probing(svc);
	if (!is_up(svc))
		svc->state = SVC_FAILED;
	if (sc == NULL || sc->nactions == 0) {
		event(e, EV_WARNING, "service", "%s failed: %s", svc->name, why);
		return;
	}
	if (svc->failures == 0 || now - svc->first_failure_ms > sc->window_ms) {
		svc->failures = 0;
		svc->first_failure_ms = now;
	}
	svc->failures++;
	act = &sc->actions[svc->failures <= sc->nactions ? svc->failures - 1 : sc->nactions - 1];
	snprintf(msg, sizeof(msg), "%s failed: %s; failure %u within %s", svc->name, why, svc->failures,
	    format_duration(sc->window_ms, window, sizeof(window)));
	switch (act->kind) {
	case ACTION_RESTART:
		event(e, EV_WARNING, "service", "%s, restarting it", msg);
		restart_service(svc);
		break;
	case ACTION_SWITCHOVER:
		event(e, EV_WARNING, "service", "%s, switching over", msg);
		switch_over(svc, msg);
		break;
	case ACTION_LOG:
	case ACTION_IGNORE:
	case ACTION_TASK:
		if (act->kind == ACTION_TASK)
			event(e, EV_WARNING, "service", "%s, action task %s: tasks are not available "
			    "in this version, nothing was run", msg, act->task);
		else
			event(e, act->kind == ACTION_LOG ? EV_WARNING : EV_INFO, "service",
			    "%s, action %s: %s", msg, act->kind == ACTION_LOG ? "log" : "ignore",
			    is_up(svc) ? "left running" : "left stopped");
		if (is_up(svc))                  /* keep watching it */
			probe_in(svc, sc->check_interval_ms);
		break;
	}
}

/* A service's process ended: asked to, or a failure. */
static void
on_service_exit(void *arg, pid_t pid, int status)
{
	struct service *svc = arg;
	char why[sizeof(svc->last_failure)];

	/*
	 * What is left of its process group (the children of a leader that
	 * died, like a database's backends after kill -9 of its postmaster)
	 * goes too, as a control-group kill would: a restart must not meet it.
	 */
	kill(-pid, SIGKILL);
	if (svc->retired) {
		retired_gone(svc);
		return;
	}
	stop_probing(svc);
	if (svc->state == SVC_STOPPING) {
		svc->pid = -1;
		stopped_as_asked(svc);
		return;
	}
	describe_exit(svc, status, why, sizeof(why));
	svc->pid = -1;
	failure(svc, why);
}

/* A unit came up: running at once with a pid check, else once its check passes. */
static void
unit_started(struct service *svc)
{
	const struct service_conf *sc = service_conf(svc);

	if (sc->check_kind == CHECK_PID) {
		svc->state = SVC_RUNNING;
		start_ready(svc->owner);
		probe_in(svc, sc->check_interval_ms);
	} else {
		svc->state = SVC_STARTING;
		probe_in(svc, FIRST_PROBE_MS);
	}
}

/*
 * A stop the engine asked for is done (the process ended, or the unit is
 * down): its post-stop hook, then started again for a restart action, and
 * the services that waited for it to go may go now.
 */
static void
stopped_as_asked(struct service *svc)
{
	struct services *s = svc->owner;

	log_info("service %s stopped", svc->name);
	stop_probing(svc);
	hook_and_go(svc, "post-stop");
	if (svc->restart_after_stop && s->wanted) {
		svc->restart_after_stop = false;
		restart_service(svc);
	} else {
		svc->restart_after_stop = false;
		svc->state = SVC_STOPPED;
	}
	stop_ready(s);
	check_stop(s);
}

/*
 * The unit's state changed. why is NULL for what the engine's own start or
 * stop caused; otherwise systemd's account of what happened. A unit found
 * running where it must not (a passive node) is stopped; one that stops or
 * fails behind the engine's back is a failure of the service.
 */
static void
on_unit_change(void *arg, enum sdunit_state st, const char *why)
{
	struct service *svc = arg;
	struct services *s = svc->owner;
	bool up = st == SDUNIT_ACTIVE || st == SDUNIT_ACTIVATING;
	bool down = st == SDUNIT_INACTIVE || st == SDUNIT_FAILED;
	char msg[sizeof(svc->last_failure)];

	if (!svc->unit_seen || (why != NULL && up && svc->state != SVC_STARTING &&
	    svc->state != SVC_RUNNING && svc->state != SVC_STOPPING)) {
		svc->unit_seen = true;
		if (!up)
			return;
		if (!s->wanted) {
			event(s->e, EV_WARNING, "service", "%s: unit %s is running on this node, which "
			    "is not active: stopping it", svc->name, sdunit_name(svc->unit));
			svc->state = SVC_RUNNING;
			begin_stop(svc);
			return;
		}
		log_info("service %s: unit %s is running: taken as started", svc->name,
		    sdunit_name(svc->unit));
		svc->started_ms = now_mono_ms();
		if (st == SDUNIT_ACTIVE)
			unit_started(svc);
		else
			svc->state = SVC_STARTING;
		return;
	}
	switch (svc->state) {
	case SVC_STARTING:
		if (st == SDUNIT_ACTIVE && !evtimer_pending(svc->probe_ev, NULL) &&
		    !health_busy(svc->health))
			unit_started(svc);      /* once: its check is then under way */
		else if (down) {
			snprintf(msg, sizeof(msg), "its unit %s did not start: %s", sdunit_name(svc->unit),
			    why != NULL ? why : sdunit_state_name(st));
			failure(svc, msg);
		}
		break;
	case SVC_RUNNING:
		if (down) {
			snprintf(msg, sizeof(msg), "its unit %s is %s: %s", sdunit_name(svc->unit),
			    sdunit_state_name(st), why != NULL ? why : "it went down");
			failure(svc, msg);
		}
		break;
	case SVC_STOPPING:
		if (down)
			stopped_as_asked(svc);
		break;
	default:
		break;
	}
}

/*
 * A unit's service: watched through systemd, or unmanaged, with a
 * warning, where systemd is not there to ask.
 */
static void
watch_unit(struct service *svc)
{
	const struct service_conf *sc = service_conf(svc);
	char err[512];

	if (sc == NULL || sc->unit == NULL || svc->unit != NULL)
		return;
	if (svc->owner->bus == NULL) {
		svc->state = SVC_UNMANAGED;
		log_warnx("service %s: systemd is not PID 1 here, so unit %s is not supervised",
		    svc->name, sc->unit);
		return;
	}
	if ((svc->unit = sdunit_watch(svc->owner->bus, sc->unit, on_unit_change, svc, err,
	    sizeof(err))) == NULL) {
		svc->state = SVC_UNMANAGED;
		log_warnx("service %s: cannot watch unit %s: %s", svc->name, sc->unit, err);
	}
}

static struct service *
add_service(struct services *s, const char *name)
{
	struct service *svc = xcalloc(1, sizeof(*svc));

	svc->name = xstrdup(name);
	svc->pid = -1;
	svc->owner = s;
	svc->restart_ev = evtimer_new(s->e->base, on_restart_due, svc);
	svc->probe_ev = evtimer_new(s->e->base, on_probe_due, svc);
	svc->health = health_new(s->e->base, s->kids, s->plugin_dir);
	svc->hooks = health_new(s->e->base, s->kids, s->plugin_dir);
	svc->pidfd = -1;
	svc->state = SVC_STOPPED;
	s->v = xrealloc(s->v, (s->n + 1) * sizeof(*s->v));
	s->v[s->n++] = svc;
	if (config_service(s->e->conf, name) == NULL)
		config_service_default(&svc->unit_conf, name);
	watch_unit(svc);
	return svc;
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
	if (svc->pid > 0)
		children_forget(svc->owner->kids, svc->pid);
	sdunit_free(svc->unit);
	if (svc->unit_conf.name != NULL)
		config_service_clear(&svc->unit_conf);
	event_free(svc->restart_ev);
	event_free(svc->probe_ev);
	health_free(svc->health);
	health_free(svc->hooks);
	while (!LIST_EMPTY(&svc->loose_hooks)) {
		struct loose_hook *lh = LIST_FIRST(&svc->loose_hooks);

		LIST_REMOVE(lh, entry);
		health_free(lh->h);
		free(lh);
	}
	free(svc->name);
	free(svc);
}

struct services *
services_new(struct engine *e, struct sdbus *bus)
{
	struct services *s = xcalloc(1, sizeof(*s));

	s->e = e;
	s->bus = bus;
	s->kids = children_new(e->base);
	s->plugin_dir = xasprintf("%s/plugins", e->conf->state_dir);
	for (size_t i = 0; i < e->conf->protect_service.n; i++)
		add_service(s, e->conf->protect_service.v[i]);
	return s;
}

void
services_on_switchover(struct services *s, services_switchover_fn *fn)
{
	s->switchover = fn;
}

void
services_start_all(struct services *s)
{
	s->wanted = true;
	for (size_t i = 0; i < s->n; i++)
		if (s->v[i]->state == SVC_FAILED)
			s->v[i]->state = SVC_STOPPED;
	start_ready(s);
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
 * Stop one service and wait for it: its stop method, then SIGKILL at its
 * stop_timeout. Blocks, so only for the engine's exit.
 */
static void
stop_service(struct service *svc)
{
	pid_t pid = svc->pid;
	uint64_t now;

	begin_stop_as(svc, service_conf(svc), false);   /* no loop turns here for a hook */
	if (svc->state != SVC_STOPPING)
		return;
	children_forget(svc->owner->kids, pid);    /* reaped right here */
	now = now_mono_ms();
	if (!reap_within(pid, svc->kill_at_ms > now ? svc->kill_at_ms - now : 0)) {
		log_warnx("service %s did not stop within its stop_timeout, killing it", svc->name);
		kill(-pid, SIGKILL);
		reap_within(pid, 5000);
	}
	log_info("service %s stopped", svc->name);
	drop_pidfd(svc);
	svc->pid = -1;
	svc->restart_after_stop = false;
	svc->state = SVC_STOPPED;
}

/*
 * While stopping: send its stop method to every service that no running
 * service depends on; the others follow as their dependents end.
 */
static void
stop_ready(struct services *s)
{
	if (s->wanted)
		return;
	for (size_t i = s->n; i-- > 0;) {
		struct service *svc = s->v[i];

		if (svc->state == SVC_STOPPING || svc->state == SVC_UNMANAGED)
			continue;
		if (!is_up(svc) || !dependents_running(svc))
			begin_stop(svc);
	}
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

		if (!is_up(svc))
			continue;
		pending = true;
		if (svc->state == SVC_STOPPING && now >= svc->kill_at_ms && svc->kill_at_ms != 0) {
			log_warnx("service %s did not stop within its stop_timeout, killing it", svc->name);
			if (svc->unit != NULL && main_pid(svc) > 0)
				kill(main_pid(svc), SIGKILL);    /* systemd sees it die */
			else if (svc->unit == NULL)
				kill(-svc->pid, SIGKILL);
			svc->kill_at_ms = 0;        /* once; its exit completes it */
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

	s->wanted = false;
	stop_ready(s);
	s->stop_done = done;
	s->stop_arg = arg;
	if (s->stop_ev == NULL)
		s->stop_ev = event_new(s->e->base, -1, EV_PERSIST, on_stop_poll, s);
	event_add(s->stop_ev, &tv);
	check_stop(s);
}

/*
 * At exit: ask systemd to stop every unit that is up and wait for them, the
 * loop turning by hand since it no longer runs, for their stop_timeout.
 */
static void
stop_units_now(struct services *s)
{
	uint64_t deadline = now_mono_ms();
	struct timespec pause = { 0, 20 * 1000 * 1000 };
	bool pending;

	for (size_t i = 0; i < s->n; i++) {
		const struct service_conf *sc = service_conf(s->v[i]);

		if (s->v[i]->unit == NULL || !is_up(s->v[i]))
			continue;
		begin_stop(s->v[i]);
		if (sc != NULL && now_mono_ms() + sc->stop_timeout_ms > deadline)
			deadline = now_mono_ms() + sc->stop_timeout_ms;
	}
	do {
		pending = false;
		for (size_t i = 0; i < s->n; i++)
			pending |= s->v[i]->unit != NULL && is_up(s->v[i]);
		if (!pending)
			break;
		event_base_loop(s->e->base, EVLOOP_NONBLOCK);
		nanosleep(&pause, NULL);
	} while (now_mono_ms() < deadline);
	if (pending)
		log_warnx("systemd did not stop every protected unit in time");
}

void
services_stop_all(struct services *s)
{
	s->wanted = false;
	stop_units_now(s);
	/* Dependents first: each round stops those nothing running needs. */
	for (size_t round = 0; round <= s->n; round++) {
		bool any = false;

		for (size_t i = s->n; i-- > 0;) {
			struct service *svc = s->v[i];

			if (svc->unit == NULL && svc->pid > 0 && !dependents_running(svc)) {
				stop_service(svc);
				any = true;
			} else if (!is_up(svc))
				begin_stop(svc);        /* a restart timer or a probe */
		}
		if (!any)
			break;
	}
	/* Already told to stop; the engine exits, so they get no more time. */
	while (s->nretiring > 0) {
		struct service *svc = s->retiring[0];

		children_forget(s->kids, svc->pid);
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
	svc->pid = -1;
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

	begin_stop_as(svc, config_service(old, svc->name), false);
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
	for (size_t j = 0; j < want->n; j++)
		if (find(s, want->v[j]) == NULL)
			add_service(s, want->v[j]);
	for (size_t i = 0; i < s->n; i++)
		s->v[i]->plugin_disabled = false;    /* a new configuration: try its plug-ins again */
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
	stop_probing(svc);
	if (svc->state == SVC_STOPPING) {
		log_info("service %s stopped", svc->name);
		svc->pid = -1;
		svc->state = SVC_STOPPED;
		stop_ready(svc->owner);
		check_stop(svc->owner);
	} else {
		svc->pid = -1;
		failure(svc, "its process ended (taken over from an earlier engine, so its exit "
		    "status cannot be known)");
	}
}

int
services_adopt(struct services *s, const char *name, pid_t pid)
{
	struct service *svc = find(s, name);
	const struct service_conf *sc;
	int fd;

	if (svc == NULL || (sc = service_conf(svc)) == NULL || sc->unit != NULL) {
		log_warnx("service %s (pid %ld) is no longer protected; left alone", name, (long)pid);
		return -1;
	}
	if ((fd = (int)syscall(SYS_pidfd_open, pid, 0)) < 0) {
		log_warn("service %s: cannot adopt pid %ld", name, (long)pid);
		return -1;
	}
	svc->pidfd = fd;
	svc->pidfd_ev = event_new(s->e->base, fd, EV_READ, on_adopted_exit, svc);
	event_add(svc->pidfd_ev, NULL);
	svc->pid = pid;
	svc->state = SVC_RUNNING;
	svc->started_ms = now_mono_ms();
	s->wanted = true;            /* only an active node adopts its services */
	probe_in(svc, sc->check_interval_ms);
	log_info("service %s: adopted the running pid %ld", name, (long)pid);
	return 0;
}

json_t *
services_running_pids(const struct services *s)
{
	json_t *obj = json_object();

	for (size_t i = 0; i < s->n; i++)
		if (s->v[i]->unit == NULL && s->v[i]->pid > 0 && (s->v[i]->state == SVC_RUNNING ||
		    s->v[i]->state == SVC_STARTING))
			json_object_set_new(obj, s->v[i]->name, json_integer(s->v[i]->pid));
	return obj;
}

json_t *
services_json(const struct services *s)
{
	json_t *arr = json_array();

	for (size_t i = 0; i < s->n; i++) {
		const struct service *svc = s->v[i];
		const char *state = svc->state == SVC_STOPPING && svc->restart_after_stop ?
		    "restarting" : svc_state_names[svc->state];

		json_array_append_new(arr, json_pack("{s:s, s:s, s:o, s:i, s:o}",
		    "name", svc->name, "state", state,
		    "pid", main_pid(svc) > 0 ? json_integer(main_pid(svc)) : json_null(),
		    "failures", (int)svc->failures,
		    "last_failure", svc->last_failure[0] != '\0' ?
		    json_string(svc->last_failure) : json_null()));
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
	if (s->stop_ev != NULL)
		event_free(s->stop_ev);
	children_free(s->kids);
	free(s->plugin_dir);
	free(s->v);
	free(s);
}

/*
 * fake-systemd: as much of systemd's D-Bus API as engine/sdunit uses, on the
 * bus at DBUS_SYSTEM_BUS_ADDRESS, for its unit tests. Units come from the
 * command line (NAME=COMMAND); StartUnit runs /bin/sh -c "exec COMMAND",
 * StopUnit sends SIGTERM, and a process that ends by itself leaves its unit
 * as systemd would. It owns its children: they die with it.
 *
 * Usage: fake-systemd [-v] NAME=COMMAND...
 * Prints "ready" on stdout once it holds org.freedesktop.systemd1.
 */
#include "common/log.h"
#include "common/util.h"

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define SD_NAME		"org.freedesktop.systemd1"
#define SD_PATH		"/org/freedesktop/systemd1"
#define SD_MANAGER	"org.freedesktop.systemd1.Manager"
#define SD_UNIT		"org.freedesktop.systemd1.Unit"
#define SD_SERVICE	"org.freedesktop.systemd1.Service"
#define UNIT_PREFIX	"/org/freedesktop/systemd1/unit"
#define DBUS_PROPS	"org.freedesktop.DBus.Properties"
#define FAKE_IFACE	"org.lifeline.FakeSystemd"	/* test hooks */

#define MAX_UNITS	64
#define ACTIVATE_USEC	(50 * 1000)	/* activating -> active */
#define STOP_KILL_USEC	(3 * 1000 * 1000)	/* SIGTERM, then SIGKILL */

enum job { JOB_NONE, JOB_START, JOB_STOP };

struct unit {
	char		*name;
	char		*path;
	char		*cmd;		/* NULL: a stub LoadUnit made, no such unit */
	const char	*load;		/* LoadState */
	const char	*active;	/* ActiveState */
	const char	*sub;		/* SubState */
	enum job	 job;
	uint32_t	 job_id;
	char		*job_path;
	pid_t		 pid;
	uint32_t	 main_pid;
	const char	*result;
	int32_t		 exec_code;
	int32_t		 exec_status;
	sd_event_source	*child, *timer;
};

static struct unit	 units[MAX_UNITS];
static size_t		 nunits;
static uint32_t		 last_job;
static sd_bus		*bus;
static sd_event		*loop;
static sd_bus_track	*subscribers;

static struct unit *
unit_by_name(const char *name)
{
	for (size_t i = 0; i < nunits; i++)
		if (strcmp(units[i].name, name) == 0)
			return &units[i];
	return NULL;
}

static struct unit *
unit_by_path(const char *path)
{
	for (size_t i = 0; i < nunits; i++)
		if (strcmp(units[i].path, path) == 0)
			return &units[i];
	return NULL;
}

/* Good enough for a fake: NAME.service of the characters systemd allows. */
static bool
name_ok(const char *name)
{
	size_t len = strlen(name);

	if (len <= 8 || len > 255 || strcmp(name + len - 8, ".service") != 0)
		return false;
	for (size_t i = 0; i < len - 8; i++)
		if (strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "0123456789:-_.\\@", name[i]) == NULL)
			return false;
	return true;
}

static struct unit *
unit_add(const char *name, const char *cmd)
{
	struct unit *u;
	char *path;

	if (nunits == MAX_UNITS)
		return NULL;
	if (sd_bus_path_encode(UNIT_PREFIX, name, &path) < 0)
		fatalx("cannot encode the path of %s", name);
	u = &units[nunits++];
	u->name = xstrdup(name);
	u->path = path;
	u->cmd = cmd != NULL ? xstrdup(cmd) : NULL;
	u->load = cmd != NULL ? "loaded" : "not-found";
	u->active = "inactive";
	u->sub = "dead";
	u->job_path = xstrdup("/");
	u->result = "success";
	return u;
}

/* PropertiesChanged of iface with every property, as systemd sends them. */
static void
emit(struct unit *u, const char *iface)
{
	int r;

	if (sd_bus_track_count(subscribers) == 0)
		return;
	r = sd_bus_emit_properties_changed_strv(bus, u->path, iface, NULL);
	if (r < 0)
		log_warnx("%s: PropertiesChanged of %s: %s", u->name, iface,
		    strerror(-r));
}

/* systemd's order: the type's interface first, then the unit's. */
static void
emit_both(struct unit *u)
{
	emit(u, SD_SERVICE);
	emit(u, SD_UNIT);
}

static void
set_state(struct unit *u, const char *active, const char *sub)
{
	log_debug("%s: %s (%s)", u->name, active, sub);
	u->active = active;
	u->sub = sub;
}

static void
job_begin(struct unit *u, enum job job)
{
	u->job = job;
	u->job_id = ++last_job;
	free(u->job_path);
	u->job_path = xasprintf("/org/freedesktop/systemd1/job/%u", u->job_id);
}

static void
job_end(struct unit *u)
{
	u->job = JOB_NONE;
	u->job_id = 0;
	free(u->job_path);
	u->job_path = xstrdup("/");
}

/* A job that has nothing to do: its path for the reply, and done at once. */
static char *
job_noop(void)
{
	return xasprintf("/org/freedesktop/systemd1/job/%u", ++last_job);
}

static int
on_activated(sd_event_source *s, uint64_t usec, void *arg)
{
	struct unit *u = arg;

	u->timer = sd_event_source_unref(u->timer);
	if (u->pid > 0 && strcmp(u->active, "activating") == 0) {
		set_state(u, "active", "running");
		job_end(u);
		emit(u, SD_UNIT);
	}
	return 0;
}

static int
on_stop_timeout(sd_event_source *s, uint64_t usec, void *arg)
{
	struct unit *u = arg;

	u->timer = sd_event_source_unref(u->timer);
	if (u->pid > 0) {
		log_debug("%s: stop timed out, SIGKILL", u->name);
		kill(u->pid, SIGKILL);
	}
	return 0;
}

/*
 * The main process ended. Asked to stop: inactive, result success (the
 * exit status is recorded all the same). By itself: inactive after a clean
 * exit, failed otherwise with Result exit-code, signal or core-dump.
 */
static int
on_child(sd_event_source *s, const siginfo_t *si, void *arg)
{
	struct unit *u = arg;

	u->child = sd_event_source_unref(u->child);
	u->timer = sd_event_source_unref(u->timer);
	u->pid = 0;
	u->main_pid = 0;
	u->exec_code = si->si_code;
	u->exec_status = si->si_status;
	if (u->job == JOB_STOP ||
	    (si->si_code == CLD_EXITED && si->si_status == 0)) {
		u->result = "success";
		set_state(u, "inactive", "dead");
	} else {
		u->result = si->si_code == CLD_EXITED ? "exit-code" :
		    si->si_code == CLD_DUMPED ? "core-dump" : "signal";
		set_state(u, "failed", "failed");
	}
	job_end(u);
	emit_both(u);
	return 0;
}

static _Noreturn void
exec_child(const char *cmd, pid_t parent)
{
	sigset_t none;
	int fd;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (int sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
	/* Killed with us, even by SIGKILL. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(127);
	if ((fd = open("/dev/null", O_RDWR)) >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		close(fd);
	}
	execl("/bin/sh", "sh", "-c", xasprintf("exec %s", cmd), (char *)NULL);
	_exit(127);
}

static int
check_mode(const char *mode, sd_bus_error *error)
{
	static const char *const modes[] = { "replace", "fail", "isolate",
	    "ignore-dependencies", "ignore-requirements" };

	for (size_t i = 0; i < nitems(modes); i++)
		if (strcmp(mode, modes[i]) == 0)
			return 0;
	return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
	    "Job mode %s invalid.", mode);
}

static int
method_start(sd_bus_message *m, void *arg, sd_bus_error *error)
{
	const char *name, *mode;
	struct unit *u;
	char *noop;
	pid_t pid;
	int r;

	if ((r = sd_bus_message_read(m, "ss", &name, &mode)) < 0)
		return r;
	if ((r = check_mode(mode, error)) < 0)
		return r;
	if ((u = unit_by_name(name)) == NULL || u->cmd == NULL)
		return sd_bus_error_setf(error, "org.freedesktop.systemd1.NoSuchUnit",
		    "Unit %s not found.", name);
	if (u->job == JOB_STOP)
		return sd_bus_error_setf(error, SD_BUS_ERROR_FAILED,
		    "fake-systemd: %s is stopping, start it after", name);
	if (u->pid > 0) {
		noop = job_noop();
		r = sd_bus_reply_method_return(m, "o", noop);
		free(noop);
		emit(u, SD_UNIT);
		return r;
	}
	if ((pid = fork()) < 0)
		return sd_bus_error_set_errnof(error, errno, "fork: %m");
	if (pid == 0)
		exec_child(u->cmd, getppid());
	u->pid = pid;
	u->main_pid = (uint32_t)pid;
	u->result = "success";
	u->exec_code = u->exec_status = 0;
	if ((r = sd_event_add_child(loop, &u->child, pid, WEXITED, on_child, u)) < 0)
		fatalx("sd_event_add_child: %s", strerror(-r));
	if ((r = sd_event_add_time_relative(loop, &u->timer, CLOCK_MONOTONIC,
	    ACTIVATE_USEC, 0, on_activated, u)) < 0)
		fatalx("sd_event_add_time_relative: %s", strerror(-r));
	job_begin(u, JOB_START);
	set_state(u, "activating", "start");
	log_debug("%s: started pid %ld", u->name, (long)pid);
	r = sd_bus_reply_method_return(m, "o", u->job_path);
	emit_both(u);
	return r;
}

static int
method_stop(sd_bus_message *m, void *arg, sd_bus_error *error)
{
	const char *name, *mode;
	struct unit *u;
	char *noop;
	int r;

	if ((r = sd_bus_message_read(m, "ss", &name, &mode)) < 0)
		return r;
	if ((r = check_mode(mode, error)) < 0)
		return r;
	if ((u = unit_by_name(name)) == NULL || u->cmd == NULL)
		return sd_bus_error_setf(error, "org.freedesktop.systemd1.NoSuchUnit",
		    "Unit %s not loaded.", name);
	if (u->job == JOB_STOP)
		return sd_bus_reply_method_return(m, "o", u->job_path);
	if (u->pid <= 0) {
		noop = job_noop();
		r = sd_bus_reply_method_return(m, "o", noop);
		free(noop);
		emit(u, SD_UNIT);
		return r;
	}
	u->timer = sd_event_source_unref(u->timer);
	if ((r = sd_event_add_time_relative(loop, &u->timer, CLOCK_MONOTONIC,
	    STOP_KILL_USEC, 0, on_stop_timeout, u)) < 0)
		fatalx("sd_event_add_time_relative: %s", strerror(-r));
	job_begin(u, JOB_STOP);
	set_state(u, "deactivating", "stop-sigterm");
	kill(u->pid, SIGTERM);
	r = sd_bus_reply_method_return(m, "o", u->job_path);
	emit(u, SD_UNIT);
	return r;
}

/*
 * LoadUnit of a name nobody gave: a stub that is not found, as systemd
 * makes one (StartUnit on it then fails with NoSuchUnit).
 */
static int
method_load(sd_bus_message *m, void *arg, sd_bus_error *error)
{
	const char *name;
	struct unit *u;
	int r;

	if ((r = sd_bus_message_read(m, "s", &name)) < 0)
		return r;
	if (!name_ok(name))
		return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
		    "Unit name %s is not valid.", name);
	if ((u = unit_by_name(name)) == NULL && (u = unit_add(name, NULL)) == NULL)
		return sd_bus_error_set_const(error, SD_BUS_ERROR_LIMITS_EXCEEDED,
		    "fake-systemd: too many units");
	return sd_bus_reply_method_return(m, "o", u->path);
}

static int
method_get(sd_bus_message *m, void *arg, sd_bus_error *error)
{
	const char *name;
	struct unit *u;
	int r;

	if ((r = sd_bus_message_read(m, "s", &name)) < 0)
		return r;
	if ((u = unit_by_name(name)) == NULL)
		return sd_bus_error_setf(error, "org.freedesktop.systemd1.NoSuchUnit",
		    "Unit %s not loaded.", name);
	return sd_bus_reply_method_return(m, "o", u->path);
}

static int
method_subscribe(sd_bus_message *m, void *arg, sd_bus_error *error)
{
	int r = sd_bus_track_add_sender(subscribers, m);

	if (r < 0)
		return r;
	if (r == 0)
		return sd_bus_error_set_const(error,
		    "org.freedesktop.systemd1.AlreadySubscribed",
		    "Client is already subscribed.");
	log_debug("subscriber %s", sd_bus_message_get_sender(m));
	return sd_bus_reply_method_return(m, NULL);
}

static int
method_unsubscribe(sd_bus_message *m, void *arg, sd_bus_error *error)
{
	int r = sd_bus_track_remove_sender(subscribers, m);

	if (r < 0)
		return r;
	if (r == 0)
		return sd_bus_error_set_const(error,
		    "org.freedesktop.systemd1.NotSubscribed",
		    "Client is not subscribed.");
	return sd_bus_reply_method_return(m, NULL);
}

/* Append one a{sv} entry: name, then a variant built by the caller. */
#define OPEN_ENTRY(m, name, sig) \
	(sd_bus_message_open_container((m), 'e', "sv") < 0 || \
	 sd_bus_message_append((m), "s", (name)) < 0 || \
	 sd_bus_message_open_container((m), 'v', (sig)) < 0)
#define CLOSE_ENTRY(m) \
	(sd_bus_message_close_container(m) < 0 || \
	 sd_bus_message_close_container(m) < 0)

/*
 * Bad PropertiesChanged on the unit's path, each of which a client must
 * ignore whole: ActiveState of type i; a valid ActiveState followed by a
 * LoadState of type u; an ActiveState too long for any state; a MainPID
 * out of range; a body of the wrong signature.
 */
static int
emit_bad(struct unit *u)
{
	sd_bus_message *m = NULL;
	char longword[200];
	int bad = 0;

	memset(longword, 'x', sizeof(longword) - 1);
	longword[sizeof(longword) - 1] = '\0';
	for (int k = 0; k < 5; k++) {
		if (sd_bus_message_new_signal(bus, &m, u->path, DBUS_PROPS,
		    "PropertiesChanged") < 0)
			return -ENOMEM;
		if (k == 4) {
			bad |= sd_bus_message_append(m, "s", SD_UNIT) < 0;
			goto send;
		}
		bad |= sd_bus_message_append(m, "s", k == 3 ? SD_SERVICE : SD_UNIT) < 0;
		bad |= sd_bus_message_open_container(m, 'a', "{sv}") < 0;
		switch (k) {
		case 0:
			bad |= OPEN_ENTRY(m, "ActiveState", "i");
			bad |= sd_bus_message_append(m, "i", 7) < 0;
			bad |= CLOSE_ENTRY(m);
			break;
		case 1:
			bad |= OPEN_ENTRY(m, "ActiveState", "s");
			bad |= sd_bus_message_append(m, "s", "inactive") < 0;
			bad |= CLOSE_ENTRY(m);
			bad |= OPEN_ENTRY(m, "LoadState", "u");
			bad |= sd_bus_message_append(m, "u", 1) < 0;
			bad |= CLOSE_ENTRY(m);
			break;
		case 2:
			bad |= OPEN_ENTRY(m, "ActiveState", "s");
			bad |= sd_bus_message_append(m, "s", longword) < 0;
			bad |= CLOSE_ENTRY(m);
			break;
		case 3:
			bad |= OPEN_ENTRY(m, "MainPID", "u");
			bad |= sd_bus_message_append(m, "u", UINT32_MAX) < 0;
			bad |= CLOSE_ENTRY(m);
			break;
		}
		bad |= sd_bus_message_close_container(m) < 0;
		bad |= sd_bus_message_append(m, "as", 0) < 0;
send:
		if (!bad)
			bad |= sd_bus_send(bus, m, NULL) < 0;
		m = sd_bus_message_unref(m);
	}
	return bad ? -EINVAL : 0;
}

static int
method_emit_bad(sd_bus_message *m, void *arg, sd_bus_error *error)
{
	const char *name;
	struct unit *u;
	int r;

	if ((r = sd_bus_message_read(m, "s", &name)) < 0)
		return r;
	if ((u = unit_by_name(name)) == NULL)
		return sd_bus_error_setf(error, "org.freedesktop.systemd1.NoSuchUnit",
		    "Unit %s not loaded.", name);
	if ((r = emit_bad(u)) < 0)
		return sd_bus_error_set_errnof(error, -r, "cannot build the "
		    "messages");
	return sd_bus_reply_method_return(m, NULL);
}

static int
get_job(sd_bus *b, const char *path, const char *iface, const char *prop,
    sd_bus_message *reply, void *arg, sd_bus_error *error)
{
	struct unit *u = arg;

	return sd_bus_message_append(reply, "(uo)", u->job_id, u->job_path);
}

static int
find_unit(sd_bus *b, const char *path, const char *iface, void *arg,
    void **found, sd_bus_error *error)
{
	struct unit *u = unit_by_path(path);

	if (u == NULL)
		return 0;
	*found = u;
	return 1;
}

#define EMITS	SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE

static const sd_bus_vtable manager_vtable[] = {
	SD_BUS_VTABLE_START(0),
	SD_BUS_METHOD("LoadUnit", "s", "o", method_load, 0),
	SD_BUS_METHOD("GetUnit", "s", "o", method_get, 0),
	SD_BUS_METHOD("StartUnit", "ss", "o", method_start, 0),
	SD_BUS_METHOD("StopUnit", "ss", "o", method_stop, 0),
	SD_BUS_METHOD("Subscribe", "", "", method_subscribe, 0),
	SD_BUS_METHOD("Unsubscribe", "", "", method_unsubscribe, 0),
	SD_BUS_VTABLE_END
};

static const sd_bus_vtable fake_vtable[] = {
	SD_BUS_VTABLE_START(0),
	SD_BUS_METHOD("EmitBad", "s", "", method_emit_bad, 0),
	SD_BUS_VTABLE_END
};

static const sd_bus_vtable unit_vtable[] = {
	SD_BUS_VTABLE_START(0),
	SD_BUS_PROPERTY("Id", "s", NULL, offsetof(struct unit, name),
	    SD_BUS_VTABLE_PROPERTY_CONST),
	SD_BUS_PROPERTY("LoadState", "s", NULL, offsetof(struct unit, load), EMITS),
	SD_BUS_PROPERTY("ActiveState", "s", NULL, offsetof(struct unit, active), EMITS),
	SD_BUS_PROPERTY("SubState", "s", NULL, offsetof(struct unit, sub), EMITS),
	SD_BUS_PROPERTY("Job", "(uo)", get_job, 0, EMITS),
	SD_BUS_VTABLE_END
};

static const sd_bus_vtable service_vtable[] = {
	SD_BUS_VTABLE_START(0),
	SD_BUS_PROPERTY("MainPID", "u", NULL, offsetof(struct unit, main_pid), EMITS),
	SD_BUS_PROPERTY("Result", "s", NULL, offsetof(struct unit, result), EMITS),
	SD_BUS_PROPERTY("ExecMainCode", "i", NULL, offsetof(struct unit, exec_code), EMITS),
	SD_BUS_PROPERTY("ExecMainStatus", "i", NULL, offsetof(struct unit, exec_status), EMITS),
	SD_BUS_VTABLE_END
};

static void
kill_children(void)
{
	for (size_t i = 0; i < nunits; i++) {
		if (units[i].pid <= 0)
			continue;
		kill(units[i].pid, SIGKILL);
		waitpid(units[i].pid, NULL, 0);
		units[i].pid = 0;
	}
}

static void
usage(void)
{
	fprintf(stderr, "usage: fake-systemd [-v] NAME.service=COMMAND...\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	sigset_t mask;
	int verbose = 0, ch, r;

	while ((ch = getopt(argc, argv, "v")) != -1) {
		if (ch != 'v')
			usage();
		verbose++;
	}
	log_init(LOG_TO_STDERR, verbose, "fake-systemd");
	if (optind == argc)
		usage();
	for (int i = optind; i < argc; i++) {
		char *eq = strchr(argv[i], '=');

		if (eq == NULL)
			usage();
		*eq = '\0';
		if (!name_ok(argv[i]) || unit_by_name(argv[i]) != NULL ||
		    unit_add(argv[i], eq + 1) == NULL)
			fatalx("unit %s: bad, twice or too many", argv[i]);
	}

	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	if ((r = sd_event_new(&loop)) < 0 ||
	    (r = sd_event_add_signal(loop, NULL, SIGTERM, NULL, NULL)) < 0 ||
	    (r = sd_event_add_signal(loop, NULL, SIGINT, NULL, NULL)) < 0)
		fatalx("sd-event: %s", strerror(-r));
	if ((r = sd_bus_open_system(&bus)) < 0)
		fatalx("system bus: %s", strerror(-r));
	if ((r = sd_bus_track_new(bus, &subscribers, NULL, NULL)) < 0 ||
	    (r = sd_bus_add_object_vtable(bus, NULL, SD_PATH, SD_MANAGER,
	    manager_vtable, NULL)) < 0 ||
	    (r = sd_bus_add_object_vtable(bus, NULL, SD_PATH, FAKE_IFACE,
	    fake_vtable, NULL)) < 0 ||
	    (r = sd_bus_add_fallback_vtable(bus, NULL, UNIT_PREFIX, SD_UNIT,
	    unit_vtable, find_unit, NULL)) < 0 ||
	    (r = sd_bus_add_fallback_vtable(bus, NULL, UNIT_PREFIX, SD_SERVICE,
	    service_vtable, find_unit, NULL)) < 0)
		fatalx("cannot serve systemd's objects: %s", strerror(-r));
	if ((r = sd_bus_request_name(bus, SD_NAME, 0)) < 0)
		fatalx("cannot own %s: %s", SD_NAME, strerror(-r));
	if ((r = sd_bus_attach_event(bus, loop, SD_EVENT_PRIORITY_NORMAL)) < 0 ||
	    (r = sd_bus_set_exit_on_disconnect(bus, 1)) < 0)
		fatalx("cannot drive the bus: %s", strerror(-r));
	printf("ready\n");
	fflush(stdout);

	r = sd_event_loop(loop);
	kill_children();
	sd_bus_flush_close_unref(bus);
	sd_event_unref(loop);
	return r < 0 ? 1 : 0;
}

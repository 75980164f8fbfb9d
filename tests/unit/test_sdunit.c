/*
 * Unit tests of engine/sdunit against a private dbus-daemon and
 * fake-systemd (tests/tools) under a real event loop: the first state,
 * Lifeline's own start and stop (why NULL), a main process killed or
 * exiting, a stop and a start by another client, bad names and unknown
 * units, malformed signals, systemd leaving the bus and coming back, the
 * bus itself going away, and frees from inside callbacks. Every process
 * is the test's own, killed by PID and reaped; every wait is bounded.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <systemd/sd-bus.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "engine/sdunit.h"
#include "helpers/fakebus.h"
#include "helpers/procs.h"
#include "helpers/tmpdir.h"

#define MAX_REPORTS	64
#define WAIT_MS		5000	/* for anything that should come */
#define QUIET_MS	300	/* for nothing to come */

#define STOPPED_BY_OTHER "stopped through systemd by another client (a stop " \
			"job Lifeline did not start, e.g. systemctl stop)"
#define STARTED_BY_OTHER "started through systemd by another client (a start " \
			"job Lifeline did not start, e.g. systemctl start)"

struct report {
	enum sdunit_state	 state;
	char			*why;		/* NULL as given */
};

struct fixture {
	char			*dir;
	struct fakebus		 fb;
	struct event_base	*base;
	struct event		*tick;		/* bounds each EVLOOP_ONCE */
	struct sdbus		*b;
	struct sdunit		*u;
	struct report		 r[MAX_REPORTS];
	size_t			 n, seen;
	bool			 free_in_cb;	/* on_change frees u */
	bool			 close_in_cb;	/* on_change closes b */
};

/* The units fake-systemd serves in these tests. */
static char *const fake_units[] = { "app.service=sleep 1000",
	    "exits.service=sh -c 'sleep 1; exit 3'", NULL };

/* The case's fixture, torn down by cleanup() when a failed case left it. */
static struct fixture *current;
static char *dbus_daemon;		/* NULL: not installed, every case skips */

/* The parent of pid, from /proc; 0 when gone. */
static pid_t
parent_of(pid_t pid)
{
	char *path = xasprintf("/proc/%ld/stat", (long)pid), buf[512], *paren;
	FILE *fp = fopen(path, "r");
	long ppid = 0;
	size_t n;

	free(path);
	if (fp == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	if ((paren = strrchr(buf, ')')) == NULL ||
	    sscanf(paren + 1, " %*c %ld", &ppid) != 1)
		return 0;
	return (pid_t)ppid;
}

static bool
gone_within(pid_t pid, int ms)
{
	for (int i = 0; i < ms / 10; i++) {
		if (!proc_alive(pid))
			return true;
		usleep(10 * 1000);
	}
	return !proc_alive(pid);
}

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
}

static void
on_change(void *arg, enum sdunit_state state, const char *why)
{
	struct fixture *f = arg;

	assert_true(f->n < MAX_REPORTS);
	f->r[f->n].state = state;
	f->r[f->n].why = why != NULL ? xstrdup(why) : NULL;
	f->n++;
	if (f->free_in_cb) {
		sdunit_free(f->u);
		f->u = NULL;
	}
	if (f->close_in_cb) {
		sdbus_close(f->b);
		f->b = NULL;
	}
}

static struct fixture *
fixture_new(void)
{
	struct fixture *f;
	struct timeval slice = { 0, 10 * 1000 };
	char err[256];

	if (dbus_daemon == NULL)
		skip();
	f = xcalloc(1, sizeof(*f));
	current = f;
	log_init(LOG_TO_STDERR, 0, "test_sdunit");
	f->dir = tmpdir();
	fakebus_start_bus(&f->fb, dbus_daemon, f->dir);
	fakebus_start_fake(&f->fb, fake_units);
	f->base = event_base_new();
	f->tick = event_new(f->base, -1, EV_PERSIST, on_tick, NULL);
	event_add(f->tick, &slice);
	f->b = sdbus_open(f->base, err, sizeof(err));
	if (f->b == NULL)
		fail_msg("sdbus_open: %s", err);
	return f;
}

static void
fixture_free(struct fixture *f)
{
	sdunit_free(f->u);
	sdbus_close(f->b);
	fakebus_stop_process(&f->fb.fake_pid);
	fakebus_stop_process(&f->fb.bus_pid);
	if (f->tick != NULL)
		event_free(f->tick);
	if (f->base != NULL)
		event_base_free(f->base);
	for (size_t i = 0; i < f->n; i++)
		free(f->r[i].why);
	rm_rf(f->dir);
	free(f->dir);
	free(f);
	current = NULL;
}

static int
cleanup(void **state)
{
	if (current != NULL)
		fixture_free(current);
	return 0;
}

/* The next report within ms, NULL if none came. */
static const struct report *
next_report(struct fixture *f, int ms)
{
	uint64_t deadline = now_mono_ms() + (uint64_t)ms;

	while (f->seen == f->n && now_mono_ms() < deadline)
		event_base_loop(f->base, EVLOOP_ONCE);
	return f->seen < f->n ? &f->r[f->seen++] : NULL;
}

/* The next report is state; its why (NULL or not) is returned. */
static const char *
expect(struct fixture *f, enum sdunit_state state)
{
	const struct report *r = next_report(f, WAIT_MS);

	if (r == NULL)
		fail_msg("no report within %d ms, expected %s", WAIT_MS,
		    sdunit_state_name(state));
	if (r->state != state)
		fail_msg("reported %s (%s), expected %s",
		    sdunit_state_name(r->state), r->why != NULL ? r->why : "NULL",
		    sdunit_state_name(state));
	return r->why;
}

static void
expect_own(struct fixture *f, enum sdunit_state state)
{
	const char *why = expect(f, state);

	if (why != NULL)
		fail_msg("%s with why \"%s\", expected NULL (Lifeline's own)",
		    sdunit_state_name(state), why);
}

static void
expect_why(struct fixture *f, enum sdunit_state state, const char *part)
{
	const char *why = expect(f, state);

	if (why == NULL || strstr(why, part) == NULL)
		fail_msg("%s with why \"%s\", expected one with \"%s\"",
		    sdunit_state_name(state), why != NULL ? why : "NULL", part);
}

/* Nothing reported for ms. */
static void
expect_quiet(struct fixture *f, int ms)
{
	const struct report *r = next_report(f, ms);

	if (r != NULL)
		fail_msg("unexpected report %s (%s)", sdunit_state_name(r->state),
		    r->why != NULL ? r->why : "NULL");
}

static struct sdunit *
watch(struct fixture *f, const char *unit)
{
	char err[256];
	struct sdunit *u = sdunit_watch(f->b, unit, on_change, f, err, sizeof(err));

	if (u == NULL)
		fail_msg("sdunit_watch %s: %s", unit, err);
	return u;
}

/* Watch app.service and start it; returns its main PID. */
static pid_t
started_app(struct fixture *f)
{
	pid_t pid;

	f->u = watch(f, "app.service");
	expect_why(f, SDUNIT_INACTIVE, "as found when the watch began");
	assert_int_equal(sdunit_start(f->u), 0);
	expect_own(f, SDUNIT_ACTIVATING);
	expect_own(f, SDUNIT_ACTIVE);
	pid = sdunit_main_pid(f->u);
	assert_true(pid > 0);
	assert_true(proc_alive(pid));
	assert_int_equal(parent_of(pid), f->fb.fake_pid);
	return pid;
}

/* A method call to the fake from a second client, as systemctl would. */
static void
other_client(const char *iface, const char *member, const char *types, ...)
{
	sd_bus_error error = SD_BUS_ERROR_NULL;
	sd_bus_message *m = NULL, *reply = NULL;
	sd_bus *c = NULL;
	va_list ap;

	assert_int_equal(sd_bus_open_system(&c), 0);
	assert_int_equal(sd_bus_set_method_call_timeout(c, 5 * 1000 * 1000), 0);
	assert_true(sd_bus_message_new_method_call(c, &m, "org.freedesktop.systemd1",
	    "/org/freedesktop/systemd1", iface, member) >= 0);
	va_start(ap, types);
	assert_true(sd_bus_message_appendv(m, types, ap) >= 0);
	va_end(ap);
	if (sd_bus_call(c, m, 0, &error, &reply) < 0)
		fail_msg("%s from another client: %s: %s", member, error.name,
		    error.message);
	sd_bus_error_free(&error);
	sd_bus_message_unref(reply);
	sd_bus_message_unref(m);
	sd_bus_flush_close_unref(c);
}

static void
test_first_state(void **state)
{
	struct fixture *f = fixture_new();

	f->u = watch(f, "app.service");
	assert_int_equal(sdunit_state(f->u), SDUNIT_UNKNOWN);	/* nothing read yet */
	assert_string_equal(sdunit_name(f->u), "app.service");
	assert_string_equal(expect(f, SDUNIT_INACTIVE),
	    "as found when the watch began");
	assert_int_equal(sdunit_state(f->u), SDUNIT_INACTIVE);
	assert_int_equal(sdunit_main_pid(f->u), 0);
	expect_quiet(f, QUIET_MS);
	fixture_free(f);
}

/* Lifeline's own start and stop: every transition with why NULL. */
static void
test_start_stop(void **state)
{
	struct fixture *f = fixture_new();
	pid_t pid = started_app(f);

	assert_int_equal(sdunit_state(f->u), SDUNIT_ACTIVE);
	assert_int_equal(sdunit_stop(f->u), 0);
	expect_own(f, SDUNIT_DEACTIVATING);
	expect_own(f, SDUNIT_INACTIVE);
	assert_int_equal(sdunit_main_pid(f->u), 0);
	assert_true(gone_within(pid, 2000));
	/* And once more: nothing of the first round is left over. */
	assert_int_equal(sdunit_start(f->u), 0);
	expect_own(f, SDUNIT_ACTIVATING);
	expect_own(f, SDUNIT_ACTIVE);
	assert_true(sdunit_main_pid(f->u) > 0);
	assert_int_not_equal(sdunit_main_pid(f->u), pid);
	assert_int_equal(sdunit_stop(f->u), 0);
	expect_own(f, SDUNIT_DEACTIVATING);
	expect_own(f, SDUNIT_INACTIVE);
	expect_quiet(f, QUIET_MS);
	fixture_free(f);
}

static void
test_killed(void **state)
{
	struct fixture *f = fixture_new();
	pid_t pid = started_app(f);

	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_string_equal(expect(f, SDUNIT_FAILED),
	    "its main process was killed by signal KILL");
	assert_int_equal(sdunit_main_pid(f->u), 0);
	assert_int_equal(sdunit_state(f->u), SDUNIT_FAILED);
	/* A failed unit starts again, Lifeline's own doing. */
	assert_int_equal(sdunit_start(f->u), 0);
	expect_own(f, SDUNIT_ACTIVATING);
	expect_own(f, SDUNIT_ACTIVE);
	fixture_free(f);
}

static void
test_exit_status(void **state)
{
	struct fixture *f = fixture_new();

	f->u = watch(f, "exits.service");
	expect(f, SDUNIT_INACTIVE);
	assert_int_equal(sdunit_start(f->u), 0);
	expect_own(f, SDUNIT_ACTIVATING);
	expect_own(f, SDUNIT_ACTIVE);
	assert_string_equal(expect(f, SDUNIT_FAILED),
	    "its main process exited with status 3");
	fixture_free(f);
}

/*
 * A stop and a start by another client through systemd. A start of an
 * active unit before (a job with nothing to do) must not leave Lifeline
 * believing the next change is its own.
 */
static void
test_other_client(void **state)
{
	struct fixture *f = fixture_new();
	pid_t pid = started_app(f);

	assert_int_equal(sdunit_start(f->u), 0);
	expect_quiet(f, QUIET_MS);
	other_client("org.freedesktop.systemd1.Manager", "StopUnit", "ss",
	    "app.service", "replace");
	assert_string_equal(expect(f, SDUNIT_DEACTIVATING), STOPPED_BY_OTHER);
	assert_string_equal(expect(f, SDUNIT_INACTIVE), STOPPED_BY_OTHER);
	assert_true(gone_within(pid, 2000));
	other_client("org.freedesktop.systemd1.Manager", "StartUnit", "ss",
	    "app.service", "replace");
	assert_string_equal(expect(f, SDUNIT_ACTIVATING), STARTED_BY_OTHER);
	assert_string_equal(expect(f, SDUNIT_ACTIVE), STARTED_BY_OTHER);
	/* Lifeline's own stop after that is its own again. */
	assert_int_equal(sdunit_stop(f->u), 0);
	expect_own(f, SDUNIT_DEACTIVATING);
	expect_own(f, SDUNIT_INACTIVE);
	fixture_free(f);
}

static void
test_bad_names(void **state)
{
	struct fixture *f = fixture_new();
	char err[256], *longname = xcalloc(1, 300);
	static const struct {
		const char *name, *err;
	} bad[] = {
		{ "", "unit name of 0 characters" },
		{ "app", "expected NAME.TYPE" },
		{ ".service", "expected NAME.TYPE" },
		{ "app.daemon", "unknown unit type \"daemon\"" },
		{ "my app.service", "byte 0x20 at 2 is not allowed" },
		{ "../etc.service", "byte 0x2f at 2 is not allowed" },
		{ "getty@.service", "is a template" },
		{ "@tty1.service", "misplaced '@'" },
		{ "a@b@c.service", "misplaced '@'" },
	};

	for (size_t i = 0; i < nitems(bad); i++) {
		err[0] = '\0';
		assert_null(sdunit_watch(f->b, bad[i].name, on_change, f, err,
		    sizeof(err)));
		if (strstr(err, bad[i].err) == NULL)
			fail_msg("\"%s\": error \"%s\", expected \"%s\"",
			    bad[i].name, err, bad[i].err);
	}
	memset(longname, 'a', 260);
	memcpy(longname + 252, ".service", 9);
	assert_null(sdunit_watch(f->b, longname, on_change, f, err, sizeof(err)));
	assert_non_null(strstr(err, "of 260 characters, expected 1 to 255"));
	free(longname);
	/* Fine names: an instance, escapes. */
	f->u = watch(f, "postgresql@15-main.service");
	expect_why(f, SDUNIT_UNKNOWN, "postgresql@15-main.service (LoadState not-found)");
	sdunit_free(f->u);
	f->u = NULL;

	/* A name systemd has no unit for: unknown, and a start fails. */
	f->u = watch(f, "nosuch.service");
	assert_string_equal(expect(f, SDUNIT_UNKNOWN),
	    "systemd has no unit nosuch.service (LoadState not-found)");
	assert_int_equal(sdunit_start(f->u), 0);
	assert_string_equal(expect(f, SDUNIT_FAILED), "StartUnit failed: "
	    "org.freedesktop.systemd1.NoSuchUnit: Unit nosuch.service not found.");
	assert_int_equal(sdunit_state(f->u), SDUNIT_FAILED);
	expect_quiet(f, QUIET_MS);
	fixture_free(f);
}

/*
 * Malformed PropertiesChanged from systemd (wrong variant types, a good
 * property beside a bad one, a word too long, a PID out of range, a wrong
 * body) are ignored whole: no report, nothing changed.
 */
static void
test_bad_messages(void **state)
{
	struct fixture *f = fixture_new();
	pid_t pid = started_app(f);

	other_client("org.lifeline.FakeSystemd", "EmitBad", "s", "app.service");
	expect_quiet(f, QUIET_MS);
	assert_int_equal(sdunit_state(f->u), SDUNIT_ACTIVE);
	assert_int_equal(sdunit_main_pid(f->u), pid);
	assert_int_equal(sdunit_stop(f->u), 0);
	expect_own(f, SDUNIT_DEACTIVATING);
	expect_own(f, SDUNIT_INACTIVE);
	fixture_free(f);
}

/*
 * systemd dies mid-way: unknown, and a start fails with the bus's error
 * instead of hanging; its children die with it. It comes back: the unit
 * is read afresh and Lifeline's start works (subscribed again).
 */
static void
test_systemd_gone(void **state)
{
	struct fixture *f = fixture_new();
	pid_t pid = started_app(f);
	int status;

	assert_int_equal(kill(f->fb.fake_pid, SIGKILL), 0);
	assert_int_equal(waitpid(f->fb.fake_pid, &status, 0), f->fb.fake_pid);
	f->fb.fake_pid = 0;
	expect_why(f, SDUNIT_UNKNOWN, "systemd left the system bus");
	assert_int_equal(sdunit_main_pid(f->u), 0);
	assert_true(gone_within(pid, 2000));
	assert_true(sdbus_connected(f->b));

	assert_int_equal(sdunit_start(f->u), 0);
	expect_why(f, SDUNIT_FAILED,
	    "StartUnit failed: org.freedesktop.DBus.Error.ServiceUnknown");

	fakebus_start_fake(&f->fb, fake_units);
	assert_string_equal(expect(f, SDUNIT_INACTIVE),
	    "as found when systemd came back on the bus");
	assert_int_equal(sdunit_start(f->u), 0);
	expect_own(f, SDUNIT_ACTIVATING);
	expect_own(f, SDUNIT_ACTIVE);
	assert_true(sdunit_main_pid(f->u) > 0);
	fixture_free(f);
}

/* The bus itself goes: unknown, final; start and new watches refused. */
static void
test_bus_lost(void **state)
{
	struct fixture *f = fixture_new();
	char err[256];

	f->u = watch(f, "app.service");
	expect(f, SDUNIT_INACTIVE);
	/* SIGKILL: gone at once, no NameOwnerChanged for the fake first. */
	assert_int_equal(kill(f->fb.bus_pid, SIGKILL), 0);
	assert_int_equal(waitpid(f->fb.bus_pid, NULL, 0), f->fb.bus_pid);
	f->fb.bus_pid = 0;
	expect_why(f, SDUNIT_UNKNOWN, "the connection to the system bus was lost");
	assert_false(sdbus_connected(f->b));
	assert_int_equal(sdunit_start(f->u), -1);
	assert_null(sdunit_watch(f->b, "app.service", on_change, f, err,
	    sizeof(err)));
	assert_non_null(strstr(err, "no connection to the system bus"));
	expect_quiet(f, QUIET_MS);
	fixture_free(f);
}

/* A callback frees its unit, or closes the bus; the loop goes on. */
static void
test_free_in_callback(void **state)
{
	struct fixture *f = fixture_new();
	struct sdunit *other;

	f->free_in_cb = true;
	f->u = watch(f, "app.service");
	expect(f, SDUNIT_INACTIVE);
	assert_null(f->u);
	expect_quiet(f, QUIET_MS);

	/* Closed from a callback with another unit still watched. */
	f->free_in_cb = false;
	f->close_in_cb = true;
	other = watch(f, "exits.service");
	f->u = watch(f, "app.service");
	expect(f, SDUNIT_INACTIVE);
	assert_null(f->b);
	expect_quiet(f, QUIET_MS);
	assert_int_equal(sdunit_start(f->u), -1);
	assert_int_equal(sdunit_stop(other), -1);
	sdunit_free(other);
	fixture_free(f);
}

/* No bus at the address: a clear error, nothing left behind. */
static void
test_open_fails(void **state)
{
	struct event_base *base = event_base_new();
	char *dir = tmpdir(), *addr = xasprintf("unix:path=%s/none", dir);
	char *old = xstrdup(getenv("DBUS_SYSTEM_BUS_ADDRESS") != NULL ?
	    getenv("DBUS_SYSTEM_BUS_ADDRESS") : "");
	char err[256];

	log_init(LOG_TO_STDERR, 0, "test_sdunit");
	setenv("DBUS_SYSTEM_BUS_ADDRESS", addr, 1);
	assert_null(sdbus_open(base, err, sizeof(err)));
	if (strstr(err, addr) == NULL)
		fail_msg("error \"%s\" does not name %s", err, addr);
	setenv("DBUS_SYSTEM_BUS_ADDRESS", old, 1);
	sdbus_close(NULL);
	sdunit_free(NULL);
	event_base_free(base);
	rm_rf(dir);
	free(dir);
	free(addr);
	free(old);
}

/* Every row of the decision, without a bus. */
static void
test_explain(void **state)
{
#define I	SDUNIT_INACTIVE
#define AG	SDUNIT_ACTIVATING
#define A	SDUNIT_ACTIVE
#define DG	SDUNIT_DEACTIVATING
#define F	SDUNIT_FAILED
#define NONE	SDUNIT_OWN_NONE
#define START	SDUNIT_OWN_START
#define STOP	SDUNIT_OWN_STOP
	static const struct {
		struct sdunit_change	 c;
		const char		*why;	/* NULL: Lifeline's own */
	} rows[] = {
		/* Failures, whoever asked for what. */
		{ { A, F, START, true, false, "signal", CLD_KILLED, SIGKILL },
		    "its main process was killed by signal KILL" },
		{ { A, F, NONE, false, false, "exit-code", CLD_EXITED, 3 },
		    "its main process exited with status 3" },
		{ { A, F, NONE, false, false, "core-dump", CLD_DUMPED, SIGSEGV },
		    "its main process was killed by signal SEGV and dumped core" },
		{ { A, F, NONE, false, false, "signal", CLD_KILLED, 99 },
		    "its main process was killed by signal 99" },
		{ { AG, F, START, true, false, "start-limit-hit", 0, 0 },
		    "failed: start-limit-hit" },
		{ { AG, F, NONE, false, false, "exit-code", 0, 0 },
		    "failed: exit-code" },	/* ExecStartPre=, no main process */
		/* A stop that timed out: systemd's word, not its SIGKILL. */
		{ { DG, F, STOP, true, false, "timeout", CLD_KILLED, SIGKILL },
		    "failed: timeout" },
		{ { A, F, NONE, false, false, "", 0, 0 },
		    "failed (systemd gave no reason)" },
		/* Lifeline's own start and stop. */
		{ { I, AG, START, false, false, "success", 0, 0 }, NULL },
		{ { AG, A, START, false, false, "success", 0, 0 }, NULL },
		{ { I, A, START, true, false, "success", 0, 0 }, NULL },
		{ { A, DG, STOP, false, false, "success", 0, 0 }, NULL },
		{ { DG, I, STOP, false, false, "success", CLD_KILLED, SIGTERM }, NULL },
		/* Its job drives the unit whichever way: still its own. */
		{ { DG, I, START, true, false, "success", CLD_KILLED, SIGTERM }, NULL },
		/* A stop while Lifeline's start is on its way is not its own. */
		{ { A, DG, START, false, true, "success", 0, 0 },
		    "stopped through systemd by another client (a stop job "
		    "Lifeline did not start, e.g. systemctl stop)" },
		{ { DG, I, NONE, false, true, "success", CLD_KILLED, SIGTERM },
		    "stopped through systemd by another client (a stop job "
		    "Lifeline did not start, e.g. systemctl stop)" },
		/* Stops nobody asked for, as far as the jobs tell. */
		{ { A, I, NONE, false, false, "success", CLD_EXITED, 0 },
		    "its main process exited with status 0" },
		{ { A, I, NONE, false, false, "success", CLD_KILLED, SIGTERM },
		    "its main process was killed by signal TERM" },
		{ { A, DG, NONE, false, false, "watchdog", 0, 0 },
		    "failed: watchdog" },
		{ { A, DG, NONE, false, false, "success", 0, 0 },
		    "stopped by systemd without a job from Lifeline" },
		/* Starts. */
		{ { I, AG, NONE, false, true, "success", 0, 0 },
		    "started through systemd by another client (a start job "
		    "Lifeline did not start, e.g. systemctl start)" },
		{ { A, AG, NONE, false, false, "exit-code", CLD_EXITED, 1 },
		    "its main process exited with status 1; systemd is starting "
		    "it again (Restart=)" },
		{ { I, AG, NONE, false, false, "success", 0, 0 },
		    "started by systemd without a job from Lifeline (e.g. "
		    "Restart=, a dependency, a socket or a timer)" },
		{ { I, AG, STOP, false, false, "success", 0, 0 },
		    "started by systemd without a job from Lifeline (e.g. "
		    "Restart=, a dependency, a socket or a timer)" },
	};
#undef I
#undef AG
#undef A
#undef DG
#undef F
#undef NONE
#undef START
#undef STOP
	char buf[320];

	for (size_t i = 0; i < nitems(rows); i++) {
		const char *why = sdunit_explain(&rows[i].c, buf, sizeof(buf));

		if (rows[i].why == NULL && why == NULL)
			continue;
		if (rows[i].why == NULL || why == NULL ||
		    strcmp(why, rows[i].why) != 0)
			fail_msg("row %zu: \"%s\", expected \"%s\"", i,
			    why != NULL ? why : "NULL",
			    rows[i].why != NULL ? rows[i].why : "NULL");
	}
}

static void
test_state_names(void **state)
{
	assert_string_equal(sdunit_state_name(SDUNIT_INACTIVE), "inactive");
	assert_string_equal(sdunit_state_name(SDUNIT_DEACTIVATING), "deactivating");
	assert_string_equal(sdunit_state_name(SDUNIT_UNKNOWN), "unknown");
	assert_string_equal(sdunit_state_name((enum sdunit_state)42), "unknown");
	/* No systemd as PID 1 here unless /run/systemd/system says so. */
	assert_int_equal(sdunit_systemd_runs(),
	    access("/run/systemd/system", F_OK) == 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_state_names),
		cmocka_unit_test(test_explain),
		cmocka_unit_test(test_open_fails),
		cmocka_unit_test_teardown(test_first_state, cleanup),
		cmocka_unit_test_teardown(test_start_stop, cleanup),
		cmocka_unit_test_teardown(test_killed, cleanup),
		cmocka_unit_test_teardown(test_exit_status, cleanup),
		cmocka_unit_test_teardown(test_other_client, cleanup),
		cmocka_unit_test_teardown(test_bad_names, cleanup),
		cmocka_unit_test_teardown(test_bad_messages, cleanup),
		cmocka_unit_test_teardown(test_systemd_gone, cleanup),
		cmocka_unit_test_teardown(test_bus_lost, cleanup),
		cmocka_unit_test_teardown(test_free_in_callback, cleanup),
	};

	signal(SIGPIPE, SIG_IGN);
	dbus_daemon = fakebus_dbus_daemon();
	if (dbus_daemon == NULL)
		fprintf(stderr, "test_sdunit: no dbus-daemon in PATH, the bus "
		    "cases are skipped\n");
	return cmocka_run_group_tests(tests, NULL, NULL);
}

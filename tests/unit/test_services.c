/*
 * Unit tests of engine/services with real processes under a real event
 * loop: start in its own process group with its output in STATE_DIR/log,
 * stop by signal or by command with SIGKILL at stop_timeout, the action
 * list on a death (restart, then log), asynchronous stops, adoption of a
 * process that is not our child, and reconcile after a new configuration.
 * Every process is the test's own, killed by PID; every wait is bounded.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <event2/event.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/config.h"
#include "common/log.h"
#include "common/util.h"
#include "engine/engine.h"
#include "engine/services.h"
#include "engine/sdunit.h"
#include "helpers/fakebus.h"
#include "helpers/procs.h"
#include "helpers/tmpdir.h"

static const char conf_head[] =
    "[cluster]\n"
    "name = demo\n"
    "mode = ha\n"
    "state_dir = %s\n"
    "[node primary]\n"
    "channel = 203.0.113.1/30\n"
    "public = eth0 192.0.2.10/24\n"
    "management = 198.51.100.11/24\n"
    "[node secondary]\n"
    "channel = 203.0.113.2/30\n"
    "public = eth0 192.0.2.10/24\n"
    "management = 198.51.100.12/24\n"
    "[protect]\n"
    "data = /var/lib/app\n";

struct fixture {
	char           *dir;
	struct engine   e;
	struct services *s;
	struct fakebus  fb;           /* systemd units: a private bus and fake-systemd */
	struct sdbus   *bus;
	struct event   *tick;         /* keeps the loop turning for the bus */
};

/* The configuration: conf_head, then tail ([protect] service lines and sections). */
static struct config *
conf_of(struct fixture *f, const char *tail)
{
	char *head = xasprintf(conf_head, f->dir), *text = xasprintf("%s%s", head, tail);
	char err[512];
	struct config *conf = config_parse_string(text, "test.conf", err, sizeof(err));

	if (conf == NULL)
		fail_msg("test configuration refused: %s", err);
	free(head);
	free(text);
	return conf;
}

/* The case's fixture, freed by cleanup() when a failed case left it behind. */
static struct fixture *current;

static struct fixture *
fixture_new(const char *tail)
{
	struct fixture *f = xcalloc(1, sizeof(*f));

	log_init(LOG_TO_STDERR, 0, "test_services");
	f->dir = tmpdir();
	f->e.base = event_base_new();
	f->e.conf = conf_of(f, tail);
	f->e.role = ROLE_ACTIVE;
	f->s = services_new(&f->e, NULL);
	current = f;
	return f;
}

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
}

/* The units fake-systemd serves for the unit cases. */
static char *const fake_units[] = { "app.service=sleep 1000", NULL };

/*
 * A fixture whose services may be systemd units, on a private bus with
 * fake-systemd; role: whether the node is active.
 */
static struct fixture *
fixture_new_bus(const char *tail, enum role role)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	struct timeval slice = { 0, 10 * 1000 };
	char *daemon = fakebus_dbus_daemon(), err[256];

	if (daemon == NULL) {
		free(f);
		skip();
	}
	log_init(LOG_TO_STDERR, 0, "test_services");
	current = f;
	f->dir = tmpdir();
	fakebus_start_bus(&f->fb, daemon, f->dir);
	fakebus_start_fake(&f->fb, fake_units);
	free(daemon);
	f->e.base = event_base_new();
	f->tick = event_new(f->e.base, -1, EV_PERSIST, on_tick, NULL);
	event_add(f->tick, &slice);
	if ((f->bus = sdbus_open(f->e.base, err, sizeof(err))) == NULL)
		fail_msg("sdbus_open: %s", err);
	f->e.conf = conf_of(f, tail);
	f->e.role = role;
	f->s = services_new(&f->e, f->bus);
	return f;
}

static void
fixture_free(struct fixture *f)
{
	services_stop_all(f->s);      /* nothing of ours left running */
	services_free(f->s);
	sdbus_close(f->bus);
	fakebus_stop(&f->fb);
	if (f->tick != NULL)
		event_free(f->tick);
	config_free(f->e.conf);
	event_base_free(f->e.base);
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

/* The status entry of service name. */
static json_t *
entry(struct fixture *f, const char *name, json_t **all)
{
	json_t *v;
	size_t i;

	*all = services_json(f->s);
	json_array_foreach(*all, i, v)
		if (strcmp(json_string_value(json_object_get(v, "name")), name) == 0)
			return v;
	fail_msg("no service %s in the status", name);
	return NULL;
}

static char *
state_of(struct fixture *f, const char *name)
{
	static char buf[32];
	json_t *all, *v = entry(f, name, &all);

	snprintf(buf, sizeof(buf), "%s", json_string_value(json_object_get(v, "state")));
	json_decref(all);
	return buf;
}

/* The pid status shows, or 0 for null. */
static pid_t
pid_of(struct fixture *f, const char *name)
{
	json_t *all, *v = entry(f, name, &all);
	pid_t pid = (pid_t)json_integer_value(json_object_get(v, "pid"));

	json_decref(all);
	return pid;
}

/* Run the loop in 10 ms slices until name is in state, or ms have passed. */
static bool
loop_until_state(struct fixture *f, const char *name, const char *state, int ms)
{
	struct timeval slice = { 0, 10 * 1000 };
	uint64_t deadline = now_mono_ms() + (uint64_t)ms;

	while (strcmp(state_of(f, name), state) != 0) {
		if (now_mono_ms() >= deadline)
			return false;
		event_base_loopexit(f->e.base, &slice);
		event_base_dispatch(f->e.base);
	}
	return true;
}

/* Run the loop in 10 ms slices until pid is gone, or ms have passed. */
static bool
loop_until_gone(struct fixture *f, pid_t pid, int ms)
{
	struct timeval slice = { 0, 10 * 1000 };
	uint64_t deadline = now_mono_ms() + (uint64_t)ms;

	while (proc_alive(pid)) {
		if (now_mono_ms() >= deadline)
			return false;
		event_base_loopexit(f->e.base, &slice);
		event_base_dispatch(f->e.base);
	}
	return true;
}

/* Run the loop in 10 ms slices until *count reaches want, or ms have passed. */
static bool
loop_until_count(struct fixture *f, const int *count, int want, int ms)
{
	struct timeval slice = { 0, 10 * 1000 };
	uint64_t deadline = now_mono_ms() + (uint64_t)ms;

	while (*count < want) {
		if (now_mono_ms() >= deadline)
			return false;
		event_base_loopexit(f->e.base, &slice);
		event_base_dispatch(f->e.base);
	}
	return true;
}

/* Up to ms for pid to be gone. */
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
test_new_states(void **state)
{
	struct fixture *f = fixture_new(
	    "service = app, web\n"
	    "[service app]\nstart = sleep 30\n");
	json_t *pids = services_running_pids(f->s);

	assert_string_equal(state_of(f, "app"), "stopped");
	assert_int_equal(pid_of(f, "app"), 0);
	/* No [service web] section: a systemd unit, not supervised here. */
	assert_string_equal(state_of(f, "web"), "unmanaged");
	assert_int_equal(json_object_size(pids), 0);
	json_decref(pids);
	fixture_free(f);
}

/*
 * A started service leads its own process group, its output goes to
 * STATE_DIR/log/NAME.log, its pid is reported for a later engine to adopt;
 * a second start does not start a second copy.
 */
static void
test_start_and_stop(void **state)
{
	struct fixture *f = fixture_new(
	    "service = app, web\n"
	    "[service app]\nstart = sh -c 'echo app says hello; exec sleep 30'\n");
	char *log = xasprintf("%s/log/app.log", f->dir), *text = NULL;
	json_t *pids;
	size_t len;
	pid_t pid;

	services_start_all(f->s);
	assert_string_equal(state_of(f, "app"), "running");
	assert_string_equal(state_of(f, "web"), "unmanaged");
	pid = pid_of(f, "app");
	assert_true(pid > 0);
	assert_true(proc_alive(pid));
	assert_int_equal(getpgid(pid), pid);
	pids = services_running_pids(f->s);
	assert_int_equal(json_object_size(pids), 1);
	assert_int_equal(json_integer_value(json_object_get(pids, "app")), pid);
	json_decref(pids);

	services_start_all(f->s);
	assert_int_equal(pid_of(f, "app"), pid);

	for (int i = 0; i < 100; i++) {
		free(text);
		text = read_file(log, 4096, &len);
		if (text != NULL && strstr(text, "app says hello\n") != NULL)
			break;
		usleep(10 * 1000);
	}
	assert_non_null(text);
	assert_string_equal(text, "app says hello\n");

	services_stop_all(f->s);
	assert_string_equal(state_of(f, "app"), "stopped");
	assert_int_equal(pid_of(f, "app"), 0);
	assert_false(proc_alive(pid));
	free(text);
	free(log);
	fixture_free(f);
}

/* A service that ignores its stop signal is killed at stop_timeout, not waited for forever. */
static void
test_stop_timeout_kills(void **state)
{
	struct fixture *f = fixture_new(
	    "service = stubborn\n"
	    "[service stubborn]\n"
	    "start = sh -c 'trap \"\" TERM; while :; do sleep 0.05; done'\n"
	    "stop_timeout = 300ms\n");
	uint64_t t0, took;
	pid_t pid;

	services_start_all(f->s);
	pid = pid_of(f, "stubborn");
	usleep(100 * 1000);          /* let the shell set its trap */
	t0 = now_mono_ms();
	services_stop_all(f->s);
	took = now_mono_ms() - t0;
	assert_false(proc_alive(pid));
	assert_string_equal(state_of(f, "stubborn"), "stopped");
	if (took < 290 || took > 3000)
		fail_msg("stopped after %llu ms, expected a kill at about 300",
		    (unsigned long long)took);
	fixture_free(f);
}

/* stop = exec COMMAND: the command is run, and the service ends by it. */
static void
test_stop_by_command(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	char *tail;
	uint64_t t0;
	pid_t pid;

	log_init(LOG_TO_STDERR, 0, "test_services");
	f->dir = tmpdir();
	tail = xasprintf("service = polite\n"
	    "[service polite]\n"
	    "start = sh -c 'while [ ! -e %s/stop-now ]; do sleep 0.02; done'\n"
	    "stop = exec touch %s/stop-now\n"
	    "stop_timeout = 5s\n", f->dir, f->dir);
	f->e.base = event_base_new();
	f->e.conf = conf_of(f, tail);
	f->e.role = ROLE_ACTIVE;
	f->s = services_new(&f->e, NULL);
	current = f;
	free(tail);

	services_start_all(f->s);
	pid = pid_of(f, "polite");
	t0 = now_mono_ms();
	services_stop_all(f->s);
	assert_false(proc_alive(pid));
	/* Well before its 5 s timeout: it ended by the command, not by SIGKILL. */
	assert_true(now_mono_ms() - t0 < 3000);
	assert_string_equal(state_of(f, "polite"), "stopped");
	fixture_free(f);
}

/*
 * A death follows the action list: the first is restarted (a new pid, after
 * a short delay), the second is logged and left stopped.
 */
static void
test_actions_on_death(void **state)
{
	struct fixture *f = fixture_new(
	    "service = flaky\n"
	    "[service flaky]\nstart = sleep 30\nactions = restart, log\nwindow = 1h\n");
	pid_t first, second;

	services_start_all(f->s);
	first = pid_of(f, "flaky");
	assert_int_equal(kill(first, SIGKILL), 0);
	assert_true(loop_until_state(f, "flaky", "restarting", 2000));
	assert_int_equal(pid_of(f, "flaky"), 0);
	assert_true(loop_until_state(f, "flaky", "running", 3000));
	second = pid_of(f, "flaky");
	assert_true(second > 0);
	assert_int_not_equal(second, first);

	assert_int_equal(kill(second, SIGKILL), 0);
	assert_true(loop_until_state(f, "flaky", "failed", 2000));
	/* Left stopped: still failed a second later, nothing started. */
	assert_false(loop_until_state(f, "flaky", "running", 1000));
	assert_int_equal(pid_of(f, "flaky"), 0);
	fixture_free(f);
}

/* The last action repeats once the list is used up. */
static void
test_last_action_repeats(void **state)
{
	struct fixture *f = fixture_new(
	    "service = flaky\n"
	    "[service flaky]\nstart = sleep 30\nactions = restart\n");

	services_start_all(f->s);
	for (int i = 0; i < 3; i++) {
		pid_t pid = pid_of(f, "flaky");

		assert_true(pid > 0);
		assert_int_equal(kill(pid, SIGKILL), 0);
		assert_true(loop_until_state(f, "flaky", "restarting", 2000));
		assert_true(loop_until_state(f, "flaky", "running", 3000));
	}
	fixture_free(f);
}

/*
 * A plug-in check that crashes disables itself for the service, with an
 * event, and the service is checked by its process instead: it comes up.
 */
static void
test_broken_plugin_check(void **state)
{
	struct fixture *f = fixture_new(
	    "service = app\n[service app]\nstart = sleep 30\n"
	    "check = plugin testplug crash\ncheck_interval = 500ms\ncheck_timeout = 400ms\n");
	const char *bin = getenv("LIFELINE_BIN");
	char *dir, *src, *dst, *runner;

	if (bin == NULL)
		skip();
	dir = xasprintf("%s/plugins", f->dir);
	assert_int_equal(mkdir(dir, 0700), 0);
	src = xasprintf("%s/../plugins/testplug-good.so", bin);
	dst = xasprintf("%s/testplug.so", dir);
	assert_int_equal(symlink(src, dst), 0);
	runner = xasprintf("%s/lifeline-plugin", bin);
	setenv("LIFELINE_PLUGIN_RUNNER", runner, 1);

	services_start_all(f->s);
	assert_string_equal(state_of(f, "app"), "starting");
	assert_true(loop_until_state(f, "app", "running", 3000));
	assert_int_equal(pid_of(f, "app") > 0, 1);
	unsetenv("LIFELINE_PLUGIN_RUNNER");
	free(runner);
	free(src);
	free(dst);
	free(dir);
	fixture_free(f);
}

static int done_calls;


static void
on_done(void *arg)
{
	done_calls++;
	assert_ptr_equal(arg, &done_calls);
}

/* The last_failure status shows for name ("" when none). */
static char *
last_failure_of(struct fixture *f, const char *name)
{
	static char buf[512];
	json_t *all, *v = entry(f, name, &all);
	const char *lf = json_string_value(json_object_get(v, "last_failure"));

	snprintf(buf, sizeof(buf), "%s", lf != NULL ? lf : "");
	json_decref(all);
	return buf;
}

/* A listening socket on 127.0.0.1 (port 0: any); its port in *port. */
static int
listen_on(uint16_t want, uint16_t *port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(want) };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(fd, 16), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	*port = ntohs(sin.sin_port);
	return fd;
}

/* A port on 127.0.0.1 where nothing listens now. */
static uint16_t
free_port(void)
{
	uint16_t port;

	close(listen_on(0, &port));
	return port;
}

/*
 * A tcp check: the service is starting until the check first passes (the
 * port listens), then running; when the port stops answering, the check
 * fails and the action restarts it (a new process, starting again).
 */
static void
test_tcp_check_start_and_failure(void **state)
{
	uint16_t port = free_port();
	char *tail = xasprintf("service = db\n[service db]\nstart = sleep 30\n"
	    "check = tcp 127.0.0.1:%u\ncheck_interval = 200ms\ncheck_timeout = 100ms\n"
	    "actions = restart\n", port);
	struct fixture *f = fixture_new(tail);
	pid_t first;
	int fd;

	services_start_all(f->s);
	assert_string_equal(state_of(f, "db"), "starting");
	first = pid_of(f, "db");
	assert_true(first > 0);
	/* Refused for a while: still starting (start_timeout is 60 s). */
	assert_false(loop_until_state(f, "db", "running", 600));
	assert_string_equal(state_of(f, "db"), "starting");
	assert_string_equal(last_failure_of(f, "db"), "");

	fd = listen_on(port, &port);
	assert_true(loop_until_state(f, "db", "running", 2000));
	assert_int_equal(pid_of(f, "db"), first);

	close(fd);
	assert_true(loop_until_state(f, "db", "restarting", 2000));
	assert_non_null(strstr(last_failure_of(f, "db"), "its check failed (cannot connect to "
	    "127.0.0.1:"));
	assert_non_null(strstr(last_failure_of(f, "db"), "Connection refused"));
	assert_true(loop_until_state(f, "db", "starting", 3000));
	assert_int_not_equal(pid_of(f, "db"), first);
	assert_false(proc_alive(first));
	free(tail);
	fixture_free(f);
}

/* A check that never passes fails the start at start_timeout, with its reason. */
static void
test_start_timeout(void **state)
{
	struct fixture *f = fixture_new(
	    "service = db\n[service db]\nstart = sleep 30\n"
	    "check = exec echo not ready; exit 2\ncheck_interval = 200ms\n"
	    "check_timeout = 100ms\nstart_timeout = 500ms\nactions = log\n");

	services_start_all(f->s);
	assert_false(loop_until_state(f, "db", "running", 300));
	assert_string_equal(last_failure_of(f, "db"), "");
	for (int i = 0; i < 300 && last_failure_of(f, "db")[0] == '\0'; i++)
		loop_until_state(f, "db", "running", 10);
	assert_string_equal(last_failure_of(f, "db"), "its check did not pass within "
	    "start_timeout 500ms (check \"echo not ready; exit 2\" exited with status 2: "
	    "not ready)");
	/* Action log: left as it is, still watched. */
	assert_true(pid_of(f, "db") > 0);
	fixture_free(f);
}

/*
 * Stopped behind the engine's back (SIGTERM from another process): the
 * failure says so, and the action list starts it again.
 */
static void
test_stopped_behind_back(void **state)
{
	struct fixture *f = fixture_new(
	    "service = app\n[service app]\nstart = sleep 30\nactions = restart\n");
	pid_t first;

	services_start_all(f->s);
	first = pid_of(f, "app");
	assert_int_equal(kill(first, SIGTERM), 0);
	assert_true(loop_until_state(f, "app", "restarting", 2000));
	assert_true(loop_until_state(f, "app", "running", 3000));
	assert_int_not_equal(pid_of(f, "app"), first);
	assert_non_null(strstr(last_failure_of(f, "app"), "was stopped behind Lifeline's back "
	    "by signal TERM"));

	/* A crash is told apart. */
	assert_int_equal(kill(pid_of(f, "app"), SIGSEGV), 0);
	assert_true(loop_until_state(f, "app", "restarting", 2000));
	assert_non_null(strstr(last_failure_of(f, "app"), "crashed with signal SEGV"));
	fixture_free(f);
}

/* The test plug-in installed in f's plugins folder with settings (JSON text). */
static void
install_testplug(struct fixture *f, const char *settings)
{
	const char *bin = getenv("LIFELINE_BIN");
	char *dir = xasprintf("%s/plugins", f->dir), *src, *dst, *set, *runner;

	if (bin == NULL)
		skip();
	assert_int_equal(mkdir_p(dir, 0700), 0);
	src = xasprintf("%s/../plugins/testplug-good.so", bin);
	dst = xasprintf("%s/testplug.so", dir);
	set = xasprintf("%s/testplug.json", dir);
	assert_int_equal(symlink(src, dst), 0);
	assert_int_equal(write_file_atomic(set, settings, strlen(settings), 0600), 0);
	runner = xasprintf("%s/lifeline-plugin", bin);
	setenv("LIFELINE_PLUGIN_RUNNER", runner, 1);
	free(runner);
	free(set);
	free(dst);
	free(src);
	free(dir);
}

/* Whether the marks file names the hook yet. */
static bool
marked(const char *marks, const char *hook)
{
	size_t len;
	char *text = read_file(marks, 4096, &len);
	bool yes = text != NULL && strstr(text, hook) != NULL;

	free(text);
	return yes;
}

/*
 * A service checked by a plug-in gets its hooks: pre-start before the
 * start, post-start once up, pre-stop before the stop, post-stop once
 * down, in that order.
 */
static void
test_plugin_hooks(void **state)
{
	struct fixture *f = fixture_new("service = app\n[service app]\nstart = sleep 30\n"
	    "check = plugin testplug ok\ncheck_interval = 500ms\ncheck_timeout = 400ms\n");
	char *marks = xasprintf("%s/marks", f->dir), *settings, *text = NULL;
	size_t len;

	settings = xasprintf("{\"mark_file\": \"%s\"}", marks);
	install_testplug(f, settings);
	services_start_all(f->s);
	assert_true(loop_until_state(f, "app", "running", 5000));
	/* post-start and post-stop run without being waited for: each awaited here. */
	for (int i = 0; i < 1000 && !marked(marks, "post-start"); i++)
		loop_until_state(f, "app", "stopped", 10);
	done_calls = 0;
	services_stop_async(f->s, on_done, &done_calls);
	assert_true(loop_until_state(f, "app", "stopped", 5000));
	for (int i = 0; i < 1000 && !marked(marks, "post-stop"); i++)
		loop_until_state(f, "app", "running", 10);
	text = read_file(marks, 4096, &len);
	assert_non_null(text);
	assert_string_equal(text, "pre-start\npost-start\npre-stop\npost-stop\n");
	unsetenv("LIFELINE_PLUGIN_RUNNER");
	free(text);
	free(settings);
	free(marks);
	fixture_free(f);
}

/* A pre-start hook that refuses is a failure of the service: not started. */
static void
test_pre_start_refuses(void **state)
{
	struct fixture *f = fixture_new("service = app\n[service app]\nstart = sleep 30\n"
	    "check = plugin testplug ok\nactions = log\n");

	install_testplug(f, "{\"prestart\": \"fail\"}");
	services_start_all(f->s);
	assert_string_equal(state_of(f, "app"), "starting");
	assert_true(loop_until_state(f, "app", "failed", 5000));
	assert_string_equal(last_failure_of(f, "app"), "its plug-in's pre-start hook failed "
	    "(plug-in testplug hook pre-start: not ready to start)");
	assert_int_equal(pid_of(f, "app"), 0);
	unsetenv("LIFELINE_PLUGIN_RUNNER");
	fixture_free(f);
}

/*
 * A protected name without a section is the systemd unit of that name:
 * started and stopped through systemd, up at once with the pid check,
 * its MainPID in the status.
 */
static void
test_unit_start_stop(void **state)
{
	struct fixture *f = fixture_new_bus("service = app.service\n", ROLE_ACTIVE);
	pid_t pid;

	assert_false(loop_until_state(f, "app.service", "running", 300));
	services_start_all(f->s);
	assert_true(loop_until_state(f, "app.service", "running", 5000));
	pid = pid_of(f, "app.service");
	assert_true(pid > 0);
	assert_true(proc_alive(pid));

	done_calls = 0;
	services_stop_async(f->s, on_done, &done_calls);
	assert_true(loop_until_state(f, "app.service", "stopped", 5000));
	assert_int_equal(done_calls, 1);
	assert_true(gone_within(pid, 2000));
	fixture_free(f);
}

/*
 * A unit whose process is killed behind the engine's back: a failure with
 * systemd's account of it, then restarted by the action list.
 */
static void
test_unit_killed(void **state)
{
	struct fixture *f = fixture_new_bus("service = app\n[service app]\nunit = app.service\n"
	    "actions = restart\n", ROLE_ACTIVE);
	pid_t first;

	services_start_all(f->s);
	assert_true(loop_until_state(f, "app", "running", 5000));
	first = pid_of(f, "app");
	assert_int_equal(kill(first, SIGKILL), 0);
	assert_true(loop_until_state(f, "app", "restarting", 5000));
	assert_string_equal(last_failure_of(f, "app"), "its unit app.service is failed: its "
	    "main process was killed by signal KILL");
	assert_true(loop_until_state(f, "app", "running", 5000));
	assert_int_not_equal(pid_of(f, "app"), first);
	fixture_free(f);
}

static void
on_other_change(void *arg, enum sdunit_state state, const char *why)
{
}

/* A unit found running on a node that is not active is stopped there. */
static void
test_unit_running_on_passive(void **state)
{
	struct fixture *f = fixture_new_bus("service = app.service\n", ROLE_PASSIVE);
	struct sdunit *other;
	char err[256];
	uint64_t deadline = now_mono_ms() + 5000;
	pid_t pid;

	/* Someone else starts it, as a package's boot-time start would. */
	services_free(f->s);
	f->s = NULL;
	other = sdunit_watch(f->bus, "app.service", on_other_change, NULL, err, sizeof(err));
	assert_non_null(other);
	sdunit_start(other);
	while (sdunit_state(other) != SDUNIT_ACTIVE && now_mono_ms() < deadline)
		event_base_loop(f->e.base, EVLOOP_ONCE);
	assert_int_equal(sdunit_state(other), SDUNIT_ACTIVE);
	pid = sdunit_main_pid(other);
	assert_true(pid > 0);

	f->s = services_new(&f->e, f->bus);
	deadline = now_mono_ms() + 5000;
	while (sdunit_state(other) != SDUNIT_INACTIVE && now_mono_ms() < deadline)
		event_base_loop(f->e.base, EVLOOP_ONCE);
	assert_int_equal(sdunit_state(other), SDUNIT_INACTIVE);
	assert_true(gone_within(pid, 2000));
	assert_string_equal(state_of(f, "app.service"), "stopped");
	sdunit_free(other);
	fixture_free(f);
}

static int switchover_calls, switchover_answer;
static char switchover_why[512];

static int
fake_switchover(struct engine *e, const char *why, char *err, size_t errlen)
{
	switchover_calls++;
	snprintf(switchover_why, sizeof(switchover_why), "%s", why);
	if (switchover_answer < 0)
		snprintf(err, errlen, "no stand-by is in sync");
	return switchover_answer;
}

/*
 * The switchover action asks the engine; when that is refused, the service
 * is restarted here instead.
 */
static void
test_switchover_action(void **state)
{
	struct fixture *f = fixture_new(
	    "service = app\n[service app]\nstart = sleep 30\nactions = switchover\n");
	pid_t first;

	services_on_switchover(f->s, fake_switchover);
	switchover_calls = 0;
	switchover_answer = 0;
	services_start_all(f->s);
	first = pid_of(f, "app");
	assert_int_equal(kill(first, SIGKILL), 0);
	assert_true(loop_until_state(f, "app", "failed", 2000));
	assert_int_equal(switchover_calls, 1);
	assert_non_null(strstr(switchover_why, "app failed: its process"));
	assert_non_null(strstr(switchover_why, "failure 1 within 10m"));
	/* The engine switches over: nothing restarts it here. */
	assert_false(loop_until_state(f, "app", "running", 1000));

	switchover_answer = -1;
	services_start_all(f->s);
	first = pid_of(f, "app");
	assert_true(first > 0);
	assert_int_equal(kill(first, SIGKILL), 0);
	assert_true(loop_until_state(f, "app", "restarting", 2000));
	assert_int_equal(switchover_calls, 2);
	assert_true(loop_until_state(f, "app", "running", 3000));
	assert_int_not_equal(pid_of(f, "app"), first);
	fixture_free(f);
}

/*
 * after: web waits until db is up (its tcp check passes), then starts; a
 * stop takes web down before db is sent its stop.
 */
static void
test_dependencies(void **state)
{
	uint16_t port = free_port();
	char *tail = xasprintf("service = web, db\n"
	    "[service web]\nstart = sleep 30\nafter = db\n"
	    "[service db]\nstart = sleep 30\ncheck = tcp 127.0.0.1:%u\n"
	    "check_interval = 200ms\ncheck_timeout = 100ms\nstop = signal USR1\n", port);
	struct fixture *f = fixture_new(tail);
	pid_t web, db;
	int fd;

	services_start_all(f->s);
	assert_string_equal(state_of(f, "db"), "starting");
	assert_string_equal(state_of(f, "web"), "waiting");
	assert_false(loop_until_state(f, "web", "running", 500));
	assert_int_equal(pid_of(f, "web"), 0);

	fd = listen_on(port, &port);
	assert_true(loop_until_state(f, "web", "running", 2000));
	assert_string_equal(state_of(f, "db"), "running");
	web = pid_of(f, "web");
	db = pid_of(f, "db");

	/* web is told first; db only once web is gone. */
	done_calls = 0;
	services_stop_async(f->s, on_done, &done_calls);
	assert_string_equal(state_of(f, "web"), "stopping");
	assert_string_equal(state_of(f, "db"), "running");
	assert_true(loop_until_gone(f, web, 2000));
	assert_true(loop_until_gone(f, db, 2000));
	/* done is reported by the same pass or the next poll. */
	assert_true(loop_until_count(f, &done_calls, 1, 500));
	assert_int_equal(done_calls, 1);
	assert_string_equal(state_of(f, "db"), "stopped");
	close(fd);
	free(tail);
	fixture_free(f);
}


/* Nothing running: done at once. */
static void
test_stop_async_none(void **state)
{
	struct fixture *f = fixture_new(
	    "service = app\n[service app]\nstart = sleep 30\n");

	done_calls = 0;
	services_stop_async(f->s, on_done, &done_calls);
	assert_int_equal(done_calls, 1);
	fixture_free(f);
}

/*
 * Asynchronous stop: it returns at once with the services still stopping;
 * the loop reports done once, when all are down, a stubborn one after its
 * SIGKILL at stop_timeout.
 */
static void
test_stop_async(void **state)
{
	struct fixture *f = fixture_new(
	    "service = app, stubborn\n"
	    "[service app]\nstart = sleep 30\n"
	    "[service stubborn]\n"
	    "start = sh -c 'trap \"\" TERM; while :; do sleep 0.05; done'\n"
	    "stop_timeout = 300ms\n");
	pid_t app, stubborn;
	uint64_t t0;

	services_start_all(f->s);
	app = pid_of(f, "app");
	stubborn = pid_of(f, "stubborn");
	usleep(100 * 1000);
	done_calls = 0;
	t0 = now_mono_ms();
	services_stop_async(f->s, on_done, &done_calls);
	assert_int_equal(done_calls, 0);
	assert_true(now_mono_ms() - t0 < 200);
	assert_string_equal(state_of(f, "stubborn"), "stopping");
	assert_true(loop_until_state(f, "app", "stopped", 2000));
	assert_true(loop_until_state(f, "stubborn", "stopped", 3000));
	/* done is reported by the same pass or the next poll. */
	assert_true(loop_until_count(f, &done_calls, 1, 200));
	assert_int_equal(done_calls, 1);
	assert_true(now_mono_ms() - t0 >= 290);
	assert_true(gone_within(app, 1000));
	assert_true(gone_within(stubborn, 1000));
	fixture_free(f);
}

/*
 * A process that is not our child, as a stopped engine left it: a
 * grandchild, leading its own process group as a started service does.
 */
static pid_t
orphan_sleep(void)
{
	int fds[2];
	pid_t child, grandchild = -1;

	assert_int_equal(pipe(fds), 0);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		pid_t g = fork();

		if (g == 0) {
			setpgid(0, 0);
			close(fds[0]);
			close(fds[1]);
			execlp("sleep", "sleep", "30", (char *)NULL);
			_exit(127);
		}
		(void)!write(fds[1], &g, sizeof(g));
		_exit(0);
	}
	close(fds[1]);
	assert_int_equal(read(fds[0], &grandchild, sizeof(grandchild)), sizeof(grandchild));
	close(fds[0]);
	assert_int_equal(waitpid(child, NULL, 0), child);
	return grandchild;
}

/*
 * Adoption: the process is watched through a pidfd; its death follows the
 * action list like a child's, and a stop ends it.
 */
static void
test_adopt(void **state)
{
	struct fixture *f = fixture_new(
	    "service = app\n[service app]\nstart = sleep 30\nactions = log\n");
	pid_t orphan = orphan_sleep(), other = orphan_sleep();

	assert_int_equal(services_adopt(f->s, "app", orphan), 0);
	assert_string_equal(state_of(f, "app"), "running");
	assert_int_equal(pid_of(f, "app"), orphan);
	assert_int_equal(kill(orphan, SIGKILL), 0);
	assert_true(loop_until_state(f, "app", "failed", 2000));
	assert_int_equal(pid_of(f, "app"), 0);

	/* Adopted again, then stopped: SIGTERM to its group, and done when it is gone. */
	assert_int_equal(services_adopt(f->s, "app", other), 0);
	done_calls = 0;
	services_stop_async(f->s, on_done, &done_calls);
	assert_true(loop_until_state(f, "app", "stopped", 3000));
	assert_int_equal(done_calls, 1);
	assert_false(proc_alive(other));
	fixture_free(f);
}

static void
test_adopt_refused(void **state)
{
	struct fixture *f = fixture_new(
	    "service = app\n[service app]\nstart = sleep 30\n");
	pid_t orphan = orphan_sleep(), dead = fork();

	assert_true(dead >= 0);
	if (dead == 0) {
		pause();
		_exit(0);
	}

	/* A name no longer protected is left alone: not adopted, not killed. */
	assert_int_equal(services_adopt(f->s, "gone", orphan), -1);
	assert_true(proc_alive(orphan));
	assert_string_equal(state_of(f, "app"), "stopped");
	/* A pid that no longer exists: our child, killed and reaped. */
	assert_int_equal(kill(dead, SIGKILL), 0);
	assert_int_equal(waitpid(dead, NULL, 0), dead);
	assert_int_equal(services_adopt(f->s, "app", dead), -1);
	assert_string_equal(state_of(f, "app"), "stopped");
	assert_int_equal(kill(orphan, SIGKILL), 0);
	fixture_free(f);
}

/*
 * A new configuration: a service no longer protected is stopped and
 * dropped, a new one is added and, on the active node, started.
 */
static void
test_reconcile(void **state)
{
	struct fixture *f = fixture_new(
	    "service = old, kept\n"
	    "[service old]\nstart = sleep 30\n"
	    "[service kept]\nstart = sleep 30\n");
	struct config *next, *prev;
	json_t *all;
	pid_t old, kept;

	services_start_all(f->s);
	old = pid_of(f, "old");
	kept = pid_of(f, "kept");
	next = conf_of(f, "service = kept, new\n"
	    "[service kept]\nstart = sleep 30\n"
	    "[service new]\nstart = sleep 30\n");
	prev = f->e.conf;
	f->e.conf = next;
	services_reconcile(f->s, prev);
	config_free(prev);

	all = services_json(f->s);
	assert_int_equal(json_array_size(all), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(all, 0), "name")), "kept");
	assert_string_equal(json_string_value(json_object_get(json_array_get(all, 1), "name")), "new");
	json_decref(all);
	assert_true(loop_until_gone(f, old, 5000));   /* stopped from the loop, not inside reconcile */
	assert_int_equal(pid_of(f, "kept"), kept);
	assert_string_equal(state_of(f, "new"), "running");
	fixture_free(f);
}

/*
 * A service dropped by a reload is stopped the way its section said (its
 * stop signal, its stop_timeout), not with the defaults, and without
 * waiting: the reload runs on the engine's loop, and every second it
 * blocked there would be a second without heartbeats.
 */
static void
test_reconcile_stops_with_old_method(void **state)
{
	struct fixture *f = fixture_new(
	    "service = old\n"
	    "[service old]\n"
	    "start = sh -c 'trap \"exit 0\" USR1; trap \"\" TERM; while :; do sleep 0.05; done'\n"
	    "stop = signal USR1\n"
	    "stop_timeout = 300ms\n");
	struct config *next, *prev;
	uint64_t t0, took;
	pid_t old;

	services_start_all(f->s);
	old = pid_of(f, "old");
	usleep(100 * 1000);          /* let the shell set its traps */
	next = conf_of(f, "service = other\n[service other]\nstart = sleep 30\n");
	prev = f->e.conf;
	f->e.conf = next;
	t0 = now_mono_ms();
	services_reconcile(f->s, prev);
	took = now_mono_ms() - t0;
	config_free(prev);
	if (took > 200)
		fail_msg("the reload blocked %llu ms stopping a service", (unsigned long long)took);
	/* USR1 ends it at once; SIGTERM (the default) is trapped and would take 10 s. */
	if (!loop_until_gone(f, old, 2000))
		fail_msg("the dropped service was not stopped with its own signal USR1");
	fixture_free(f);
}

/* On a passive node a reconcile adds the service but starts nothing. */
static void
test_reconcile_passive(void **state)
{
	struct fixture *f = fixture_new("service = a\n[service a]\nstart = sleep 30\n");
	struct config *next = conf_of(f, "service = a, b\n"
	    "[service a]\nstart = sleep 30\n[service b]\nstart = sleep 30\n");

	struct config *prev = f->e.conf;

	f->e.role = ROLE_PASSIVE;
	f->e.conf = next;
	services_reconcile(f->s, prev);
	config_free(prev);
	assert_string_equal(state_of(f, "a"), "stopped");
	assert_string_equal(state_of(f, "b"), "stopped");
	fixture_free(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_new_states, cleanup),
		cmocka_unit_test_teardown(test_start_and_stop, cleanup),
		cmocka_unit_test_teardown(test_stop_timeout_kills, cleanup),
		cmocka_unit_test_teardown(test_stop_by_command, cleanup),
		cmocka_unit_test_teardown(test_actions_on_death, cleanup),
		cmocka_unit_test_teardown(test_last_action_repeats, cleanup),
		cmocka_unit_test_teardown(test_stop_async_none, cleanup),
		cmocka_unit_test_teardown(test_stop_async, cleanup),
		cmocka_unit_test_teardown(test_adopt, cleanup),
		cmocka_unit_test_teardown(test_adopt_refused, cleanup),
		cmocka_unit_test_teardown(test_reconcile, cleanup),
		cmocka_unit_test_teardown(test_reconcile_stops_with_old_method, cleanup),
		cmocka_unit_test_teardown(test_reconcile_passive, cleanup),
		cmocka_unit_test_teardown(test_tcp_check_start_and_failure, cleanup),
		cmocka_unit_test_teardown(test_start_timeout, cleanup),
		cmocka_unit_test_teardown(test_stopped_behind_back, cleanup),
		cmocka_unit_test_teardown(test_switchover_action, cleanup),
		cmocka_unit_test_teardown(test_dependencies, cleanup),
		cmocka_unit_test_teardown(test_broken_plugin_check, cleanup),
		cmocka_unit_test_teardown(test_plugin_hooks, cleanup),
		cmocka_unit_test_teardown(test_pre_start_refuses, cleanup),
		cmocka_unit_test_teardown(test_unit_start_stop, cleanup),
		cmocka_unit_test_teardown(test_unit_killed, cleanup),
		cmocka_unit_test_teardown(test_unit_running_on_passive, cleanup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

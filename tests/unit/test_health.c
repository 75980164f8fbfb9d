/*
 * Unit tests of engine/health under a real event loop, on loopback only:
 * a TCP check passes against a listening socket and fails, with its
 * reason, when refused or unanswered; an exec check passes on exit 0,
 * fails with its status and first line of output, is killed at its
 * timeout, and sees LIFELINE_SERVICE and LIFELINE_PID; a pid check; the
 * answer never comes from inside health_probe; a cancelled probe never
 * answers. Every wait is bounded.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/config.h"
#include "common/log.h"
#include "common/util.h"
#include "common/values.h"
#include "engine/children.h"
#include "engine/health.h"
#include "helpers/procs.h"
#include "helpers/tmpdir.h"

struct answer {
	int  calls;
	bool ok;
	enum health_outcome outcome;
	char why[512];
};

static void
on_answer(void *arg, enum health_outcome outcome, const char *why)
{
	struct answer *a = arg;

	a->calls++;
	a->ok = outcome == HEALTH_OK;
	a->outcome = outcome;
	snprintf(a->why, sizeof(a->why), "%s", why != NULL ? why : "");
}

struct rig {
	struct event_base *base;
	struct children   *kids;
	struct health     *h;
	char              *dir;       /* the plug-in folder */
	struct service_conf sc;
};

static void
rig_init(struct rig *r, enum check_kind kind, uint64_t timeout_ms)
{
	memset(r, 0, sizeof(*r));
	r->base = event_base_new();
	r->kids = children_new(r->base);
	r->h = health_new(r->base, r->kids, r->dir = tmpdir());
	r->sc.name = (char *)"db";
	r->sc.check_kind = kind;
	r->sc.check_timeout_ms = timeout_ms;
	r->sc.check_interval_ms = timeout_ms * 2;
}

static void
rig_free(struct rig *r)
{
	health_free(r->h);
	children_free(r->kids);
	event_base_free(r->base);
	rm_rf(r->dir);
	free(r->dir);
}

/* Probe once and run the loop until the answer, for at most ms. */
static void
probe(struct rig *r, pid_t pid, struct answer *a, int ms)
{
	struct timeval slice = { 0, 10 * 1000 };
	uint64_t deadline = now_mono_ms() + (uint64_t)ms;

	memset(a, 0, sizeof(*a));
	health_probe(r->h, &r->sc, pid, on_answer, a);
	assert_int_equal(a->calls, 0);          /* never from inside the call */
	assert_true(health_busy(r->h));
	while (a->calls == 0 && now_mono_ms() < deadline) {
		event_base_loopexit(r->base, &slice);
		event_base_dispatch(r->base);
	}
	assert_int_equal(a->calls, 1);
	assert_false(health_busy(r->h));
}

/* A listening socket on 127.0.0.1 with backlog; its port in *port. */
static int
listener(int backlog, uint16_t *port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(fd, backlog), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	*port = ntohs(sin.sin_port);
	return fd;
}

static void
set_target(struct rig *r, uint16_t port)
{
	assert_int_equal(parse_ipaddr("127.0.0.1", -1, &r->sc.check_addr), 0);
	r->sc.check_port = port;
}

static void
test_tcp(void **state)
{
	struct rig r;
	struct answer a;
	uint16_t port;
	int fd;
	char want[64];

	rig_init(&r, CHECK_TCP, 1000);
	fd = listener(8, &port);
	set_target(&r, port);
	probe(&r, 0, &a, 5000);
	assert_true(a.ok);

	close(fd);                               /* nothing listens there now */
	probe(&r, 0, &a, 5000);
	assert_false(a.ok);
	snprintf(want, sizeof(want), "cannot connect to 127.0.0.1:%u: Connection refused", port);
	assert_string_equal(a.why, want);
	rig_free(&r);
}

/*
 * A listener whose accept queue is full drops further SYNs, so a connect
 * hangs: the probe must give up at its timeout.
 */
static void
test_tcp_timeout(void **state)
{
	struct rig r;
	struct answer a;
	uint16_t port;
	int fd = listener(0, &port), fill[4];
	char want[96];
	uint64_t t0;

	rig_init(&r, CHECK_TCP, 300);
	set_target(&r, port);
	for (size_t i = 0; i < nitems(fill); i++) {
		struct sockaddr_storage ss;
		socklen_t sl = ipaddr_sockaddr(&r.sc.check_addr, port, &ss);

		fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		connect(fill[i], (struct sockaddr *)&ss, sl);
	}
	usleep(50 * 1000);
	t0 = now_mono_ms();
	probe(&r, 0, &a, 5000);
	assert_false(a.ok);
	snprintf(want, sizeof(want), "no connection to 127.0.0.1:%u within 300 ms", port);
	assert_string_equal(a.why, want);
	assert_true(now_mono_ms() - t0 >= 250);
	for (size_t i = 0; i < nitems(fill); i++)
		close(fill[i]);
	close(fd);
	rig_free(&r);
}

static void
test_exec(void **state)
{
	struct rig r;
	struct answer a;
	char *dir = tmpdir(), *file = xasprintf("%s/seen", dir), *cmd, *text = NULL;
	size_t len;

	rig_init(&r, CHECK_EXEC, 2000);
	r.sc.check_cmd = (char *)"true";
	probe(&r, 0, &a, 5000);
	assert_true(a.ok);

	r.sc.check_cmd = (char *)"echo database says no; echo second line; exit 3";
	probe(&r, 0, &a, 5000);
	assert_false(a.ok);
	assert_string_equal(a.why, "check \"echo database says no; echo second line; exit 3\" "
	    "exited with status 3: database says no");

	cmd = xasprintf("echo \"$LIFELINE_SERVICE $LIFELINE_PID\" > %s", file);
	r.sc.check_cmd = cmd;
	probe(&r, 4242, &a, 5000);
	assert_true(a.ok);
	assert_non_null(text = read_file(file, 4096, &len));
	assert_string_equal(text, "db 4242\n");
	free(text);
	free(cmd);
	free(file);
	rm_rf(dir);
	free(dir);
	rig_free(&r);
}

/* A check that outlives its timeout is killed, with its whole group. */
static void
test_exec_timeout(void **state)
{
	struct rig r;
	struct answer a;
	char *dir = tmpdir(), *pidfile = xasprintf("%s/pid", dir), *cmd, *text = NULL;
	size_t len;
	pid_t inner;

	rig_init(&r, CHECK_EXEC, 300);
	cmd = xasprintf("sleep 30 & echo $! > %s; wait", pidfile);
	r.sc.check_cmd = cmd;
	probe(&r, 0, &a, 5000);
	assert_false(a.ok);
	assert_non_null(strstr(a.why, "did not finish within 300 ms (killed)"));
	assert_non_null(text = read_file(pidfile, 64, &len));
	inner = (pid_t)atol(text);
	assert_true(inner > 0);
	for (int i = 0; i < 200 && proc_alive(inner); i++)
		usleep(10 * 1000);
	assert_false(proc_alive(inner));
	free(text);
	free(cmd);
	free(pidfile);
	rm_rf(dir);
	free(dir);
	rig_free(&r);
}

static void
test_pid(void **state)
{
	struct rig r;
	struct answer a;
	pid_t child = fork();

	if (child == 0) {
		pause();
		_exit(0);
	}
	rig_init(&r, CHECK_PID, 1000);
	probe(&r, child, &a, 5000);
	assert_true(a.ok);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	probe(&r, child, &a, 5000);
	assert_false(a.ok);
	assert_non_null(strstr(a.why, "is gone"));
	probe(&r, 0, &a, 5000);
	assert_false(a.ok);
	assert_string_equal(a.why, "it has no process");
	rig_free(&r);
}

/* Cancelled or freed while in flight: no answer, the check is killed. */
static void
test_cancel(void **state)
{
	struct rig r;
	struct answer a = { 0 };
	struct timeval slice = { 0, 300 * 1000 };

	rig_init(&r, CHECK_EXEC, 200);
	r.sc.check_cmd = (char *)"sleep 30";
	health_probe(r.h, &r.sc, 0, on_answer, &a);
	health_cancel(r.h);
	assert_false(health_busy(r.h));
	event_base_loopexit(r.base, &slice);
	event_base_dispatch(r.base);
	assert_int_equal(a.calls, 0);
	health_probe(r.h, &r.sc, 0, on_answer, &a);
	rig_free(&r);                            /* with the probe in flight */
	assert_int_equal(a.calls, 0);
}

/*
 * Plug-in checks run through lifeline-plugin in a child: a pass, an
 * unhealthy answer with its reason, and a plug-in that crashes, answers
 * nonsense, hangs, or is not installed.
 */
static void
test_plugin(void **state)
{
	const char *bin = getenv("LIFELINE_BIN");
	struct rig r;
	struct answer a;
	char *src, *dst, *runner;

	if (bin == NULL)
		skip();
	rig_init(&r, CHECK_PLUGIN, 1000);
	runner = xasprintf("%s/lifeline-plugin", bin);
	setenv("LIFELINE_PLUGIN_RUNNER", runner, 1);
	src = xasprintf("%s/../plugins/testplug-good.so", bin);
	dst = xasprintf("%s/testplug.so", r.dir);
	assert_int_equal(symlink(src, dst), 0);
	r.sc.check_plugin = (char *)"testplug";

	r.sc.check_name = (char *)"ok";
	probe(&r, 0, &a, 5000);
	assert_int_equal(a.outcome, HEALTH_OK);

	r.sc.check_name = (char *)"down";
	probe(&r, 0, &a, 5000);
	assert_int_equal(a.outcome, HEALTH_FAILED);
	assert_string_equal(a.why, "plug-in testplug check down: the test application says no");

	r.sc.check_name = (char *)"crash";
	probe(&r, 0, &a, 5000);
	assert_int_equal(a.outcome, HEALTH_BROKEN);
	/* Under AddressSanitizer the runner reports the SEGV and exits 1 instead. */
	assert_true(strcmp(a.why, "plug-in testplug check crash crashed with signal SEGV") == 0 ||
	    strstr(a.why, "plug-in testplug check crash exited with status 1: AddressSanitizer") ==
	    a.why);

	r.sc.check_name = (char *)"nonsense";
	probe(&r, 0, &a, 5000);
	assert_int_equal(a.outcome, HEALTH_BROKEN);
	assert_string_equal(a.why, "plug-in testplug check nonsense: plug-in testplug: check "
	    "returned 42, which is neither LIFELINE_OK nor LIFELINE_FAILED");

	r.sc.check_name = (char *)"hang";
	r.sc.check_timeout_ms = 300;
	probe(&r, 0, &a, 5000);
	assert_int_equal(a.outcome, HEALTH_FAILED);
	assert_string_equal(a.why, "plug-in testplug check hang did not finish within 300 ms "
	    "(killed)");

	r.sc.check_plugin = (char *)"absent";
	probe(&r, 0, &a, 5000);
	assert_int_equal(a.outcome, HEALTH_BROKEN);
	assert_non_null(strstr(a.why, "absent.so: No such file or directory (is the plug-in "
	    "installed?)"));
	unsetenv("LIFELINE_PLUGIN_RUNNER");
	free(runner);
	free(src);
	free(dst);
	rig_free(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tcp),
		cmocka_unit_test(test_tcp_timeout),
		cmocka_unit_test(test_exec),
		cmocka_unit_test(test_exec_timeout),
		cmocka_unit_test(test_pid),
		cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_plugin),
	};

	log_init(LOG_TO_STDERR, 1, "test_health");
	return cmocka_run_group_tests(tests, NULL, NULL);
}

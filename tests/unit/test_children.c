/*
 * Unit tests of engine/children: each child's exit reaches the callback
 * its starter registered, with its status; a forgotten child is reaped
 * without a callback; a callback may start and watch a new child.
 * Every process is the test's own; every wait is bounded.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "engine/children.h"

struct seen {
	int   calls;
	pid_t pid;
	int   status;
};

static void
on_exit_seen(void *arg, pid_t pid, int status)
{
	struct seen *s = arg;

	s->calls++;
	s->pid = pid;
	s->status = status;
}

static pid_t
child_exiting(int code)
{
	pid_t pid = fork();

	if (pid == 0)
		_exit(code);
	assert_true(pid > 0);
	return pid;
}

/* Run base in 10 ms slices until *calls reaches want, for at most ms. */
static bool
loop_until(struct event_base *base, const int *calls, int want, int ms)
{
	struct timeval slice = { 0, 10 * 1000 };
	uint64_t deadline = now_mono_ms() + (uint64_t)ms;

	while (*calls < want) {
		if (now_mono_ms() >= deadline)
			return false;
		event_base_loopexit(base, &slice);
		event_base_dispatch(base);
	}
	return true;
}

static void
test_exit_reaches_its_watcher(void **state)
{
	struct event_base *base = event_base_new();
	struct children *c = children_new(base);
	struct seen a = { 0 }, b = { 0 };
	pid_t pa = child_exiting(3), pb;

	children_watch(c, pa, on_exit_seen, &a);
	pb = fork();
	if (pb == 0) {
		pause();
		_exit(0);
	}
	children_watch(c, pb, on_exit_seen, &b);
	assert_true(loop_until(base, &a.calls, 1, 5000));
	assert_int_equal(a.pid, pa);
	assert_true(WIFEXITED(a.status));
	assert_int_equal(WEXITSTATUS(a.status), 3);
	assert_int_equal(b.calls, 0);

	kill(pb, SIGKILL);
	assert_true(loop_until(base, &b.calls, 1, 5000));
	assert_int_equal(b.pid, pb);
	assert_true(WIFSIGNALED(b.status));
	assert_int_equal(WTERMSIG(b.status), SIGKILL);
	assert_int_equal(a.calls, 1);          /* once only */
	children_free(c);
	event_base_free(base);
}

static void
test_forgotten_is_reaped_quietly(void **state)
{
	struct event_base *base = event_base_new();
	struct children *c = children_new(base);
	struct seen a = { 0 }, marker = { 0 };
	pid_t pa = child_exiting(0), pm;

	children_watch(c, pa, on_exit_seen, &a);
	children_forget(c, pa);
	pm = child_exiting(1);                 /* ends after pa: its call says pa was reaped too */
	children_watch(c, pm, on_exit_seen, &marker);
	assert_true(loop_until(base, &marker.calls, 1, 5000));
	for (int i = 0; i < 100 && waitpid(pa, NULL, WNOHANG) == 0; i++)
		usleep(10 * 1000);                 /* if the signal came before pa ended */
	children_reap(c);
	assert_int_equal(a.calls, 0);
	errno = 0;
	assert_int_equal(waitpid(pa, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
	children_free(c);
	event_base_free(base);
}

struct chain {
	struct children *c;
	struct seen      second;
	int              first_calls;
};

/* A callback that starts and watches another child. */
static void
on_first_exit(void *arg, pid_t pid, int status)
{
	struct chain *ch = arg;

	ch->first_calls++;
	children_watch(ch->c, child_exiting(7), on_exit_seen, &ch->second);
}

static void
test_callback_may_watch_more(void **state)
{
	struct event_base *base = event_base_new();
	struct chain ch = { .c = children_new(base) };

	children_watch(ch.c, child_exiting(0), on_first_exit, &ch);
	assert_true(loop_until(base, &ch.second.calls, 1, 5000));
	assert_int_equal(ch.first_calls, 1);
	assert_int_equal(WEXITSTATUS(ch.second.status), 7);
	children_free(ch.c);
	event_base_free(base);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exit_reaches_its_watcher),
		cmocka_unit_test(test_forgotten_is_reaped_quietly),
		cmocka_unit_test(test_callback_may_watch_more),
	};

	log_init(LOG_TO_STDERR, 1, "test_children");
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Unit tests of engine/control and the client of common/ctl: dispatch from
 * the table, bad requests answered with a reason, and a real round trip over
 * the UNIX socket with the engine's loop in a thread.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <event2/event.h>
#include <event2/thread.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/ctl.h"
#include "common/util.h"
#include "common/control.h"
#include "engine/engine.h"

static json_t *
cmd_echo(void *ctx, json_t *req, struct control_later *later)
{
	json_t *answer = ctl_ok();

	json_object_set(answer, "echo", json_object_get(req, "text"));
	return answer;
}

static _Atomic int later_answered;

static void
on_later_due(evutil_socket_t fd, short what, void *arg)
{
	control_answer(arg, ctl_ok());
	later_answered++;
}

/* Answered 50 ms later, from the loop, as lifeline-repl answers "drain". */
static json_t *
cmd_later(void *ctx, json_t *req, struct control_later *later)
{
	struct engine *e = ctx;
	struct timeval tv = { 0, 50 * 1000 };

	event_base_once(e->base, -1, EV_TIMEOUT, on_later_due, later, &tv);
	return NULL;
}

static const struct control_command table[] = {
	{ "echo", cmd_echo, "answer with the text" },
	{ "later", cmd_later, "answer 50 ms later" },
	{ NULL, NULL, NULL },
};

static const char *
error_of(json_t *answer)
{
	assert_false(json_is_true(json_object_get(answer, "ok")));
	return json_string_value(json_object_get(answer, "error"));
}

static void
test_dispatch_rows(void **state)
{
	static const struct {
		const char *line;
		const char *error;      /* NULL: ok */
	} rows[] = {
		{ "{\"cmd\":\"echo\",\"text\":\"hi\"}", NULL },
		{ "{\"cmd\":\"nope\"}", "unknown command \"nope\", this engine knows: echo, later" },
		{ "{\"cmd\":\"later\"}", "\"later\" answers later, and this caller cannot wait" },
		{ "not json", "not valid JSON" },
		{ "[1,2]", "not a JSON object" },
		{ "{\"text\":\"x\"}", "no \"cmd\" string" },
		{ "{\"cmd\":5}", "no \"cmd\" string" },
		{ "{\"cmd\":\"echo\",\"cmd\":\"echo\"}", "not valid JSON" },
		{ "", "not valid JSON" },
		/* Found by fuzzing: the error quotes a cut UTF-8 character. */
		{ "\"\\\xd0\x9b", "not valid JSON" },
	};
	struct engine e = { 0 };

	for (size_t i = 0; i < nitems(rows); i++) {
		json_t *a = control_dispatch(&e, table, rows[i].line, strlen(rows[i].line), NULL);

		assert_non_null(a);
		/* Every answer must encode: an unencodable one used to stop the engine. */
		char *text = json_dumps(a, 0);

		if (text == NULL)
			fail_msg("row %zu: the answer cannot be encoded", i);
		free(text);
		if (rows[i].error == NULL) {
			assert_true(json_is_true(json_object_get(a, "ok")));
			assert_string_equal(json_string_value(json_object_get(a, "echo")), "hi");
		} else if (strstr(error_of(a), rows[i].error) == NULL) {
			fail_msg("row %zu: \"%s\" does not contain \"%s\"", i, error_of(a), rows[i].error);
		}
		json_decref(a);
	}
}

struct server {
	struct engine   e;
	struct control *c;
	char            dir[64];
	char           *path;
	pthread_t       thread;
};

static void *
run_loop(void *arg)
{
	struct server *s = arg;

	event_base_dispatch(s->e.base);
	return NULL;
}

static int
setup_server(void **state)
{
	struct server *s = xcalloc(1, sizeof(*s));

	evthread_use_pthreads();
	strcpy(s->dir, "/tmp/lifeline-test-ctl-XXXXXX");
	assert_non_null(mkdtemp(s->dir));
	s->path = xasprintf("%s/%s", s->dir, CTL_SOCKET_NAME);
	s->e.base = event_base_new();
	s->c = control_new(s->e.base, &s->e, s->path, table);
	assert_non_null(s->c);
	assert_int_equal(pthread_create(&s->thread, NULL, run_loop, s), 0);
	*state = s;
	return 0;
}

static int
teardown_server(void **state)
{
	struct server *s = *state;

	/* loopexit, not loopbreak: it stays pending if the loop has not started yet. */
	event_base_loopexit(s->e.base, NULL);
	pthread_join(s->thread, NULL);
	control_free(s->c);
	event_base_free(s->e.base);
	rmdir(s->dir);
	free(s->path);
	free(s);
	return 0;
}

static void
test_round_trip(void **state)
{
	struct server *s = *state;
	json_t *req = json_pack("{s:s, s:s}", "cmd", "echo", "text", "hi");
	char err[256];
	struct stat st;

	assert_int_equal(stat(s->path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	for (int i = 0; i < 3; i++) {        /* several clients in a row */
		json_t *a = ctl_call(s->path, req, 2000, err, sizeof(err));

		assert_non_null(a);
		assert_string_equal(json_string_value(json_object_get(a, "echo")), "hi");
		json_decref(a);
	}
	json_decref(req);
}

/*
 * A request kept for later is answered on its connection; when the client
 * left first, the answer is dropped and nothing it pointed at is touched.
 */
static void
test_later_answer(void **state)
{
	struct server *s = *state;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	json_t *req = json_pack("{s:s}", "cmd", "later"), *a;
	static const char line[] = "{\"cmd\":\"later\"}\n";
	char err[256];
	int fd, before;

	a = ctl_call(s->path, req, 2000, err, sizeof(err));
	assert_non_null(a);
	assert_true(json_is_true(json_object_get(a, "ok")));
	json_decref(a);
	json_decref(req);

	before = later_answered;
	xstrlcpy(sun.sun_path, s->path, sizeof(sun.sun_path));
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(send(fd, line, sizeof(line) - 1, MSG_NOSIGNAL), (ssize_t)sizeof(line) - 1);
	close(fd);
	for (int i = 0; i < 200 && later_answered == before; i++)
		usleep(10 * 1000);
	assert_int_equal(later_answered, before + 1);
}

static void
test_second_engine_refused(void **state)
{
	struct server *s = *state;
	struct engine other = { .base = event_base_new() };

	/* A live engine answers on the path: a second one must not steal it. */
	assert_null(control_new(other.base, &other, s->path, table));
	event_base_free(other.base);
}

static void
test_no_engine(void **state)
{
	json_t *req = json_pack("{s:s}", "cmd", "echo");
	char err[256];

	assert_null(ctl_call("/nonexistent-lifeline/lifelined.sock", req, 500, err, sizeof(err)));
	assert_non_null(strstr(err, "cannot reach the engine at /nonexistent-lifeline/lifelined.sock"));
	json_decref(req);
}

/* A request line longer than the limit gets an error, then the close. */
static void
test_oversized_line(void **state)
{
	struct server *s = *state;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	size_t big = CTL_MAX_LINE + 4096, got = 0;
	char *junk = xmalloc(big), answer[512];
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	ssize_t n;

	xstrlcpy(sun.sun_path, s->path, sizeof(sun.sun_path));
	assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	memset(junk, 'x', big);
	for (size_t off = 0; off < big; off += (size_t)n) {
		n = send(fd, junk + off, big - off, MSG_NOSIGNAL);
		if (n <= 0)
			break;                   /* the engine may close first */
	}
	while (got < sizeof(answer) - 1 &&
	    (n = recv(fd, answer + got, sizeof(answer) - 1 - got, 0)) > 0)
		got += (size_t)n;
	answer[got] = '\0';
	assert_non_null(strstr(answer, "request longer than"));
	close(fd);
	free(junk);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dispatch_rows),
		cmocka_unit_test_setup_teardown(test_round_trip, setup_server, teardown_server),
		cmocka_unit_test_setup_teardown(test_later_answer, setup_server, teardown_server),
		cmocka_unit_test_setup_teardown(test_second_engine_refused, setup_server, teardown_server),
		cmocka_unit_test(test_no_engine),
		cmocka_unit_test_setup_teardown(test_oversized_line, setup_server, teardown_server),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

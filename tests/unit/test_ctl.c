/*
 * Unit tests of common/ctl: request decoding with its messages, the
 * answers it builds (always encodable, even from bad bytes), and the
 * blocking client against a fake engine in a thread that answers well,
 * badly, late, too much or not at all. Every wait is bounded.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/ctl.h"
#include "common/util.h"
#include "helpers/tmpdir.h"

/* ---- ctl_parse_request --------------------------------------------------- */

static void
test_parse_good(void **state)
{
	static const char line[] = "{\"cmd\":\"status\",\"json\":true}";
	char err[256] = "";
	json_t *req = ctl_parse_request(line, strlen(line), err, sizeof(err));

	assert_non_null(req);
	assert_string_equal(json_string_value(json_object_get(req, "cmd")), "status");
	assert_true(json_is_true(json_object_get(req, "json")));
	assert_string_equal(err, "");
	json_decref(req);
}

/* Only len bytes are read: what follows them in the buffer is not the request's. */
static void
test_parse_reads_len_bytes(void **state)
{
	static const char buf[] = "{\"cmd\":\"stop\"}GARBAGE";
	char err[256];
	json_t *req = ctl_parse_request(buf, strlen("{\"cmd\":\"stop\"}"), err, sizeof(err));

	assert_non_null(req);
	assert_string_equal(json_string_value(json_object_get(req, "cmd")), "stop");
	json_decref(req);
	/* The same bytes with the garbage inside len are not one object. */
	assert_null(ctl_parse_request(buf, strlen(buf), err, sizeof(err)));
	assert_non_null(strstr(err, "request is not valid JSON"));
}

static void
test_parse_bad_rows(void **state)
{
	static const struct {
		const char *line;
		const char *error;      /* the whole message must contain it */
	} rows[] = {
		{ "", "request is not valid JSON (" },
		{ "not json", "expected one object per line" },
		{ "{\"cmd\":", "request is not valid JSON (" },
		{ "{\"cmd\":\"a\"} {}", "request is not valid JSON (" },
		{ "{\"cmd\":\"a\",\"cmd\":\"b\"}", "duplicate object key" },
		{ "[\"cmd\",\"status\"]", "request is not a JSON object, expected {\"cmd\": NAME, ...}" },
		/* A bare value is not even a JSON text to jansson's default decoder. */
		{ "\"status\"", "request is not valid JSON ('[' or '{' expected" },
		{ "42", "expected one object per line" },
		{ "{}", "request has no \"cmd\" string, expected {\"cmd\": NAME, ...}" },
		{ "{\"command\":\"status\"}", "request has no \"cmd\" string" },
		{ "{\"cmd\":7}", "request has no \"cmd\" string" },
		{ "{\"cmd\":null}", "request has no \"cmd\" string" },
		{ "{\"cmd\":[\"status\"]}", "request has no \"cmd\" string" },
	};

	for (size_t i = 0; i < nitems(rows); i++) {
		char err[256] = "";
		json_t *req = ctl_parse_request(rows[i].line, strlen(rows[i].line), err, sizeof(err));

		if (req != NULL)
			fail_msg("row %zu: \"%s\" was accepted", i, rows[i].line);
		if (strstr(err, rows[i].error) == NULL)
			fail_msg("row %zu: \"%s\" does not contain \"%s\"", i, err, rows[i].error);
	}
}

/*
 * The message of a syntax error says where, so a hand-typed request can be
 * fixed: the column of the token that broke it (its last byte, as jansson counts).
 */
static void
test_parse_error_names_column(void **state)
{
	static const char line[] = "{\"cmd\" \"status\"}";
	char err[256];

	assert_null(ctl_parse_request(line, strlen(line), err, sizeof(err)));
	if (strstr(err, "at column 15)") == NULL)
		fail_msg("\"%s\" does not name column 15", err);
}

/* A small err buffer is filled, cut and terminated, never overrun. */
static void
test_parse_small_err(void **state)
{
	char err[16 + 1];

	memset(err, 'Z', sizeof(err));
	assert_null(ctl_parse_request("{}", 2, err, sizeof(err) - 1));
	assert_int_equal(strlen(err), 15);
	assert_memory_equal(err, "request has no ", 15);
	assert_int_equal(err[16], 'Z');
}

/* ---- ctl_ok, ctl_error --------------------------------------------------- */

static void
test_ok(void **state)
{
	json_t *a = ctl_ok();

	assert_true(json_is_object(a));
	assert_true(json_is_true(json_object_get(a, "ok")));
	assert_int_equal(json_object_size(a), 1);
	json_decref(a);
}

static void
test_error_formats(void **state)
{
	json_t *a = ctl_error("unknown node \"%s\", expected one of %s", "quaternary",
	    "primary, secondary");

	assert_true(json_is_false(json_object_get(a, "ok")));
	assert_string_equal(json_string_value(json_object_get(a, "error")),
	    "unknown node \"quaternary\", expected one of primary, secondary");
	assert_int_equal(json_object_size(a), 2);
	json_decref(a);
}

/* Bytes that are not UTF-8 become '?'; valid characters are kept as they are. */
static void
test_error_sanitizes(void **state)
{
	static const struct {
		const char *in, *out;
	} rows[] = {
		{ "caf\xc3\xa9", "caf\xc3\xa9" },                 /* é, 2 bytes */
		{ "\xe2\x82\xac 5", "\xe2\x82\xac 5" },           /* €, 3 bytes */
		{ "\xf0\x9f\x98\x80!", "\xf0\x9f\x98\x80!" },     /* emoji, 4 bytes */
		{ "a\xffz", "a?z" },                              /* never valid */
		{ "a\xc0\xafz", "a??z" },                         /* overlong '/' */
		{ "\xd0", "?" },                                  /* cut at the end */
		{ "\xe2\x82z", "??z" },                           /* cut in the middle */
		{ "\x80x", "?x" },                                /* lone continuation */
		{ "\xf5\x80\x80\x80", "????" },                   /* above U+10FFFF */
	};

	for (size_t i = 0; i < nitems(rows); i++) {
		json_t *a = ctl_error("%s", rows[i].in);
		const char *msg;

		if (a == NULL)
			fail_msg("row %zu: no answer (the message is not UTF-8)", i);
		msg = json_string_value(json_object_get(a, "error"));
		if (strcmp(msg, rows[i].out) != 0)
			fail_msg("row %zu: \"%s\", expected \"%s\"", i, msg, rows[i].out);
		json_decref(a);
	}
}

/* A message cut by its buffer inside a character is still an answer. */
static void
test_error_cut_inside_character(void **state)
{
	char big[1200];
	const char *msg;
	json_t *a;
	size_t len;

	memset(big, 'x', 1022);
	strcpy(big + 1022, "\xe2\x82\xac tail");   /* € straddles byte 1023 */
	a = ctl_error("%s", big);
	assert_non_null(a);
	msg = json_string_value(json_object_get(a, "error"));
	len = strlen(msg);
	assert_int_equal(len, 1023);
	assert_int_equal(msg[1021], 'x');
	assert_int_equal(msg[1022], '?');
	json_decref(a);
}

/* ---- ctl_call against a fake engine ------------------------------------- */

enum fake_mode {
	FAKE_ANSWER,        /* one good answer */
	FAKE_IN_PIECES,     /* the good answer a few bytes at a time */
	FAKE_ARRAY,         /* a JSON array */
	FAKE_GARBAGE,       /* not JSON */
	FAKE_CLOSE,         /* hang up without a word */
	FAKE_SILENT,        /* read, never answer, until the client leaves */
	FAKE_HUGE,          /* a line longer than CTL_MAX_LINE */
};

struct fake {
	enum fake_mode mode;
	char          *dir, *path;
	int            lfd;
	pthread_t      thread;
	char           request[1024];   /* the line received, with its newline */
};

static void
send_text(int fd, const char *text, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, text, len, MSG_NOSIGNAL);

		if (n <= 0)
			return;          /* the client left: that is its test */
		text += n;
		len -= (size_t)n;
	}
}

/* Wait up to ms for fd to be readable; 1 ready, 0 not. */
static int
readable(int fd, int ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	return poll(&pfd, 1, ms) > 0;
}

static void *
fake_serve(void *arg)
{
	static const char answer[] = "{\"ok\":true,\"echo\":\"hi\"}\n";
	struct fake *f = arg;
	size_t got = 0;
	char *huge;
	int fd;

	if (!readable(f->lfd, 5000) || (fd = accept(f->lfd, NULL, NULL)) < 0)
		return NULL;
	while (got < sizeof(f->request) - 1 && memchr(f->request, '\n', got) == NULL &&
	    readable(fd, 5000)) {
		ssize_t n = recv(fd, f->request + got, sizeof(f->request) - 1 - got, 0);

		if (n <= 0)
			break;
		got += (size_t)n;
	}
	f->request[got] = '\0';
	switch (f->mode) {
	case FAKE_ANSWER:
		send_text(fd, answer, strlen(answer));
		break;
	case FAKE_IN_PIECES:
		for (size_t i = 0; i < strlen(answer); i += 5) {
			send_text(fd, answer + i, strlen(answer + i) < 5 ? strlen(answer + i) : 5);
			usleep(2000);
		}
		break;
	case FAKE_ARRAY:
		send_text(fd, "[1,2]\n", 6);
		break;
	case FAKE_GARBAGE:
		send_text(fd, "ok then\n", 8);
		break;
	case FAKE_CLOSE:
		break;
	case FAKE_SILENT:
		/* The client's timeout closes its end: then recv gives 0. */
		while (readable(fd, 5000) && recv(fd, f->request, 1, 0) > 0)
			;
		break;
	case FAKE_HUGE:
		huge = xmalloc(CTL_MAX_LINE + 4096);
		memset(huge, ' ', CTL_MAX_LINE + 4096);
		send_text(fd, huge, CTL_MAX_LINE + 4096);
		free(huge);
		break;
	}
	close(fd);
	return NULL;
}

static struct fake *
fake_start(enum fake_mode mode)
{
	struct fake *f = xcalloc(1, sizeof(*f));
	struct sockaddr_un sun = { .sun_family = AF_UNIX };

	f->mode = mode;
	f->dir = tmpdir();
	f->path = xasprintf("%s/%s", f->dir, CTL_SOCKET_NAME);
	xstrlcpy(sun.sun_path, f->path, sizeof(sun.sun_path));
	f->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(f->lfd >= 0);
	assert_int_equal(bind(f->lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(f->lfd, 4), 0);
	assert_int_equal(pthread_create(&f->thread, NULL, fake_serve, f), 0);
	return f;
}

/* End the fake; with line, keep the request it received (sizeof f->request). */
static void
fake_stop(struct fake *f, char *line)
{
	pthread_join(f->thread, NULL);
	if (line != NULL)
		strcpy(line, f->request);
	close(f->lfd);
	rm_rf(f->dir);
	free(f->dir);
	free(f->path);
	free(f);
}

/* ctl_call of {"cmd":"echo","text":"hi"} against a fake in mode. */
static json_t *
call(struct fake *f, int timeout_ms, char *err, size_t errlen)
{
	json_t *req = json_pack("{s:s, s:s}", "cmd", "echo", "text", "hi");
	json_t *a = ctl_call(f->path, req, timeout_ms, err, errlen);

	json_decref(req);
	return a;
}

static void
test_call_answer(void **state)
{
	struct fake *f = fake_start(FAKE_ANSWER);
	char err[512] = "";
	json_t *a = call(f, 3000, err, sizeof(err));

	assert_non_null(a);
	assert_true(json_is_true(json_object_get(a, "ok")));
	assert_string_equal(json_string_value(json_object_get(a, "echo")), "hi");
	json_decref(a);
	fake_stop(f, NULL);
}

/* The wire form of the request: one compact JSON object and a newline. */
static void
test_call_sends_one_line(void **state)
{
	struct fake *f = fake_start(FAKE_ANSWER);
	char err[512];
	json_t *a = call(f, 3000, err, sizeof(err)), *req;
	char line[sizeof(f->request)];

	assert_non_null(a);
	json_decref(a);
	fake_stop(f, line);

	assert_non_null(strchr(line, '\n'));
	assert_string_equal(strchr(line, '\n'), "\n");
	assert_null(strchr(line, ' '));
	req = json_loads(line, 0, NULL);
	assert_non_null(req);
	assert_string_equal(json_string_value(json_object_get(req, "cmd")), "echo");
	assert_string_equal(json_string_value(json_object_get(req, "text")), "hi");
	json_decref(req);
}

static void
test_call_answer_in_pieces(void **state)
{
	struct fake *f = fake_start(FAKE_IN_PIECES);
	char err[512] = "";
	json_t *a = call(f, 3000, err, sizeof(err));

	if (a == NULL)
		fail_msg("no answer: %s", err);
	assert_string_equal(json_string_value(json_object_get(a, "echo")), "hi");
	json_decref(a);
	fake_stop(f, NULL);
}

static void
test_call_bad_answers(void **state)
{
	static const struct {
		enum fake_mode mode;
		const char    *before, *after;   /* the message, around the path */
	} rows[] = {
		{ FAKE_ARRAY, "bad answer from the engine at ", ": not a JSON object" },
		{ FAKE_GARBAGE, "bad answer from the engine at ", ": '[' or '{' expected near 'ok'" },
		{ FAKE_CLOSE, "no answer from the engine at ", ": Connection reset by peer" },
		{ FAKE_HUGE, "no answer from the engine at ", ": Message too long" },
	};

	for (size_t i = 0; i < nitems(rows); i++) {
		struct fake *f = fake_start(rows[i].mode);
		char err[512] = "";
		char *want = xasprintf("%s%s%s", rows[i].before, f->path, rows[i].after);
		json_t *a = call(f, 3000, err, sizeof(err));

		if (a != NULL)
			fail_msg("row %zu: a bad answer was taken", i);
		if (strstr(err, want) == NULL)
			fail_msg("row %zu: \"%s\" does not contain \"%s\"", i, err, want);
		free(want);
		fake_stop(f, NULL);
	}
}

/* An engine that never answers costs the caller its timeout, not more. */
static void
test_call_times_out(void **state)
{
	struct fake *f = fake_start(FAKE_SILENT);
	char err[512] = "", *want = xasprintf("no answer from the engine at %s: timed out", f->path);
	uint64_t t0 = now_mono_ms(), took;
	json_t *a = call(f, 300, err, sizeof(err));

	took = now_mono_ms() - t0;
	assert_null(a);
	assert_string_equal(err, want);
	if (took < 290 || took > 2000)
		fail_msg("timed out after %llu ms, expected about 300", (unsigned long long)took);
	free(want);
	fake_stop(f, NULL);
}

static void
test_call_no_engine(void **state)
{
	char *dir = tmpdir(), *path = xasprintf("%s/%s", dir, CTL_SOCKET_NAME);
	char err[512] = "", *want;
	json_t *req = json_pack("{s:s}", "cmd", "status");

	want = xasprintf("cannot reach the engine at %s: No such file or directory "
	    "(is lifelined running?)", path);
	assert_null(ctl_call(path, req, 500, err, sizeof(err)));
	assert_string_equal(err, want);
	free(want);
	json_decref(req);
	free(path);
	rm_rf(dir);
	free(dir);
}

static void
test_call_path_too_long(void **state)
{
	char path[200], err[512] = "";
	json_t *req = json_pack("{s:s}", "cmd", "status");

	memset(path, 'p', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	assert_null(ctl_call(path, req, 500, err, sizeof(err)));
	assert_non_null(strstr(err, "socket path too long: /ppp"));
	json_decref(req);
}

/* check_wait's arguments: an id from 1 and a bounded timeout, else a clear refusal. */
static void
test_check_wait_args(void **state)
{
	static const struct { const char *req; const char *error; } rows[] = {
		{ "{\"id\": 3, \"timeout_ms\": 0}", NULL },
		{ "{\"id\": 1, \"timeout_ms\": 60000}", NULL },
		{ "{\"timeout_ms\": 10}", "\"id\" must be the number of a check, from 1" },
		{ "{\"id\": 0, \"timeout_ms\": 10}", "\"id\" must be the number of a check, from 1" },
		{ "{\"id\": \"7\", \"timeout_ms\": 10}", "\"id\" must be the number" },
		{ "{\"id\": 7}", "\"timeout_ms\" must be an integer from 0 to 60000" },
		{ "{\"id\": 7, \"timeout_ms\": -1}", "\"timeout_ms\" must be an integer" },
		{ "{\"id\": 7, \"timeout_ms\": 60001}", "from 0 to 60000" },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		json_t *req = json_loads(rows[i].req, 0, NULL), *bad;
		uint64_t id = 0;
		int t = -5;

		assert_non_null(req);
		bad = ctl_check_wait_args(req, &id, &t);
		if (rows[i].error == NULL) {
			if (bad != NULL)
				fail_msg("%s refused", rows[i].req);
			assert_int_equal(id, json_integer_value(json_object_get(req, "id")));
			assert_int_equal(t, json_integer_value(json_object_get(req, "timeout_ms")));
		} else {
			const char *e;

			if (bad == NULL)
				fail_msg("%s taken, expected \"%s\"", rows[i].req, rows[i].error);
			assert_false(json_is_true(json_object_get(bad, "ok")));
			e = json_string_value(json_object_get(bad, "error"));
			if (e == NULL || strstr(e, rows[i].error) == NULL)
				fail_msg("%s: error \"%s\", expected \"%s\"", rows[i].req,
				    e ? e : "(none)", rows[i].error);
			json_decref(bad);
		}
		json_decref(req);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_good),
		cmocka_unit_test(test_check_wait_args),
		cmocka_unit_test(test_parse_reads_len_bytes),
		cmocka_unit_test(test_parse_bad_rows),
		cmocka_unit_test(test_parse_error_names_column),
		cmocka_unit_test(test_parse_small_err),
		cmocka_unit_test(test_ok),
		cmocka_unit_test(test_error_formats),
		cmocka_unit_test(test_error_sanitizes),
		cmocka_unit_test(test_error_cut_inside_character),
		cmocka_unit_test(test_call_answer),
		cmocka_unit_test(test_call_sends_one_line),
		cmocka_unit_test(test_call_answer_in_pieces),
		cmocka_unit_test(test_call_bad_answers),
		cmocka_unit_test(test_call_times_out),
		cmocka_unit_test(test_call_no_engine),
		cmocka_unit_test(test_call_path_too_long),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

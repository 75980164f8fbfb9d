/*
 * Unit tests of engine/events: one JSON line per event appended to
 * STATE_DIR/events.jsonl with its time, node, level, epoch, kind and
 * message; the history survives a reopen; the log gets every event, also
 * when the file cannot be opened.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "engine/engine.h"
#include "engine/events.h"
#include "helpers/tmpdir.h"

struct fixture {
	char          *dir, *path;
	struct config  conf;
	struct engine  e;
};

static int
setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));

	log_init(LOG_TO_STDERR, 0, "test_events");
	f->dir = tmpdir();
	f->path = xasprintf("%s/%s", f->dir, EVENTS_FILE_NAME);
	f->conf.state_dir = f->dir;
	f->e.conf = &f->conf;
	f->e.self = NODE_SECONDARY;
	f->e.state.epoch = 7;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	events_close();
	rm_rf(f->dir);
	free(f->dir);
	free(f->path);
	free(f);
	return 0;
}

/* The event file's lines, each decoded; fails on a line that is not an object. */
static json_t *
read_events(const char *path)
{
	size_t len;
	char *text = read_file(path, 1 << 20, &len), *line, *save = NULL;
	json_t *arr = json_array();

	assert_non_null(text);
	if (len > 0)
		assert_int_equal(text[len - 1], '\n');
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		json_error_t jerr;
		json_t *obj = json_loads(line, 0, &jerr);

		if (!json_is_object(obj))
			fail_msg("not a JSON object: \"%s\" (%s)", line, jerr.text);
		json_array_append_new(arr, obj);
	}
	free(text);
	return arr;
}

static const char *
field(json_t *obj, const char *key)
{
	const char *v = json_string_value(json_object_get(obj, key));

	if (v == NULL)
		fail_msg("no \"%s\" string in the event", key);
	return v;
}

/* Capture what the logger writes to stderr while fn(f) runs. */
static char *
capture_stderr(void (*fn)(struct fixture *), struct fixture *f)
{
	static char buf[8192];
	FILE *tmp = tmpfile();
	int saved = dup(2);
	size_t n;

	assert_non_null(tmp);
	fflush(stderr);
	dup2(fileno(tmp), 2);
	fn(f);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	rewind(tmp);
	n = fread(buf, 1, sizeof(buf) - 1, tmp);
	buf[n] = '\0';
	fclose(tmp);
	return buf;
}

static void
test_open_creates_private_file(void **state)
{
	struct fixture *f = *state;
	struct stat st;

	assert_int_equal(events_open(&f->e), 0);
	assert_int_equal(stat(f->path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_size, 0);
}

static void
test_fields_and_order(void **state)
{
	struct fixture *f = *state;
	static const char *keys[] = { "time", "node", "level", "epoch", "kind", "message" };
	json_t *evs, *ev;
	const char *p;
	char *text;
	size_t len;

	assert_int_equal(events_open(&f->e), 0);
	event(&f->e, EV_INFO, "role", "active in epoch %d: %s", 7, "won the election");
	f->e.state.epoch = 8;
	event(&f->e, EV_WARNING, "refusal", "switchover refused: %s", "secondary is not in sync");
	evs = read_events(f->path);
	assert_int_equal(json_array_size(evs), 2);

	ev = json_array_get(evs, 0);
	assert_string_equal(field(ev, "node"), "secondary");
	assert_string_equal(field(ev, "level"), "info");
	assert_int_equal(json_integer_value(json_object_get(ev, "epoch")), 7);
	assert_string_equal(field(ev, "kind"), "role");
	assert_string_equal(field(ev, "message"), "active in epoch 7: won the election");
	assert_int_equal(json_object_size(ev), nitems(keys));

	ev = json_array_get(evs, 1);
	assert_string_equal(field(ev, "level"), "warning");
	assert_int_equal(json_integer_value(json_object_get(ev, "epoch")), 8);
	assert_string_equal(field(ev, "kind"), "refusal");
	assert_string_equal(field(ev, "message"), "switchover refused: secondary is not in sync");
	json_decref(evs);

	/* The keys in a fixed order, so the file reads the same line after line. */
	p = text = read_file(f->path, 1 << 20, &len);
	for (size_t i = 0; i < nitems(keys); i++) {
		char *quoted = xasprintf("\"%s\":", keys[i]);
		const char *at = strstr(p, quoted);

		if (at == NULL)
			fail_msg("key \"%s\" missing or out of order in: %s", keys[i], text);
		p = at + strlen(quoted);
		free(quoted);
	}
	assert_true(p < strchr(text, '\n'));
	free(text);
}

/* "2024-05-01T12:34:56.789Z": UTC with milliseconds, and now. */
static void
test_time_is_utc_now(void **state)
{
	struct fixture *f = *state;
	time_t before = time(NULL), after;
	struct tm tm = { 0 };
	const char *when, *end;
	json_t *evs;
	time_t t;

	assert_int_equal(events_open(&f->e), 0);
	event(&f->e, EV_INFO, "engine", "started");
	after = time(NULL);
	evs = read_events(f->path);
	when = field(json_array_get(evs, 0), "time");
	assert_int_equal(strlen(when), strlen("2024-05-01T12:34:56.789Z"));
	end = strptime(when, "%Y-%m-%dT%H:%M:%S", &tm);
	assert_non_null(end);
	assert_true(end[0] == '.' && isdigit(end[1]) && isdigit(end[2]) &&
	    isdigit(end[3]) && end[4] == 'Z' && end[5] == '\0');
	t = timegm(&tm);
	if (t < before || t > after)
		fail_msg("time %s is not between %ld and %ld", when, (long)before, (long)after);
	json_decref(evs);
}

/* Events written before a restart are still there after it, in order. */
static void
test_history_survives_reopen(void **state)
{
	struct fixture *f = *state;
	json_t *evs;

	assert_int_equal(events_open(&f->e), 0);
	event(&f->e, EV_INFO, "engine", "first");
	events_close();
	event(&f->e, EV_INFO, "engine", "closed: log only");
	assert_int_equal(events_open(&f->e), 0);
	event(&f->e, EV_INFO, "engine", "second");
	evs = read_events(f->path);
	assert_int_equal(json_array_size(evs), 2);
	assert_string_equal(field(json_array_get(evs, 0), "message"), "first");
	assert_string_equal(field(json_array_get(evs, 1), "message"), "second");
	json_decref(evs);
}

/* Quotes, backslashes and newlines in a message stay inside one line. */
static void
test_message_escaped(void **state)
{
	struct fixture *f = *state;
	static const char msg[] = "path \"/srv/a\\b\"\nsecond line\ttab";
	json_t *evs;

	assert_int_equal(events_open(&f->e), 0);
	event(&f->e, EV_WARNING, "replication", "%s", msg);
	event(&f->e, EV_INFO, "engine", "next");
	evs = read_events(f->path);
	assert_int_equal(json_array_size(evs), 2);
	assert_string_equal(field(json_array_get(evs, 0), "message"), msg);
	json_decref(evs);
}

/* A very long message is cut to what the buffer holds, not dropped. */
static void
test_long_message_cut(void **state)
{
	struct fixture *f = *state;
	char big[3000];
	json_t *evs;
	const char *msg;

	memset(big, 'm', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(events_open(&f->e), 0);
	event(&f->e, EV_INFO, "engine", "%s", big);
	evs = read_events(f->path);
	assert_int_equal(json_array_size(evs), 1);
	msg = field(json_array_get(evs, 0), "message");
	assert_int_equal(strlen(msg), 1023);
	assert_memory_equal(msg, big, 1023);
	json_decref(evs);
}

/*
 * A message that is not valid UTF-8 (a file name from the protected data, a
 * value quoted from a bad configuration) or a long one cut inside a
 * character is still recorded, its bad bytes replaced, not dropped.
 */
static void
test_message_not_utf8(void **state)
{
	struct fixture *f = *state;
	char big[1100];
	json_t *evs;
	const char *msg;

	memset(big, 'x', 1022);
	strcpy(big + 1022, "\xe2\x82\xac tail");   /* the euro sign straddles byte 1023 */
	assert_int_equal(events_open(&f->e), 0);
	event(&f->e, EV_WARNING, "replication", "set aside in the quarantine: %s", "caf\xe9.txt");
	event(&f->e, EV_INFO, "engine", "%s", big);
	event(&f->e, EV_INFO, "engine", "after");
	evs = read_events(f->path);
	assert_int_equal(json_array_size(evs), 3);
	msg = field(json_array_get(evs, 0), "message");
	assert_string_equal(msg, "set aside in the quarantine: caf?.txt");
	msg = field(json_array_get(evs, 1), "message");
	assert_int_equal(strlen(msg), 1023);
	assert_int_equal(msg[1022], '?');
	json_decref(evs);
}

static void
log_two(struct fixture *f)
{
	event(&f->e, EV_INFO, "role", "now passive");
	event(&f->e, EV_WARNING, "channel", "10.0.0.2: down");
}

/* Each event also goes to the daemon's log as "KIND: MESSAGE". */
static void
test_events_logged(void **state)
{
	struct fixture *f = *state;
	char *out;

	assert_int_equal(events_open(&f->e), 0);
	out = capture_stderr(log_two, f);
	assert_non_null(strstr(out, "test_events: role: now passive\n"));
	assert_non_null(strstr(out, "test_events: channel: 10.0.0.2: down\n"));
}

static void
open_missing(struct fixture *f)
{
	assert_int_equal(events_open(&f->e), -1);
	log_two(f);
}

/* No event file: open says why, and events still reach the log. */
static void
test_open_fails(void **state)
{
	struct fixture *f = *state;
	char *missing = xasprintf("%s/gone", f->dir), *want, *out;

	f->conf.state_dir = missing;
	out = capture_stderr(open_missing, f);
	want = xasprintf("cannot open the event log %s/%s; events go to the log only: "
	    "No such file or directory", missing, EVENTS_FILE_NAME);
	if (strstr(out, want) == NULL)
		fail_msg("\"%s\" does not contain \"%s\"", out, want);
	assert_non_null(strstr(out, "role: now passive"));
	assert_non_null(strstr(out, "channel: 10.0.0.2: down"));
	assert_int_equal(access(missing, F_OK), -1);
	f->conf.state_dir = f->dir;
	free(want);
	free(missing);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_creates_private_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fields_and_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_time_is_utc_now, setup, teardown),
		cmocka_unit_test_setup_teardown(test_history_survives_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_message_escaped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_long_message_cut, setup, teardown),
		cmocka_unit_test_setup_teardown(test_message_not_utf8, setup, teardown),
		cmocka_unit_test_setup_teardown(test_events_logged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_fails, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Unit tests of engine/replication against a fake lifeline-repl in a
 * thread on STATE_DIR/lifeline-repl.sock (common/replctl.h): the role each
 * node of a trio is told (its place in the chain), sent once per change;
 * the active's wait for its capture and the retry after a refusal; drain,
 * reload and check with their answers and refusals; the passive's view of
 * its copy; the status object; quarantine events; a lifeline-repl running
 * an older configuration restarted; and the death callback. The real
 * lifeline-repl is never started ($LIFELINE_REPL points nowhere); every
 * wait is bounded.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/config.h"
#include "common/log.h"
#include "common/replctl.h"
#include "common/util.h"
#include "engine/engine.h"
#include "engine/replication.h"
#include "helpers/line_server.h"
#include "helpers/tmpdir.h"

/* ---- the fake lifeline-repl ---------------------------------------------- */

static struct {
	struct line_server *server;
	pthread_mutex_t lock;
	json_t         *status;        /* the "replication" object it reports */
	const char     *refuse[4];     /* commands answered {"ok":false} */
	json_t         *requests;      /* every request but status, in order */
} fake = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void
fake_answer(void *arg, int fd, const char *line)
{
	json_t *req = json_loads(line, 0, NULL);
	const char *cmd = json_string_value(json_object_get(req, "cmd"));
	bool refused = false;

	pthread_mutex_lock(&fake.lock);
	if (cmd != NULL && strcmp(cmd, "status") == 0) {
		line_server_send(fd, json_pack("{s:b, s:O}", "ok", 1, "replication", fake.status));
		pthread_mutex_unlock(&fake.lock);
		json_decref(req);
		return;
	}
	json_array_append(fake.requests, req != NULL ? req : json_null());
	for (size_t i = 0; cmd != NULL && i < nitems(fake.refuse) && fake.refuse[i]; i++)
		refused |= strcmp(fake.refuse[i], cmd) == 0;
	pthread_mutex_unlock(&fake.lock);
	if (refused)
		line_server_send(fd, json_pack("{s:b, s:s+}", "ok", 0, "error", "fake refuses ", cmd));
	else if (cmd != NULL && strcmp(cmd, "check") == 0)
		line_server_send(fd, json_pack("{s:b, s:i}", "ok", 1, "id", 42));
	else
		line_server_send(fd, json_pack("{s:b, s:i}", "ok", 1, "last_seq", 99));
	json_decref(req);
}

static void
fake_start(const char *state_dir)
{
	char *path = xasprintf("%s/%s", state_dir, REPLCTL_SOCKET_NAME);

	fake.server = line_server_start(path, fake_answer, NULL);
	assert_non_null(fake.server);
	free(path);
}

/* Stop answering, and close the socket: lifeline-repl is gone. */
static void
fake_stop(void)
{
	line_server_stop(fake.server);
	fake.server = NULL;
}

static void
fake_set_status(const char *json)
{
	json_t *st = json_loads(json, 0, NULL);

	assert_non_null(st);
	pthread_mutex_lock(&fake.lock);
	json_decref(fake.status);
	fake.status = st;
	pthread_mutex_unlock(&fake.lock);
}

static void
fake_refuse(const char *cmd)
{
	pthread_mutex_lock(&fake.lock);
	memset(fake.refuse, 0, sizeof(fake.refuse));
	fake.refuse[0] = cmd;
	pthread_mutex_unlock(&fake.lock);
}

static size_t
fake_count(void)
{
	size_t n;

	pthread_mutex_lock(&fake.lock);
	n = json_array_size(fake.requests);
	pthread_mutex_unlock(&fake.lock);
	return n;
}

/* Request i (not counting status polls), compact with sorted keys; malloc'd. */
static char *
fake_request(size_t i)
{
	char *text;

	pthread_mutex_lock(&fake.lock);
	text = json_dumps(json_array_get(fake.requests, i), JSON_COMPACT | JSON_SORT_KEYS);
	pthread_mutex_unlock(&fake.lock);
	if (text == NULL)
		fail_msg("no request %zu (of %zu)", i, fake_count());
	return text;
}

static void
assert_request(size_t i, const char *want)
{
	char *got = fake_request(i);

	if (strcmp(got, want) != 0)
		fail_msg("request %zu: %s, expected %s", i, got, want);
	free(got);
}

/* ---- the engine ---------------------------------------------------------- */

static const char trio_conf[] =
    "[cluster]\n"
    "name = trio\n"
    "mode = ha+dr\n"
    "state_dir = %s\n"
    "[node primary]\n"
    "channel = 203.0.113.1/30, 203.0.113.9/30\n"
    "public = eth0 192.0.2.10/24\n"
    "management = 198.51.100.11/24\n"
    "[node secondary]\n"
    "channel = 203.0.113.2/30\n"
    "public = eth0 192.0.2.10/24\n"
    "management = 198.51.100.12/24\n"
    "[node tertiary]\n"
    "channel = 203.0.113.10/30\n"
    "public = eth0 198.18.0.10/24\n"
    "management = 198.51.100.13/24\n"
    "[replication]\n"
    "mode = fsync\n"
    "[protect]\n"
    "data = /var/lib/app\n";

struct fixture {
	char               *dir;
	struct engine       e;
	struct replication *rp;
};

static struct fixture *current;

/* The engine of node self, role and state set, watching the fake. */
static struct fixture *
fixture_new(enum node_id self, enum role role, uint64_t epoch, int active)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	char *text, err[512];

	log_init(LOG_TO_STDERR, 0, "test_replication");
	signal(SIGPIPE, SIG_IGN);
	setenv("LIFELINE_REPL", "/nonexistent/lifeline-repl", 1);
	f->dir = tmpdir();
	text = xasprintf(trio_conf, f->dir);
	f->e.conf = config_parse_string(text, "test.conf", err, sizeof(err));
	if (f->e.conf == NULL)
		fail_msg("test configuration refused: %s", err);
	free(text);
	f->e.conf_path = "/nonexistent/test.conf";
	f->e.self = self;
	f->e.role = role;
	f->e.state.epoch = epoch;
	f->e.state.active = active;
	f->e.base = event_base_new();
	fake.requests = json_array();
	fake_set_status("{\"mode\":\"fsync\",\"state\":\"in-sync\",\"role\":null}");
	fake_refuse(NULL);
	fake_start(f->dir);
	f->rp = replication_new(&f->e, false);
	current = f;
	return f;
}

static void
fixture_free(struct fixture *f)
{
	replication_free(f->rp, false);
	fake_stop();
	json_decref(fake.requests);
	json_decref(fake.status);
	fake.requests = fake.status = NULL;
	event_base_free(f->e.base);
	config_free(f->e.conf);
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

/* Run the loop in 20 ms slices until cond(f), at most ms; every slice a follow() as the tick does. */
static bool
run_until(struct fixture *f, bool (*cond)(struct fixture *), int ms)
{
	struct timeval slice = { 0, 20 * 1000 };
	uint64_t deadline = now_mono_ms() + (uint64_t)ms;

	while (!cond(f)) {
		if (now_mono_ms() >= deadline)
			return false;
		replication_follow(f->rp, true);
		event_base_loopexit(f->e.base, &slice);
		event_base_dispatch(f->e.base);
	}
	return true;
}

static bool
never(struct fixture *f)
{
	return false;
}

static size_t want_requests;

static bool
enough_requests(struct fixture *f)
{
	return fake_count() >= want_requests;
}

/* ---- cases --------------------------------------------------------------- */

/*
 * A passive is told its place in the chain of the active, once; a new
 * epoch is told again. In a trio with the primary active, the secondary
 * receives from the primary and relays to the tertiary.
 */
static void
test_passive_told_once(void **state)
{
	struct fixture *f = fixture_new(NODE_SECONDARY, ROLE_PASSIVE, 3, NODE_PRIMARY);

	want_requests = 1;
	assert_true(run_until(f, enough_requests, 3000));
	assert_request(0, "{\"active\":\"primary\",\"cmd\":\"role\",\"downstream\":[\"tertiary\"],"
	    "\"epoch\":3,\"role\":\"passive\",\"upstream\":\"primary\"}");
	run_until(f, never, 500);
	assert_int_equal(fake_count(), 1);

	/* A new epoch, the same active: told again. */
	f->e.state.epoch = 4;
	want_requests = 2;
	assert_true(run_until(f, enough_requests, 3000));
	assert_request(1, "{\"active\":\"primary\",\"cmd\":\"role\",\"downstream\":[\"tertiary\"],"
	    "\"epoch\":4,\"role\":\"passive\",\"upstream\":\"primary\"}");
	/* With the applications still stopping, nothing is sent. */
	f->e.state.epoch = 5;
	for (int i = 0; i < 25; i++) {
		struct timeval slice = { 0, 20 * 1000 };

		replication_follow(f->rp, false);
		event_base_loopexit(f->e.base, &slice);
		event_base_dispatch(f->e.base);
	}
	assert_int_equal(fake_count(), 2);
}

/* The place in the chain of each node, for each active. */
static void
test_chain_places(void **state)
{
	static const struct {
		enum node_id self;
		int          active;
		const char  *request;
	} rows[] = {
		{ NODE_TERTIARY, NODE_PRIMARY, "{\"active\":\"primary\",\"cmd\":\"role\",\"downstream\":[],"
		    "\"epoch\":2,\"role\":\"passive\",\"upstream\":\"secondary\"}" },
		{ NODE_SECONDARY, NODE_TERTIARY, "{\"active\":\"tertiary\",\"cmd\":\"role\","
		    "\"downstream\":[],\"epoch\":2,\"role\":\"passive\",\"upstream\":\"primary\"}" },
		{ NODE_PRIMARY, NODE_TERTIARY, "{\"active\":\"tertiary\",\"cmd\":\"role\","
		    "\"downstream\":[\"secondary\"],\"epoch\":2,\"role\":\"passive\","
		    "\"upstream\":\"tertiary\"}" },
		/* No active known: no upstream, nothing to relay. */
		{ NODE_PRIMARY, -1, "{\"active\":null,\"cmd\":\"role\",\"downstream\":[],\"epoch\":2,"
		    "\"role\":\"passive\",\"upstream\":null}" },
	};

	for (size_t i = 0; i < nitems(rows); i++) {
		struct fixture *f = fixture_new(rows[i].self, ROLE_PASSIVE, 2, rows[i].active);

		want_requests = 1;
		if (!run_until(f, enough_requests, 3000))
			fail_msg("row %zu: nothing told", i);
		assert_request(0, rows[i].request);
		fixture_free(f);
	}
}

static int ready_calls;
static bool ready_ok;
static char ready_why[256];

static void
on_ready(void *arg, bool ok, const char *why)
{
	ready_calls++;
	ready_ok = ok;
	snprintf(ready_why, sizeof(ready_why), "%s", why ? why : "");
}

static bool
readied(struct fixture *f)
{
	return ready_calls > 0;
}

static bool
readied_ok(struct fixture *f)
{
	return ready_calls > 0 && ready_ok;
}

/*
 * The active asks for its capture in its epoch and is told when it may
 * serve (again when lifeline-repl is first heard: the header allows done
 * more than once, each time with ok). follow() never tells an active
 * passive.
 */
static void
test_activate(void **state)
{
	struct fixture *f = fixture_new(NODE_PRIMARY, ROLE_ACTIVE, 6, NODE_PRIMARY);

	ready_calls = 0;
	replication_activate(f->rp, on_ready, &ready_calls);
	assert_true(run_until(f, readied, 3000));
	assert_true(ready_ok);
	run_until(f, never, 500);
	assert_true(ready_ok);
	assert_in_range(fake_count(), 1, 2);
	for (size_t i = 0; i < fake_count(); i++)
		assert_request(i, "{\"active\":\"primary\",\"cmd\":\"role\","
		    "\"downstream\":[\"secondary\"],\"epoch\":6,\"role\":\"active\"}");
}

/*
 * A capture refused: done(false, why) with lifeline-repl's reason, said in
 * the status, and asked again a second later; done(true) when it works.
 */
static void
test_activate_refused_then_retried(void **state)
{
	struct fixture *f = fixture_new(NODE_PRIMARY, ROLE_ACTIVE, 6, NODE_PRIMARY);
	json_t *st;

	fake_refuse("role");
	ready_calls = 0;
	replication_activate(f->rp, on_ready, &ready_calls);
	assert_true(run_until(f, readied, 3000));
	assert_false(ready_ok);
	assert_string_equal(ready_why, "fake refuses role");
	st = replication_json(f->rp);
	assert_string_equal(json_string_value(json_object_get(st, "engine_error")),
	    "cannot capture: fake refuses role");
	json_decref(st);

	fake_refuse(NULL);
	assert_true(run_until(f, readied_ok, 4000));
	assert_true(fake_count() >= 2);
	st = replication_json(f->rp);
	assert_null(json_object_get(st, "engine_error"));
	json_decref(st);
}

static void
test_drain(void **state)
{
	struct fixture *f = fixture_new(NODE_SECONDARY, ROLE_ACTIVE, 8, NODE_SECONDARY);

	ready_calls = 0;
	replication_drain(f->rp, 2000, on_ready, &ready_calls);
	assert_true(run_until(f, readied, 3000));
	assert_true(ready_ok);
	assert_request(0, "{\"cmd\":\"drain\",\"downstream\":[\"primary\"],\"timeout_ms\":2000}");

	fake_refuse("drain");
	ready_calls = 0;
	replication_drain(f->rp, 2000, on_ready, &ready_calls);
	assert_true(run_until(f, readied, 3000));
	assert_false(ready_ok);
	assert_string_equal(ready_why, "fake refuses drain");
}

static void
test_reload(void **state)
{
	struct fixture *f = fixture_new(NODE_PRIMARY, ROLE_PASSIVE, 1, NODE_PRIMARY);

	ready_calls = 0;
	replication_reload(f->rp, on_ready, &ready_calls);
	assert_true(run_until(f, readied, 3000));
	assert_true(ready_ok);
	fake_refuse("reload");
	ready_calls = 0;
	replication_reload(f->rp, on_ready, &ready_calls);
	assert_true(run_until(f, readied, 3000));
	assert_false(ready_ok);
	assert_string_equal(ready_why, "fake refuses reload");
}

static uint64_t check_id;
static char check_why[256];

static void
on_check(void *arg, uint64_t id, const char *why)
{
	check_id = id;
	snprintf(check_why, sizeof(check_why), "%s", why ? why : "");
	(*(int *)arg)++;
}

static int check_calls;

static bool
checked(struct fixture *f)
{
	return check_calls > 0;
}

static void
test_check(void **state)
{
	struct fixture *f = fixture_new(NODE_PRIMARY, ROLE_PASSIVE, 1, NODE_PRIMARY);

	want_requests = 1;                   /* told passive first: then only checks go */
	assert_true(run_until(f, enough_requests, 3000));
	check_calls = 0;
	replication_check(f->rp, true, false, on_check, &check_calls);
	assert_true(run_until(f, checked, 3000));
	assert_int_equal(check_id, 42);
	assert_string_equal(check_why, "");
	fake_refuse("check");
	check_calls = 0;
	replication_check(f->rp, false, false, on_check, &check_calls);
	assert_true(run_until(f, checked, 3000));
	assert_int_equal(check_id, 0);
	assert_string_equal(check_why, "fake refuses check");
	/* The requests: a full check, then a targeted one. */
	assert_request(fake_count() - 2, "{\"cmd\":\"check\",\"full\":true}");
	assert_request(fake_count() - 1, "{\"cmd\":\"check\",\"full\":false}");
}

static enum replication_view view_want;

static bool
view_is(struct fixture *f)
{
	return replication_view(f->rp) == view_want;
}

/*
 * A passive's view of its copy, from lifeline-repl's status once it was
 * told passive: in sync, disconnected from the active, behind.
 */
static void
test_view(void **state)
{
	static const struct {
		const char *status;
		enum replication_view view;
	} rows[] = {
		{ "{\"role\":\"passive\",\"state\":\"in-sync\"}", REPL_VIEW_IN_SYNC },
		{ "{\"role\":\"passive\",\"state\":\"disconnected\"}", REPL_VIEW_DISCONNECTED },
		{ "{\"role\":\"passive\",\"state\":\"syncing\"}", REPL_VIEW_BEHIND },
		{ "{\"role\":\"passive\",\"state\":\"out-of-sync\"}", REPL_VIEW_BEHIND },
		/* Still active in its last status: not known yet. */
		{ "{\"role\":\"active\",\"state\":\"in-sync\"}", REPL_VIEW_UNKNOWN },
	};
	struct fixture *f = fixture_new(NODE_SECONDARY, ROLE_PASSIVE, 3, NODE_PRIMARY);

	want_requests = 1;
	assert_true(run_until(f, enough_requests, 3000));
	for (size_t i = 0; i < nitems(rows); i++) {
		fake_set_status(rows[i].status);
		view_want = rows[i].view;
		if (!run_until(f, view_is, 2000))
			fail_msg("row %zu: view %d, expected %d", i, replication_view(f->rp),
			    rows[i].view);
	}
	/* lifeline-repl gone: disconnected. */
	fake_stop();
	view_want = REPL_VIEW_DISCONNECTED;
	assert_true(run_until(f, view_is, 4000));
}

/* The status object: lifeline-repl's, with the engine's configured mode. */
static void
test_json(void **state)
{
	struct fixture *f = fixture_new(NODE_PRIMARY, ROLE_PASSIVE, 1, NODE_PRIMARY);
	json_t *st;

	fake_set_status("{\"mode\":\"async\",\"state\":\"in-sync\",\"role\":\"passive\","
	    "\"last_seq\":12,\"acked_seq\":11}");
	want_requests = 1;
	assert_true(run_until(f, enough_requests, 3000));
	run_until(f, never, 600);            /* a status poll or two */
	st = replication_json(f->rp);
	assert_string_equal(json_string_value(json_object_get(st, "state")), "in-sync");
	assert_int_equal(json_integer_value(json_object_get(st, "last_seq")), 12);
	assert_int_equal(json_integer_value(json_object_get(st, "acked_seq")), 11);
	/* The configuration's mode: a reload it took may be newer than its status. */
	assert_string_equal(json_string_value(json_object_get(st, "mode")), "fsync");
	json_decref(st);

	fake_stop();
	run_until(f, never, 2600);           /* REPLICA_SILENT_MS and a poll */
	st = replication_json(f->rp);
	assert_string_equal(json_string_value(json_object_get(st, "state")), "disconnected");
	assert_true(json_is_string(json_object_get(st, "error")));
	json_decref(st);
}

static int deaths;
static char death_why[400];

static void
on_death(struct engine *e, const char *why)
{
	deaths++;
	snprintf(death_why, sizeof(death_why), "%s", why);
}

static bool
died(struct fixture *f)
{
	return deaths > 0;
}

/* lifeline-repl lost on the active: the engine hears of it with a reason. */
static void
test_death_on_active(void **state)
{
	struct fixture *f = fixture_new(NODE_PRIMARY, ROLE_ACTIVE, 2, NODE_PRIMARY);

	deaths = 0;
	replication_on_death(f->rp, on_death);
	ready_calls = 0;
	replication_activate(f->rp, on_ready, &ready_calls);
	assert_true(run_until(f, readied, 3000));
	fake_stop();
	assert_true(run_until(f, died, 5000));
	assert_int_equal(deaths, 1);
	assert_true(death_why[0] != '\0');
}

/* ... and not on a passive, which has nothing to hand over. */
static void
test_no_death_on_passive(void **state)
{
	struct fixture *f = fixture_new(NODE_SECONDARY, ROLE_PASSIVE, 2, NODE_PRIMARY);

	deaths = 0;
	replication_on_death(f->rp, on_death);
	want_requests = 1;
	assert_true(run_until(f, enough_requests, 3000));
	fake_stop();
	assert_false(run_until(f, died, 3000));
}

/*
 * A lifeline-repl that outlived the engine, runs another configuration
 * and captures nothing, is asked to stop (to be started anew with this
 * one).
 */
static void
test_stale_config_restarted(void **state)
{
	struct fixture *f;
	bool stopped = false;

	f = fixture_new(NODE_SECONDARY, ROLE_PASSIVE, 2, NODE_PRIMARY);
	fake_set_status("{\"state\":\"in-sync\",\"role\":\"passive\",\"config_hash\":\"00ff\","
	    "\"mounts\":[]}");
	/* The fixture's first status may have been polled already: restart the watch. */
	replication_free(f->rp, false);
	json_decref(fake.requests);
	fake.requests = json_array();
	f->rp = replication_new(&f->e, false);
	want_requests = 1;
	assert_true(run_until(f, enough_requests, 3000));
	for (size_t i = 0; i < fake_count(); i++) {
		char *r = fake_request(i);

		stopped |= strcmp(r, "{\"cmd\":\"stop\"}") == 0;
		free(r);
	}
	assert_true(stopped);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_passive_told_once, cleanup),
		cmocka_unit_test_teardown(test_chain_places, cleanup),
		cmocka_unit_test_teardown(test_activate, cleanup),
		cmocka_unit_test_teardown(test_activate_refused_then_retried, cleanup),
		cmocka_unit_test_teardown(test_drain, cleanup),
		cmocka_unit_test_teardown(test_reload, cleanup),
		cmocka_unit_test_teardown(test_check, cleanup),
		cmocka_unit_test_teardown(test_view, cleanup),
		cmocka_unit_test_teardown(test_json, cleanup),
		cmocka_unit_test_teardown(test_death_on_active, cleanup),
		cmocka_unit_test_teardown(test_no_death_on_passive, cleanup),
		cmocka_unit_test_teardown(test_stale_config_restarted, cleanup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

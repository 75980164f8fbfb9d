/*
 * Unit tests of cli/commands: the command table's usage text and mdoc
 * list, bad usage (exit 2 and a message naming what was wrong and what is
 * expected), and the commands that talk to the engine against a fake one
 * in a thread on --socket: the request each sends, what each prints, and
 * the engine's refusals passed on (exit 1). `lifeline events` reads a
 * scratch state_dir. Engine start and lab are not run here (they start
 * processes; the scenarios cover them). Every wait is bounded.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli/commands.h"
#include "common/ctl.h"
#include "common/util.h"
#include "helpers/captured.h"
#include "helpers/line_server.h"
#include "helpers/tmpdir.h"

/* ---- running a command --------------------------------------------------- */

static int
dispatch(void *ctx, int argc, char **argv)
{
	return cli_dispatch(ctx, argc, argv);
}

/* Run `lifeline ARGS` (NULL-terminated) with ctx, capturing stdout and stderr. */
static void
run_cli(struct cli_ctx *ctx, struct output *o, ...)
{
	char *argv[16];
	int argc = 0;
	va_list ap;

	va_start(ap, o);
	while (argc < 15 && (argv[argc] = va_arg(ap, char *)) != NULL)
		argc++;
	va_end(ap);
	argv[argc] = NULL;
	run_captured(o, dispatch, ctx, argc, argv);
}

/* ---- the fake engine ----------------------------------------------------- */

static struct {
	char            *dir, *path;
	struct line_server *server;
	pthread_mutex_t  lock;
	const char      *answers[8][2];   /* {cmd, answer line}; answer for others: an error */
	json_t          *requests;        /* every request received, in order */
} fake = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void
fake_reply(void *arg, int fd, const char *line)
{
	json_t *req = json_loads(line, 0, NULL);
	const char *cmd = json_string_value(json_object_get(req, "cmd")), *answer = NULL;
	char *text;

	pthread_mutex_lock(&fake.lock);
	json_array_append(fake.requests, req != NULL ? req : json_null());
	pthread_mutex_unlock(&fake.lock);
	for (size_t i = 0; cmd != NULL && i < nitems(fake.answers) && fake.answers[i][0]; i++)
		if (strcmp(fake.answers[i][0], cmd) == 0)
			answer = fake.answers[i][1];
	text = xasprintf("%s\n", answer ? answer : "{\"ok\":false,\"error\":\"fake: no answer set\"}");
	(void)!send(fd, text, strlen(text), MSG_NOSIGNAL);
	free(text);
	json_decref(req);
}

static int
setup_engine(void **state)
{
	memset(fake.answers, 0, sizeof(fake.answers));
	fake.dir = tmpdir();
	fake.path = xasprintf("%s/%s", fake.dir, CTL_SOCKET_NAME);
	fake.requests = json_array();
	fake.server = line_server_start(fake.path, fake_reply, NULL);
	assert_non_null(fake.server);
	return 0;
}

static int
teardown_engine(void **state)
{
	line_server_stop(fake.server);
	fake.server = NULL;
	json_decref(fake.requests);
	rm_rf(fake.dir);
	free(fake.dir);
	free(fake.path);
	return 0;
}

static void
answer(size_t i, const char *cmd, const char *line)
{
	fake.answers[i][0] = cmd;
	fake.answers[i][1] = line;
}

/* The i-th request the fake received, encoded compactly with sorted keys. */
static char *
request(size_t i)
{
	char *text;

	pthread_mutex_lock(&fake.lock);
	text = json_dumps(json_array_get(fake.requests, i), JSON_COMPACT | JSON_SORT_KEYS);
	pthread_mutex_unlock(&fake.lock);
	if (text == NULL)
		fail_msg("no request %zu", i);
	return text;
}

static void
assert_request(size_t i, const char *want)
{
	char *got = request(i);

	if (strcmp(got, want) != 0)
		fail_msg("request %zu: %s, expected %s", i, got, want);
	free(got);
}

/* ---- usage ---------------------------------------------------------------- */

static void
test_unknown_command(void **state)
{
	struct cli_ctx ctx = { 0 };
	struct output o;

	run_cli(&ctx, &o, "statsu", NULL);
	assert_int_equal(o.rc, 2);
	assert_string_equal(o.err, "lifeline: unknown command \"statsu\"; `lifeline help` lists them\n");
	assert_string_equal(o.out, "");
}

/* help lists every command of the table with its arguments and help. */
static void
test_help_lists_table(void **state)
{
	struct cli_ctx ctx = { 0 };
	struct output o;

	run_cli(&ctx, &o, "help", NULL);
	assert_int_equal(o.rc, 0);
	assert_true(strncmp(o.out, "usage: lifeline [-f FILE] [--socket PATH] COMMAND [ARGS]\n", 57) == 0);
	for (const struct cli_command *c = cli_commands; c->name != NULL; c++) {
		char *synopsis = xasprintf("\n  %s %s", c->name, c->args);
		const char *at = strstr(o.out, synopsis), *help;

		if (at == NULL)
			fail_msg("help has no line for %s", c->name);
		help = at + strlen(synopsis);
		/* On the same line, aligned at column 27, or alone on the next line there. */
		while (*help == ' ' || *help == '\n')
			help++;
		if (strncmp(help, c->help, strlen(c->help)) != 0)
			fail_msg("the help of %s does not follow its synopsis", c->name);
		free(synopsis);
	}
	/* A long synopsis is not cut: its help goes on the next line. */
	assert_non_null(strstr(o.out, "  engine stop [--cluster] --leave-apps-running|--stop-apps | "
	    "start [--cluster]\n                           stop the engine here"));
	assert_non_null(strstr(o.out, "  status [--json]          show this node"));
	assert_non_null(strstr(o.out, "\nlab subcommands (lifeline lab [--dir DIR] SUBCOMMAND):\n"));
}

static void
test_help_mdoc(void **state)
{
	struct cli_ctx ctx = { 0 };
	struct output o;

	run_cli(&ctx, &o, "help", "--mdoc", NULL);
	assert_int_equal(o.rc, 0);
	assert_non_null(strstr(o.out, ".It Cm status Ar [--json]\n"
	    "Show this node and the cluster as this node sees it.\n"));
	/* No arguments: no Ar. */
	assert_non_null(strstr(o.out, ".It Cm reload\nMake the engine re-read"));
	assert_non_null(strstr(o.out, ".It Cm version\nPrint the version.\n"));
	assert_non_null(strstr(o.out, ".\\\" next\n"));
}

static void
test_version(void **state)
{
	struct cli_ctx ctx = { 0 };
	struct output o;

	run_cli(&ctx, &o, "version", NULL);
	assert_int_equal(o.rc, 0);
	assert_true(strncmp(o.out, "lifeline ", 9) == 0);
	assert_non_null(strchr(o.out + 9, '.'));
}

/* Bad usage: exit 2, one line naming what was wrong and what is expected, no engine asked. */
static void
test_bad_usage(void **state)
{
	static const struct {
		const char *args[5];
		const char *err;
	} rows[] = {
		{ { "status", "--jsn" }, "lifeline status: unknown argument \"--jsn\", expected --json\n" },
		{ { "switchover", "--to" }, "lifeline switchover: unexpected \"--to\", expected --to NODE "
		    "or --wait\n" },
		{ { "switchover", "--to", "quaternary" }, "lifeline switchover: unknown node "
		    "\"quaternary\", expected primary, secondary or tertiary\n" },
		{ { "switchover", "now" }, "lifeline switchover: unexpected \"now\"" },
		{ { "check", "--fast" }, "lifeline check: unexpected \"--fast\", expected --full, "
		    "--rehash or --wait\n" },
		{ { "reload", "now" }, "lifeline reload: takes no arguments\n" },
		{ { "make-active" }, "lifeline make-active: needs --force: it overrides the automatic "
		    "failover rules; use it only when the active site is lost\n" },
		{ { "make-active", "--force", "--now" }, "lifeline make-active: needs --force" },
		{ { "events", "--tail" }, "lifeline events: unknown argument \"--tail\", expected "
		    "--follow or --json\n" },
		{ { "engine" }, "lifeline engine: expected stop or start\n" },
		{ { "engine", "restart" }, "lifeline engine: expected stop or start\n" },
		{ { "engine", "stop" }, "lifeline engine stop: say what becomes of the applications: "
		    "--leave-apps-running or --stop-apps\n" },
		{ { "engine", "stop", "--stop-apps", "--leave-apps-running" }, "lifeline engine stop: "
		    "unexpected \"--leave-apps-running\", expected --cluster and one of "
		    "--leave-apps-running or --stop-apps\n" },
		{ { "engine", "start", "--all" }, "lifeline engine start: unexpected \"--all\", "
		    "expected nothing or --cluster\n" },
		{ { "help", "me" }, "lifeline help: unknown argument \"me\"\n" },
	};
	/* A socket nobody listens on: a command that asked the engine would fail with 1. */
	struct cli_ctx ctx = { .socket = "/nonexistent-lifeline/lifelined.sock" };

	for (size_t i = 0; i < nitems(rows); i++) {
		struct output o;

		run_cli(&ctx, &o, rows[i].args[0], rows[i].args[1], rows[i].args[2], rows[i].args[3],
		    rows[i].args[4], NULL);
		if (o.rc != 2)
			fail_msg("row %zu (%s): exit %d, expected 2; stderr \"%s\"", i, rows[i].args[0],
			    o.rc, o.err);
		if (strncmp(o.err, rows[i].err, strlen(rows[i].err)) != 0)
			fail_msg("row %zu: stderr \"%s\", expected \"%s\"", i, o.err, rows[i].err);
		assert_string_equal(o.out, "");
	}
}

/* No engine on the socket: exit 1 and where it looked. */
static void
test_no_engine(void **state)
{
	struct cli_ctx ctx = { .socket = "/nonexistent-lifeline/lifelined.sock" };
	struct output o;

	run_cli(&ctx, &o, "status", NULL);
	assert_int_equal(o.rc, 1);
	assert_string_equal(o.err, "lifeline: cannot reach the engine at "
	    "/nonexistent-lifeline/lifelined.sock: No such file or directory (is lifelined running?)\n");
	assert_string_equal(o.out, "");
}

/* ---- against the fake engine --------------------------------------------- */

static const char status_answer[] =
    "{\"ok\":true,\"status\":{\"cluster\":\"demo\",\"mode\":\"ha\",\"epoch\":7,"
    "\"config_hash\":\"9f2c0123456789abcdef\",\"self\":\"secondary\",\"role\":\"passive\","
    "\"waiting\":\"met no peer since start\","
    "\"nodes\":[{\"identity\":\"primary\",\"role\":\"active\",\"reachable\":true,"
    "\"channels\":[{\"peer\":\"secondary\",\"local\":\"203.0.113.2\",\"remote\":\"203.0.113.1\","
    "\"up\":true,\"rtt_ms\":0.214},{\"peer\":\"secondary\",\"local\":\"203.0.113.6\","
    "\"remote\":\"203.0.113.5\",\"up\":false,\"rtt_ms\":null}]},"
    "{\"identity\":\"secondary\",\"role\":\"passive\",\"reachable\":true,\"channels\":[]}],"
    "\"public\":{\"ip\":\"192.0.2.10\",\"interface\":\"eth0\",\"configured\":false,\"filtered\":true},"
    "\"replication\":{\"mode\":\"async\",\"state\":\"in-sync\",\"queue_bytes\":0,"
    "\"last_seq\":1234,\"acked_seq\":1230},"
    "\"services\":[{\"name\":\"app\",\"state\":\"stopped\",\"pid\":null},"
    "{\"name\":\"web\",\"state\":\"running\",\"pid\":4242}]}}";

static void
test_status_text(void **state)
{
	struct cli_ctx ctx = { .socket = fake.path };
	struct output o;

	answer(0, "status", status_answer);
	run_cli(&ctx, &o, "status", NULL);
	assert_int_equal(o.rc, 0);
	assert_string_equal(o.err, "");
	assert_string_equal(o.out,
	    "cluster demo, mode ha, epoch 7, configuration 9f2c01234567\n"
	    "this node: secondary, passive\n"
	    "  waiting: met no peer since start\n"
	    "nodes:\n"
	    "  primary    active   reachable\n"
	    "    channel 203.0.113.2 -> 203.0.113.1 up, rtt 0.21 ms\n"
	    "    channel 203.0.113.6 -> 203.0.113.5 down\n"
	    "  secondary  passive  reachable\n"
	    "public: 192.0.2.10 on eth0, not configured, filtered\n"
	    "replication: async, in-sync, queue 0 bytes, last seq 1234, acked seq 1230\n"
	    "services:\n"
	    "  app              stopped\n"
	    "  web              running, pid 4242\n");
	assert_request(0, "{\"cmd\":\"status\"}");
}

/* --json prints the status object itself, as the engine sent it. */
static void
test_status_json(void **state)
{
	struct cli_ctx ctx = { .socket = fake.path };
	json_t *want = json_loads(status_answer, 0, NULL), *got;
	struct output o;

	answer(0, "status", status_answer);
	run_cli(&ctx, &o, "status", "--json", NULL);
	assert_int_equal(o.rc, 0);
	got = json_loads(o.out, 0, NULL);
	assert_non_null(got);
	assert_true(json_equal(got, json_object_get(want, "status")));
	/* Keys in the engine's order, indented for people. */
	assert_true(strncmp(o.out, "{\n  \"cluster\": \"demo\",\n  \"mode\": \"ha\",", 38) == 0);
	json_decref(got);
	json_decref(want);
}

/* The engine's refusal is printed as it gave it, and the exit is 1. */
static void
test_refusals_passed_on(void **state)
{
	struct cli_ctx ctx = { .socket = fake.path };
	struct output o;

	answer(0, "reload", "{\"ok\":false,\"error\":\"/etc/lifeline/lifeline.conf:3: mode \\\"trio\\\" "
	    "is unknown, expected ha, dr or ha+dr\"}");
	answer(1, "make-active", "{\"ok\":false}");
	run_cli(&ctx, &o, "reload", NULL);
	assert_int_equal(o.rc, 1);
	assert_string_equal(o.err, "lifeline: /etc/lifeline/lifeline.conf:3: mode \"trio\" is unknown, "
	    "expected ha, dr or ha+dr\n");
	assert_string_equal(o.out, "");
	run_cli(&ctx, &o, "make-active", "--force", NULL);
	assert_int_equal(o.rc, 1);
	assert_string_equal(o.err, "lifeline: the engine refused without a reason\n");
	/* No answer set for switchover: the fake's error. */
	run_cli(&ctx, &o, "switchover", NULL);
	assert_int_equal(o.rc, 1);
	assert_string_equal(o.err, "lifeline: fake: no answer set\n");
}

/* Each command's request, and the line it prints from the answer. */
static void
test_requests_and_output(void **state)
{
	static const struct {
		const char *args[5];
		const char *request;     /* sorted keys */
		const char *out;
	} rows[] = {
		{ { "reload" }, "{\"cmd\":\"reload\"}", "running configuration 0123456789ab\n" },
		{ { "make-active", "--force" }, "{\"cmd\":\"make-active\",\"force\":true}",
		    "this node is active in epoch 8\n" },
		{ { "switchover" }, "{\"cmd\":\"switchover\"}", "switchover to primary started\n" },
		{ { "switchover", "--to", "tertiary" }, "{\"cmd\":\"switchover\",\"to\":\"tertiary\"}",
		    "switchover to primary started\n" },
		{ { "check" }, "{\"cmd\":\"check\",\"full\":false}", "targeted check 12 started\n" },
		{ { "check", "--full" }, "{\"cmd\":\"check\",\"full\":true}", "full check 12 started\n" },
		{ { "engine", "stop", "--stop-apps" },
		    "{\"apps\":\"stop\",\"cluster\":false,\"cmd\":\"stop\"}",
		    "engine stopping, applications stopped\n" },
		{ { "engine", "stop", "--cluster", "--leave-apps-running" },
		    "{\"apps\":\"leave\",\"cluster\":true,\"cmd\":\"stop\"}",
		    "engine stopping here and on 2 other node(s), applications left running\n" },
	};
	struct cli_ctx ctx = { .socket = fake.path };

	answer(0, "reload", "{\"ok\":true,\"config_hash\":\"0123456789abcdef\"}");
	answer(1, "make-active", "{\"ok\":true,\"epoch\":8}");
	answer(2, "switchover", "{\"ok\":true,\"target\":\"primary\",\"reply_seq\":0}");
	answer(3, "check", "{\"ok\":true,\"id\":12}");
	answer(4, "stop", "{\"ok\":true,\"peers\":2}");
	for (size_t i = 0; i < nitems(rows); i++) {
		struct output o;

		run_cli(&ctx, &o, rows[i].args[0], rows[i].args[1], rows[i].args[2], rows[i].args[3],
		    rows[i].args[4], NULL);
		if (o.rc != 0)
			fail_msg("row %zu: exit %d: %s", i, o.rc, o.err);
		assert_request(i, rows[i].request);
		if (strcmp(o.out, rows[i].out) != 0)
			fail_msg("row %zu: printed \"%s\", expected \"%s\"", i, o.out, rows[i].out);
	}
}

/* switchover --wait: a refusal by the active, seen in the status, ends it with 1. */
static void
test_switchover_wait_refused(void **state)
{
	struct cli_ctx ctx = { .socket = fake.path };
	struct output o;

	answer(0, "switchover", "{\"ok\":true,\"target\":\"secondary\",\"reply_seq\":4}");
	answer(1, "status", "{\"ok\":true,\"status\":{\"self\":\"secondary\",\"epoch\":7,"
	    "\"nodes\":[],\"services\":[],\"switchover_reply\":{\"seq\":5,\"started\":false,"
	    "\"target\":\"secondary\",\"reason\":\"secondary is not in sync\"}}}");
	run_cli(&ctx, &o, "switchover", "--wait", NULL);
	assert_int_equal(o.rc, 1);
	assert_string_equal(o.out, "switchover to secondary started\n");
	assert_string_equal(o.err, "lifeline: switchover refused by the active: secondary is not in sync\n");
}

/* switchover --wait returns once the target is active and heard. */
static void
test_switchover_wait_served(void **state)
{
	struct cli_ctx ctx = { .socket = fake.path };
	struct output o;

	answer(0, "switchover", "{\"ok\":true,\"target\":\"primary\",\"reply_seq\":0}");
	answer(1, "status", "{\"ok\":true,\"status\":{\"self\":\"secondary\",\"epoch\":9,"
	    "\"nodes\":[{\"identity\":\"primary\",\"role\":\"active\",\"reachable\":true}],"
	    "\"services\":[],\"switchover_reply\":null}}");
	run_cli(&ctx, &o, "switchover", "--to", "primary", "--wait", NULL);
	assert_int_equal(o.rc, 0);
	assert_string_equal(o.out, "switchover to primary started\nprimary is active in epoch 9\n");
}

/*
 * check --wait: the engine answers check_wait when this check's id ended
 * (a still-running answer is asked again); exit 0 only when in sync.
 */
static void
test_check_wait(void **state)
{
	struct cli_ctx ctx = { .socket = fake.path };
	struct output o;

	answer(0, "check", "{\"ok\":true,\"id\":3}");
	answer(1, "check_wait", "{\"ok\":true,\"check\":{\"id\":3,\"state\":\"running\"}}");
	answer(2, "check_wait", "{\"ok\":true,\"check\":{\"id\":3,"
	    "\"state\":\"done\",\"result\":\"repaired\",\"entries\":10,\"bytes\":4096,\"wants\":2,"
	    "\"repairs\":2,\"ms\":15}}");
	run_cli(&ctx, &o, "check", "--wait", NULL);
	assert_int_equal(o.rc, 1);
	assert_string_equal(o.out, "targeted check 3 started\n"
	    "check repaired: 10 entries, 4096 bytes hashed, 2 wants, 2 repairs, 15 ms\n");
	assert_request(1, "{\"cmd\":\"check_wait\",\"id\":3,\"timeout_ms\":5000}");
}

/* check --full --rehash --wait against an engine without check_wait: the status is polled. */
static void
test_check_wait_old_engine(void **state)
{
	struct cli_ctx ctx = { .socket = fake.path };
	struct output o;

	answer(0, "check", "{\"ok\":true,\"id\":4}");
	answer(1, "check_wait", "{\"ok\":false,\"error\":\"unknown command \\\"check_wait\\\", "
	    "this engine knows: status\"}");
	answer(2, "status", "{\"ok\":true,\"status\":{\"replication\":{\"check\":{\"id\":4,"
	    "\"state\":\"done\",\"result\":\"in-sync: 0 wants answered\",\"entries\":10,"
	    "\"bytes\":0,\"wants\":0,\"repairs\":0,\"ms\":15}}}}");
	run_cli(&ctx, &o, "check", "--full", "--rehash", "--wait", NULL);
	assert_int_equal(o.rc, 0);
	assert_string_equal(o.out, "full check 4 started, reading every file\n"
	    "check in-sync: 0 wants answered: 10 entries, 0 bytes hashed, 0 wants, 0 repairs, 15 ms\n");
	assert_string_equal(o.err, "");
	assert_request(0, "{\"cmd\":\"check\",\"full\":true,\"rehash\":true}");
}

/* ---- events --------------------------------------------------------------- */

static void
test_events(void **state)
{
	char *dir = tmpdir(), *conf = xasprintf("%s/lifeline.conf", dir), *text;
	char *events = xasprintf("%s/events.jsonl", dir);
	static const char lines[] =
	    "{\"time\":\"2026-01-02T03:04:05.678Z\",\"node\":\"primary\",\"level\":\"info\","
	    "\"epoch\":1,\"kind\":\"role\",\"message\":\"active in epoch 1\"}\n"
	    "garbage line\n"
	    "\n"
	    "{\"time\":\"2026-01-02T03:04:06.000Z\",\"node\":\"primary\",\"level\":\"warning\","
	    "\"epoch\":2,\"kind\":\"refusal\",\"message\":\"switchover refused: x\"}\n";
	struct cli_ctx ctx = { .conf_path = conf };
	struct output o;

	text = xasprintf("[cluster]\nstate_dir = %s\n", dir);
	assert_int_equal(write_file_atomic(conf, text, strlen(text), 0644), 0);
	free(text);

	/* No event file yet: said, exit 1. */
	run_cli(&ctx, &o, "events", NULL);
	assert_int_equal(o.rc, 1);
	text = xasprintf("lifeline events: cannot read %s: No such file or directory\n", events);
	assert_string_equal(o.err, text);
	free(text);

	assert_int_equal(write_file_atomic(events, lines, strlen(lines), 0600), 0);
	run_cli(&ctx, &o, "events", NULL);
	assert_int_equal(o.rc, 0);
	assert_string_equal(o.out,
	    "2026-01-02T03:04:05.678Z primary   role     [epoch 1] active in epoch 1\n"
	    "(unreadable event line: garbage line)\n"
	    "2026-01-02T03:04:06.000Z primary   refusal  [epoch 2] switchover refused: x\n");

	/* --json: the lines as they are, empty ones left out. */
	run_cli(&ctx, &o, "events", "--json", NULL);
	assert_int_equal(o.rc, 0);
	assert_string_equal(o.out,
	    "{\"time\":\"2026-01-02T03:04:05.678Z\",\"node\":\"primary\",\"level\":\"info\","
	    "\"epoch\":1,\"kind\":\"role\",\"message\":\"active in epoch 1\"}\n"
	    "garbage line\n"
	    "{\"time\":\"2026-01-02T03:04:06.000Z\",\"node\":\"primary\",\"level\":\"warning\","
	    "\"epoch\":2,\"kind\":\"refusal\",\"message\":\"switchover refused: x\"}\n");
	rm_rf(dir);
	free(events);
	free(conf);
	free(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unknown_command),
		cmocka_unit_test(test_help_lists_table),
		cmocka_unit_test(test_help_mdoc),
		cmocka_unit_test(test_version),
		cmocka_unit_test(test_bad_usage),
		cmocka_unit_test(test_no_engine),
		cmocka_unit_test_setup_teardown(test_status_text, setup_engine, teardown_engine),
		cmocka_unit_test_setup_teardown(test_status_json, setup_engine, teardown_engine),
		cmocka_unit_test_setup_teardown(test_refusals_passed_on, setup_engine, teardown_engine),
		cmocka_unit_test_setup_teardown(test_requests_and_output, setup_engine, teardown_engine),
		cmocka_unit_test_setup_teardown(test_switchover_wait_refused, setup_engine,
		    teardown_engine),
		cmocka_unit_test_setup_teardown(test_switchover_wait_served, setup_engine,
		    teardown_engine),
		cmocka_unit_test_setup_teardown(test_check_wait_old_engine, setup_engine,
		    teardown_engine),
		cmocka_unit_test_setup_teardown(test_check_wait, setup_engine, teardown_engine),
		cmocka_unit_test(test_events),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

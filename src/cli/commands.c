/*
 * The commands of lifeline. Each talks to the local engine through the
 * control socket (common/ctl.h) and prints its answer, as text or --json.
 * Exit codes: 0 success, 1 failure with one line on stderr, 2 bad usage.
 */
#include "cli/agentcall.h"
#include "cli/commands.h"
#include "cli/configpush.h"
#include "cli/init.h"
#include "cli/lab.h"
#include "cli/plugins.h"
#include "common/config.h"
#include "common/ctl.h"
#include "common/spawn.h"
#include "common/util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef LIFELINE_VERSION
#define LIFELINE_VERSION "0.1.0"
#endif

#define CALL_TIMEOUT_MS 10000

static int cmd_status(struct cli_ctx *, int, char **);
static int cmd_reload(struct cli_ctx *, int, char **);
static int cmd_switchover(struct cli_ctx *, int, char **);
static int cmd_init(struct cli_ctx *, int, char **);
static int cmd_events(struct cli_ctx *, int, char **);
static int cmd_make_active(struct cli_ctx *, int, char **);
static int cmd_check(struct cli_ctx *, int, char **);
static int cmd_engine(struct cli_ctx *, int, char **);
static int cmd_lab(struct cli_ctx *, int, char **);
static int cmd_plugin(struct cli_ctx *, int, char **);
static int cmd_config(struct cli_ctx *, int, char **);
static int cmd_help(struct cli_ctx *, int, char **);
static int cmd_version(struct cli_ctx *, int, char **);

const struct cli_command cli_commands[] = {
	{ "status",  "[--json]", "show this node and the cluster as this node sees it", cmd_status },
	{ "switchover", "[--to NODE] [--wait]", "hand the active role to NODE (default: the active's "
	    "HA partner); --wait returns when the new active serves", cmd_switchover },
	{ "engine",  "stop [--cluster] --leave-apps-running|--stop-apps | start [--cluster]",
	    "stop the engine here (or on every node) leaving the applications running "
	    "and unwatched, or stopping them; start it again here (or on every node, "
	    "through each node's lifeline-repl, and wait until each is heard)", cmd_engine },
	{ "check",   "[--full] [--rehash] [--wait]", "check the copies against the active node "
	    "online: the files the journal lists as touched, or with --full the whole protected "
	    "set; a file whose ctime, size, mtime and inode are what they were when a check "
	    "last read it is compared by the hashes remembered then, on each node, unread (the "
	    "memory of lifeline-repl, empty after its restart); --rehash reads every file on "
	    "every node, for a disk that may return other bytes than were written; every check "
	    "also compares each [protect] config entry, and a passive's drift is kept in its "
	    "quarantine, reported as an event and replaced by the active's copy; --wait "
	    "returns when it ended and says how", cmd_check },
	{ "make-active", "--force", "make this node active now, when the active site is lost; "
	    "refused while the active is reachable", cmd_make_active },
	{ "events",  "[--follow] [--json]", "print the event log: role changes, vetoes, refusals, "
	    "channels, with their reasons; --follow waits for more", cmd_events },
	{ "reload",  "",         "make the engine re-read its configuration; a bad file keeps the running one", cmd_reload },
	{ "config",  "push [--json]", "on the active node: send this node's configuration file to "
	  "every node, all or nothing (see CONFIGURATION PUSH); each node checks it for itself; "
	  "a node that refuses it or does not answer is named with why, and every node keeps the "
	  "configuration it runs", cmd_config },
	{ "init",    "[--force]", "create the cluster CA and a certificate for every node in tls_dir; "
	    "copy tls_dir to every node (ca.key may stay here)", cmd_init },
	{ "plugin",  "list [--json] | install PATH [KEY=VALUE ...] [--here] | uninstall NAME "
	  "[--here] | discover NAME",
	  "plug-ins: install discovers what the application running now needs protected and adds "
	  "it on every node (or none; --here: this node alone); uninstall removes exactly that",
	  cmd_plugin },
	{ "lab",     "SUBCOMMAND ...", "run a cluster of network namespaces on this machine (see LAB)", cmd_lab },
	{ "help",    "[--mdoc]", "print this help", cmd_help },
	{ "version", "",         "print the version", cmd_version },
	{ NULL, NULL, NULL, NULL },
};

void
cli_usage(FILE *out, int mdoc)
{
	if (mdoc) {
		for (const struct cli_command *c = cli_commands; c->name != NULL; c++) {
			fprintf(out, ".It Cm %s", c->name);
			if (c->args[0] != '\0')
				fprintf(out, " Ar %s", c->args);
			fprintf(out, "\n%c%s.\n", toupper((unsigned char)c->help[0]), c->help + 1);
		}
		return;
	}
	fprintf(out, "usage: lifeline [-f FILE] [--socket PATH] COMMAND [ARGS]\n\ncommands:\n");
	/* A long synopsis gets a line of its own rather than being cut. */
	for (const struct cli_command *c = cli_commands; c->name != NULL; c++) {
		int n = fprintf(out, "  %s %s", c->name, c->args);

		if (n > 26)
			fprintf(out, "\n%27s%s\n", "", c->help);
		else
			fprintf(out, "%*s%s\n", 27 - n, "", c->help);
	}
	fprintf(out, "\nlab subcommands (lifeline lab [--dir DIR] SUBCOMMAND):\n");
	lab_usage(out, 0);
}

int
cli_dispatch(struct cli_ctx *ctx, int argc, char **argv)
{
	for (const struct cli_command *c = cli_commands; c->name != NULL; c++) {
		if (strcmp(c->name, argv[0]) == 0)
			return c->fn(ctx, argc, argv);
	}
	fprintf(stderr, "lifeline: unknown command \"%s\"; `lifeline help` lists them\n", argv[0]);
	return 2;
}

/*
 * Where the engine listens: --socket, else STATE_DIR of the configuration
 * file, read leniently so that a file broken by an edit in progress does not
 * hide the running engine (which keeps its own copy).
 */
static char *
socket_path(const struct cli_ctx *ctx)
{
	char *dir, *sock;

	if (ctx->socket != NULL)
		return xstrdup(ctx->socket);
	dir = config_peek_state_dir(ctx->conf_path ? ctx->conf_path : CONFIG_DEFAULT_PATH);
	sock = xasprintf("%s/%s", dir, CTL_SOCKET_NAME);
	free(dir);
	return sock;
}

/*
 * Send req to the engine. Returns the answer when it says ok; otherwise
 * prints the reason and returns NULL.
 */
static json_t *
call_engine_req(const struct cli_ctx *ctx, json_t *req)
{
	json_t *answer;
	char err[1024], *sock;

	sock = socket_path(ctx);
	answer = ctl_call(sock, req, CALL_TIMEOUT_MS, err, sizeof(err));
	free(sock);
	if (answer == NULL) {
		fprintf(stderr, "lifeline: %s\n", err);
		return NULL;
	}
	if (!json_is_true(json_object_get(answer, "ok"))) {
		const char *why = json_string_value(json_object_get(answer, "error"));

		fprintf(stderr, "lifeline: %s\n", why ? why : "the engine refused without a reason");
		json_decref(answer);
		return NULL;
	}
	return answer;
}

/* Send {"cmd": name}; see call_engine_req. */
static json_t *
call_engine(const struct cli_ctx *ctx, const char *name)
{
	json_t *req = json_pack("{s:s}", "cmd", name), *answer;

	answer = call_engine_req(ctx, req);
	json_decref(req);
	return answer;
}

static const char *
str(json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));

	return s != NULL ? s : "?";
}

static void
print_status_text(json_t *st)
{
	json_t *nodes = json_object_get(st, "nodes"), *n, *pub, *repl, *svcs, *s;
	size_t i;

	printf("cluster %s, mode %s, epoch %lld, configuration %.12s\n",
	    str(st, "cluster"), str(st, "mode"),
	    (long long)json_integer_value(json_object_get(st, "epoch")), str(st, "config_hash"));
	printf("this node: %s, %s\n", str(st, "self"), str(st, "role"));
	if (json_is_string(json_object_get(st, "waiting")))
		printf("  waiting: %s\n", str(st, "waiting"));
	json_array_foreach(json_object_get(st, "config_mismatch"), i, n)
		printf("configuration mismatch: %s runs %s, this node %.16s; run `lifeline config "
		    "push` on the active\n", str(n, "identity"), str(n, "config_hash"),
		    str(st, "config_hash"));
	printf("nodes:\n");
	json_array_foreach(nodes, i, n) {
		json_t *chans = json_object_get(n, "channels"), *c;
		size_t j;

		printf("  %-10s %-8s %s\n", str(n, "identity"), str(n, "role"),
		    json_is_true(json_object_get(n, "reachable")) ? "reachable" : "unreachable");
		json_array_foreach(chans, j, c) {
			json_t *rtt = json_object_get(c, "rtt_ms");

			printf("    channel %s -> %s %s", str(c, "local"), str(c, "remote"),
			    json_is_true(json_object_get(c, "up")) ? "up" : "down");
			if (json_is_number(rtt))
				printf(", rtt %.2f ms", json_number_value(rtt));
			printf("\n");
		}
	}
	pub = json_object_get(st, "public");
	printf("public: %s on %s, %s, %s\n", str(pub, "ip"), str(pub, "interface"),
	    json_is_true(json_object_get(pub, "configured")) ? "configured" : "not configured",
	    json_is_true(json_object_get(pub, "filtered")) ? "filtered" : "not filtered");
	repl = json_object_get(st, "replication");
	printf("replication: %s, %s, queue %lld bytes, last seq %lld, acked seq %lld\n",
	    str(repl, "mode"), str(repl, "state"),
	    (long long)json_integer_value(json_object_get(repl, "queue_bytes")),
	    (long long)json_integer_value(json_object_get(repl, "last_seq")),
	    (long long)json_integer_value(json_object_get(repl, "acked_seq")));
	svcs = json_object_get(st, "services");
	printf("services:%s\n", json_array_size(svcs) == 0 ? " none" : "");
	json_array_foreach(svcs, i, s) {
		json_t *pid = json_object_get(s, "pid");

		printf("  %-16s %s", str(s, "name"), str(s, "state"));
		if (json_is_integer(pid))
			printf(", pid %lld", (long long)json_integer_value(pid));
		printf("\n");
	}
}

static int
cmd_status(struct cli_ctx *ctx, int argc, char **argv)
{
	int as_json = 0;
	json_t *answer;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			as_json = 1;
		else {
			fprintf(stderr, "lifeline status: unknown argument \"%s\", expected --json\n", argv[i]);
			return 2;
		}
	}
	if ((answer = call_engine(ctx, "status")) == NULL)
		return 1;
	if (as_json) {
		json_dumpf(json_object_get(answer, "status"), stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		putchar('\n');
	} else
		print_status_text(json_object_get(answer, "status"));
	json_decref(answer);
	return 0;
}

/*
 * Does target serve, as this node sees it? Its role is active in a
 * heartbeat (or here), and when it is this node, its services run.
 */
static bool
target_serves(json_t *st, const char *target)
{
	json_t *nodes = json_object_get(st, "nodes"), *n, *svcs, *s;
	size_t i;

	json_array_foreach(nodes, i, n) {
		if (strcmp(str(n, "identity"), target) != 0)
			continue;
		if (strcmp(str(n, "role"), "active") != 0 || !json_is_true(json_object_get(n, "reachable")))
			return false;
	}
	if (strcmp(str(st, "self"), target) != 0)
		return true;
	svcs = json_object_get(st, "services");
	json_array_foreach(svcs, i, s) {
		if (strcmp(str(s, "state"), "running") != 0 && strcmp(str(s, "state"), "unmanaged") != 0)
			return false;
	}
	return true;
}

#define SWITCH_WAIT_MS 60000

static int
cmd_switchover(struct cli_ctx *ctx, int argc, char **argv)
{
	const char *to = NULL;
	int wait = 0, rc = 1;
	json_t *req, *answer, *st, *reply;
	json_int_t seq0;
	char target[16];
	uint64_t deadline;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--wait") == 0)
			wait = 1;
		else if (strcmp(argv[i], "--to") == 0 && i + 1 < argc)
			to = argv[++i];
		else {
			fprintf(stderr, "lifeline switchover: unexpected \"%s\", expected --to NODE or --wait\n",
			    argv[i]);
			return 2;
		}
	}
	if (to != NULL && node_from_name(to) < 0) {
		fprintf(stderr, "lifeline switchover: unknown node \"%s\", expected primary, secondary or tertiary\n", to);
		return 2;
	}
	req = to != NULL ? json_pack("{s:s, s:s}", "cmd", "switchover", "to", to) :
	    json_pack("{s:s}", "cmd", "switchover");
	answer = call_engine_req(ctx, req);
	json_decref(req);
	if (answer == NULL)
		return 1;
	xstrlcpy(target, str(answer, "target"), sizeof(target));
	seq0 = json_integer_value(json_object_get(answer, "reply_seq"));
	json_decref(answer);
	printf("switchover to %s started\n", target);
	if (!wait)
		return 0;
	/* Poll this node's view until the target serves; bounded. */
	deadline = now_mono_ms() + SWITCH_WAIT_MS;
	while (now_mono_ms() < deadline) {
		struct timespec pause = { 0, 100 * 1000 * 1000 };

		if ((answer = call_engine(ctx, "status")) == NULL)
			return 1;
		st = json_object_get(answer, "status");
		reply = json_object_get(st, "switchover_reply");
		if (json_integer_value(json_object_get(reply, "seq")) > seq0 &&
		    !json_is_true(json_object_get(reply, "started"))) {
			fprintf(stderr, "lifeline: switchover refused by the active: %s\n",
			    str(reply, "reason"));
			json_decref(answer);
			return 1;
		}
		if (target_serves(st, target)) {
			printf("%s is active in epoch %lld\n", target,
			    (long long)json_integer_value(json_object_get(st, "epoch")));
			rc = 0;
		}
		json_decref(answer);
		if (rc == 0)
			return 0;
		nanosleep(&pause, NULL);
	}
	fprintf(stderr, "lifeline switchover: %s did not become active within %d s; "
	    "see lifeline status and the engine logs\n", target, SWITCH_WAIT_MS / 1000);
	return 1;
}

#define CHECK_WAIT_MS (3600 * 1000)
#define CHECK_ASK_MS  5000           /* one check_wait request: the engine answers by then */

/* The check object of this node's replication status, as a new reference, or NULL. */
static json_t *
check_status(const struct cli_ctx *ctx)
{
	json_t *answer = call_engine(ctx, "status"), *check;

	if (answer == NULL)
		return NULL;
	check = json_object_get(json_object_get(json_object_get(answer, "status"), "replication"),
	    "check");
	json_incref(check);
	json_decref(answer);
	return check;
}

/* Whether check is check number id, ended; then its line is printed and *rc set. */
static bool
check_ended(json_t *check, json_int_t id, int *rc)
{
	const char *state = json_string_value(json_object_get(check, "state"));
	const char *result = json_string_value(json_object_get(check, "result"));

	/* A status from before the start still shows the last check: wait for this one. */
	if (json_integer_value(json_object_get(check, "id")) != id || state == NULL ||
	    strcmp(state, "done") != 0 || result == NULL)
		return false;
	*rc = strncmp(result, "in-sync", 7) == 0 ? 0 : 1;
	printf("check %s: %lld entries, %lld bytes hashed, %lld wants, %lld repairs, "
	    "%lld ms\n", result, json_integer_value(json_object_get(check, "entries")),
	    json_integer_value(json_object_get(check, "bytes")),
	    json_integer_value(json_object_get(check, "wants")),
	    json_integer_value(json_object_get(check, "repairs")),
	    json_integer_value(json_object_get(check, "ms")));
	return true;
}

/*
 * Ask the engine to answer when check id ends (or after CHECK_ASK_MS):
 * the check object (a new reference), or NULL with *old set when the
 * engine or its lifeline-repl predates "check_wait" (said nothing), else
 * NULL said on stderr.
 */
static json_t *
check_wait_once(const struct cli_ctx *ctx, json_int_t id, bool *old)
{
	json_t *req = json_pack("{s:s, s:I, s:i}", "cmd", "check_wait", "id", id,
	    "timeout_ms", CHECK_ASK_MS), *answer, *check;
	const char *why;
	char err[1024], *sock = socket_path(ctx);

	*old = false;
	answer = ctl_call(sock, req, CHECK_ASK_MS + CALL_TIMEOUT_MS, err, sizeof(err));
	free(sock);
	json_decref(req);
	if (answer == NULL) {
		fprintf(stderr, "lifeline: %s\n", err);
		return NULL;
	}
	if (!json_is_true(json_object_get(answer, "ok"))) {
		why = json_string_value(json_object_get(answer, "error"));
		*old = why != NULL && strstr(why, "unknown command") != NULL;
		if (!*old)
			fprintf(stderr, "lifeline: %s\n", why ? why : "the engine refused without a reason");
		json_decref(answer);
		return NULL;
	}
	check = json_incref(json_object_get(answer, "check"));
	json_decref(answer);
	return check;
}

/*
 * Wait for check id to end and print how: the engine answers as soon as
 * lifeline-repl sees the end. An engine from before that is polled.
 */
static int
check_wait(const struct cli_ctx *ctx, json_int_t id)
{
	uint64_t deadline = now_mono_ms() + CHECK_WAIT_MS;
	bool old = false;
	json_t *check;
	int rc = 1;

	while (now_mono_ms() < deadline) {
		struct timespec pause = { 0, 200 * 1000 * 1000 };

		if (!old && (check = check_wait_once(ctx, id, &old)) == NULL && !old)
			return 1;
		if (old && (check = check_status(ctx)) == NULL)
			return 1;
		if (json_is_object(check) && json_integer_value(json_object_get(check, "id")) != id) {
			fprintf(stderr, "lifeline check: check %lld is no longer the engine's (now %lld); "
			    "see lifeline status\n", (long long)id,
			    (long long)json_integer_value(json_object_get(check, "id")));
			json_decref(check);
			return 1;
		}
		if (check_ended(check, id, &rc)) {
			json_decref(check);
			return rc;
		}
		json_decref(check);
		if (old)
			nanosleep(&pause, NULL);
	}
	fprintf(stderr, "lifeline check: not done within %d s; see lifeline status\n",
	    CHECK_WAIT_MS / 1000);
	return 1;
}

static int
cmd_check(struct cli_ctx *ctx, int argc, char **argv)
{
	int full = 0, wait = 0, rehash = 0;
	json_int_t id;
	json_t *req, *answer;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--full") == 0)
			full = 1;
		else if (strcmp(argv[i], "--wait") == 0)
			wait = 1;
		else if (strcmp(argv[i], "--rehash") == 0)
			rehash = 1;
		else {
			fprintf(stderr, "lifeline check: unexpected \"%s\", expected --full, --rehash "
			    "or --wait\n", argv[i]);
			return 2;
		}
	}
	req = json_pack("{s:s, s:b}", "cmd", "check", "full", full);
	if (rehash)
		json_object_set_new(req, "rehash", json_true());
	answer = call_engine_req(ctx, req);
	json_decref(req);
	if (answer == NULL)
		return 1;
	id = json_integer_value(json_object_get(answer, "id"));
	json_decref(answer);
	printf("%s check %lld started%s\n", full ? "full" : "targeted", (long long)id,
	    rehash ? ", reading every file" : "");
	if (!wait)
		return 0;
	return check_wait(ctx, id);
}

static int
cmd_plugin(struct cli_ctx *ctx, int argc, char **argv)
{
	return plugin_command(ctx, argc, argv);
}

static int
cmd_config(struct cli_ctx *ctx, int argc, char **argv)
{
	return config_command(ctx, argc, argv);
}

static int
cmd_reload(struct cli_ctx *ctx, int argc, char **argv)
{
	json_t *answer;

	if (argc != 1) {
		fprintf(stderr, "lifeline reload: takes no arguments\n");
		return 2;
	}
	if ((answer = call_engine(ctx, "reload")) == NULL)
		return 1;
	printf("running configuration %.12s\n", str(answer, "config_hash"));
	json_decref(answer);
	return 0;
}

/* One event line as text: "TIME node kind [epoch N]: message". */
static void
print_event(const char *line, size_t len, int as_json)
{
	json_error_t jerr;
	json_t *ev;

	if (as_json) {
		fwrite(line, 1, len, stdout);
		putchar('\n');
		return;
	}
	if ((ev = json_loadb(line, len, 0, &jerr)) == NULL || !json_is_object(ev)) {
		printf("(unreadable event line: %.*s)\n", (int)(len > 200 ? 200 : len), line);
		json_decref(ev);
		return;
	}
	printf("%s %-9s %-8s [epoch %lld] %s\n", str(ev, "time"), str(ev, "node"), str(ev, "kind"),
	    (long long)json_integer_value(json_object_get(ev, "epoch")), str(ev, "message"));
	json_decref(ev);
}

/*
 * Print the whole lines of path from offset *done on, and advance *done
 * past them; a partial last line waits for its end. Returns -1 with errno
 * when the file cannot be read.
 */
static int
print_events_from(const char *path, off_t *done, int as_json)
{
	char *buf = NULL, *start, *nl;
	struct stat st;
	size_t len = 0;
	ssize_t n;
	int fd, rc = -1;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	if (fstat(fd, &st) < 0)
		goto out;
	if (st.st_size < *done)
		*done = 0;                 /* the file was replaced or cut */
	buf = xmalloc((size_t)(st.st_size - *done) + 1);
	while (len < (size_t)(st.st_size - *done) &&
	    (n = pread(fd, buf + len, (size_t)(st.st_size - *done) - len, *done + (off_t)len)) > 0)
		len += (size_t)n;
	for (start = buf; (nl = memchr(start, '\n', len - (size_t)(start - buf))) != NULL; start = nl + 1) {
		if (nl > start)
			print_event(start, (size_t)(nl - start), as_json);
	}
	*done += start - buf;
	rc = 0;
out:
	free(buf);
	close(fd);
	return rc;
}

/*
 * The event log is a file in state_dir, read here directly, so it can be
 * read while the engine is stopped.
 */
static int
cmd_events(struct cli_ctx *ctx, int argc, char **argv)
{
	int follow = 0, as_json = 0, rc = 0;
	char *dir, *path;
	off_t done = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--follow") == 0)
			follow = 1;
		else if (strcmp(argv[i], "--json") == 0)
			as_json = 1;
		else {
			fprintf(stderr, "lifeline events: unknown argument \"%s\", expected --follow or --json\n",
			    argv[i]);
			return 2;
		}
	}
	dir = config_peek_state_dir(ctx->conf_path ? ctx->conf_path : CONFIG_DEFAULT_PATH);
	path = xasprintf("%s/events.jsonl", dir);
	free(dir);
	for (;;) {
		struct timespec pause = { 0, 200 * 1000 * 1000 };

		if (print_events_from(path, &done, as_json) < 0 && (errno != ENOENT || !follow)) {
			fprintf(stderr, "lifeline events: cannot read %s: %s\n", path, strerror(errno));
			rc = 1;
			break;
		}
		fflush(stdout);
		if (!follow)
			break;
		nanosleep(&pause, NULL);   /* until interrupted: that is what --follow means */
	}
	free(path);
	return rc;
}

static int
cmd_make_active(struct cli_ctx *ctx, int argc, char **argv)
{
	json_t *req, *answer;

	if (argc != 2 || strcmp(argv[1], "--force") != 0) {
		fprintf(stderr, "lifeline make-active: needs --force: it overrides the automatic "
		    "failover rules; use it only when the active site is lost\n");
		return 2;
	}
	req = json_pack("{s:s, s:b}", "cmd", "make-active", "force", 1);
	answer = call_engine_req(ctx, req);
	json_decref(req);
	if (answer == NULL)
		return 1;
	printf("this node is active in epoch %lld\n",
	    (long long)json_integer_value(json_object_get(answer, "epoch")));
	json_decref(answer);
	return 0;
}

#define ENGINE_START_WAIT_MS 10000
#define CLUSTER_HEAR_WAIT_MS 15000   /* for the nodes started by --cluster to be heard */

/* The engine's status object (decref it), or NULL when the engine does not answer. */
static json_t *
engine_status(const char *sock, int timeout_ms)
{
	json_t *req = json_pack("{s:s}", "cmd", "status"), *answer, *st = NULL;
	char err[512];

	if ((answer = ctl_call(sock, req, timeout_ms, err, sizeof(err))) != NULL) {
		st = json_incref(json_object_get(answer, "status"));
		json_decref(answer);
		if (st == NULL)
			st = json_object();     /* it answers: that is what counts here */
	}
	json_decref(req);
	return st;
}

/*
 * Start lifelined in the background, its output appended to
 * STATE_DIR/log/lifelined.log, and wait until it answers. (Under systemd,
 * `systemctl start lifelined` is the way; this is for everything else.)
 * 0 when it answers, 1 when it did not start; when it already runs, 0 if
 * running_ok (said on stdout), 1 otherwise (said on stderr).
 */
static int
engine_start(struct cli_ctx *ctx, bool running_ok)
{
	const char *conf = ctx->conf_path ? ctx->conf_path : CONFIG_DEFAULT_PATH;
	char *dir = config_peek_state_dir(conf), *logdir, *logpath, *prog, err[512];
	char *argv[] = { NULL, "-d", "-f", (char *)conf, NULL };
	char *sock = socket_path(ctx);
	json_t *answer;
	uint64_t deadline;
	int report_fd, rc = 1;
	pid_t pid;

	if ((answer = engine_status(sock, 2000)) != NULL) {
		json_decref(answer);
		if (running_ok)
			printf("here: the engine already runs\n");
		else
			fprintf(stderr, "lifeline engine start: the engine already runs (%s)\n", sock);
		free(sock);
		free(dir);
		return running_ok ? 0 : 1;
	}
	logdir = xasprintf("%s/log", dir);
	logpath = xasprintf("%s/lifelined.log", logdir);
	if ((prog = spawn_program_beside("lifelined")) == NULL)
		prog = xstrdup("lifelined");
	argv[0] = prog;
	mkdir_p(logdir, 0700);
	if ((pid = spawn_detached(argv, logpath, &report_fd, err, sizeof(err))) < 0) {
		fprintf(stderr, "lifeline engine start: %s\n", err);
		goto out;
	}
	deadline = now_mono_ms() + ENGINE_START_WAIT_MS;
	while (now_mono_ms() < deadline) {
		struct timespec pause = { 0, 100 * 1000 * 1000 };

		if (kill(pid, 0) < 0 && errno == ESRCH) {
			fprintf(stderr, "lifeline engine start: lifelined exited at once; see %s\n", logpath);
			goto out_fd;
		}
		if ((answer = engine_status(sock, 500)) != NULL) {
			json_decref(answer);
			printf("engine started (pid %ld), output in %s\n", (long)pid, logpath);
			rc = 0;
			goto out_fd;
		}
		nanosleep(&pause, NULL);
	}
	fprintf(stderr, "lifeline engine start: lifelined (pid %ld) did not answer within %d s; see %s\n",
	    (long)pid, ENGINE_START_WAIT_MS / 1000, logpath);
out_fd:
	close(report_fd);
out:
	free(logdir);
	free(logpath);
	free(prog);
	free(sock);
	free(dir);
	return rc;
}

/* Whether the engine's status shows node reachable. */
static bool
hears(json_t *status, const char *node)
{
	json_t *nodes = json_object_get(status, "nodes"), *n;
	size_t i;

	json_array_foreach(nodes, i, n)
		if (strcmp(str(n, "identity"), node) == 0)
			return json_is_true(json_object_get(n, "reachable"));
	return false;
}

/*
 * lifeline engine start --cluster: the engine here, then every other
 * node's through its lifeline-repl's agent (it runs on while the engine is
 * stopped), then a wait until this engine hears each node started. 0 when
 * every node's engine runs and is heard; 1 naming each node that is not.
 */
static int
engine_start_cluster(struct cli_ctx *ctx)
{
	const char *conf_path = ctx->conf_path ? ctx->conf_path : CONFIG_DEFAULT_PATH;
	char *sock = socket_path(ctx), err[1024], msg[1200];
	bool asked[NODE_COUNT] = { false };
	struct config *conf;
	json_t *status;
	uint64_t deadline;
	int self, rc = 0, waiting;

	if ((conf = config_load(conf_path, err, sizeof(err))) == NULL) {
		fprintf(stderr, "lifeline engine start: %s\n", err);
		free(sock);
		return 1;
	}
	if (engine_start(ctx, true) != 0 || (status = engine_status(sock, CALL_TIMEOUT_MS)) == NULL) {
		fprintf(stderr, "lifeline engine start --cluster: the engine here does not run; "
		    "the other nodes were not asked\n");
		rc = 1;
		goto out;
	}
	self = node_from_name(str(status, "self"));
	json_decref(status);
	for (int id = 0; id < NODE_COUNT && self >= 0; id++) {
		if (id == self || !config_mode_has(conf->mode, id))
			continue;
		if (agent_engine_start(conf, self, id, msg, sizeof(msg)) < 0) {
			fprintf(stderr, "%s: engine not started: %s\n", node_name(id), msg);
			rc = 1;
			continue;
		}
		printf("%s: %s\n", node_name(id), msg);
		asked[id] = true;
	}
	/* Started is not yet working: wait until this engine hears each of them. */
	deadline = now_mono_ms() + CLUSTER_HEAR_WAIT_MS;
	do {
		struct timespec pause = { 0, 200 * 1000 * 1000 };

		waiting = 0;
		if ((status = engine_status(sock, 1000)) != NULL) {
			for (int id = 0; id < NODE_COUNT; id++)
				if (asked[id] && !hears(status, node_name(id)))
					waiting++;
			json_decref(status);
		} else
			waiting = 1;
		if (waiting > 0)
			nanosleep(&pause, NULL);
	} while (waiting > 0 && now_mono_ms() < deadline);
	status = waiting > 0 ? engine_status(sock, 1000) : NULL;
	for (int id = 0; id < NODE_COUNT; id++) {
		if (!asked[id])
			continue;
		if (waiting > 0 && (status == NULL || !hears(status, node_name(id)))) {
			fprintf(stderr, "%s: its engine was started but is not heard here after %d s\n",
			    node_name(id), CLUSTER_HEAR_WAIT_MS / 1000);
			rc = 1;
		} else
			printf("%s: heard\n", node_name(id));
	}
	json_decref(status);
out:
	config_free(conf);
	free(sock);
	return rc;
}

static int
cmd_engine(struct cli_ctx *ctx, int argc, char **argv)
{
	const char *apps = NULL;
	bool cluster = false;
	json_t *req, *answer;

	if (argc >= 2 && strcmp(argv[1], "start") == 0) {
		if (argc == 3 && strcmp(argv[2], "--cluster") == 0)
			return engine_start_cluster(ctx);
		if (argc != 2) {
			fprintf(stderr, "lifeline engine start: unexpected \"%s\", expected nothing or --cluster\n",
			    argv[2]);
			return 2;
		}
		return engine_start(ctx, false);
	}
	if (argc < 2 || strcmp(argv[1], "stop") != 0) {
		fprintf(stderr, "lifeline engine: expected stop or start\n");
		return 2;
	}
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--cluster") == 0)
			cluster = true;
		else if (strcmp(argv[i], "--leave-apps-running") == 0 && apps == NULL)
			apps = "leave";
		else if (strcmp(argv[i], "--stop-apps") == 0 && apps == NULL)
			apps = "stop";
		else {
			fprintf(stderr, "lifeline engine stop: unexpected \"%s\", expected --cluster and "
			    "one of --leave-apps-running or --stop-apps\n", argv[i]);
			return 2;
		}
	}
	if (apps == NULL) {
		fprintf(stderr, "lifeline engine stop: say what becomes of the applications: "
		    "--leave-apps-running or --stop-apps\n");
		return 2;
	}
	req = json_pack("{s:s, s:s, s:b}", "cmd", "stop", "apps", apps, "cluster", cluster);
	answer = call_engine_req(ctx, req);
	json_decref(req);
	if (answer == NULL)
		return 1;
	if (cluster)
		printf("engine stopping here and on %lld other node(s), applications %s\n",
		    (long long)json_integer_value(json_object_get(answer, "peers")),
		    strcmp(apps, "leave") == 0 ? "left running" : "stopped");
	else
		printf("engine stopping, applications %s\n",
		    strcmp(apps, "leave") == 0 ? "left running" : "stopped");
	json_decref(answer);
	return 0;
}

/* init reads its own -f; pass the global one on. */
static int
cmd_init(struct cli_ctx *ctx, int argc, char **argv)
{
	char **args = xcalloc((size_t)argc + 3, sizeof(*args));
	int n = 0, rc;

	args[n++] = argv[0];
	if (ctx->conf_path != NULL) {
		args[n++] = "-f";
		args[n++] = (char *)ctx->conf_path;
	}
	for (int i = 1; i < argc; i++)
		args[n++] = argv[i];
	rc = init_main(n, args);
	free(args);
	return rc;
}

static int
cmd_lab(struct cli_ctx *ctx, int argc, char **argv)
{
	return lab_main(argc, argv);
}

static int
cmd_help(struct cli_ctx *ctx, int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "--mdoc") == 0) {
		/* The two lists of lifeline(8), separated by a marker line. */
		cli_usage(stdout, 1);
		printf(".\\\" next\n");
		lab_usage(stdout, 1);
		return 0;
	}
	if (argc != 1) {
		fprintf(stderr, "lifeline help: unknown argument \"%s\"\n", argv[1]);
		return 2;
	}
	cli_usage(stdout, 0);
	return 0;
}

static int
cmd_version(struct cli_ctx *ctx, int argc, char **argv)
{
	printf("lifeline %s\n", LIFELINE_VERSION);
	return 0;
}
